"""Acknowledgement latency of casehub against a bare bolt app, both under gunicorn.

    python -m benchmarks.ack_latency [--requests 2000] [--rounds 4]
                                     [--database-url URL --reset] [--worker-process]

Sends signed requests at 1, 10 and 50 concurrent clients for `/case status` and for the
`/case open` form submission, and prints p50 and p99 acknowledgement times for casehub next to
a bolt app that only acknowledges (`benchmarks.bare_app`), served the same way in the same
run; the two take turns, a quarter of the requests at a time, so that the machine's own
hiccups fall on both alike. casehub's acknowledgement includes recording the request's work
in its job queue, committed before Slack is answered.

casehub runs as `python -m bot web` does: gunicorn's threads answer, and JOB_THREADS worker
threads of the same process do the work after each answer. With `--worker-process` the web
process only answers (JOB_THREADS=0) and a `python -m bot worker` process does the work.
Before the bare app's turn, casehub's queue is left to empty, so that its work does not run
on into the other's measurement.

The earlier "bare app beside a busy core" column is gone: it stood for worker processes at
the lowest priority, and the work now runs in threads of the acknowledging process itself,
sharing its interpreter, which no neighbouring process can imitate. `--worker-process` shows
instead what moving the work out of that process changes.

Slack is the test suite's fake Web API (rate limits off), in a process of its own at the
lowest priority: real Slack does not run on casehub's CPU. Point `--database-url` at a
database of the benchmark's own: `--reset` empties it first.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from benchmarks.harness import (
    COORD,
    SlackProcess,
    Workspace,
    case_form,
    casehub_environment,
    command,
    database_arguments,
    everyone,
    free_port,
    gunicorn,
    percentiles,
    post,
    prepare_database,
    seed,
    serving_arguments,
    start_bot,
    stop,
    wait_for_queue,
)
from bot.db import Database
from bot.jobs import JobQueue

LEVELS = (1, 10, 50)
WARM = 20  # requests before each turn's measured ones
MEMBERS = 2  # police members; the case channel's other members are the lead and the school's


class Requests:
    """Bodies of the two requests measured, each a new request as Slack would send it."""

    def __init__(self, slack: SlackProcess, workspace: Workspace) -> None:
        self.slack, self.workspace = slack, workspace
        self._numbers = itertools.count(1)
        self._response_urls: list[str] = []

    def status(self) -> bytes:
        if not self._response_urls:
            self._response_urls = self.slack.response_urls(1000)
        n = next(self._numbers)
        return command(
            "/case",
            "status",
            user=COORD,
            channel=self.workspace.channel,
            response_url=self._response_urls.pop(),
            trigger=f"{n}.bench",
        )

    def case_submission(self) -> bytes:
        # One agency with one member: the channel set up after each is kept small.
        return case_form(self.workspace.registry, view_id=f"VBENCH{next(self._numbers)}", chosen=("school",))


def timed(url: str, body: bytes) -> tuple[float, bool]:
    """How long the answer took, and whether it was the plain acknowledgement; casehub answers
    with a notice instead when it could not record the work in time."""
    started = time.perf_counter()
    status, answer = post(url, body)
    elapsed = time.perf_counter() - started
    assert status == 200, (status, answer[:200])
    return elapsed, not answer


def measure(url: str, bodies: list[bytes], clients: int) -> tuple[list[float], int]:
    """Times of the answers, and how many said that nothing was saved."""
    with ThreadPoolExecutor(max_workers=clients) as pool:
        answers = list(pool.map(lambda body: timed(url, body), bodies))
    return [elapsed for elapsed, _ in answers], sum(not acknowledged for _, acknowledged in answers)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="per cell and app")
    parser.add_argument("--rounds", type=int, default=4, help="turns each app takes per cell")
    database_arguments(parser)
    serving_arguments(parser)
    args = parser.parse_args()
    slack = SlackProcess(everyone(members=MEMBERS, youth=1), nice=19).start()
    servers = []
    with tempfile.TemporaryDirectory() as tmp:
        db = prepare_database(args.database_url, tmp, reset=args.reset)
        queue = JobQueue(db)
        try:
            workspace = seed(db, slack.api_url, members=MEMBERS, youth=1)
            servers, ports = start_servers(
                db, slack, worker_process=args.worker_process, web_processes=args.web_processes
            )
            report(db, queue, Requests(slack, workspace), ports, args)
        finally:
            for process in servers:
                stop(process)
            queue.dispose()
            db.dispose()
            slack.stop()
    return 0


def start_servers(
    db: Database, slack: SlackProcess, *, worker_process: bool, web_processes: int = 1
) -> tuple[list, dict[str, int]]:
    threads = {"job_threads": 0} if worker_process else {}
    env = casehub_environment(db, slack.api_url, **threads)
    ports = {"casehub": free_port(), "bare": free_port()}
    servers = [
        gunicorn("bot.web:application_from_environment()", ports["casehub"], env, web_processes),
        gunicorn("benchmarks.bare_app:application_from_environment()", ports["bare"], env, web_processes),
    ]
    if worker_process:
        servers.append(start_bot(["worker", "--threads", "4"], env))
    return servers, ports


def report(
    db: Database, queue: JobQueue, requests: Requests, ports: dict[str, int], args: argparse.Namespace
) -> None:
    work = "a worker process" if args.worker_process else "threads of the web process"
    print(
        f"database: {db.engine.dialect.name}; work after the answer in {work}; "
        f"{args.requests} requests per cell and app; times in ms"
    )
    print(
        f"{'request':<20}{'clients':>8}{'casehub p50':>13}{'p99':>8}{'bare p50':>10}{'p99':>8}"
        f"{'p99 ratio':>11}{'p99 diff':>10}{'not saved':>11}"
    )
    kinds: list[tuple[str, Callable[[], bytes]]] = [
        ("/case status", requests.status),
        ("/case open submit", requests.case_submission),
    ]
    for name, make in kinds:
        for clients in LEVELS:
            latencies: dict[str, list[float]] = {app: [] for app in ports}
            refused = 0
            for _ in range(args.rounds):
                for app, port in ports.items():
                    url = f"http://127.0.0.1:{port}/slack/events"
                    measure(url, [make() for _ in range(WARM)], clients)
                    bodies = [make() for _ in range(args.requests // args.rounds)]
                    times, not_saved = measure(url, bodies, clients)
                    latencies[app] += times
                    refused += not_saved
                    wait_for_queue(queue)  # casehub's work must not run on into the other's turn
            (c50, c99), (b50, b99) = percentiles(latencies["casehub"]), percentiles(latencies["bare"])
            print(
                f"{name:<20}{clients:>8}{c50:>13.1f}{c99:>8.1f}{b50:>10.1f}{b99:>8.1f}"
                f"{c99 / b99:>10.2f}x{c99 - b99:>+10.1f}{refused:>11}",
                flush=True,
            )


if __name__ == "__main__":
    sys.exit(main())
