"""The fault matrix: each row asserts what the user sees and that the conversation is intact afterwards."""

import json
import os
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app_driver import page_text, send, start, tool_steps
from conftest import TEST_KEY
from scripted_server import Reply
from store import Store


def intact(at: AppTest, *texts: str) -> None:
    """What was typed and received is still in the conversation, in the page and in the database."""
    conversation = at.session_state["session"].conversation
    contents = [m.content for m in conversation.messages]
    for text in texts:
        assert text in contents
    stored = Store(Path(os.environ["DATA_DIR"]) / "chats.db").load(conversation.id)
    assert stored is not None and [m.content for m in stored.messages] == contents
    assert TEST_KEY not in page_text(at) + "".join(c.value for c in at.code)


@pytest.mark.parametrize(
    ("reply", "seen"),
    [
        (Reply.fail(401, f"Incorrect API key provided: {TEST_KEY}"), "The API key was rejected (401)"),
        (Reply.fail(403, "Country not supported"), "Access denied (403)"),
        (Reply.fail(404, "The model `gpt-9` does not exist", code="model_not_found"), "Not found (404)"),
        (Reply.fail(429, "You exceeded your current quota", code="insufficient_quota"), "billing, not a rate limit"),
    ],
)
def test_errors_that_are_never_retried(app_env, monkeypatch, reply, seen):
    monkeypatch.setenv("MAX_RETRIES", "3")
    app_env.expect(Reply(text="Earlier answer."), reply)
    at = send(start(), "earlier question")
    send(at, "the failing question")
    assert seen in at.error[0].value
    assert len(app_env.chat_requests()) == 2  # no retry
    intact(at, "earlier question", "Earlier answer.", "the failing question")
    app_env.expect(Reply(text="Fine again."))
    send(at, "and again")
    assert at.session_state["session"].conversation.messages[-1].content == "Fine again."


def test_429_with_retry_after_succeeds_after_the_wait(app_env, monkeypatch):
    monkeypatch.setenv("MAX_RETRIES", "2")
    app_env.expect(
        Reply.fail(429, "Rate limit reached", code="rate_limit_exceeded", **{"retry-after-ms": "200"}),
        Reply(text="After the wait."),
    )
    at = send(start(), "hello")
    assert at.session_state["session"].conversation.messages[-1].content == "After the wait."
    assert len(app_env.chat_requests()) == 2
    intact(at, "hello", "After the wait.")


def test_500_then_success(app_env, monkeypatch):
    monkeypatch.setenv("MAX_RETRIES", "1")
    app_env.expect(Reply.fail(500, "The server had an error"), Reply(text="Second try."))
    at = send(start(), "hello")
    assert at.session_state["session"].conversation.messages[-1].content == "Second try."
    assert not at.error
    intact(at, "hello", "Second try.")


def test_503_on_the_primary_lets_the_fallback_answer_with_a_badge(app_env, monkeypatch):
    monkeypatch.setenv("FALLBACK_MODELS", "deepseek-chat")
    app_env.expect(Reply.fail(503, "Service unavailable"), Reply(text="From the fallback.", usage=(1_000_000, 0)))
    at = send(start(), "hello")
    assert [r["model"] for r in app_env.chat_requests()] == ["gpt-4o-mini", "deepseek-chat"]
    assert any("Answered by fallback model deepseek-chat (gpt-4o-mini failed" in c.value for c in at.caption)
    reply = at.session_state["session"].conversation.messages[-1]
    assert reply.content == "From the fallback." and reply.model == "deepseek-chat"
    assert round(reply.cost.cny, 6) == 2.0  # booked at deepseek-chat's price
    intact(at, "hello", "From the fallback.")


