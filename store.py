"""Conversations in a SQLite file: named migrations, WAL, one short connection per operation.

Every write is one transaction; WAL lets browser sessions read while another writes, and a busy
timeout makes concurrent writers wait instead of failing. Chinese and English search use FTS5's
trigram tokenizer; queries shorter than three characters (common Chinese words) fall back to LIKE.
The folder this creates is private to its user (0700), and so is the database with its WAL files (0600).
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import sqlite3
import time
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from conversation_manager import Conversation, Message
from records import readable
from token_tracker import Cost, Totals, Usage

log = logging.getLogger(__name__)

_V1 = """
CREATE TABLE conversations (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE messages (
    id TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    parent_id TEXT,
    role TEXT NOT NULL,
    content TEXT NOT NULL DEFAULT '',
    data TEXT NOT NULL,
    created_at TEXT NOT NULL,
    seq INTEGER NOT NULL
);
CREATE INDEX messages_by_conversation ON messages(conversation_id, seq);
"""

# Per-conversation settings and active branch; full-text search (trigram: matches CJK).
_V2 = """
ALTER TABLE conversations ADD COLUMN settings TEXT NOT NULL DEFAULT '{}';
ALTER TABLE conversations ADD COLUMN leaf_id TEXT;
ALTER TABLE conversations ADD COLUMN last_request TEXT;
CREATE VIRTUAL TABLE messages_fts USING fts5(
    content, message_id UNINDEXED, conversation_id UNINDEXED, tokenize = 'trigram'
);
INSERT INTO messages_fts(content, message_id, conversation_id) SELECT content, id, conversation_id FROM messages;
CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
    INSERT INTO messages_fts(content, message_id, conversation_id) VALUES (new.content, new.id, new.conversation_id);
END;
CREATE TRIGGER messages_fts_update AFTER UPDATE OF content ON messages BEGIN
    DELETE FROM messages_fts WHERE message_id = old.id;
    INSERT INTO messages_fts(content, message_id, conversation_id) VALUES (new.content, new.id, new.conversation_id);
END;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
    DELETE FROM messages_fts WHERE message_id = old.id;
END;
CREATE INDEX conversations_by_update ON conversations(updated_at DESC);
"""

# A summary that stands in for older turns, with the cost of the call that wrote it.
_V3 = """
ALTER TABLE conversations ADD COLUMN summary TEXT;
"""

# Usage and cost as columns, so totals are one SUM instead of parsing every message's JSON.
_V4 = """
ALTER TABLE messages ADD COLUMN prompt_tokens INTEGER;
ALTER TABLE messages ADD COLUMN completion_tokens INTEGER;
ALTER TABLE messages ADD COLUMN cached_tokens INTEGER;
ALTER TABLE messages ADD COLUMN reasoning_tokens INTEGER;
ALTER TABLE messages ADD COLUMN estimated INTEGER;
ALTER TABLE messages ADD COLUMN cost_usd REAL;
ALTER TABLE messages ADD COLUMN cost_cny REAL;
ALTER TABLE messages ADD COLUMN priced INTEGER;
ALTER TABLE messages ADD COLUMN local INTEGER;
UPDATE messages SET
    prompt_tokens = json_extract(data, '$.usage.prompt_tokens'),
    completion_tokens = json_extract(data, '$.usage.completion_tokens'),
    cached_tokens = json_extract(data, '$.usage.cached_tokens'),
    reasoning_tokens = json_extract(data, '$.usage.reasoning_tokens'),
    estimated = json_extract(data, '$.usage.estimated'),
    cost_usd = json_extract(data, '$.cost.usd'),
    cost_cny = json_extract(data, '$.cost.cny'),
    priced = json_extract(data, '$.cost.priced'),
    local = json_extract(data, '$.cost.local')
WHERE json_extract(data, '$.usage') IS NOT NULL AND json_extract(data, '$.cost') IS NOT NULL;
CREATE INDEX messages_priced_by_time ON messages(created_at) WHERE prompt_tokens IS NOT NULL;
"""

# Wire traces, one row per HTTP round, under the reply they belong to (its first message's id); in a table of
# their own, read only when someone opens a reply's trace, and gone with their chat.
_V5 = """
CREATE TABLE traces (
    id INTEGER PRIMARY KEY,
    reply_id TEXT NOT NULL,
    conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    data TEXT NOT NULL
);
CREATE INDEX traces_by_reply ON traces(reply_id, id);
CREATE INDEX traces_by_conversation ON traces(conversation_id);
"""

Migration = Callable[[sqlite3.Connection], None]
# Named migrations, in order (as simonw/llm's migrations.py): each runs once, in one transaction with the
# row in ``_migrations`` that records its name and when it was applied. Never rename or edit one that has
# shipped; add the next with @migration.
MIGRATIONS: list[Migration] = []


def migration(function: Migration) -> Migration:
    MIGRATIONS.append(function)
    return function


def _run_script(db: sqlite3.Connection, script: str) -> None:
    """Each statement of ``script`` inside the open transaction (``executescript`` would commit first)."""
    statement = ""
    for line in script.splitlines(keepends=True):
        statement += line
        if sqlite3.complete_statement(statement):
            db.execute(statement)
            statement = ""


@migration
def m001_conversations_and_messages(db: sqlite3.Connection) -> None:
    _run_script(db, _V1)


@migration
def m002_settings_branches_and_search(db: sqlite3.Connection) -> None:
    _run_script(db, _V2)


@migration
def m003_summary(db: sqlite3.Connection) -> None:
    _run_script(db, _V3)


@migration
def m004_usage_columns(db: sqlite3.Connection) -> None:
    _run_script(db, _V4)


@migration
def m005_traces(db: sqlite3.Connection) -> None:
    _run_script(db, _V5)


# Images attached to user messages (attachments.py): each one's bytes under its message and position; the
# message's JSON keeps the rest (name, type, size, detail). Written once (an image never changes), gone with
# their chat.
_V6 = """
CREATE TABLE attachments (
    message_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    data BLOB NOT NULL,
    PRIMARY KEY (message_id, position)
);
CREATE INDEX attachments_by_conversation ON attachments(conversation_id);
"""


@migration
def m006_attachments(db: sqlite3.Connection) -> None:
    _run_script(db, _V6)


# The knowledge base (document_store.py): collections of documents and their passages, with an FTS5 index of each
# passage's words as knowledge_base.terms makes them (unicode61 does not split Chinese, so its bigrams come
# pre-split), ranked by bm25(). An index row shares its passage's id and goes with it (trigger); passages go with
# their document, documents with their collection (cascades). bundled_documents: each version of a bundled
# sample file is imported once, so one the user deleted stays deleted.
_V7 = """
CREATE TABLE collections (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
);
CREATE TABLE documents (
    id INTEGER PRIMARY KEY,
    collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (collection_id, sha256)
);
CREATE TABLE passages (
    id INTEGER PRIMARY KEY,
    document_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    number INTEGER NOT NULL,
    title TEXT NOT NULL,
    text TEXT NOT NULL,
    UNIQUE (document_id, number)
);
CREATE VIRTUAL TABLE passages_fts USING fts5(terms, tokenize = 'unicode61 remove_diacritics 2');
CREATE TRIGGER passages_fts_delete AFTER DELETE ON passages BEGIN
    DELETE FROM passages_fts WHERE rowid = old.id;
END;
CREATE TABLE bundled_documents (
    name TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    PRIMARY KEY (name, sha256)
);
"""


@migration
def m007_documents(db: sqlite3.Connection) -> None:
    _run_script(db, _V7)


SEARCH_MIN_TRIGRAM = 3
SEARCH_MAX_CHARS = 200  # of a query; longer ones are cut (SQLite refuses very long LIKE patterns)
SEARCH_MAX_WORDS = 10  # each word is one clause; about a thousand overflow SQLite's expression depth
PRIVATE_DIR, PRIVATE_FILE = 0o700, 0o600
DB_COMPANIONS = ("", "-wal", "-shm", "-journal")


@dataclass(frozen=True)
class ConversationSummary:
    id: str
    title: str
    updated_at: str
    snippet: str = ""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


WAL_SWITCH_SECONDS = 10.0


def _use_wal(db: sqlite3.Connection) -> None:
    """Switching a file to WAL needs it to itself, and SQLite does not wait for that (no busy handler):
    when several processes open one file at once, the losers try again for a while."""
    deadline = time.monotonic() + WAL_SWITCH_SECONDS
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


class Store:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        _make_private_dirs(self.path.parent)
        _make_private_db(self.path)
        with self._connect() as db:
            _use_wal(db)
            self._migrate(db)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """One short connection; any SQLite error on it is logged (with the file) and raised on."""
        try:
            db = sqlite3.connect(self.path, timeout=10, isolation_level=None)
            try:
                db.row_factory = sqlite3.Row
                db.execute("PRAGMA foreign_keys=ON")
                db.execute("PRAGMA busy_timeout=10000")
                yield db
            finally:
                db.close()
        except sqlite3.Error as error:
            log.error("storage error on %s: %s", self.path, error)
            raise

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._connect() as db, self._locked(db):
            yield db

    def connection(self) -> AbstractContextManager[sqlite3.Connection]:
        """A short connection for another module's tables in this file (document_store.py)."""
        return self._connect()

    def transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        """One write transaction on a short connection, for another module's tables in this file."""
        return self._transaction()

    def _migrate(self, db: sqlite3.Connection) -> None:
        """Apply each migration not yet recorded. Each takes the write lock (BEGIN IMMEDIATE) and checks again
        inside it, so of several processes opening one file at once exactly one applies it."""
        db.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at TEXT)")
        self._adopt_numbered_versions(db)
        done = {row["name"] for row in db.execute("SELECT name FROM _migrations")}
        for function in MIGRATIONS:
            if function.__name__ in done:
                continue
            with self._locked(db):
                if db.execute("SELECT 1 FROM _migrations WHERE name = ?", (function.__name__,)).fetchone():
                    continue
                function(db)
                db.execute("INSERT INTO _migrations (name, applied_at) VALUES (?, ?)", (function.__name__, _now()))
            log.info("storage: applied migration %s to %s", function.__name__, self.path)

    def _adopt_numbered_versions(self, db: sqlite3.Connection) -> None:
        """A file from before named migrations kept one number (schema_version): record the first that many
        migrations as applied, at an unknown time (NULL), and drop the number."""
        numbered = "SELECT 1 FROM sqlite_master WHERE name = 'schema_version'"
        if not db.execute(numbered).fetchone():
            return
        with self._locked(db):
            if not db.execute(numbered).fetchone():  # another process adopted it meanwhile
                return
            row = db.execute("SELECT version FROM schema_version").fetchone()
            adopted = MIGRATIONS[: row["version"] if row else 0]
            db.executemany(
                "INSERT OR IGNORE INTO _migrations (name, applied_at) VALUES (?, NULL)",
                [(function.__name__,) for function in adopted],
            )
            db.execute("DROP TABLE schema_version")

    @contextmanager
    def _locked(self, db: sqlite3.Connection) -> Iterator[None]:
        """One transaction that holds the write lock from its start; rolled back on any error."""
        db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def migrations(self) -> dict[str, str | None]:
        """Each applied migration's name and when it was applied (None: before names were recorded)."""
        with self._connect() as db:
            rows = db.execute("SELECT name, applied_at FROM _migrations ORDER BY name").fetchall()
        return {row["name"]: row["applied_at"] for row in rows}

    # --- writing -------------------------------------------------------------------------------

    def save(self, conversation: Conversation, messages: Iterable[Message] | None = None) -> None:
        """Upsert the conversation and the given messages (all of them when None), in one transaction.

        A message id that belongs to another conversation is left alone there, never taken over. The wire
        traces the conversation holds are written too and then let go (``traces`` reads them back).
        """
        to_write = list(conversation.nodes.values()) if messages is None else list(messages)
        traces = [
            (reply_id, conversation.id, json.dumps(trace, ensure_ascii=False))
            for reply_id, rounds in conversation.traces.items()
            for trace in rounds
        ]
        with self._transaction() as db:
            db.execute(_UPSERT_CONVERSATION, _conversation_row(conversation))
            db.executemany(_UPSERT_MESSAGE, _message_rows(conversation, to_write))
            db.executemany(_INSERT_ATTACHMENT, _attachment_rows(conversation, to_write))
            db.executemany("INSERT INTO traces (reply_id, conversation_id, data) VALUES (?, ?, ?)", traces)
        conversation.traces.clear()

    def add(self, conversations: Sequence[Conversation]) -> None:
        """Store new conversations (an import) in one transaction: all of them or, on any error, none.

        Plain inserts: an id already stored raises ``sqlite3.IntegrityError`` instead of overwriting.
        """
        with self._transaction() as db:
            for conversation in conversations:
                db.execute(_INSERT_CONVERSATION, _conversation_row(conversation))
                db.executemany(_INSERT_MESSAGE, _message_rows(conversation, conversation.nodes.values()))
                db.executemany(_INSERT_ATTACHMENT, _attachment_rows(conversation, conversation.nodes.values()))

    def rename(self, conversation_id: str, title: str) -> None:
        with self._transaction() as db:
            db.execute("UPDATE conversations SET title = ? WHERE id = ?", (title, conversation_id))

    def delete(self, conversation_id: str) -> None:
        with self._transaction() as db:
            db.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))

    # --- reading -------------------------------------------------------------------------------

    def load(self, conversation_id: str) -> Conversation | None:
        """The conversation as far as its rows read (see ``records.readable``); never raises for their content."""
        with self._connect() as db:
            row = db.execute("SELECT * FROM conversations WHERE id = ?", (conversation_id,)).fetchone()
            if row is None:
                return None
            rows = db.execute(
                "SELECT id, data FROM messages WHERE conversation_id = ? ORDER BY seq", (conversation_id,)
            ).fetchall()
            blobs = db.execute(
                "SELECT message_id, position, data FROM attachments WHERE conversation_id = ?", (conversation_id,)
            ).fetchall()
        images = {(blob["message_id"], blob["position"]): blob["data"] for blob in blobs}
        return readable(
            {
                "id": row["id"],
                "title": row["title"],
                "created_at": row["created_at"],
                "settings": _json(row["settings"]),
                "leaf_id": row["leaf_id"],
                "last_request": _json(row["last_request"]),
                "summary": _json(row["summary"]),
                "messages": [_with_images(_json(r["data"]), r["id"], images) for r in rows],
            }
        )

    def traces(self, reply_id: str) -> list[dict[str, Any]]:
        """The wire traces of one reply (wire_trace.RoundTrace as dicts), in the order its requests went."""
        with self._connect() as db:
            rows = db.execute("SELECT data FROM traces WHERE reply_id = ? ORDER BY id", (reply_id,)).fetchall()
        return [trace for row in rows if isinstance(trace := _json(row["data"]), dict)]

    def recent(self, limit: int = 200) -> list[ConversationSummary]:
        with self._connect() as db:
            rows = db.execute(
                "SELECT id, title, updated_at FROM conversations ORDER BY updated_at DESC LIMIT ?", (limit,)
            ).fetchall()
        return [ConversationSummary(r["id"], r["title"], r["updated_at"]) for r in rows]

    def search(self, query: str, limit: int = 50) -> list[ConversationSummary]:
        """Conversations whose messages contain every word of ``query`` (any language), newest first.

        Never raises for what a user types: control characters go, the query is capped, words are quoted for
        FTS5, and a database error means no results (logged).
        """
        words = search_words(query)
        if not words:
            return []
        try:
            return self._search(words, limit)
        except sqlite3.Error:  # logged as a storage error
            return []

    def _search(self, words: list[str], limit: int) -> list[ConversationSummary]:
        clauses, params = [], []
        for word in words:
            if len(word) >= SEARCH_MIN_TRIGRAM:
                clauses.append("c.id IN (SELECT conversation_id FROM messages_fts WHERE messages_fts MATCH ?)")
                params.append('"' + word.replace('"', '""') + '"')
            else:
                clauses.append("c.id IN (SELECT conversation_id FROM messages WHERE content LIKE ? ESCAPE '\\')")
                params.append(_like(word))
        sql = f"SELECT c.id, c.title, c.updated_at FROM conversations c WHERE {' AND '.join(clauses)} "  # noqa: S608
        sql += "ORDER BY c.updated_at DESC LIMIT ?"
        with self._connect() as db:
            rows = db.execute(sql, (*params, limit)).fetchall()
            found = []
            for row in rows:
                hit = db.execute(
                    "SELECT content FROM messages WHERE conversation_id = ? AND content LIKE ? ESCAPE '\\' LIMIT 1",
                    (row["id"], _like(words[0])),
                ).fetchone()
                snippet = _snippet(hit["content"], words[0]) if hit else ""
                found.append(ConversationSummary(row["id"], row["title"], row["updated_at"], snippet))
        return found

    def today_totals(self) -> Totals:
        """Since local midnight (the server's time zone)."""
        midnight = datetime.now().astimezone().replace(hour=0, minute=0, second=0, microsecond=0)
        return self.totals(since=midnight.astimezone(UTC).isoformat(timespec="seconds"))

    def totals(self, since: str | None = None) -> Totals:
        """Usage and cost over every stored reply (optionally since an ISO timestamp)."""
        with self._connect() as db:
            row = db.execute(
                """
                SELECT COUNT(*) AS calls, SUM(prompt_tokens) AS prompt, SUM(completion_tokens) AS completion,
                    SUM(cached_tokens) AS cached, SUM(reasoning_tokens) AS reasoning, MAX(estimated) AS estimated,
                    SUM(cost_usd) AS usd, SUM(cost_cny) AS cny, MIN(priced) AS priced, MIN(local) AS local
                FROM messages WHERE prompt_tokens IS NOT NULL AND created_at >= ?
                """,
                (since or "",),
            ).fetchone()
            summaries = db.execute(
                """
                SELECT json_extract(summary, '$.usage') AS usage, json_extract(summary, '$.cost') AS cost
                FROM conversations WHERE json_extract(summary, '$.cost') IS NOT NULL
                    AND json_extract(summary, '$.created_at') >= ?
                """,
                (since or "",),
            ).fetchall()
        entries = [(Usage(**json.loads(r["usage"])), Cost(**json.loads(r["cost"]))) for r in summaries]
        if row["calls"]:
            usage = Usage(row["prompt"], row["completion"], row["cached"], row["reasoning"], bool(row["estimated"]))
            cost = Cost(row["usd"], row["cny"], bool(row["priced"]), bool(row["local"]))
            totals = Totals.of([(usage, cost), *entries])
            return Totals(totals.usage, totals.cost, row["calls"] + len(entries))
        return Totals.of(entries)


