"""agency updates and the sharing log

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

from migrations.append_only import install_append_only, remove_append_only

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "updates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=False),
        sa.Column("filer", sa.String(length=32), nullable=False),
        sa.Column("filer_role", sa.String(length=32), nullable=False),
        sa.Column("contact_date", sa.Date(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "meeting",
                "home-visit",
                "observation",
                "information-received",
                "referral",
                "note",
                "other",
                name="update_kind",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("observed", sa.Text(), nullable=False),
        sa.Column(
            "risk",
            sa.Enum(
                "low",
                "moderate",
                "high",
                "critical",
                name="update_risk",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=True,
        ),
        sa.Column("protective_factors", sa.Text(), nullable=True),
        sa.Column("concerns", sa.Text(), nullable=True),
        sa.Column("asks", sa.Text(), nullable=True),
        sa.Column("restricted", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("edited_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("channel_ts", sa.String(length=32), nullable=True),
        sa.Column("filed_via", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(["agency_id"], ["agencies.id"], name=op.f("fk_updates_agency_id_agencies")),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_updates_case_id_cases")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_updates")),
        sa.UniqueConstraint("filed_via", name=op.f("uq_updates_filed_via")),
    )
    with op.batch_alter_table("updates", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_updates_agency_id"), ["agency_id"], unique=False)
        batch_op.create_index("ix_updates_case_created", ["case_id", "created_at"], unique=False)

    op.create_table(
        "sharing_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("update_id", sa.Integer(), nullable=False),
        sa.Column("from_agency_id", sa.Integer(), nullable=False),
        sa.Column("shared_by", sa.String(length=32), nullable=False),
        sa.Column("to_agency_id", sa.Integer(), nullable=True),
        sa.Column("to_user", sa.String(length=32), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.String(length=300), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_sharing_log_case_id_cases")),
        sa.ForeignKeyConstraint(
            ["from_agency_id"], ["agencies.id"], name=op.f("fk_sharing_log_from_agency_id_agencies")
        ),
        sa.ForeignKeyConstraint(
            ["to_agency_id"], ["agencies.id"], name=op.f("fk_sharing_log_to_agency_id_agencies")
        ),
        sa.ForeignKeyConstraint(["update_id"], ["updates.id"], name=op.f("fk_sharing_log_update_id_updates")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sharing_log")),
    )
    with op.batch_alter_table("sharing_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sharing_log_case_id"), ["case_id"], unique=False)

    op.create_table(
        "update_revisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("update_id", sa.Integer(), nullable=False),
        sa.Column("replaced_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("replaced_by", sa.String(length=32), nullable=False),
        sa.Column("content", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["update_id"], ["updates.id"], name=op.f("fk_update_revisions_update_id_updates")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_update_revisions")),
    )
    with op.batch_alter_table("update_revisions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_update_revisions_update_id"), ["update_id"], unique=False)

    install_append_only("sharing_log")


def downgrade() -> None:
    remove_append_only("sharing_log")
    with op.batch_alter_table("update_revisions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_update_revisions_update_id"))

    op.drop_table("update_revisions")
    with op.batch_alter_table("sharing_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sharing_log_case_id"))

    op.drop_table("sharing_log")
    with op.batch_alter_table("updates", schema=None) as batch_op:
        batch_op.drop_index("ix_updates_case_created")
        batch_op.drop_index(batch_op.f("ix_updates_agency_id"))

    op.drop_table("updates")
