"""map sheets

Revision ID: 0009
Revises: 0008

For issue 16: one new table, the desk's georeferenced map pictures (docs/maps.md). The picture's bytes
live in the row (a few hundred kilobytes each), so every instance over one database serves the same
sheets without a shared blob store.
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "map_sheets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("desk_id", sa.Integer(), nullable=False),
        sa.Column("names", sa.JSON(), nullable=False),
        sa.Column("south", sa.Double(), nullable=False),
        sa.Column("west", sa.Double(), nullable=False),
        sa.Column("north", sa.Double(), nullable=False),
        sa.Column("east", sa.Double(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("image", sa.LargeBinary(), nullable=False),
        sa.Column("attribution", sa.String(length=300), nullable=False),
        sa.Column("licence", sa.String(length=100), nullable=False),
        sa.Column("detail_of_id", sa.Integer(), nullable=True),
        sa.Column("created_day", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(["desk_id"], ["desks.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["detail_of_id"], ["map_sheets.id"]),
        sa.PrimaryKeyConstraint("id"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_map_sheets_desk_id", "map_sheets", ["desk_id"])


def downgrade() -> None:
    op.drop_index("ix_map_sheets_desk_id", table_name="map_sheets")
    op.drop_table("map_sheets")
