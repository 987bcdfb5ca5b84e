"""What answering Slack, and the work after it, cost in casehub's web process.

    python -m benchmarks.ack_cost [--requests 1000] [--database-url URL --reset]

In one process, with no HTTP server, dispatches signed `/case status` commands and
`/case open` submissions straight into each bolt app, one at a time:

1. The acknowledgement: microseconds per request for a bare bolt app, for casehub with its
   job queue replaced by a stand-in that only takes the work (what bolt and casehub's
   listeners cost), and for casehub recording the work in its database as it does in
   production (committed before the answer).
2. The work after it, with worker threads in the same process as `python -m bot web` runs
   them: the acknowledgement's p50 and p99 while they work, the process's CPU time per
   request, and the calls and the CPU time of each step of the queue per request. The
   steps are timed by wrapping the queue's methods on this one instance.

The fake Slack runs in this process; it is only called by the work after the answer.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from slack_bolt import App, BoltRequest
from sqlalchemy import delete

from benchmarks.bare_app import bare_bolt_app
from benchmarks.harness import (
    COORD,
    SECRET,
    Workspace,
    case_form,
    command,
    database_arguments,
    everyone,
    percentiles,
    prepare_database,
    seed,
    wait_for_queue,
)
from bot.app import Casehub, assemble
from bot.db import Database
from bot.settings import Settings
from models import Job
from sandbox.driver import sign
from sandbox.slack import TOKEN, EmulatedSlack

THREADS = 4  # JOB_THREADS' default


class TakeWork:
    """Stands in for the job queue's runner: takes each request's work and does nothing with it."""

    def __init__(self) -> None:
        self.taken = 0

    def start(self, function: Callable[..., None], request: BoltRequest) -> None:
        self.taken += 1


def signed(body: bytes) -> BoltRequest:
    ts = str(int(time.time()))
    headers = {
        "content-type": "application/x-www-form-urlencoded",
        "x-slack-request-timestamp": ts,
        "x-slack-signature": sign(SECRET, ts, body),
    }
    return BoltRequest(body=body.decode(), headers=headers)


def dispatch(app: App, request: BoltRequest) -> float:
    started = time.perf_counter()
    response = app.dispatch(request)
    elapsed = time.perf_counter() - started
    assert response.status == 200 and not response.body, response.body
    return elapsed


def per_request(app: App, requests: list[BoltRequest]) -> float:
    """Microseconds per request, after a hundred to warm up."""
    for request in requests[:100]:
        dispatch(app, request)
    return sum(dispatch(app, request) for request in requests[100:]) / (len(requests) - 100) * 1e6


class Steps:
    """Calls and thread CPU time of each step of the queue (a claim that found no job apart)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls: dict[str, int] = defaultdict(int)
        self.cpu: dict[str, float] = defaultdict(float)

    def timed(self, name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            started = time.thread_time()
            result = None
            try:
                result = method(*args, **kwargs)
                return result
            finally:
                step = f"{name} (found none)" if name == "claim" and result is None else name
                with self.lock:
                    self.calls[step] += 1
                    self.cpu[step] += time.thread_time() - started

        return run

    def clear(self) -> None:
        with self.lock:
            self.calls.clear()
            self.cpu.clear()


def with_workers(casehub: Casehub, make: Callable[[], bytes], count: int, steps: Steps) -> None:
    for _ in range(50):  # warm
        dispatch(casehub.app, signed(make()))
    wait_for_queue(casehub.queue)
    steps.clear()
    started = time.process_time()
    acks = [dispatch(casehub.app, signed(make())) for _ in range(count)]
    wait_for_queue(casehub.queue)
    cpu = (time.process_time() - started) / count * 1000
    p50, p99 = percentiles(acks)
    print(f"  answered p50 {p50:.1f} ms, p99 {p99:.1f} ms; the process's CPU time {cpu:.1f} ms a request")
    with steps.lock:
        for step in sorted(steps.calls):
            calls, spent = steps.calls[step] / count, steps.cpu[step] / count * 1000
            print(f"  {step:<34}{calls:>6.2f} calls{spent:>9.2f} ms CPU a request")


def instrument(casehub: Casehub, steps: Steps) -> None:
    queue = casehub.queue
    for name in ("record", "claim", "finish", "retry"):
        setattr(queue, name, steps.timed(name, getattr(queue, name)))
    assert casehub.workers is not None
    worker_app = casehub.workers.app
    worker_app.dispatch = steps.timed("the job's listener", worker_app.dispatch)  # type: ignore[method-assign]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    database_arguments(parser)
    args = parser.parse_args()
    fake = EmulatedSlack(enforce_rate_limits=False, open_workspace=True).start()
    for user in everyone(members=2, youth=1):
        fake.add_user(user)
    with tempfile.TemporaryDirectory() as tmp:
        db = prepare_database(args.database_url, tmp, reset=args.reset)
        try:
            workspace = seed(db, fake.api_url, members=2, youth=1)
            measure(db, fake, workspace, args.requests)
        finally:
            db.dispose()
    fake.stop()
    return 0


def measure(db: Database, fake: EmulatedSlack, workspace: Workspace, count: int) -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        slack_bot_token=TOKEN,
        slack_signing_secret=SECRET,
        database_url=db.url,
        slack_api_url=fake.api_url,
    )
    numbers = itertools.count(1)
    kinds: list[tuple[str, Callable[[], bytes]]] = [
        (
            "/case status",
            lambda: command(
                "/case",
                "status",
                user=COORD,
                channel=workspace.channel,
                response_url=fake.issue_response_url(),
                trigger=f"{next(numbers)}.bench",
            ),
        ),
        (
            "/case open submit",
            lambda: case_form(workspace.registry, view_id=f"VCOST{next(numbers)}", chosen=("school",)),
        ),
    ]
    bare = bare_bolt_app(SECRET, TOKEN, fake.api_url)
    answering = assemble(settings, db, threads=0)
    taken = TakeWork()
    recording = answering.app.listener_runner.lazy_listener_runner
    print(f"database: {db.engine.dialect.name}; {count} requests each, one at a time, in one process")
    print("1. answering: microseconds a request")
    print(f"{'request':<20}{'bare':>8}{'casehub, work not recorded':>28}{'casehub':>10}{'ratio':>8}")
    for name, make in kinds:
        requests = [signed(make()) for _ in range(count + 100)]
        theirs = per_request(bare, requests)
        answering.app.listener_runner.lazy_listener_runner = taken  # type: ignore[assignment]
        unrecorded = per_request(answering.app, requests)
        answering.app.listener_runner.lazy_listener_runner = recording
        # New requests: the ones above would be recorded once only, as Slack's retries are.
        ours = per_request(answering.app, [signed(make()) for _ in range(count + 100)])
        print(f"{name:<20}{theirs:>8.0f}{unrecorded:>28.0f}{ours:>10.0f}{ours / theirs:>7.1f}x")
    assert taken.taken == 2 * (count + 100), "the work was not handed over"
    with answering.queue.db.session() as session:  # what was recorded above is not the work below
        session.execute(delete(Job))
    answering.queue.dispose()

    print(f"2. with {THREADS} worker threads in the process, doing the work after each answer")
    working = assemble(settings, db, threads=THREADS)
    steps = Steps()
    instrument(working, steps)
    working.start()
    assert working.identity.wait(10), "the fake Slack did not answer auth.test"
    try:
        for name, make in kinds:
            print(name)
            with_workers(working, make, count, steps)
    finally:
        working.stop()


if __name__ == "__main__":
    sys.exit(main())
