"""small envelopes in their rows

Revision ID: 0013
Revises: 0012

parts.data: a sealed envelope of at most intake.INLINE_MAX_BYTES (a text report's document, nearly
always) is kept in its part's row, written in the transaction that files it: no file, no fsync of its
own nor of its folder, and nothing to leave behind if the filing fails. Larger envelopes stay in the
blob store; rows made before keep NULL here and name their blob as before.
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("parts", sa.Column("data", sa.LargeBinary, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("parts") as batch:
        batch.drop_column("data")
