"""How long a search for repeat referrals takes with 100,000 people on file.

Fills a scratch database with 100,000 cases (by default), each with the identity of its person
from the evaluation's generator (`evaluation.identity_matching`): encrypted as the record desk
stores it, and indexed by the same code (`services.identity.values_of` and `key_rows`), in bulk.
Then times searches as the record desk makes them (`services.identity.candidates`, the top five,
each in a session of its own): later referrals of people on file, with the generator's
mistakes, and people not on file. Prints the median, p95 and p99 in ms, and how many of the
repeats were found among the top five at that size.

    python -m benchmarks.identity_matching                     # SQLite, in a temporary folder
    python -m benchmarks.identity_matching --database-url postgresql+psycopg://…/bench --reset
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, insert, select, text  # noqa: E402

from benchmarks.harness import database_arguments, prepare_database  # noqa: E402
from bot.db import Database  # noqa: E402
from evaluation.identity_matching import Generator  # noqa: E402
from models import Case, Person, PersonKey, Risk, utcnow  # noqa: E402
from services import identity, identity_index  # noqa: E402
from services.identity import Identity  # noqa: E402

BATCH = 2_000
TARGET_MS = 200.0
LEAD = "UBENCHLEAD"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))]


def reference(number: int) -> str:
    """A unique six-character case reference for the n-th case."""
    digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    said = ""
    while number:
        number, left = divmod(number, 36)
        said = digits[left] + said
    return "B" + said.rjust(5, "0")


def fill(db: Database, people: list[Identity]) -> float:
    """The cases and their people, in batches; returns the seconds it took."""
    marker = identity_index.marker()
    started = time.monotonic()
    now = utcnow()
    for first in range(0, len(people), BATCH):
        chunk = list(enumerate(people[first : first + BATCH], start=first + 1))
        cases, persons, keys = [], [], []
        for number, who in chunk:
            cases.append({
                "id": number, "reference": reference(number), "risk": Risk.MODERATE,
                "summary": "A benchmark referral.", "lead_user_id": LEAD, "opened_by": LEAD,
                "opened_via": f"bench:{number}",
            })  # fmt: skip
            checked = identity.check(who)
            persons.append({
                "id": number, "case_id": number, "indexed_under": marker, "created_by": LEAD,
                "updated_by": LEAD, "created_at": now, "updated_at": now, **identity.values_of(checked),
            })  # fmt: skip
            keys.extend(identity.key_rows(number, checked))
        with db.writer() as connection:
            connection.execute(insert(Case), cases)
            connection.execute(insert(Person), persons)
            connection.execute(insert(PersonKey), keys)
        done = first + len(chunk)
        if done % 20_000 == 0 or done == len(people):
            print(f"  {done} people on file ({time.monotonic() - started:.0f} s)", flush=True)
    if db.engine.dialect.name == "postgresql":
        with db.writer() as connection:
            for table in ("cases", "persons"):
                connection.execute(
                    text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {len(people)})")
                )
            connection.execute(text("ANALYZE"))
    return time.monotonic() - started


def searches(
    make: Generator, on_file: list, count: int, share_repeats: float
) -> list[tuple[int | None, Identity]]:
    """What the desk searches for: later referrals of people on file (with the number of their
    case), and people who are not."""
    wanted = []
    for _ in range(count):
        if make.rng.random() < share_repeats:
            number = make.rng.randrange(len(on_file))
            changed, _mistakes = make.later(on_file[number])
            wanted.append((number + 1, changed))
        else:
            wanted.append((None, make.person(-1).identity()))
    return wanted


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    database_arguments(parser)
    parser.add_argument("--people", type=int, default=100_000, help="people on file (default 100000)")
    parser.add_argument("--searches", type=int, default=1_000, help="searches timed (default 1000)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    make = Generator(args.seed)
    print(f"generating {args.people} identities…", flush=True)
    on_file = [make.person(n) for n in range(args.people)]
    with tempfile.TemporaryDirectory() as directory:
        db = prepare_database(args.database_url, directory, reset=args.reset)
        dialect = "PostgreSQL" if db.engine.dialect.name == "postgresql" else "SQLite"
        took = fill(db, [p.identity() for p in on_file])
        with db.reader() as session:
            digests = session.scalar(select(func.count()).select_from(PersonKey)) or 0
        each = digests / args.people
        print(f"filled in {took:.0f} s: {args.people} people, {digests} digests ({each:.1f} each)")
        wanted = searches(make, on_file, args.searches + 50, share_repeats=0.6)
        for _, who in wanted[:50]:  # warm the caches, as a running process has them
            with db.reader() as session:
                identity.candidates(session, who)
        times, repeats, found, shown = [], 0, 0, 0
        for number, who in wanted[50:]:
            began = time.perf_counter()
            with db.reader() as session:
                result = identity.candidates(session, who)
            times.append((time.perf_counter() - began) * 1000)
            shown += len(result)
            if number is not None:
                repeats += 1
                found += any(c.case_id == number for c in result)
        db.dispose()
    median, p95, p99 = statistics.median(times), percentile(times, 95), percentile(times, 99)
    print(f"\n{args.searches} searches on {dialect} with {args.people} people on file "
          "(top five, each in its own session)")  # fmt: skip
    print(
        f"  median {median:.1f} ms, p95 {p95:.1f} ms, p99 {p99:.1f} ms, slowest {max(times):.1f} ms "
        f"(target < {TARGET_MS:.0f} ms)"
    )
    print(f"  later referrals of people on file found among the top five: {found}/{repeats} "
          f"({100 * found / repeats:.1f}%)")  # fmt: skip
    print(f"  candidates shown per search: {shown / len(times):.2f}")
    return 0 if p99 < TARGET_MS else 1


if __name__ == "__main__":
    sys.exit(main())
