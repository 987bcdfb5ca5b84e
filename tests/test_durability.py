"""kill -9 of web processes with acknowledged work on hand: none of it is lost or done twice.

Four people send quick notes at once to `python -m bot web` subprocesses, each killed with
SIGKILL (gunicorn and its worker alike) once 15 more notes have been acknowledged:

1. one with two worker threads, killed with jobs done, half done and queued;
2. one with none (JOB_THREADS=0), so that nothing is done from the first kill to its own: every
   note it acknowledged is still queued when it dies;
3. casehub served in this process then answers the rest, and its workers take both killed
   processes' jobs, the running ones once their leases have run out.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from slack_sdk import WebClient
from sqlalchemy import select

from bot.db import Database
from bot.jobs import JobQueue, QueueStats
from flows import case_channel
from models import Risk, Update
from sandbox.driver import SlackDriver
from sandbox.slack import BOT_USER, TOKEN, EmulatedSlack
from services import cases
from tests.conftest import (
    COORD,
    HEALTH,
    HOUSING,
    KEY_ENV,
    POLICE,
    SCHOOL,
    SECRET,
    Running,
    make_settings,
    serve,
)

NOTES = 45
KILL_EVERY = 15  # notes acknowledged by each web process before it is killed
FILERS = (POLICE, SCHOOL, HEALTH, HOUSING)
NOTE = "Quick note {:02d}: attended the session and engaged well."
MARK = re.compile(r"Quick note (\d{2}):")
LEASE = 1.0  # seconds: a killed process's jobs are taken again soon after


@dataclass
class WebProcess:
    process: subprocess.Popen[bytes]
    url: str
    log: Path

    def wait_until_serving(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text()[-3000:]
            try:
                urllib.request.urlopen(self.url + "/healthz", timeout=1).close()
                return
            except urllib.error.HTTPError:
                return  # an answer, whatever it says
            except OSError:
                time.sleep(0.1)
        raise AssertionError(f"python -m bot web was not serving after {timeout:.0f} s")

    def kill(self) -> None:
        """SIGKILL to gunicorn and its worker at once, as when the machine takes them down."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)


def start_web(database: Database, fake: EmulatedSlack, log: Path, *, threads: int) -> WebProcess:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        "PATH": "/usr/bin:/bin",
        "SLACK_BOT_TOKEN": TOKEN,
        "SLACK_SIGNING_SECRET": SECRET,
        "DATABASE_URL": database.url,
        "SLACK_API_URL": fake.api_url,
        "PORT": str(port),
        "JOB_THREADS": str(threads),
        "JOB_LEASE_SECONDS": str(LEASE),
        "JOB_POLL_SECONDS": "0.1",
        "LOG_LEVEL": "WARNING",
        **KEY_ENV,
    }
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "bot", "web"],
            env=env,
            cwd=log.parent,
            stdout=subprocess.DEVNULL,
            stderr=output,
            start_new_session=True,  # a process group of its own: gunicorn and its worker die together
        )
    return WebProcess(process, f"http://127.0.0.1:{port}", log)


@pytest.fixture
def web_processes(database: Database, fake: EmulatedSlack, tmp_path: Path) -> Iterator[list[WebProcess]]:
    """The two web processes, started before the registry is seeded: the three processes
    load the identifier check's models at the same time."""
    started = [
        start_web(database, fake, tmp_path / "working.log", threads=2),
        start_web(database, fake, tmp_path / "queued-only.log", threads=0),
    ]
    yield started
    for web in started:
        if web.process.poll() is None:
            web.kill()


@pytest.fixture
def case_channel_id(database: Database, fake: EmulatedSlack, registry: None) -> str:
    """An open case of four partner agencies, its channel ready."""
    partners = ("police", "school", "health", "housing")
    with database.session() as session:
        draft = cases.CaseDraft("A referral from the school, no names.", Risk.MODERATE, COORD, partners)
        case, _ = cases.open_case(session, draft=draft, opener=COORD, opened_via="test", request_ref="test")
        case_id = case.id
    result = case_channel.provision(
        database,
        WebClient(token=TOKEN, base_url=fake.api_url),
        case_id=case_id,
        prefix="case",
        bot_user_id=BOT_USER,
        actor=COORD,
        request_ref="test",
    )
    assert result.ok, result.error
    return result.channel_id or ""


class Drained:
    """Work is settled when casehub's queue has nothing queued or running, in any process."""

    def __init__(self, queue: JobQueue) -> None:
        self.queue = queue

    def wait_idle(self, timeout: float = 30.0) -> bool:
        deadline = time.monotonic() + timeout
        while self.queue.open_jobs():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True


