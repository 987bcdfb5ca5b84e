"""evaluation reports sent

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-01

`report_releases` records each evaluation report asked for or sent each month: to whom, of
which figures and period, its files' digests, and, by table, what it withheld and gave away, so
that later reports of the same figures are protected with it.
"""

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "report_releases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scope_key", sa.String(length=120), nullable=False),
        sa.Column("scope", sa.String(length=200), nullable=False),
        sa.Column("period", sa.String(length=16), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("monthly", sa.Boolean(), nullable=False),
        sa.Column("requested_by", sa.String(length=32), nullable=False),
        sa.Column("requested_via", sa.String(length=200), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("channel", sa.String(length=32), nullable=True),
        sa.Column("file_ids", sa.JSON(), nullable=True),
        sa.Column("pdf_sha256", sa.String(length=64), nullable=True),
        sa.Column("csv_sha256", sa.String(length=64), nullable=True),
        sa.Column("withheld", sa.JSON(), nullable=True),
        sa.Column("known", sa.JSON(), nullable=True),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_releases")),
        sa.UniqueConstraint("requested_via", name=op.f("uq_report_releases_requested_via")),
    )
    op.create_index("ix_report_releases_scope_year", "report_releases", ["scope_key", "year", "state"])


def downgrade() -> None:
    op.drop_index("ix_report_releases_scope_year", table_name="report_releases")
    op.drop_table("report_releases")
