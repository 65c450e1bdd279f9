"""SQLite writers of one process take turns (storage_backend._turn) before SQLite's own lock: every write lands,
and a writer held up by another process's lock still fails as before instead of holding the others forever."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

import storage_backend
from storage_backend import SqliteBackend


def table(path: Path) -> SqliteBackend:
    backend = SqliteBackend(path)
    with backend.transaction() as db:
        db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
    return backend


def test_writers_in_many_threads_all_land(tmp_path: Path):
    backend, other = table(tmp_path / "x.db"), SqliteBackend(tmp_path / "x.db")  # two backends, one file
    failures: list[BaseException] = []

    def write(n: int) -> None:
        try:
            for i in range(5):
                with (backend if n % 2 else other).transaction() as db:
                    db.execute("INSERT INTO t (id, v) VALUES (?, ?)", (n * 10 + i, "x"))
        except BaseException as error:  # noqa: BLE001 - reported below
            failures.append(error)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    with backend.connection() as db:
        assert db.execute("SELECT COUNT(*) AS n FROM t").fetchone()["n"] == 100


def test_a_write_that_fails_inside_its_turn_rolls_back_and_frees_the_turn(tmp_path: Path):
    backend = table(tmp_path / "x.db")
    with pytest.raises(ZeroDivisionError), backend.transaction() as db:
        db.execute("INSERT INTO t (id, v) VALUES (1, 'gone')")
        raise ZeroDivisionError
    done = threading.Event()

    def write() -> None:
        with backend.transaction() as db:
            db.execute("INSERT INTO t (id, v) VALUES (2, 'kept')")
        done.set()

    threading.Thread(target=write).start()
    assert done.wait(5)
    with backend.connection() as db:
        assert [row["v"] for row in db.execute("SELECT v FROM t").fetchall()] == ["kept"]


def test_writers_held_up_by_another_process_still_fail_as_before_and_the_file_works_after(tmp_path, monkeypatch):
    monkeypatch.setattr(storage_backend, "WAIT_SECONDS", 1)
    monkeypatch.setattr(storage_backend, "TURN_WAIT_SECONDS", 0.1)
    backend = table(tmp_path / "x.db")
    outside = sqlite3.connect(tmp_path / "x.db", isolation_level=None)
    outside.execute("BEGIN EXCLUSIVE")  # as a second app process or a backup tool would
    errors: list[BaseException] = []

    def write(n: int) -> None:
        try:
            with backend.transaction() as db:
                db.execute("INSERT INTO t (id, v) VALUES (?, 'x')", (n,))
        except sqlite3.OperationalError as error:
            errors.append(error)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    outside.execute("ROLLBACK")
    outside.close()
    assert len(errors) == 3 and all("locked" in str(error) for error in errors)
    write(9)
    with backend.connection() as db:
        assert [row["id"] for row in db.execute("SELECT id FROM t").fetchall()] == [9]
