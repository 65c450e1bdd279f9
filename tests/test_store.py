"""The store on a real SQLite file and on a real PostgreSQL database (tests/postgres.py): round trips, migrations,
search, totals, concurrency, and each owner's own chats. The ``store`` fixture runs a test on both."""

import json
import os
import sqlite3
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import store as store_module
from app_driver import page_text, start
from config import ConfigError
from conversation_manager import Conversation, Message, TurnRecorder
from events import Finished, TextDelta, UsageReported
from exporters import from_json, to_json, to_markdown
from storage_backend import POSTGRESQL, SQLITE, ConversationNotFound, Db, SqliteDb, StorageError
from store import MIGRATIONS, SEARCH_MAX_CHARS, SEARCH_MAX_WORDS, Store, search_words
from token_tracker import PriceBook, Usage

BOOK = PriceBook(7.0)


@pytest.fixture
def store(database_url, open_stores) -> Store:
    """A new store of each kind: a SQLite file, then a PostgreSQL database."""
    return open_stores(database_url)


def execute(store: Store, sql: str, params: tuple = ()) -> list:
    """A statement of the test's own on the store's database (a query's rows as dicts)."""
    with store.transaction() as db:
        cursor = db.execute(sql, params)
        return [dict(row) for row in cursor.fetchall()] if sql.startswith("SELECT") else []


def chat(question: str, answer: str, usage: Usage | None = None) -> Conversation:
    conversation = Conversation(settings={"model": "gpt-4o-mini", "template": "standard"})
    conversation.add_user(question)
    recorder = TurnRecorder(conversation, "gpt-4o-mini", "standard", BOOK)
    recorder.apply(TextDelta(answer))
    if usage:
        recorder.apply(UsageReported(usage, "gpt-4o-mini"))
    recorder.apply(Finished("stop"))
    return conversation


def test_round_trip_keeps_messages_tree_settings_and_usage(store):
    conversation = chat("hello", "hi there", Usage(12, 3))
    conversation.rewind_to(conversation.messages[0].id)
    TurnRecorder(conversation, "gpt-4o", "standard", BOOK).apply(TextDelta("second version"))
    conversation.last_request = {"model": "gpt-4o", "messages": []}
    store.save(conversation)
    loaded = store.load(conversation.id)
    assert loaded.to_dict() == conversation.to_dict()
    assert store.load("missing") is None


NAMES = [function.__name__ for function in MIGRATIONS]