_INSERT_CONVERSATION = """
    INSERT INTO conversations (id, title, created_at, updated_at, settings, leaf_id, last_request, summary)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
"""
_UPSERT_CONVERSATION = (
    _INSERT_CONVERSATION
    + """
    ON CONFLICT(id) DO UPDATE SET title = excluded.title, updated_at = excluded.updated_at,
        settings = excluded.settings, leaf_id = excluded.leaf_id, last_request = excluded.last_request,
        summary = excluded.summary
"""
)
_INSERT_MESSAGE = """
    INSERT INTO messages (id, conversation_id, parent_id, role, content, data, created_at, seq,
        prompt_tokens, completion_tokens, cached_tokens, reasoning_tokens, estimated,
        cost_usd, cost_cny, priced, local)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""
_UPSERT_MESSAGE = (
    _INSERT_MESSAGE
    + """
    ON CONFLICT(id) DO UPDATE SET content = excluded.content, data = excluded.data,
        parent_id = excluded.parent_id, prompt_tokens = excluded.prompt_tokens,
        completion_tokens = excluded.completion_tokens, cached_tokens = excluded.cached_tokens,
        reasoning_tokens = excluded.reasoning_tokens, estimated = excluded.estimated,
        cost_usd = excluded.cost_usd, cost_cny = excluded.cost_cny, priced = excluded.priced,
        local = excluded.local
    WHERE messages.conversation_id = excluded.conversation_id
