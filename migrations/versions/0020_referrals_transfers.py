"""referrals from any agency, their links to earlier cases and referrals, and transfers

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-01

`referrals` holds the concerns raised with an area's hub (their texts encrypted), with their
service levels and decision; `referral_links` the coordinators' decisions that a referral is
about the same person as an earlier case or referral; `transfers` the offers of a case from one
area to another, at most one open per case. A person on the record desk may now belong to a
referral before it becomes a case: `persons.case_id` may be empty, `persons.referral_id` is new.
"""

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def _choice(name: str, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=32)


RISK = ("low", "moderate", "high", "critical")
OPEN_REFERRAL = sa.text("state IN ('received', 'acknowledged')")
OPEN_OFFER = sa.text("state = 'offered'")


def upgrade() -> None:
    op.create_table(
        "referrals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(length=6), nullable=False),
        sa.Column("area_id", sa.Integer(), nullable=False),
        sa.Column("referrer", sa.String(length=32), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=False),
        sa.Column("submitted_via", sa.String(length=200), nullable=False),
        sa.Column("concern", sa.Text(), nullable=False),
        sa.Column("why_now", sa.Text(), nullable=False),
        sa.Column("done_so_far", sa.Text(), nullable=True),
        sa.Column("risk", _choice("referral_risk", *RISK), nullable=False),
        sa.Column(
            "awareness",
            _choice("referral_awareness", "person-knows", "parent-knows", "not-told", "unknown"),
            nullable=False,
        ),
        sa.Column("consent", _choice("referral_consent", "given", "refused", "not-asked"), nullable=False),
        sa.Column("urgency", _choice("referral_urgency", "routine", "urgent"), nullable=False),
        sa.Column(
            "state",
            _choice("referral_state", "received", "acknowledged", "accepted", "signposted", "closed"),
            nullable=False,
        ),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ack_due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decision_due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by", sa.String(length=32), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.String(length=32), nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=True),
        sa.Column("signposted_to", sa.Text(), nullable=True),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("nudge_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("hub_channel_id", sa.String(length=32), nullable=True),
        sa.Column("hub_ts", sa.String(length=32), nullable=True),
        sa.Column("purged_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["area_id"], ["areas.id"], name=op.f("fk_referrals_area_id_areas")),
        sa.ForeignKeyConstraint(["agency_id"], ["agencies.id"], name=op.f("fk_referrals_agency_id_agencies")),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_referrals_case_id_cases")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_referrals")),
        sa.UniqueConstraint("reference", name=op.f("uq_referrals_reference")),
        sa.UniqueConstraint("submitted_via", name=op.f("uq_referrals_submitted_via")),
        sa.UniqueConstraint("case_id", name=op.f("uq_referrals_case_id")),
    )
    op.create_index(op.f("ix_referrals_referrer"), "referrals", ["referrer"])
    op.create_index(op.f("ix_referrals_agency_id"), "referrals", ["agency_id"])
    op.create_index("ix_referrals_area_state", "referrals", ["area_id", "state"])
    op.create_index(
        "ix_referrals_open_nudge",
        "referrals",
        ["nudge_at"],
        sqlite_where=OPEN_REFERRAL,
        postgresql_where=OPEN_REFERRAL,
    )
    op.create_table(
        "referral_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("referral_id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("other_referral_id", sa.Integer(), nullable=True),
        sa.Column("decision", _choice("referral_link_decision", "linked", "dismissed"), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("score", sa.Integer(), nullable=True),
        sa.Column("decided_by", sa.String(length=32), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_via", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["referral_id"], ["referrals.id"], name=op.f("fk_referral_links_referral_id_referrals")
        ),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_referral_links_case_id_cases")),
        sa.ForeignKeyConstraint(
            ["other_referral_id"],
            ["referrals.id"],
            name=op.f("fk_referral_links_other_referral_id_referrals"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_referral_links")),
        sa.UniqueConstraint(
            "referral_id",
            "case_id",
            "other_referral_id",
            name=op.f("uq_referral_links_referral_id_case_id_other_referral_id"),
        ),
    )
    for column in ("referral_id", "case_id", "other_referral_id"):
        op.create_index(op.f(f"ix_referral_links_{column}"), "referral_links", [column])
    op.create_table(
        "transfers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("from_area_id", sa.Integer(), nullable=False),
        sa.Column("to_area_id", sa.Integer(), nullable=False),
        sa.Column(
            "state",
            _choice("transfer_state", "offered", "accepted", "rejected", "revoked", "expired"),
            nullable=False,
        ),
        sa.Column("offered_by", sa.String(length=32), nullable=False),
        sa.Column("offered_via", sa.String(length=200), nullable=False),
        sa.Column("offered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("deadline", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.String(length=32), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=True),
        sa.Column("new_lead", sa.String(length=32), nullable=True),
        sa.Column("nudge_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("hub_channel_id", sa.String(length=32), nullable=True),
        sa.Column("hub_ts", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_transfers_case_id_cases")),
        sa.ForeignKeyConstraint(["from_area_id"], ["areas.id"], name=op.f("fk_transfers_from_area_id_areas")),
        sa.ForeignKeyConstraint(["to_area_id"], ["areas.id"], name=op.f("fk_transfers_to_area_id_areas")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transfers")),
        sa.UniqueConstraint("offered_via", name=op.f("uq_transfers_offered_via")),
    )
    op.create_index(op.f("ix_transfers_case_id"), "transfers", ["case_id"])
    op.create_index(op.f("ix_transfers_to_area_id"), "transfers", ["to_area_id"])
    op.create_index(
        "uq_transfers_open_offer",
        "transfers",
        ["case_id"],
        unique=True,
        sqlite_where=OPEN_OFFER,
        postgresql_where=OPEN_OFFER,
    )
    op.create_index(
        "ix_transfers_open_nudge",
        "transfers",
        ["nudge_at"],
        sqlite_where=OPEN_OFFER,
        postgresql_where=OPEN_OFFER,
    )
    _persons_of_referrals()


def _persons_of_referrals() -> None:
    """`persons.case_id` may be empty and `persons.referral_id` is new. SQLite rebuilds the
    table for that, and would refuse to drop it while `person_keys` refers to its rows: those
    are set aside for the rebuild and put back, in the same transaction."""
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        op.execute("CREATE TEMPORARY TABLE person_keys_aside AS SELECT person_id, digest FROM person_keys")
        op.execute("DELETE FROM person_keys")
    with op.batch_alter_table("persons", schema=None) as batch_op:
        batch_op.alter_column("case_id", existing_type=sa.Integer(), nullable=True)
        batch_op.add_column(sa.Column("referral_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_persons_referral_id_referrals"), "referrals", ["referral_id"], ["id"]
        )
        batch_op.create_unique_constraint(batch_op.f("uq_persons_referral_id"), ["referral_id"])
    if sqlite:
        op.execute(
            "INSERT INTO person_keys (person_id, digest) SELECT person_id, digest FROM person_keys_aside"
        )
        op.execute("DROP TABLE person_keys_aside")


def downgrade() -> None:
    op.execute("DELETE FROM person_keys WHERE person_id IN (SELECT id FROM persons WHERE case_id IS NULL)")
    op.execute("DELETE FROM persons WHERE case_id IS NULL")
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        op.execute("CREATE TEMPORARY TABLE person_keys_aside AS SELECT person_id, digest FROM person_keys")
        op.execute("DELETE FROM person_keys")
    with op.batch_alter_table("persons", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_persons_referral_id"), type_="unique")
        batch_op.drop_constraint(batch_op.f("fk_persons_referral_id_referrals"), type_="foreignkey")
        batch_op.drop_column("referral_id")
        batch_op.alter_column("case_id", existing_type=sa.Integer(), nullable=False)
    if sqlite:
        op.execute(
            "INSERT INTO person_keys (person_id, digest) SELECT person_id, digest FROM person_keys_aside"
        )
        op.execute("DROP TABLE person_keys_aside")
    op.drop_table("transfers")
    op.drop_table("referral_links")
    op.drop_table("referrals")
