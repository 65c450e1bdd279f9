"""Conversations in a SQLite file (the default) or a PostgreSQL database: named migrations, short connections.

Every write is one transaction. SQLite: WAL lets browser sessions read while another writes, and a busy
timeout makes concurrent writers wait instead of failing; the folder this creates is private to its user (0700),
and so is the database with its WAL files (0600) (storage_backend.py). PostgreSQL: a connection pool per process.
Chinese and English search: FTS5's trigram tokenizer in SQLite (queries shorter than three characters, common
Chinese words, fall back to LIKE), ILIKE on a pg_trgm index in PostgreSQL.

Each row belongs to an owner (a signed-in user; "" is the single-user app's): ``Store.as_user`` gives a view that
reads and writes only that owner's chats, and another owner's chat id is simply not found there.
"""

from __future__ import annotations

import base64
import copy
import json
import logging
import math
import secrets
import sqlite3
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from conversation_manager import Conversation, Message, SideCall
from events import CallRecord, utc_iso
from records import readable
from storage_backend import POSTGRESQL, SQLITE, Backend, ConversationNotFound, Db, Dialect, SqliteBackend, backend_for
from token_tracker import Cost, Totals, Usage

log = logging.getLogger(__name__)

# Each migration's SQLite text (_V1…) is what shipped; its PostgreSQL text (_PG1…) makes the same tables there, with
# PostgreSQL's types (BIGSERIAL ids, BYTEA, DOUBLE PRECISION), COLLATE "C" on the text compared or sorted as SQLite
# does (timestamps, names), and pg_trgm (search) and a term table (the knowledge base's BM25) where SQLite has FTS5.
# A PostgreSQL database always starts at m001 with this code, so no migration there has older rows to convert.

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


_PG1 = """
CREATE TABLE conversations (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL DEFAULT '',
    created_at TEXT COLLATE "C" NOT NULL,
    updated_at TEXT COLLATE "C" NOT NULL
);
CREATE TABLE messages (
    id TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    parent_id TEXT,
    role TEXT NOT NULL,
    content TEXT NOT NULL DEFAULT '',
    data TEXT NOT NULL,
    created_at TEXT COLLATE "C" NOT NULL,
    seq INTEGER NOT NULL
);
CREATE INDEX messages_by_conversation ON messages(conversation_id, seq);
"""

# Search: ILIKE '%word%' on a trigram index matches substrings in any language, as FTS5's trigram tokenizer does.
_PG2 = """
ALTER TABLE conversations ADD COLUMN settings TEXT NOT NULL DEFAULT '{}';
ALTER TABLE conversations ADD COLUMN leaf_id TEXT;
ALTER TABLE conversations ADD COLUMN last_request TEXT;
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX messages_content_trigrams ON messages USING gin (content gin_trgm_ops);
CREATE INDEX conversations_by_update ON conversations(updated_at DESC);
"""

_PG3 = _V3

_PG4 = """
ALTER TABLE messages ADD COLUMN prompt_tokens INTEGER;
ALTER TABLE messages ADD COLUMN completion_tokens INTEGER;
ALTER TABLE messages ADD COLUMN cached_tokens INTEGER;
ALTER TABLE messages ADD COLUMN reasoning_tokens INTEGER;
ALTER TABLE messages ADD COLUMN estimated INTEGER;
ALTER TABLE messages ADD COLUMN cost_usd DOUBLE PRECISION;
ALTER TABLE messages ADD COLUMN cost_cny DOUBLE PRECISION;
ALTER TABLE messages ADD COLUMN priced INTEGER;
ALTER TABLE messages ADD COLUMN local INTEGER;
CREATE INDEX messages_priced_by_time ON messages(created_at) WHERE prompt_tokens IS NOT NULL;
"""

_PG5 = """
CREATE TABLE traces (
    id BIGSERIAL PRIMARY KEY,
    reply_id TEXT NOT NULL,
    conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    data TEXT NOT NULL
);
CREATE INDEX traces_by_reply ON traces(reply_id, id);
CREATE INDEX traces_by_conversation ON traces(conversation_id);
"""

_PG6 = """
CREATE TABLE attachments (
    message_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    data BYTEA NOT NULL,
    PRIMARY KEY (message_id, position)
);
CREATE INDEX attachments_by_conversation ON attachments(conversation_id);
"""

# The knowledge base's index: each passage's terms (knowledge_base.terms) with how often each occurs, and the
# passage's number of terms, which is what BM25 needs (document_store.py ranks with it as FTS5's bm25() does).
_PG7 = """
CREATE TABLE collections (
    id BIGSERIAL PRIMARY KEY,
    name TEXT COLLATE "C" NOT NULL UNIQUE,
    created_at TEXT COLLATE "C" NOT NULL
);
CREATE TABLE documents (
    id BIGSERIAL PRIMARY KEY,
    collection_id BIGINT NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    created_at TEXT COLLATE "C" NOT NULL,
    UNIQUE (collection_id, sha256)
);
CREATE TABLE passages (
    id BIGSERIAL PRIMARY KEY,
    document_id BIGINT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    number INTEGER NOT NULL,
    title TEXT NOT NULL,
    text TEXT NOT NULL,
    term_count INTEGER NOT NULL DEFAULT 0,
    UNIQUE (document_id, number)
);
CREATE TABLE passage_terms (
    passage_id BIGINT NOT NULL REFERENCES passages(id) ON DELETE CASCADE,
    term TEXT COLLATE "C" NOT NULL,
    tf INTEGER NOT NULL,
    PRIMARY KEY (passage_id, term)
);
CREATE INDEX passage_terms_by_term ON passage_terms(term);
CREATE TABLE bundled_documents (
    name TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    PRIMARY KEY (name, sha256)
);
"""

Migration = Callable[[Db], None]
# Named migrations, in order (as simonw/llm's migrations.py): each runs once, in one transaction with the
# row in ``_migrations`` that records its name and when it was applied. Never rename or edit one that has
# shipped; add the next with @migration, its SQL for both dialects (``db.script(sqlite=…, postgresql=…)``).
MIGRATIONS: list[Migration] = []


def migration(function: Migration) -> Migration:
    MIGRATIONS.append(function)
    return function


@migration
def m001_conversations_and_messages(db: Db) -> None:
    db.script(sqlite=_V1, postgresql=_PG1)


@migration
def m002_settings_branches_and_search(db: Db) -> None:
    db.script(sqlite=_V2, postgresql=_PG2)


@migration
def m003_summary(db: Db) -> None:
    db.script(sqlite=_V3, postgresql=_PG3)


@migration
def m004_usage_columns(db: Db) -> None:
    db.script(sqlite=_V4, postgresql=_PG4)


@migration
def m005_traces(db: Db) -> None:
    db.script(sqlite=_V5, postgresql=_PG5)


@migration
def m006_attachments(db: Db) -> None:
    db.script(sqlite=_V6, postgresql=_PG6)


@migration
def m007_documents(db: Db) -> None:
    db.script(sqlite=_V7, postgresql=_PG7)


