"""placement counts: poster scans per desk, placement tag and day

Revision ID: 0004
Revises: 0003

One new table, nothing else changes. A row is a count and nothing more (docs/operator-guide.md,
"Posters").
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "placement_counts",
        sa.Column("desk_id", sa.Integer(), nullable=False),
        sa.Column("tag", sa.String(length=40), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False, server_default="0"),
        sa.ForeignKeyConstraint(["desk_id"], ["desks.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("desk_id", "tag", "day"),
    )


def downgrade() -> None:
    op.drop_table("placement_counts")
