"""due-time columns for the sweep

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("actions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("nudge_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index("ix_actions_open_nudge", ["status", "nudge_at"], unique=False)

    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("review_nudge_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("review_reminder_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f("ix_cases_review_nudge_at"), ["review_nudge_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_cases_review_reminder_at"), ["review_reminder_at"], unique=False)

    with op.batch_alter_table("follow_ups", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reminded_at", sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table("notices", schema=None) as batch_op:
        batch_op.add_column(sa.Column("tz", sa.String(length=64), nullable=True))
        batch_op.create_index("ix_notices_claimed", ["state", "claimed_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("notices", schema=None) as batch_op:
        batch_op.drop_index("ix_notices_claimed")
        batch_op.drop_column("tz")

    with op.batch_alter_table("follow_ups", schema=None) as batch_op:
        batch_op.drop_column("reminded_at")

    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cases_review_reminder_at"))
        batch_op.drop_index(batch_op.f("ix_cases_review_nudge_at"))
        batch_op.drop_column("review_reminder_at")
        batch_op.drop_column("review_nudge_at")

    with op.batch_alter_table("actions", schema=None) as batch_op:
        batch_op.drop_index("ix_actions_open_nudge")
        batch_op.drop_column("nudge_at")
