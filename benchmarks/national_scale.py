"""One scheduler sweep and one coordinator's digest on a national-scale database.

    python -m benchmarks.national_scale --reset \
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench

Builds 11,000 open cases in 100 areas with 3,000 staff, 200,000 actions and 1,000,000
updates (scaled by --scale), then times: the first sweep of a working Monday (everything
due that morning is decided, recorded and the first batch sent to a fake Slack on
loopback), the sweep a minute later, and building the digest of the busiest coordinator.
--reset drops every table in that database first: point it at a database of its own.
"""

from __future__ import annotations

import argparse
import logging
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from slack_sdk import WebClient  # noqa: E402
from sqlalchemy import func, insert, select, text  # noqa: E402

from benchmarks.harness import SlackProcess  # noqa: E402
from bot.db import Database  # noqa: E402
from bot.settings import Settings  # noqa: E402
from flows.rules import reminder_rules as rules  # noqa: E402
from flows.sweep import sweep  # noqa: E402
from models import Action, Agency, Area, AreaAgency, Case, CaseAgency, Membership, Preference, Update  # noqa: E402
from sandbox.slack import TOKEN  # noqa: E402
from services import digests  # noqa: E402
from services.worktime import at_local  # noqa: E402

NOW = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)  # a Monday morning
KINDS = [
    "local-authority",
    "police",
    "education",
    "social-care",
    "health",
    "housing",
    "probation",
    "youth-work",
    "ngo",
    "employment",
]
CHUNK = 20_000


def bulk(db: Database, table, rows: list[dict]) -> None:  # type: ignore[no-untyped-def]
    with db.engine.begin() as connection:
        for start in range(0, len(rows), CHUNK):
            connection.execute(insert(table), rows[start : start + CHUNK])


