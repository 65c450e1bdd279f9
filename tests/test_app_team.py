"""A team's things in the app (AppTest, AUTH=oidc with ``st.user`` seeded): a share link opens a read-only snapshot
for another signed-in person and stops after its owner revokes it; an admin's per-user daily budget holds that
person's message; the single-user app shows none of it."""

from __future__ import annotations

import sqlite3
from contextlib import closing

import pytest
from streamlit.testing.v1 import AppTest

from app_driver import APP, page_text, rendered, send, start
from config import load_settings
from conversation_manager import STOPPED, STREAMING, Conversation, Message
from scripted_server import Reply
from store import Store
from test_app_auth import AUTH_SECTION, visit

ANN = {"is_logged_in": True, "email": "ann@example.com", "name": "Ann"}
BOB = {"is_logged_in": True, "email": "bob@example.com", "name": "Bob"}
ADMIN = {"is_logged_in": True, "email": "admin@example.com", "name": "Admin"}
TRICKY = "**not bold** <b>no tag</b> [a link](javascript:alert(1))"


@pytest.fixture
def team(app_env, monkeypatch):
    monkeypatch.setenv("AUTH", "oidc")
    monkeypatch.setenv("AUTH_ADMINS", "admin@example.com")
    monkeypatch.setenv("SHARED_KEY_FOR_USERS", "on")
    return app_env


def opening(user: dict[str, object], token: str) -> AppTest:
    """A fresh browser session of ``user`` on ?share=TOKEN, after its first run."""
    at = AppTest.from_file(APP, default_timeout=60)
    at.user, at.secrets = user, {"auth": AUTH_SECTION}
    at.query_params["share"] = token
    return at.run()


def publish(at: AppTest) -> str:
    """Opens the chat's Share popover, publishes, and reads the new link from the list."""
    at.session_state["share_popover"] = True
    at.run()
    at.sidebar.button(key="share_publish").click().run()
    assert not at.exception and "Link created, see below." in [s.value for s in at.sidebar.success]
    links = [c.value for c in at.sidebar.code if "?share=" in c.value]
    assert len(links) == 1
    return links[0].split("?share=", 1)[1]


def test_a_share_link_shows_a_read_only_snapshot_until_its_owner_revokes_it(team):
    ann = visit(ANN)
    team.expect(Reply(text="A **zebra** answer."))
    send(ann, TRICKY)
    token = publish(ann)
    team.expect(Reply(text="Said after publishing."))
    send(ann, "later question")

    bob = opening(BOB, token)
    assert not bob.exception
    title = ann.session_state["session"].conversation.title
    assert title and rendered(bob.title[0].value) == title
    assert [m.name for m in bob.chat_message] == ["user", "assistant"]
    user_text = bob.chat_message[0].markdown[0].value
    assert rendered(user_text) == TRICKY  # shown literally, as the chat itself shows it
    assert "A **zebra** answer." in bob.chat_message[1].markdown[0].value
    assert "later question" not in page_text(bob) and "Said after publishing." not in page_text(bob)
    assert any("A read-only snapshot shared by ann@example.com on " in rendered(c.value) for c in bob.caption)
    assert not bob.chat_input and [b.key for b in bob.main.button] == ["share_back"]
    assert not bob.text_area  # no edit box

    ann.sidebar.button(key=f"share_revoke_{token}").click().run()
    assert "The link is revoked: it no longer opens the snapshot." in [s.value for s in ann.sidebar.success]
    assert "No share links yet." in [c.value for c in ann.sidebar.caption]
    bob.run()
    assert "This share link was not found" in bob.error[0].value and not bob.chat_message
    bob.button(key="share_back").click().run()
    assert not bob.exception and bob.chat_input and "share" not in bob.query_params


def test_a_wrong_token_is_not_found_and_reveals_nothing(team):
    at = opening(BOB, "no-such-token")
    assert "This share link was not found" in at.error[0].value
    assert not at.chat_message and not at.chat_input


def test_another_persons_chat_id_is_not_found_as_a_deleted_one_is_not(team):
    ann = visit(ANN)
    team.expect(Reply(text="Ann's private answer."))
    send(ann, "Ann's private question")
    ann_chat = ann.session_state["session"].conversation.id

    def opened_by(user: dict[str, object], chat_id: str) -> AppTest:
        at = AppTest.from_file(APP, default_timeout=60)
        at.user, at.secrets = user, {"auth": AUTH_SECTION}
        at.query_params["chat"] = chat_id
        return at.run()

    bob, gone = opened_by(BOB, ann_chat), opened_by(BOB, "deleted-or-mistyped")
    for at in (bob, gone):
        assert [i.value for i in at.info if "was not found" in i.value] == [
            "The chat this address names was not found: it may have been deleted, or the link is wrong. "
            "A new chat is open."
        ]
        assert not at.chat_message and "chat" not in at.query_params
    assert "Ann's private" not in page_text(bob)
    assert opened_by(ANN, ann_chat).chat_message  # her own chat opens for her
    bob.run()
    assert not [i for i in bob.info if "was not found" in i.value]  # said once