def numbered_file(path: Path, version: int) -> None:
    """A file as the code before named migrations left it: the first ``version`` migrations, one number."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    db.execute("INSERT INTO schema_version VALUES (0)")
    for number, function in enumerate(MIGRATIONS[:version], 1):
        db.execute("BEGIN IMMEDIATE")
        function(SqliteDb(db))
        db.execute("UPDATE schema_version SET version = ?", (number,))
        db.execute("COMMIT")
    db.close()


def tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as db:
        return {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def test_a_new_database_records_each_migration_by_name_with_the_time_it_was_applied(store, open_stores, database_url):
    applied = store.migrations()
    assert list(applied) == NAMES == sorted(NAMES) and len(set(NAMES)) == len(NAMES)
    times = [datetime.fromisoformat(applied[name]) for name in NAMES]
    assert times == sorted(times) and all(time.tzinfo is not None for time in times)
    assert open_stores(database_url).migrations() == applied  # opening again applies nothing


def test_a_fresh_file_is_in_wal_mode_and_has_no_version_number(tmp_path):
    store = Store(tmp_path / "chats.db")
    assert "schema_version" not in tables(store.path)
    with sqlite3.connect(store.path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_url_names_the_database(tmp_path, postgres, open_stores):
    file = tmp_path / "by-url.db"
    assert open_stores(f"sqlite://{file}").dialect == SQLITE and file.exists()
    assert open_stores(str(tmp_path / "plain.db")).path == tmp_path / "plain.db"
    assert open_stores(postgres.new_database()).dialect == POSTGRESQL
    for wrong in ("mysql://u:secret@db/x", "sqlite://"):
        with pytest.raises(ConfigError) as caught:
            Store.open(wrong)
        assert "secret" not in str(caught.value)


DRIVER_LOADED = """
import sys
sys.path.insert(0, sys.argv[1])
from store import Store
Store.open(sys.argv[2]).close()
print(sorted(name for name in sys.modules if name.split(".")[0] in ("psycopg", "psycopg_pool")))
"""


def test_psycopg_is_imported_only_for_a_postgresql_database(tmp_path, postgres):
    root = str(Path(store_module.__file__).parent)
    for url, loaded in ((str(tmp_path / "chats.db"), False), (postgres.new_database(), True)):
        command = [sys.executable, "-c", DRIVER_LOADED, root, url]
        run = subprocess.run(command, capture_output=True, text=True, check=True)
        assert ("psycopg_pool" in run.stdout) == loaded, run.stdout


def test_a_file_of_the_numbered_scheme_keeps_its_data_and_records_its_migrations_as_of_unknown_time(tmp_path):
    path = tmp_path / "numbered.db"
    numbered_file(path, len(MIGRATIONS))
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO conversations (id, title, created_at, updated_at) VALUES ('c1', 'kept', 'x', 'x')")
    store = Store(path)
    assert store.migrations() == dict.fromkeys(NAMES)
    assert "schema_version" not in tables(path)
    assert store.recent()[0].title == "kept"


def m900_notes(db: Db) -> None:
    db.execute("CREATE TABLE notes (text TEXT)")


def m901_broken(db: Db) -> None:
    db.execute("CREATE TABLE half_done (x INTEGER)")
    db.execute("INSERT INTO no_such_table VALUES (1)")


def table_names(store: Store) -> set[str]:
    sql = {
        SQLITE: "SELECT name FROM sqlite_master WHERE type = 'table'",
        POSTGRESQL: "SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public'",
    }[store.dialect]
    return {row["name"] for row in execute(store, sql)}


def test_a_new_migration_of_both_dialects_runs_once_and_one_that_fails_leaves_nothing(
    store, database_url, open_stores, monkeypatch
):
    monkeypatch.setattr(store_module, "MIGRATIONS", [*MIGRATIONS, m900_notes, m901_broken])
    with pytest.raises(sqlite3.Error, match="no_such_table"):
        Store.open(database_url)
    assert "half_done" not in table_names(store) and "notes" in table_names(store)
    monkeypatch.setattr(store_module, "MIGRATIONS", [*MIGRATIONS, m900_notes])
    assert list(open_stores(database_url).migrations()) == [*NAMES, "m900_notes"]


def test_a_new_migration_runs_once_and_one_that_fails_leaves_nothing_behind(tmp_path, monkeypatch):
    path = tmp_path / "chats.db"
    numbered_file(path, 2)
    calls: list[str] = []

    def m900_notes(db: Db) -> None:
        calls.append("m900")
        db.execute("CREATE TABLE notes (text TEXT)")

    monkeypatch.setattr(store_module, "MIGRATIONS", [*MIGRATIONS, m900_notes, m901_broken])
    with pytest.raises(sqlite3.OperationalError, match="no_such_table"):
        Store(path)
    assert "half_done" not in tables(path) and "notes" in tables(path)
    monkeypatch.setattr(store_module, "MIGRATIONS", [*MIGRATIONS, m900_notes])
    applied = Store(path).migrations()
    assert calls == ["m900"] and list(applied) == [*NAMES, "m900_notes"]
    assert [applied[name] is None for name in NAMES] == [True, True] + [False] * (len(NAMES) - 2)


@pytest.mark.parametrize("start", ["new", "numbered", "postgresql"])
def test_threads_opening_one_database_at_once_apply_each_migration_once(tmp_path, monkeypatch, start, request):
    path = request.getfixturevalue("postgres").new_database() if start == "postgresql" else tmp_path / "shared.db"
    if start == "numbered":
        numbered_file(path, 1)

    def m900_count(db: Db) -> None:
        db.execute("CREATE TABLE runs (n INTEGER)")  # a second run would fail here
        db.execute("INSERT INTO runs VALUES (1)")

    monkeypatch.setattr(store_module, "MIGRATIONS", [*MIGRATIONS, m900_count])
    gate = threading.Barrier(6)
    errors: list[BaseException] = []

    def opener() -> None:
        try:
            gate.wait(30)
            Store.open(str(path)).close()
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=opener) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    store = Store.open(str(path))
    try:
        assert list(store.migrations()) == [*NAMES, "m900_count"]
        assert execute(store, "SELECT COUNT(*) AS n FROM runs") == [{"n": 1}]
    finally:
        store.close()


OPENER = """
import sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from store import Store
Path(sys.argv[3]).touch()
while not Path(sys.argv[4]).exists():
    time.sleep(0.01)
