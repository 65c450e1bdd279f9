"""Content safety as the user meets it (AppTest against the scripted server, its POST /v1/moderations included):
block keeps a flagged message unsent with why until "Send anyway", warn sends it with a warning, a flagged reply is
marked and kept, a provider without moderation gets the list check and the page says so, off asks nothing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app_driver import refreshed, rendered, send, start
from scripted_server import Moderated, Reply, ScriptedServer
from store import Store

NO_MODERATION = "This provider offers no moderation model (POST /moderations): only the word list was checked."


@pytest.fixture
def safety_env(app_env: ScriptedServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> ScriptedServer:
    words = tmp_path / "words.txt"
    words.write_text("# test list\nforbidden\nre:\\bsecret-\\d+\\b\n", encoding="utf-8")
    monkeypatch.setenv("SAFETY_WORDS_FILE", str(words))
    return app_env


def warnings(at: AppTest) -> str:
    return "\n".join(rendered(w.value) for w in at.warning)


def held_box(at: AppTest) -> bool:
    return any(area.key == "safety_held_text" for area in at.text_area)


def conversation(at: AppTest):
    return at.session_state["session"].conversation


def test_block_keeps_a_flagged_message_unsent_with_why_and_send_anyway_sends_it(safety_env, monkeypatch):
    monkeypatch.setenv("SAFETY", "block")
    safety_env.moderate(Moderated({"violence": 0.91}))
    at = send(start(), "a forbidden plan")
    assert safety_env.chat_requests() == []  # not sent
    shown = warnings(at)
    assert "was not sent (SAFETY=block)" in shown
    assert "word list line 2: forbidden matched “forbidden”" in shown
    assert "moderation model: violence (0.91)" in shown
    assert at.text_area(key="safety_held_text").value == "a forbidden plan"
    assert "Content safety: block (word list + moderation model `omni-moderation-latest`)" in [
        c.value for c in at.sidebar.caption
    ]
    assert not conversation(at).nodes
    safety_env.moderate(Moderated())  # the reply is checked too
    safety_env.expect(Reply(text="Here it is."))
    refreshed(at.button(key="safety_send").click().run())
    assert [r["input"] for r in safety_env.moderation_requests()] == ["a forbidden plan", "Here it is."]
    [request] = safety_env.chat_requests()
    assert request["messages"][-1] == {"role": "user", "content": "a forbidden plan"}
    asked = conversation(at).messages[-2]
    assert asked.content == "a forbidden plan" and asked.safety["categories"] == [["violence", 0.91]]
    assert "Content safety flagged this message:" in at.chat_message[0].warning[0].value
    assert not held_box(at)  # the box is gone once sent


def test_an_edited_held_message_is_checked_again_and_cancel_sends_nothing(safety_env, monkeypatch):
    monkeypatch.setenv("SAFETY", "block")
    safety_env.moderate(Moderated())
    at = send(start(), "tell me secret-42")
    assert "line 3: re:\\bsecret-\\d+\\b matched “secret-42”" in warnings(at)
    at.text_area(key="safety_held_text").set_value("tell me secret-43 please")
    safety_env.moderate(Moderated())
    refreshed(at.button(key="safety_send").click().run())
    assert safety_env.chat_requests() == []  # still flagged: held again, with the new text
    assert "matched “secret-43”" in warnings(at)
    at.button(key="safety_cancel").click().run()
    assert not held_box(at) and "SAFETY=block" not in warnings(at)
    assert safety_env.chat_requests() == []


def test_warn_sends_a_flagged_message_with_a_warning(safety_env, monkeypatch):
    monkeypatch.setenv("SAFETY", "warn")
    safety_env.moderate(Moderated({"harassment": 0.66}), Moderated())
    safety_env.expect(Reply(text="Noted."))
    at = send(start(), "you forbidden fool")
    assert len(safety_env.chat_requests()) == 1
    badge = at.chat_message[0].warning[0].value
    assert "Content safety flagged this message:" in badge and "harassment (0.66)" in badge
    assert conversation(at).messages[0].safety is not None
    assert conversation(at).messages[1].safety is None  # the reply was clean


def test_a_flagged_reply_is_marked_kept_and_saved(safety_env, monkeypatch):
    monkeypatch.setenv("SAFETY", "warn")
    safety_env.moderate(Moderated(), Moderated({"hate": 0.88}, usage=7))
    safety_env.expect(Reply(text="A hateful answer."))
    at = send(start(), "hello")
    reply = at.chat_message[1]
    assert any("A hateful answer." in m.value for m in reply.markdown)
    assert "Content safety flagged this reply:" in reply.warning[0].value and "hate (0.88)" in reply.warning[0].value
    chat = conversation(at)
    saved = Store.open(str(Path(os.environ["DATA_DIR"]) / "chats.db")).load(chat.id)
    assert saved is not None and saved.messages[-1].content == "A hateful answer."
    assert saved.messages[-1].safety["categories"] == [["hate", 0.88]]
    assert [call.kind for call in saved.side_calls] == ["moderation"]  # the call that reported usage


def test_a_provider_without_moderation_gets_the_list_check_and_the_page_says_so(safety_env, monkeypatch):
    monkeypatch.setenv("SAFETY", "block")
    safety_env.moderate(Moderated(status=404))
    at = send(start(), "something forbidden")
    assert "matched “forbidden”" in warnings(at)
    assert NO_MODERATION in [c.value for c in at.caption]
    assert "Content safety: block (word list only: this provider offers no moderation model)" in [
        c.value for c in at.sidebar.caption
    ]
    at.button(key="safety_cancel").click().run()
    safety_env.expect(Reply(text="Fine."))
    send(at, "a clean question")  # not asked again: the provider said it has none
    assert [r["input"] for r in safety_env.moderation_requests()] == ["something forbidden"]
    assert len(safety_env.chat_requests()) == 1


def test_off_asks_the_moderation_model_nothing(safety_env):
    safety_env.expect(Reply(text="forbidden words back"))
    at = send(start(), "a forbidden question")
    assert safety_env.moderation_requests() == [] and len(safety_env.chat_requests()) == 1
    assert all(m.safety is None for m in conversation(at).messages)
    assert "Content safety" not in warnings(at)
