"""The PostgreSQL backend (storage_backend.py's interface): a psycopg_pool pool of autocommit connections, opened
only when DATABASE_URL names a postgresql:// database, so the single-user SQLite app never imports psycopg."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, cast

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from config import display_url
from storage_backend import (
    MIGRATION_LOCK,
    POOL_MAX,
    POSTGRESQL,
    WAIT_SECONDS,
    Cursor,
    Db,
    Dialect,
    StorageError,
    StorageIntegrityError,
)

log = logging.getLogger("storage_backend")  # the storage log, whichever backend


@lru_cache(maxsize=512)
def _format_placeholders(sql: str) -> str:
    """A statement written with ``?`` as psycopg takes it (``%s``; a literal % doubled)."""
    return sql.replace("%", "%%").replace("?", "%s")


def _text_value(value: Any) -> Any:
    """PostgreSQL text cannot hold NUL: a stored one becomes U+FFFD (the JSON of a message keeps it escaped)."""
    return value.replace("\x00", "\ufffd") if isinstance(value, str) else value


class PostgresDb:
    dialect: Dialect = POSTGRESQL

    def __init__(self, connection: psycopg.Connection[Any]) -> None:
        self.connection = connection

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        cursor = self.connection.cursor(row_factory=dict_row)
        cursor.execute(_format_placeholders(sql), [_text_value(value) for value in params])
        return cursor

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        values = [[_text_value(value) for value in row] for row in rows]
        if values:
            with self.connection.cursor() as cursor:
                cursor.executemany(_format_placeholders(sql), values)

    def script(self, *, sqlite: str, postgresql: str) -> None:
        """The whole text at once (no parameters: PostgreSQL runs several statements then)."""
        self.connection.execute(postgresql.encode())


class PostgresBackend:
    """A psycopg_pool pool of autocommit connections to the database ``url`` names (one per app process)."""

    dialect: Dialect = POSTGRESQL

    def __init__(self, url: str) -> None:
        self.path: Path | None = None
        self.shown = display_url(url) or "postgresql"
        self.pool: ConnectionPool[Any] = ConnectionPool(
            url, min_size=1, max_size=POOL_MAX, timeout=WAIT_SECONDS, kwargs={"autocommit": True}, open=True
        )

    @contextmanager
    def connection(self) -> Iterator[PostgresDb]:
        """A pooled connection; a PostgreSQL error is logged (with the server, never the password) and raised
        as StorageError."""
        try:
            with self.pool.connection() as connection:
                yield PostgresDb(connection)
        except psycopg.Error as error:
            log.error("storage error on %s: %s", self.shown, error)
            kind = StorageIntegrityError if isinstance(error, psycopg.IntegrityError) else StorageError
            raise kind(str(error)) from error

    @contextmanager
    def transaction(self) -> Iterator[PostgresDb]:
        with self.connection() as db, db.connection.transaction():
            yield db

    def migrating(self) -> AbstractContextManager[PostgresDb]:
        return self.connection()

    @contextmanager
    def locked(self, db: Db) -> Iterator[None]:
        """A transaction holding the migrations' advisory lock (released with it): one process at a time."""
        with cast(PostgresDb, db).connection.transaction():
            db.execute("SELECT pg_advisory_xact_lock(?)", (MIGRATION_LOCK,))
            yield

    def close(self) -> None:
        self.pool.close()
