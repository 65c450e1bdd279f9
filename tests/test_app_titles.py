"""The generated chat title in the page (AppTest against the scripted server): after the first reply the chat list,
the page title and the rename box show it, its call is counted in the chat's usage, and it is asked for once."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from app_driver import rendered, send, start
from scripted_server import Reply

QUESTION = "What is the capital of France? Answer in one word."


def title_requests(server) -> list[dict]:
    """The non-stream requests: the title's (a reply streams)."""
    return [body for body in server.chat_requests() if body.get("stream") is False]


def sidebar_text(at: AppTest) -> str:
    return "\n".join(md.value for md in at.sidebar.markdown)


@pytest.fixture
def titles_on(app_env, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("AUTO_TITLE", "on")
    return app_env


def test_after_the_first_reply_the_list_and_the_page_show_the_generated_title(titles_on):
    titles_on.expect(Reply(text="Paris.", usage=(20, 2)), Reply(text='"Capital of France."', usage=(64, 5)))
    at = send(start(), QUESTION)
    chat_id = at.session_state["session"].conversation.id
    assert rendered(at.title[0].value) == "Capital of France"
    assert rendered(at.sidebar.button(key=f"open_{chat_id}").label) == "Capital of France"
    assert at.sidebar.text_input(key=f"title_{chat_id}").value == "Capital of France"
    (asked,) = title_requests(titles_on)
    assert titles_on.chat_requests()[-1] is asked  # after the reply
    assert "**This conversation**  \nPrompt 84 · Completion 7 · Total 91" in sidebar_text(at)  # reply and title

    titles_on.expect(Reply(text="About 2.1 million.", usage=(40, 6)))
    send(at, "And its population?")
    assert len(title_requests(titles_on)) == 1  # the second reply asks for none
    assert rendered(start(chat_id).title[0].value) == "Capital of France"  # saved


def test_a_failed_title_call_shows_nothing_and_keeps_the_first_line(titles_on):
    titles_on.expect(Reply(text="Paris.", usage=(20, 2)), Reply.fail(500, "the server is down"))
    at = send(start(), QUESTION)
    assert rendered(at.title[0].value) == QUESTION[:40] + "…"
    assert not at.error and not at.warning
    assert len(title_requests(titles_on)) == 1


def test_with_auto_title_off_no_title_is_asked_for(app_env):
    app_env.expect(Reply(text="Paris.", usage=(20, 2)))
    at = send(start(), QUESTION)
    assert rendered(at.title[0].value) == QUESTION[:40] + "…"
    assert title_requests(app_env) == []
