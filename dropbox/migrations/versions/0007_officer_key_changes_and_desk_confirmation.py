"""officer key changes and desk confirmation

Revision ID: 0007
Revises: 0006

For issue 14 items 3 and 5 (docs/key-trust.md): the key that replaced an officer's key by rotation,
every change to who reads a desk's reports (carried in its next export), and the key statements a
desk applied (a replayed one is refused).
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("officers") as batch:
        batch.add_column(sa.Column("successor_id", sa.Integer(), nullable=True))
        batch.create_foreign_key("fk_officers_successor", "officers", ["successor_id"], ["id"])
    op.create_table(
        "key_changes",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("desk_id", sa.Integer(), sa.ForeignKey("desks.id", ondelete="CASCADE"), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("fingerprint", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("detail", sa.String(length=200), nullable=False),
        sa.Column("actor", sa.String(length=80), nullable=False),
        sa.Column("by_officer", sa.Boolean(), nullable=False),
        sa.Column("statement", sa.String(length=4096), nullable=True),
        sa.Column("exported_seq", sa.Integer(), nullable=True),
    )
    op.create_index("ix_key_changes_desk_id", "key_changes", ["desk_id"])
    op.create_table(
        "key_statements",
        sa.Column("nonce", sa.String(length=32), primary_key=True),
        sa.Column("sha256", sa.String(length=64), nullable=False, unique=True),
        sa.Column("desk_id", sa.Integer(), sa.ForeignKey("desks.id", ondelete="CASCADE"), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("key_statements")
    op.drop_index("ix_key_changes_desk_id", table_name="key_changes")
    op.drop_table("key_changes")
    with op.batch_alter_table("officers") as batch:
        batch.drop_constraint("fk_officers_successor", type_="foreignkey")
        batch.drop_column("successor_id")
