"""What encryption at rest adds to the answer of `/case status`.

    python -m benchmarks.encryption_status [--people 10] [--rounds 5] [--turns 6]
                                           [--database-url URL --clear-database-url URL --reset]

Two casehubs are served side by side as `python -m bot web` serves one (gunicorn, JOB_THREADS
worker threads in the same process), each with its own database seeded alike: one encrypts
what people typed as casehub does, the other stores it in clear (a keyring that passes values
through, installed by this benchmark alone). The seeded case carries a concern of 1,500
characters and the agency's own reference, and both agencies have filed updates.

`--people` people each send `/case status` in the case channel and wait for the answer before
sending the next, `--rounds` times; the two casehubs take `--turns` turns each, alternately,
so that the machine's own hiccups fall on both alike. The answer time is from sending the
command until the fake Slack has received the card on its response URL (the request recorded
in the job queue, encrypted; claimed and decrypted by a worker; the case read and decrypted;
the view recorded in the access log; the card sent). Printed: p50 and p99 of each, and what
encryption adds, in ms and in %. Then the cost of the cipher alone, measured directly: a
value of the concern's size and of a request's, encrypted and decrypted.

Slack is the test suite's fake Web API, in a process of its own. For PostgreSQL, give two
databases of the benchmark's own: `--reset` empties them first.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import timeit
from datetime import date

from sqlalchemy import select

from benchmarks.answers import people_waiting
from benchmarks.harness import (
    SlackProcess,
    Workspace,
    casehub_environment,
    everyone,
    free_port,
    gunicorn,
    percentiles,
    prepare_database,
    seed,
    stop,
    wait_for_queue,
)
from bot.db import Database
from bot.jobs import JobQueue
from models import Case, Risk, Update, UpdateKind
from models import encryption as crypto

CLEAR = "CASEHUB_BENCH_CLEARTEXT"  # set in the environment of the casehub that stores in clear
CONCERN = (
    "Concern raised by the school's safeguarding lead after repeated remarks in class that echo "
    "material seen on extremist forums; the young person has withdrawn from friends, spends "
    "nights online and has asked staff where to find more of it. "
) * 7
CONCERN = CONCERN[:1500]
NARRATIVE = (
    "Home visit with the family worker: the young person talked at length about online groups "
    "and was open about feeling isolated at school; parents are supportive and worried. "
) * 4


class Cleartext(crypto.Keyring):
    """Values stored as they are: casehub as it would be without encryption at rest. Only this
    benchmark installs it."""

    def __init__(self) -> None:
        super().__init__({"clear": bytes(crypto.KEY_BYTES)})

    def encrypt(self, text: str, label: str) -> str:
        return text

    def decrypt(self, stored: str, label: str) -> str:
        return stored


def application() -> object:
    """gunicorn's entry point: `bot.web.application_from_environment()`, storing in clear when
    CASEHUB_BENCH_CLEARTEXT is set (after `assemble`, which configures the keys from DATA_KEYS)."""
    import atexit

    from bot.app import assemble, prepare_identifier_check
    from bot.keys import check_at_start, encrypt_with
    from bot.settings import load_settings
    from bot.web import wsgi_app

    clear = bool(os.environ.get(CLEAR))
    settings = load_settings()
    encrypt_with(settings)
    db = Database(settings.database_url)
    db.check_migrated()
    if not clear:
        check_at_start(db)
    casehub = assemble(settings, db)
    if clear:
        crypto.install(Cleartext())
    prepare_identifier_check()
    casehub.start()
    atexit.register(casehub.stop)
    return wsgi_app(
        casehub.app,
        db,
        settings.slack_signing_secret.get_secret_value(),
        queue=casehub,
        slack=casehub.identity,
    )


def prepare(
    url: str | None, folder: str, api_url: str, members: int, *, reset: bool
) -> tuple[Database, Workspace]:
    """A database seeded with the case: its concern, the agency's reference, updates of both."""
    os.makedirs(folder)
    db = prepare_database(url, folder, reset=reset)
    workspace = seed(db, api_url, members=members, youth=1)
    slugs = {agency.slug: agency.id for agency in workspace.registry}
    with db.session() as session:
        case = session.scalars(select(Case)).one()
        case.summary, case.agency_reference = CONCERN, "CH-2291-XY"
        for n, (agency, filer) in enumerate([("police", workspace.members[0]), ("school", "USCH")] * 5):
            session.add(
                Update(
                    case_id=case.id,
                    agency_id=slugs[agency],
                    filer=filer,
                    filer_role="member",
                    contact_date=date.today(),
                    kind=UpdateKind.HOME_VISIT,
                    observed=f"{NARRATIVE} ({n})",
                    risk=Risk.MODERATE,
                    protective_factors="A trusted mentor; football twice a week.",
                    concerns="Late nights online; isolation at school.",
                    asks="School: attendance for the last month, please.",
                    filed_via=f"bench:{n}",
                )
            )
    return db, workspace


