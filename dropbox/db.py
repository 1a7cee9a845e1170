"""Database wiring: one engine per app, a session per request, Alembic migrations.

SQLite (WAL, foreign keys on) is the embedded default; PostgreSQL is used by URL. Nothing else in
`dropbox` creates engines or sessions.

SQLite lets one writer at a time hold a database, and a writer that finds it taken polls, sleeping up to
100 ms between tries: with four no-JS reporters at once that polling was the p99 (bench.ingest
--latency), and with `serve --workers 2` it kept two workers to the rate of one (bench.scale). So on
SQLite a transaction's first write waits in a queue of this process's writers (a lock per database file,
woken the moment the writer before it commits), then for the file's writers in every process (an flock
on `<database>-writers.lock`, tried again within a millisecond, not SQLite's 100), and then takes the
database with BEGIN IMMEDIATE, which then finds it free; reads never wait.

A commit is durable before anyone hears of it, but the other processes' writers need not wait for its
fsync: SQLite commits with synchronous=NORMAL (the WAL frames are written, not synced); the writer lets
go of the flock, then fdatasyncs the WAL file, then lets the next writer of its own process in. The fsync,
and the interpreter lock taken back after it, were a third of the time the flock was held, which two
workers spent waiting for each other (bench.scale, alternating the two versions: 2 workers from 1.3x to
1.6x one). This process's next writer still waits for it: let in at once, it only adds a thread wanting
the interpreter lock, which cost a worker 0.8 ms of CPU a report. A write transaction that rolls back
syncs too: what it read may be another writer's commit not yet synced (a form filed twice at once).
A commit whose sync fails raises CommittedNotDurable, not the plain OSError: its rows stand, so the
caller must keep the blobs they name.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import sqlite3
import threading
import time
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from flask import Flask, g
from sqlalchemy import Engine, create_engine, event, make_url, text
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).parent / "migrations"
BUSY_TIMEOUT_S = 30  # how long a writer waits for the database, in the queue or at SQLite's lock
WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE", "CREATE", "DROP", "ALTER")

# By database URL: the file's writers in this process. Process-wide, as the file's own lock is: the
# reporter app, the desk app and the retention schedule each have an engine on the same file.
_write_queues: dict[str, threading.Lock] = {}
_write_queues_guard = threading.Lock()


class CommittedNotDurable(OSError):
    """A commit went through, and other connections already see it, but syncing it to disk failed: the
    disk is failing. The request fails, as it must not promise what may not survive a power cut; but its
    rows stand, so the caller keeps the files they name (blobs), which it undoes after a failed commit.
    Tell the two apart with `committed`."""


def committed(error: BaseException) -> bool:
    """Whether `error`, raised by a commit, came after the commit went through (CommittedNotDurable):
    then whatever the transaction's rows name must stay."""
    return isinstance(error, CommittedNotDurable)


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        factory = _queued_connection_class(_write_queue(url), _writers_lock_path(url), _wal_path(url))
        engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_S, "factory": factory})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def _write_queue(url: str) -> threading.Lock:
    with _write_queues_guard:
        return _write_queues.setdefault(url, threading.Lock())


def _wal_path(url: str) -> str | None:
    """The database's WAL file, which each write transaction syncs as it ends; None in memory."""
    return _beside_database(url, "-wal")


def _writers_lock_path(url: str) -> str | None:
    """The file every process's writers of this database meet at; None for a database in memory."""
    return _beside_database(url, "-writers.lock")


def _beside_database(url: str, suffix: str) -> str | None:
    database = make_url(url).database
    return None if not database or database == ":memory:" else f"{database}{suffix}"


def _queued_connection_class(
    queue: threading.Lock, lock_path: str | None, wal_path: str | None
) -> type[sqlite3.Connection]:
    attributes = {"queue": queue, "lock_path": lock_path, "wal_path": wal_path}
    return type("QueuedWriterConnection", (QueuedWriterConnection,), attributes)


