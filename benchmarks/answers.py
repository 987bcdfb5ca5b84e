"""What people wait for: from a command or a form to what they see in Slack.

    python -m benchmarks.answers [--rounds 20] [--burst 500] [--cases 20]
                                 [--database-url URL --reset] [--worker-process]

(a) 10, then 50, simulated people each send `/case status` in a case channel and wait for the
    answer before sending the next: the time from sending the command until the fake Slack has
    received the card on the command's response URL, p50 and p99, and answers per second.
(b) A burst of `--burst` `/case status` commands from 50 people, sent as fast as they are
    acknowledged (10 at a time): when the last one is acknowledged, and when it is answered.
(c) The `/case open` form submitted `--cases` times, one after another: the time until the
    case's channel is ready (its 30 people invited, its topic set, its header pinned).

casehub runs as `python -m bot web` does (gunicorn; JOB_THREADS worker threads in the same
process); with `--worker-process` the web process only answers and a `python -m bot worker`
process does the work. Slack is the test suite's fake Web API in a process of its own, at
normal priority: its answers are part of what people wait for, though real Slack's would not
take this machine's CPU. Point `--database-url` at a database of the benchmark's own:
`--reset` empties it first.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from queue import Empty

from benchmarks.harness import (
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
from bot.jobs import JobQueue

PEOPLE = (10, 50)
SENDERS = 10  # connections sending the burst
INVITED = 30  # people in each new case's channel: the lead and the youth service's 29
_triggers = itertools.count(1)


def status_command(workspace: Workspace, user: str, response_url: str) -> bytes:
    return command(
        "/case",
        "status",
        user=user,
        channel=workspace.channel,
        response_url=response_url,
        trigger=f"{next(_triggers)}.bench",
    )


def acknowledge(url: str, body: bytes) -> float | None:
    """Send a request: when it was sent (`time.monotonic()`), or None if casehub answered at
    once that it could not record the work (the person is told nothing was saved)."""
    sent = time.monotonic()
    status, answer = post(url, body)
    assert status == 200, (status, answer[:200])
    return None if answer else sent


def conversation(
    slack: SlackProcess, url: str, workspace: Workspace, user: str, rounds: int
) -> list[float | None]:
    """One person asking `rounds` times, each time once the last answer has come: each wait,
    or None for a command answered at once with "nothing was saved"."""
    waits: list[float | None] = []
    for response_url in slack.response_urls(rounds):
        sent = acknowledge(url, status_command(workspace, user, response_url))
        waits.append(None if sent is None else slack.answered_at(response_url) - sent)
    return waits


def people_waiting(
    slack: SlackProcess, url: str, workspace: Workspace, people: int, rounds: int
) -> tuple[list[float], int, float]:
    """(a): every answer's wait, how many were "nothing was saved", and answers per second."""
    users = workspace.members[:people]
    with ThreadPoolExecutor(max_workers=people) as pool:
        list(pool.map(lambda user: conversation(slack, url, workspace, user, 2), users))  # warm
        started = time.monotonic()
        conversations = pool.map(lambda user: conversation(slack, url, workspace, user, rounds), users)
        waits = [wait for each in conversations for wait in each]
        elapsed = time.monotonic() - started
    answered = [wait for wait in waits if wait is not None]
    return answered, len(waits) - len(answered), len(answered) / elapsed


def burst(
    slack: SlackProcess, url: str, workspace: Workspace, count: int
) -> tuple[float, float, list[float], int]:
    """(b): when the last command was acknowledged and when the last was answered, from the
    first sent; every answer's wait; how many were answered "nothing was saved"."""
    response_urls = slack.response_urls(count)
    bodies = [
        status_command(workspace, workspace.members[n % len(workspace.members)], response_url)
        for n, response_url in enumerate(response_urls)
    ]
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=SENDERS) as pool:
        sent = list(pool.map(lambda body: acknowledge(url, body), bodies))
    acknowledged = time.monotonic() - started
    waits, last = [], started
    for response_url, at in zip(response_urls, sent, strict=True):
        if at is not None:
            answered = slack.answered_at(response_url, timeout=600)
            waits.append(answered - at)
            last = max(last, answered)
    return acknowledged, last - started, waits, sent.count(None)