Store.open(sys.argv[2]).close()
"""


def test_two_processes_opening_one_new_database_at_once_both_succeed(tmp_path, database_url, open_stores):
    path, go = database_url, tmp_path / "go"
    root = str(Path(store_module.__file__).parent)
    ready = [tmp_path / f"ready{n}" for n in range(2)]
    processes = [
        subprocess.Popen([sys.executable, "-c", OPENER, root, str(path), str(flag), str(go)], stderr=subprocess.PIPE)
        for flag in ready
    ]
    try:
        while not all(flag.exists() for flag in ready) and all(p.poll() is None for p in processes):
            time.sleep(0.01)
        go.touch()  # both imported and waiting: they open the file together
        outcomes = [(p.wait(60), p.stderr.read().decode() if p.stderr else "") for p in processes]
    finally:
        for process in processes:
            process.kill()
    assert [code for code, _ in outcomes] == [0, 0], outcomes
    assert list(open_stores(path).migrations()) == NAMES


def test_a_version_1_file_is_upgraded_and_its_messages_become_searchable(tmp_path):
    path = tmp_path / "old.db"
    numbered_file(path, 1)
    with sqlite3.connect(path) as db:
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
    applied = store.migrations()
    assert applied[NAMES[0]] is None and all(applied[name] for name in NAMES[1:])
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
    assert execute(store, "SELECT id FROM messages WHERE conversation_id = ?", (first.id,)) == []


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


def test_totals_survive_restart_and_filter_by_day(store, database_url, open_stores):
    store.save(chat("a", "b", Usage(100, 10)))
    store.save(chat("c", "d", Usage(50, 5)))
    reopened = open_stores(database_url)
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


def test_concurrent_sessions_writing_different_chats_lose_nothing(database_url, open_stores):
    store = open_stores(database_url)
    errors: list[BaseException] = []
    conversations = [Conversation() for _ in range(4)]
    opened = [open_stores(database_url) for _ in conversations]  # as separate app processes would

    def writer(conversation: Conversation, store: Store) -> None:
        try:
            for index in range(25):
                conversation.add_user(f"message {index}")
                store.save(conversation, conversation.messages[-1:])
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=pair) for pair in zip(conversations, opened, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    for conversation in conversations:
        assert len(store.load(conversation.id).messages) == 25


# --- audit of issue 9: loading survives damaged rows, search takes any text, files are private ---------


def set_parent(store: Store, message_id: str, parent_id: str | None) -> None:
    """Rewrite one stored row's parent, in its column and in its JSON, as a damaged file would hold it."""
    with store.transaction() as db:
        data = db.execute("SELECT data FROM messages WHERE id = ?", (message_id,)).fetchone()["data"]
        changed = json.loads(data) | {"parent_id": parent_id}
        db.execute(
            "UPDATE messages SET parent_id = ?, data = ? WHERE id = ?", (parent_id, json.dumps(changed), message_id)
        )


def long_chat() -> Conversation:
    conversation = chat("first question", "first answer")
    conversation.add_user("second question")
    TurnRecorder(conversation, "gpt-4o-mini", "standard", BOOK).apply(TextDelta("second answer"))
    return conversation


@pytest.mark.parametrize(
    "loop",
    [lambda ids: [(ids[0], ids[3])], lambda ids: [(ids[2], ids[2])], lambda ids: [(ids[1], ids[2]), (ids[0], "gone")]],
    ids=["whole-path-loop", "own-parent", "loop-and-dangling-parent"],
)
def test_audit_a_stored_parent_loop_loads_and_shows_what_it_can(store, loop):
    conversation = long_chat()
    store.save(conversation)
    ids = list(conversation.nodes)
    for message_id, parent_id in loop(ids):
        set_parent(store, message_id, parent_id)
    loaded = store.load(conversation.id)
    assert {m.id for m in loaded.messages} <= set(ids) and loaded.messages
    loaded.select(ids[0])
    assert len(loaded.messages) <= len(ids)
    assert "first" in to_markdown([loaded], "en") or "second" in to_markdown([loaded], "en")
    (again,) = from_json(to_json([loaded]).encode())  # what it now holds is a tree: it exports and imports
    assert len(again.nodes) == len(loaded.nodes)