"""
)


def _conversation_row(conversation: Conversation) -> tuple[object, ...]:
    return (
        conversation.id,
        conversation.title,
        conversation.created_at,
        _now(),
        json.dumps(conversation.settings, ensure_ascii=False),
        conversation.leaf_id,
        json.dumps(conversation.last_request, ensure_ascii=False) if conversation.last_request else None,
        json.dumps(conversation.summary.to_dict(), ensure_ascii=False) if conversation.summary else None,
    )


def _message_rows(conversation: Conversation, messages: Iterable[Message]) -> list[tuple[object, ...]]:
    order = {message_id: index for index, message_id in enumerate(conversation.nodes)}
    return [
        (
            m.id,
            conversation.id,
            m.parent_id,
            m.role,
            m.content,
            json.dumps(_without_image_bytes(m), ensure_ascii=False),
            m.created_at,
            order.get(m.id, len(order)),
            *_usage_columns(m),
        )
        for m in messages
    ]


# An image is written once, and only under a message of this conversation (as a message upsert never takes over
# another conversation's message).
_INSERT_ATTACHMENT = """
    INSERT INTO attachments (message_id, position, conversation_id, data)
    SELECT :message_id, :position, :conversation_id, :data
    WHERE EXISTS (SELECT 1 FROM messages WHERE id = :message_id AND conversation_id = :conversation_id)
    ON CONFLICT DO NOTHING
