"""staff language and retired officers

Revision ID: 0006
Revises: 0005

Two new columns: the language a desk user reads the desk in (null: the browser's), and whether an
officer's key is retired (no new report is sealed to it; reports sealed to it before still open).
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("desk_users") as batch:
        batch.add_column(sa.Column("language", sa.String(length=8), nullable=True))
    with op.batch_alter_table("officers") as batch:
        batch.add_column(sa.Column("retired", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("officers") as batch:
        batch.drop_column("retired")
    with op.batch_alter_table("desk_users") as batch:
        batch.drop_column("language")
