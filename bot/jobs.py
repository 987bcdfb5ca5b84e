"""The durable job queue: what Slack has been answered for is recorded first, then done.

A listener answers Slack at once and leaves its slow part to a lazy function (bolt's public
ack/lazy model). bolt hands that function, with a copy of the request, to the app's lazy
listener runner; casehub's runner records the request in the `jobs` table of casehub's own
database and returns only once that is committed, so the acknowledgement Slack receives
means the work is on record. If it cannot be recorded within `RECORD_TIMEOUT` seconds, the
person is told at once that nothing was saved.

Workers (threads of the web process, or `python -m bot worker` processes) claim jobs under a
lease, dispatch the recorded request again through a bolt app of their own with bolt's
lazy-only headers (as bolt's own serverless adapters do), and record the outcome. A worker
that dies leaves its lease to expire; the job is then taken again. Each job runs at least
once; the idempotency keys of the services (each change records the Slack request that made
it) make its effect happen once.

Why a table rather than a queue library: the embedded setup has SQLite and nothing else to
run, the production one PostgreSQL; a table serves both, commits with the same guarantees as
the record itself, and needs no broker to install, watch or back up. On PostgreSQL it is in
casehub's database and claimed with `FOR UPDATE SKIP LOCKED`. SQLite lets one transaction
write at a time in a file, and a change to the record (which may run the identifier check
under its lock) would make recording wait behind it, past Slack's 3 seconds under a burst: the
queue has a file of its own beside the database (`casehub-jobs.db` for `casehub.db`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from slack_bolt import App, BoltRequest
from slack_bolt.kwargs_injection import build_required_kwargs
from slack_bolt.lazy_listener import LazyListenerRunner
from slack_bolt.util.utils import get_arg_names_of_callable
from slack_sdk.errors import SlackApiError
from sqlalchemy import (
    Select,
    Table,
    Update,
    bindparam,
    delete,
    event,
    exists,
    func,
    make_url,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from bot import logs, metrics
from bot.db import Database
from models import Job, JobState
from models.clock import machine_now

log = logging.getLogger(__name__)

URGENT, NORMAL = 0, 1  # job priorities: forms to open within their trigger's 3 s, and pages, first
RECORD_TIMEOUT = 2.0  # seconds to record a job before telling the person nothing was saved
KEEP_DONE = timedelta(days=1)  # a finished job's row (without its request) guards against duplicates
_OPEN = (JobState.QUEUED.value, JobState.RUNNING.value)
_JOBS: Table = Job.__table__  # type: ignore[assignment]


def claim_statements(*, urgent_only: bool, postgres: bool) -> tuple[Select[Any], Update]:
    """How a worker finds the next job that may run, and takes it in one statement.

    Queued, its back-off over (`:now`), no earlier job of the same person still in hand (but
    for urgent jobs: a form's trigger lasts 3 seconds), most
    urgent first, then oldest; taken with a lease (`:lease_end`) by `:claimer`, and returned.
    On PostgreSQL a row another worker is taking is skipped, not waited for. Built once: the
    statement is compiled once too.
    """
    earlier = _JOBS.alias("earlier")
    waits_for_earlier = exists().where(
        earlier.c.person == _JOBS.c.person, earlier.c.id < _JOBS.c.id, earlier.c.state.in_(_OPEN)
    )
    look = (
        select(_JOBS.c.id)
        .where(
            _JOBS.c.state == JobState.QUEUED.value,
            _JOBS.c.run_after <= bindparam("now", type_=_JOBS.c.run_after.type),
            # A form to open cannot wait: its trigger lasts 3 seconds.
            or_(_JOBS.c.person.is_(None), _JOBS.c.priority == URGENT, ~waits_for_earlier),
        )
        .order_by(_JOBS.c.priority, _JOBS.c.id)
        .limit(1)
    )
    if urgent_only:
        look = look.where(_JOBS.c.priority == URGENT)
    chosen = look.with_for_update(skip_locked=True) if postgres else look
    take = (
        update(_JOBS)
        .where(_JOBS.c.id == chosen.scalar_subquery(), _JOBS.c.state == JobState.QUEUED.value)
        .values(
            state=JobState.RUNNING.value,
            attempts=_JOBS.c.attempts + 1,
            lease_until=bindparam("lease_end", type_=_JOBS.c.lease_until.type),
            claimed_by=bindparam("claimer"),
        )
        .returning(_JOBS.c.id, _JOBS.c.listener, _JOBS.c.mode, _JOBS.c.body, _JOBS.c.person, _JOBS.c.attempts)
    )
    return look, take


class NotRecorded(Exception):
    """A request's work could not be recorded: Slack must not be told it was accepted."""


# ---- what a job is, and how it ran ---------------------------------------------------------------


@dataclass(frozen=True)
class Claimed:
    id: int
    listener: str
    mode: str  # "form" or "json" (HTTP bodies as Slack sent them), "socket" (a Socket Mode payload)
    body: str
    person: str | None
    attempts: int  # including this one
    max_attempts: int

    @property
    def last_attempt(self) -> bool:
        return self.attempts >= self.max_attempts

    def request(self) -> BoltRequest:
        """The recorded request, marked for bolt to run only the named lazy function."""
        headers: dict[str, str | Sequence[str]] = {
            "x-slack-bolt-lazy-only": "1",
            "x-slack-bolt-lazy-function-name": self.listener,
        }
        if self.mode == "socket":
            return BoltRequest(body=json.loads(self.body), headers=headers, mode="socket_mode")
        kind = "application/json" if self.mode == "json" else "application/x-www-form-urlencoded"
        return BoltRequest(body=self.body, headers={**headers, "content-type": kind})


@dataclass
class Outcome:
    ran: bool = False
    error: Exception | None = None


# The job a worker thread is running, and what became of it; read by listeners (see
# `will_retry`) and by the runner that calls the lazy function.
_current: ContextVar[tuple[Claimed, Outcome] | None] = ContextVar("casehub_job", default=None)


def is_transient(error: BaseException) -> bool:
    """A failure that trying again later may cure: Slack or the database briefly unavailable."""
    if isinstance(error, SlackApiError):
        status = getattr(error.response, "status_code", 200)
        return status >= 500 or status == 429 or error.response.get("error") in ("ratelimited",)
    if isinstance(error, OperationalError | PoolTimeout):
        return True
    if isinstance(error, DBAPIError):
        return bool(error.connection_invalidated)
    return isinstance(error, OSError)  # connection refused or reset, timeouts, unreachable hosts


def will_retry(error: BaseException) -> bool:
    """Whether the job running on this thread will be tried again after this error.

    Then its listener tells the person nothing: they hear once, when it is done or has failed
    for good. Outside a job (an acknowledgement), nothing is retried.
    """
    current = _current.get()
    return current is not None and is_transient(error) and not current[0].last_attempt


def current_job() -> Claimed | None:
    current = _current.get()
    return current[0] if current else None


def error_kind(error: BaseException) -> str:
    """What kind of failure, for the job's record: never a message, which may quote input."""
    if isinstance(error, SlackApiError):
        code = error.response.get("error") if hasattr(error.response, "get") else None
        return f"SlackApiError:{code or getattr(error.response, 'status_code', '?')}"[:200]
    return type(error).__name__[:200]


def request_key(listener: str, body: str) -> str:
    """The same request delivered twice (a retry, a double submission) has the same key."""
    return hashlib.sha256(f"{listener}\n{body}".encode()).hexdigest()


# ---- the queue -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueStats:
    queued: int
    running: int
    parked: int
    oldest_age_seconds: float  # of the oldest job waiting to be claimed; 0 when none waits


@dataclass(frozen=True)
class Parked:
    id: int
    listener: str
    person: str | None
    attempts: int
    last_error: str | None
    created_at: datetime
    finished_at: datetime | None


def jobs_url(url: str) -> str:
    """Where the queue lives: casehub's database, or for SQLite a file beside it."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return url
    path = Path(parsed.database)
    return parsed.set(
        database=str(path.with_name(f"{path.stem}-jobs{path.suffix or '.db'}"))
    ).render_as_string(hide_password=False)


def store(db: Database) -> Database:
    """The database holding the queue; SQLite's file is made (with its one table) on first use."""
    url = jobs_url(db.url)
    if url == db.url:
        return db
    jobs = Database(url)

    @event.listens_for(jobs.engine, "connect")
    def _workers_need_not_wait_for_the_disk(dbapi_connection: Any, _record: Any) -> None:
        # The workers' claims and outcomes survive a killed process without waiting for the
        # disk; after a power cut one may be undone, and the job is run again (its effects
        # happen once). Recording, which an acknowledgement promises, keeps its own
        # connections at SQLite's full durability.
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    try:
        Job.__table__.create(jobs.engine, checkfirst=True)  # type: ignore[attr-defined]
    except SQLAlchemyError as error:  # readiness says so, and each request is told nothing was saved
        log.error("the job queue's file cannot be opened (%s)", error_kind(error))
    return jobs


SWITCH_INTERVAL = 0.001  # seconds


class WriteTurns:
    """Whose turn it is to write to SQLite's queue file, in this process: recording first.

    SQLite lets one connection write to a file at a time, and a connection that finds the file
    locked sleeps between tries (up to 100 ms at a time): too long for recording a request
    while Slack waits for the answer. Writers of one process take turns here instead, where the
    next is woken the moment the last is done, and a recording waiting for its turn goes before
    every worker's. Across processes SQLite's own lock still decides. PostgreSQL locks rows,
    not the file: it needs no turns.
    """

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._writing = False
        self._waiting = 0
        self._recordings_waiting = 0

    def waiting(self) -> int:
        """Writers waiting for their turn (for the tests)."""
        with self._changed:
            return self._waiting

    @contextmanager
    def turn(self, *, recording: bool = False, timeout: float | None = None) -> Iterator[None]:
        with self._changed:
            self._waiting += 1
            self._recordings_waiting += recording
            try:
                free = self._changed.wait_for(
                    lambda: not self._writing and (recording or self._recordings_waiting == 0), timeout
                )
            finally:
                self._waiting -= 1
                self._recordings_waiting -= recording
            if not free:
                raise TimeoutError("no turn to write to the job queue")
            self._writing = True
        try:
            yield
        finally:
            with self._changed:
                self._writing = False
                self._changed.notify_all()


class _AnyTime:
    """PostgreSQL's turns: every writer's turn, at once."""

    @contextmanager
    def turn(self, *, recording: bool = False, timeout: float | None = None) -> Iterator[None]:
        yield


class JobQueue:
    """The jobs table: recording, claiming under a lease, and each outcome."""

    def __init__(
        self,
        db: Database,
        *,
        lease: float = 60.0,
        max_attempts: int = 8,
        retry_after: float = 2.0,
        record_timeout: float = RECORD_TIMEOUT,
    ) -> None:
        self._record = db
        self.db = store(db)
        self._postgres = db.engine.dialect.name == "postgresql"
        # Recording happens while Slack waits for its answer: on an engine that gives up quickly.
        # On SQLite the wait for this process's turn and for the file's lock share the time.
        self._turn_timeout = 0.0 if self._postgres else record_timeout / 2
        self._recorder = Database(self.db.url, timeout=record_timeout - self._turn_timeout)
        self.lease = timedelta(seconds=lease)
        self.max_attempts = max_attempts
        self.retry_after = retry_after
        self._turns: WriteTurns | _AnyTime = _AnyTime() if self._postgres else WriteTurns()
        self._claims = {
            urgent: claim_statements(urgent_only=urgent, postgres=self._postgres) for urgent in (False, True)
        }

    def dispose(self) -> None:
        self._recorder.dispose()
        if self.db is not self._record:
            self.db.dispose()

    def backoff(self, attempts: int) -> timedelta:
        """Waits of `retry_after`, doubling per attempt, up to five minutes."""
        return timedelta(seconds=min(300.0, self.retry_after * 2 ** max(0, attempts - 1)))

    def record(self, *, listener: str, mode: str, body: str, person: str | None, priority: int) -> bool:
        """Record a request's work, committed on return; False when it was recorded already."""
        insert = postgresql_insert if self._postgres else sqlite_insert
        statement = (
            insert(_JOBS)
            .values(
                request_key=request_key(listener, body),
                listener=listener,
                mode=mode,
                body=body,
                person=person,
                priority=priority,
                state=JobState.QUEUED.value,
                attempts=0,
                run_after=machine_now(),
                created_at=machine_now(),
            )
            .on_conflict_do_nothing(index_elements=["request_key"])
            .returning(_JOBS.c.id)
        )
        try:
            with (
                self._turns.turn(recording=True, timeout=self._turn_timeout),
                self._recorder.writer() as connection,
            ):
                return connection.execute(statement).scalar() is not None
        except SQLAlchemyError as error:
            raise NotRecorded(error_kind(error)) from error
        except TimeoutError as error:
            raise NotRecorded("QueueBusy") from error

    def claim(self, worker: str, *, urgent_only: bool = False, now: datetime | None = None) -> Claimed | None:
        """Take the next job that may run: most urgent first, then oldest, one person's in order."""
        now = now or machine_now()
        look, take = self._claims[urgent_only]
        if not self._postgres:
            # SQLite has one write lock per file, which recording needs while Slack waits: a
            # worker looks first without taking it (several may have been woken for one job).
            with self.db.engine.connect() as connection:
                if connection.execute(look, {"now": now}).first() is None:
                    return None
        with self._turns.turn(), self.db.writer() as connection:
            row = connection.execute(
                take, {"now": now, "lease_end": now + self.lease, "claimer": worker}
            ).first()
        if row is None:
            return None
        return Claimed(
            row.id, row.listener, row.mode, row.body or "", row.person, row.attempts, self.max_attempts
        )

    def _close(self, job_id: int, worker: str, **values: Any) -> None:
        with self._turns.turn(), self.db.writer() as connection:
            connection.execute(
                update(_JOBS)
                .where(
                    _JOBS.c.id == job_id,
                    _JOBS.c.state == JobState.RUNNING.value,
                    _JOBS.c.claimed_by == worker,
                )
                .values(lease_until=None, **values)
            )

    def finish(self, job_id: int, worker: str) -> None:
        """Done: the request (what was typed) is forgotten; the row stays a day against duplicates."""
        self._close(job_id, worker, state=JobState.DONE.value, body=None, finished_at=machine_now())

    def retry(self, job: Claimed, worker: str, error: str) -> None:
        self._close(
            job.id,
            worker,
            state=JobState.QUEUED.value,
            run_after=machine_now() + self.backoff(job.attempts),
            last_error=error,
            claimed_by=None,
        )

    def park(self, job_id: int, worker: str, error: str) -> None:
        self._close(job_id, worker, state=JobState.PARKED.value, last_error=error, finished_at=machine_now())

    def extend(self, job_ids: list[int], worker: str) -> None:
        """Renew the leases of jobs still running here, so that only a dead worker's expire."""
        if not job_ids:
            return
        with self._turns.turn(), self.db.session() as session:
            session.execute(
                update(Job)
                .where(Job.id.in_(job_ids), Job.state == JobState.RUNNING.value, Job.claimed_by == worker)
                .values(lease_until=machine_now() + self.lease)
            )

    def reclaim_expired(self, now: datetime | None = None) -> tuple[list[int], list[int]]:
        """Jobs whose worker died: queued again, or parked once they have had every attempt.

        Returns (requeued, parked) job ids.
        """
        now = now or machine_now()
        # Each a single statement that tests the lease itself: a job another process has just
        # taken again, or whose worker has just renewed its lease, is left alone.
        expired = (_JOBS.c.state == JobState.RUNNING.value, _JOBS.c.lease_until < now)
        with self._turns.turn(), self.db.writer() as connection:
            again: Sequence[int] = (
                connection.execute(
                    update(_JOBS)
                    .where(*expired, _JOBS.c.attempts < self.max_attempts)
                    .values(state=JobState.QUEUED.value, lease_until=None, claimed_by=None, last_error="lost")
                    .returning(_JOBS.c.id)
                )
                .scalars()
                .all()
            )
            spent: Sequence[int] = (
                connection.execute(
                    update(_JOBS)
                    .where(*expired, _JOBS.c.attempts >= self.max_attempts)
                    .values(state=JobState.PARKED.value, lease_until=None, last_error="lost", finished_at=now)
                    .returning(_JOBS.c.id)
                )
                .scalars()
                .all()
            )
        return sorted(again), sorted(spent)

    def purge_done(self, now: datetime | None = None) -> int:
        cutoff = (now or machine_now()) - KEEP_DONE
        with self._turns.turn(), self.db.session() as session:
            result = session.execute(
                delete(Job).where(Job.state == JobState.DONE.value, Job.finished_at < cutoff)
            )
        return int(result.rowcount)  # type: ignore[attr-defined]

    def open_jobs(self) -> int:
        """Jobs queued or running: none means every acknowledged request has been dealt with."""
        with self.db.reader() as session:
            return int(session.scalar(select(func.count()).where(Job.state.in_(_OPEN))) or 0)

    def stats(self, now: datetime | None = None) -> QueueStats:
        now = now or machine_now()
        with self.db.reader() as session:
            counts = dict(
                session.execute(
                    select(Job.state, func.count())
                    .where(Job.state != JobState.DONE.value)
                    .group_by(Job.state)
                ).all()
            )
            oldest = session.scalar(
                select(func.min(Job.created_at)).where(Job.state == JobState.QUEUED.value)
            )
        if isinstance(oldest, str):  # SQLite's aggregate of a UTC column, without its type
            oldest = datetime.fromisoformat(oldest).replace(tzinfo=now.tzinfo)
        return QueueStats(
            queued=counts.get(JobState.QUEUED, 0),
            running=counts.get(JobState.RUNNING, 0),
            parked=counts.get(JobState.PARKED, 0),
            oldest_age_seconds=max(0.0, (now - oldest).total_seconds()) if oldest else 0.0,
        )

    # ---- for the operator: `python -m bot jobs` --------------------------------------------------

    def parked(self) -> list[Parked]:
        with self.db.reader() as session:
            rows = session.execute(
                select(
                    Job.id,
                    Job.listener,
                    Job.person,
                    Job.attempts,
                    Job.last_error,
                    Job.created_at,
                    Job.finished_at,
                )
                .where(Job.state == JobState.PARKED.value)
                .order_by(Job.id)
            ).all()
        return [Parked(*row) for row in rows]

    def requeue(self, job_ids: list[int]) -> int:
        """Parked jobs tried again, with a fresh set of attempts."""
        with self._turns.turn(), self.db.session() as session:
            result = session.execute(
                update(Job)
                .where(Job.id.in_(job_ids), Job.state == JobState.PARKED.value)
                .values(state=JobState.QUEUED.value, attempts=0, run_after=machine_now(), finished_at=None)
            )
        return int(result.rowcount)  # type: ignore[attr-defined]

    def drop(self, job_ids: list[int]) -> int:
        """Parked jobs given up: their requests are deleted."""
        with self._turns.turn(), self.db.session() as session:
            result = session.execute(
                delete(Job).where(Job.id.in_(job_ids), Job.state == JobState.PARKED.value)
            )
        return int(result.rowcount)  # type: ignore[attr-defined]


# ---- bolt's side: recording at the acknowledgement, running in a worker ---------------------------


def is_urgent(function: Callable[..., Any], body: dict[str, Any]) -> bool:
    """Whether the lazy function opens a form with this request's trigger, or pages people
    (`handlers.common.deferred`)."""
    classify = getattr(function, "urgent", None)
    if callable(classify):
        return bool(classify(body))
    return bool(classify)


class DurableLazyListenerRunner(LazyListenerRunner):
    """bolt's lazy listener runner for casehub: `start` records, `run` runs (in a worker)."""

    def __init__(self, queue: JobQueue, *, recorded: Callable[[bool], None] | None = None) -> None:
        self.logger = log
        self.queue = queue
        self._recorded = recorded or (lambda urgent: None)

    def start(self, function: Callable[..., None], request: BoltRequest) -> None:
        if request.mode == "socket_mode":
            mode, body = "socket", json.dumps(request.body)
        else:
            kind = (request.headers.get("content-type") or [""])[0]
            mode, body = ("json" if "json" in kind else "form"), request.raw_body
        urgent = is_urgent(function, request.body)
        self.queue.record(
            listener=request.lazy_function_name or function.__name__,
            mode=mode,
            body=body,
            person=request.context.user_id,
            priority=URGENT if urgent else NORMAL,
        )
        self._recorded(urgent)

    def run(self, function: Callable[..., None], request: BoltRequest) -> None:
        """Run the lazy function for the job on this thread, keeping what it raised for the worker."""
        current = _current.get()
        kwargs = build_required_kwargs(
            logger=self.logger,
            required_arg_names=get_arg_names_of_callable(function),
            request=request,
            response=None,
            this_func=function,
        )
        if current is None:  # not a job (never expected): run it as bolt would
            function(**kwargs)
            return
        current[1].ran = True
        try:
            function(**kwargs)
        except Exception as error:
            current[1].error = error


# ---- the workers -------------------------------------------------------------------------------


@dataclass
class _Running:
    ids: set[int] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)


