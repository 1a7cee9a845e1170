"""Database wiring: one engine per app, a session per request, Alembic migrations.

SQLite (WAL, foreign keys on) is the embedded default; PostgreSQL is used by URL. Nothing else in
`dropbox` creates engines or sessions.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from flask import Flask, g
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).parent / "migrations"


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")  # the row is committed only after its blob is durable
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
