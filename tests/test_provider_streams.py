"""Real providers' streams, replayed byte for byte over HTTP through the real client and turn runner.

Each ``provider_streams/<name>.stream`` holds a reply as published (docs, API references, issue
threads); ``<name>.json`` names its source, how it was recorded, and what the user must see.
The DeepSeek and Gemini two-round tool turns run against a server that rejects the second request
unless the reasoning / thought signature came back, as those providers do.
"""

import json
from pathlib import Path
from typing import Any

import pytest

from conversation_manager import Conversation, RequestSpec, TurnRecorder, build_request
from events import (
    AlternativeDelta,
    Finished,
    Interrupted,
    ReasoningDelta,
    RefusalDelta,
    RequestSent,
    ResponseSampled,
    Retrying,
    TextDelta,
    TokenLogprobs,
    ToolCallStarted,
    UsageReported,
)
from exporters import from_json, to_json
from function_tools import ToolExecutor, default_registry
from llm_client import ChatParams, LLMClient, Target, TurnRunner
from retry_policy import RetryPolicy
from scripted_server import Reply
from store import Store
from token_tracker import PriceBook

KEY = "sk-test-SECRET-0123456789abcdef"
CORPUS = Path(__file__).resolve().parent / "provider_streams"
SIDECARS = sorted(CORPUS.glob("*.json"))
DEEPSEEK_REJECTS = "The reasoning_content in the thinking mode must be passed back to the API."


def replay(name: str, **overrides: Any) -> Reply:
    meta = json.loads((CORPUS / f"{name}.json").read_text())
    return Reply(
        raw=(CORPUS / f"{name}.stream").read_bytes(),
        status=meta.get("status", 200),
        content_type=meta.get("content_type", "text/event-stream"),
        raw_write=meta.get("raw_write", 0),
        raw_gzip=meta.get("gzip", False),
        **overrides,
    )


def executor() -> ToolExecutor:
    return ToolExecutor(default_registry("http://127.0.0.1:9/f", "http://127.0.0.1:9/g"), timeout=2)


def run_turn(server, model: str, messages: list[dict[str, Any]], retries: int = 0) -> list[Any]:
    client = LLMClient(KEY, server.base_url, read_timeout=5)
    runner = TurnRunner([Target(client, model)], RetryPolicy(max_retries=retries), sleep=lambda _: None)
    return list(runner.run(messages, ChatParams(model, 0.3, 200), executor()))


def joined(events: list[Any], kind: type) -> str:
    return "".join(e.text for e in events if isinstance(e, kind))


def first_round(events: list[Any]) -> list[Any]:
    sent = [i for i, e in enumerate(events) if isinstance(e, RequestSent)]
    return events[: sent[1]] if len(sent) > 1 and not any(isinstance(e, Retrying) for e in events) else events


def first_data(raw: bytes) -> Any:
    """The first SSE data value (or the whole JSON body) as written in the file, for the wire view."""
    text = raw.decode()
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith(":")]
    if lines and lines[0].startswith("data:"):
        return json.loads(lines[0][5:])
    return json.loads(text) if lines and lines[0][0] in "{[" else None


def test_the_corpus_is_large_enough_and_every_recording_names_its_source():
    assert len(SIDECARS) >= 25
    for sidecar in SIDECARS:
        meta = json.loads(sidecar.read_text())
        assert meta["source"].startswith("https://") and meta["recording"] and meta["expect"], sidecar.name
        assert sidecar.with_suffix(".stream").exists(), sidecar.name


