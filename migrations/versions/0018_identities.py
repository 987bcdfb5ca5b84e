"""the person a case is about: identity, blind index and decisions on repeat referrals

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-08

`persons` holds the identity of the person each case is about, every field encrypted with the
data keys (TEXT: a ciphertext); `person_keys` its blind-index digests (HMAC-SHA256 under
MATCHING_KEY, 16 bytes), looked up by digest; `match_decisions` the coordinators' decisions on
proposed pairs of cases, one row per pair. The tables start empty: nothing to encrypt or index.
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "persons",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("given_names", sa.Text(), nullable=False),
        sa.Column("family_names", sa.Text(), nullable=False),
        sa.Column("aliases", sa.Text(), nullable=True),
        sa.Column("date_of_birth", sa.Text(), nullable=True),
        sa.Column("gender", sa.Text(), nullable=True),
        sa.Column("address", sa.Text(), nullable=True),
        sa.Column("school_or_employer", sa.Text(), nullable=True),
        sa.Column("agency_references", sa.Text(), nullable=True),
        sa.Column("contacts", sa.Text(), nullable=True),
        sa.Column("indexed_under", sa.String(length=32), nullable=False),
        sa.Column("created_by", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=32), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_persons_case_id_cases")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_persons")),
        sa.UniqueConstraint("case_id", name=op.f("uq_persons_case_id")),
    )
    op.create_index(op.f("ix_persons_indexed_under"), "persons", ["indexed_under"])
    op.create_table(
        "person_keys",
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("digest", sa.LargeBinary(length=16), nullable=False),
        sa.ForeignKeyConstraint(["person_id"], ["persons.id"], name=op.f("fk_person_keys_person_id_persons")),
        sa.PrimaryKeyConstraint("person_id", "digest", name=op.f("pk_person_keys")),
    )
    op.create_index("ix_person_keys_digest", "person_keys", ["digest", "person_id"])
    op.create_table(
        "match_decisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("other_case_id", sa.Integer(), nullable=False),
        sa.Column(
            "decision",
            sa.Enum(
                "linked",
                "dismissed",
                name="match_decision",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("score", sa.Integer(), nullable=True),
        sa.Column("decided_by", sa.String(length=32), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_via", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_match_decisions_case_id_cases")),
        sa.ForeignKeyConstraint(
            ["other_case_id"], ["cases.id"], name=op.f("fk_match_decisions_other_case_id_cases")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_match_decisions")),
        sa.UniqueConstraint(
            "case_id", "other_case_id", name=op.f("uq_match_decisions_case_id_other_case_id")
        ),
    )
    op.create_index(op.f("ix_match_decisions_case_id"), "match_decisions", ["case_id"])
    op.create_index(op.f("ix_match_decisions_other_case_id"), "match_decisions", ["other_case_id"])


def downgrade() -> None:
    op.drop_table("match_decisions")
    op.drop_table("person_keys")
    op.drop_table("persons")
