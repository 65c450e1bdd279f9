"""Reasoning and opaque per-call fields go back only to the providers that need them."""

from function_tools import ToolCall
from provider_dialects import assistant_message, dialect_for, outgoing

CALL = ToolCall("c1", "calculate", "{}")
EXTRA = {"c1": {"google": {"thought_signature": "sig"}}}


def history() -> list[dict]:
    return [
        {"role": "user", "content": "q"},
        assistant_message("", [CALL], "thinking", EXTRA),
        {"role": "tool", "tool_call_id": "c1", "content": "4"},
        assistant_message("It is 4.", [], "more thinking"),
    ]


def test_deepseek_gets_reasoning_on_tool_call_messages_only():
    sent = outgoing(history(), "deepseek-reasoner")
    assert sent[1]["reasoning_content"] == "thinking" and "reasoning_content" not in sent[3]
    assert "extra_content" not in sent[1]["tool_calls"][0]


def test_gemini_gets_each_signature_back_unchanged_and_no_reasoning():
    sent = outgoing(history(), "gemini-2.5-flash")
    assert sent[1]["tool_calls"][0]["extra_content"] == {"google": {"thought_signature": "sig"}}
    assert "reasoning_content" not in sent[1]


def test_every_other_provider_gets_plain_openai_messages_and_the_history_is_not_changed():
    messages = history()
    sent = outgoing(messages, "gpt-4o-mini")
    assert sent[1] == {"role": "assistant", "content": "", "tool_calls": [CALL.to_param()]}
    assert messages[1]["reasoning_content"] == "thinking"
    assert dialect_for("llama3.1") == dialect_for("gpt-4o")
