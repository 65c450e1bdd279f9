import json

from conversation_manager import Conversation, TurnRecorder
from errors import ErrorInfo
from events import Finished, Interrupted, TextDelta, ToolCallStarted, ToolResult, UsageReported
from exporters import EXPORT_FORMAT, to_json, to_markdown
from token_tracker import PriceBook, Usage


def sample() -> Conversation:
    conversation = Conversation()
    conversation.add_user("算一下 123*456", template="react")
    recorder = TurnRecorder(conversation, "gpt-4o-mini", "react", PriceBook(7.0))
    for event in [
        UsageReported(Usage(40, 10), "gpt-4o-mini"),
        ToolCallStarted("call_1", "calculate", '{"expression": "123*456"}'),
        ToolResult("call_1", "calculate", '{"expression": "123*456", "result": 56088}'),
        TextDelta("结果是 **56088**。"),
        UsageReported(Usage(90, 8), "gpt-4o-mini"),
        Finished("stop"),
    ]:
        recorder.apply(event)
    conversation.add_user("再来一次")
    recorder = TurnRecorder(conversation, "gpt-4o-mini", "react", PriceBook(7.0))
    recorder.apply(TextDelta("部分"))
    recorder.apply(Interrupted(ErrorInfo("stream_cut", "cut")))
    return conversation


def test_json_export_has_roles_tool_calls_results_model_template_usage_and_cost():
    document = json.loads(to_json(sample()))
    assert document["format"] == EXPORT_FORMAT
    messages = document["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "tool", "assistant", "user", "assistant"]
    assert messages[0]["template"] == "react"
    assert messages[1]["tool_calls"] == [
        {"id": "call_1", "name": "calculate", "arguments": '{"expression": "123*456"}'}
    ]
    assert messages[2]["tool_call_id"] == "call_1" and "56088" in messages[2]["content"]
    assert messages[3]["model"] == "gpt-4o-mini"
    assert messages[3]["usage"] == {
        "prompt_tokens": 90,
        "completion_tokens": 8,
        "cached_tokens": 0,
        "reasoning_tokens": 0,
        "estimated": False,
        "total_tokens": 98,
    }
    assert messages[3]["cost"]["usd"] > 0 and messages[3]["cost"]["cny"] > 0
    assert messages[5]["status"] == "interrupted" and messages[5]["content"] == "部分"
    assert document["totals"]["usage"]["total_tokens"] == 148 and document["totals"]["calls"] == 2


def test_json_export_carries_no_settings():
    text = to_json(sample())
    for word in ("api_key", "base_url", "Bearer", "sk-"):
        assert word not in text


def test_markdown_export_reads_as_a_transcript():
    text = to_markdown(sample(), "zh")
    assert text.startswith("# 算一下 123*456")
    assert "## 你 · ReAct 推理+行动" in text
    assert "## 工具 · calculate" in text
    assert "结果是 **56088**。" in text
    assert "40 + 10 = 50 tokens" in text
    assert "中断原因: stream_cut" in text
    english = to_markdown(sample(), "en")
    assert "## You · ReAct" in english and "**Tool call calculate**" in english


def test_markdown_fences_survive_backticks_in_content():
    conversation = Conversation()
    conversation.add_user("x")
    recorder = TurnRecorder(conversation, "m", "standard", PriceBook(7.0))
    recorder.apply(ToolCallStarted("c", "calculate", "{}"))
    recorder.apply(ToolResult("c", "calculate", '{"r": "```"}'))
    assert "````json" in to_markdown(conversation, "en")
