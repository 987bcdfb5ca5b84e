"""corrections of updates after their edit window, approved by the lead

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "update_corrections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("update_id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("proposed_by", sa.String(length=32), nullable=False),
        sa.Column("proposed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("proposed_via", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("content", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("decided_by", sa.String(length=32), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_update_corrections_case_id_cases")),
        sa.ForeignKeyConstraint(
            ["update_id"], ["updates.id"], name=op.f("fk_update_corrections_update_id_updates")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_update_corrections")),
        sa.UniqueConstraint("proposed_via", name=op.f("uq_update_corrections_proposed_via")),
    )
    op.create_index(op.f("ix_update_corrections_case_id"), "update_corrections", ["case_id"])
    op.create_index(op.f("ix_update_corrections_update_id"), "update_corrections", ["update_id"])


def downgrade() -> None:
    op.drop_table("update_corrections")