def test_audit_the_active_path_and_select_stop_at_a_loop_in_memory():
    conversation = long_chat()
    first, _, third, fourth = conversation.nodes.values()
    first.parent_id = fourth.id
    assert [m.id for m in conversation.messages] == [first.id, *[m.id for m in list(conversation.nodes.values())[1:]]]
    conversation.select(third.id)  # down through fourth, first, second and back to third: it stops there
    assert conversation.leaf_id == third.id
    conversation.leaf_id, third.parent_id = fourth.id, "missing"
    assert [m.id for m in conversation.messages] == [third.id, fourth.id]


def test_audit_damaged_stored_rows_are_left_out_and_export_all_still_works(store):
    healthy, damaged = long_chat(), long_chat()
    store.save(healthy)
    store.save(damaged)
    bad = {"tool_calls": "abc", "usage": {"prompt_tokens": "lots"}}
    with store.transaction() as db:
        first, second, third, _ = damaged.nodes
        for message_id, change in ((second, {"tool_calls": "abc"}), (third, {"usage": bad["usage"]})):
            data = db.execute("SELECT data FROM messages WHERE id = ?", (message_id,)).fetchone()["data"]
            db.execute("UPDATE messages SET data = ? WHERE id = ?", (json.dumps(json.loads(data) | change), message_id))
        db.execute("UPDATE messages SET data = '{not json' WHERE id = ?", (first,))
        db.execute(
            "UPDATE conversations SET settings = '{\"temperature\": \"hot\"}', summary = '[' WHERE id = ?",
            (damaged.id,),
        )
    loaded = store.load(damaged.id)
    assert len(loaded.nodes) == 1 and loaded.settings == {} and loaded.summary is None
    assert store.totals().calls == 0  # a damaged summary is left out of the totals too
    everything = [store.load(s.id) for s in store.recent()]
    assert "first question" in to_markdown(everything, "en")
    assert len(from_json(to_json(everything).encode())) == 2


def test_audit_a_chat_stored_with_a_loop_opens_from_its_chat_link(app_env, tmp_path):
    store = Store(tmp_path / "data" / "chats.db")
    conversation = long_chat()
    store.save(conversation)
    ids = list(conversation.nodes)
    set_parent(store, ids[0], ids[3])
    at = start(conversation.id)
    assert not at.exception, at.exception
    assert "second answer" in page_text(at)


def test_audit_add_stores_every_chat_or_none(store):
    existing, fresh = chat("kept", "as is"), chat("new", "chat")
    store.save(existing)
    clash = Conversation(existing.id, "clash")
    clash.add_user("would overwrite")
    with pytest.raises(sqlite3.IntegrityError):
        store.add([fresh, clash])
    assert [s.id for s in store.recent()] == [existing.id]
    assert store.load(existing.id).to_dict() == existing.to_dict()
    store.add([fresh])
    assert store.load(fresh.id).to_dict() == fresh.to_dict()


def test_audit_save_never_takes_over_a_message_of_another_chat(store):
    victim = chat("victim question", "victim answer")
    store.save(victim)
    intruder = Conversation()
    intruder.append(Message("user", "intruder", id=victim.messages[0].id))
    store.save(intruder)
    assert store.load(victim.id).messages[0].content == "victim question"


@pytest.mark.parametrize(
    "query",
    [
        "a\x00b",
        "\x00",
        "streaming\x00",
        " ".join(f"w{i}" for i in range(1200)),
        "streaming " * 2000,
        "x" * 100_000,
        '"unbalanced NEAR( * ^ OR AND NOT',
        "stream\ud800ing",
        "\u200b\u2028\x7f\x1b[31m",
    ],
    ids=[
        "nul",
        "only-nul",
        "nul-after-word",
        "1200-words",
        "2000-repeats",
        "100k-chars",
        "fts-syntax",
        "surrogate",
        "controls",
    ],
)
def test_audit_search_takes_any_text_without_raising(store, query):
    conversation = chat("How does streaming work?", "Tokens arrive as events.")
    store.save(conversation)
    found = store.search(query)
    assert isinstance(found, list)
    if query.startswith("streaming"):
        assert [s.id for s in found] == [conversation.id]