"""


def _attachment_rows(conversation: Conversation, messages: Iterable[Message]) -> list[dict[str, object]]:
    return [
        {"message_id": m.id, "position": position, "conversation_id": conversation.id, "data": image.raw()}
        for m in messages
        for position, image in enumerate(m.attachments)
    ]


def _without_image_bytes(message: Message) -> dict[str, Any]:
    """The message as its row's JSON keeps it: its images named and sized, their bytes in the attachments table."""
    data = message.to_dict()
    data["attachments"] = [{k: v for k, v in image.items() if k != "data"} for image in data["attachments"]]
    return data


def _with_images(message: Any, message_id: str, images: dict[tuple[str, int], bytes]) -> Any:
    """A stored message's JSON with its images' bytes back in (base64, as an export holds them)."""
    stored = message.get("attachments") if isinstance(message, dict) else None
    for position, image in enumerate(stored if isinstance(stored, list) else []):
        data = images.get((message_id, position))
        if isinstance(image, dict) and data is not None:
            image["data"] = base64.b64encode(data).decode("ascii")
    return message


def _usage_columns(message: Message) -> tuple[object, ...]:
    """The message's usage and cost as column values; all NULL when it has none (it is not counted)."""
    usage, cost = message.usage, message.cost
    if usage is None or cost is None:
        return (None,) * 9
    return (
        usage.prompt_tokens,
        usage.completion_tokens,
        usage.cached_tokens,
        usage.reasoning_tokens,
        int(usage.estimated),
        cost.usd,
        cost.cny,
        int(cost.priced),
        int(cost.local),
    )


