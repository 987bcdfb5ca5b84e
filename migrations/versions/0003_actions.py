"""action tracker

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "actions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=False),
        sa.Column("owner", sa.String(length=32), nullable=True),
        sa.Column("due", sa.Date(), nullable=False),
        sa.Column(
            "priority",
            sa.Enum(
                "low",
                "normal",
                "high",
                "urgent",
                name="action_priority",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum(
                "open", "done", name="action_status", native_enum=False, create_constraint=True, length=32
            ),
            nullable=False,
        ),
        sa.Column("created_by", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_via", sa.String(length=200), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("done_by", sa.String(length=32), nullable=True),
        sa.Column("channel_ts", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(["agency_id"], ["agencies.id"], name=op.f("fk_actions_agency_id_agencies")),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_actions_case_id_cases")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_actions")),
        sa.UniqueConstraint("case_id", "number", name=op.f("uq_actions_case_id_number")),
        sa.UniqueConstraint("created_via", name=op.f("uq_actions_created_via")),
    )
    with op.batch_alter_table("actions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_actions_agency_id"), ["agency_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_actions_case_id"), ["case_id"], unique=False)
        batch_op.create_index("ix_actions_open_due", ["status", "due"], unique=False)
        batch_op.create_index(batch_op.f("ix_actions_owner"), ["owner"], unique=False)

    op.create_table(
        "action_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("action_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["action_id"], ["actions.id"], name=op.f("fk_action_events_action_id_actions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_action_events")),
    )
    with op.batch_alter_table("action_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_action_events_action_id"), ["action_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("action_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_action_events_action_id"))

    op.drop_table("action_events")
    with op.batch_alter_table("actions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_actions_owner"))
        batch_op.drop_index("ix_actions_open_due")
        batch_op.drop_index(batch_op.f("ix_actions_case_id"))
        batch_op.drop_index(batch_op.f("ix_actions_agency_id"))

    op.drop_table("actions")
