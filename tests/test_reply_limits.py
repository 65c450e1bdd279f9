"""Reply limits hold whatever an endless stream carries: keep-alives, empty deltas, tool-argument fragments."""

from __future__ import annotations

import itertools
import json

from events import Interrupted, TextDelta
from llm_client import RAW_BYTES_PER_CHAR, ChatParams, LLMClient, ReplyLimits, Target, TurnRunner
from scripted_server import Reply, ScriptedServer

MESSAGES = [{"role": "user", "content": "hi"}]
PARAMS = ChatParams("gpt-4o-mini")


def chunk(delta: dict, finish: str | None = None) -> bytes:
    payload = {"id": "c1", "object": "chat.completion.chunk", "model": "gpt-4o-mini"}
    payload["choices"] = [{"index": 0, "delta": delta, "finish_reason": finish}]
    return b"data: " + json.dumps(payload).encode() + b"\n\n"


def run(server: ScriptedServer, body: bytes, limits: ReplyLimits, clock=None) -> list:
    server.expect(Reply(raw=body, raw_write=4096))
    target = Target(LLMClient("sk-none", server.base_url), "gpt-4o-mini")
    extra = {"clock": clock} if clock else {}
    return list(TurnRunner([target], limits=limits, **extra).run(MESSAGES, PARAMS))


def assert_stopped_by_limit(events: list) -> None:
    assert isinstance(events[-1], Interrupted), events[-1]
    assert events[-1].error.kind == "reply_limit", events[-1].error


def test_endless_keep_alive_comments_are_stopped_by_the_time_limit(server):
    body = chunk({"role": "assistant", "content": "Hi"}) + b": keep-alive\n\n" * 3000
    seconds = itertools.count(0.0, 0.01)  # every clock reading is 10 ms later
    events = run(server, body, ReplyLimits(chars=10**6, seconds=5.0), clock=lambda: next(seconds))
    assert_stopped_by_limit(events)
    assert "MAX_REPLY_SECONDS" in events[-1].error.detail
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["Hi"]


def test_endless_empty_deltas_are_stopped_by_the_byte_budget(server):
    body = chunk({"role": "assistant"}) + chunk({}) * 3000
    events = run(server, body, ReplyLimits(chars=100, seconds=600))
    assert_stopped_by_limit(events)
    assert f"{100 * RAW_BYTES_PER_CHAR} bytes" in events[-1].error.detail


def test_endless_tool_argument_fragments_are_stopped(server):
    first = {"tool_calls": [{"index": 0, "id": "call_1", "type": "function", "function": {"name": "calculate"}}]}
    more = {"tool_calls": [{"index": 0, "function": {"arguments": "1+"}}]}
    body = chunk(first) + chunk(more) * 3000 + chunk({}, "tool_calls")
    events = run(server, body, ReplyLimits(chars=100, seconds=600))
    assert_stopped_by_limit(events)


def test_an_ordinary_reply_is_far_inside_the_byte_budget(server):
    text = "这是一个很长的中文回答。" * 40
    body = b"".join(chunk({"content": char}) for char in text) + chunk({}, "stop") + b"data: [DONE]\n\n"
    events = run(server, body, ReplyLimits(chars=len(text), seconds=600))
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == text
    assert not any(isinstance(e, Interrupted) for e in events)
