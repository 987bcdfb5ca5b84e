"""the lessons register

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-01

`lessons` holds an area's lessons (their text and any reason to drop one encrypted), numbered
per area, each followed from proposed to agreed, integrated into a named protocol version and
checked; `lesson_events` their history.
"""

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

STATUS = ("proposed", "agreed", "integrated", "checked", "dropped")


def upgrade() -> None:
    op.create_table(
        "lessons",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("area_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("protocol", sa.Text(), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=False),
        sa.Column("due", sa.Date(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(*STATUS, name="lesson_status", native_enum=False, create_constraint=True, length=32),
            nullable=False,
        ),
        sa.Column("created_by", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_via", sa.String(length=200), nullable=False),
        sa.Column("agreed_by", sa.String(length=32), nullable=True),
        sa.Column("agreed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("integrated_by", sa.String(length=32), nullable=True),
        sa.Column("integrated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("integrated_protocol", sa.String(length=200), nullable=True),
        sa.Column("integrated_version", sa.String(length=64), nullable=True),
        sa.Column("checked_by", sa.String(length=32), nullable=True),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("dropped_by", sa.String(length=32), nullable=True),
        sa.Column("dropped_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("drop_reason", sa.Text(), nullable=True),
        sa.Column("nudge_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["area_id"], ["areas.id"], name=op.f("fk_lessons_area_id_areas")),
        sa.ForeignKeyConstraint(["agency_id"], ["agencies.id"], name=op.f("fk_lessons_agency_id_agencies")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lessons")),
        sa.UniqueConstraint("area_id", "number", name=op.f("uq_lessons_area_id_number")),
        sa.UniqueConstraint("created_via", name=op.f("uq_lessons_created_via")),
    )
    op.create_index(op.f("ix_lessons_area_id"), "lessons", ["area_id"])
    op.create_index(op.f("ix_lessons_agency_id"), "lessons", ["agency_id"])
    op.create_index(op.f("ix_lessons_case_id"), "lessons", ["case_id"])
    op.create_index("ix_lessons_status_nudge", "lessons", ["status", "nudge_at"])
    op.create_table(
        "lesson_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("lesson_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["lesson_id"], ["lessons.id"], name=op.f("fk_lesson_events_lesson_id_lessons")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lesson_events")),
    )
    op.create_index(op.f("ix_lesson_events_lesson_id"), "lesson_events", ["lesson_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_lesson_events_lesson_id"), table_name="lesson_events")
    op.drop_table("lesson_events")
    op.drop_index("ix_lessons_status_nudge", table_name="lessons")
    for column in ("case_id", "agency_id", "area_id"):
        op.drop_index(op.f(f"ix_lessons_{column}"), table_name="lessons")
    op.drop_table("lessons")
