"""One person's requests are worked on in the order Slack delivered them; other people's pass by."""

from __future__ import annotations

import os
import queue
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from slack_bolt.request import BoltRequest
from sqlalchemy import select, text

from bot.app import OrderPerPerson
from bot.db import Database
from bot.executor import Lines, ListenerExecutor, ordering_key
from bot.settings import Settings
from bot.work import ProcessLazyListenerRunner, _Worker
from models import Agency, Membership
from tests.conftest import ADMIN, OUTSIDER, POLICE, Running
from tests.driver import Reply, SlackDriver
from tests.fakeslack.server import FakeSlack
from tests.helpers import wait_for

PATHS = pytest.mark.parametrize(
    "settings_overrides",
    [{"work_processes": 0}, {"work_processes": 2}],
    ids=["threads", "processes"],
)


# ---- over HTTP ----------------------------------------------------------------------------------
@contextmanager
def agency_writes_held(database: Database) -> Iterator[None]:
    """A slow database: registering an agency waits until the block ends; reading goes on.

    On SQLite another connection holds the one write lock, which every change takes as it
    begins; on PostgreSQL the agencies table is locked against changes only.
    """
    if database.engine.dialect.name == "sqlite":
        connection = sqlite3.connect(database.engine.url.database or "", isolation_level=None)
        try:
            connection.execute("BEGIN IMMEDIATE")
            yield
            connection.execute("ROLLBACK")
        finally:
            connection.close()
        return
    with database.engine.connect() as connection:
        connection.execute(text("LOCK TABLE agencies IN EXCLUSIVE MODE"))
        yield
        connection.rollback()


def add_then_give_a_role(slack: SlackDriver, slug: str) -> tuple[Reply, Reply]:
    """The two commands an admin types back to back; the second needs the first done."""
    added = slack.command("/agency", f'add {slug} "Agency {slug}" police', user=ADMIN, settle=False)
    given = slack.command("/agency", f"member add {slug} <@{POLICE}|p> member", user=ADMIN, settle=False)
    return added, given


def answered(fake: FakeSlack, reply: Reply) -> bool:
    return bool(fake.replies(reply.response_url or ""))


@pytest.fixture
def ready(running: Running) -> Iterator[None]:
    """Worker processes, if any, are up before the timing matters: on a busy machine they start slowly."""
    runner = running.app.listener_runner.lazy_listener_runner
    if not isinstance(runner, ProcessLazyListenerRunner):
        yield
        return
    runner.start_workers()
    assert wait_for(lambda: runner.status()["ready"] == runner.status()["expected"], timeout=120)
    yield
    runner.shutdown()


@PATHS
def test_a_persons_commands_are_applied_in_the_order_they_were_sent(
    ready, slack, fake, database, settings_overrides
):
    slugs = [f"agency-{n}" for n in range(8)]
    for slug in slugs:
        with agency_writes_held(database):
            added, given = add_then_give_a_role(slack, slug)
            # Someone else's request, acknowledged after both, is worked on meanwhile...
            other = slack.command("/agency", "list", user=OUTSIDER, settle=False)
            assert wait_for(lambda other=other: answered(fake, other), timeout=60)
            # ...while the admin's second command still waits for the first, stuck on the database.
            assert not answered(fake, added) and not answered(fake, given)
        slack.settle()
        assert "is registered" in slack.ephemeral(added)
        assert f"is now a member of `{slug}`" in slack.ephemeral(given), slack.ephemeral(given)
    with database.reader() as session:
        joined = session.scalars(
            select(Agency.slug).join(Membership).where(Membership.user_id == POLICE)
        ).all()
    assert sorted(joined) == slugs


def no_order(self: OrderPerPerson, *, req: Any, resp: Any, next: Callable[[], Any]) -> Any:
    return next()


