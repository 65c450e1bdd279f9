"""Organising chats in the store, on a real SQLite file and a real PostgreSQL database: pinned, archived, folders and
tags (migration m011_organize), each owner's own, kept when a chat is saved again."""

from __future__ import annotations

import json

import pytest

import store as store_module
from conversation_manager import Conversation
from store import MAX_LABEL_CHARS, MIGRATIONS, Organised, Store

STAMP = "2026-01-02T03:04:05+00:00"


@pytest.fixture
def store(database_url, open_stores) -> Store:
    return open_stores(database_url)


def saved(store: Store, question: str) -> Conversation:
    conversation = Conversation(title=question)
    conversation.add_user(question)
    store.save(conversation)
    return conversation


def titles(summaries) -> list[str]:
    return [summary.title for summary in summaries]


def test_pinned_chats_come_first_then_newest_and_unpinning_puts_a_chat_back_by_date(store):
    first = saved(store, "first")
    saved(store, "second")
    saved(store, "third")
    store.set_pinned(first.id, True)
    listed = store.recent()
    assert titles(listed) == ["first", "third", "second"]
    assert [s.pinned for s in listed] == [True, False, False]
    store.set_pinned(first.id, False)
    assert titles(store.recent()) == ["third", "second", "first"]
    assert titles(store.recent(limit=1)) == ["third"]


def test_an_archived_chat_leaves_the_list_is_found_by_search_and_comes_back_when_restored(store):
    saved(store, "kept about weather")
    archived = saved(store, "archived about weather")
    store.set_archived(archived.id, True)
    assert titles(store.recent()) == ["kept about weather"]
    assert [(s.title, s.archived) for s in store.recent(archived=True)] == [("archived about weather", True)]
    assert {s.title for s in store.recent(archived=None)} == {"kept about weather", "archived about weather"}
    found = {s.title: s.archived for s in store.search("weather")}
    assert found == {"kept about weather": False, "archived about weather": True}
    store.set_archived(archived.id, False)
    assert titles(store.recent()) == ["archived about weather", "kept about weather"]


def test_folders_and_tags_filter_the_list_and_search_and_are_listed_by_name(store):
    work, home = saved(store, "work plan"), saved(store, "home plan")
    saved(store, "other plan")
    store.set_folder(work.id, "  Work\x00 ")
    store.set_folder(home.id, "Home")
    store.set_tags(work.id, ["urgent", " q3 ", "urgent", "", "x" * 100])
    store.set_tags(home.id, ["urgent"])
    assert store.folders() == ["Home", "Work"]
    assert store.tags() == ["q3", "urgent", "x" * MAX_LABEL_CHARS]
    assert titles(store.recent(folder="Work")) == ["work plan"]
    assert titles(store.recent(tag="urgent")) == ["home plan", "work plan"]
    assert titles(store.recent(folder="Home", tag="urgent")) == ["home plan"]
    assert titles(store.search("plan", tag="q3")) == ["work plan"]
    assert titles(store.search("plan", folder="Home")) == ["home plan"]
    (summary,) = store.recent(folder="Work")
    assert (summary.folder, summary.tags) == ("Work", ("q3", "urgent", "x" * MAX_LABEL_CHARS))
    store.set_tags(work.id, ["q3"])
    store.set_folder(home.id, "")
    assert store.tags() == ["q3", "urgent"] and store.folders() == ["Work"]
    assert store.recent(folder="Nowhere") == []
    assert len(store.recent()) == 3


def test_saving_a_chat_again_keeps_how_it_was_organised(store):
    conversation = saved(store, "organised")
    store.set_pinned(conversation.id, True)
    store.set_folder(conversation.id, "Projects")
    store.set_tags(conversation.id, ["a", "b"])
    conversation.add_user("one more question")
    store.save(conversation)
    loaded = store.load(conversation.id)
    store.save(loaded)
    summary = store.summary(conversation.id)
    assert (summary.pinned, summary.archived, summary.folder, summary.tags) == (True, False, "Projects", ("a", "b"))
    store.set_archived(conversation.id, True)
    store.save(loaded)
    assert store.summary(conversation.id).archived and store.recent() == []


