"""A hub coordinator's App Home with 200 open referrals, among 100 areas' referrals.

    python -m benchmarks.referral_queue
    python -m benchmarks.referral_queue --reset --database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench

Builds 100 areas of 10 agencies each (3 coordinators in each area's hub, 3 members in every
other agency), 110 open cases an area, and in every area 200 open referrals and 200 decided
ones (40,000 referrals in all). Then times building and publishing one coordinator's Home (its
referral queue, their cases, the access log's entries, `views.publish` to a fake Slack on
loopback), 30 times: the median and the slowest.
--reset empties that database first: point it at a database of its own.
"""

from __future__ import annotations

import argparse
import logging
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from slack_sdk import WebClient  # noqa: E402
from sqlalchemy import insert, text  # noqa: E402

from benchmarks.harness import prepare_database  # noqa: E402  (also sets a data key)
from bot.db import Database  # noqa: E402
from bot.settings import Settings  # noqa: E402
from flows import home  # noqa: E402
from models import Agency, Area, AreaAgency, Case, CaseAgency, Membership  # noqa: E402
from models.referral import Referral  # noqa: E402
from sandbox.slack import TOKEN, EmulatedSlack  # noqa: E402

NOW = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)  # a Monday morning
AREAS, KINDS = 100, ("local-authority", "police", "education", "health", "housing")
AGENCIES_PER_AREA, CASES_PER_AREA, OPEN_REFERRALS, DECIDED_REFERRALS = 10, 110, 200, 200
CHUNK = 10_000


def bulk(db: Database, table, rows: list[dict]) -> None:  # type: ignore[no-untyped-def]
    with db.engine.begin() as connection:
        for start in range(0, len(rows), CHUNK):
            connection.execute(insert(table), rows[start : start + CHUNK])


def build(db: Database) -> str:
    """The data; returns the coordinator whose Home is timed."""
    rng = random.Random(11)
    with db.engine.begin() as connection:  # the migration's own area is left out of the figures
        connection.execute(text("DELETE FROM area_agencies"))
    areas = [
        {"id": 1000 + n, "slug": f"area{n:03d}", "name": f"Area {n}", "created_at": NOW} for n in range(AREAS)
    ]
    bulk(db, Area.__table__, areas)
    agencies, joins, memberships, coordinators = [], [], [], {}
    for n in range(AREAS):
        for k in range(AGENCIES_PER_AREA):
            agency_id = n * AGENCIES_PER_AREA + k + 1
            agencies.append(
                {
                    "id": agency_id,
                    "slug": f"a{n:03d}-{k}",
                    "name": f"Agency {n}/{k}",
                    "kind": KINDS[k % 5],
                    "created_at": NOW,
                }
            )
            joins.append({"area_id": 1000 + n, "agency_id": agency_id, "joined_at": NOW})
            role = "coordinator" if k == 0 else "member"
            users = [f"U{n:03d}{k}{m}" for m in range(3)]
            if k == 0:
                coordinators[n] = users
            memberships += [
                {"agency_id": agency_id, "user_id": u, "role": role, "created_at": NOW} for u in users
            ]
    bulk(db, Agency.__table__, agencies)
    bulk(db, AreaAgency.__table__, joins)
    bulk(db, Membership.__table__, memberships)
    cases, participations, referrals = [], [], []
    for n in range(AREAS):
        for c in range(CASES_PER_AREA):
            case_id = n * CASES_PER_AREA + c + 1
            cases.append(
                {
                    "id": case_id,
                    "area_id": 1000 + n,
                    "reference": f"C{case_id:05X}"[-6:],
                    "stage": "support",
                    "risk": rng.choice(["low", "moderate", "high", "critical"]),
                    "summary": "Synthetic concern.",
                    "lead_user_id": rng.choice(coordinators[n]),
                    "opened_by": coordinators[n][0],
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
                }
            )
            for k in rng.sample(range(1, AGENCIES_PER_AREA), 3):
                participations.append(
                    {
                        "case_id": case_id,
                        "agency_id": n * AGENCIES_PER_AREA + k + 1,
                        "joined_at": NOW - timedelta(days=700),
                        "added_by": coordinators[n][0],
                    }
                )
        for r in range(OPEN_REFERRALS + DECIDED_REFERRALS):
            number = n * (OPEN_REFERRALS + DECIDED_REFERRALS) + r + 1
            received = NOW - timedelta(hours=rng.randint(1, 400))
            decided = r >= OPEN_REFERRALS
            referrals.append(
                {
                    "id": number,
                    "reference": f"R{number:05X}"[-6:],
                    "area_id": 1000 + n,
                    "referrer": f"U{n:03d}{rng.randint(1, 9)}0",
                    "agency_id": n * AGENCIES_PER_AREA + rng.randint(1, 9) + 1,
                    "submitted_via": f"bench:{number}",
                    "concern": "A synthetic concern, no names.",
                    "why_now": "Synthetic.",
                    "done_so_far": None,
                    "risk": rng.choice(["low", "moderate", "high", "critical"]),
                    "awareness": "unknown",
                    "consent": "not-asked",
                    "urgency": "urgent" if rng.random() < 0.1 else "routine",
                    "state": "closed" if decided else rng.choice(["received", "acknowledged"]),
                    "received_at": received,
                    "ack_due_at": received + timedelta(days=1),
                    "decision_due_at": received + timedelta(days=7),
                    "decided_at": received + timedelta(days=2) if decided else None,
                    "decided_by": coordinators[n][0] if decided else None,
                    "nudge_at": None if decided else received + timedelta(days=1),
                }
            )
    bulk(db, Case.__table__, cases)
    bulk(db, CaseAgency.__table__, participations)
    bulk(db, Referral.__table__, referrals)
    if db.engine.dialect.name == "postgresql":
        with db.engine.begin() as connection:
            for table in ("areas", "agencies", "cases", "referrals"):  # rows were inserted with their ids
                connection.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT max(id) FROM {table}))"
                    )
                )
            connection.execute(text("ANALYZE"))
    return coordinators[AREAS // 2][0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url")
    parser.add_argument("--reset", action="store_true", help="empty that database first")
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    slack = EmulatedSlack().start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            db = prepare_database(args.database_url, tmp, reset=args.reset)
            settings = Settings(
                _env_file=None,
                slack_bot_token=TOKEN,
                slack_signing_secret="bench",
                database_url=db.url,
                slack_api_url=slack.api_url,
            )  # type: ignore[call-arg]
            started = time.perf_counter()
            user = build(db)
            slack.add_user(user)
            print(
                f"database: {db.engine.dialect.name}; built in {time.perf_counter() - started:.0f} s: "
                f"{AREAS} areas, {AREAS * CASES_PER_AREA:,} open cases, "
                f"{AREAS * (OPEN_REFERRALS + DECIDED_REFERRALS):,} referrals ({OPEN_REFERRALS} open an area)"
            )
            client = WebClient(token=TOKEN, base_url=slack.api_url)
            timings = []
            for run in range(args.runs + 1):
                started = time.perf_counter()
                home.publish(db, client, settings, user, ref=f"bench:{run}")
                if run:  # the first warms the caches
                    timings.append(time.perf_counter() - started)
            blocks = slack.published[user]["blocks"]
            print(
                f"coordinator's Home with {OPEN_REFERRALS} open referrals ({len(blocks)} blocks): "
                f"median {statistics.median(timings) * 1000:.0f} ms, max {max(timings) * 1000:.0f} ms"
            )
            db.dispose()
    finally:
        slack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
