"""Where the store's tables live: a SQLite file (the default) or a PostgreSQL database, behind one small interface.

store.py and document_store.py write each statement once, with ``?`` placeholders, and read rows by column name;
a backend lends them short connections wrapped as a ``Db`` (SQLite: a new connection per operation; PostgreSQL:
one borrowed from a psycopg_pool pool, in autocommit, so a write takes ``transaction()`` as with SQLite; that
backend is storage_postgres.py, imported only for a postgresql:// URL). Where the dialects differ (a schema, the
full-text index) the caller asks ``db.dialect`` or runs ``db.script`` with both texts. PostgreSQL's errors come out
as ``StorageError``, a ``sqlite3.Error``: every caller that catches SQLite's errors (the page's "could not save"
notices) catches them too, and none of them names a driver.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, Literal, Protocol

from config import ConfigError, display_url

log = logging.getLogger(__name__)

Dialect = Literal["sqlite", "postgresql"]
SQLITE: Dialect = "sqlite"
POSTGRESQL: Dialect = "postgresql"

PRIVATE_DIR, PRIVATE_FILE = 0o700, 0o600
DB_COMPANIONS = ("", "-wal", "-shm", "-journal")
WAL_SWITCH_SECONDS = 10.0
WAIT_SECONDS = 10  # SQLite's busy timeout; how long PostgreSQL's pool waits for a free connection
POOL_MAX = 10  # connections one app process keeps to PostgreSQL at most
MIGRATION_LOCK = 0x63686174  # the pg_advisory_xact_lock key of migrations ("chat")


class StorageError(sqlite3.DatabaseError):
    """A PostgreSQL failure, as callers catch SQLite's (the message is the server's; no password is in it)."""


class StorageIntegrityError(StorageError, sqlite3.IntegrityError):
    """A PostgreSQL constraint refused a write (an id that is already stored), as sqlite3.IntegrityError."""


class ConversationNotFound(StorageError):
    """A write named a conversation this owner does not have (another owner's: it is never touched)."""


class Cursor(Protocol):
    """What a statement gives back, in both dialects: rows readable by column name, and how many it changed."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class Db(Protocol):
    """One connection of either dialect."""

    dialect: Dialect

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor: ...

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None: ...

    def script(self, *, sqlite: str, postgresql: str) -> None:
        """Run the statements of this dialect's text, inside the open transaction."""


class Backend(Protocol):
    dialect: Dialect
    path: Path | None  # the SQLite file; None for PostgreSQL
    shown: str  # what a log line may say of it: the file, or the server without user or password

    def connection(self) -> AbstractContextManager[Db]:
        """A short connection; each statement commits on its own."""

    def transaction(self) -> AbstractContextManager[Db]:
        """A short connection holding one write transaction, rolled back on any error."""

    def migrating(self) -> AbstractContextManager[Db]:
        """The connection migrations run on (``locked`` gives each its transaction)."""

    def locked(self, db: Db) -> AbstractContextManager[None]:
        """One transaction on ``db`` that only one process at a time holds (for migrations)."""

    def close(self) -> None: ...


def backend_for(url: str) -> Backend:
    """``postgresql://…`` (or ``postgres://…``) is PostgreSQL; ``sqlite:///abs/path`` or a plain path a SQLite file."""
    if url.startswith(("postgresql://", "postgres://")):
        from storage_postgres import PostgresBackend  # psycopg loads only here: the SQLite app never pays for it

        return PostgresBackend(url)
    if url.startswith("sqlite://"):
        path = url.removeprefix("sqlite://")
        if not path:
            raise ConfigError("DATABASE_URL=sqlite:// names no file (sqlite:///absolute/path/chats.db)")
        return SqliteBackend(Path(path))
    if "://" in url:
        raise ConfigError(f"DATABASE_URL must start with sqlite:// or postgresql:// (not {display_url(url)!r})")
    return SqliteBackend(Path(url))


# --- SQLite -------------------------------------------------------------------------------------


class SqliteDb:
    dialect: Dialect = SQLITE

    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        return self.connection.execute(sql, params)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self.connection.executemany(sql, rows)

    def script(self, *, sqlite: str, postgresql: str) -> None:
        """Each statement on its own (``executescript`` would commit first)."""
        statement = ""
        for line in sqlite.splitlines(keepends=True):
            statement += line
            if sqlite3.complete_statement(statement):
                self.connection.execute(statement)
                statement = ""


class SqliteBackend:
    """A SQLite file in WAL mode, private to its user (folder 0700, the database and its WAL files 0600)."""

    dialect: Dialect = SQLITE

    def __init__(self, path: Path) -> None:
        self.path: Path | None = path
        self.file, self.shown = path, str(path)
        _make_private_dirs(path.parent)
        _make_private_db(path)
        with self._connect() as db:
            _use_wal(db)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """One short connection; any SQLite error on it is logged (with the file) and raised on."""
        try:
            db = sqlite3.connect(self.file, timeout=WAIT_SECONDS, isolation_level=None)
            try:
                db.row_factory = sqlite3.Row
                db.execute("PRAGMA foreign_keys=ON")
                db.execute(f"PRAGMA busy_timeout={WAIT_SECONDS * 1000}")
                yield db
            finally:
                db.close()
        except sqlite3.Error as error:
            log.error("storage error on %s: %s", self.file, error)
            raise

    @contextmanager
    def connection(self) -> Iterator[Db]:
        with self._connect() as db:
            yield SqliteDb(db)

    @contextmanager
    def transaction(self) -> Iterator[Db]:
        with _turn(self.file), self.connection() as db, _write_locked(db):
            yield db

    @contextmanager
    def migrating(self) -> Iterator[Db]:
        """Foreign keys off, as SQLite wants while a migration copies a table to change its constraints (a
        referenced table dropped with them on would take its referrers along); each migration's transaction
        checks them before it commits (``locked``)."""
        with self.connection() as db:
            db.execute("PRAGMA foreign_keys=OFF")
            yield db

    @contextmanager
    def locked(self, db: Db) -> Iterator[None]:
        """A migration's transaction: the write lock, and no row left referring to one that is not there."""
        with _write_locked(db):
            yield
            if db.execute("PRAGMA foreign_key_check").fetchone() is not None:
                raise sqlite3.IntegrityError("a row refers to one that is not there (foreign key check)")

    def close(self) -> None:
        """Nothing stays open between operations."""


_WRITERS: dict[str, threading.RLock] = {}
_WRITERS_LOCK = threading.Lock()
TURN_WAIT_SECONDS = 0.5  # then SQLite's own busy wait, as before (another process may hold the file's lock)


@contextmanager
def _turn(file: Path) -> Iterator[None]:
    """This process's write transactions on ``file`` take turns, each woken as soon as the one before ends: one left
    to SQLite's busy handler sleeps in growing steps (up to 100 ms each), and 20 sessions saving while they
    streamed starved some for 0.7-1.1 s. Where the turn does not come within TURN_WAIT_SECONDS (a writer waiting
    for another process's lock), the transaction goes on to SQLite's wait as before, so no wait adds up."""
    with _WRITERS_LOCK:
        lock = _WRITERS.setdefault(os.path.realpath(file), threading.RLock())
    taken = lock.acquire(timeout=TURN_WAIT_SECONDS)
    try:
        yield
    finally:
        if taken:
            lock.release()


@contextmanager
def _write_locked(db: Db) -> Iterator[None]:
    """One transaction that holds the write lock from its start (BEGIN IMMEDIATE); rolled back on any error."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


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
