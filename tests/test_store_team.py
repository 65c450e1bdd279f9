"""A team's things in the store, on SQLite and PostgreSQL: who signed in, per-user daily budgets, spend per owner
and day (the admin's view across owners), and read-only share links (a snapshot, its owner's to revoke)."""

from __future__ import annotations

import json
import re

import pytest

from conversation_manager import Conversation, TurnRecorder
from events import TextDelta
from storage_backend import ConversationNotFound
from store import SHARE_TOKEN_BYTES, OwnerSpend, Store, UserInfo
from test_store import BOOK, chat, execute
from token_tracker import Cost, Usage

ANN, BOB = "ann@example.com", "bob@example.com"


@pytest.fixture
def store(database_url, open_stores) -> Store:
    """A new store of each kind: a SQLite file, then a PostgreSQL database."""
    return open_stores(database_url)


def test_a_user_is_recorded_when_first_and_last_seen(store):
    store.as_user(ANN).touch_user("Ann")
    (first,) = store.users()
    assert (first.email, first.name, first.budget) == (ANN, "Ann", None)
    assert first.first_seen == first.last_seen
    store.as_user(ANN).touch_user("Ann Lee")
    store.as_user(BOB).touch_user()
    ann, bob = store.users()
    assert (ann.email, ann.name, ann.first_seen) == (ANN, "Ann Lee", first.first_seen)
    assert ann.last_seen > first.last_seen
    assert (bob.email, bob.name) == (BOB, "")


def test_an_admin_sets_and_clears_a_users_daily_budget(store):
    admin = store.as_user("admin@example.com")
    store.as_user(ANN).touch_user("Ann")
    assert store.as_user(ANN).budget_for() is None
    admin.set_budget(ANN, 0.25)
    admin.set_budget("carol@example.com", 0)  # before Carol ever signs in: 0 is no limit for her
    assert store.as_user(ANN).budget_for() == 0.25 and store.as_user(BOB).budget_for() is None
    assert store.as_user("carol@example.com").budget_for() == 0
    assert store.users() == [
        UserInfo(ANN, "Ann", store.users()[0].first_seen, store.users()[0].last_seen, 0.25),
        UserInfo("carol@example.com", "", None, None, 0),
    ]
    assert execute(store, "SELECT set_by FROM budgets WHERE owner = ?", (ANN,)) == [{"set_by": "admin@example.com"}]
    admin.set_budget(ANN, 1.5)
    assert store.as_user(ANN).budget_for() == 1.5
    admin.set_budget(ANN, None)
    assert store.as_user(ANN).budget_for() is None and store.users()[0].budget is None
    for wrong in (-0.01, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="0 or more"):
            admin.set_budget(ANN, wrong)
    assert store.as_user(ANN).budget_for() is None


def on_day(conversation: Conversation, day: str) -> Conversation:
    """The conversation as if it had happened on ``day`` (UTC)."""
    for message in conversation.nodes.values():
        message.created_at = f"{day}T10:00:00+00:00"
    return conversation


