import json
import subprocess
import sys

import pytest

from conversation_manager import Conversation, TurnRecorder
from errors import ErrorInfo
from events import Finished, Interrupted, RequestSent, TextDelta, ToolCallStarted, ToolResult, UsageReported
from exporters import EXPORT_FORMAT, ImportFailed, from_json, to_curl, to_json, to_markdown, to_python
from scripted_server import Reply
from token_tracker import PriceBook, Usage

REQUEST = {
    "model": "gpt-4o-mini",
    "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "It's \"quoted\" 'text'"}],
    "stream": True,
    "stream_options": {"include_usage": True},
    "temperature": 0.2,
}


def sample() -> Conversation:
    conversation = Conversation(settings={"model": "gpt-4o-mini", "template": "react"})
    conversation.add_user("算一下 123*456", template="react")
    recorder = TurnRecorder(conversation, "gpt-4o-mini", "react", PriceBook(7.0))
    for event in [
        RequestSent(REQUEST, 1),
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
    document = json.loads(to_json([sample()]))
    assert document["format"] == EXPORT_FORMAT
    (conversation,) = document["conversations"]
    messages = conversation["messages"]
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
    }
    assert messages[3]["cost"]["usd"] > 0 and messages[3]["cost"]["cny"] > 0
    assert messages[5]["status"] == "interrupted" and messages[5]["content"] == "部分"
    assert conversation["totals"]["usage"]["prompt_tokens"] == 130 and conversation["totals"]["calls"] == 2
    assert conversation["settings"] == {"model": "gpt-4o-mini", "template": "react"}


def test_json_export_carries_no_key_or_base_url():
    text = to_json([sample()])
    for word in ("api_key", "base_url", "Bearer", "sk-"):
        assert word not in text


def test_json_round_trip_is_lossless_including_every_version():
    original = sample()
    original.rewind_to(original.messages[0].id)
    TurnRecorder(original, "gpt-4o", "standard", PriceBook(7.0)).apply(TextDelta("another version"))
    (restored,) = from_json(to_json([original]).encode())
    assert restored.to_dict() == original.to_dict()
    assert to_json([restored]).split('"conversations"')[1] == to_json([original]).split('"conversations"')[1]


def test_markdown_export_reads_as_a_transcript():
    text = to_markdown([sample()], "zh")
    assert text.startswith("# 算一下 123*456")
    assert "## 你 · ReAct 推理+行动" in text
    assert "## 工具 · calculate" in text
    assert "结果是 **56088**。" in text
    assert "40 + 10 = 50 tokens" in text
    assert "中断原因: stream_cut" in text
    english = to_markdown([sample(), sample()], "en")
    assert "## You · ReAct" in english and "**Tool call calculate**" in english
    assert english.count("# 算一下 123*456") == 2


def test_markdown_fences_survive_backticks_in_content():
    conversation = Conversation()
    conversation.add_user("x")
    recorder = TurnRecorder(conversation, "m", "standard", PriceBook(7.0))
    recorder.apply(ToolCallStarted("c", "calculate", "{}"))
    recorder.apply(ToolResult("c", "calculate", '{"r": "```"}'))
    assert "````json" in to_markdown([conversation], "en")


def test_the_python_export_reproduces_the_request_with_the_key_from_the_environment(server, tmp_path):
    script = tmp_path / "request.py"
    script.write_text(to_python(REQUEST))
    assert "sk-" not in script.read_text()
    server.expect(Reply(text="Reproduced.", usage=(9, 2)))
    env = {"OPENAI_API_KEY": "sk-from-env-1234567890", "OPENAI_BASE_URL": server.base_url, "PATH": "/usr/bin:/bin"}
    run = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("Reproduced.")
    assert server.chat_requests()[-1] == REQUEST
    assert server.requests[-1]["headers"]["authorization"] == "Bearer sk-from-env-1234567890"


def test_the_curl_export_sends_the_same_body(server, tmp_path):
    command = to_curl(REQUEST)
    assert "$OPENAI_API_KEY" in command and "sk-" not in command
    env = {"OPENAI_API_KEY": "sk-curl-0987654321", "OPENAI_BASE_URL": server.base_url, "PATH": "/usr/bin:/bin"}
    run = subprocess.run(["bash", "-c", command], env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert "data: [DONE]" in run.stdout
    assert server.chat_requests()[-1] == REQUEST


CHATGPT = [
    {
        "title": "Paris trip",
        "create_time": 1700000000.0,
        "current_node": "a2",
        "mapping": {
            "root": {"id": "root", "message": None, "parent": None, "children": ["sys"]},
            "sys": {
                "id": "sys",
                "message": {"author": {"role": "system"}, "content": {"content_type": "text", "parts": [""]}},
                "parent": "root",
                "children": ["u1"],
            },
            "u1": {
                "id": "u1",
                "message": {
                    "author": {"role": "user"},
                    "create_time": 1700000001.0,
                    "content": {"content_type": "text", "parts": ["Plan a day in Paris"]},
                },
                "parent": "sys",
                "children": ["a1", "a2"],
            },
            "a1": {
                "id": "a1",
                "message": {
                    "author": {"role": "assistant"},
                    "content": {"content_type": "text", "parts": ["Louvre first."]},
                    "metadata": {"model_slug": "gpt-4o"},
                },
                "parent": "u1",
                "children": [],
            },
            "a2": {
                "id": "a2",
                "message": {
                    "author": {"role": "assistant"},
                    "content": {"content_type": "text", "parts": ["Eiffel Tower at dawn."]},
                    "metadata": {"model_slug": "gpt-4o"},
                },
                "parent": "u1",
                "children": [],
            },
        },
    }
]


def test_chatgpt_export_imports_with_its_branches():
    (conversation,) = from_json(json.dumps(CHATGPT).encode())
    assert conversation.title == "Paris trip"
    assert [(m.role, m.content) for m in conversation.messages] == [
        ("user", "Plan a day in Paris"),
        ("assistant", "Eiffel Tower at dawn."),
    ]
    assert len(conversation.versions(conversation.messages[-1])) == 2
    assert conversation.messages[-1].model == "gpt-4o"
    assert conversation.created_at.startswith("2023-11-14")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\xff\xfe not utf8", "not valid JSON"),
        (b"{not json", "not valid JSON"),
        (b'{"format": "something-else"}', "not an ai-chat-app export"),
        (b"[1, 2]", "not an ai-chat-app export"),
        (b'{"format": "ai-chat-app/conversations", "conversations": [{"messages": [{"role": 5, "x": 1}]}]}', "damaged"),
    ],
)
def test_bad_imports_say_what_is_wrong(data, message):
    with pytest.raises(ImportFailed, match=message):
        from_json(data)


def test_oversized_imports_are_refused(monkeypatch):
    import exporters

    monkeypatch.setattr(exporters, "MAX_IMPORT_BYTES", 10)
    with pytest.raises(ImportFailed, match="larger than"):
        from_json(b"[" + b" " * 20 + b"]")
