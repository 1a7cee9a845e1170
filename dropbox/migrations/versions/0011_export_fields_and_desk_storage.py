"""export fields and desk storage

Revision ID: 0011
Revises: 0010

export_log.fields: each export bundle's manifest fields as signed, so that downloading it again gives
the same bytes whatever changed on the desk since (docs/bundles.md). Rows made before stay NULL and are
rebuilt from the live tables as before.

desk_storage: a running total of the ciphertext each desk holds, so the store's budget is read in one
small statement (dropbox/intake.py); filled here from the submissions not deleted by retention.
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("export_log", sa.Column("fields", sa.JSON, nullable=True))
    op.create_table(
        "desk_storage",
        sa.Column("desk_id", sa.Integer, sa.ForeignKey("desks.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("stored_bytes", sa.BigInteger, nullable=False),
    )
    op.execute(
        "INSERT INTO desk_storage (desk_id, stored_bytes) "
        "SELECT d.id, COALESCE((SELECT SUM(s.size) FROM submissions s "
        "WHERE s.desk_id = d.id AND s.deleted_day IS NULL), 0) FROM desks d"
    )


def downgrade() -> None:
    op.drop_table("desk_storage")
    with op.batch_alter_table("export_log") as batch:
        batch.drop_column("fields")