def test_context_overflow_trims_further_and_retries_once(app_env):
    app_env.expect(Reply(text="first answer"), Reply(text="second answer"))
    at = send(start(), "first question")
    send(at, "second question")
    app_env.expect(
        Reply.fail(400, "This model's maximum context length is 128000 tokens", code="context_length_exceeded"),
        Reply(text="answer after trimming"),
    )
    send(at, "third question")
    failed, retried = app_env.chat_requests()[-2:]
    assert len(retried["messages"]) < len(failed["messages"])
    assert retried["messages"][-1]["content"] == "third question"
    assert any("more earlier messages were left out" in i.value for i in at.info)
    intact(at, "third question", "answer after trimming")


def test_connection_refused_on_a_custom_base_url(app_env, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    at = send(start(), "anyone there?")
    assert "Could not reach the service (http://127.0.0.1:9)." in at.error[0].value
    intact(at, "anyone there?")


def test_a_read_timeout_before_any_text(app_env, monkeypatch):
    monkeypatch.setenv("REQUEST_TIMEOUT", "1")
    app_env.expect(Reply(text="too late", stall_after=0, stall_seconds=3))
    at = send(start(), "slow please")
    assert "The request timed out" in at.error[0].value
    intact(at, "slow please")


def test_a_stream_cut_mid_reply_keeps_the_text(app_env):
    app_env.expect(Reply(text="alpha beta gamma delta", cut_after=2))
    at = send(start(), "go")
    assert "connection dropped mid-reply" in at.error[0].value
    intact(at, "go", "alpha beta ")


def test_a_stalled_stream_is_cut_and_reported(app_env, monkeypatch):
    monkeypatch.setenv("REQUEST_TIMEOUT", "1")
    app_env.expect(Reply(text="one two three four", stall_after=2, stall_seconds=3))
    at = send(start(), "go")
    assert "The reply stalled" in at.error[0].value
    intact(at, "go", "one two ")


@pytest.mark.parametrize(
    ("tool_call", "error"),
    [
        (("calculate", '{"expression": '), "not valid JSON"),
        (("delete_all_files", "{}"), "unknown tool 'delete_all_files'"),
    ],
)
def test_bad_tool_calls_go_back_to_the_model_and_the_answer_still_comes(app_env, tool_call, error):
    app_env.expect(Reply(tool_calls=[tool_call]), Reply(text="Sorry about that."))
    at = send(start(), "use a tool")
    [step] = tool_steps(at)
    assert step.label.startswith("⚠️") and step.icon == ":material/error:"
    assert any(error in c.value for c in at.code)
    assert json.loads(app_env.chat_requests()[1]["messages"][-1]["content"])["error"]
    intact(at, "use a tool", "Sorry about that.")


def test_a_tool_that_raises_returns_an_error_result(app_env, monkeypatch):
    app_env.route("/geocoding/search", lambda query: {"results": [{"name": "Nowhere"}]})  # no coordinates: it raises
    monkeypatch.setenv("GEOCODING_API_URL", app_env.url("/geocoding/search"))
    app_env.expect(Reply(tool_calls=[("get_current_weather", '{"city": "Nowhere"}')]), Reply(text="No weather."))
    at = send(start(), "weather?")
    assert any("tool 'get_current_weather' failed unexpectedly (KeyError)" in c.value for c in at.code)
    intact(at, "weather?", "No weather.")


def test_endless_tool_calls_stop_at_the_round_limit(app_env, monkeypatch):
    monkeypatch.setenv("MAX_TOOL_ROUNDS", "2")
    app_env.expect(*[Reply(tool_calls=[("calculate", '{"expression": "1+1"}')]) for _ in range(2)])
    at = send(start(), "loop forever")
    assert len(app_env.chat_requests()) == 2
    assert "kept calling tools until the round limit" in at.error[0].value
    intact(at, "loop forever")


def test_a_message_too_long_for_any_window_is_explained_and_kept(app_env):
    huge = "字" * 30_000
    app_env.expect(Reply.fail(400, "maximum context length is 128000 tokens", code="context_length_exceeded"))
    at = send(start(), huge)
    assert "longer than the model's context window" in at.error[0].value
    assert len(app_env.chat_requests()) == 1  # nothing older to leave out, so no second try
    intact(at, huge)
