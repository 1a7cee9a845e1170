"""export confirmations per officer

Revision ID: 0008
Revises: 0007

For issue 14 items 4 and 6 (several officers on one desk; retention waits for each). Two tables:
export_awaits, the officers an export bundle waits for (the desk's confirmed, non-retired officers when
it was made), and export_confirmations, which of them confirmed it and on which day.

Existing rows: a bundle already confirmed keeps its confirmed_day, the day its retention clock started
(who confirmed it was never recorded, so no confirmation is made up for it). A bundle not yet confirmed
waits for the desk's confirmed, non-retired officers of today, the closest to "when it was made" that
is known. Going down, a bundle confirmed by anyone gets the first confirmation's day, the old rule.
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "export_awaits",
        sa.Column("export_log_id", sa.Integer(), nullable=False),
        sa.Column("officer_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["export_log_id"], ["export_log.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["officer_id"], ["officers.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("export_log_id", "officer_id"),
    )
    op.create_table(
        "export_confirmations",
        sa.Column("export_log_id", sa.Integer(), nullable=False),
        sa.Column("officer_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(["export_log_id"], ["export_log.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["officer_id"], ["officers.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("export_log_id", "officer_id"),
    )
    op.execute(
        "INSERT INTO export_awaits (export_log_id, officer_id)"
        " SELECT export_log.id, officers.id FROM export_log"
        " JOIN officers ON officers.desk_id = export_log.desk_id"
        " WHERE export_log.confirmed_day IS NULL"
        " AND officers.confirmed AND NOT officers.retired"
    )


def downgrade() -> None:
    op.execute(
        "UPDATE export_log SET confirmed_day = (SELECT min(day) FROM export_confirmations"
        " WHERE export_confirmations.export_log_id = export_log.id) WHERE confirmed_day IS NULL"
    )
    op.drop_table("export_confirmations")
    op.drop_table("export_awaits")