# Owners: every chat and knowledge collection belongs to one ("" is the single-user app's, and so is everything
# stored before). Messages, images, traces, documents and passages belong to their chat's or collection's owner.
# A collection's name and a bundled sample file are unique per owner: SQLite changes a table's constraints by
# copying it (foreign keys are off while migrations run, so dropping the old one takes nothing along).
_V8 = """
ALTER TABLE conversations ADD COLUMN owner TEXT NOT NULL DEFAULT '';
CREATE INDEX conversations_by_owner ON conversations(owner, updated_at DESC);
CREATE TABLE collections_by_owner (
    id INTEGER PRIMARY KEY,
    owner TEXT NOT NULL DEFAULT '',
    name TEXT NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (owner, name)
);
INSERT INTO collections_by_owner (id, name, created_at) SELECT id, name, created_at FROM collections;
DROP TABLE collections;
ALTER TABLE collections_by_owner RENAME TO collections;
CREATE TABLE bundled_by_owner (
    owner TEXT NOT NULL DEFAULT '',
    name TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    PRIMARY KEY (owner, name, sha256)
);
INSERT INTO bundled_by_owner (name, sha256) SELECT name, sha256 FROM bundled_documents;
DROP TABLE bundled_documents;
ALTER TABLE bundled_by_owner RENAME TO bundled_documents;
"""
_PG8 = """
ALTER TABLE conversations ADD COLUMN owner TEXT NOT NULL DEFAULT '';
CREATE INDEX conversations_by_owner ON conversations(owner, updated_at DESC);
ALTER TABLE collections ADD COLUMN owner TEXT NOT NULL DEFAULT '';
ALTER TABLE collections DROP CONSTRAINT collections_name_key;
ALTER TABLE collections ADD CONSTRAINT collections_owner_name_key UNIQUE (owner, name);
ALTER TABLE bundled_documents ADD COLUMN owner TEXT NOT NULL DEFAULT '';
ALTER TABLE bundled_documents DROP CONSTRAINT bundled_documents_pkey;
ALTER TABLE bundled_documents ADD PRIMARY KEY (owner, name, sha256);
"""


@migration
def m008_owners(db: Db) -> None:
    db.script(sqlite=_V8, postgresql=_PG8)


# A team's things (AUTH=oidc or header): who signed in (first and last seen), each person's daily budget set by an
# admin (in BUDGET_CURRENCY; 0 is no limit), and read-only share links: a random token naming a snapshot of a chat's
# visible messages (JSON) taken when it was published, readable until its owner revokes it, gone with its chat.
_V9 = """
CREATE TABLE users (
    email TEXT PRIMARY KEY,
    name TEXT NOT NULL DEFAULT '',
    first_seen TEXT NOT NULL,
    last_seen TEXT NOT NULL
);
CREATE TABLE budgets (
    owner TEXT PRIMARY KEY,
    per_day REAL NOT NULL,
    set_by TEXT NOT NULL,
    set_at TEXT NOT NULL
);
CREATE TABLE shares (
    token TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    title TEXT NOT NULL DEFAULT '',
    snapshot TEXT NOT NULL,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
CREATE INDEX shares_by_owner ON shares(owner, created_at);
CREATE INDEX shares_by_conversation ON shares(conversation_id);
"""
_PG9 = """
CREATE TABLE users (
    email TEXT COLLATE "C" PRIMARY KEY,
    name TEXT NOT NULL DEFAULT '',
    first_seen TEXT COLLATE "C" NOT NULL,
    last_seen TEXT COLLATE "C" NOT NULL
);
CREATE TABLE budgets (
    owner TEXT COLLATE "C" PRIMARY KEY,
    per_day DOUBLE PRECISION NOT NULL,
    set_by TEXT NOT NULL,
    set_at TEXT COLLATE "C" NOT NULL
);
CREATE TABLE shares (
    token TEXT COLLATE "C" PRIMARY KEY,
    owner TEXT COLLATE "C" NOT NULL,
    conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    title TEXT NOT NULL DEFAULT '',
    snapshot TEXT NOT NULL,
    created_at TEXT COLLATE "C" NOT NULL,
    revoked_at TEXT
);
CREATE INDEX shares_by_owner ON shares(owner, created_at);
CREATE INDEX shares_by_conversation ON shares(conversation_id);
"""


@migration
def m009_team(db: Db) -> None:
    db.script(sqlite=_V9, postgresql=_PG9)


# The client-side rate limit's bookings (rate_windows.py), shared by every app process on the database: per bucket
# (a provider), when each request may go (seconds since the epoch) and its tokens; rows leave once out of the window.
_V10 = """
CREATE TABLE rate_windows (
    bucket TEXT NOT NULL,
    start_at REAL NOT NULL,
    tokens INTEGER NOT NULL
);
CREATE INDEX rate_windows_by_bucket ON rate_windows(bucket, start_at);
"""
_PG10 = """
CREATE TABLE rate_windows (
    bucket TEXT COLLATE "C" NOT NULL,
    start_at DOUBLE PRECISION NOT NULL,
    tokens INTEGER NOT NULL
);
CREATE INDEX rate_windows_by_bucket ON rate_windows(bucket, start_at);
"""


@migration
def m010_rate_windows(db: Db) -> None:
    db.script(sqlite=_V10, postgresql=_PG10)


# Chats the user organises: pinned to the top of the list, archived (left out of the list, still found by search),
# in one folder ('' is none) and under any tags (a row each, gone with their chat). The list's order has an index.
_V11 = """
ALTER TABLE conversations ADD COLUMN pinned INTEGER NOT NULL DEFAULT 0;
ALTER TABLE conversations ADD COLUMN archived INTEGER NOT NULL DEFAULT 0;
ALTER TABLE conversations ADD COLUMN folder TEXT NOT NULL DEFAULT '';
CREATE INDEX conversations_listed ON conversations(owner, archived, pinned DESC, updated_at DESC);
CREATE TABLE conversation_tags (
    conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    tag TEXT NOT NULL,
    PRIMARY KEY (conversation_id, tag)
);
CREATE INDEX conversation_tags_by_tag ON conversation_tags(tag);
"""
_PG11 = """
ALTER TABLE conversations ADD COLUMN pinned INTEGER NOT NULL DEFAULT 0;
ALTER TABLE conversations ADD COLUMN archived INTEGER NOT NULL DEFAULT 0;
ALTER TABLE conversations ADD COLUMN folder TEXT COLLATE "C" NOT NULL DEFAULT '';
CREATE INDEX conversations_listed ON conversations(owner, archived, pinned DESC, updated_at DESC);
CREATE TABLE conversation_tags (
    conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    tag TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (conversation_id, tag)
);
CREATE INDEX conversation_tags_by_tag ON conversation_tags(tag);
"""


@migration
def m011_organize(db: Db) -> None:
    db.script(sqlite=_V11, postgresql=_PG11)


# Calls made for a chat beside its replies (conversation_manager.SideCall: a generated title), a row each with its
# model, usage and cost as the columns messages have (m004), so the totals sum them with the replies in SQL on the
# day each was made; written once (resaving changes nothing), gone with their chat. The key's index finds a chat's.
_V12 = """
CREATE TABLE side_calls (
    conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    id TEXT NOT NULL,
    kind TEXT NOT NULL,
    model TEXT NOT NULL,
    created_at TEXT NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    cached_tokens INTEGER NOT NULL,
    reasoning_tokens INTEGER NOT NULL,
    estimated INTEGER NOT NULL,
    cost_usd REAL NOT NULL,
    cost_cny REAL NOT NULL,
    priced INTEGER NOT NULL,
    local INTEGER NOT NULL,
    PRIMARY KEY (conversation_id, id)
);
"""
_PG12 = """
CREATE TABLE side_calls (
    conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    id TEXT NOT NULL,
    kind TEXT NOT NULL,
    model TEXT NOT NULL,
    created_at TEXT COLLATE "C" NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    cached_tokens INTEGER NOT NULL,
    reasoning_tokens INTEGER NOT NULL,
    estimated INTEGER NOT NULL,
    cost_usd DOUBLE PRECISION NOT NULL,
    cost_cny DOUBLE PRECISION NOT NULL,
    priced INTEGER NOT NULL,
    local INTEGER NOT NULL,
    PRIMARY KEY (conversation_id, id)
);
"""


@migration
def m012_side_calls(db: Db) -> None:
    db.script(sqlite=_V12, postgresql=_PG12)


