"""Every round's wire trace against what the scripted server received and sent: bodies byte for byte, the
response's lines in order with increasing times, the useful headers, errors, cuts, the size cap, the summary
round, storage with its chat, and never a key."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path

import hypothesis
import pytest
from hypothesis import given
from hypothesis import strategies as st

from config import load_settings
from conversation_manager import Conversation, TurnRecorder
from events import Finished, Interrupted, RoundTraced, TextDelta, UsageReported
from function_tools import ToolExecutor, default_registry
from llm_client import ChatParams, LLMClient, Target, TurnRunner, summarize
from retry_policy import RetryPolicy
from scripted_server import Reply, ScriptedServer
from store import Store
from test_turn import saver
from token_tracker import PriceBook, Usage
from turn import TurnChoices, prepare
from wire_trace import DELTA_PIECES, RoundTrace, TraceBudget, TraceTape, carries_token, first_token_ms, rate_limits

KEY = "sk-test-SECRET-0123456789abcdef"
PARAMS = ChatParams("gpt-4o-mini", temperature=0.3, max_tokens=200)
QUESTION = [{"role": "user", "content": "hi, 你好"}]
BOOK = PriceBook(usd_cny_rate=7.0)


@pytest.fixture
def client(server: ScriptedServer) -> LLMClient:
    return LLMClient(KEY, server.base_url, read_timeout=5)


def traced_run(
    targets: Sequence[Target], retries: int = 0, trace_kb: int | None = 256, executor: ToolExecutor | None = None
) -> tuple[list[object], list[RoundTrace]]:
    runner = TurnRunner(targets, RetryPolicy(max_retries=retries), sleep=lambda _: None, trace_kb=trace_kb)
    events = list(runner.run(QUESTION, PARAMS, executor))
    return events, [event.trace for event in events if isinstance(event, RoundTraced)]


def sent_lines(request: dict) -> list[str]:
    """The response body the server wrote, as the lines a client reads: up to ``[DONE]``, where reading stops."""
    deadline = time.monotonic() + 10
    while request["finished"] is None and time.monotonic() < deadline:  # its last write is noted after it went
        time.sleep(0.005)
    lines = b"".join(request["sent"]).decode().splitlines()
    return lines[: lines.index("data: [DONE]") + 1] if "data: [DONE]" in lines else lines


def assert_matches_the_wire(trace: RoundTrace, request: dict) -> None:
    """The trace holds exactly what went and came: the request bytes, the lines in order, times increasing."""
    assert trace.request_body.encode() == request["raw"]
    texts = [line.text for line in trace.lines]
    assert texts == sent_lines(request)[: len(texts)]
    times = [line.ms for line in trace.lines]
    assert times == sorted(times) and all(ms >= 0 for ms in times)
    assert trace.total_ms is not None and trace.total_ms >= (times[-1] if times else 0)
    assert trace.method == "POST" and trace.url.endswith("/v1/chat/completions")
    assert_keyless(trace)


def assert_keyless(trace: RoundTrace) -> None:
    stored = json.dumps(trace.to_dict()).lower()
    assert KEY.lower() not in stored and "authorization" not in stored and "bearer" not in stored


def test_a_streamed_reply_with_a_tool_round_is_traced_as_it_was_on_the_wire(client, server):
    executor = ToolExecutor(default_registry("http://127.0.0.1:9/f", "http://127.0.0.1:9/g"), timeout=2)
    server.expect(
        Reply(tool_calls=[("calculate", '{"expression": "6*7"}')], usage=(20, 5)),
        Reply(text="It is 42.", usage=(30, 4)),
    )
    events, traces = traced_run([Target(client, PARAMS.model)], executor=executor)
    assert isinstance(events[-1], Finished)
    assert [(t.round, t.purpose, t.status, t.error) for t in traces] == [
        (1, "tools", 200, None),
        (2, "answer", 200, None),
    ]
    requests = [r for r in server.requests if r["method"] == "POST"]
    for trace, request in zip(traces, requests, strict=True):
        assert_matches_the_wire(trace, request)
        texts = [line.text for line in trace.lines]
        assert texts == sent_lines(request)  # read to its end: the usage chunk, then [DONE]
        assert texts[-1] == "data: [DONE]" and '"usage"' in texts[-3]
        assert trace.headers == {"content-type": "text/event-stream"}
    assert trace.url == f"{server.base_url}/chat/completions"
    fragments = [line.text for line in traces[0].lines if '"arguments": "' in line.text]
    assert len(fragments) == 4  # the call's opening chunk, then its arguments 7 characters at a time
    assert (
        "".join(
            json.loads(text[6:])["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"] for text in fragments
        )
        == '{"expression": "6*7"}'
    )
    ttft = first_token_ms(traces[1].to_dict())
    first_text = next(line for line in traces[1].lines if '"content": "It ' in line.text)
    assert ttft == first_text.ms


def test_a_retry_after_429_keeps_the_status_the_rate_limit_headers_and_the_error_body(client, server):
    headers = {
        "retry-after": "0",
        "x-request-id": "req_123",
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-remaining-tokens": "1200",
        "x-powered-by": "not useful",
    }
    server.expect(Reply.fail(429, "Rate limit reached, slow down", **headers), Reply(text="Now it works."))
    events, traces = traced_run([Target(client, PARAMS.model)], retries=1)
    assert isinstance(events[-1], Finished)
    refused, answered = traces
    requests = [r for r in server.requests if r["method"] == "POST"]
    assert_matches_the_wire(refused, requests[0])
    assert_matches_the_wire(answered, requests[1])
    assert (refused.round, refused.status, answered.round, answered.status) == (1, 429, 2, 200)
    assert refused.headers == {
        "content-type": "application/json",
        "retry-after": "0",
        "x-request-id": "req_123",
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-remaining-tokens": "1200",
    }
    assert [line.text for line in refused.lines] == sent_lines(requests[0])
    assert refused.error is not None and refused.error.startswith("rate_limit: ")
    assert refused.request_body == answered.request_body  # the same request, sent again


def test_a_fallback_round_is_traced_with_the_fallback_models_body(client, server):
    server.expect(Reply.fail(503, "overloaded"), Reply(text="The fallback answers."))
    targets = [Target(client, "gpt-4o-mini"), Target(client, "gpt-4o")]
    _, traces = traced_run(targets)
    assert [(t.round, t.status, json.loads(t.request_body)["model"]) for t in traces] == [
        (1, 503, "gpt-4o-mini"),
        (2, 200, "gpt-4o"),
    ]
    for trace, request in zip(traces, [r for r in server.requests if r["method"] == "POST"], strict=True):
        assert_matches_the_wire(trace, request)


def test_an_error_reply_is_traced_without_the_key_the_provider_echoed(client, server):
    server.expect(Reply.fail(401, f"Incorrect API key provided: {KEY}", "invalid_api_key"))
    events, (trace,) = traced_run([Target(client, PARAMS.model)])
    assert isinstance(events[-1], Interrupted)
    assert trace.status == 401 and trace.error is not None and trace.error.startswith("auth")
    (line,) = trace.lines
    assert line.text == sent_lines(server.requests[0])[0].replace(KEY, "[redacted]")
    assert "Incorrect API key provided: [redacted]" in line.text
    assert trace.request_body.encode() == server.requests[0]["raw"]
    assert_keyless(trace)


def test_credentials_a_gateway_echoes_in_an_error_body_are_redacted(client, server):
    other_key = "sk-other-0123456789abcdef"
    echoed = f"upstream https://user:pw@gw.example/v1?key=GATEWAY123 refused {other_key}"
    server.expect(Reply.fail(403, echoed))
    _, (trace,) = traced_run([Target(client, PARAMS.model)])
    (line,) = trace.lines
    assert "upstream https://gw.example/v1 refused sk-[redacted]" in line.text
    assert all(part not in line.text for part in ("user:pw", "GATEWAY123", other_key))


def test_a_key_shaped_part_of_the_base_urls_path_stays_out_of_the_trace():
    dead = LLMClient(KEY, "http://127.0.0.1:9/v1/key-0123456789abcdef/", read_timeout=2, connect_timeout=2)
    _, (trace,) = traced_run([Target(dead, PARAMS.model)])
    assert trace.url == "http://127.0.0.1:9/v1/key-[redacted]/chat/completions"


def test_a_refused_connection_keeps_the_request_and_no_response():
    dead = LLMClient(KEY, "http://127.0.0.1:9/v1", read_timeout=2, connect_timeout=2)
    _, (trace,) = traced_run([Target(dead, PARAMS.model)])
    assert trace.status is None and trace.lines == [] and trace.headers == {}
    assert trace.url == "http://127.0.0.1:9/v1/chat/completions"
    assert json.loads(trace.request_body)["messages"] == QUESTION
    assert trace.error is not None and trace.error.startswith("connection")
    assert_keyless(trace)


def test_a_cut_stream_keeps_what_arrived_before_the_cut(client, server):
    server.expect(Reply(text="one two three four five", cut_after=2))
    events, (trace,) = traced_run([Target(client, PARAMS.model)])
    assert isinstance(events[-1], Interrupted)
    assert_matches_the_wire(trace, server.requests[0])
    assert [line.text for line in trace.lines if line.text] == [line for line in sent_lines(server.requests[0]) if line]
    assert trace.status == 200 and trace.error is not None and trace.error.startswith("stream_cut")


def test_the_cap_keeps_the_first_lines_and_counts_the_rest(client, server):
    server.expect(Reply(text="word " * 400, usage=(5, 400)))
    _, (trace,) = traced_run([Target(client, PARAMS.model)], trace_kb=1)
    wire = sent_lines(server.requests[0])
    kept = [line.text for line in trace.lines]
    assert kept == wire[: len(kept)] and 0 < len(kept) < len(wire)
    kept_bytes = sum(len(text.encode()) + 1 for text in kept)
    assert kept_bytes <= 1024 < kept_bytes + len(wire[len(kept)].encode()) + 1
    assert trace.dropped_lines == len(wire) - len(kept)
    assert trace.dropped_bytes == sum(len(text.encode()) + 1 for text in wire[len(kept) :])
    assert trace.request_body.encode() == server.requests[0]["raw"]  # the body is kept whole


def test_the_cap_is_shared_by_the_rounds_of_one_reply():
    budget = TraceBudget(100)
    first, second = TraceTape(1, "tools", budget), TraceTape(2, "answer", budget)
    first.line("x" * 59)  # 60 bytes with its line break
    second.line("y" * 49)  # 50: more than the 40 left
    second.line("z")  # a later, smaller line is dropped too: a trace keeps the first lines only
    assert [line.text for line in first.trace.lines] == ["x" * 59] and second.trace.lines == []
    assert (second.trace.dropped_lines, second.trace.dropped_bytes, budget.left) == (2, 52, 40)


def test_the_providers_rate_limits_come_from_the_newest_round_that_sent_them():
    older = {"headers": {"x-ratelimit-remaining-requests": "9", "x-ratelimit-limit-tokens": "1000"}}
    newer = {"headers": {"x-ratelimit-remaining-requests": "8", "x-ratelimit-reset-tokens": "6s", "x-request-id": "r"}}
    silent = {"headers": {"content-type": "text/event-stream"}}
    assert rate_limits([older, newer, silent]) == {"requests": {"remaining": "8"}, "tokens": {"reset": "6s"}}
    assert rate_limits([older, silent, {}]) == {"requests": {"remaining": "9"}, "tokens": {"limit": "1000"}}
    assert rate_limits([silent]) == rate_limits([]) == {}


def test_with_tracing_off_no_round_is_traced(client, server):
    server.expect(Reply(text="Untraced."))
    events, traces = traced_run([Target(client, PARAMS.model)], trace_kb=None)
    assert traces == [] and any(isinstance(event, TextDelta) for event in events)


def test_a_reply_stopped_midway_seals_the_trace_of_its_unfinished_round(client, server):
    server.expect(Reply(text="one two three four five six", chunk_delay=0.05))
    runner = TurnRunner([Target(client, PARAMS.model)], RetryPolicy(max_retries=0), trace_kb=256)
    events = runner.run(QUESTION, PARAMS)
    assert isinstance(next(e for e in events if isinstance(e, TextDelta | RoundTraced)), TextDelta)
    events.close()
    trace = runner.unfinished_trace()
    assert trace is not None and trace.error is not None and trace.error.startswith("stopped")
    assert trace.request_body.encode() == server.requests[0]["raw"] and trace.lines
    assert [line.text for line in trace.lines] == sent_lines(server.requests[0])[: len(trace.lines)]
    assert runner.unfinished_trace() is None  # sealed once


def test_the_summary_call_is_traced_as_a_summary_round(client, server):
    server.expect(Reply(text="They said hello.", usage=(40, 5)))
    tape = TraceTape(0, "summary", TraceBudget(256 * 1024))
    text, _ = summarize(Target(client, "gpt-4o-mini"), [{"role": "user", "content": "summarise: hello"}], tape=tape)
    trace = tape.trace
    assert text == "They said hello." and tape.finished
    assert (trace.round, trace.purpose, trace.status, trace.error) == (0, "summary", 200, None)
    assert_matches_the_wire(trace, server.requests[0])
    assert [line.text for line in trace.lines] == sent_lines(server.requests[0])  # one plain JSON body
    assert first_token_ms(trace.to_dict()) is None  # not a stream


def answered(conversation: Conversation, question: str, answer: str) -> None:
    conversation.add_user(question)
    recorder = TurnRecorder(conversation, "gpt-4", "default", BOOK)
    for event in (TextDelta(answer), UsageReported(Usage(10, 2), "gpt-4"), Finished("stop")):
        recorder.apply(event)


def test_a_turn_keeps_its_summary_and_answer_rounds_with_the_reply_in_the_store(app_env, monkeypatch, tmp_path):
    monkeypatch.setenv("SUMMARIZE_AT", "1")
    monkeypatch.setenv("OPENAI_MODEL", "gpt-4")
    settings = load_settings()
    assert (settings.trace, settings.trace_max_kb) == ("on", 256)
    store = Store(tmp_path / "chats.db")
    conversation = Conversation()
    for n in range(3):
        answered(conversation, f"question {n} " + "long " * 100, f"answer {n}")
    store.save(conversation)
    registry = default_registry(settings.weather_api_url, settings.geocoding_api_url)
    choices = TurnChoices("en", "default", ())
    turn = prepare(
        conversation, settings, choices, "newest", registry=registry, book=BOOK, save=saver(store, conversation)
    )
    assert turn.older
    app_env.expect(Reply(text="Earlier: three questions.", usage=(300, 10)), Reply(text="Newest answer."))
    turn.summarize()
    list(turn.run())
    reply_id = turn.reply[0].id
    assert conversation.traces == {}  # saved, and let go
    stored = store.traces(reply_id)
    assert [(t["round"], t["purpose"]) for t in stored] == [(0, "summary"), (1, "answer")]
    for trace, request in zip(stored, [r for r in app_env.requests if r["method"] == "POST"], strict=True):
        assert trace["request_body"].encode() == request["raw"]
        assert [line["text"] for line in trace["lines"]] == sent_lines(request)
    assert "authorization" not in json.dumps(stored).lower() and settings.api_key.reveal() not in json.dumps(stored)


def test_tracing_off_in_the_settings_leaves_replies_without_traces(app_env, monkeypatch, tmp_path):
    monkeypatch.setenv("TRACE", "off")
    settings = load_settings()
    store = Store(tmp_path / "chats.db")
    conversation = Conversation()
    registry = default_registry(settings.weather_api_url, settings.geocoding_api_url)
    choices = TurnChoices("en", "default", ())
    turn = prepare(conversation, settings, choices, "hi", registry=registry, book=BOOK, save=saver(store, conversation))
    app_env.expect(Reply(text="Hello."))
    events = list(turn.run())
    assert not any(isinstance(event, RoundTraced) for event in events)
    assert store.traces(turn.reply[0].id) == []


def trace_rows(path: Path) -> int:
    with sqlite3.connect(path) as db:
        return db.execute("SELECT COUNT(*) FROM traces").fetchone()[0]


def test_traces_are_stored_with_their_chat_and_deleted_with_it(tmp_path):
    path = tmp_path / "chats.db"
    store = Store(path)
    conversation = Conversation()
    conversation.add_user("hi")
    recorder = TurnRecorder(conversation, "gpt-4o-mini", "default", BOOK)
    tape = TraceTape(1, "answer", TraceBudget(1024))
    tape.trace.request_body = '{"model": "gpt-4o-mini"}'
    tape.line('data: {"choices": []}')
    recorder.apply(RoundTraced(tape.finish()))
    recorder.apply(Finished("stop"))
    saved = conversation.traces[recorder.reply_id]
    store.save(conversation, conversation.messages[:1])  # the user's message: pending traces go too
    assert conversation.traces == {} and store.traces(recorder.reply_id) == saved
    store.save(conversation)  # nothing pending: nothing written twice
    assert trace_rows(path) == 1
    other = Conversation()
    other.add_user("another chat")
    other.traces["elsewhere"] = [tape.trace.to_dict()]
    store.save(other)
    store.delete(conversation.id)
    assert store.traces(recorder.reply_id) == [] and trace_rows(path) == 1
    assert store.traces("elsewhere") == [tape.trace.to_dict()]


def test_a_turn_the_user_stops_keeps_the_trace_of_its_unfinished_request(app_env, tmp_path):
    settings = load_settings()
    store = Store(tmp_path / "chats.db")
    conversation = Conversation()
    registry = default_registry(settings.weather_api_url, settings.geocoding_api_url)
    choices = TurnChoices("en", "default", ())
    turn = prepare(
        conversation, settings, choices, "count", registry=registry, book=BOOK, save=saver(store, conversation)
    )
    app_env.expect(Reply(text="one two three four five six", chunk_delay=0.05))
    events = turn.run()
    next(event for event in events if isinstance(event, TextDelta))
    events.close()  # the user's Stop
    (trace,) = store.traces(turn.reply[0].id)
    assert trace["error"].startswith("stopped") and trace["status"] == 200
    assert trace["request_body"].encode() == app_env.requests[0]["raw"]
    assert any('"content": "one "' in line["text"] for line in trace["lines"])


# --- the time to first token, noted as the lines come -------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "token"),
    [
        ('data: {"choices": [{"index": 0, "delta": {"content": "Hi"}}]}', True),
        ('data:{"choices": [{"delta": {"reasoning_content": "so"}}]}', True),
        ('data: {"choices": [{"delta": {"reasoning": "so"}}]}', True),
        ('data: {"choices": [{"delta": {"refusal": "No."}}]}', True),
        ('data: {"choices": [{"delta": {"tool_calls": [{"index": 0, "id": "call_1"}]}}]}', True),
        ('data: {"choices": [{}, {"index": 1, "delta": {"content": "2nd"}}]}', True),
        ('data: {"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}', False),
        ('data: {"choices": [{"delta": {"content": null, "tool_calls": []}, "finish_reason": "stop"}]}', False),
        ('data: {"choices": [], "usage": {"total_tokens": 3}}', False),
        ('{"choices": [{"delta": {"content": "Hi"}}]}', False),  # not a data: line
        ("data: [DONE]", False),
        (": keep-alive", False),
        ("", False),
    ],
)
def test_a_line_carries_a_token_when_its_delta_holds_text_reasoning_a_refusal_or_a_tool_call(line, token):
    assert carries_token(line) is token


PIECE_VALUES = st.sampled_from(["Hi", "你好", [{"index": 0}], 1, " ", "", None, 0, False, [], {}])


@st.composite
def deltas(draw: st.DrawFn) -> object:
    """A delta holding any of DELTA_PIECES (and a role), each empty or not; or something that is no delta."""
    if draw(st.integers(0, 4)) == 0:
        return draw(st.sampled_from([None, "text", 3, []]))
    return {name: draw(PIECE_VALUES) for name in (*DELTA_PIECES, "role") if draw(st.booleans())}


CHOICE = st.fixed_dictionaries({"index": st.just(0), "delta": deltas()}) | st.sampled_from([{}, 7])  # 7: no choice
CHOICES = st.lists(CHOICE, max_size=3)
ODD_VALUES = st.sampled_from([{"usage": {"total_tokens": 3}}, {"choices": None}, {"choices": "none"}, [], 42])
OTHER_LINES = st.sampled_from(["", ": ping", "event: message", "data: [DONE]", "data: {oops", "data:"])


@st.composite
def body_lines(draw: st.DrawFn) -> tuple[str, bool]:
    """One line of a response body, and whether it carries a token, decided from what it was made of."""
    shape = draw(st.sampled_from(["choices", "choices", "odd", "other"]))
    if shape == "other":
        return draw(OTHER_LINES), False
    value = {"choices": draw(CHOICES)} if shape == "choices" else draw(ODD_VALUES)
    choices = value.get("choices") if isinstance(value, dict) else None
    found = [c.get("delta") for c in choices if isinstance(c, dict)] if isinstance(choices, list) else []
    token = any(isinstance(d, dict) and any(d.get(piece) for piece in DELTA_PIECES) for d in found)
    return draw(st.sampled_from(["data: ", "data:"])) + json.dumps(value, ensure_ascii=draw(st.booleans())), token


@hypothesis.settings(deadline=None)  # no timed assertions: the machine may be busy
@given(lines=st.lists(body_lines(), min_size=1, max_size=30), budget=st.integers(0, 2000) | st.just(2**20))
def test_the_first_token_noted_as_lines_come_is_the_one_a_read_of_the_saved_lines_finds(lines, budget):
    ticks = iter(range(10_000))
    tape = TraceTape(1, "answer", TraceBudget(budget), clock=lambda: next(ticks) / 1000)
    for text, _ in lines:
        tape.line(text)
    kept = tape.finish().to_dict()
    assert [carries_token(text) for text, _ in lines] == [token for _, token in lines]
    # the kept lines are the first ones: past the budget every later line is only counted
    expected = next((line.ms for line, (_, token) in zip(tape.trace.lines, lines, strict=False) if token), None)
    saved_before = {name: value for name, value in kept.items() if name != "first_token_ms"}
    assert tape.trace.first_token_ms == expected
    assert first_token_ms(kept) == first_token_ms(json.loads(json.dumps(kept))) == expected
    assert first_token_ms(saved_before) == expected  # a trace saved before the time was noted is read line by line