@PATHS
def test_without_ordering_the_second_command_overtakes_the_first(
    ready, slack, fake, database, settings_overrides, monkeypatch
):
    """The control: the window the test above relies on is real."""
    if database.engine.dialect.name == "sqlite":
        pytest.skip("SQLite's one write lock holds up both commands; who has it next is chance")
    monkeypatch.setattr(OrderPerPerson, "process", no_order)
    with agency_writes_held(database):
        added, given = add_then_give_a_role(slack, "overtaken")
        assert wait_for(lambda: answered(fake, given), timeout=60)
        assert not answered(fake, added)
    slack.settle()
    assert "is registered" in slack.ephemeral(added)
    assert "no agency `overtaken`" in slack.ephemeral(given)


# ---- the bookkeeping ----------------------------------------------------------------------------
def test_a_line_lets_each_person_have_one_piece_in_hand_at_a_time():
    lines: Lines[str] = Lines()
    assert lines.join("U1", "a1") is True
    assert lines.join("U1", "a2") is False
    assert lines.join("U2", "b1") is True
    assert lines.join("U1", "a3") is False
    assert lines.waiting() == 2
    assert lines.leave("U1") == "a2"
    assert lines.leave("U2") is None
    assert lines.join("U2", "b2") is True  # U2 had nothing left in hand
    assert lines.leave("U1") == "a3"
    assert lines.leave("U1") is None
    assert lines.join("U1", "a4") is True
    assert lines.waiting() == 0


# ---- the listener pool --------------------------------------------------------------------------
@pytest.fixture
def pool() -> Iterator[ListenerExecutor]:
    executor = ListenerExecutor(4)
    yield executor
    executor.shutdown(wait=True)


def submit_as(pool: ListenerExecutor, key: str | None, fn: Callable[[], Any]) -> Any:
    """Hand work over as the request thread of `key`'s request does."""
    token = ordering_key.set(key)
    try:
        return pool.submit(fn)
    finally:
        ordering_key.reset(token)


def test_without_a_key_later_work_overtakes_earlier_work(pool):
    """The control: a plain pool runs the second piece while the first is still going."""
    release, done = threading.Event(), []
    first = submit_as(pool, None, lambda: (release.wait(10), done.append("first")))
    second = submit_as(pool, None, lambda: done.append("second"))
    second.result(timeout=10)
    assert done == ["second"] and not first.done()
    release.set()
    first.result(timeout=10)
    assert done == ["second", "first"]


def test_a_persons_work_waits_for_their_earlier_work_and_others_pass_by(pool):
    release, done = threading.Event(), []
    first = submit_as(pool, "U1", lambda: (release.wait(10), done.append("first")))
    second = submit_as(pool, "U1", lambda: done.append("second"))
    other = submit_as(pool, "U2", lambda: done.append("other"))
    other.result(timeout=10)
    assert done == ["other"]
    assert not first.done() and not second.running() and not second.done()
    assert pool.wait_idle(timeout=0) is False  # held work counts as work in hand
    release.set()
    second.result(timeout=10)
    assert done == ["other", "first", "second"]
    assert pool.wait_idle(timeout=10)


def test_work_that_fails_still_lets_the_next_one_run(pool):
    release = threading.Event()

    def fails() -> None:
        release.wait(10)
        raise RuntimeError("boom")

    failing = submit_as(pool, "U1", fails)
    following = submit_as(pool, "U1", lambda: "ran")
    release.set()
    assert following.result(timeout=10) == "ran"
    assert isinstance(failing.exception(timeout=0), RuntimeError)
    assert pool.wait_idle(timeout=10)


def test_a_long_line_runs_in_order(pool):
    done: list[int] = []
    futures = [submit_as(pool, "U1", lambda n=n: done.append(n)) for n in range(200)]
    assert pool.wait_idle(timeout=10)
    assert done == list(range(200)) and all(f.done() for f in futures)


def test_work_handed_over_after_shutdown_is_refused_and_not_counted():
    pool = ListenerExecutor(2)
    pool.shutdown(wait=True)
    for key in (None, "U1"):
        with pytest.raises(RuntimeError):
            submit_as(pool, key, lambda: None)
    assert pool.wait_idle(timeout=0)


# ---- the dispatcher of worker processes ---------------------------------------------------------
class StandInProcess:
    def __init__(self) -> None:
        self.exitcode: int | None = None
        self.pid = 0

    def is_alive(self) -> bool:
        return self.exitcode is None