@pytest.mark.parametrize("sidecar", SIDECARS, ids=lambda path: path.stem)
def test_every_recorded_stream_shows_the_right_thing(server, sidecar):
    expect = json.loads(sidecar.read_text())["expect"]
    error = expect.get("error")
    retried = bool(error and error.get("retried"))
    answer = [Reply(text="Done.")] if expect.get("tool_calls") else []  # the round after the tool calls
    server.expect(replay(sidecar.stem), *([replay(sidecar.stem)] if retried else []), *answer)
    events = run_turn(server, "gpt-4o-mini", [{"role": "user", "content": "hi"}], retries=1)
    round_one = first_round(events)
    assert joined(round_one, TextDelta) == expect.get("text", "")
    assert joined(round_one, ReasoningDelta) == expect.get("reasoning", "")
    assert joined(round_one, RefusalDelta) == expect.get("refusal", "")
    assert [t.token for e in round_one if isinstance(e, TokenLogprobs) for t in e.tokens] == expect.get("logprobs", [])
    alternatives: dict[str, str] = {}
    for event in (e for e in round_one if isinstance(e, AlternativeDelta)):
        alternatives[str(event.index)] = alternatives.get(str(event.index), "") + event.text
    assert alternatives == expect.get("alternatives", {})
    started = [e for e in round_one if isinstance(e, ToolCallStarted)]
    calls = [{"id": s.call_id, "name": s.name, "arguments": s.arguments} for s in started]
    calls = [call | ({"extra": s.extra} if s.extra else {}) for call, s in zip(calls, started, strict=True)]
    assert calls == expect.get("tool_calls", [])
    if error:
        assert isinstance(events[-1], Interrupted)
        assert (events[-1].error.kind, error["message"] in events[-1].error.detail) == (error["kind"], True)
        assert any(isinstance(e, Retrying) for e in events) == retried
        assert KEY not in events[-1].error.detail
    elif calls:
        follow_up = server.chat_requests()[1]["messages"]
        assert [c["id"] for c in follow_up[-len(calls) - 1]["tool_calls"]] == [c["id"] for c in calls]
        assert events[-1] == Finished("stop")
    else:
        assert events[-1] == Finished(expect["finish"])
    usage = next((e.usage for e in round_one if isinstance(e, UsageReported)), None)
    if expect.get("usage"):
        assert usage is not None and (usage.prompt_tokens, usage.completion_tokens, usage.estimated) == (
            *expect["usage"],
            False,
        )
    sample = next((e for e in round_one if isinstance(e, ResponseSampled)), None)
    written = first_data((CORPUS / f"{sidecar.stem}.stream").read_bytes())
    if sample is not None and isinstance(written, dict):
        assert sample.chunks[0] == written  # the wire view shows what came, not what we made of it


def test_a_provider_error_before_any_text_is_retried_and_the_retry_can_succeed(server):
    server.expect(replay("openrouter_error_first"), replay("moonshot_usage_in_choice"))
    events = run_turn(server, "gpt-4o-mini", [{"role": "user", "content": "hi"}], retries=2)
    (retry,) = [e for e in events if isinstance(e, Retrying)]
    assert retry.error.kind == "server" and "Provider disconnected unexpectedly" in retry.error.detail
    assert joined(events, TextDelta) == "你好。" and events[-1] == Finished("stop")


def deepseek_check(body: dict[str, Any]) -> str | None:
    """DeepSeek's rule: reasoning_content on every assistant message with tool calls, nowhere else."""
    for message in body["messages"]:
        if message["role"] != "assistant":
            continue
        if message.get("tool_calls") and "reasoning_content" not in message:
            return DEEPSEEK_REJECTS
        if not message.get("tool_calls") and "reasoning_content" in message:
            return "reasoning_content is not accepted on assistant messages without tool calls"
    return None


def test_a_deepseek_thinking_tool_turn_sends_the_reasoning_back_in_this_turn_and_the_next(server):
    conversation = Conversation()
    recorder = TurnRecorder(conversation, "deepseek-v4-pro", "standard", PriceBook(7.2))
    spec = RequestSpec("standard", "en", executor().schemas(), "deepseek-v4-pro", 200)
    answer = Reply(text="杭州晴。", reasoning="看结果", check=deepseek_check)
    server.expect(replay("deepseek_thinking_tool_call"), answer)
    conversation.add_user("杭州天气？")
    for event in run_turn(server, "deepseek-v4-pro", build_request(conversation, spec).messages):
        recorder.apply(event)
    assert conversation.messages[-1].content == "杭州晴。"
    second = server.chat_requests()[1]["messages"]
    assert second[-2]["reasoning_content"] == "用户问杭州天气，需要调用 get_current_weather。"
    conversation.add_user("明天呢？")
    server.expect(Reply(text="明天多云。", check=deepseek_check))
    events = run_turn(server, "deepseek-v4-pro", build_request(conversation, spec).messages)
    assert events[-1] == Finished("stop"), events[-1]
    third = server.chat_requests()[2]["messages"]
    assert [m.get("reasoning_content") for m in third if m["role"] == "assistant"] == [
        "用户问杭州天气，需要调用 get_current_weather。",
        None,
    ]


