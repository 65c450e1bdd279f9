"""Content safety as the user meets it (AppTest against the scripted server, its POST /v1/moderations included):
block keeps a flagged message unsent with why until "Send anyway", warn sends it with a warning, a flagged reply is
marked and kept, a provider without moderation gets the list check and the page says so, off asks nothing."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from app_driver import refreshed, rendered, send, start
from compare import DEFAULT_TEMPLATES
from config import display_url
from content_safety import Verdict, WordHit
from prompt_templates import TEMPLATES
from scripted_server import Moderated, Reply, ScriptedServer
from store import Store
from ui_safety import verdict_lines

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


def saved_store() -> Store:
    return Store.open(str(Path(os.environ["DATA_DIR"]) / "chats.db"))


def under(template: str) -> Any:
    return lambda body: body["messages"][0]["content"].startswith(TEMPLATES[template].system["en"])


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


def test_an_edited_message_is_checked_held_and_sent_anyway_as_the_edit(safety_env, monkeypatch):
    monkeypatch.setenv("SAFETY", "block")
    safety_env.moderate(Moderated(), Moderated())
    safety_env.expect(Reply(text="Hi."))
    at = send(start(), "hello")
    first = conversation(at).messages[0]
    at.button(key=f"edit_{first.id}").click().run()
    at.text_area(key=f"edit_text_{first.id}").input("a forbidden plan")
    safety_env.moderate(Moderated({"violence": 0.91}))
    refreshed(at.button(key=f"save_{first.id}").click().run())
    assert len(safety_env.chat_requests()) == 1  # the edit was not sent
    assert "was not sent (SAFETY=block)" in warnings(at) and "matched “forbidden”" in warnings(at)
    assert at.text_area(key="safety_held_text").value == "a forbidden plan"
    safety_env.moderate(Moderated())  # the reply is checked; the held text goes unchecked
    safety_env.expect(Reply(text="About that plan."))
    refreshed(at.button(key="safety_send").click().run())
    assert [r["input"] for r in safety_env.moderation_requests()] == [
        "hello",
        "Hi.",
        "a forbidden plan",
        "About that plan.",
    ]
    sent = safety_env.chat_requests()[1]["messages"]
    assert [m["content"] for m in sent if m["role"] == "user"] == ["a forbidden plan"]  # an edit: "hello" replaced
    edited = conversation(at).messages[0]
    assert edited.id != first.id and edited.parent_id == first.parent_id  # a new version of the first message
    assert edited.content == "a forbidden plan" and edited.safety["categories"] == [["violence", 0.91]]
    assert any(c.value == "2 / 2" for c in at.caption) and not held_box(at)


def test_warn_in_compare_mode_marks_the_question_and_checks_each_answer(safety_env, monkeypatch):
    monkeypatch.setenv("SAFETY", "warn")
    safety_env.moderate(Moderated({"harassment": 0.66}), Moderated(), Moderated({"hate": 0.88}))
    safety_env.expect(
        *(Reply(f"Answer {n}.", when=under(template)) for n, template in enumerate(DEFAULT_TEMPLATES[:2]))
    )
    at = start()
    at.toggle(key="compare_on").set_value(True)
    at.radio(key="compare_count").set_value(2).run()
    send(at, "you forbidden fool")
    assert [r["input"] for r in safety_env.moderation_requests()] == ["you forbidden fool", "Answer 0.", "Answer 1."]
    columns = [c for c in at.columns if any(b.key.startswith("compare_keep_") for b in c.button if b.key)]
    assert [len(column.warning) for column in columns] == [0, 1]
    assert "Content safety flagged this reply:" in columns[1].warning[0].value
    saved = saved_store().load(conversation(at).id)
    assert saved is not None
    question, *answers = [m for m in saved.nodes.values() if m.content]
    assert question.content == "you forbidden fool" and question.safety["categories"] == [["harassment", 0.66]]
    assert [(m.content, (m.safety or {}).get("categories")) for m in answers] == [
        ("Answer 0.", None),
        ("Answer 1.", [["hate", 0.88]]),
    ]
    at.toggle(key="compare_on").set_value(False).run()
    safety_env.moderate(Moderated(), Moderated())
    safety_env.expect(Reply(text="Fine."))
    send(at, "a clean question")
    asked = conversation(at).messages[-2]
    assert asked.content == "a clean question" and asked.safety is None  # the question's verdict stayed with it


def test_each_moderation_call_is_a_usage_log_row_a_held_message_s_too(safety_env, monkeypatch):
    monkeypatch.setenv("SAFETY", "block")
    safety_env.moderate(Moderated())
    at = send(start(), "a forbidden plan")
    at.button(key="safety_cancel").click().run()
    at.sidebar.button(key="new_chat").click().run()  # the held message's chat is never saved
    safety_env.moderate(Moderated(), Moderated(status=500))  # the reply's check fails: a row all the same
    safety_env.expect(Reply(text="Hello."))
    send(at, "hello")
    rows = sorted((c.call for c in saved_store().api_calls() if c.call.kind == "moderation"), key=lambda c: c.at)
    assert [r["input"] for r in safety_env.moderation_requests()] == ["a forbidden plan", "hello", "Hello."]
    assert [row.outcome for row in rows] == ["ok", "ok", "server"]
    assert {(row.provider, row.model) for row in rows} == {(display_url(safety_env.base_url), "omni-moderation-latest")}
    assert all(row.total_ms is not None and row.cost is not None and row.cost.usd == 0 for row in rows)
    assert conversation(at).side_calls == []  # no usage reported: nothing booked to the chat's cost


def test_provider_words_in_a_verdict_show_as_written():
    verdict = Verdict((WordHit("re:a*b*", 1, "ab"),), (("hate/**threatening**", 0.5), ("<b>x</b>", 0.25)), "checked")
    shown = [rendered(line) for line in verdict_lines(verdict, "en")]
    assert shown == [
        "word list line 1: re:a*b* matched “ab”",
        "moderation model: hate/**threatening** (0.50)",
        "moderation model: <b>x</b> (0.25)",
    ]