class StandInPipe:
    """A worker's pipe: what the dispatcher sends arrives here."""

    def __init__(self) -> None:
        self.received: queue.Queue[Any] = queue.Queue()

    def send(self, message: Any) -> None:
        self.received.put(message)

    def close(self) -> None:
        pass

    def next_listener(self) -> str:
        return self.received.get(timeout=10)[2]

    def is_empty(self) -> bool:
        return self.received.empty()


@pytest.fixture
def dispatcher(monkeypatch) -> Iterator[tuple[ProcessLazyListenerRunner, dict[int, StandInPipe]]]:
    """The dispatcher and its collector, with two stand-in workers instead of processes."""
    settings = Settings(_env_file=None, slack_bot_token="x", slack_signing_secret="x")  # type: ignore[call-arg]
    runner = ProcessLazyListenerRunner(settings, processes=2)
    runner._started_in = os.getpid()  # the workers are the stand-ins below
    pipes: dict[int, StandInPipe] = {}

    def spawn() -> None:
        ident = len(pipes) + 1
        pipes[ident] = StandInPipe()
        runner._workers[ident] = _Worker(StandInProcess(), pipes[ident])
        runner._reports.put((ident, None))  # ready

    monkeypatch.setattr(runner, "_spawn", spawn)
    spawn()
    spawn()
    threading.Thread(target=runner._dispatch, daemon=True).start()
    threading.Thread(target=runner._collect, daemon=True).start()
    yield runner, pipes
    runner._backlog.put(None)  # the stop: the dispatcher ends


def start_as(runner: ProcessLazyListenerRunner, key: str | None, listener: str) -> None:
    def work() -> None:
        pass

    work.__name__ = work.__qualname__ = listener
    token = ordering_key.set(key)
    try:
        runner.start(work, BoltRequest(body="", headers={}))
    finally:
        ordering_key.reset(token)


def report_done(runner: ProcessLazyListenerRunner, ident: int) -> None:
    runner._reports.put((ident, None))


def test_the_dispatcher_holds_a_persons_request_while_their_earlier_one_runs(dispatcher):
    runner, pipes = dispatcher
    start_as(runner, "U1", "first")
    assert pipes[1].next_listener() == "first"
    start_as(runner, "U1", "second")  # worker 2 is idle, but U1's first is still running
    start_as(runner, "U2", "other")
    assert pipes[2].next_listener() == "other"  # others go past the held request
    report_done(runner, 2)
    start_as(runner, "U3", "another")
    assert pipes[2].next_listener() == "another"
    assert pipes[1].is_empty() and pipes[2].is_empty()
    assert runner.status()["queued"] == 1  # the held one
    report_done(runner, 1)  # U1's first is over: the second goes to the worker now idle
    assert pipes[1].next_listener() == "second"
    assert runner.status()["queued"] == 0


def test_a_request_held_behind_one_whose_worker_died_is_handed_over(dispatcher, caplog):
    runner, pipes = dispatcher
    start_as(runner, "U1", "first")
    assert pipes[1].next_listener() == "first"
    start_as(runner, "U1", "second")
    start_as(runner, None, "unordered")  # the dispatcher has seen the second once this is handed over
    assert pipes[2].next_listener() == "unordered"
    runner._workers[1].process.exitcode = -9  # killed mid-request
    assert wait_for(lambda: 3 in pipes)  # replaced
    assert pipes[3].next_listener() == "second"  # worker 2 is still busy
    assert "while running first; that request's work is lost" in caplog.text


def test_stopping_hands_over_what_was_held_first(dispatcher):
    runner, pipes = dispatcher
    start_as(runner, "U1", "first")
    assert pipes[1].next_listener() == "first"
    start_as(runner, "U1", "second")
    start_as(runner, "U2", "other")
    assert pipes[2].next_listener() == "other"  # the second is held: the dispatcher has passed it
    runner._backlog.put(None)  # the stop, as at exit: U1's second is still to go
    report_done(runner, 1)
    assert pipes[1].next_listener() == "second"  # before the workers are told to stop
    assert pipes[1].received.get(timeout=10) is None and pipes[2].received.get(timeout=10) is None