def build(db: Database, scale: float, settings: Settings) -> dict[str, int]:
    rng = random.Random(7)
    areas = 100
    cases_per_area = round(110 * scale)
    sweep_rules = rules(settings)
    hours = sweep_rules.hours
    agencies, memberships, coordinators, members = [], [], {}, {}
    for area in range(areas):
        for k, kind in enumerate(KINDS):
            agency_id = area * len(KINDS) + k + 1
            agencies.append(
                {
                    "id": agency_id,
                    "slug": f"a{area:03d}-{kind}",
                    "name": f"Area {area} {kind}",
                    "kind": kind,
                    "created_at": NOW,
                }
            )
            if k == 0:
                coordinators[area] = [f"UC{area:03d}{n}" for n in range(3)]
                people = [(u, "coordinator") for u in coordinators[area]]
            else:
                members[agency_id] = [f"UM{area:03d}{k}{n}" for n in range(3)]
                people = [(u, "member") for u in members[agency_id]]
            for user, role in people:
                memberships.append({"agency_id": agency_id, "user_id": user, "role": role, "created_at": NOW})
    bulk(db, Agency.__table__, agencies)
    bulk(db, Membership.__table__, memberships)
    # Area 0 is the migration's `main`; each area has its own ten agencies and, one in two, the
    # bank holidays of England or of France.
    with db.engine.begin() as connection:
        connection.execute(text("DELETE FROM areas WHERE id = 1"))
    bulk(
        db,
        Area.__table__,
        [
            {
                "id": area + 1,
                "slug": f"area-{area:03d}",
                "name": f"Area {area}",
                "region": f"region-{area // 10}",
                "holidays": ("GB-ENG", None, "FR", None)[area % 4],
                "created_at": NOW,
            }
            for area in range(areas)
        ],
    )
    bulk(
        db,
        AreaAgency.__table__,
        [
            {"area_id": (a["id"] - 1) // len(KINDS) + 1, "agency_id": a["id"], "joined_at": NOW}
            for a in agencies
        ],
    )
    bulk(
        db,
        Preference.__table__,
        [
            {"user_id": u, "digest": "daily", "timezone": "Europe/London", "timezone_checked_at": NOW}
            for users in coordinators.values()
            for u in users
        ],
    )
    cases, participations = [], []
    case_id = 0
    for area in range(areas):
        partners = [area * len(KINDS) + k + 1 for k in range(1, len(KINDS))]
        for _ in range(cases_per_area):
            case_id += 1
            review = NOW + timedelta(days=rng.randint(-3, 27), hours=rng.randint(-1, 6))
            review_day = review.date()
            cases.append(
                {
                    "id": case_id,
                    "area_id": area + 1,
                    "reference": f"{case_id:06X}"[-6:],
                    "stage": "support",
                    "risk": rng.choice(["low", "moderate", "high", "critical"]),
                    "summary": "Synthetic concern.",
                    "lead_user_id": rng.choice(coordinators[area]),
                    "opened_by": coordinators[area][0],
                    "opened_via": f"bench:{case_id}",
                    "opened_at": NOW - timedelta(days=rng.randint(30, 700)),
                    "consent": "given",
                    "setup_state": "ready",
                    "channel_id": f"C{case_id:07d}",
                    "channel_name": f"case-{case_id}",
                    "members_invited": True,
                    "topic_set": True,
                    "header_pinned": True,
                    "channel_archived": False,
                    "review_every_weeks": 4,
                    "next_review_at": review,
                    "last_review_at": review - timedelta(weeks=4),
                    "review_nudge_at": at_local(
                        hours.add_working_days(review_day, -3), datetime.min.time(), "UTC"
                    ),
                    "review_reminder_at": at_local(review_day, datetime.min.time(), "UTC"),
                }
            )
            for agency_id in rng.sample(partners, 4):
                participations.append(
                    {
                        "case_id": case_id,
                        "agency_id": agency_id,
                        "joined_at": NOW - timedelta(days=700),
                        "added_by": coordinators[area][0],
                    }
                )
    bulk(db, Case.__table__, cases)
    bulk(db, CaseAgency.__table__, participations)
    by_case: dict[int, list[int]] = {}
    for row in participations:
        by_case.setdefault(row["case_id"], []).append(row["agency_id"])
    actions = []
    total_actions = round(200_000 * scale)
    for n in range(total_actions):
        cid = n % case_id + 1
        agency_id = rng.choice(by_case[cid])
        is_open = rng.random() < 0.2
        due = NOW.date() + timedelta(days=rng.randint(-40, 40))
        wake = None
        if is_open:
            wake = at_local(
                due if due >= NOW.date() else hours.add_working_days(NOW.date(), rng.randint(0, 2)),
                datetime.min.time(),
                "UTC",
            )
        actions.append(
            {
                "case_id": cid,
                "number": n // case_id + 1,
                "text": f"Synthetic task {n}",
                "agency_id": agency_id,
                "owner": rng.choice(members[agency_id]),
                "due": due,
                "priority": "normal",
                "status": "open" if is_open else "done",
                "created_by": "UBENCH",
                "created_at": NOW - timedelta(days=60),
                "created_via": f"bench:{n}",
                "nudge_at": wake,
            }
        )
    bulk(db, Action.__table__, actions)
    del actions
    total_updates = round(1_000_000 * scale)
    for start in range(0, total_updates, 100_000):
        rows = []
        for n in range(start, min(start + 100_000, total_updates)):
            cid = n % case_id + 1
            rows.append(
                {
                    "case_id": cid,
                    "agency_id": rng.choice(by_case[cid]),
                    "filer": "UBENCH",
                    "filer_role": "member",
                    "contact_date": date(2026, 1, 1),
                    "kind": "note",
                    "observed": "Synthetic note.",
                    "risk": rng.choice([None, None, None, "low", "high"]),
                    "restricted": False,
                    "created_at": NOW - timedelta(minutes=rng.randint(1, 400_000)),
                    "filed_via": f"bench:{n}",
                }
            )
        bulk(db, Update.__table__, rows)
    return {
        "areas": areas,
        "agencies": len(agencies),
        "staff": len(memberships),
        "cases": case_id,
        "actions": total_actions,
        "updates": total_updates,
    }


def reset(db: Database) -> None:
    with db.engine.begin() as connection:
        if db.engine.dialect.name == "postgresql":
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
    db.migrate()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url")
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--reset", action="store_true", help="drop every table of that database first")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    slack = SlackProcess().start()
    api_url = slack.api_url
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{tmp}/national.db"
        if args.database_url and not args.reset:
            parser.error("--reset is required: the benchmark builds its own data in that database")
        settings = Settings(
            _env_file=None,
            slack_bot_token=TOKEN,
            slack_signing_secret="bench",
            database_url=url,
            slack_api_url=api_url,
        )
        db = Database(url)
        reset(db)
        started = time.perf_counter()
        sizes = build(db, args.scale, settings)
        built = time.perf_counter() - started
        if db.engine.dialect.name == "postgresql":
            with db.engine.begin() as connection:
                for table in ("agencies", "cases", "areas"):  # rows were inserted with their ids
                    connection.execute(
                        text(
                            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                            f"(SELECT max(id) FROM {table}))"
                        )
                    )
                connection.execute(text("ANALYZE"))
        client = WebClient(token=TOKEN, base_url=api_url)
        print(
            f"database: {db.engine.dialect.name}; built in {built:.0f} s: "
            + ", ".join(f"{v:,} {k}" for k, v in sizes.items())
        )
        for label, at in (
            ("quiet sweep, Sunday 10:00", NOW - timedelta(days=1)),
            ("first sweep, Monday 10:00", NOW),
            ("next sweep, a minute later", NOW + timedelta(minutes=1)),
            ("sweep at 10:02", NOW + timedelta(minutes=2)),
        ):
            started = time.perf_counter()
            report = sweep(db, client, settings, now=at)
            elapsed = time.perf_counter() - started
            print(
                f"{label:<30} {elapsed * 1000:8.0f} ms  (recorded {report.due:,} notices, "
                f"sent {report.sent:,}, waiting {report.waiting:,})"
            )
        with db.reader() as session:
            busiest = session.execute(
                select(Case.lead_user_id, func.count())
                .group_by(Case.lead_user_id)
                .order_by(func.count().desc())
                .limit(1)
            ).one()
            timings = []
            for _ in range(20):
                started = time.perf_counter()
                data = digests.build(
                    session, busiest[0], now=NOW, today=NOW.date(), since=NOW - timedelta(days=1)
                )
                timings.append(time.perf_counter() - started)
        overdue = sum(len(v) for v in data.overdue_by_agency.values())
        median, worst = statistics.median(timings) * 1000, max(timings) * 1000
        print(
            f"digest of the busiest coordinator ({busiest[1]} cases, {overdue} overdue actions): "
            f"median {median:.0f} ms, max {worst:.0f} ms"
        )
        db.dispose()
    slack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