def test_spend_by_owner_sums_each_owners_replies_per_day_across_owners(store):
    ann, bob = store.as_user(ANN), store.as_user(BOB)
    ann.save(on_day(chat("old", "answer", Usage(1000, 10)), "2026-01-01"))
    ann.save(on_day(chat("one", "answer", Usage(100, 10)), "2026-01-02"))
    ann.save(on_day(chat("two", "answer", Usage(200, 20)), "2026-01-02"))
    bob.save(on_day(chat("his", "answer", Usage(50, 5)), "2026-01-02"))
    bob.save(on_day(chat("later", "answer", Usage(7, 1)), "2026-01-03"))
    store.save(on_day(chat("single user", "answer", Usage(3, 1)), "2026-01-03"))
    summarized = on_day(chat("summed up", "answer"), "2026-01-03")
    summarized.apply_summary("short", [], "gpt-4o-mini", Usage(40, 4), Cost(0.5, 3.5))
    assert summarized.summary is not None
    summarized.summary.created_at = "2026-01-03T11:00:00+00:00"
    bob.save(summarized)
    found = store.spend_by_owner("2026-01-02")
    assert [(row.owner, row.day, row.totals.calls) for row in found] == [
        (ANN, "2026-01-02", 2),
        (BOB, "2026-01-02", 1),
        ("", "2026-01-03", 1),
        (BOB, "2026-01-03", 2),  # a reply and a summary's call
    ]
    assert [row.totals.usage.prompt_tokens for row in found] == [300, 50, 3, 47]
    assert found[1].totals.cost == BOOK.cost("gpt-4o-mini", Usage(50, 5))
    assert found[3].totals.cost.usd == pytest.approx(BOOK.cost("gpt-4o-mini", Usage(7, 1)).usd + 0.5)
    assert all(isinstance(row, OwnerSpend) for row in found)
    assert store.spend_by_owner("2099-01-01") == []
    # each owner's own totals still agree with what the admin sees of them
    assert ann.totals(since="2026-01-02").usage.prompt_tokens == 300


def test_a_share_is_a_snapshot_of_the_visible_chat_that_anyone_may_read(store):
    ann, bob = store.as_user(ANN), store.as_user(BOB)
    conversation = chat("What is 斑马?", "A zebra.", Usage(10, 2))
    conversation.rewind_to(conversation.messages[0].id)  # an earlier version stays private
    TurnRecorder(conversation, "gpt-4o-mini", "standard", BOOK).apply(TextDelta("A striped horse."))
    conversation.last_request = {"model": "gpt-4o-mini", "messages": [{"role": "system", "content": "secret"}]}
    conversation.messages[-1].error = {
        "kind": "server",
        "status": 502,
        "detail": "https://user:pw@gateway/v1?key=x failed",
    }
    conversation.title = "Zebras"
    ann.save(conversation)
    token = ann.publish(conversation.id)
    assert re.fullmatch(r"[A-Za-z0-9_-]+", token) and len(token) == SHARE_TOKEN_BYTES * 4 // 3
    conversation.add_user("asked after publishing")
    ann.save(conversation)

    seen = bob.shared(token)
    assert seen is not None and seen.owner == ANN
    shown = seen.conversation
    assert shown.title == "Zebras" and shown.id != conversation.id
    assert [(m.role, m.content) for m in shown.messages] == [
        ("user", "What is 斑马?"),
        ("assistant", "A striped horse."),
    ]
    assert len(shown.nodes) == 2 and shown.last_request is None and shown.settings == {}
    assert shown.messages[-1].error == {"kind": "server", "status": 502}
    stored = json.dumps(execute(store, "SELECT snapshot FROM shares"))
    assert "secret" not in stored and "user:pw" not in stored and "A zebra." not in stored
    assert store.shared(token) is not None and store.shared("wrong-token") is None


def test_only_the_owner_publishes_lists_and_revokes_their_shares(store):
    ann, bob = store.as_user(ANN), store.as_user(BOB)
    hers, other = chat("hers", "answer"), chat("another", "answer")
    ann.save(hers)
    ann.save(other)
    with pytest.raises(ConversationNotFound):
        bob.publish(hers.id)  # another owner's chat is not found, as it would not be for anyone
    with pytest.raises(ConversationNotFound):
        ann.publish("no-such-chat")
    first, second = ann.publish(hers.id), ann.publish(other.id)
    assert first != second
    assert [(s.token, s.conversation_id) for s in ann.my_shares()] == [(second, other.id), (first, hers.id)]
    assert bob.my_shares() == [] and execute(store, "SELECT COUNT(*) AS n FROM shares") == [{"n": 2}]
    assert bob.revoke(first) is False and bob.shared(first) is not None
    assert ann.revoke(first) is True and ann.revoke(first) is False
    assert bob.shared(first) is None and ann.shared(first) is None
    assert [s.token for s in ann.my_shares()] == [second]
    ann.delete(other.id)  # a deleted chat's links stop too
    assert bob.shared(second) is None and ann.my_shares() == []
