"""kill -9 in the middle of a burst: is everything acknowledged done, and done once?

    python -m benchmarks.kill_burst [--notes 1000] [--database-url URL --reset]

Starts `python -m bot web` (gunicorn, with its worker threads) and a `python -m bot worker`
process, both with JOB_LEASE_SECONDS=2, and sends `--notes` quick notes (`/update <text>`,
each text its own) into one case's channel from 8 people, 8 at a time. Once a third of them
have been acknowledged, the web process and its gunicorn worker are killed with SIGKILL and
started again; once two thirds have, the worker process is. A note sent while nothing
listens is sent again once the server is back (the connection was refused: nothing was
received); one cut off after it was sent is not, and is counted apart.

When the queue is empty it prints: acknowledged (answered with no notice), done (saved),
lost (acknowledged but not saved), saved twice, posted to the channel twice, and saved but
never posted. Slack is the test suite's fake Web API, in a process of its own. Point
`--database-url` at a database of the benchmark's own: `--reset` empties it first.
"""

from __future__ import annotations

import argparse
import itertools
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from sqlalchemy import select

from benchmarks.harness import (
    SlackProcess,
    casehub_environment,
    command,
    database_arguments,
    everyone,
    free_port,
    kill,
    post,
    prepare_database,
    seed,
    start_bot,
    stop,
    wait_for_queue,
    wait_until_serving,
)
from bot.db import Database
from bot.jobs import JobQueue
from models import Update

PEOPLE = 8
NOTE = "Quick note {:04d}: attended the session and engaged well."
MARK = re.compile(r"Quick note (\d{4}):")
_triggers = itertools.count(1)


@dataclass
class Tally:
    acknowledged: set[int] = field(default_factory=set)
    not_saved: set[int] = field(default_factory=set)  # answered with the notice that nothing was saved
    cut_off: set[int] = field(default_factory=set)  # sent, then the connection died before an answer
    resent: int = 0  # refused connections, sent again once the server was back
    lock: threading.Lock = field(default_factory=threading.Lock)
    changed: threading.Condition = field(init=False)

    def __post_init__(self) -> None:
        self.changed = threading.Condition(self.lock)

    def add(self, kind: set[int], note: int) -> None:
        with self.lock:
            kind.add(note)
            self.changed.notify_all()

    def wait_acknowledged(self, count: int) -> None:
        with self.changed:
            self.changed.wait_for(lambda: len(self.acknowledged) >= count)


def deliver(url: str, body: bytes, note: int, tally: Tally) -> None:
    while True:
        try:
            # A restarted gunicorn listens before its worker has loaded casehub: a note sent then
            # waits in the listening socket's queue until it has.
            status, answer = post(url, body, timeout=120)
        except urllib.error.URLError as error:
            if isinstance(error.reason, ConnectionRefusedError):  # nothing listening: not received
                with tally.lock:
                    tally.resent += 1
                time.sleep(0.05)
                continue
            tally.add(tally.cut_off, note)
            return
        except OSError:  # reset or closed after it was sent
            tally.add(tally.cut_off, note)
            return
        if status == 200 and not answer:
            tally.add(tally.acknowledged, note)
        else:
            tally.add(tally.not_saved, note)
        return


class Processes:
    """The web and worker processes, killed and started again on cue."""

    def __init__(self, env: dict[str, str], port: int) -> None:
        self.env, self.port = env, port
        self.web = self.start_web()
        self.worker = start_bot(["worker"], env)
        self.downtime: dict[str, float] = {}

    def start_web(self) -> subprocess.Popen[bytes]:
        web = start_bot(["web"], self.env)
        wait_until_serving(self.port, web)
        return web

    def kill_and_restart(self, which: str) -> None:
        started = time.monotonic()
        if which == "web":
            kill(self.web)
            self.web = self.start_web()
        else:
            kill(self.worker)
            self.worker = start_bot(["worker"], self.env)
        self.downtime[which] = time.monotonic() - started

    def stop(self) -> None:
        stop(self.web)
        stop(self.worker)