def test_without_the_deepseek_rule_the_second_request_is_rejected_with_deepseeks_own_words(server):
    server.expect(replay("deepseek_thinking_tool_call"), Reply(text="never", check=deepseek_check))
    events = run_turn(server, "my-proxy-model", [{"role": "user", "content": "杭州天气？"}])
    assert isinstance(events[-1], Interrupted) and events[-1].error.kind == "bad_request"
    assert DEEPSEEK_REJECTS in events[-1].error.detail


def gemini_check(body: dict[str, Any]) -> str | None:
    signature = {"google": {"thought_signature": "CiQB0e2Kb6Vq4pVfX0kqf7u0bq2d6V8S1pA=="}}
    calls = [call for m in body["messages"] for call in m.get("tool_calls") or []]
    if any(call.get("extra_content") != signature for call in calls):
        return "Function call is missing a thought_signature in functionCall parts."
    return None


def test_a_gemini_tool_turn_sends_each_thought_signature_back_unchanged(server):
    conversation = Conversation()
    recorder = TurnRecorder(conversation, "gemini-2.5-flash", "standard", PriceBook(7.2))
    spec = RequestSpec("standard", "en", executor().schemas(), "gemini-2.5-flash", 200)
    server.expect(replay("gemini_tool_call_thought_signature"), Reply(text="Sunny in Paris.", check=gemini_check))
    conversation.add_user("Weather in Paris?")
    for event in run_turn(server, "gemini-2.5-flash", build_request(conversation, spec).messages):
        recorder.apply(event)
    assert conversation.messages[-1].content == "Sunny in Paris."
    conversation.add_user("And tomorrow?")
    server.expect(Reply(text="Cloudy.", check=gemini_check))
    events = run_turn(server, "gemini-2.5-flash", build_request(conversation, spec).messages)
    assert events[-1] == Finished("stop"), events[-1]
    other = build_request(conversation, RequestSpec("standard", "en", [], "gpt-4o-mini", 200)).messages
    server.expect(Reply(text="ok"))
    run_turn(server, "gpt-4o-mini", other)
    sent = server.chat_requests()[-1]["messages"]
    assert all("extra_content" not in call for m in sent for call in m.get("tool_calls") or [])


def test_token_logprobs_and_other_choices_are_recorded_with_the_reply(server, tmp_path):
    conversation = Conversation()
    server.expect(replay("openai_top_logprobs"), replay("openai_n2_choices"))
    for _ in range(2):
        conversation.add_user("hi")
        recorder = TurnRecorder(conversation, "gpt-4o-mini", "standard", PriceBook(7.2))
        for event in run_turn(server, "gpt-4o-mini", [{"role": "user", "content": "hi"}]):
            recorder.apply(event)
    _, shaded, _, choices = conversation.messages
    expected = json.loads((CORPUS / "openai_top_logprobs.json").read_text())["expect"]["logprobs"]
    assert [entry["token"] for entry in shaded.logprobs] == expected
    top = [["Hello", -0.31725305], ["Hi", -1.3190403]]
    assert shaded.logprobs[0] == {"token": "Hello", "logprob": -0.31725305, "top": top}
    assert (shaded.alternatives, choices.alternatives) == ([], ["Of course."])
    assert (choices.content, choices.logprobs) == ("Sure! Here it is.", [])
    store = Store(tmp_path / "chats.db")
    store.save(conversation)
    stored = store.load(conversation.id)  # a reply with alternatives per token reads back whole, not left out
    assert stored is not None and [m.to_dict() for m in stored.messages] == [m.to_dict() for m in conversation.messages]
    (imported,) = from_json(to_json([conversation]).encode())  # and its export imports
    assert [m.logprobs for m in imported.messages] == [m.logprobs for m in conversation.messages]
