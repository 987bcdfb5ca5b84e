"""who was shown what of a case: the access log

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01

Every view of a case's content (its card, timeline, sharing log, access log, the Home entries
that show it) is recorded: who, what, when, through which request. Append-only.
"""

import sqlalchemy as sa
from alembic import op

from migrations.append_only import install_append_only, remove_append_only

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "access_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("view", sa.String(length=32), nullable=False),
        sa.Column("request_ref", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_access_log_case_id_cases")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_log")),
        sa.UniqueConstraint("request_ref", "case_id", "view", name=op.f("uq_access_log_request_ref")),
    )
    op.create_index(op.f("ix_access_log_at"), "access_log", ["at"])
    op.create_index(op.f("ix_access_log_user_id"), "access_log", ["user_id"])
    op.create_index(op.f("ix_access_log_case_id"), "access_log", ["case_id"])
    install_append_only("access_log")
    if op.get_bind().dialect.name == "sqlite":  # INSERT OR REPLACE would delete a row unseen
        op.execute(
            "CREATE TRIGGER access_log_no_replace BEFORE INSERT ON access_log "
            "WHEN EXISTS (SELECT 1 FROM access_log WHERE id = NEW.id) "
            "BEGIN SELECT RAISE(ABORT, 'access_log is append-only'); END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS access_log_no_replace")
    remove_append_only("access_log")
    op.drop_table("access_log")
