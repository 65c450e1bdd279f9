"""The reply as it streams (ui_stream.LiveReply): drawn from a real turn against the scripted server, it ends up
showing what render_reply shows for the same reply (the history's drawing after the rerun), in the same order, the
text split only where blocks end. And in the app: Stop keeps the partial reply."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from app_driver import start
from conversation_manager import STOPPED
from formulas import normalize
from scripted_server import Reply
from stream_pacing import STREAMS
from ui_stream import FREEZE_AT

LONG_REPLY = (
    "# Notes\n\nFirst paragraph, with a formula \\(a^2 + b^2 = c^2\\) in it.\n\n- one\n- two\n\n"
    "```python\ndef f():\n\n    return 1\n```\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n\\[\nE = mc^2\n\\]\n\nThe end.\n"
)


def live_turn(question: str, tools: tuple[str, ...], last_event: str | None, busy: bool) -> None:
    """One real turn drawn with LiveReply after every event, as app.run_turn draws it (every update, to draw as
    many as a stream can ask for; no rerun after it), then the same reply as the history draws it. ``last_event``:
    the kind of event after which the turn is left, as Stop leaves it; ``busy``: the provider's one request a
    minute is taken already."""
    from contextlib import closing

    import streamlit as st

    from config import load_settings
    from conversation_manager import Conversation
    from function_tools import default_registry
    from rate_limiter import RateLimiter
    from token_tracker import PriceBook
    from turn import TurnChoices, prepare
    from ui_chat import notice_text, render_reply
    from ui_stream import LiveReply

    settings = load_settings()
    conversation = Conversation()
    registry = default_registry(settings.weather_api_url, settings.geocoding_api_url)
    choices = TurnChoices("en", "default", tools)
    limiter = RateLimiter(requests_per_minute=1) if busy else None
    if limiter is not None:
        limiter.reserve(0)  # the minute's one request, taken
    book = PriceBook(7.0)
    turn = prepare(
        conversation, settings, choices, question, registry=registry, book=book, save=lambda _: True, limiter=limiter
    )
    with st.chat_message("assistant"):
        live = LiveReply("en", settings.endpoint)
        with closing(turn.run()) as events:
            for event in events:
                live.draw(turn.reply, notice_text(turn.notice, "en"))
                if type(event).__name__ == last_event:
                    break
    with st.chat_message("assistant"):
        render_reply(turn.reply, "en", settings.endpoint, notice_text(turn.notice, "en"))


def run_live(question: str, tools: tuple[str, ...] = (), last_event: str | None = None, busy: bool = False) -> AppTest:
    at = AppTest.from_function(live_turn, args=(question, tools, last_event, busy), default_timeout=60).run()
    assert not at.exception, at.exception
    return at


def drawn(node: Any) -> Iterator[tuple[str, str]]:
    """What a part of the page shows, in order: each element's kind and text (a block's label where it has one)."""
    kind = getattr(node, "type", "")
    if kind in ("markdown", "caption", "info", "warning", "error", "code"):
        yield kind, node.value
    elif kind in ("expander", "status"):
        yield kind, node.label
    for child in getattr(node, "children", {}).values():
        yield from drawn(child)


def joined(items: Iterator[tuple[str, str]]) -> list[tuple[str, str]]:
    """Markdown elements one after the other as one: the live reply draws a text's settled blocks apart (each
    element's text is kept without the blank line it ended with; these replies part blocks with one)."""
    found: list[tuple[str, str]] = []
    for kind, text in items:
        if kind == "markdown" and found and found[-1][0] == "markdown":
            found[-1] = ("markdown", found[-1][1] + "\n\n" + text)
        else:
            found.append((kind, text))
    return found


def live_and_history(at: AppTest) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    live, history = at.chat_message
    return list(drawn(live)), list(drawn(history))


def test_a_long_reply_streams_in_blocks_and_ends_as_the_whole_text(app_env):
    text = "\n".join([LONG_REPLY] * 30)  # long enough for its settled blocks to be frozen, FREEZE_AT at a time
    app_env.expect(Reply(text=text, chunk_size=7, usage=(40, 60)))
    at = run_live("Write notes")
    live, history = live_and_history(at)
    parts = [text for kind, text in live if kind == "markdown"]
    assert len(parts) >= 3 and all(len(part) < FREEZE_AT + len(LONG_REPLY) for part in parts)  # frozen apart
    assert "\n\n".join(parts) == normalize(text).strip()  # every streamed character, once, in order
    assert joined(iter(live)) == history
    assert live[-1][0] == "caption" and live[-1][1].startswith("↑40 ↓60 = 100 tokens")


def test_reasoning_tool_steps_and_answer_are_drawn_in_order(app_env):
    app_env.expect(
        Reply(reasoning="Multiply first.", tool_calls=[("calculate", '{"expression": "123*456"}')], usage=(30, 9)),
        Reply(text="123 × 456 = 56088", reasoning="Now answer.", usage=(50, 7)),
    )
    at = run_live("What is 123*456?", tools=("calculate",))
    live, history = live_and_history(at)
    assert live == history
    shown = [text for kind, text in live if kind in ("expander", "status", "markdown")]
    assert shown == [
        "Reasoning",
        "Multiply first.",
        "🔧 Tool call calculate",
        "Reasoning",
        "Now answer.",
        "123 × 456 = 56088",
    ]
    assert ("code", '{"expression": "123*456", "result": 56088}') in live


def test_a_retry_notice_stands_under_the_reply_while_it_waits(app_env, monkeypatch):
    monkeypatch.setenv("MAX_RETRIES", "1")
    app_env.expect(Reply.fail(503, "Service unavailable", **{"retry-after": "5"}))
    at = run_live("hello", last_event="Retrying")  # left while it waits: no retry goes out
    live, _ = live_and_history(at)
    assert live[-1][0] == "caption" and "error; retry 1 in 5.0 s" in live[-1][1]
    assert len(app_env.chat_requests()) == 1


def test_a_rate_limit_wait_is_said_under_the_reply(app_env):
    at = run_live("hello", last_event="Waiting", busy=True)  # left while it waits: nothing goes out
    live, _ = live_and_history(at)
    assert live[-1][0] == "caption" and "Client-side rate limit: sending in" in live[-1][1]
    assert app_env.chat_requests() == []


def test_stop_keeps_the_partial_reply(app_env):
    """Stop, as Streamlit does it: the script is asked to stop and raises at its next drawing, inside the stream."""
    words = " ".join(f"w{n}" for n in range(1, 40))
    app_env.expect(Reply(text=words, stall_after=3, stall_seconds=15))
    at = start()
    with pytest.raises(RuntimeError, match="timed out"):  # AppTest stops a run that outlasts its timeout
        at.chat_input[0].set_value("Count until I stop you").run(timeout=8)
    assert STREAMS.count == 0  # counted out again
    at.chat_input[0].set_value(None).run()  # the next run, as the browser's after Stop: nothing sent again
    assert not at.exception, at.exception
    reply = at.session_state["session"].conversation.messages[-1]
    assert reply.status == STOPPED and reply.content.startswith("w1 w2 w3 ") and len(reply.content) < len(words)
    assert "Stopped; what arrived is kept" in [w.value for w in at.warning]
    assert at.chat_message[-1].markdown[0].value == reply.content.strip()