# The usage log: every API call the app made (events.CallRecord: each HTTP attempt of a reply, and the calls beside
# replies), a row each with its owner and chat, where it went (display_url), its usage and cost as m004's columns,
# TTFT and total time (ms; NULL: not timed) and outcome. Kept when the chat is deleted (what was spent stays spent);
# read by owner and time, or owner and chat. A database from before it gets a row per reply already stored (kind
# 'chat', provider unknown) and per side call (m012: a title), at the time each was stored in events.utc_iso's format.
_API_CALLS = """
CREATE TABLE api_calls (
    id TEXT PRIMARY KEY,
    owner TEXT {c} NOT NULL,
    conversation_id TEXT {c} NOT NULL,
    at TEXT {c} NOT NULL,
    kind TEXT NOT NULL,
    provider TEXT NOT NULL,
    model TEXT {c} NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    cached_tokens INTEGER NOT NULL,
    reasoning_tokens INTEGER NOT NULL,
    estimated INTEGER NOT NULL,
    first_token_ms INTEGER,
    total_ms INTEGER,
    cost_usd {real} NOT NULL,
    cost_cny {real} NOT NULL,
    priced INTEGER NOT NULL,
    local INTEGER NOT NULL,
    outcome TEXT NOT NULL
);
CREATE INDEX api_calls_by_owner_time ON api_calls(owner, at);
CREATE INDEX api_calls_by_owner_chat ON api_calls(owner, conversation_id, at);
"""
# m013's rows for what was stored before it: the replies (their message's JSON has the model, TTFT and status) and the
# side calls. Per dialect: how a stored time becomes utc_iso's format, and a field of the message's JSON.
_BACKFILL = """
INSERT INTO api_calls
SELECT m.id, c.owner, c.id, {at_m}, 'chat', '', COALESCE({model}, ''),
    m.prompt_tokens, m.completion_tokens, m.cached_tokens, m.reasoning_tokens, m.estimated,
    CAST({ttft} AS INTEGER), NULL, m.cost_usd, m.cost_cny, m.priced, m.local,
    CASE WHEN COALESCE({status}, 'done') = 'done' THEN 'ok' ELSE COALESCE({error}, {status}) END
FROM messages m JOIN conversations c ON c.id = m.conversation_id
WHERE m.prompt_tokens IS NOT NULL
ON CONFLICT DO NOTHING;
INSERT INTO api_calls
SELECT s.id, c.owner, c.id, {at_s}, s.kind, '', s.model,
    s.prompt_tokens, s.completion_tokens, s.cached_tokens, s.reasoning_tokens, s.estimated,
    NULL, NULL, s.cost_usd, s.cost_cny, s.priced, s.local, 'ok'
FROM side_calls s JOIN conversations c ON c.id = s.conversation_id
WHERE s.id IS NOT NULL
ON CONFLICT DO NOTHING;
"""
_SQLITE_UTC = "strftime('%Y-%m-%dT%H:%M:%f000+00:00', {}.created_at)"
_PG_UTC = """to_char({}.created_at::timestamptz AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"')"""
_V13 = _API_CALLS.format(c="", real="REAL") + _BACKFILL.format(
    at_m=_SQLITE_UTC.format("m"),
    at_s=_SQLITE_UTC.format("s"),
    model="json_extract(m.data, '$.model')",
    ttft="json_extract(m.data, '$.first_token_ms')",
    status="json_extract(m.data, '$.status')",
    error="json_extract(m.data, '$.error.kind')",
)
_PG13 = _API_CALLS.format(c='COLLATE "C"', real="DOUBLE PRECISION") + _BACKFILL.format(
    at_m=_PG_UTC.format("m"),
    at_s=_PG_UTC.format("s"),
    model="m.data::jsonb->>'model'",
    ttft="m.data::jsonb->>'first_token_ms'",
    status="m.data::jsonb->>'status'",
    error="m.data::jsonb->'error'->>'kind'",
)


@migration
def m013_api_calls(db: Db) -> None:
    db.script(sqlite=_V13, postgresql=_PG13)


# The response cache (response_cache.py): per owner, an answer under the SHA-256 of its request (the key), the model
# that gave it, the recorded reply as JSON, and when it was recorded and expires (seconds since the epoch). Rows past
# their time are deleted as new ones are written; the index finds them.
_RESPONSE_CACHE = """
CREATE TABLE response_cache (
    owner TEXT {c} NOT NULL,
    key TEXT {c} NOT NULL,
    model TEXT NOT NULL,
    reply TEXT NOT NULL,
    created_at {real} NOT NULL,
    expires_at {real} NOT NULL,
    PRIMARY KEY (owner, key)
);
CREATE INDEX response_cache_by_expiry ON response_cache(expires_at);
"""


@migration
def m014_response_cache(db: Db) -> None:
    db.script(
        sqlite=_RESPONSE_CACHE.format(c="", real="REAL"),
        postgresql=_RESPONSE_CACHE.format(c='COLLATE "C"', real="DOUBLE PRECISION"),
    )


_MIGRATIONS_TABLE = {
    SQLITE: "CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at TEXT)",
    POSTGRESQL: 'CREATE TABLE IF NOT EXISTS _migrations (name TEXT COLLATE "C" PRIMARY KEY, applied_at TEXT)',
}

SEARCH_MIN_TRIGRAM = 3
SEARCH_MAX_CHARS = 200  # of a query; longer ones are cut (SQLite refuses very long LIKE patterns)
SEARCH_MAX_WORDS = 10  # each word is one clause; about a thousand overflow SQLite's expression depth


@dataclass(frozen=True)
class ConversationSummary:
    """A chat as the list shows it: how the user organised it, and for a search the words around the match."""

    id: str
    title: str
    updated_at: str
    snippet: str = ""
    pinned: bool = False
    archived: bool = False
    folder: str = ""  # '' is none
    tags: tuple[str, ...] = ()


MAX_LABEL_CHARS = 60  # of a folder's or a tag's name; longer ones are cut


@dataclass(frozen=True)
class Organised:
    """How the user organised a chat, as an import brings it to ``Store.add`` (names cleaned as set_folder and
    set_tags clean them)."""

    pinned: bool = False
    archived: bool = False
    folder: str = ""
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class UserInfo:
    """Someone who signed in (or whose budget an admin set before they did: never seen, None)."""

    email: str
    name: str
    first_seen: str | None
    last_seen: str | None
    budget: float | None  # their daily budget; None: the global BUDGET_PER_DAY


@dataclass(frozen=True)
class OwnerSpend:
    """What one owner's replies (and summaries) used on one day (UTC, YYYY-MM-DD)."""

    owner: str
    day: str
    totals: Totals


@dataclass(frozen=True)
class LoggedCall:
    """A row of the usage log as the Usage page lists it: the call, and the chat it was made for (its title now;
    '' when the chat is gone)."""

    chat_id: str
    title: str
    call: CallRecord


@dataclass(frozen=True)
class CallSums:
    """Cost and tokens of a group of the usage log's calls (a day, a model), as the database summed them."""

    label: str
    calls: int
    cost: Cost
    prompt_tokens: int
    completion_tokens: int


_CALL_SUMS = (
    "COUNT(*) AS calls, SUM(a.cost_usd) AS cost_usd, SUM(a.cost_cny) AS cost_cny, "
    "SUM(a.prompt_tokens) AS prompt_tokens, SUM(a.completion_tokens) AS completion_tokens"
)


def _call_sums(row: Any) -> CallSums:
    cost = Cost(float(row["cost_usd"] or 0), float(row["cost_cny"] or 0))
    tokens = int(row["prompt_tokens"] or 0), int(row["completion_tokens"] or 0)
    return CallSums(row["label"], int(row["calls"]), cost, *tokens)


@dataclass(frozen=True)
class ShareInfo:
    token: str
    conversation_id: str
    title: str
    created_at: str


@dataclass(frozen=True)
class SharedChat:
    """A published snapshot: whose it is, when it was taken, and the chat as it read then."""

    owner: str
    created_at: str
    conversation: Conversation


SHARE_TOKEN_BYTES = 24  # of randomness in a share link's token (32 URL-safe characters)


