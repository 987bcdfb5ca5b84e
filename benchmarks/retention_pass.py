"""How long the nightly retention pass takes at national scale.

Fills a scratch database with 11,000 open and 50,000 closed cases (by default), each with its
agencies, three updates (one edited), two actions, a review and its audit entries (sealed in the
chain), the closed ones closed over the last seven years; then times:

- a first pass after deployment, when a backlog of cases is due and none has been warned yet
  (it warns, a bounded number, and deletes nothing);
- the passes 30 days later that work the backlog off, a bounded number of deletions each;
- an ordinary night, with the cases that fall due that day;

and checks that the audit chains still verify.

    python -m benchmarks.retention_pass --database-url postgresql+psycopg://…/bench --reset
    python -m benchmarks.retention_pass                      # SQLite, in a temporary folder
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, insert, select, text, update  # noqa: E402

from benchmarks.harness import database_arguments, prepare_database  # noqa: E402
from bot.settings import load_settings  # noqa: E402
from flows import retention as retention_flow  # noqa: E402
from models import (  # noqa: E402
    Action,
    ActionEvent,
    Agency,
    AgencyKind,
    AuditEvent,
    Case,
    CaseAgency,
    Review,
    Update,
    UpdateRevision,
)
from services import chain, retention  # noqa: E402

BATCH = 5_000
NOW = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
STAGES = ("referral", "screening", "assessment", "panel-decision", "support")
TEXT = "Observed at the meeting: the young person talked about the forum and his football team. " * 3


def agencies(db) -> list[int]:
    with db.session() as session:
        made = [Agency(slug=kind.value, name=kind.value.title(), kind=kind) for kind in AgencyKind]
        session.add_all(made)
        session.flush()
        return [a.id for a in made]


def fill(db, open_cases: int, closed_cases: int, seed: int = 7) -> None:
    """The cases and their content, inserted in batches; the audit entries sealed in order."""
    rng = random.Random(seed)
    agency_ids = agencies(db)
    before, seq = chain.GENESIS, 0
    total = open_cases + closed_cases
    for first in range(0, total, BATCH):
        rows: dict[type, list[dict]] = {m: [] for m in (Case, CaseAgency, Update, Action, Review, AuditEvent)}
        for number in range(first, min(first + BATCH, total)):
            case_id = number + 1
            closed = number >= open_cases
            opened = NOW - timedelta(days=rng.uniform(30, 2900))
            stage = rng.choice(STAGES)
            ended = opened + timedelta(days=rng.uniform(20, 300)) if closed else None
            if ended is not None and ended > NOW:
                ended = NOW - timedelta(days=1)
            rows[Case].append({
                "id": case_id, "reference": f"R{case_id:05d}", "stage": "closed" if closed else stage,
                "risk": "moderate", "summary": TEXT, "agency_reference": f"PC-{case_id}",
                "lead_user_id": f"U{case_id % 400:06d}", "opened_by": "U000001", "opened_via": f"v{case_id}",
                "opened_at": opened, "consent": "given", "setup_state": "ready",
                "channel_id": f"C{case_id:08d}",
                "closed_at": ended, "outcome": TEXT if closed else None, "stage_reached": stage,
                "retention_from": ended, "review_every_weeks": 4, "members_invited": True, "topic_set": True,
                "header_ts": f"1700000000.{case_id:06d}", "header_pinned": True, "channel_archived": closed,
                "actions_numbered": 2,
            })  # fmt: skip
            for agency in rng.sample(agency_ids, 2):
                rows[CaseAgency].append(
                    {"case_id": case_id, "agency_id": agency, "joined_at": opened, "added_by": "U000001"}
                )
            for n in range(3):
                rows[Update].append({
                    "case_id": case_id, "agency_id": agency_ids[n], "filer": "U000002",
                    "filer_role": "member",
                    "contact_date": opened.date(), "kind": "meeting", "observed": TEXT, "concerns": TEXT,
                    "restricted": False, "created_at": opened, "filed_via": f"u{case_id}-{n}",
                    "channel_ts": f"1700000001.{case_id:06d}{n}",
                })  # fmt: skip
            for n in (1, 2):
                rows[Action].append({
                    "case_id": case_id, "number": n, "text": TEXT[:200], "agency_id": agency_ids[n],
                    "due": date(2026, 1, 1), "priority": "normal", "status": "done", "created_by": "U000001",
                    "created_at": opened, "created_via": f"a{case_id}-{n}",
                })  # fmt: skip
            rows[Review].append({
                "case_id": case_id, "held_on": opened.date(), "agencies_present": ["police"],
                "decisions": TEXT, "risk_after": "low", "recorded_by": "U000001", "recorded_at": opened,
                "recorded_via": f"r{case_id}",
            })  # fmt: skip
            for n, action in enumerate(("case.opened", "update.filed", "action.added", "case.closed")):
                seq += 1
                details = {"update": case_id, "reason": "typed words"}
                row = {
                    "at": opened + timedelta(minutes=n), "actor": "U000001", "action": action,
                    "case_id": case_id, "agency_id": None, "details": details, "request_ref": f"view:{seq}",
                    "seq": seq, "key_id": chain.keyring.current, "details_digest": chain.digest(details),
                }  # fmt: skip
                row["chain_hash"] = before = chain.keyring.link(
                    row["key_id"], before, chain.content("audit_events", row)
                )
                rows[AuditEvent].append(row)
        with db.engine.begin() as connection:
            for model, batch in rows.items():
                connection.execute(insert(model.__table__), batch)
    with db.engine.begin() as connection:
        connection.execute(
            text("UPDATE audit_chains SET seq = :seq, chain_hash = :hash WHERE name = 'audit_events'"),
            {"seq": seq, "hash": before},
        )
        updates = connection.execute(select(Update.id).where(Update.filed_via.like("%-0"))).scalars().all()
        connection.execute(
            insert(UpdateRevision.__table__),
            [{"update_id": u, "replaced_at": NOW, "replaced_by": "U000002", "content": {"observed": TEXT}}
             for u in updates],
        )  # fmt: skip
        actions = connection.execute(select(Action.id)).scalars().all()
        connection.execute(
            insert(ActionEvent.__table__),
            [{"action_id": a, "at": NOW, "actor": "U000001", "kind": "done", "details": {}} for a in actions],
        )
        if db.engine.dialect.name == "postgresql":
            for table in ("cases", "case_agencies", "updates", "actions", "reviews", "audit_events"):
                connection.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                        f"(SELECT max(id) FROM {table}))"))  # fmt: skip
            connection.execute(text("ANALYZE"))


def timed(label: str, db, settings, now: datetime) -> retention_flow.PassReport:
    began = time.perf_counter()
    report = retention_flow.nightly(db, settings, now)
    took = time.perf_counter() - began
    print(f"{label}: {took:.1f} s ({report.warned:,} warned, {len(report.purged):,} deleted)")
    return report


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--open", type=int, default=11_000, help="open cases")
    parser.add_argument("--closed", type=int, default=50_000, help="closed cases")
    parser.add_argument("--nights", type=int, default=3, help="passes timed while the backlog is worked off")
    database_arguments(parser)
    args = parser.parse_args()
    chain.configure({"bench": "b" * 48})
    directory = tempfile.mkdtemp(prefix="casehub-retention-bench-")
    db = prepare_database(args.database_url, directory, reset=args.reset)
    settings = load_settings(
        slack_bot_token="xoxb-benchmark", slack_signing_secret="benchmark", database_url=db.url,
        casehub_dpos=["UDPO0001", "UDPO0002"],
    )  # fmt: skip
    began = time.perf_counter()
    fill(db, args.open, args.closed)
    schedule = retention_flow.schedule_of(settings)
    with db.reader() as session:
        due = session.scalar(select(func.count(Case.id)).where(schedule.due_by(NOW))) or 0
    print(
        f"{db.engine.dialect.name}: filled {args.open:,} open and {args.closed:,} closed cases "
        f"in {time.perf_counter() - began:.0f} s; {due:,} due now (the backlog at deployment)"
    )
    timed("first pass (backlog, nobody warned yet)", db, settings, NOW)
    with db.session() as session:  # as if every night since had warned its share
        session.execute(
            update(Case).where(schedule.due_by(NOW)).values(retention_warned_at=NOW - timedelta(days=31))
        )
    night = NOW + timedelta(days=1)
    for number in range(1, args.nights + 1):
        timed(f"pass {number} working the backlog off", db, settings, night)
        night += timedelta(days=1)
    with db.session() as session:  # the backlog gone: an ordinary night
        session.execute(
            update(Case)
            .where(Case.purged_at.is_(None), schedule.due_by(night))
            .values(retention_from=night, retention_warned_at=None)
        )
        today = session.scalars(
            select(Case.id).where(Case.retention_from.is_not(None), Case.purged_at.is_(None)).limit(25)
        ).all()
        session.execute(
            update(Case)
            .where(Case.id.in_(today))
            .values(
                retention_from=retention.months_before(night, 72),
                retention_warned_at=night - timedelta(days=30),
            )
        )
    timed("an ordinary night (25 due)", db, settings, night)
    began = time.perf_counter()
    report = chain.verify_database(db.url)
    took = time.perf_counter() - began
    print(f"audit chain verified after the passes in {took:.1f} s: intact={report.intact}")
    assert report.intact, report.summary()
    db.dispose()


if __name__ == "__main__":
    main()