@dataclass
class Burst:
    """Where notes are sent, and how each was answered."""

    driver: SlackDriver
    acknowledged: set[int] = field(default_factory=set)
    acknowledged_by: dict[str, set[int]] = field(default_factory=dict)  # by each server's URL
    not_saved: set[int] = field(default_factory=set)  # answered with the notice that nothing was saved
    cut_off: set[int] = field(default_factory=set)  # the connection died after the note was sent
    changed: threading.Condition = field(default_factory=threading.Condition)

    def answered(self, kind: set[int], note: int) -> None:
        with self.changed:
            kind.add(note)
            self.changed.notify_all()

    def acknowledged_by_server(self, driver: SlackDriver, note: int) -> None:
        with self.changed:
            self.acknowledged_by.setdefault(driver.url, set()).add(note)
            self.acknowledged.add(note)
            self.changed.notify_all()

    def send_to(self, driver: SlackDriver) -> None:
        with self.changed:
            self.driver = driver
            self.changed.notify_all()

    def wait_for(self, condition: Callable[[], bool], timeout: float = 60.0) -> bool:
        with self.changed:
            return self.changed.wait_for(condition, timeout)

    def wait_for_another_server(self, refused: SlackDriver) -> bool:
        return self.wait_for(lambda: self.driver is not refused)


def send_notes(burst: Burst, user: str, channel: str, notes: range) -> None:
    for note in notes:
        while True:
            driver = burst.driver
            try:
                reply = driver.command("/update", NOTE.format(note), user=user, channel=channel, settle=False)
            except urllib.error.URLError as error:
                if not isinstance(error.reason, ConnectionRefusedError):
                    burst.answered(burst.cut_off, note)
                    break
                # Nothing listening, so nothing received: sent again to the next server.
                assert burst.wait_for_another_server(driver), "no server took over"
                continue
            except OSError:  # reset after it was sent
                burst.answered(burst.cut_off, note)
                break
            if reply.status == 200 and not reply.body:
                burst.acknowledged_by_server(driver, note)
            else:
                burst.answered(burst.not_saved, note)
            break


def notes_in(texts: list[str]) -> Counter[int]:
    return Counter(int(found.group(1)) for text in texts if (found := MARK.search(text)))


@dataclass
class AtKill:
    queue: QueueStats
    saved: set[int]  # the notes saved by then


def kill_after(
    burst: Burst, acknowledged: int, web: WebProcess, database: Database, queue: JobQueue
) -> AtKill:
    assert burst.wait_for(lambda: len(burst.acknowledged) >= acknowledged), (
        f"{len(burst.acknowledged)} notes acknowledged in 60 s"
    )
    web.kill()
    with database.reader() as session:
        saved = notes_in(list(session.scalars(select(Update.observed))))
    return AtKill(queue.stats(), set(saved))


def test_killed_web_processes_lose_nothing_and_do_nothing_twice(
    web_processes: list[WebProcess], database: Database, fake: EmulatedSlack, case_channel_id: str
) -> None:
    """Each acknowledged note is saved once and posted to the channel at most once."""
    working, queued_only = web_processes
    # A slow Slack: a job cut short is often cut short in the middle of posting its note.
    fake.delay("chat.postMessage", 0.03)
    queue = JobQueue(database)
    for web in web_processes:
        web.wait_until_serving()
    burst = Burst(SlackDriver(working.url, SECRET, fake, Drained(queue)))
    senders = [
        threading.Thread(
            target=send_notes, args=(burst, user, case_channel_id, range(n, NOTES, len(FILERS))), daemon=True
        )
        for n, user in enumerate(FILERS)
    ]
    for sender in senders:
        sender.start()
    takeover: Running | None = None
    try:
        first = kill_after(burst, KILL_EVERY, working, database, queue)
        burst.send_to(SlackDriver(queued_only.url, SECRET, fake, Drained(queue)))
        second = kill_after(burst, 2 * KILL_EVERY, queued_only, database, queue)
        takeover = serve(
            make_settings(fake, database, job_lease_seconds=LEASE, job_poll_seconds=0.1), database
        )
        burst.send_to(SlackDriver(takeover.url, SECRET, fake, takeover))
        for sender in senders:
            sender.join(timeout=60)
        assert takeover.wait_idle(timeout=30), "jobs still open 30 s after the last note"
    finally:
        burst.send_to(burst.driver)  # wakes any sender still waiting for a server
        if takeover is not None:
            takeover.stop()
        queue.dispose()

    # The kills caught work in hand: some of it the first time, and the second time all that the
    # process had acknowledged.
    assert first.queue.queued + first.queue.running > 0, first
    by_second = burst.acknowledged_by.get(queued_only.url, set())
    assert by_second, "the process with no worker threads acknowledged nothing"
    assert not by_second & second.saved, "done while no worker was running"
    assert second.queue.queued >= len(by_second), second
    with database.reader() as session:
        saved = notes_in(list(session.scalars(select(Update.observed))))
    posted = notes_in([str(message["blocks"]) for message in fake.posts(case_channel_id)])
    assert len(burst.acknowledged | burst.not_saved | burst.cut_off) == NOTES
    assert len(burst.acknowledged) > 2 * KILL_EVERY, "the process that took over acknowledged none"
    assert burst.acknowledged - saved.keys() == set(), "acknowledged but never saved"
    assert [note for note, times in saved.items() if times > 1] == [], "saved more than once"
    assert [note for note, times in posted.items() if times > 1] == [], "posted to the channel more than once"
    assert burst.acknowledged - posted.keys() == set(), "acknowledged but never posted"
    assert burst.not_saved & saved.keys() == set(), "told nothing was saved, yet saved"
