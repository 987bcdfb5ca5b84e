"""retention of case records

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01

A case learns the furthest stage it reached and when it left support; at closure it records the
time its retention period counts from. When that period is over its content is deleted and a
minimal marker stays (its outcome category and its agencies' kinds). casehub's own messages in
the case channel are then deleted from Slack, each attempt recorded in `message_deletions`.

The audit trail may now have an entry's details replaced by the redaction marker, and nothing
else: the chain covers a digest of the details, and the verifier accepts a redacted entry.
The values for cases already open or closed are worked out from their audit trail.
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

PROGRESSION = ("referral", "screening", "assessment", "panel-decision", "support")

_PG_REDACTION_ONLY = """
CREATE OR REPLACE FUNCTION casehub_redaction_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.details::jsonb = '{"redacted": true}'::jsonb
       AND (to_jsonb(NEW) - 'details') = (to_jsonb(OLD) - 'details') THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
END;
$$ LANGUAGE plpgsql
"""
_SQLITE_COLUMNS = (
    "id",
    "at",
    "actor",
    "action",
    "case_id",
    "agency_id",
    "request_ref",
    "details_digest",
    "seq",
    "key_id",
    "chain_hash",
)


def upgrade() -> None:
    with op.batch_alter_table("cases", schema=None, recreate="never") as batch_op:
        batch_op.add_column(
            sa.Column("stage_reached", sa.String(length=32), nullable=False, server_default="referral")
        )
        batch_op.add_column(sa.Column("exited_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("retention_from", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("retention_warned_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("purged_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("outcome_category", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("agency_kinds", sa.JSON(), nullable=True))
    op.create_index(
        "ix_cases_retention_due",
        "cases",
        ["retention_from"],
        sqlite_where=sa.text("purged_at IS NULL"),
        postgresql_where=sa.text("purged_at IS NULL"),
    )
    op.create_table(
        "message_deletions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("ts", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=100), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_message_deletions_case_id_cases")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message_deletions")),
    )
    op.create_index(op.f("ix_message_deletions_case_id"), "message_deletions", ["case_id"])
    op.create_index("ix_message_deletions_state", "message_deletions", ["state", "next_attempt_at"])
    _backfill()
    _allow_redaction()


def _backfill() -> None:
    """The stage reached and the exit of each case, from its audit trail."""
    connection = op.get_bind()
    metadata = sa.MetaData()
    cases = sa.Table("cases", metadata, autoload_with=connection)
    events = sa.Table("audit_events", metadata, autoload_with=connection)
    reached: dict[int, int] = {}
    exited: dict[int, object] = {}
    moves = connection.execute(
        sa.select(events.c.case_id, events.c.at, events.c.details)
        .where(events.c.action == "case.stage", events.c.case_id.is_not(None))
        .order_by(events.c.id)
    )
    for case_id, at, details in moves:
        for stage in (details or {}).get("previous"), (details or {}).get("stage"):
            if stage in PROGRESSION:
                reached[case_id] = max(reached.get(case_id, 0), PROGRESSION.index(stage))
        if (details or {}).get("stage") == "exit":
            exited.setdefault(case_id, at)
    rows = connection.execute(sa.select(cases.c.id, cases.c.stage, cases.c.closed_at)).all()
    for case_id, stage, closed_at in rows:
        rank = reached.get(case_id, 0)
        if stage in PROGRESSION:
            rank = max(rank, PROGRESSION.index(stage))
        exit_at = exited.get(case_id)
        changes = {"stage_reached": PROGRESSION[rank], "exited_at": exit_at}
        if closed_at is not None:
            changes["retention_from"] = exit_at or closed_at
        connection.execute(cases.update().where(cases.c.id == case_id).values(**changes))


def _allow_redaction() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_PG_REDACTION_ONLY)
        op.execute("DROP TRIGGER IF EXISTS audit_events_append_only ON audit_events")
        op.execute(
            "CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events "
            "FOR EACH ROW EXECUTE FUNCTION casehub_redaction_only()"
        )
    else:
        unchanged = " AND ".join(f"NEW.{column} IS OLD.{column}" for column in _SQLITE_COLUMNS)
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_update")
        op.execute(
            "CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events "
            f"""WHEN NOT (NEW.details = '{{"redacted": true}}' AND {unchanged}) """
            "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END"
        )


def _refuse_every_update() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_events_append_only ON audit_events")
        op.execute(
            "CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events "
            "FOR EACH ROW EXECUTE FUNCTION casehub_refuse_change()"
        )
        op.execute("DROP FUNCTION IF EXISTS casehub_redaction_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_update")
        op.execute(
            "CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events "
            "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END"
        )


def downgrade() -> None:
    _refuse_every_update()
    op.drop_table("message_deletions")
    op.drop_index("ix_cases_retention_due", table_name="cases")
    with op.batch_alter_table("cases", schema=None, recreate="never") as batch_op:
        for column in (
            "agency_kinds",
            "outcome_category",
            "purged_at",
            "retention_warned_at",
            "retention_from",
            "exited_at",
            "stage_reached",
        ):
            batch_op.drop_column(column)
