"""shared blob store

Revision ID: 0010
Revises: 0009

For issue 15: instances on several machines keep their blobs as PostgreSQL large objects
(dropbox/blobs.py, LargeObjectStore, config `blob_store = "postgresql"`). This table names each large
object by blob id. Made on SQLite too, where it stays empty (one machine keeps its blobs as files),
so that both databases match the models.
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "blob_objects",
        sa.Column("blob_id", sa.String(32), primary_key=True),
        sa.Column("oid", sa.BigInteger, nullable=False, unique=True),  # the large object (PostgreSQL oid)
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("received_day", sa.Date, nullable=False),  # the day only, as a file blob's times
        # While the blob holds an upload's pieces: the upload, and the minute they were last written
        # (the sweep of idle uploads); both NULL once the upload is filed.
        sa.Column("upload_id", sa.String(32), nullable=True, unique=True),
        sa.Column("touched", sa.DateTime, nullable=True),
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("SELECT lo_unlink(oid) FROM blob_objects")
    op.drop_table("blob_objects")
