"""config version

Revision ID: 0012
Revises: 0011

config_version: one row whose number moves whenever anything a report page shows, or any key a report
is sealed to, changes (docs/architecture.md, "The report page's cache"). Every process keeps the desk's
page and its parsed recipient keys under the number it read before reading them, and reads the number
again (one tiny statement) on every request: a change made by any process, the CLI or another instance
is seen at once, and no code path that writes these tables can forget to say so, because the database
moves the number itself, by triggers, in the same transaction as the change.

PostgreSQL: a deferred constraint trigger moves it at commit, after all the transaction's other locks
are held, so two transactions changing two watched tables in opposite orders cannot deadlock on it.
SQLite has one writer at a time: a plain trigger per table and operation.

A later migration that rebuilds one of these tables on SQLite (batch_alter_table copies it) drops its
triggers: tests/dropbox/test_config_version.py checks every watched table still moves the number.
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

WATCHED_TABLES = (
    "desks",
    "categories",
    "places",
    "officers",
    "category_officers",
    "key_changes",
    "map_sheets",
)
FUNCTION = "sealdrop_bump_config_version"


def upgrade() -> None:
    op.create_table(
        "config_version",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("version", sa.BigInteger, nullable=False),
    )
    op.execute("INSERT INTO config_version (id, version) VALUES (1, 1)")
    if op.get_bind().dialect.name == "postgresql":
        _postgresql_triggers()
    else:
        _sqlite_triggers()


def _postgresql_triggers() -> None:
    op.execute(
        f"CREATE FUNCTION {FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$ "  # noqa: S608
        "BEGIN UPDATE config_version SET version = version + 1 WHERE id = 1; RETURN NULL; END $$"
    )
    for table in WATCHED_TABLES:
        op.execute(
            f"CREATE CONSTRAINT TRIGGER {table}_moves_config_version "
            f"AFTER INSERT OR UPDATE OR DELETE ON {table} DEFERRABLE INITIALLY DEFERRED "
            f"FOR EACH ROW EXECUTE FUNCTION {FUNCTION}()"
        )


def _sqlite_triggers() -> None:
    for table in WATCHED_TABLES:
        for operation in ("INSERT", "UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_{operation.lower()}_moves_config_version "  # noqa: S608
                f"AFTER {operation} ON {table} FOR EACH ROW "
                "BEGIN UPDATE config_version SET version = version + 1 WHERE id = 1; END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in WATCHED_TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_moves_config_version ON {table}")
        op.execute(f"DROP FUNCTION IF EXISTS {FUNCTION}()")
    else:
        for table in WATCHED_TABLES:
            for operation in ("insert", "update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_{operation}_moves_config_version")
    op.drop_table("config_version")