def cipher_cost(size: int, repeat: int = 20_000) -> float:
    """Microseconds to encrypt and decrypt a value of `size` characters with the current key."""
    ring = crypto.keyring
    value = ("x" * size)[:size]
    stored = ring.encrypt(value, "cases.summary")
    both = lambda: ring.decrypt(ring.encrypt(value, "cases.summary"), "cases.summary")  # noqa: E731
    seconds = timeit.timeit(both, number=repeat)
    assert ring.decrypt(stored, "cases.summary") == value
    return seconds / repeat * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=5, help="commands each person sends in a turn")
    parser.add_argument("--turns", type=int, default=6, help="turns each casehub takes")
    parser.add_argument("--database-url", help="the encrypting casehub's database")
    parser.add_argument("--clear-database-url", help="the other's")
    parser.add_argument("--reset", action="store_true", help="empty those databases first")
    args = parser.parse_args()
    if bool(args.database_url) != bool(args.clear_database_url):
        parser.error("give both --database-url and --clear-database-url, or neither")
    slack = SlackProcess(everyone(members=max(args.people, 10), youth=1)).start()
    servers = []
    with tempfile.TemporaryDirectory() as tmp:
        members = max(args.people, 10)
        encrypted_db, encrypted = prepare(
            args.database_url, f"{tmp}/encrypted", slack.api_url, members, reset=args.reset
        )
        current = crypto.keyring
        crypto.install(Cleartext())
        clear_db, clear = prepare(
            args.clear_database_url, f"{tmp}/clear", slack.api_url, members, reset=args.reset
        )
        crypto.install(current)
        for db, encrypted_form in ((encrypted_db, True), (clear_db, False)):
            with db.engine.connect() as connection:
                stored = str(connection.exec_driver_sql("SELECT summary FROM cases").scalar())
            assert stored.startswith("v1:") is encrypted_form, "the two databases are not as they should be"
        queues = [JobQueue(encrypted_db), JobQueue(clear_db)]
        try:
            urls = []
            for db, extra in ((encrypted_db, {}), (clear_db, {CLEAR: "1"})):
                port = free_port()
                env = {**casehub_environment(db, slack.api_url), **extra}
                servers.append(gunicorn("benchmarks.encryption_status:application()", port, env))
                urls.append(f"http://127.0.0.1:{port}/slack/events")
            print(f"database: {encrypted_db.engine.dialect.name}; {args.people} people; times in ms")
            waits: list[list[float]] = [[], []]
            for turn in range(args.turns * 2):
                which = turn % 2 if turn // 2 % 2 == 0 else 1 - turn % 2  # ABBA: neither always first
                workspace = (encrypted, clear)[which]
                answered, refused, _rate = people_waiting(
                    slack, urls[which], workspace, args.people, args.rounds
                )
                assert refused == 0, "a command was answered 'nothing was saved'"
                waits[which] += answered
                wait_for_queue(queues[which])
            (p50, p99), (c50, c99) = percentiles(waits[0]), percentiles(waits[1])
            print(f"{'':<12}{'answers':>9}{'p50':>8}{'p99':>8}")
            print(f"{'encrypted':<12}{len(waits[0]):>9}{p50:>8.1f}{p99:>8.1f}")
            print(f"{'in clear':<12}{len(waits[1]):>9}{c50:>8.1f}{c99:>8.1f}")
            print(
                f"encryption adds {p50 - c50:+.1f} ms ({(p50 - c50) / c50 * 100:+.1f}%) at p50 and "
                f"{p99 - c99:+.1f} ms ({(p99 - c99) / c99 * 100:+.1f}%) at p99"
            )
        finally:
            for process in servers:
                stop(process)
            for queue in queues:
                queue.dispose()
            encrypted_db.dispose()
            clear_db.dispose()
            slack.stop()
    for size in (len(CONCERN), 3000):
        cost = cipher_cost(size)
        print(f"AES-256-GCM, a value of {size} characters encrypted and decrypted: {cost:.1f} µs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
