"""A SQLite commit is on disk before its writer goes on, though the other processes' writers need not
wait for its fsync (dropbox/db.py): the database commits with synchronous=NORMAL, and the writer lets go
of the flock, then fdatasyncs the WAL, then lets the next writer of its own process in."""

from __future__ import annotations

import errno
import multiprocessing
import sqlite3
import threading
import time

import pytest
from sqlalchemy import text

from dropbox import db
from tests.helpers import fail_wal_syncs


def _count(database: str) -> int:
    with sqlite3.connect(database) as reader:  # what is committed (in the WAL) right now
        return reader.execute("SELECT count(*) FROM notes").fetchone()[0]


@pytest.fixture
def database(tmp_path) -> str:
    path = str(tmp_path / "wal.db")
    with sqlite3.connect(path) as setup:
        setup.execute("PRAGMA journal_mode=WAL")
        setup.execute("CREATE TABLE notes (n INTEGER UNIQUE)")
    return path


def _recorded(monkeypatch, database: str, during=None) -> list[tuple[str, int]]:
    """fdatasync replaced by a recorder of the path synced and the rows committed at that moment;
    `during()` runs inside the sync, as a slow disk would let things happen."""
    calls: list[tuple[str, int]] = []

    def sync(path: str) -> None:
        calls.append((path, _count(database)))
        if during is not None:
            during()

    monkeypatch.setattr(db, "_fdatasync", sync)
    return calls


def test_a_commit_returns_after_an_fsync_of_the_wal_that_follows_it(database, monkeypatch):
    calls = _recorded(monkeypatch, database)
    engine = db.make_engine(f"sqlite:///{database}")
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA synchronous")).scalar() == 1  # NORMAL: commits write, not sync
        conn.execute(text("INSERT INTO notes (n) VALUES (1)"))
        assert calls == []  # nothing synced while the transaction is open
        conn.commit()
        assert calls == [(f"{database}-wal", 1)]  # synced after the row was committed, before commit returned
        conn.execute(text("SELECT count(*) FROM notes")).all()
        conn.commit()
    assert len(calls) == 1  # a read-only transaction syncs nothing
    engine.dispose()


def test_a_write_transaction_that_rolls_back_syncs_too(database, monkeypatch):
    """Its writes may have failed on another process's commit not synced yet (a form posted twice at
    once): what it answers from it must be durable too."""
    calls = _recorded(monkeypatch, database)
    engine = db.make_engine(f"sqlite:///{database}")
    with engine.connect() as conn:
        conn.execute(text("INSERT INTO notes (n) VALUES (1)"))
        conn.commit()
        with pytest.raises(Exception, match="UNIQUE"):
            conn.execute(text("INSERT INTO notes (n) VALUES (1)"))
        conn.rollback()
    assert len(calls) == 2
    engine.dispose()


def _write_one(url: str, n: int) -> None:
    engine = db.make_engine(url)
    with engine.connect() as conn:
        conn.execute(text("INSERT INTO notes (n) VALUES (:n)"), {"n": n})
        conn.commit()
    engine.dispose()


def test_another_process_writes_while_this_commit_syncs(database, monkeypatch):
    """The flock is let go before the fsync: a writer in another process commits while it runs (were the
    flock still held, it would wait BUSY_TIMEOUT_S and this test time out)."""
    url = f"sqlite:///{database}"
    other_wrote: list[bool] = []

    def other_process_writes() -> None:
        if other_wrote:
            return
        child = multiprocessing.get_context("spawn").Process(target=_write_one, args=(url, 2))
        child.start()
        child.join(timeout=20)
        other_wrote.append(child.exitcode == 0)

    _recorded(monkeypatch, database, during=other_process_writes)
    engine = db.make_engine(url)
    with engine.connect() as conn:
        conn.execute(text("INSERT INTO notes (n) VALUES (1)"))
        conn.commit()
    engine.dispose()
    assert other_wrote == [True] and _count(database) == 2


def test_this_process_next_writer_waits_for_the_sync(database, monkeypatch):
    """Within a process the next writer starts after the sync: let in sooner it would only be one more
    thread wanting the interpreter lock (module docstring)."""
    url = f"sqlite:///{database}"
    events: list[str] = []
    second = threading.Thread(target=lambda: (_write_one(url, 2), events.append("second committed")))

    def slow_disk() -> None:
        if not events:
            events.append("sync began")
            second.start()
            time.sleep(0.3)
            events.append("sync ended")

    _recorded(monkeypatch, database, during=slow_disk)
    _write_one(url, 1)
    second.join(timeout=30)
    assert events == ["sync began", "sync ended", "second committed"]


def test_a_missing_wal_file_has_nothing_to_sync(tmp_path):
    db._fdatasync(str(tmp_path / "gone-wal"))  # no error: SQLite removes it only after a full checkpoint


def test_a_commit_whose_sync_fails_stands_and_says_so(database, monkeypatch):
    """The commit is in the WAL, and other connections see it, before the sync fails: the error says
    "committed" (db.committed), so the filing keeps the blobs its rows name; the next writer goes on."""
    fail_wal_syncs(monkeypatch)
    engine = db.make_engine(f"sqlite:///{database}")
    with engine.connect() as conn:
        conn.execute(text("INSERT INTO notes (n) VALUES (1)"))
        with pytest.raises(db.CommittedNotDurable) as raised:
            conn.commit()
        assert db.committed(raised.value) and raised.value.errno == errno.EIO
        assert _count(database) == 1
        conn.rollback()  # SQLAlchemy's own transaction ended in an error; the row stands
        assert _count(database) == 1
        monkeypatch.undo()
        conn.execute(text("INSERT INTO notes (n) VALUES (2)"))  # the queue and the flock were let go
        conn.commit()
    assert _count(database) == 2
    engine.dispose()


def test_a_rollback_whose_sync_fails_is_not_called_committed(database, monkeypatch):
    engine = db.make_engine(f"sqlite:///{database}")
    with engine.connect() as conn:
        conn.execute(text("INSERT INTO notes (n) VALUES (1)"))
        fail_wal_syncs(monkeypatch)
        with pytest.raises(OSError) as raised:
            conn.rollback()
        assert not db.committed(raised.value)
    assert _count(database) == 0
    engine.dispose()