def _like(word: str) -> str:
    escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _snippet(text: str, word: str, width: int = 60) -> str:
    start = max(text.lower().find(word.lower()) - width // 3, 0)
    return ("…" if start else "") + text[start : start + width].replace("\n", " ")


def search_words(query: str) -> list[str]:
    """The words of a query as searched: control characters and lone surrogates become spaces, the query is
    cut to SEARCH_MAX_CHARS, repeated words go, at most SEARCH_MAX_WORDS remain."""
    cleaned = "".join(" " if unicodedata.category(ch) in ("Cc", "Cs") else ch for ch in query[:SEARCH_MAX_CHARS])
    return list(dict.fromkeys(cleaned.split()))[:SEARCH_MAX_WORDS]


def _json(text: str | None) -> Any:
    """A JSON column's value; None when it is empty or damaged (the reader then leaves that part out)."""
    if not text:
        return None
    try:
        return json.loads(text)
    except (ValueError, TypeError, RecursionError):
        log.warning("a stored JSON value is damaged and left out")
        return None


def _make_private_dirs(folder: Path) -> None:
    """Create the folder and any missing parent as 0700; a folder that already exists is left as it is
    (DATA_DIR may name a shared one), the files kept in it are private anyway."""
    for path in reversed([folder, *folder.parents]):
        if not path.exists():
            path.mkdir(mode=PRIVATE_DIR, exist_ok=True)
            path.chmod(PRIVATE_DIR)  # mkdir's mode is cut by the umask


def _make_private_db(path: Path) -> None:
    """Create the database file as 0600 before SQLite opens it, and tighten an existing one and its WAL files.

    SQLite gives the -wal and -shm files it creates the database file's mode. A file owned by another
    user cannot be changed here; it stays as it is.
    """
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, PRIVATE_FILE))
    for suffix in DB_COMPANIONS:
        companion = Path(f"{path}{suffix}")
        # another process may remove its journal in between: gone is private enough
        with contextlib.suppress(PermissionError, FileNotFoundError):
            if companion.stat().st_mode & 0o077:
                companion.chmod(PRIVATE_FILE)
