"""The scheduler process: one active at a time, the database deciding what is due.

APScheduler keeps one job, a sweep every minute, in a job store in the same database.
Only the process holding the scheduler lock runs it (a PostgreSQL advisory lock held
on its own connection, released by the server when the holder dies; on SQLite a lock
file beside the database), so a second process waits as a standby and takes over.
"""

from __future__ import annotations

import fcntl
import logging
import threading
from datetime import UTC, datetime
from datetime import time as dt_time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from slack_sdk import WebClient
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from bot import logs, metrics
from bot.db import Database
from bot.settings import Settings
from bot.slack import make_client

if TYPE_CHECKING:
    from flows.sweep import SweepReport

log = logging.getLogger(__name__)
LOCK_KEY = 0x6361736568  # "caseh"
SWEEP_JOB = "casehub-sweep"
NOW_STORE = "now"
AUDIT_JOB = "casehub-audit-check"
RETENTION_JOB = "casehub-retention"
REPORTS_JOB = "casehub-monthly-reports"
# How often the monthly reports due are looked for (they go out on a month's first working days).
REPORTS_EVERY_MINUTES = 10
SWEEP_LABEL = "due"  # it sends what is due: reminders, digests, escalations, notices
_runtime: dict[str, Any] = {}


class SchedulerLock:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._connection: Any = None
        self._file: Any = None

    def try_acquire(self) -> bool:
        if self.db.engine.dialect.name == "postgresql":
            connection = self.db.engine.connect()
            got = connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": LOCK_KEY}).scalar()
            connection.commit()
            if got:
                # Out of the pool: closing it ends the server session, which frees the lock,
                # and a dead process's session ends the same way.
                connection.detach()
                self._connection = connection
                return True
            connection.close()
            return False
        path = Path(self.db.engine.url.database or "casehub.db").with_suffix(".scheduler.lock")
        handle = path.open("w")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        self._file = handle
        return True

    def release(self) -> None:
        if self._connection is not None:
            # Unlocked before the session ends: the server frees a closed session's locks a
            # moment later, and a standby asking at once would still find it held.
            try:
                self._connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": LOCK_KEY})
                self._connection.commit()
            except SQLAlchemyError as error:  # the session ending frees it anyway
                log.warning("could not unlock the scheduler lock (%s)", type(error).__name__)
            self._connection.close()
            self._connection = None
        if self._file is not None:
            self._file.close()
            self._file = None


def sweep_job() -> None:
    """The scheduled job; a top-level function so the job store can refer to it by name."""
    run_sweep(_runtime["db"], _runtime["client"], _runtime["settings"])


def audit_job() -> None:
    """The daily check of the audit chains (its own executor: a long walk never delays a sweep)."""
    from flows.audit_check import check_and_tell

    with logs.request_scope(logs.new_request_id()):
        check_and_tell(_runtime["db"], _runtime["client"], _runtime["settings"])


def retention_job() -> None:
    """The nightly retention pass (with the audit check's executor: apart from the sweeps)."""
    from flows.retention import nightly

    with logs.request_scope(logs.new_request_id()):
        nightly(_runtime["db"], _runtime["settings"])


def reports_job() -> None:
    """Each area's monthly report to its coordinators (with the audit check's executor: making a
    report's PDF and charts never delays a sweep)."""
    from flows.reporting import send_monthly
    from models import utcnow

    with logs.request_scope(logs.new_request_id()):
        sent = send_monthly(_runtime["db"], _runtime["client"], _runtime["settings"], utcnow())
        if sent:
            log.info("monthly reports sent: %d", sent)


def prepare(db: Database, client: WebClient, settings: Settings) -> None:
    """What the scheduled sweep works with, set before a scheduler from `build_scheduler` starts."""
    _runtime.update(db=db, client=client, settings=settings)


