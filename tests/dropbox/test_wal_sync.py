"""A SQLite commit is on disk before its writer goes on, though its fsync runs after the write lock is
let go (dropbox/db.py, WalSync): the database commits with synchronous=NORMAL, and the writer's thread
then waits for an fdatasync of the WAL begun after its commit, one fsync serving every writer that came
while the one before ran."""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest
from sqlalchemy import text

from dropbox import db


class RecordedSyncs:
    """Stands in for fdatasync: records each call and what a fresh connection could read at that moment."""

    def __init__(self, database: str, pause_s: float = 0.0) -> None:
        self.database, self.pause_s = database, pause_s
        self.calls: list[tuple[str, int]] = []

    def __call__(self, path: str) -> None:
        with sqlite3.connect(self.database) as reader:  # what is committed (in the WAL) right now
            rows = reader.execute("SELECT count(*) FROM notes").fetchone()[0]
        self.calls.append((path, rows))
        time.sleep(self.pause_s)


@pytest.fixture
def database(tmp_path, monkeypatch) -> tuple[str, RecordedSyncs]:
    path = str(tmp_path / "wal.db")
    syncs = RecordedSyncs(path)
    monkeypatch.setattr(db, "_fdatasync", syncs)
    monkeypatch.setattr(db, "_wal_syncs", {})
    with sqlite3.connect(path) as setup:
        setup.execute("CREATE TABLE notes (n INTEGER UNIQUE)")
    return f"sqlite:///{path}", syncs


def test_a_commit_returns_after_an_fsync_of_the_wal_that_began_after_it(database):
    url, syncs = database
    engine = db.make_engine(url)
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA synchronous")).scalar() == 1  # NORMAL: commits write, not sync
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        conn.execute(text("INSERT INTO notes (n) VALUES (1)"))
        assert syncs.calls == []  # nothing synced while the transaction is open
        conn.commit()
        assert syncs.calls == [(url.removeprefix("sqlite:///") + "-wal", 1)]  # the row was in the WAL
        conn.execute(text("SELECT count(*) FROM notes")).all()
        conn.commit()
    assert len(syncs.calls) == 1  # a read-only transaction syncs nothing
    engine.dispose()


def test_a_write_transaction_that_rolls_back_waits_for_the_fsync_too(database):
    """Its writes may have failed on another writer's commit not synced yet (a form posted twice at
    once): what it answers from it must be durable too."""
    url, syncs = database
    engine = db.make_engine(url)
    with engine.connect() as conn:
        conn.execute(text("INSERT INTO notes (n) VALUES (1)"))
        conn.commit()
        with pytest.raises(Exception, match="UNIQUE"):
            conn.execute(text("INSERT INTO notes (n) VALUES (1)"))
        conn.rollback()
    assert len(syncs.calls) == 2
    engine.dispose()


def test_writers_that_commit_while_an_fsync_runs_share_the_next_one(tmp_path):
    """Twelve threads commit at once while each fsync takes 100 ms: every one returns only after an
    fsync that began after its own call and ended before it returned, and they need far fewer fsyncs
    than commits."""
    syncs: list[tuple[float, float]] = []

    def slow_sync(_path: str) -> None:
        began = time.monotonic()
        time.sleep(0.1)
        syncs.append((began, time.monotonic()))

    wal = db.WalSync(str(tmp_path / "x-wal"), slow_sync)
    waits: list[tuple[float, float]] = []
    together = threading.Barrier(12)

    def commit() -> None:
        together.wait()
        called = time.monotonic()
        wal.wait_durable()
        waits.append((called, time.monotonic()))

    threads = [threading.Thread(target=commit) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(waits) == 12
    for called, returned in waits:
        assert any(called <= began and ended <= returned for began, ended in syncs)
    assert len(syncs) < 12  # shared


def test_an_fsync_that_fails_is_not_taken_for_done(tmp_path):
    attempts: list[int] = []

    def failing_once(_path: str) -> None:
        attempts.append(1)
        if len(attempts) == 1:
            raise OSError(5, "Input/output error")

    wal = db.WalSync(str(tmp_path / "x-wal"), failing_once)
    with pytest.raises(OSError):
        wal.wait_durable()
    assert wal._done == 0
    wal.wait_durable()  # the next caller syncs again, for both tickets
    assert wal._done == 2 and len(attempts) == 2


def test_a_missing_wal_file_has_nothing_to_sync(tmp_path):
    db._fdatasync(str(tmp_path / "gone-wal"))  # no error: SQLite removed it after a full checkpoint