class Store:
    """The chats of one owner (``owner``; "" until ``as_user``) in a SQLite file or a PostgreSQL database."""

    def __init__(self, path: Path | str) -> None:
        """The SQLite file at ``path``, made private and migrated (``Store.open`` takes a URL)."""
        self._start(SqliteBackend(Path(path)))

    @classmethod
    def open(cls, url: str) -> Store:
        """The store ``url`` names: ``postgresql://…``, ``sqlite:///abs/path`` or a plain path (SQLite)."""
        store = cls.__new__(cls)
        store._start(backend_for(url))
        return store

    def _start(self, backend: Backend) -> None:
        self._backend, self.owner = backend, ""
        self.path: Path | None = backend.path
        try:
            with backend.migrating() as db:
                self._migrate(db)
        except BaseException:
            backend.close()
            raise

    def as_user(self, owner: str) -> Store:
        """A view on the same database (and connection pool) that reads and writes only ``owner``'s things."""
        view = copy.copy(self)
        view.owner = owner
        return view

    def close(self) -> None:
        """Close the connection pool (PostgreSQL), for every view of this store."""
        self._backend.close()

    @property
    def dialect(self) -> Dialect:
        return self._backend.dialect

    def connection(self) -> AbstractContextManager[Db]:
        """A short connection for another module's tables in this database (document_store.py)."""
        return self._backend.connection()

    def transaction(self) -> AbstractContextManager[Db]:
        """One write transaction on a short connection, for another module's tables in this database."""
        return self._backend.transaction()

    def _migrate(self, db: Db) -> None:
        """Apply each migration not yet recorded. Each takes the write lock (SQLite: BEGIN IMMEDIATE; PostgreSQL:
        an advisory lock) and checks again inside it, so of several processes opening one database at once
        exactly one applies it."""
        # PostgreSQL's CREATE … IF NOT EXISTS can still clash with a concurrent one: there it takes the lock too
        with self._backend.locked(db) if db.dialect == POSTGRESQL else nullcontext():
            db.execute(_MIGRATIONS_TABLE[db.dialect])
        if db.dialect == SQLITE:
            self._adopt_numbered_versions(db)
        done = {row["name"] for row in db.execute("SELECT name FROM _migrations").fetchall()}
        for function in MIGRATIONS:
            if function.__name__ in done:
                continue
            with self._backend.locked(db):
                if db.execute("SELECT 1 FROM _migrations WHERE name = ?", (function.__name__,)).fetchone():
                    continue
                function(db)
                db.execute("INSERT INTO _migrations (name, applied_at) VALUES (?, ?)", (function.__name__, utc_iso()))
            log.info("storage: applied migration %s to %s", function.__name__, self._backend.shown)

    def _adopt_numbered_versions(self, db: Db) -> None:
        """A SQLite file from before named migrations kept one number (schema_version): record the first that
        many migrations as applied, at an unknown time (NULL), and drop the number."""
        numbered = "SELECT 1 FROM sqlite_master WHERE name = 'schema_version'"
        if not db.execute(numbered).fetchone():
            return
        with self._backend.locked(db):
            if not db.execute(numbered).fetchone():  # another process adopted it meanwhile
                return
            row = db.execute("SELECT version FROM schema_version").fetchone()
            adopted = MIGRATIONS[: row["version"] if row else 0]
            db.executemany(
                "INSERT OR IGNORE INTO _migrations (name, applied_at) VALUES (?, NULL)",
                [(function.__name__,) for function in adopted],
            )
            db.execute("DROP TABLE schema_version")

    def migrations(self) -> dict[str, str | None]:
        """Each applied migration's name and when it was applied (None: before names were recorded)."""
        with self.connection() as db:
            rows = db.execute("SELECT name, applied_at FROM _migrations ORDER BY name").fetchall()
        return {row["name"]: row["applied_at"] for row in rows}

    # --- writing -------------------------------------------------------------------------------

    def save(self, conversation: Conversation, messages: Iterable[Message] | None = None) -> None:
        """Upsert the conversation and the given messages (all of them when None), in one transaction.

        A message id that belongs to another conversation is left alone there, never taken over; a conversation
        id that another owner has raises ConversationNotFound and writes nothing. The wire traces the
        conversation holds are written too and then let go (``traces`` reads them back), and so are its logged calls;
        its side calls are written once (those the store does not have yet).
        """
        to_write = list(conversation.nodes.values()) if messages is None else list(messages)
        side_calls = [call for call in conversation.side_calls if call.id not in conversation.stored_side_calls]
        traces = [
            (reply_id, conversation.id, json.dumps(trace, ensure_ascii=False))
            for reply_id, rounds in conversation.traces.items()
            for trace in rounds
        ]
        with self.transaction() as db:
            if db.execute(_UPSERT_CONVERSATION, self._conversation_row(conversation)).rowcount == 0:
                raise ConversationNotFound(f"no conversation {conversation.id}")
            db.executemany(_UPSERT_MESSAGE, _message_rows(conversation, to_write))
            db.executemany(_INSERT_ATTACHMENT, _attachment_rows(conversation, to_write))
            db.executemany("INSERT INTO traces (reply_id, conversation_id, data) VALUES (?, ?, ?)", traces)
            db.executemany(_INSERT_SIDE_CALL, _side_call_rows(conversation.id, side_calls))
            db.executemany(_INSERT_API_CALL, self._api_call_rows(conversation, side_calls))
        conversation.traces.clear()
        conversation.calls.clear()
        conversation.stored_side_calls.update(call.id for call in side_calls)

    def add(self, conversations: Sequence[Conversation], organised: Mapping[str, Organised] | None = None) -> None:
        """Store new conversations (an import), each organised as ``organised`` says by its id (not there: not
        organised), in one transaction: all of them, organised, or on any error none.

        Plain inserts: an id already stored (by anyone) raises ``sqlite3.IntegrityError`` instead of overwriting.
        """
        with self.transaction() as db:
            for conversation in conversations:
                db.execute(_INSERT_CONVERSATION, self._conversation_row(conversation))
                db.executemany(_INSERT_MESSAGE, _message_rows(conversation, conversation.nodes.values()))
                db.executemany(_INSERT_ATTACHMENT, _attachment_rows(conversation, conversation.nodes.values()))
                db.executemany(_INSERT_SIDE_CALL, _side_call_rows(conversation.id, conversation.side_calls))
                if (how := (organised or {}).get(conversation.id)) is not None:
                    self._write_organised(db, conversation.id, how)
        for conversation in conversations:
            conversation.stored_side_calls = {call.id for call in conversation.side_calls}

    def rename(self, conversation_id: str, title: str) -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE conversations SET title = ? WHERE id = ? AND owner = ?", (title, conversation_id, self.owner)
            )

    def delete(self, conversation_id: str) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM conversations WHERE id = ? AND owner = ?", (conversation_id, self.owner))

    def _conversation_row(self, conversation: Conversation) -> tuple[object, ...]:
        return (
            conversation.id,
            conversation.title,
            conversation.created_at,
            utc_iso(),
            json.dumps(conversation.settings, ensure_ascii=False),
            conversation.leaf_id,
            json.dumps(conversation.last_request, ensure_ascii=False) if conversation.last_request else None,
            json.dumps(conversation.summary.to_dict(), ensure_ascii=False) if conversation.summary else None,
            self.owner,
        )

    # --- reading -------------------------------------------------------------------------------

    def load(self, conversation_id: str) -> Conversation | None:
        """The conversation as far as its rows read (see ``records.readable``); never raises for their content.
        None when this owner has none of that id (whether or not another owner has it)."""
        with self.connection() as db:
            row = db.execute(
                "SELECT * FROM conversations WHERE id = ? AND owner = ?", (conversation_id, self.owner)
            ).fetchone()
            if row is None:
                return None
            rows = db.execute(
                "SELECT id, data FROM messages WHERE conversation_id = ? ORDER BY seq", (conversation_id,)
            ).fetchall()
            blobs = db.execute(
                "SELECT message_id, position, data FROM attachments WHERE conversation_id = ?", (conversation_id,)
            ).fetchall()
            calls = db.execute(
                "SELECT * FROM side_calls WHERE conversation_id = ? ORDER BY created_at, id", (conversation_id,)
            ).fetchall()
        images = {(blob["message_id"], blob["position"]): bytes(blob["data"]) for blob in blobs}
        conversation = readable(
            {
                "id": row["id"],
                "title": row["title"],
                "created_at": row["created_at"],
                "settings": _json(row["settings"]),
                "leaf_id": row["leaf_id"],
                "last_request": _json(row["last_request"]),
                "summary": _json(row["summary"]),
                "side_calls": [_side_call(call) for call in calls],
                "messages": [_with_images(_json(r["data"]), r["id"], images) for r in rows],
            }
        )
        conversation.saved_at = row["updated_at"]
        conversation.stored_side_calls = {call.id for call in conversation.side_calls}
        return conversation

    def api_calls(
        self,
        since: str = "",
        until: str | None = None,
        model: str | None = None,
        chat: str | None = None,
        limit: int | None = None,
    ) -> list[LoggedCall]:
        """This owner's API calls (the usage log), newest first: made at or after ``since`` and before ``until``
        (``utc_iso`` times), optionally of one model or one chat, and only the newest ``limit``."""
        where, params = self._api_call_filter(since, until, model, chat)
        with self.connection() as db:
            rows = db.execute(
                f"""
                SELECT a.*, c.title AS title FROM api_calls a
                LEFT JOIN conversations c ON c.id = a.conversation_id AND c.owner = a.owner
                WHERE {where} ORDER BY a.at DESC, a.id {"" if limit is None else "LIMIT ?"}
                """,  # noqa: S608 (the clauses are constants)
                params if limit is None else [*params, limit],
            ).fetchall()
        return [LoggedCall(row["conversation_id"], row["title"] or "", _logged_call(row)) for row in rows]

    def api_call_sums(
        self, since: str = "", until: str | None = None, model: str | None = None, chat: str | None = None
    ) -> list[CallSums]:
        """Sums of this owner's API calls (as ``api_calls`` filters them) per model, summed by the database."""
        where, params = self._api_call_filter(since, until, model, chat)
        with self.connection() as db:
            rows = db.execute(
                f"SELECT a.model AS label, {_CALL_SUMS} FROM api_calls a WHERE {where} GROUP BY a.model",  # noqa: S608
                params,
            ).fetchall()
        return [_call_sums(row) for row in rows]

    def api_call_days(
        self, days: Sequence[tuple[str, str, str]], model: str | None = None, chat: str | None = None
    ) -> list[CallSums]:
        """Sums of this owner's API calls per day, summed by the database: ``days`` are (label, since, until), the
        reader's days as ``utc_iso`` bounds (a day in a time zone is not a prefix of a UTC time); days without a call
        are left out."""
        if not days:
            return []
        where, params = self._api_call_filter("", None, model, chat)
        values = ", ".join(["(CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS TEXT))"] * len(days))
        with self.connection() as db:
            rows = db.execute(
                f"""
                WITH days (label, since, until) AS (VALUES {values})
                SELECT d.label AS label, {_CALL_SUMS} FROM days d
                JOIN api_calls a ON a.at >= d.since AND a.at < d.until
                WHERE {where} GROUP BY d.label ORDER BY d.label
                """,  # noqa: S608 (the clauses are constants)
                [*(value for day in days for value in day), *params],
            ).fetchall()
        return [_call_sums(row) for row in rows]

    def api_call_chats(self, since: str = "", until: str | None = None) -> dict[str, str]:
        """The chats this owner's API calls in the time were made for, the latest used first: id to title now ('' when
        the chat is gone)."""
        where, params = self._api_call_filter(since, until, None, None)
        with self.connection() as db:
            rows = db.execute(
                f"""
                SELECT a.conversation_id AS id, MAX(c.title) AS title FROM api_calls a
                LEFT JOIN conversations c ON c.id = a.conversation_id AND c.owner = a.owner
                WHERE {where} GROUP BY a.conversation_id ORDER BY MAX(a.at) DESC, a.conversation_id
                """,  # noqa: S608 (the clauses are constants)
                params,
            ).fetchall()
        return {row["id"]: row["title"] or "" for row in rows}

    def _api_call_filter(
        self, since: str, until: str | None, model: str | None, chat: str | None
    ) -> tuple[str, list[str]]:
        """The WHERE clause (on ``api_calls a``) and its parameters: this owner's calls at or after ``since``, and
        before ``until``, of ``model`` and of ``chat`` where given."""
        clauses, params = ["a.owner = ?", "a.at >= ?"], [self.owner, since]
        for clause, value in (("a.at < ?", until), ("a.model = ?", model), ("a.conversation_id = ?", chat)):
            if value is not None:
                clauses.append(clause)
                params.append(value)
        return " AND ".join(clauses), params

    def _api_call_rows(self, conversation: Conversation, side_calls: Sequence[SideCall]) -> list[tuple[object, ...]]:
        """The conversation's calls not yet saved, then one for each of ``side_calls`` (new ones: a title, a
        moderation check) that no call logged under its id (booked without its row), untimed, at its booking time."""
        logged = {call.id for call in conversation.calls}
        untimed = [
            CallRecord(c.created_at, c.kind, "", c.model, c.usage, None, None, "ok", c.cost, c.id)
            for c in side_calls
            if c.id not in logged
        ]
        return [(*_api_call_row(call), self.owner, conversation.id) for call in [*conversation.calls, *untimed]]

    def traces(self, reply_id: str) -> list[dict[str, Any]]:
        """The wire traces of one reply (wire_trace.RoundTrace as dicts), in the order its requests went."""
        with self.connection() as db:
            rows = db.execute(
                """
                SELECT t.data FROM traces t JOIN conversations c ON c.id = t.conversation_id
                WHERE t.reply_id = ? AND c.owner = ? ORDER BY t.id
                """,
                (reply_id, self.owner),
            ).fetchall()
        return [trace for row in rows if isinstance(trace := _json(row["data"]), dict)]

    def recent(
        self, limit: int = 200, archived: bool | None = False, folder: str | None = None, tag: str | None = None
    ) -> list[ConversationSummary]:
        """This owner's chats, pinned first, then newest first, in one query: those not archived (``archived``
        False), only the archived (True) or all (None); optionally only those in ``folder`` or under ``tag``."""
        clauses, params = self._filters(folder, tag)
        if archived is not None:
            clauses.append("c.archived = ?")
            params.append(int(archived))
        with self.connection() as db:
            return _summaries(db, clauses, params, limit)

    def search(
        self, query: str, limit: int = 50, folder: str | None = None, tag: str | None = None
    ) -> list[ConversationSummary]:
        """Conversations whose messages contain every word of ``query`` (any language), newest first, archived ones
        too (their summary says so); optionally only those in ``folder`` or under ``tag``.

        Never raises for what a user types: control characters go, the query is capped, words are quoted for
        FTS5, and a database error means no results (logged).
        """
        words = search_words(query)
        if not words:
            return []
        try:
            return self._search(words, limit, *self._filters(folder, tag))
        except sqlite3.Error:  # logged as a storage error (PostgreSQL's come as StorageError, a sqlite3.Error)
            return []

    def _filters(self, folder: str | None, tag: str | None) -> tuple[list[str], list[object]]:
        """The conditions (on conversations c) and their values for this owner's chats in a folder, under a tag."""
        clauses: list[str] = ["c.owner = ?"]
        params: list[object] = [self.owner]
        if folder is not None:
            clauses.append("c.folder = ?")
            params.append(folder)
        if tag is not None:
            clauses.append("c.id IN (SELECT conversation_id FROM conversation_tags WHERE tag = ?)")
            params.append(tag)
        return clauses, params

    def _search(
        self, words: list[str], limit: int, clauses: list[str], params: list[object]
    ) -> list[ConversationSummary]:
        dialect = self.dialect
        for word in words:
            if dialect == SQLITE and len(word) >= SEARCH_MIN_TRIGRAM:
                clauses.append("c.id IN (SELECT conversation_id FROM messages_fts WHERE messages_fts MATCH ?)")
                params.append('"' + word.replace('"', '""') + '"')
            else:
                clauses.append(_IN_A_MESSAGE.format(like=_LIKE[dialect]))
                params.append(_like(word))
        with self.connection() as db:
            found = []
            for summary in _summaries(db, clauses, params, limit, pinned_first=False):
                hit = db.execute(_FIRST_MATCH.format(like=_LIKE[dialect]), (summary.id, _like(words[0]))).fetchone()
                found.append(replace(summary, snippet=_snippet(hit["content"], words[0]) if hit else ""))
        return found

    # --- organising: pinned, archived, folder, tags ------------------------------------------------

    def set_pinned(self, conversation_id: str, pinned: bool) -> None:
        """Pin this owner's chat to the top of the list, or unpin it (its place by date is kept)."""
        self._organize(conversation_id, "pinned", int(pinned))

    def set_archived(self, conversation_id: str, archived: bool) -> None:
        """Archive this owner's chat (left out of the list, still found by search), or restore it."""
        self._organize(conversation_id, "archived", int(archived))

    def set_folder(self, conversation_id: str, folder: str) -> None:
        """Put this owner's chat in ``folder`` (trimmed and cut to MAX_LABEL_CHARS; '' takes it out of any)."""
        self._organize(conversation_id, "folder", label(folder))

    def _organize(self, conversation_id: str, column: str, value: object) -> None:
        with self.transaction() as db:
            db.execute(
                f"UPDATE conversations SET {column} = ? WHERE id = ? AND owner = ?",  # noqa: S608 (a fixed name)
                (value, conversation_id, self.owner),
            )

    def set_tags(self, conversation_id: str, tags: Iterable[str]) -> None:
        """This owner's chat's tags from now on (each trimmed and cut to MAX_LABEL_CHARS; empty ones and repeats
        go); another owner's chat is left as it is."""
        with self.transaction() as db:
            self._write_tags(db, conversation_id, tags)

    def _write_tags(self, db: Db, conversation_id: str, tags: Iterable[str]) -> None:
        wanted = list(dict.fromkeys(name for tag in tags if (name := label(tag))))
        mine = "SELECT 1 FROM conversations WHERE id = ? AND owner = ?"
        db.execute(
            f"DELETE FROM conversation_tags WHERE conversation_id = ? AND EXISTS ({mine})",  # noqa: S608
            (conversation_id, conversation_id, self.owner),
        )
        db.executemany(
            f"INSERT INTO conversation_tags (conversation_id, tag) SELECT ?, ? WHERE EXISTS ({mine})",  # noqa: S608
            [(conversation_id, tag, conversation_id, self.owner) for tag in wanted],
        )

    def _write_organised(self, db: Db, conversation_id: str, how: Organised) -> None:
        """All of a chat's organisation at once, inside the caller's transaction (``add``)."""
        db.execute(
            "UPDATE conversations SET pinned = ?, archived = ?, folder = ? WHERE id = ? AND owner = ?",
            (int(how.pinned), int(how.archived), label(how.folder), conversation_id, self.owner),
        )
        self._write_tags(db, conversation_id, how.tags)

    def folders(self) -> list[str]:
        """The folders this owner's chats are in, archived ones' too, by name."""
        with self.connection() as db:
            rows = db.execute(
                "SELECT DISTINCT folder FROM conversations WHERE owner = ? AND folder <> ''", (self.owner,)
            ).fetchall()
        return sorted(row["folder"] for row in rows)

    def tags(self) -> list[str]:
        """The tags on this owner's chats, archived ones' too, by name."""
        with self.connection() as db:
            rows = db.execute(
                """
                SELECT DISTINCT t.tag AS tag FROM conversation_tags t JOIN conversations c ON c.id = t.conversation_id
                WHERE c.owner = ?
                """,
                (self.owner,),
            ).fetchall()
        return sorted(row["tag"] for row in rows)

    def summary(self, conversation_id: str) -> ConversationSummary | None:
        """One of this owner's chats as the list shows it (the open chat when the list leaves it out)."""
        with self.connection() as db:
            found = _summaries(db, ["c.owner = ?", "c.id = ?"], [self.owner, conversation_id], 1)
        return found[0] if found else None

    def today_and_all_totals(self) -> tuple[Totals, Totals]:
        """This owner's usage and cost since local midnight (the server's time zone), and over all time: one query
        for both, as every page run shows both."""
        midnight = datetime.now().astimezone().replace(hour=0, minute=0, second=0, microsecond=0)
        return self._totals(midnight.astimezone(UTC).isoformat(timespec="seconds"))

    def totals(self, since: str | None = None) -> Totals:
        """Usage and cost over every stored reply of this owner (optionally since an ISO timestamp)."""
        recent, every = self._totals(since or "")
        return every if since is None else recent

    def _totals(self, since: str) -> tuple[Totals, Totals]:
        """(since an ISO timestamp, all time): one pass over the owner's replies and side calls, found through their
        chats; then the summaries' calls."""
        with self.connection() as db:
            row = db.execute(
                f"""
                SELECT {_SPENT_COLUMNS}, {_spent_columns("m.created_at >= ?", "recent_")}
                FROM (
                    SELECT {_priced_columns("m")} FROM conversations c JOIN messages m ON m.conversation_id = c.id
                    WHERE c.owner = ? AND m.prompt_tokens IS NOT NULL
                    UNION ALL
                    SELECT {_priced_columns("s")} FROM conversations c JOIN side_calls s ON s.conversation_id = c.id
                    WHERE c.owner = ?
                ) m
                """,  # noqa: S608 (the columns are a constant)
                (*(since,) * len(_SPENT), self.owner, self.owner),
            ).fetchone()
            summaries = db.execute(
                "SELECT summary FROM conversations WHERE owner = ? AND summary IS NOT NULL", (self.owner,)
            ).fetchall()
        entries = [entry for r in summaries if (entry := _summary_spending(r["summary"], "")) is not None]
        recent = [(usage, cost) for created_at, usage, cost in entries if created_at >= since]
        return _spent(row, recent, "recent_"), _spent(row, [(usage, cost) for _, usage, cost in entries])

    # --- a team: who signed in, their budgets, share links ------------------------------------------

    def touch_user(self, name: str = "") -> None:
        """Record that this view's owner (a signed-in e-mail) is here now: first seen once, last seen each time."""
        now = utc_iso()
        with self.transaction() as db:
            db.execute(
                """
                INSERT INTO users (email, name, first_seen, last_seen) VALUES (?, ?, ?, ?)
                ON CONFLICT(email) DO UPDATE SET name = excluded.name, last_seen = excluded.last_seen
                """,
                (self.owner, name, now, now),
            )

    def users(self) -> list[UserInfo]:
        """Admin, across owners: everyone who signed in, and anyone an admin set a budget for before they did."""
        with self.connection() as db:
            rows = db.execute(
                """
                SELECT u.email AS email, u.name AS name, u.first_seen AS first_seen, u.last_seen AS last_seen,
                    b.per_day AS budget
                FROM users u LEFT JOIN budgets b ON b.owner = u.email
                UNION ALL
                SELECT b.owner, '', NULL, NULL, b.per_day FROM budgets b
                WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.email = b.owner)
                ORDER BY 1
                """
            ).fetchall()
        return [UserInfo(r["email"], r["name"], r["first_seen"], r["last_seen"], r["budget"]) for r in rows]

    def set_budget(self, email: str, per_day: float | None) -> None:
        """Admin: ``email``'s daily budget (in BUDGET_CURRENCY; 0 is no limit), or None to leave them to the global
        BUDGET_PER_DAY again; recorded as set by this view's owner. A negative or non-finite amount: ValueError."""
        if per_day is not None and not (math.isfinite(per_day) and per_day >= 0):
            raise ValueError(f"a daily budget must be 0 or more, not {per_day}")
        with self.transaction() as db:
            if per_day is None:
                db.execute("DELETE FROM budgets WHERE owner = ?", (email,))
                return
            db.execute(
                """
                INSERT INTO budgets (owner, per_day, set_by, set_at) VALUES (?, ?, ?, ?)
                ON CONFLICT(owner) DO UPDATE SET per_day = excluded.per_day, set_by = excluded.set_by,
                    set_at = excluded.set_at
                """,
                (email, per_day, self.owner, utc_iso()),
            )

    def budget_for(self) -> float | None:
        """This view's owner's daily budget as an admin set it; None: the global BUDGET_PER_DAY applies."""
        with self.connection() as db:
            row = db.execute("SELECT per_day FROM budgets WHERE owner = ?", (self.owner,)).fetchone()
        return None if row is None else float(row["per_day"])

    def spend_by_owner(self, since: str) -> list[OwnerSpend]:
        """Admin, across owners: each owner's usage and cost per day (UTC) since an ISO timestamp, a side call's or
        a summary's call on the day it was made; by day, then owner."""
        with self.connection() as db:
            rows = db.execute(
                f"""
                SELECT m.owner AS owner, substr(m.created_at, 1, 10) AS day, {_SPENT_COLUMNS}
                FROM (
                    SELECT c.owner AS owner, {_priced_columns("m")} FROM messages m CROSS JOIN conversations c
                    WHERE m.prompt_tokens IS NOT NULL AND m.created_at >= ? AND c.id = m.conversation_id
                    UNION ALL
                    SELECT c.owner, {_priced_columns("s")} FROM side_calls s CROSS JOIN conversations c
                    WHERE s.created_at >= ? AND c.id = s.conversation_id
                ) m
                GROUP BY m.owner, substr(m.created_at, 1, 10)
                """,  # noqa: S608 (the columns are a constant)
                (since, since),
            ).fetchall()
            summaries = db.execute("SELECT owner, summary FROM conversations WHERE summary IS NOT NULL").fetchall()
        booked: dict[tuple[str, str], list[tuple[Usage, Cost]]] = {}
        for r in summaries:
            entry = _summary_spending(r["summary"], since)
            if entry is not None:
                booked.setdefault((r["owner"], entry[0][:10]), []).append(entry[1:])
        replies = {(r["owner"], r["day"]): r for r in rows}
        days = sorted(replies.keys() | booked.keys(), key=lambda key: (key[1], key[0]))
        return [
            OwnerSpend(owner, day, _spent(replies.get((owner, day)), booked.get((owner, day), [])))
            for owner, day in days
        ]

    def publish(self, conversation_id: str) -> str:
        """A share link's random token for a snapshot of this owner's chat as stored now: its title and the messages
        on screen (the active branch, images included), not its settings, last request, traces, other versions or
        raw error details. Another owner's chat, or none of that id, raises ConversationNotFound."""
        conversation = self.load(conversation_id)
        if conversation is None:
            raise ConversationNotFound(f"no conversation {conversation_id}")
        token = secrets.token_urlsafe(SHARE_TOKEN_BYTES)
        snapshot = json.dumps(_snapshot(conversation), ensure_ascii=False)
        with self.transaction() as db:
            db.execute(
                """
                INSERT INTO shares (token, owner, conversation_id, title, snapshot, created_at)
                VALUES (?, ?, ?, ?, ?, ?)
                """,
                (token, self.owner, conversation.id, conversation.title, snapshot, utc_iso()),
            )
        return token

    def revoke(self, token: str) -> bool:
        """End one of this owner's share links (the snapshot is not found from now on); False: none to end."""
        with self.transaction() as db:
            return (
                db.execute(
                    "UPDATE shares SET revoked_at = ? WHERE token = ? AND owner = ? AND revoked_at IS NULL",
                    (utc_iso(), token, self.owner),
                ).rowcount
                > 0
            )

    def shared(self, token: str) -> SharedChat | None:
        """The snapshot a share link names, whoever's it is (the UI lets only signed-in people ask); None when it
        was revoked, its chat deleted, or the token is wrong."""
        with self.connection() as db:
            row = db.execute(
                "SELECT owner, snapshot, created_at FROM shares WHERE token = ? AND revoked_at IS NULL", (token,)
            ).fetchone()
        if row is None:
            return None
        snapshot = _json(row["snapshot"])
        return SharedChat(row["owner"], row["created_at"], readable(snapshot if isinstance(snapshot, dict) else {}))

    def my_shares(self) -> list[ShareInfo]:
        """This owner's share links that still work, newest first."""
        with self.connection() as db:
            rows = db.execute(
                """
                SELECT token, conversation_id, title, created_at FROM shares
                WHERE owner = ? AND revoked_at IS NULL ORDER BY created_at DESC
                """,
                (self.owner,),
            ).fetchall()
        return [ShareInfo(r["token"], r["conversation_id"], r["title"], r["created_at"]) for r in rows]