def test_audit_search_words_are_cleaned_and_capped():
    assert search_words("a\x00b\tc\x7f d") == ["a", "b", "c", "d"]
    assert len(search_words(" ".join(f"w{i}" for i in range(1200)))) == SEARCH_MAX_WORDS
    assert sum(map(len, search_words("x" * 100_000))) == SEARCH_MAX_CHARS
    assert search_words("same same Same") == ["same", "Same"]


def test_audit_search_returns_no_results_when_the_database_fails(store):
    store.save(chat("How does streaming work?", "Tokens."))
    broken = {SQLITE: "DROP TABLE messages_fts", POSTGRESQL: "ALTER TABLE messages RENAME TO gone"}
    execute(store, broken[store.dialect])
    assert store.search("streaming") == []


@pytest.fixture(scope="module", params=[SQLITE, POSTGRESQL])
def searchable(request, tmp_path_factory) -> Iterator[Store]:
    """One store of each kind for every example of a property, holding a chat to find."""
    if request.param == SQLITE:
        url = str(tmp_path_factory.mktemp("search") / "chats.db")
    else:
        url = request.getfixturevalue("postgres").new_database()
    store = Store.open(url)
    store.save(chat("北京天气怎么样？ streaming", "今天北京晴。 100% sure"))
    yield store
    store.close()


@settings(max_examples=40, deadline=None)
@given(query=st.text(max_size=300))
def test_audit_search_never_raises_for_any_user_string(searchable, query):
    assert isinstance(searchable.search(query), list)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_audit_a_new_data_folder_is_0700_and_the_database_with_its_wal_files_0600(tmp_path):
    old_umask = os.umask(0)  # the modes must not depend on a lenient umask
    try:
        store = Store(tmp_path / "new" / "deeper" / "chats.db")
        with sqlite3.connect(store.path) as reader:  # keeps -wal and -shm in place while the store writes
            reader.execute("SELECT COUNT(*) FROM conversations").fetchone()
            store.save(chat("private", "yes"))
            companions = [store.path.with_name(store.path.name + suffix) for suffix in ("-wal", "-shm")]
            assert all(path.exists() for path in companions)
            assert [mode(path) for path in companions] == [0o600, 0o600]
    finally:
        os.umask(old_umask)
    assert mode(tmp_path / "new") == mode(tmp_path / "new" / "deeper") == 0o700
    assert mode(store.path) == 0o600


def test_audit_an_existing_database_with_loose_modes_is_tightened_on_open(tmp_path):
    path = tmp_path / "chats.db"
    Store(path).save(chat("q", "a"))
    for suffix in ("", "-wal"):
        companion = tmp_path / f"chats.db{suffix}"
        companion.touch()
        companion.chmod(0o644)
    Store(path)
    assert mode(path) == 0o600
    assert not (tmp_path / "chats.db-wal").exists() or mode(tmp_path / "chats.db-wal") == 0o600


@settings(max_examples=30, deadline=None)
@given(parents=st.lists(st.integers(-1, 5), min_size=6, max_size=6), leaf=st.integers(0, 5))
def test_audit_any_stored_parent_links_load_without_hanging_or_raising(searchable, parents, leaf):
    store = searchable
    conversation = Conversation()
    for index in range(6):
        conversation.add_user(f"message {index}")
    ids = list(conversation.nodes)
    for message, parent in zip(conversation.nodes.values(), parents, strict=True):
        message.parent_id = ids[parent] if parent >= 0 else None
    conversation.leaf_id = ids[leaf]
    store.save(conversation)
    loaded = store.load(conversation.id)
    assert 1 <= len(loaded.messages) <= 6 and len(loaded.nodes) == 6
    loaded.select(ids[0])
    assert to_markdown([loaded], "zh") and from_json(to_json([loaded]).encode())


# --- each owner's own chats (issue 15) --------------------------------------------------------------------


