"""Migration 0003 (the desk's tables) matches the models on SQLite and PostgreSQL, and goes down and
up again cleanly."""

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config as AlembicConfig
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from dropbox import config
from dropbox.db import MIGRATIONS
from dropbox.models import Base

DESK_TABLES = {"desk_users", "desk_sessions", "login_throttle", "audit_log"}


def _alembic(url: str) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def _diff(url: str) -> tuple[list, set[str]]:
    engine = create_engine(url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        tables = set(inspect(conn).get_table_names())
    engine.dispose()
    return diff, tables


def test_the_desk_migration_matches_the_models_and_reverses(instance):
    url = config.load(instance).database_url
    diff, tables = _diff(url)
    assert diff == [] and tables >= DESK_TABLES
    command.downgrade(_alembic(url), "0002")
    assert not DESK_TABLES & _diff(url)[1]
    command.upgrade(_alembic(url), "head")
    diff, tables = _diff(url)
    assert diff == [] and tables >= DESK_TABLES