# Replies' usage and cost summed (the rows of messages m with usage), as ``_spent`` reads them: each column's name,
# aggregate and value.
_SPENT = (
    ("calls", "COUNT", "1"),
    ("prompt", "SUM", "m.prompt_tokens"),
    ("completion", "SUM", "m.completion_tokens"),
    ("cached", "SUM", "m.cached_tokens"),
    ("reasoning", "SUM", "m.reasoning_tokens"),
    ("estimated", "MAX", "m.estimated"),
    ("usd", "SUM", "m.cost_usd"),
    ("cny", "SUM", "m.cost_cny"),
    ("priced", "MIN", "m.priced"),
    ("local", "MIN", "m.local"),
)


def _spent_columns(when: str = "", prefix: str = "") -> str:
    """The ``_SPENT`` columns, named with ``prefix``; with ``when`` (an SQL condition), of only the rows meeting it
    (one ``?`` each), so one pass gives two sums (CASE: the same in both dialects)."""
    return ", ".join(
        f"{aggregate}({f'CASE WHEN {when} THEN {value} END' if when else value}) AS {prefix}{name}"
        for name, aggregate, value in _SPENT
    )


_SPENT_COLUMNS = _spent_columns()


def _spent(row: Any, summaries: Sequence[tuple[Usage, Cost]], prefix: str = "") -> Totals:
    """Replies' summed usage (a row of ``_spent_columns`` named with ``prefix``, or None) with summary calls'."""
    if row is None or not row[f"{prefix}calls"]:
        return Totals.of(summaries)
    usage = Usage(
        row[f"{prefix}prompt"],
        row[f"{prefix}completion"],
        row[f"{prefix}cached"],
        row[f"{prefix}reasoning"],
        bool(row[f"{prefix}estimated"]),
    )
    cost = Cost(row[f"{prefix}usd"], row[f"{prefix}cny"], bool(row[f"{prefix}priced"]), bool(row[f"{prefix}local"]))
    totals = Totals.of([(usage, cost), *summaries])
    return Totals(totals.usage, totals.cost, row[f"{prefix}calls"] + len(summaries))