def test_an_admins_budget_for_a_person_holds_their_message(team):
    bob = visit(BOB)
    team.expect(Reply(text="First answer.", usage=(10_000, 0)))  # gpt-4o-mini: $0.0015
    send(bob, "first")

    admin = visit(ADMIN)
    assert "Signed in as admin@example.com (admin)" in [rendered(c.value) for c in admin.sidebar.caption]
    admin.session_state["team_admin"] = True
    admin.run()
    table = admin.sidebar.dataframe[0].value
    row = table[table["User"] == "bob@example.com"].iloc[0]
    assert row["Today (USD)"] == pytest.approx(0.0015) and row["Tokens today"] == 10_000
    assert row["Daily budget"] == "default (no limit)" and row["Name"] == "Bob"
    assert "Spend per user per day, last 30 days (USD, UTC days)" in [c.value for c in admin.sidebar.caption]
    assert admin.sidebar.get("arrow_vega_lite_chart") or admin.sidebar.get("vega_lite_chart")
    admin.sidebar.selectbox(key="team_budget_user").select("bob@example.com").run()
    admin.sidebar.number_input(key="team_budget_bob@example.com").set_value(0.001).run()
    admin.sidebar.button(key="team_budget_save").click().run()
    assert "Saved the daily budget of bob@example.com." in [rendered(s.value) for s in admin.sidebar.success]
    table = admin.sidebar.dataframe[0].value
    assert table[table["User"] == "bob@example.com"].iloc[0]["Daily budget"] == "$0.0010"

    bob.run()
    assert any("Daily budget: $0.0015 of $0.0010 used" in e.value for e in bob.sidebar.error)
    send(bob, "second, over my budget")
    assert len(team.chat_requests()) == 1  # held, not sent
    assert "The Daily budget is used up" in bob.warning[0].value
    assert "only an admin can raise it" in bob.warning[0].value
    assert bob.code[-1].value == "second, over my budget"
    assert "send_anyway" not in [b.key for b in bob.main.button]  # a hard limit: no sending anyway
    assert "cancel_held" in [b.key for b in bob.main.button]

    ann = visit(ANN)  # another person keeps the global budget (none)
    team.expect(Reply(text="Ann is not held."))
    send(ann, "hello")
    assert len(team.chat_requests()) == 2

    admin.sidebar.button(key="team_budget_clear").click().run()
    assert "bob@example.com uses the global daily budget again." in [rendered(s.value) for s in admin.sidebar.success]
    team.expect(Reply(text="Sent again."))
    send(bob.run(), "third")
    assert len(team.chat_requests()) == 3


def test_the_global_daily_budget_is_hard_for_a_signed_in_person_and_soft_for_an_admin(team, monkeypatch):
    monkeypatch.setenv("BUDGET_PER_DAY", "0.001")
    monkeypatch.setenv("BUDGET_PER_CHAT", "0.001")
    for user in (BOB, ADMIN):
        at = visit(user)
        team.expect(Reply(text="First answer.", usage=(10_000, 0)))  # gpt-4o-mini: $0.0015
        send(at, "first")
        send(at, "second")
        held, hard = at.warning[0].value, user is BOB
        # Bob: the daily budget is the reason (the chat's, also spent, is his own to override); the admin: the chat's
        assert ("The Daily budget is used up" in held and "only an admin can raise it" in held) == hard
        assert ("The Chat budget is used up" in held and "send it anyway?" in held) != hard
        assert ("send_anyway" in [b.key for b in at.main.button]) != hard
    assert len(team.chat_requests()) == 2


def test_only_admins_see_the_team_panel(team):
    bob = visit(BOB)
    assert not [e for e in bob.sidebar.expander if "Team" in e.label]
    assert "team_admin" not in bob.session_state


def test_the_single_user_app_has_no_share_control_and_ignores_share_links(app_env):
    at = start()
    assert not at.exception and "share_popover" not in at.session_state
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["share"] = "anything"
    at.run()
    assert not at.exception and at.chat_input and not at.error


def test_each_person_has_their_own_knowledge_base_with_the_bundled_sample(team):
    ann = visit(ANN)
    ann.sidebar.button(key="kb_open").click().run()
    ann.text_input(key="kb_paste_title").input("Ann's runbook")
    ann.text_area(key="kb_paste_text").input("Only Ann may read this rollback note.")
    ann.button(key="kb_paste_add").click().run()
    assert ann.sidebar.multiselect(key="kb_collections").value == ["sample", "My documents"]
    bob = visit(BOB)
    assert bob.sidebar.multiselect(key="kb_collections").value == ["sample"]  # the sample, imported for him too
    bob.sidebar.button(key="kb_open").click().run()
    assert not [e for e in bob.expander if "Ann" in e.label]
    team.expect(
        Reply(tool_calls=[("search_knowledge_base", '{"query": "rollback", "top_k": 5}')]),
        Reply(text="Nothing of Ann's."),
    )
    send(bob, "How do I roll back?")
    assert "Only Ann may read" not in team.chat_requests()[1]["messages"][-1]["content"]


def test_a_chat_opened_while_another_server_streams_its_reply_is_not_settled_there(app_env):
    store = Store(load_settings().database)
    writing, cut_off = Conversation(title="writing"), Conversation(title="cut off")
    for conversation in (writing, cut_off):
        conversation.add_user("tell me")
        conversation.append(Message("assistant", "so far", status=STREAMING))
        store.save(conversation)
    with closing(sqlite3.connect(store.path)) as db, db:  # the other chat's writer went quiet a minute ago
        db.execute("UPDATE conversations SET updated_at = ? WHERE id = ?", ("2020-01-01T00:00:00+00:00", cut_off.id))

    at = start(writing.id)
    assert not at.exception and "still being written elsewhere" in page_text(at)
    assert "Stopped; what arrived is kept" not in page_text(at)
    assert at.chat_input[0].disabled  # nothing goes into the chat until its writer ends the reply
    reloaded = store.load(writing.id)
    assert reloaded is not None and reloaded.messages[-1].status == STREAMING  # left for its writer

    at = start(cut_off.id)
    assert "Stopped; what arrived is kept" in page_text(at) and "still being written" not in page_text(at)
    assert not at.chat_input[0].disabled
    reloaded = store.load(cut_off.id)
    assert reloaded is not None and reloaded.messages[-1].status == STOPPED  # crash recovery, as before
