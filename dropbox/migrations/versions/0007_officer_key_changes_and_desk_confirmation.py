"""officer key changes and desk confirmation

Revision ID: 0007
Revises: 0006

For issue 14 items 3 and 5 (key rotation, desks that do not trust each other).
"""

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