def sweep_soon(scheduler: BackgroundScheduler) -> None:
    """A sweep at once, besides the one every minute (the clock was moved on). The scheduler
    runs one job at a time, so it follows a sweep under way rather than being skipped. Each is a
    one-off job of its own (a name APScheduler makes): replacing one of a fixed name could race
    the scheduler removing it after its run, and stop the scheduler's thread."""
    scheduler.add_job("bot.scheduler:sweep_job", "date", run_date=datetime.now(UTC), jobstore=NOW_STORE)


def run_sweep(db: Database, client: WebClient, settings: Settings) -> SweepReport:
    """One sweep, timed for `/metrics`, its log lines sharing an id."""
    from flows.sweep import sweep

    with logs.request_scope(logs.new_request_id()), metrics.sweep_timer(SWEEP_LABEL):
        report = sweep(db, client, settings)
        if report.due or report.recovered:
            log.info("sweep: %s", report)
    return report


def build_scheduler(
    db: Database,
    *,
    audit_at: dt_time | None = None,
    retention_at: dt_time | None = None,
    monthly_reports: bool = False,
) -> BackgroundScheduler:
    """The sweep every minute; with `audit_at` (UTC), the audit chains checked each day; with
    `retention_at` (UTC), the nightly retention pass; with `monthly_reports`, the areas' monthly
    reports looked for every few minutes."""
    scheduler = BackgroundScheduler(
        # A sweep asked for at once is kept in memory: it means nothing to the next process, and
        # a one-off job in the database could be gone (a restored database) when the scheduler
        # comes to remove it after its run.
        jobstores={
            "default": SQLAlchemyJobStore(engine=db.engine, tablename="scheduler_jobs"),
            NOW_STORE: MemoryJobStore(),
        },
        # One sweep at a time; the audit check apart, so that a long walk never delays a sweep.
        executors={"default": ThreadPoolExecutor(max_workers=1), "audit": ThreadPoolExecutor(max_workers=1)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 300},
        timezone="UTC",
    )
    # The first run is now: on taking over, what was missed while down goes out at once (once).
    scheduler.add_job(
        "bot.scheduler:sweep_job",
        "interval",
        minutes=1,
        id=SWEEP_JOB,
        replace_existing=True,
        next_run_time=datetime.now(UTC),
    )
    # The nightly record-keeping, on its own executor: a long walk or pass never delays a sweep.
    for job, at, job_id in (
        ("audit_job", audit_at, AUDIT_JOB),
        ("retention_job", retention_at, RETENTION_JOB),
    ):
        if at is not None:
            scheduler.add_job(
                f"bot.scheduler:{job}",
                "cron",
                hour=at.hour,
                minute=at.minute,
                id=job_id,
                replace_existing=True,
                executor="audit",
            )
    # Kept in memory, added at each start: turned off, it is not left behind in the database.
    if monthly_reports:
        scheduler.add_job(
            "bot.scheduler:reports_job",
            "interval",
            minutes=REPORTS_EVERY_MINUTES,
            id=REPORTS_JOB,
            replace_existing=True,
            next_run_time=datetime.now(UTC),
            executor="audit",
            jobstore=NOW_STORE,
        )
    return scheduler


def run(settings: Settings, *, standby_poll: float = 10.0, stop: threading.Event | None = None) -> None:
    from bot.audit import seal_with
    from bot.keys import check_at_start, encrypt_with

    seal_with(settings, warn=True)
    encrypt_with(settings)
    db = Database(settings.database_url)
    db.check_migrated()
    check_at_start(db)
    prepare(db, make_client(settings), settings)
    lock = SchedulerLock(db)
    stop = stop or threading.Event()
    while not lock.try_acquire():
        log.info("another scheduler is active; standing by")
        if stop.wait(standby_poll):
            return
    log.info("scheduler lock held; sweeping every minute")
    scheduler = build_scheduler(
        db,
        audit_at=settings.audit_verify_time,
        retention_at=settings.retention_time,
        monthly_reports=settings.report_monthly,
    )
    scheduler.start()
    try:
        stop.wait()
    finally:
        scheduler.shutdown(wait=True)
        lock.release()
