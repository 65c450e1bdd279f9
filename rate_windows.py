"""The client-side rate limit kept in the database (table rate_windows, migration m010_rate_windows): every app
process on one database books its requests in one ledger, so RATE_LIMIT_RPM / RATE_LIMIT_TPM count them all.

Each booking is one short transaction that only one process at a time holds per bucket (a provider): PostgreSQL
takes an advisory lock on the bucket (``pg_advisory_xact_lock``, released with the transaction), SQLite's
``BEGIN IMMEDIATE`` holds the file's write lock. Inside it the rows that left the window go, the rest are read,
``rate_limiter.next_start`` chooses the start and the row goes in. The clock is the PostgreSQL server's (app servers
on several machines agree on it) or, for a SQLite file, which lives on one machine, that machine's.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import time
from collections.abc import Callable

from rate_limiter import WINDOW, Booking, MemoryLedger, Planner
from storage_backend import POSTGRESQL, Db
from store import Store

log = logging.getLogger(__name__)

RATE_LOCK = 0x72617465  # "rate": the first of the two int4 keys of a bucket's lock (apart from the migrations' key)


def shared_database(shared: str, database: str) -> str | None:
    """The database whose ledger the limiter uses (RATE_LIMIT_SHARED): ``auto`` shares it on PostgreSQL, where
    several app servers meet; ``on`` on a SQLite file too (several processes on one machine); None: this
    process's memory, as the single-user app always had it."""
    if shared == "on" or (shared == "auto" and database.startswith(("postgresql://", "postgres://"))):
        return database
    return None


def bucket_of(base_url: str) -> str:
    """A provider's bucket: a hash of its URL, so the table keeps no address (one might carry a token)."""
    return hashlib.sha256(base_url.encode()).hexdigest()[:32]


class TableLedger:
    """The bookings of one bucket in the ``rate_windows`` table of ``store``'s database."""

    def __init__(self, store: Store, bucket: str, clock: Callable[[], float] | None = None) -> None:
        """``clock``: seconds on a clock every process shares; None is the database server's (SQLite: time.time)."""
        self.store, self.bucket, self.clock = store, bucket, clock
        self._lock_key = int.from_bytes(bytes.fromhex(bucket[:8]), "big", signed=True)
        self._memory = MemoryLedger(clock or time.time)  # while the database fails, this process's memory counts

    def book(self, tokens: int, plan: Planner) -> float:
        try:
            with self.store.transaction() as db:
                if db.dialect == POSTGRESQL:
                    db.execute(
                        "SELECT pg_advisory_xact_lock(CAST(? AS integer), CAST(? AS integer))",
                        (RATE_LOCK, self._lock_key),
                    )
                now = self._now(db)
                db.execute("DELETE FROM rate_windows WHERE bucket = ? AND start_at <= ?", (self.bucket, now - WINDOW))
                start = plan(self._rows(db), now)
                db.execute(
                    "INSERT INTO rate_windows (bucket, start_at, tokens) VALUES (?, ?, ?)", (self.bucket, start, tokens)
                )
        except sqlite3.Error:  # PostgreSQL's come as StorageError, a sqlite3.Error; logged by the backend
            log.warning("rate limit: the database failed, this process counts its own requests meanwhile")
            return self._memory.book(tokens, plan)
        return start - now

    def booked(self) -> tuple[list[Booking], float]:
        try:
            with self.store.connection() as db:
                return self._rows(db), self._now(db)
        except sqlite3.Error:
            return self._memory.booked()

    def _rows(self, db: Db) -> list[Booking]:
        rows = db.execute(
            "SELECT start_at, tokens FROM rate_windows WHERE bucket = ? ORDER BY start_at", (self.bucket,)
        ).fetchall()
        return [Booking(row["start_at"], row["tokens"]) for row in rows]

    def _now(self, db: Db) -> float:
        if self.clock is not None:
            return self.clock()
        if db.dialect == POSTGRESQL:
            return float(db.execute("SELECT EXTRACT(EPOCH FROM clock_timestamp()) AS now").fetchone()["now"])
        return time.time()
