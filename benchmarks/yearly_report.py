"""A year's evaluation report at national scale: the nation's, a region's and one area's.

    python -m benchmarks.yearly_report --reset \
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench

Builds 11,000 cases in 100 areas (scaled by --scale) opened over two and a half years, each
with the stage history a lead would have recorded in the audit trail (screening, panel
decision, support, exit, closure, as far as it got), its referral, four agencies, their
updates, actions, reviews, crises with pages, and follow-up reviews after exit; then times the
2026 report of all the areas, of a region (ten areas) and of one area, and prints the national
figures as the CSV carries them. --reset drops every table in that database first: point it at a
database of its own. Without --database-url, a SQLite file in a temporary folder.
"""

from __future__ import annotations

import argparse
import logging
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, select, text  # noqa: E402

import benchmarks.harness  # noqa: E402, F401  (what is stored is encrypted under a data key)
from bot.db import Database  # noqa: E402
from models import (  # noqa: E402
    Action,
    Agency,
    Area,
    AreaAgency,
    AuditEvent,
    Case,
    CaseAgency,
    Crisis,
    FollowUp,
    Page,
    Referral,
    Review,
    Update,
)
from services import chain, export_pdf, report_pdf, reports  # noqa: E402

NOW = datetime(2027, 1, 15, 9, 0, tzinfo=UTC)  # the year 2026 is over
FIRST_OPENED = datetime(2024, 7, 1, tzinfo=UTC)
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
# Who refers, roughly as in England in 2023/24: education 40%, police 28%, the rest shared.
REFERRER_WEIGHTS = [4, 28, 40, 8, 8, 3, 3, 3, 2, 1]
CHUNK = 20_000


def bulk(db: Database, table: Any, rows: list[dict[str, Any]]) -> None:
    with db.engine.begin() as connection:
        for start in range(0, len(rows), CHUNK):
            connection.execute(insert(table), rows[start : start + CHUNK])


def seal(db: Database, entries: list[dict[str, Any]]) -> None:
    """Stage entries sealed in the audit chain in the order they happened, as casehub seals
    them (the table's triggers refuse an entry that is not)."""
    before = chain.GENESIS
    entries.sort(key=lambda row: row["at"])
    for seq, row in enumerate(entries, start=1):
        row.update(seq=seq, key_id=chain.keyring.current, details_digest=chain.digest(row["details"]))
        row["chain_hash"] = before = chain.keyring.link(
            row["key_id"], before, chain.content("audit_events", row)
        )
    bulk(db, AuditEvent.__table__, entries)
    with db.engine.begin() as connection:
        connection.execute(
            text("UPDATE audit_chains SET seq = :seq, chain_hash = :hash WHERE name = 'audit_events'"),
            {"seq": len(entries), "hash": before},
        )


def days(rng: random.Random, low: float, high: float) -> timedelta:
    return timedelta(days=rng.uniform(low, high))


