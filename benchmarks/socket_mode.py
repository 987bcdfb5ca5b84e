"""Socket Mode: how fast envelopes are acknowledged, and what people wait for.

    python -m benchmarks.socket_mode [--requests 300] [--rounds 10] [--connections 2]
                                     [--database-url URL --reset]

casehub runs as `python -m bot socket` does, in a process of its own: SOCKET_CONNECTIONS
connections to the emulated Slack, JOB_THREADS worker threads in the same process.

(a) `/case status` envelopes delivered by 1, 10 and 50 concurrent senders (each sending its next
    once the last is acknowledged): the time from Slack sending an envelope to receiving its
    acknowledgement, p50 and p99 of those acknowledged in time, and how many were not (after 3 s
    the person sees an error).
    casehub's acknowledgement includes recording the request's work in its job queue.
(b) 10, then 50, simulated people each send `/case status` and wait for the answer before
    sending the next: the time from the envelope sent to the status card received on the
    command's response URL, p50 and p99.

The emulated Slack (Web API and WebSocket server) runs in this process, with the senders; its
own work is part of every figure, though real Slack's would not take this machine's CPU.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from benchmarks.harness import (
    Workspace,
    casehub_environment,
    command,
    database_arguments,
    everyone,
    free_port,
    percentiles,
    prepare_database,
    seed,
    start_bot,
    stop,
    wait_for_queue,
)
from bot.jobs import JobQueue
from sandbox.driver import envelope_of
from sandbox.slack import APP_TOKEN, EmulatedSlack, Origin
from sandbox.socket_mode import NotAcknowledged, SocketModeSlack

SENDERS = (1, 10, 50)
PEOPLE = (10, 50)
_triggers = itertools.count(1)


def status_payload(fake: EmulatedSlack, workspace: Workspace, user: str) -> tuple[dict[str, Any], str]:
    """A `/case status` in the case channel, as a slash_commands envelope carries it, and the
    key of its response URL."""
    response_url = fake.issue_response_url(Origin(user, workspace.channel))
    body = command(
        "/case",
        "status",
        user=user,
        channel=workspace.channel,
        response_url=response_url,
        trigger=f"{next(_triggers)}.bench",
    )
    _kind, payload = envelope_of(body, "application/x-www-form-urlencoded")
    return payload, response_url.rsplit("/", 1)[-1]


def acknowledged(socket: SocketModeSlack, payload: dict[str, Any]) -> float | None:
    """Deliver one envelope and wait for its acknowledgement: the seconds it took, or None when
    it did not come within Slack's 3 s (the person would have seen an error)."""
    envelope = socket.deliver("slash_commands", payload, accepts_response_payload=True)
    try:
        socket.wait(envelope, timeout=60)
    except NotAcknowledged:
        return None
    assert envelope.acknowledged_after is not None
    return envelope.acknowledged_after


def answered(fake: EmulatedSlack, key: str, timeout: float = 60.0) -> float:
    """When the first reply on response URL `key` had arrived (`time.monotonic()`)."""
    deadline = time.monotonic() + timeout
    with fake.changed:
        while not fake.responses.get(key):
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no answer on {key} within {timeout:.0f} s")
            fake.changed.wait(left)
    return time.monotonic()


def acknowledgements(
    fake: EmulatedSlack, socket: SocketModeSlack, workspace: Workspace, senders: int, count: int
) -> list[float | None]:
    payloads = [status_payload(fake, workspace, workspace.members[n % senders])[0] for n in range(count)]
    with ThreadPoolExecutor(max_workers=senders) as pool:
        return list(pool.map(lambda payload: acknowledged(socket, payload), payloads))


def waits_for_answers(
    fake: EmulatedSlack, socket: SocketModeSlack, workspace: Workspace, people: int, rounds: int
) -> list[float]:
    def conversation(user: str) -> list[float]:
        waits = []
        for _ in range(rounds):
            payload, key = status_payload(fake, workspace, user)
            sent = time.monotonic()
            socket.deliver("slash_commands", payload, accepts_response_payload=True)
            waits.append(answered(fake, key) - sent)
        return waits

    with ThreadPoolExecutor(max_workers=people) as pool:
        return [wait for each in pool.map(conversation, workspace.members[:people]) for wait in each]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300, help="envelopes at each concurrency in (a)")
    parser.add_argument("--rounds", type=int, default=10, help="commands each person sends in (b)")
    parser.add_argument("--connections", type=int, default=2, help="SOCKET_CONNECTIONS")
    database_arguments(parser)
    args = parser.parse_args()
    fake = EmulatedSlack(enforce_rate_limits=False, open_workspace=True).start()
    for user in everyone(members=max(PEOPLE), youth=29):
        fake.add_user(user)
    socket = fake.socket_mode()
    with tempfile.TemporaryDirectory() as tmp:
        db = prepare_database(args.database_url, tmp, reset=args.reset)
        queue = JobQueue(db)
        process = None
        try:
            workspace = seed(db, fake.api_url, members=max(PEOPLE))
            env = casehub_environment(
                db,
                fake.api_url,
                slack_app_token=APP_TOKEN,
                socket_connections=args.connections,
                port=free_port(),
            )
            process = start_bot(["socket"], env)
            socket.wait_for_links(args.connections, timeout=180)
            acknowledgements(fake, socket, workspace, 1, 20)  # warm up
            wait_for_queue(queue)
            print(
                f"database: {db.engine.dialect.name}; {args.connections} connections; work after the "
                "acknowledgement in threads of the socket process; times in ms"
            )
            print("(a) /case status envelopes: from sent to acknowledged")
            print(f"{'senders':>8}{'envelopes':>11}{'p50':>8}{'p99':>8}{'late':>6}")
            for senders in SENDERS:
                times = acknowledgements(fake, socket, workspace, senders, args.requests)
                seconds = [each for each in times if each is not None]
                p50, p99 = percentiles(seconds)
                late = len(times) - len(seconds)  # not acknowledged within 3 s
                print(f"{senders:>8}{len(times):>11}{p50:>8.1f}{p99:>8.1f}{late:>6}", flush=True)
                wait_for_queue(queue)
            print("(b) /case status, each person waiting for the answer before sending the next")
            print(f"{'people':>8}{'answers':>9}{'p50':>8}{'p99':>8}")
            for people in PEOPLE:
                waits = waits_for_answers(fake, socket, workspace, people, args.rounds)
                p50, p99 = percentiles(waits)
                print(f"{people:>8}{len(waits):>9}{p50:>8.1f}{p99:>8.1f}", flush=True)
                wait_for_queue(queue)
        finally:
            if process is not None:
                stop(process)
            queue.dispose()
            db.dispose()
            fake.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