def _snapshot(conversation: Conversation) -> dict[str, Any]:
    """What a share link shows of a chat (the export's shape, as ``readable`` reads it): no id, settings or last
    request; the active branch's messages, each without its raw error detail (it may quote a provider's answer)."""
    messages = []
    for message in conversation.messages:
        record = message.to_dict()
        if isinstance(record.get("error"), dict):
            record["error"] = {key: value for key, value in record["error"].items() if key != "detail"}
        messages.append(record)
    return {
        "title": conversation.title,
        "created_at": conversation.created_at,
        "leaf_id": conversation.leaf_id,
        "messages": messages,
    }


def _summary_spending(text: str, since: str) -> tuple[str, Usage, Cost] | None:
    """When a chat's summary was written, and the usage and cost of that call, when it was booked at or after
    ``since``."""
    summary = _json(text)
    if not isinstance(summary, dict) or summary.get("cost") is None:
        return None
    created_at = summary.get("created_at")
    if not isinstance(created_at, str) or created_at < since:
        return None
    try:
        return created_at, Usage(**summary["usage"]), Cost(**summary["cost"])
    except TypeError:
        log.warning("a stored summary's usage is damaged and left out of the totals")
        return None


# A word anywhere in a message, in any case: SQLite's LIKE (case-blind for ASCII), PostgreSQL's ILIKE (on the
# trigram index).
_LIKE = {SQLITE: "LIKE", POSTGRESQL: "ILIKE"}
_IN_A_MESSAGE = "c.id IN (SELECT conversation_id FROM messages WHERE content {like} ? ESCAPE '\\')"
_FIRST_MATCH = "SELECT content FROM messages WHERE conversation_id = ? AND content {like} ? ESCAPE '\\' LIMIT 1"

