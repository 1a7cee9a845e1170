"""SQLite writers of several processes (`serve --workers`, the CLI beside serve) meet at one flock beside
the database (dropbox/db.py) instead of SQLite's own lock, which polls with sleeps of up to 100 ms: every
write lands, none is refused as "database is locked", and the lock file is the service's own."""

from __future__ import annotations

import multiprocessing
import stat
import time

import pytest
from sqlalchemy import text

from dropbox import config, db

WRITES_EACH = 150


def _writer(url: str, name: str, ready, go) -> int:
    engine = db.make_engine(url)
    ready.wait()
    go.wait()
    done = 0
    with engine.connect() as conn:
        for i in range(WRITES_EACH):
            conn.execute(text("INSERT INTO writes (who, n) VALUES (:who, :n)"), {"who": name, "n": i})
            conn.commit()
            done += 1
    engine.dispose()
    return done


@pytest.fixture
def url(sqlite_instance) -> str:
    """The instance's database, with a table for the writers."""
    url = config.load(sqlite_instance).database_url
    engine = db.make_engine(url)
    with engine.connect() as conn:
        conn.execute(text("CREATE TABLE writes (who TEXT, n INTEGER)"))
        conn.commit()
    engine.dispose()
    return url


def test_writers_in_three_processes_all_land(sqlite_instance, url):
    engine = db.make_engine(url)
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager:
        ready, go = manager.Barrier(4), manager.Event()
        with context.Pool(3) as pool:
            results = [pool.apply_async(_writer, (url, f"p{i}", ready, go)) for i in range(3)]
            ready.wait()
            go.set()  # all three start writing at once
            assert [r.get(timeout=300) for r in results] == [WRITES_EACH] * 3
    with engine.connect() as conn:
        counts = dict(conn.execute(text("SELECT who, count(*) FROM writes GROUP BY who")).all())
    engine.dispose()
    assert counts == {"p0": WRITES_EACH, "p1": WRITES_EACH, "p2": WRITES_EACH}
    lock = sqlite_instance / f"{config.load(sqlite_instance).database_url.rsplit('/', 1)[1]}-writers.lock"
    assert lock.exists() and stat.S_IMODE(lock.stat().st_mode) == 0o600


def test_a_writer_waits_for_another_process_instead_of_failing(url):
    """One process holds a write transaction; another's write goes on once it commits."""
    holder = db.make_engine(url)
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager:
        ready, go = manager.Barrier(2), manager.Event()
        with context.Pool(1) as pool, holder.connect() as conn:
            conn.execute(text("INSERT INTO writes (who, n) VALUES ('holder', 0)"))  # takes the writers' lock
            waiting = pool.apply_async(_writer, (url, "other", ready, go))
            ready.wait()
            go.set()
            time.sleep(0.5)  # long enough for it to be waiting (not a timing assertion)
            assert not waiting.ready()  # it cannot write while the holder's transaction is open ...
            conn.commit()
            assert waiting.get(timeout=300) == WRITES_EACH  # ... and writes everything once it is not
    holder.dispose()