class QueuedWriterConnection(sqlite3.Connection):
    """A pysqlite connection that starts no transaction for reads and, for the first write of one,
    waits in `queue` and then begins it IMMEDIATE; commit, rollback or close lets the next writer in.
    A plain lock, not a re-entrant one: whichever thread ends the transaction may let go of it. A
    thread that writes on a second connection while its first holds the queue waits BUSY_TIMEOUT_S and
    gets "database is locked", as it would from SQLite's own lock."""

    queue: threading.Lock
    lock_path: str | None
    wal_path: str | None

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.isolation_level = None  # no implicit BEGIN: transactions begin in begin_write
        self.writing = False
        self._lock_fd: int | None = None

    def cursor(self, factory=None) -> sqlite3.Cursor:
        return super().cursor(factory or QueuedWriterCursor)

    def begin_write(self) -> None:
        if self.writing or self.in_transaction:
            return
        if not self.queue.acquire(timeout=BUSY_TIMEOUT_S):
            raise sqlite3.OperationalError("database is locked")
        try:
            self._lock_other_processes()
            super().cursor().execute("BEGIN IMMEDIATE")
        except BaseException:
            self._unlock_other_processes()
            self.queue.release()
            raise
        self.writing = True

    def _lock_other_processes(self) -> None:
        """Wait for the writers of other processes (flock on lock_path), trying again every few hundred
        microseconds at most, up to BUSY_TIMEOUT_S."""
        if self.lock_path is None:
            return
        if self._lock_fd is None:
            self._lock_fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        deadline, pause = time.monotonic() + BUSY_TIMEOUT_S, 0.00005
        while True:
            try:
                fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise sqlite3.OperationalError("database is locked") from None
                time.sleep(pause)
                pause = min(pause * 2, 0.0005)

    def _unlock_other_processes(self) -> None:
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def _done_writing(self, committed: bool = False) -> None:
        if self.writing:
            self.writing = False
            self._unlock_other_processes()  # other processes may write while this commit syncs
            try:
                if self.wal_path is not None:
                    _fdatasync(self.wal_path)
            except OSError as error:
                if committed:
                    raise CommittedNotDurable(error.errno, error.strerror) from error
                raise
            finally:
                self.queue.release()

    def commit(self) -> None:
        committed = False
        try:
            super().commit()
            committed = True
        finally:
            self._done_writing(committed)

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self._done_writing()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._done_writing()
            if self._lock_fd is not None:
                os.close(self._lock_fd)
                self._lock_fd = None


def _fdatasync(path: str) -> None:
    """fdatasync the file at `path` through a descriptor of its own; no file, nothing to sync: SQLite
    deletes the WAL only after a checkpoint that synced its frames into the database."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return
    try:
        os.fdatasync(fd)
    finally:
        os.close(fd)


class QueuedWriterCursor(sqlite3.Cursor):
    def execute(self, sql: str, parameters=(), /) -> sqlite3.Cursor:
        if sql.lstrip()[:7].upper().startswith(WRITES):
            self.connection.begin_write()
        return super().execute(sql, parameters)

    def executemany(self, sql: str, seq_of_parameters, /) -> sqlite3.Cursor:
        if sql.lstrip()[:7].upper().startswith(WRITES):
            self.connection.begin_write()
        return super().executemany(sql, seq_of_parameters)


def lock_for_writing(session: Session, name: str) -> None:
    """Until the session's transaction ends, no other transaction that asks for `name` proceeds, in
    any process: a check and the write it allows become one step (e.g. counting open uploads, then
    adding one). SQLite: the database's write lock, taken now (BEGIN IMMEDIATE, through the queue);
    PostgreSQL: a transaction-level advisory lock named by `name`."""
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        connection.connection.dbapi_connection.begin_write()
        return
    key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
    connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    # NORMAL: a commit writes the WAL without syncing it; _done_writing syncs it (module docstring)
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def migrate(url: str) -> None:
    """Bring the database at `url` to the newest schema."""
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    command.upgrade(cfg, "head")


def init_app(app: Flask, url: str) -> None:
    engine = make_engine(url)
    factory = sessionmaker(engine, expire_on_commit=False)
    app.extensions["sealdrop.engine"] = engine
    app.extensions["sealdrop.sessions"] = factory

    @app.teardown_appcontext
    def _close(_exc: BaseException | None) -> None:
        session = g.pop("db_session", None)
        if session is not None:
            session.close()


def session() -> Session:
    """The request's session (created on first use, closed at teardown)."""
    from flask import current_app

    if "db_session" not in g:
        g.db_session = current_app.extensions["sealdrop.sessions"]()
    return g.db_session


def standalone_session(url: str) -> Session:
    """A session for the CLI, outside any request."""
    return sessionmaker(make_engine(url), expire_on_commit=False)()