_INSERT_CONVERSATION = """
    INSERT INTO conversations (id, title, created_at, updated_at, settings, leaf_id, last_request, summary, owner)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
"""
# Another owner's conversation of that id is left as it is (and nothing is changed: rowcount 0).
_UPSERT_CONVERSATION = (
    _INSERT_CONVERSATION
    + """
    ON CONFLICT(id) DO UPDATE SET title = excluded.title, updated_at = excluded.updated_at,
        settings = excluded.settings, leaf_id = excluded.leaf_id, last_request = excluded.last_request,
        summary = excluded.summary
    WHERE conversations.owner = excluded.owner
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
    SELECT ?, ?, ?, ?
    WHERE EXISTS (SELECT 1 FROM messages WHERE id = ? AND conversation_id = ?)
    ON CONFLICT DO NOTHING
"""


def _attachment_rows(conversation: Conversation, messages: Iterable[Message]) -> list[tuple[object, ...]]:
    return [
        (m.id, position, conversation.id, image.raw(), m.id, conversation.id)
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
    if message.usage is None or message.cost is None:
        return (None,) * 9
    return _priced(message.usage, message.cost)


def _priced(usage: Usage, cost: Cost) -> tuple[object, ...]:
    """A call's usage and cost as the column values replies and side calls share (``_PRICED`` after created_at)."""
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


# What a priced row (a reply, a side call) has in common, as ``_SPENT`` sums it: when, the usage and cost columns.
_PRICED = (
    "created_at",
    "prompt_tokens",
    "completion_tokens",
    "cached_tokens",
    "reasoning_tokens",
    "estimated",
    "cost_usd",
    "cost_cny",
    "priced",
    "local",
)


def _priced_columns(table: str) -> str:
    """The ``_PRICED`` columns of ``table`` (an alias), named as ``_SPENT`` reads them from a UNION ALL of such."""
    return ", ".join(f"{table}.{name} AS {name}" for name in _PRICED)


# A side call is written once: a chat saved again (or another owner's of that id, refused before) adds nothing.
_INSERT_SIDE_CALL = f"""
    INSERT INTO side_calls (conversation_id, id, kind, model, {", ".join(_PRICED)})
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT DO NOTHING
"""  # noqa: S608 (the columns are a constant)


def _side_call_rows(conversation_id: str, calls: Iterable[SideCall]) -> list[tuple[object, ...]]:
    return [
        (conversation_id, call.id, call.kind, call.model, call.created_at, *_priced(call.usage, call.cost))
        for call in calls
    ]


_API_CALL_COLUMNS = (
    "id, at, kind, provider, model, first_token_ms, total_ms, outcome, prompt_tokens, completion_tokens, "
    "cached_tokens, reasoning_tokens, estimated, cost_usd, cost_cny, priced, local, owner, conversation_id"
)
# A call is logged once: a chat saved again (its side calls with it) adds nothing.
_INSERT_API_CALL = f"""
    INSERT INTO api_calls ({_API_CALL_COLUMNS}) VALUES ({", ".join("?" * 19)})
    ON CONFLICT DO NOTHING
"""  # noqa: S608 (the columns are a constant)


def _api_call_row(call: CallRecord) -> tuple[object, ...]:
    """A call's columns up to its owner and chat (``_API_CALL_COLUMNS``'s order)."""
    at = utc_iso(datetime.fromisoformat(call.at))  # one format: a side call booked before it may have another
    fixed = (call.id, at, call.kind, call.provider, call.model, call.first_token_ms, call.total_ms, call.outcome)
    return (*fixed, *_priced(call.usage or Usage(), call.cost or Cost()))


def _logged_call(row: Any) -> CallRecord:
    usage = Usage(
        row["prompt_tokens"],
        row["completion_tokens"],
        row["cached_tokens"],
        row["reasoning_tokens"],
        bool(row["estimated"]),
    )
    cost = Cost(row["cost_usd"], row["cost_cny"], bool(row["priced"]), bool(row["local"]))
    return CallRecord(
        row["at"],
        row["kind"],
        row["provider"],
        row["model"],
        usage,
        row["first_token_ms"],
        row["total_ms"],
        row["outcome"],
        cost,
        row["id"],
    )


def _side_call(row: Any) -> dict[str, Any]:
    """A side call's row as ``records.readable`` reads it (conversation_manager.SideCall's shape)."""
    return {
        "id": row["id"],
        "kind": row["kind"],
        "model": row["model"],
        "created_at": row["created_at"],
        "usage": {
            "prompt_tokens": row["prompt_tokens"],
            "completion_tokens": row["completion_tokens"],
            "cached_tokens": row["cached_tokens"],
            "reasoning_tokens": row["reasoning_tokens"],
            "estimated": bool(row["estimated"]),
        },
        "cost": {
            "usd": row["cost_usd"],
            "cny": row["cost_cny"],
            "priced": bool(row["priced"]),
            "local": bool(row["local"]),
        },
    }


def _summaries(
    db: Db, clauses: Sequence[str], params: Sequence[object], limit: int, pinned_first: bool = True
) -> list[ConversationSummary]:
    """The chats meeting ``clauses`` (on conversations c), at most ``limit``, pinned first (unless not asked) then
    newest first, each with its tags: one query (a row per tag)."""
    order = ("c.pinned DESC, " if pinned_first else "") + "c.updated_at DESC, c.id"
    sql = f"""
        SELECT c.id AS id, c.title AS title, c.updated_at AS updated_at, c.pinned AS pinned, c.archived AS archived,
            c.folder AS folder, t.tag AS tag
        FROM (
            SELECT c.id, c.title, c.updated_at, c.pinned, c.archived, c.folder FROM conversations c
            WHERE {" AND ".join(clauses)} ORDER BY {order} LIMIT ?
        ) c LEFT JOIN conversation_tags t ON t.conversation_id = c.id
        ORDER BY {order}, t.tag
    """  # noqa: S608 (the clauses are the store's own; values go as parameters)
    found: dict[str, ConversationSummary] = {}
    for r in db.execute(sql, (*params, limit)).fetchall():
        known = found.get(r["id"])
        tag = () if r["tag"] is None else (r["tag"],)
        if known is not None:
            found[r["id"]] = replace(known, tags=known.tags + tag)
            continue
        found[r["id"]] = ConversationSummary(
            r["id"], r["title"], r["updated_at"], "", bool(r["pinned"]), bool(r["archived"]), r["folder"], tag
        )
    return list(found.values())


def label(name: str) -> str:
    """A folder's or tag's name as stored: control characters as spaces, trimmed, at most MAX_LABEL_CHARS."""
    cleaned = "".join(" " if unicodedata.category(ch) in ("Cc", "Cs") else ch for ch in name)
    return cleaned.strip()[:MAX_LABEL_CHARS].strip()


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
