"""How long `python -m bot audit verify` takes on a large audit trail.

Fills a scratch database with N sealed audit entries (keyed, with details like casehub's) and a
tenth as many sharing-log entries, then times the verification of both chains in one process,
and as the daily check and the command run it (a long chain walked in parts, one per core, at
most four).

    python -m benchmarks.audit_verify --entries 5000000 --database-url postgresql+psycopg://…/bench
    python -m benchmarks.audit_verify --entries 200000          # SQLite, in a temporary folder
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, text  # noqa: E402

from benchmarks.harness import database_arguments, prepare_database  # noqa: E402
from models import AuditEvent, Case, Risk, SharingRecord  # noqa: E402
from services import chain  # noqa: E402

BATCH = 20_000
ACTIONS = ("update.filed", "action.added", "case.stage_changed", "crisis.paged", "review.recorded")


def audit_rows(count: int, start: datetime):
    before = chain.GENESIS
    for seq in range(1, count + 1):
        details = {"agencies": ["police", "school"], "stage": "support", "number": seq % 97}
        row = {
            "at": start + timedelta(seconds=seq),
            "actor": f"U{seq % 3000:07d}",
            "action": ACTIONS[seq % len(ACTIONS)],
            "case_id": None,
            "agency_id": None,
            "details": details,
            "request_ref": f"view:V{seq:09d}",
            "seq": seq,
            "key_id": chain.keyring.current,
            "details_digest": chain.digest(details),
        }
        row["chain_hash"] = before = chain.keyring.link(
            row["key_id"], before, chain.content("audit_events", row)
        )
        yield row


def sharing_rows(count: int, start: datetime, case_id: int):
    before = chain.GENESIS
    for seq in range(1, count + 1):
        row = {
            "at": start + timedelta(seconds=seq),
            "case_id": case_id,
            "disclosure": "update",
            "update_id": None,
            "crisis_id": None,
            "from_agency_id": None,
            "shared_by": f"U{seq % 3000:07d}",
            "to_agency_id": None,
            "to_user": None,
            "kind": "note",
            "reason": "School filed a note update on case K7Q2M9",
            "basis": "safeguarding",
            "seq": seq,
            "key_id": chain.keyring.current,
        }
        row["chain_hash"] = before = chain.keyring.link(
            row["key_id"], before, chain.content("sharing_log", row)
        )
        yield row


def fill(db, model, rows, count: int) -> None:
    """Entries inserted in batches (they come sealed, so the triggers let them in)."""
    table = model.__table__
    batch: list[dict] = []
    last = None
    for row in rows:
        batch.append(row)
        last = row
        if len(batch) == BATCH:
            with db.engine.begin() as connection:
                connection.execute(insert(table), batch)
            batch = []
    with db.engine.begin() as connection:
        if batch:
            connection.execute(insert(table), batch)
        assert last is not None
        connection.execute(
            text("UPDATE audit_chains SET seq = :seq, chain_hash = :hash WHERE name = :name"),
            {"seq": count, "hash": last["chain_hash"], "name": table.name},
        )


def one_case(db) -> int:
    """The case the sharing-log entries are about."""
    with db.session() as session:
        case = Case(
            area_id=1,  # the area `main` of a migrated database
            reference="K7Q2M9",
            risk=Risk.MODERATE,
            summary="Benchmark case",
            lead_user_id="U0000001",
            opened_by="U0000001",
            opened_via="benchmark",
        )
        session.add(case)
        session.flush()
        return case.id


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--entries", type=int, default=200_000, help="audit entries (sharing log: a tenth)")
    database_arguments(parser)
    args = parser.parse_args()
    chain.configure({"bench": "b" * 48})
    directory = tempfile.mkdtemp(prefix="casehub-audit-bench-")
    db = prepare_database(args.database_url, directory, reset=True)
    case_id = one_case(db)
    start = datetime(2020, 1, 1, tzinfo=UTC)
    began = time.perf_counter()
    fill(db, AuditEvent, audit_rows(args.entries, start), args.entries)
    shares = max(1, args.entries // 10)
    fill(db, SharingRecord, sharing_rows(shares, start, case_id), shares)
    filled = time.perf_counter() - began
    print(f"filled {args.entries:,} audit and {shares:,} sharing-log entries in {filled:.0f} s")
    total = args.entries + shares
    for processes in sorted({1, min(4, os.cpu_count() or 1)}):
        began = time.perf_counter()
        report = chain.verify_database(db.url, processes=processes)
        took = time.perf_counter() - began
        assert report.intact, report.summary()
        print(
            f"verified {total:,} entries ({db.engine.dialect.name}, {processes} process(es)) "
            f"in {took:.1f} s: "
            f"{total / took:,.0f} a second"
        )
    db.dispose()


if __name__ == "__main__":
    main()
