"""submission tokens: a no-JS report form is filed once, however often it is posted

Revision ID: 0005
Revises: 0004

One new table: a keyed hash of each filed form's single-use token, the case it opened, and the day.
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "submission_tokens",
        sa.Column("token_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("created_day", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("token_hash"),
    )
    op.create_index("ix_submission_tokens_case_id", "submission_tokens", ["case_id"])


def downgrade() -> None:
    op.drop_index("ix_submission_tokens_case_id", table_name="submission_tokens")
    op.drop_table("submission_tokens")
