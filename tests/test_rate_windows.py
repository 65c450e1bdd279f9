"""The rate limit kept in the database, on SQLite and PostgreSQL: two stores opened on one database stand for two
app processes (each has its own connections, or pool); threads and processes book at once."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from rate_limiter import RateLimiter
from rate_windows import TableLedger, bucket_of, shared_database
from store import Store

ROOT = Path(__file__).resolve().parent.parent
BUCKET = bucket_of("https://api.example.com/v1")


class FakeClock:
    """One clock all the test's limiters read, as the database server's is one for all app processes."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def limiter(store: Store, clock: Callable[[], float] | None, rpm: int = 0, tpm: int = 0) -> RateLimiter:
    return RateLimiter(rpm, tpm, ledger=TableLedger(store, BUCKET, clock))


def rows(store: Store) -> int:
    with store.connection() as db:
        return int(db.execute("SELECT COUNT(*) AS n FROM rate_windows").fetchone()["n"])


def test_two_processes_requests_count_against_one_limit(database_url, open_stores):
    clock = FakeClock()
    a, b = (limiter(open_stores(database_url), clock, rpm=2) for _ in range(2))
    assert [a.reserve(10), a.reserve(10)] == [0.0, 0.0]
    assert b.reserve(10) == 60.0  # the third request waits for the first to leave the minute
    assert a.reserve(10) == 60.0
    assert b.reserve(10) == 120.0
    assert a.used() == b.used() == (2, 20)  # the two queued for later are not counted yet
    clock.now += 61
    assert b.used() == (2, 20)  # the first two left, the two queued at +60 went


def test_tokens_per_minute_are_shared_and_capped_as_in_memory(database_url, open_stores):
    clock = FakeClock()
    a, b = (limiter(open_stores(database_url), clock, tpm=1000) for _ in range(2))
    assert a.reserve(600) == 0.0
    clock.now += 10
    assert b.reserve(600) == 50.0
    assert a.reserve(5000) == 110.0  # capped at the whole budget, after the second booking leaves
    memory = RateLimiter(tokens_per_minute=1000, clock=FakeClock())
    assert [memory.reserve(600), memory.reserve(600), memory.reserve(5000)] == [0.0, 60.0, 120.0]


def test_bookings_out_of_the_window_are_pruned_and_buckets_are_apart(database_url, open_stores):
    clock = FakeClock()
    store = open_stores(database_url)
    one = limiter(store, clock, rpm=1)
    other = RateLimiter(1, ledger=TableLedger(store, bucket_of("http://127.0.0.1:8000/v1"), clock))
    assert [one.reserve(1), other.reserve(1)] == [0.0, 0.0]  # another provider's bucket has its own minute
    assert rows(store) == 2
    clock.now += 60
    assert one.reserve(1) == 0.0
    assert rows(store) == 2  # the old booking of that bucket went as the new one came
    assert one.used() == (1, 1)


def test_a_disabled_limiter_never_touches_the_database(tmp_path):
    store = Store(tmp_path / "chats.db")
    off = limiter(store, None)
    assert [off.reserve(10**6) for _ in range(3)] == [0.0] * 3
    assert rows(store) == 0


def test_the_default_clock_is_the_databases(database_url, open_stores):
    a, b = (limiter(open_stores(database_url), None, rpm=1) for _ in range(2))
    assert a.reserve(5) == 0.0
    assert 55.0 < b.reserve(5) <= 60.0  # measured on one clock: what passed in between is taken off
    assert a.used() == (1, 5)


def test_threads_booking_at_once_never_share_a_place(database_url, open_stores):
    clock = FakeClock()
    limiters = [limiter(open_stores(database_url), clock, rpm=3) for _ in range(8)]
    start, waits = threading.Barrier(len(limiters)), []

    def book(one: RateLimiter) -> None:
        start.wait()
        waits.append(one.reserve(1))

    threads = [threading.Thread(target=book, args=(one,)) for one in limiters]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(waits) == [0.0, 0.0, 0.0, 60.0, 60.0, 60.0, 120.0, 120.0]


CHILD = """
import json, sys
from rate_limiter import RateLimiter
from rate_windows import TableLedger
from store import Store
url, bucket, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
sys.stdin.readline()  # every process is ready: go
store = Store.open(url)
limiter = RateLimiter(2, ledger=TableLedger(store, bucket, lambda: 1_800_000_000.0))
print(json.dumps([limiter.reserve(1) for _ in range(count)]))
store.close()
"""


def test_processes_booking_at_once_never_share_a_place(database_url, open_stores):
    open_stores(database_url)  # migrated once here; the children find it so
    children = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, database_url, BUCKET, "3"],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    outputs = [child.communicate("go\n", timeout=60)[0] for child in children]
    assert all(child.returncode == 0 for child in children)
    waits = sorted(wait for output in outputs for wait in json.loads(output))
    assert waits == [0.0, 0.0, 60.0, 60.0, 120.0, 120.0, 180.0, 180.0, 240.0]


@pytest.mark.parametrize(
    ("shared", "database", "expected"),
    [
        ("auto", "/data/chats.db", None),
        ("auto", "sqlite:///data/chats.db", None),
        ("auto", "postgresql://app@db/chat", "postgresql://app@db/chat"),
        ("auto", "postgres://app@db/chat", "postgres://app@db/chat"),
        ("on", "/data/chats.db", "/data/chats.db"),
        ("off", "postgresql://app@db/chat", None),
    ],
)
def test_the_database_holds_the_limit_where_app_servers_share_it(shared, database, expected):
    assert shared_database(shared, database) == expected