def build(db: Database, scale: float) -> dict[str, int]:
    rng = random.Random(11)
    areas = 100
    cases_per_area = round(110 * scale)
    agencies = [
        {
            "id": area * len(KINDS) + k + 1,
            "slug": f"a{area:03d}-{kind}",
            "name": f"Area {area} {kind}",
            "kind": kind,
            "created_at": FIRST_OPENED,
        }
        for area in range(areas)
        for k, kind in enumerate(KINDS)
    ]
    bulk(db, Agency.__table__, agencies)
    with db.engine.begin() as connection:
        connection.execute(text("DELETE FROM areas WHERE id = 1"))
    bulk(
        db,
        Area.__table__,
        [
            {"id": a + 1, "slug": f"area-{a:03d}", "name": f"Area {a}", "region": f"region-{a // 10}"}
            | {"created_at": FIRST_OPENED}
            for a in range(areas)
        ],
    )
    bulk(
        db,
        AreaAgency.__table__,
        [
            {"area_id": (a["id"] - 1) // len(KINDS) + 1, "agency_id": a["id"], "joined_at": FIRST_OPENED}
            for a in agencies
        ],
    )
    cases: list[dict[str, Any]] = []
    stages: list[dict[str, Any]] = []
    referrals: list[dict[str, Any]] = []
    participations: list[dict[str, Any]] = []
    reviews: list[dict[str, Any]] = []
    follow_ups: list[dict[str, Any]] = []
    case_agencies: dict[int, list[tuple[int, datetime]]] = {}
    span = (NOW - FIRST_OPENED).days
    case_id = 0
    for area in range(areas):
        own = [area * len(KINDS) + k + 1 for k in range(len(KINDS))]
        for _ in range(cases_per_area):
            case_id += 1
            opened = FIRST_OPENED + days(rng, 0, span - 5)
            at, stage, reached = opened, "referral", "referral"
            history = []
            exited = closed = None
            for nxt, low, high, chance in (
                ("screening", 0.5, 8, 0.97),
                ("assessment", 2, 15, 0.8),
                ("panel-decision", 3, 25, 0.85),
                ("support", 3, 30, 0.55),
                ("exit", 60, 320, 0.7),
            ):
                when = at + days(rng, low, high)
                if rng.random() > chance or when >= NOW:
                    break
                history.append((stage, nxt, when))
                at, stage = when, nxt
                if nxt != "exit":
                    reached = nxt
                else:
                    exited = when
            if stage in ("exit", "referral", "screening", "panel-decision") and rng.random() < 0.8:
                when = at + days(rng, 5, 60)
                if when < NOW:
                    closed, stage = when, "closed"
            for previous, nxt, when in history:
                stages.append(
                    {
                        "at": when,
                        "actor": "UBENCH",
                        "action": "case.stage",
                        "case_id": case_id,
                        "agency_id": None,
                        "details": {"previous": previous, "stage": nxt},
                        "request_ref": "bench",
                    }
                )
            supported = reached == "support"
            cases.append(
                {
                    "id": case_id,
                    "area_id": area + 1,
                    "reference": f"{case_id:06X}"[-6:],
                    "stage": stage,
                    "risk": rng.choice(["low", "moderate", "high", "critical"]),
                    "summary": "Synthetic concern.",
                    "lead_user_id": f"UC{area:03d}",
                    "opened_by": f"UC{area:03d}",
                    "opened_via": f"bench:{case_id}",
                    "opened_at": opened,
                    "consent": rng.choice(["given", "given", "given", "withdrawn", "not-required"])
                    if supported
                    else "not-recorded",
                    "consent_date": (opened + days(rng, 10, 40)).date() if supported else None,
                    "setup_state": "ready",
                    "stage_reached": reached,
                    "exited_at": exited,
                    "closed_at": closed,
                    "retention_from": (exited or closed) if closed else None,
                    "review_every_weeks": 4,
                }
            )
            referrer = rng.choices(own, weights=REFERRER_WEIGHTS)[0]
            referrals.append(
                {
                    "reference": f"R{case_id:05X}"[-6:],
                    "area_id": area + 1,
                    "referrer": "UREF",
                    "agency_id": referrer,
                    "submitted_via": f"bench:r:{case_id}",
                    "concern": "Synthetic concern.",
                    "why_now": "Synthetic.",
                    "risk": "moderate",
                    "awareness": "unknown",
                    "consent": "not-asked",
                    "urgency": "routine",
                    "state": "accepted",
                    "received_at": opened - days(rng, 1, 6),
                    "ack_due_at": opened,
                    "decision_due_at": opened,
                    "decided_at": opened,
                    "case_id": case_id,
                }
            )
            # And referrals that opened no case: signposted or closed at the hub.
            if rng.random() < 0.3:
                received = FIRST_OPENED + days(rng, 0, span - 5)
                referrals.append(
                    referrals[-1]
                    | {
                        "reference": f"S{case_id:05X}"[-6:],
                        "submitted_via": f"bench:s:{case_id}",
                        "agency_id": rng.choices(own, weights=REFERRER_WEIGHTS)[0],
                        "state": rng.choice(["signposted", "closed"]),
                        "received_at": received,
                        "decided_at": received + days(rng, 1, 9),
                        "case_id": None,
                    }
                )
            chosen = [own[0], *rng.sample(own[1:], rng.randint(1, 5))]
            case_agencies[case_id] = [(a, opened) for a in chosen]
            participations.extend(
                {"case_id": case_id, "agency_id": a, "joined_at": opened, "added_by": "UBENCH"}
                for a in chosen
            )
            if supported:
                support_start = next(when for _, nxt, when in history if nxt == "support")
                held = support_start + days(rng, 10, 30)
                end = exited or NOW
                n = 0
                while held < end and n < 12:
                    planned = held + timedelta(weeks=4)
                    reviews.append(
                        {
                            "case_id": case_id,
                            "held_on": held.date(),
                            "agencies_present": [],
                            "decisions": "Synthetic decisions.",
                            "risk_after": "moderate",
                            "next_review_at": planned,
                            "recorded_by": "UBENCH",
                            "recorded_at": held,
                            "recorded_via": f"bench:v:{case_id}:{n}",
                        }
                    )
                    held, n = planned + days(rng, -3, 10), n + 1
            if closed is not None and exited is not None:
                for months in (6, 12):
                    due = closed.date() + timedelta(days=round(months * 30.44))
                    follow_ups.append(
                        {
                            "case_id": case_id,
                            "due_on": due,
                            "label": f"{months}-month follow-up review",
                            "held_on": due if due < NOW.date() and rng.random() < 0.8 else None,
                        }
                    )
    bulk(db, Case.__table__, cases)
    seal(db, stages)
    bulk(db, Referral.__table__, referrals)
    bulk(db, CaseAgency.__table__, participations)
    bulk(db, Review.__table__, reviews)
    bulk(db, FollowUp.__table__, follow_ups)
    opened_of = {c["id"]: c["opened_at"] for c in cases}
    total_actions = round(100_000 * scale)
    actions = []
    for n in range(total_actions):
        cid = n % case_id + 1
        created = min(opened_of[cid] + days(rng, 0, 200), NOW - timedelta(days=1))
        due = (created + days(rng, 3, 40)).date()
        done = created + days(rng, 1, 60) if rng.random() < 0.85 else None
        actions.append(
            {
                "case_id": cid,
                "number": n // case_id + 1,
                "text": "Synthetic task.",
                "agency_id": rng.choice(case_agencies[cid])[0],
                "due": due,
                "priority": "normal",
                "status": "done" if done and done < NOW else "open",
                "created_by": "UBENCH",
                "created_at": created,
                "created_via": f"bench:a:{n}",
                "done_at": done if done and done < NOW else None,
            }
        )
    bulk(db, Action.__table__, actions)
    del actions
    total_updates = round(400_000 * scale)
    for start in range(0, total_updates, 100_000):
        rows = []
        for n in range(start, min(start + 100_000, total_updates)):
            cid = n % case_id + 1
            agency_id, joined = rng.choice(case_agencies[cid])
            rows.append(
                {
                    "case_id": cid,
                    "agency_id": agency_id,
                    "filer": "UBENCH",
                    "filer_role": "member",
                    "contact_date": joined.date(),
                    "kind": "note",
                    "observed": "Synthetic note.",
                    "restricted": False,
                    "created_at": min(joined + timedelta(days=rng.expovariate(1 / 40)), NOW),
                    "filed_via": f"bench:u:{n}",
                }
            )
        bulk(db, Update.__table__, rows)
    crises, pages = [], []
    total_crises = round(1_500 * scale)
    for n in range(total_crises):
        cid = rng.randint(1, case_id)
        raised = min(opened_of[cid] + days(rng, 1, 200), NOW - timedelta(days=1))
        crises.append(
            {
                "id": n + 1,
                "case_id": cid,
                "summary": "Synthetic crisis.",
                "raised_by": "UBENCH",
                "raised_at": raised,
                "raised_via": f"bench:c:{n}",
                "state": "resolved",
            }
        )
        escalated = rng.random() < 0.15
        for level, (agency_id, _) in enumerate(
            case_agencies[cid][:2] if escalated else case_agencies[cid][:1]
        ):
            answered = raised + timedelta(minutes=rng.expovariate(1 / 7) + (10 if level else 0))
            pages.append(
                {
                    "crisis_id": n + 1,
                    "agency_id": agency_id,
                    "user_id": "UONCALL",
                    "level": level,
                    "key": f"bench:p:{n}:{level}",
                    "created_at": raised,
                    "acknowledged_at": answered if level or not escalated else None,
                }
            )
    bulk(db, Crisis.__table__, crises)
    bulk(db, Page.__table__, pages)
    return {
        "areas": areas,
        "cases": case_id,
        "stage entries": len(stages),
        "referrals": len(referrals),
        "reviews": len(reviews),
        "actions": total_actions,
        "updates": total_updates,
        "crises": total_crises,
    }


def reset(db: Database) -> None:
    with db.engine.begin() as connection:
        if db.engine.dialect.name == "postgresql":
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
    db.migrate()


def timed(db: Database, areas: list[Area], label: str, runs: int = 3) -> reports.Report:
    """The report's figures built, then the whole of what `/report` sends: the figures, the PDF
    with its two charts and the CSV."""
    font = export_pdf.find_font()
    figures, sent = [], []
    for _ in range(runs):
        with db.reader() as session:
            started = time.perf_counter()
            report = reports.build(session, areas=areas, period=reports.Period.parse("2026"))
            built = time.perf_counter()
        report_pdf.render(report, font)
        reports.to_csv(report)
        figures.append(built - started)
        sent.append(time.perf_counter() - started)
    print(
        f"{label:<34} figures {min(figures):5.2f}-{max(figures):5.2f} s; "
        f"with the PDF, charts and CSV {min(sent):5.2f}-{max(sent):5.2f} s"
    )
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--database-url")
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--reset", action="store_true", help="drop every table of that database first")
    parser.add_argument("--csv", action="store_true", help="print the national report's CSV")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    chain.configure({"bench": "b" * 48})
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{tmp}/reports.db"
        if args.database_url and not args.reset:
            parser.error("--reset is required: the benchmark builds its own data in that database")
        db = Database(url)
        reset(db)
        started = time.perf_counter()
        sizes = build(db, args.scale)
        built = time.perf_counter() - started
        if db.engine.dialect.name == "postgresql":
            with db.engine.begin() as connection:
                connection.execute(text("ANALYZE"))
        print(
            f"database: {db.engine.dialect.name}; built in {built:.0f} s: "
            + ", ".join(f"{v:,} {k}" for k, v in sizes.items())
        )
        with db.reader() as session:
            every = list(session.scalars(select(Area).order_by(Area.id)))
            for area in every:
                session.expunge(area)
        national = timed(db, every, "the nation's 2026 (100 areas)")
        timed(db, [a for a in every if a.region == "region-0"], "a region's 2026 (10 areas)")
        timed(db, every[:1], "one area's 2026")
        if args.csv:
            print(reports.to_csv(national))
        else:
            for table in national.tables:
                print(
                    f"{table.title}: "
                    + ", ".join(
                        f"{r} {c.shown(national.threshold)}"
                        for r, c in zip(table.rows, table.row_totals, strict=True)
                    )
                )
            for d in national.durations:
                quartiles = f"quartiles {d.lower_quartile}, {d.upper_quartile}"
                print(f"{d.title}: median {d.median} {d.unit} ({quartiles})")
        db.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