class Workers:
    """Threads that claim and run jobs: one kept for forms to open, the rest for everything.

    Woken at once by a job recorded in this process (`wake`), and otherwise look every `poll`
    seconds, for jobs recorded by other processes or whose back-off is over.
    """

    def __init__(
        self,
        queue: JobQueue,
        app: App,
        *,
        threads: int,
        poll: float = 1.0,
        ready: Callable[[float], bool] | None = None,
        parked: Callable[[Claimed, str], None] | None = None,
    ) -> None:
        self.queue, self.app = queue, app
        self.threads, self.poll = threads, poll
        self._ready = ready or (lambda timeout: True)
        self._parked = parked or (lambda job, error: None)
        self.name = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"[:100]
        # Idle workers wait here; the thread kept for urgent jobs apart, so that waking one
        # worker for an ordinary job never wakes only the thread that cannot take it.
        lock = threading.Lock()
        self._wake = threading.Condition(lock)
        self._urgent_wake = threading.Condition(lock)
        self._pending_wakes = 0
        self._stop = threading.Event()
        self._running = _Running()
        self._started: list[threading.Thread] = []

    # ---- life --------------------------------------------------------------------------------------
    def start(self) -> Workers:
        if self._started:
            return self
        # Answers first: a thread answering Slack that waits for the interpreter behind a job's
        # computation waits up to the switch interval each time, 5 ms by default, several times
        # per request. At 1 ms a job yields the interpreter sooner, for a little of its speed.
        sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL))
        self._stop.clear()
        loops = [("jobs-urgent", True)] + [(f"jobs-{n}", False) for n in range(1, self.threads + 1)]
        for name, urgent in loops:
            self._started.append(threading.Thread(target=self._loop, args=(urgent,), name=name, daemon=True))
        self._started.append(threading.Thread(target=self._housekeeping, name="jobs-leases", daemon=True))
        for thread in self._started:
            thread.start()
        return self

    def alive(self) -> tuple[int, int]:
        """Worker threads running, of those started."""
        loops = self._started[:-1]
        return sum(thread.is_alive() for thread in loops), len(loops)

    def stop(self, timeout: float = 25.0) -> None:
        """Stop claiming; let running jobs finish within `timeout`. What is cut short is taken
        again by another worker when its lease expires."""
        self._stop.set()
        self.wake(len(self._started), urgent=True)
        deadline = time.monotonic() + timeout
        for thread in self._started:
            thread.join(max(0.0, deadline - time.monotonic()))
        with self._running.lock:
            left = len(self._running.ids)
        if left:
            log.warning("stopped with %d job(s) unfinished: they will be taken again", left)
        self._started = []

    def wake(self, jobs: int = 1, *, urgent: bool = True) -> None:
        """New jobs to claim: as many idle workers as there are jobs look for them (a worker
        busy now looks again when it is done); waking them all would have every one look. The
        thread kept for urgent jobs is woken too when they may be urgent."""
        with self._wake:
            self._pending_wakes += 1
            self._wake.notify(jobs)
            if urgent:
                self._urgent_wake.notify()

    def recorded(self, urgent: bool) -> None:
        """A job was recorded in this process (the lazy runner's callback)."""
        self.wake(urgent=urgent)

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Until no job is queued or running anywhere (tests and benchmarks)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.queue.open_jobs() == 0:
                return True
            time.sleep(0.01)
        return False

    # ---- claiming and running ----------------------------------------------------------------------
    def _loop(self, urgent_only: bool) -> None:
        failures = 0
        while not self._stop.is_set():
            if not self._ready(self.poll):  # e.g. Slack's identity not known yet
                continue
            with self._wake:
                seen = self._pending_wakes
            try:
                job = self.queue.claim(self.name, urgent_only=urgent_only)
                failures = 0
            except SQLAlchemyError as error:
                failures += 1
                log.warning("cannot claim jobs (%s); trying again", error_kind(error))
                self._stop.wait(min(30.0, 0.5 * 2**failures))
                continue
            if job is None:
                idle = self._urgent_wake if urgent_only else self._wake
                with idle:
                    if self._pending_wakes == seen:
                        idle.wait(self.poll)
                continue
            self._run(job)

    def _run(self, job: Claimed) -> None:
        with self._running.lock:
            self._running.ids.add(job.id)
        outcome = Outcome()
        started = time.monotonic()
        token = _current.set((job, outcome))
        try:
            with logs.request_scope(f"job-{job.id}"):
                self.app.dispatch(job.request())
        except Exception as error:  # bolt's dispatch reports its own; this is a last resort
            outcome.error = outcome.error or error
        finally:
            _current.reset(token)
        try:
            metrics.job_finished(self._settle(job, outcome), time.monotonic() - started)
        except SQLAlchemyError as error:
            # The lease runs out and the job is taken again; its effects happen once.
            log.error("could not record the outcome of job %s (%s)", job.id, error_kind(error))
        finally:
            with self._running.lock:
                self._running.ids.discard(job.id)

    def _settle(self, job: Claimed, outcome: Outcome) -> str:
        """Record what became of the job: done, retried or parked (said back, for the metrics)."""
        if not outcome.ran:
            # No listener took it: a deploy renamed the function, or the body no longer parses.
            log.error("job %s: no listener named %s took it; parked", job.id, job.listener)
            self.queue.park(job.id, self.name, "no listener")
            self._tell_parked(job, "no listener")
            return "parked"
        if outcome.error is None:
            self.queue.finish(job.id, self.name)
            return "done"
        if is_transient(outcome.error) and not job.last_attempt:
            log.warning(
                "job %s (%s) failed (%s), attempt %d of %d; trying again",
                job.id,
                job.listener,
                error_kind(outcome.error),
                job.attempts,
                job.max_attempts,
            )
            self.queue.retry(job, self.name, error_kind(outcome.error))
            return "retried"
        kind = error_kind(outcome.error)
        log.error("job %s (%s) failed (%s) and is parked", job.id, job.listener, kind)
        self.queue.park(job.id, self.name, kind)
        self._tell_parked(job, kind)
        return "parked"

    def _tell_parked(self, job: Claimed, error: str) -> None:
        try:
            self._parked(job, error)
        except Exception as failure:  # the job is parked either way; this thread keeps working
            log.error("could not tell the admins that job %s is parked (%s)", job.id, error_kind(failure))

    def _housekeeping(self) -> None:
        interval = max(0.2, self.queue.lease.total_seconds() / 3)
        purged = 0.0
        while not self._stop.wait(interval):
            try:
                with self._running.lock:
                    mine = sorted(self._running.ids)
                self.queue.extend(mine, self.name)
                requeued, parked = self.queue.reclaim_expired()
                if requeued:
                    log.warning("%d job(s) whose worker stopped are queued again", len(requeued))
                    self.wake(len(requeued))
                if parked:
                    log.error("%d job(s) lost their worker on every attempt and are parked", len(parked))
                if time.monotonic() - purged > 600:
                    self.queue.purge_done()
                    purged = time.monotonic()
            except SQLAlchemyError as error:
                log.warning("cannot look after job leases (%s)", error_kind(error))


@contextmanager
def running_job(job: Claimed) -> Iterator[Outcome]:
    """Run code as if it were the given job (for tests of listeners' retry behaviour)."""
    outcome = Outcome()
    token = _current.set((job, outcome))
    try:
        yield outcome
    finally:
        _current.reset(token)
