"""A provider that streams forever: the reply is stopped at MAX_REPLY_CHARS or MAX_REPLY_SECONDS, its HTTP
stream closed, what arrived kept, and the user told why (the runner, then the page)."""

import itertools
import time

import pytest

from app_driver import send, start
from config import ConfigError, load_settings
from events import Finished, Interrupted, ReasoningDelta, RequestSent, TextDelta, UsageReported
from llm_client import ChatParams, LLMClient, ReplyLimits, Target, TurnRunner
from scripted_server import Reply, ScriptedServer

ENDLESS = "word " * 5_000
MESSAGES = [{"role": "user", "content": "talk forever"}]
PARAMS = ChatParams("gpt-4o-mini")


def runner(server: ScriptedServer, limits: ReplyLimits, clock=time.monotonic) -> TurnRunner:
    return TurnRunner([Target(LLMClient("sk-none", server.base_url), "gpt-4o-mini")], limits=limits, clock=clock)


def hung_up(server: ScriptedServer) -> bool:
    """Whether the server saw the client close the stream (its next write fails; each is chunk_delay apart)."""
    for _ in range(250):
        if server.hung_up:
            return True
        time.sleep(0.02)
    return False


def test_a_reply_past_its_character_limit_is_closed_and_kept(server):
    server.expect(Reply(reasoning="think " * 3, text=ENDLESS, chunk_delay=0.01))
    events = list(runner(server, ReplyLimits(chars=60, seconds=600)).run(MESSAGES, PARAMS))
    streamed = "".join(e.text for e in events if isinstance(e, TextDelta | ReasoningDelta))
    assert 60 < len(streamed) <= 65  # stopped at the first chunk past the limit: nothing received is dropped
    assert not any(isinstance(e, Finished) for e in events)
    stop = events[-1]
    assert isinstance(stop, Interrupted) and stop.error.kind == "reply_limit"
    assert "MAX_REPLY_CHARS=60" in stop.error.detail
    usage = next(e for e in events if isinstance(e, UsageReported))
    assert usage.usage.estimated and usage.usage.completion_tokens > 0
    assert sum(isinstance(e, RequestSent) for e in events) == 1  # shown text is never retried
    assert hung_up(server)


def test_a_reply_past_its_time_limit_is_closed_and_kept(server):
    server.expect(Reply(text=ENDLESS, chunk_delay=0.01))
    seconds = itertools.count()  # read when the turn starts, then per line and per word: each a second later
    turn = runner(server, ReplyLimits(chars=10**6, seconds=4.5), clock=lambda: next(seconds))
    events = list(turn.run(MESSAGES, PARAMS))
    kept = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert kept and kept == "word " * (len(kept) // 5) and len(kept) < 25  # stopped within a few readings
    stop = events[-1]
    assert isinstance(stop, Interrupted) and stop.error.kind == "reply_limit"
    assert "MAX_REPLY_SECONDS=4.5 s" in stop.error.detail
    assert hung_up(server)


def test_a_reply_within_its_limits_ends_normally(server):
    server.expect(Reply(text="short and sweet"))
    events = list(runner(server, ReplyLimits(chars=len("short and sweet"), seconds=600)).run(MESSAGES, PARAMS))
    assert isinstance(events[-1], Finished)


@pytest.mark.parametrize("language", ["en", "zh"])
def test_the_page_says_why_an_endless_reply_was_stopped(app_env, monkeypatch, language):
    monkeypatch.setenv("UI_LANGUAGE", language)
    monkeypatch.setenv("MAX_REPLY_CHARS", "100")
    app_env.expect(Reply(text=ENDLESS, chunk_delay=0.01))
    at = send(start(), "talk forever")
    reply = at.session_state["session"].conversation.messages[-1]
    assert reply.status == "interrupted" and 100 < len(reply.content) <= 105
    assert reply.content.startswith("word word")
    expected = {"en": "went past its length or time limit", "zh": "回复超过了长度或时长上限"}[language]
    assert expected in at.error[0].value
    assert any("MAX_REPLY_CHARS=100" in c.value for c in at.code)
    assert any(b.key.startswith("continue_") for b in at.button)
    assert hung_up(app_env)


def test_the_time_limit_holds_in_the_page_too(app_env, monkeypatch):
    monkeypatch.setenv("MAX_REPLY_SECONDS", "1")
    monkeypatch.setenv("UI_LANGUAGE", "en")
    app_env.expect(Reply(text=ENDLESS, chunk_delay=0.01))
    at = send(start(), "talk forever")
    reply = at.session_state["session"].conversation.messages[-1]
    assert reply.status == "interrupted" and reply.content.startswith("word word")
    assert len(reply.content) < len(ENDLESS)
    assert any("MAX_REPLY_SECONDS=1 s" in c.value for c in at.code)


@pytest.mark.parametrize(
    ("name", "value"), [("MAX_REPLY_CHARS", "0"), ("MAX_REPLY_SECONDS", "0.5"), ("MAX_REPLY_CHARS", "a")]
)
def test_reply_limits_are_validated(name, value):
    with pytest.raises(ConfigError, match=name):
        load_settings({name: value})


def test_reply_limits_default_to_200000_characters_and_600_seconds():
    settings = load_settings({})
    assert (settings.max_reply_chars, settings.max_reply_seconds) == (200_000, 600.0)
