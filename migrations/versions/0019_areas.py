"""areas: many local partnerships in one deployment

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-01

`areas` holds the local partnerships (their calendar, channel prefix, hub channel and service
levels; what is unset falls back to the settings), `area_agencies` the agencies taking part in
each, `overseers` the regional and national coordinators. Every case belongs to an area.

A deployment until now was one partnership: it becomes the area `main`, with every agency
registered taking part in it and every case in it, so nothing changes for its people.
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "areas",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("region", sa.String(length=32), nullable=True),
        sa.Column("channel_prefix", sa.String(length=41), nullable=True),
        sa.Column("timezone", sa.String(length=64), nullable=True),
        sa.Column("holidays", sa.String(length=16), nullable=True),
        sa.Column("working_days", sa.String(length=27), nullable=True),
        sa.Column("review_every_weeks", sa.Integer(), nullable=True),
        sa.Column("hub_channel_id", sa.String(length=32), nullable=True),
        sa.Column("referral_ack_days", sa.Integer(), server_default="1", nullable=False),
        sa.Column("referral_decision_days", sa.Integer(), server_default="5", nullable=False),
        sa.Column("transfer_days", sa.Integer(), server_default="5", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_areas")),
        sa.UniqueConstraint("slug", name=op.f("uq_areas_slug")),
    )
    op.create_index(op.f("ix_areas_region"), "areas", ["region"], unique=False)
    op.create_table(
        "area_agencies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("area_id", sa.Integer(), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=False),
        sa.Column("joined_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["area_id"], ["areas.id"], name=op.f("fk_area_agencies_area_id_areas")),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["agencies.id"], name=op.f("fk_area_agencies_agency_id_agencies")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_area_agencies")),
        sa.UniqueConstraint("area_id", "agency_id", name=op.f("uq_area_agencies_area_id_agency_id")),
    )
    op.create_index(op.f("ix_area_agencies_area_id"), "area_agencies", ["area_id"], unique=False)
    op.create_index(op.f("ix_area_agencies_agency_id"), "area_agencies", ["agency_id"], unique=False)
    op.create_table(
        "overseers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("scope", sa.String(length=32), nullable=False),
        sa.Column("added_by", sa.String(length=32), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_overseers")),
        sa.UniqueConstraint("user_id", "scope", name=op.f("uq_overseers_user_id_scope")),
    )
    op.create_index(op.f("ix_overseers_user_id"), "overseers", ["user_id"], unique=False)

    bind = op.get_bind()
    op.execute(
        "INSERT INTO areas (id, slug, name, created_at) "
        "VALUES (1, 'main', 'Main partnership', CURRENT_TIMESTAMP)"
    )
    if bind.dialect.name == "postgresql":  # the explicit id left the sequence behind
        op.execute("SELECT setval(pg_get_serial_sequence('areas', 'id'), 1)")
    op.execute(
        "INSERT INTO area_agencies (area_id, agency_id, joined_at) SELECT 1, id, created_at FROM agencies"
    )

    op.add_column("cases", sa.Column("area_id", sa.Integer(), nullable=True))
    op.execute("UPDATE cases SET area_id = 1")
    op.create_index(op.f("ix_cases_area_id"), "cases", ["area_id"], unique=False)
    if bind.dialect.name != "sqlite":  # SQLite adds neither without rebuilding the table
        op.alter_column("cases", "area_id", existing_type=sa.Integer(), nullable=False)
        op.create_foreign_key(op.f("fk_cases_area_id_areas"), "cases", "areas", ["area_id"], ["id"])


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        op.drop_constraint(op.f("fk_cases_area_id_areas"), "cases", type_="foreignkey")
    op.drop_index(op.f("ix_cases_area_id"), table_name="cases")
    with op.batch_alter_table("cases", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("area_id")
    op.drop_index(op.f("ix_overseers_user_id"), table_name="overseers")
    op.drop_table("overseers")
    op.drop_index(op.f("ix_area_agencies_agency_id"), table_name="area_agencies")
    op.drop_index(op.f("ix_area_agencies_area_id"), table_name="area_agencies")
    op.drop_table("area_agencies")
    op.drop_index(op.f("ix_areas_region"), table_name="areas")
    op.drop_table("areas")
