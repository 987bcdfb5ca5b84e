"""legal holds on cases

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01

A data protection officer holds a case (for an inquiry, a claim, a subject's request) and
releases it, each with a reason; a held case is one with a hold not yet released. Retention
leaves held cases alone.
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "case_holds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("placed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("placed_by", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("lifted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lifted_by", sa.String(length=32), nullable=True),
        sa.Column("lift_reason", sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_case_holds_case_id_cases")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_holds")),
    )
    op.create_index(op.f("ix_case_holds_case_id"), "case_holds", ["case_id"])
    # At most one hold in force per case, whoever asks at the same moment.
    op.create_index(
        "uq_case_holds_in_force",
        "case_holds",
        ["case_id"],
        unique=True,
        sqlite_where=sa.text("lifted_at IS NULL"),
        postgresql_where=sa.text("lifted_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_table("case_holds")