def case_channels(
    slack: SlackProcess, url: str, workspace: Workspace, queue: JobQueue, count: int
) -> list[float]:
    """(c): for each case opened through the form, the time until its channel was ready."""
    waits = []
    for n in range(count):
        body = case_form(workspace.registry, view_id=f"VREADY{n}", chosen=("youth",))
        sent = acknowledge(url, body)
        assert sent is not None, "casehub could not record the form"
        channel, pinned = slack.pinned.get(timeout=120)
        waits.append(pinned - sent)
        state = slack.channel_state(channel)
        invited = len(state["members"]) - 1  # all but casehub's own bot
        assert invited == INVITED and state["topic"] and state["pins"], (invited, state["topic"])
        wait_for_queue(queue)  # the lead's message, and anything else, before the next case
    return waits


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20, help="commands each person sends in (a)")
    parser.add_argument("--burst", type=int, default=500)
    parser.add_argument("--cases", type=int, default=20)
    database_arguments(parser)
    serving_arguments(parser)
    args = parser.parse_args()
    slack = SlackProcess(everyone(members=max(PEOPLE), youth=INVITED - 1)).start()
    servers = []
    with tempfile.TemporaryDirectory() as tmp:
        db = prepare_database(args.database_url, tmp, reset=args.reset)
        queue = JobQueue(db)
        try:
            workspace = seed(db, slack.api_url, members=max(PEOPLE), youth=INVITED - 1)
            env = casehub_environment(
                db, slack.api_url, **({"job_threads": 0} if args.worker_process else {})
            )
            port = free_port()
            servers.append(gunicorn("bot.web:application_from_environment()", port, env, args.web_processes))
            if args.worker_process:
                servers.append(start_bot(["worker", "--threads", "4"], env))
            url = f"http://127.0.0.1:{port}/slack/events"
            work = "a worker process" if args.worker_process else "threads of the web process"
            print(f"database: {db.engine.dialect.name}; work after the answer in {work}; times in ms")

            print("(a) /case status, each person waiting for the answer before sending the next")
            print(f"{'people':>8}{'answers':>9}{'p50':>8}{'p99':>8}{'answers/s':>11}{'not saved':>11}")
            for people in PEOPLE:
                waits, refused, rate = people_waiting(slack, url, workspace, people, args.rounds)
                p50, p99 = percentiles(waits)
                print(
                    f"{people:>8}{len(waits):>9}{p50:>8.1f}{p99:>8.1f}{rate:>11.1f}{refused:>11}", flush=True
                )
                wait_for_queue(queue)

            acknowledged, last, waits, refused = burst(slack, url, workspace, args.burst)
            p50, p99 = percentiles(waits)
            print(
                f"(b) a burst of {args.burst} /case status from 50 people, {SENDERS} at a time: all "
                f"acknowledged after {acknowledged * 1000:.0f} ms, the last answered after "
                f"{last * 1000:.0f} ms ({len(waits) / last:.0f} answers/s); each answer p50 {p50:.0f}, "
                f"p99 {p99:.0f}; {refused} answered 'nothing was saved'",
                flush=True,
            )
            wait_for_queue(queue)

            while True:  # the seeded case's channel was pinned too
                try:
                    slack.pinned.get_nowait()
                except Empty:
                    break
            waits = case_channels(slack, url, workspace, queue, args.cases)
            p50, p99 = percentiles(waits)
            print(
                f"(c) /case open submission to a ready channel ({INVITED} invited, topic, header "
                f"pinned), {args.cases} cases one after another: p50 {p50:.0f}, p99 {p99:.0f}, "
                f"max {max(waits) * 1000:.0f}"
            )
        finally:
            for process in servers:
                stop(process)
            queue.dispose()
            db.dispose()
            slack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