def run(db: Database, slack: SlackProcess, notes: int) -> None:
    workspace = seed(db, slack.api_url, members=PEOPLE, youth=0)
    port = free_port()
    env = casehub_environment(db, slack.api_url, port=port, job_lease_seconds=2, job_poll_seconds=0.2)
    queue = JobQueue(db)
    processes = Processes(env, port)
    try:
        url = f"http://127.0.0.1:{port}/slack/events"
        response_urls = slack.response_urls(notes)
        tally = Tally()

        def send_all(person: int) -> None:
            user = workspace.members[person]
            for note in range(person, notes, PEOPLE):
                body = command(
                    "/update",
                    NOTE.format(note),
                    user=user,
                    channel=workspace.channel,
                    response_url=response_urls[note],
                    trigger=f"{next(_triggers)}.bench",
                )
                deliver(url, body, note, tally)

        def kill_on_cue() -> None:
            tally.wait_acknowledged(notes // 3)
            processes.kill_and_restart("web")
            tally.wait_acknowledged(2 * notes // 3)
            processes.kill_and_restart("worker")

        started = time.monotonic()
        killer = threading.Thread(target=kill_on_cue, daemon=True)
        killer.start()
        with ThreadPoolExecutor(max_workers=PEOPLE) as pool:
            list(pool.map(send_all, range(PEOPLE)))
        sent = time.monotonic() - started
        killer.join(timeout=300)
        wait_for_queue(queue)
        finished = time.monotonic() - started
        stats = queue.stats()
        report(db, slack, workspace.channel, tally, notes, sent, finished, processes.downtime, stats.parked)
    finally:
        processes.stop()
        queue.dispose()


def report(
    db: Database,
    slack: SlackProcess,
    channel: str,
    tally: Tally,
    notes: int,
    sent: float,
    finished: float,
    downtime: dict[str, float],
    parked: int,
) -> None:
    with db.reader() as session:
        saved = Counter(
            int(found.group(1))
            for text in session.scalars(select(Update.observed))
            if (found := MARK.search(text))
        )
        unposted = [
            int(found.group(1))
            for text in session.scalars(select(Update.observed).where(Update.channel_ts.is_(None)))
            if (found := MARK.search(text))
        ]
    posted = Counter(
        int(found.group(1)) for message in slack.channel_posts(channel) if (found := MARK.search(message))
    )
    acknowledged = tally.acknowledged
    print(f"database: {db.engine.dialect.name}; {notes} notes from {PEOPLE} people, {PEOPLE} at a time")
    print(
        f"web process killed and serving again after {downtime.get('web', 0):.1f} s; "
        f"worker process killed and started again after {downtime.get('worker', 0):.1f} s"
    )
    print(f"all sent after {sent:.1f} s; queue empty after {finished:.1f} s; {parked} job(s) parked")
    rows = (
        ("acknowledged", len(acknowledged)),
        ("done", len(acknowledged & saved.keys())),
        ("lost (acknowledged, not saved)", len(acknowledged - saved.keys())),
        ("saved twice", sum(1 for count in saved.values() if count > 1)),
        ("posted to the channel twice", sum(1 for count in posted.values() if count > 1)),
        ("saved, never posted", f"{len(unposted)} {sorted(unposted)[:20] if unposted else ''}"),
        ("answered 'not saved'", f"{len(tally.not_saved)} (saved: {len(tally.not_saved & saved.keys())})"),
        ("cut off by a kill", f"{len(tally.cut_off)} (saved: {len(tally.cut_off & saved.keys())})"),
        ("refused while down, sent again", tally.resent),
    )
    for name, value in rows:
        print(f"{name + ':':<34}{value}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notes", type=int, default=1000)
    database_arguments(parser)
    args = parser.parse_args()
    slack = SlackProcess(everyone(members=PEOPLE, youth=0)).start()
    with tempfile.TemporaryDirectory() as tmp:
        db = prepare_database(args.database_url, tmp, reset=args.reset)
        try:
            run(db, slack, args.notes)
        finally:
            db.dispose()
            slack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
