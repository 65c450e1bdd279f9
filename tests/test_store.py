"""The SQLite store on a real file: round trips, migrations, search, totals, concurrency."""

import json
import sqlite3
import threading

import pytest

from conversation_manager import Conversation, TurnRecorder
from events import Finished, TextDelta, UsageReported
from store import MIGRATIONS, SCHEMA_VERSION, Store
from token_tracker import PriceBook, Usage

BOOK = PriceBook(7.0)


def chat(question: str, answer: str, usage: Usage | None = None) -> Conversation:
    conversation = Conversation(settings={"model": "gpt-4o-mini", "template": "standard"})
    conversation.add_user(question)
    recorder = TurnRecorder(conversation, "gpt-4o-mini", "standard", BOOK)
    recorder.apply(TextDelta(answer))
    if usage:
        recorder.apply(UsageReported(usage, "gpt-4o-mini"))
    recorder.apply(Finished("stop"))
    return conversation


@pytest.fixture
def store(tmp_path):
    return Store(tmp_path / "chats.db")


def test_round_trip_keeps_messages_tree_settings_and_usage(store):
    conversation = chat("hello", "hi there", Usage(12, 3))
    conversation.rewind_to(conversation.messages[0].id)
    TurnRecorder(conversation, "gpt-4o", "standard", BOOK).apply(TextDelta("second version"))
    conversation.last_request = {"model": "gpt-4o", "messages": []}
    store.save(conversation)
    loaded = store.load(conversation.id)
    assert loaded.to_dict() == conversation.to_dict()
    assert store.load("missing") is None


def test_wal_mode_and_schema_version(store):
    assert store.schema_version() == SCHEMA_VERSION == len(MIGRATIONS)
    with sqlite3.connect(store.path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_version_1_file_is_upgraded_and_its_messages_become_searchable(tmp_path):
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:
        db.executescript(MIGRATIONS[0])
        db.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        db.execute("INSERT INTO schema_version VALUES (1)")
        db.execute("INSERT INTO conversations VALUES ('c1', '旧对话', '2025-01-01T00:00:00+00:00', '2025-01-01')")
        data = {"role": "user", "content": "上海的天气怎么样", "id": "m1"}
        db.execute(
            "INSERT INTO messages VALUES ('m1', 'c1', NULL, 'user', ?, ?, '2025-01-01T00:00:00+00:00', 0)",
            (data["content"], json.dumps(data)),
        )
        reply = {
            "role": "assistant",
            "content": "晴",
            "id": "m2",
            "parent_id": "m1",
            "usage": {
                "prompt_tokens": 40,
                "completion_tokens": 2,
                "cached_tokens": 0,
                "reasoning_tokens": 0,
                "estimated": False,
            },
            "cost": {"usd": 0.5, "cny": 3.5, "priced": True, "local": False},
        }
        db.execute(
            "INSERT INTO messages VALUES ('m2', 'c1', 'm1', 'assistant', '晴', ?, '2025-01-01T00:00:01+00:00', 1)",
            (json.dumps(reply),),
        )
    store = Store(path)
    assert store.schema_version() == SCHEMA_VERSION
    totals = store.totals()  # usage kept in version 1's JSON is counted by the columns added in version 4
    assert (totals.calls, totals.usage.prompt_tokens, totals.cost.cny, totals.cost.priced) == (1, 40, 3.5, True)
    loaded = store.load("c1")
    assert loaded.title == "旧对话" and [m.content for m in loaded.messages] == ["上海的天气怎么样", "晴"]
    assert loaded.settings == {}
    assert [s.id for s in store.search("天气怎么样")] == ["c1"]


def test_list_is_newest_first_and_rename_and_delete_work(store):
    first, second = chat("first chat", "a"), chat("second chat", "b")
    store.save(first)
    store.save(second)
    assert [s.title for s in store.recent()] == ["second chat", "first chat"]
    store.save(first, [])
    assert [s.title for s in store.recent()] == ["first chat", "second chat"]
    store.rename(first.id, "renamed")
    assert store.load(first.id).title == "renamed"
    store.delete(first.id)
    assert [s.id for s in store.recent()] == [second.id]
    with sqlite3.connect(store.path) as db:
        assert db.execute("SELECT COUNT(*) FROM messages WHERE conversation_id = ?", (first.id,)).fetchone()[0] == 0


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("streaming", ["en"]),
        ("STREAMING tokens", ["en"]),
        ("北京天气", ["zh"]),
        ("天气", ["zh"]),
        ("气", ["zh"]),
        ("100%", ["pct"]),
        ("nothing-like-this", []),
    ],
)
def test_search_finds_chats_by_words_in_any_message(store, query, expected):
    conversations = {
        "en": chat("How does streaming work?", "Tokens arrive as server-sent events."),
        "zh": chat("北京天气怎么样？", "今天北京晴。"),
        "pct": chat("Is 100% sure?", "Yes."),
    }
    for conversation in conversations.values():
        store.save(conversation)
    ids = {c.id: name for name, c in conversations.items()}
    assert [ids[s.id] for s in store.search(query)] == expected


def test_search_snippet_shows_the_match(store):
    store.save(chat("x", "A long answer that finally mentions the keyword trigram somewhere."))
    (hit,) = store.search("trigram")
    assert "trigram" in hit.snippet


def test_totals_survive_restart_and_filter_by_day(store, tmp_path):
    store.save(chat("a", "b", Usage(100, 10)))
    store.save(chat("c", "d", Usage(50, 5)))
    reopened = Store(tmp_path / "chats.db")
    totals = reopened.totals()
    assert (totals.usage.prompt_tokens, totals.usage.completion_tokens, totals.calls) == (150, 15, 2)
    assert totals.cost.usd > 0
    assert reopened.totals(since="9999-01-01").calls == 0


def test_streamed_updates_overwrite_the_same_rows_and_reindex(store):
    conversation = Conversation()
    conversation.add_user("q")
    recorder = TurnRecorder(conversation, "gpt-4o-mini", "standard", BOOK)
    recorder.apply(TextDelta("partial"))
    store.save(conversation)
    recorder.apply(TextDelta(" answer with zebra"))
    recorder.apply(UsageReported(Usage(7, 5), "gpt-4o-mini"))
    assert store.totals().calls == 0
    store.save(conversation, conversation.messages[-1:])
    assert store.totals().usage.completion_tokens == 5
    loaded = store.load(conversation.id)
    assert loaded.messages[-1].content == "partial answer with zebra"
    assert loaded.messages[-1].status == "streaming"
    assert [s.id for s in store.search("zebra")] == [conversation.id]


def test_concurrent_sessions_writing_different_chats_lose_nothing(tmp_path):
    path = tmp_path / "shared.db"
    Store(path)
    errors: list[BaseException] = []
    conversations = [Conversation() for _ in range(4)]

    def writer(conversation: Conversation) -> None:
        try:
            store = Store(path)
            for index in range(25):
                conversation.add_user(f"message {index}")
                store.save(conversation, conversation.messages[-1:])
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(c,)) for c in conversations]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    store = Store(path)
    for conversation in conversations:
        assert len(store.load(conversation.id).messages) == 25