def test_each_owner_sees_only_their_own_chats_search_and_totals(store):
    alice, bob = store.as_user("alice@example.com"), store.as_user("bob@example.com")
    hers = chat("Alice asks about zebras 斑马", "Stripes.", Usage(10, 1))
    his = chat("Bob asks about zebras 斑马", "Also stripes.", Usage(20, 2))
    alice.save(hers)
    bob.save(his)
    store.save(chat("The single user's zebra 斑马", "Kept apart.", Usage(5, 1)))
    assert store.owner == "" and [s.id for s in alice.recent()] == [hers.id]
    assert [s.id for s in bob.recent()] == [his.id]
    for query in ("zebras", "斑马", "斑", "ze"):
        assert [s.id for s in alice.search(query)] == [hers.id], query
        assert [s.id for s in bob.search(query)] == [his.id], query
    assert [s.title for s in store.search("zebra")] == ["The single user's zebra 斑马"]
    assert (alice.totals().calls, alice.totals().usage.prompt_tokens) == (1, 10)
    today, all_time = bob.today_and_all_totals()
    assert (today.calls, today.usage.prompt_tokens, all_time.calls, all_time.usage.prompt_tokens) == (1, 20, 1, 20)
    assert store.totals().usage.prompt_tokens == 5
    assert alice.load(hers.id).to_dict() == hers.to_dict()
    assert alice.load(his.id) is None and bob.load(hers.id) is None and store.load(hers.id) is None


def test_another_owners_chat_is_not_found_and_never_changed(store):
    alice, bob = store.as_user("alice@example.com"), store.as_user("bob@example.com")
    hers = chat("private question", "private answer")
    reply_id = hers.messages[-1].id
    trace = {"request_body": "{}", "status": 200}
    hers.traces[reply_id] = [trace]
    alice.save(hers)
    before = alice.load(hers.id).to_dict()
    bob.rename(hers.id, "renamed by bob")
    bob.delete(hers.id)
    intruder = Conversation(hers.id, "taken over")
    intruder.add_user("bob writes here")
    intruder.traces["bob-reply"] = [trace]
    with pytest.raises(ConversationNotFound):  # a sqlite3.Error: the page says it could not save
        bob.save(intruder)
    with pytest.raises(sqlite3.IntegrityError):  # an import never takes an id over either
        bob.add([intruder])
    assert alice.load(hers.id).to_dict() == before
    assert [s.title for s in alice.recent()] == [before["title"]] and bob.recent() == []
    assert alice.traces(reply_id) == [trace] and bob.traces(reply_id) == [] and alice.traces("bob-reply") == []
    assert execute(store, "SELECT COUNT(*) AS n FROM messages") == [{"n": 2}]


def test_a_message_with_nul_characters_round_trips(store):
    conversation = chat("before\x00after", "fine")
    store.save(conversation)
    assert store.load(conversation.id).messages[0].content == "before\x00after"
    assert [s.id for s in store.search("before")] == [conversation.id]


def test_storage_errors_of_postgresql_are_sqlite3_errors_the_page_already_reports(postgres, open_stores):
    store = open_stores(postgres.new_database())
    execute(store, "DROP TABLE traces")
    with pytest.raises(StorageError) as caught:
        store.traces("anything")
    assert isinstance(caught.value, sqlite3.Error) and "traces" in str(caught.value)


SEARCH_INDEX = {"messages_fts", "passages_fts", "passage_terms"}  # each dialect's own full-text tables


def columns(store: Store) -> dict[str, set[str]]:
    """Each table's columns, but for the search index tables (FTS5's and their shadow tables, or passage_terms)."""
    if store.dialect == SQLITE:
        names = [row["name"] for row in execute(store, "SELECT name FROM sqlite_master WHERE type = 'table'")]
        found = {
            name: {row["name"] for row in execute(store, "SELECT name FROM pragma_table_info(?)", (name,))}
            for name in names
        }
    else:
        found = {}
        sql = "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public'"
        for row in execute(store, sql):
            found.setdefault(row["table_name"], set()).add(row["column_name"])
    found.get("passages", set()).discard("term_count")  # PostgreSQL's BM25 needs each passage's length
    return {name: cols for name, cols in found.items() if not any(name.startswith(index) for index in SEARCH_INDEX)}


def test_both_dialects_make_the_same_tables_and_columns(tmp_path, postgres, open_stores):
    sqlite_tables = columns(open_stores(str(tmp_path / "chats.db")))
    assert sqlite_tables == columns(open_stores(postgres.new_database()))
    assert {"owner"} <= sqlite_tables["conversations"] & sqlite_tables["collections"] & sqlite_tables[
        "bundled_documents"
    ]