def test_a_deleted_chat_takes_its_tags_along(store):
    conversation = saved(store, "tagged")
    store.set_tags(conversation.id, ["gone"])
    store.delete(conversation.id)
    assert store.tags() == [] and store.summary(conversation.id) is None
    with store.connection() as db:
        assert db.execute("SELECT COUNT(*) AS n FROM conversation_tags").fetchone()["n"] == 0


def test_each_owner_organises_only_their_own_chats(store):
    ann, bob = store.as_user("ann@example.com"), store.as_user("bob@example.com")
    anns = saved(ann, "ann's chat")
    for change in (bob.set_pinned, bob.set_archived):
        change(anns.id, True)
    bob.set_folder(anns.id, "Bob's")
    bob.set_tags(anns.id, ["bob"])
    summary = ann.summary(anns.id)
    assert (summary.pinned, summary.archived, summary.folder, summary.tags) == (False, False, "", ())
    assert bob.summary(anns.id) is None and bob.folders() == [] and bob.tags() == []
    ann.set_tags(anns.id, ["mine"])
    ann.set_folder(anns.id, "Mine")
    assert bob.tags() == [] and bob.folders() == [] and ann.tags() == ["mine"] and ann.folders() == ["Mine"]
    assert bob.recent(tag="mine") == [] and bob.recent(archived=None) == []


def test_a_database_made_at_m010_gains_organising_and_keeps_its_chats(database_url, open_stores, monkeypatch):
    names = [function.__name__ for function in MIGRATIONS]
    monkeypatch.setattr(store_module, "MIGRATIONS", MIGRATIONS[: names.index("m010_rate_windows") + 1])
    old = open_stores(database_url)
    assert "m011_organize" not in old.migrations()
    with old.transaction() as db:  # as the code of m010 stored a chat (today's save writes later columns)
        db.execute(
            "INSERT INTO conversations (id, title, created_at, updated_at) VALUES ('c1', 'from before', ?, ?)",
            (STAMP, STAMP),
        )
        db.execute(
            "INSERT INTO messages (id, conversation_id, role, content, data, created_at, seq)"
            " VALUES ('m1', 'c1', 'user', 'hello', ?, ?, 0)",
            (json.dumps({"role": "user", "content": "hello", "id": "m1", "created_at": STAMP}), STAMP),
        )
    monkeypatch.setattr(store_module, "MIGRATIONS", MIGRATIONS)
    upgraded = open_stores(database_url)
    assert list(upgraded.migrations()) == names
    (summary,) = upgraded.recent()
    assert (summary.id, summary.title, summary.pinned, summary.archived, summary.folder, summary.tags) == (
        "c1",
        "from before",
        False,
        False,
        "",
        (),
    )
    assert [m.content for m in upgraded.load("c1").messages] == ["hello"]
    assert upgraded.search("hello")[0].id == "c1"
    upgraded.set_pinned("c1", True)
    upgraded.set_tags("c1", ["old"])
    assert upgraded.recent()[0].pinned and upgraded.tags() == ["old"]


def test_added_chats_are_organised_in_the_same_transaction_with_names_cleaned_as_the_setters_clean_them(store):
    organised, plain = Conversation(title="organised"), Conversation(title="plain")
    how = Organised(pinned=True, archived=True, folder="  Work\n", tags=(" maths ", "maths", "", "中文\t"))
    store.add([organised, plain], {organised.id: how})
    listed = {s.title: (s.pinned, s.archived, s.folder, s.tags) for s in store.recent(archived=None)}
    assert listed == {"organised": (True, True, "Work", ("maths", "中文")), "plain": (False, False, "", ())}
    assert store.tags() == ["maths", "中文"] and store.folders() == ["Work"]
