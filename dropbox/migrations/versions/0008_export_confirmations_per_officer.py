"""export confirmations per officer

Revision ID: 0008
Revises: 0007

For issue 14 items 4 and 6 (several officers on one desk; retention waits for each).
"""

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
