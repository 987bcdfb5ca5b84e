"""casehub's Prometheus metrics.

What happens (requests answered, Slack calls, jobs finished, sweeps) is counted where it
happens, in metrics this process keeps for as long as it lives. What is waiting (jobs,
pages nobody has acknowledged) is read when Prometheus scrapes, from the queue and the
database. Label values are names from casehub's code or Slack's vocabulary (a command, a
payload or event type, a Web API method, an error code), never anything a person typed.

With several processes on one host (gunicorn workers, worker processes, the scheduler),
set `PROMETHEUS_MULTIPROC_DIR` to a directory they share, emptied when the host starts:
each process then writes its counts there, and `/metrics` adds them up.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Mapping

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.context_managers import Timer
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy import and_, exists, func, select
from sqlalchemy.orm import aliased

from bot.db import Database
from models import Crisis, Page

log = logging.getLogger(__name__)

QueueStats = Callable[[], Mapping[str, float | int]]
JOB_OUTCOMES = ("done", "retried", "parked")

# This process's counts, in a registry of their own: each app's `/metrics` registry shows them
# beside its own scrape-time readings, so tests can build many apps in one process.
EVENTS = CollectorRegistry()

REQUESTS = Counter(
    "casehub_requests",
    "Requests to /slack/events (or Socket Mode envelopes), by kind and HTTP status class.",
    ["kind", "outcome"],
    registry=EVENTS,
)
# Slack waits 3 seconds for an acknowledgement.
ACK_SECONDS = Histogram(
    "casehub_ack_seconds",
    "Time from a request's arrival to its acknowledgement.",
    ["kind"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0),
    registry=EVENTS,
)
JOBS = Counter(
    "casehub_jobs",
    "Jobs finished by the queue's workers, by outcome: done, retried (to run again later) or parked.",
    ["outcome"],
    registry=EVENTS,
)
JOB_SECONDS = Histogram(
    "casehub_job_seconds",
    "Time a worker spent on one run of a job.",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0),
    registry=EVENTS,
)
SLACK_CALLS = Counter(
    "casehub_slack_api_calls",
    "Slack Web API calls, by method, whatever their outcome.",
    ["method"],
    registry=EVENTS,
)
SLACK_ERRORS = Counter(
    "casehub_slack_api_errors",
    "Slack Web API calls that failed, by method and Slack's error code (or http_5xx, connection).",
    ["method", "error"],
    registry=EVENTS,
)
# Retries (rate limits, server errors, dropped connections) are part of the call.
SLACK_SECONDS = Histogram(
    "casehub_slack_api_seconds",
    "Duration of Slack Web API calls, retries included.",
    ["method"],
    buckets=(0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
    registry=EVENTS,
)
SWEEP_SECONDS = Histogram(
    "casehub_sweep_seconds",
    "Duration of the scheduler's sweeps.",
    ["sweep"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0),
    registry=EVENTS,
)
for _outcome in JOB_OUTCOMES:  # present from the start, so that rates are defined before the first
    JOBS.labels(_outcome)


def status_class(status: int) -> str:
    return f"{status // 100}xx"


def request_answered(kind: str, status: int, seconds: float) -> None:
    REQUESTS.labels(kind, status_class(status)).inc()
    ACK_SECONDS.labels(kind).observe(seconds)


def job_finished(outcome: str, seconds: float) -> None:
    """For the queue's workers: one run of a job is over."""
    if outcome not in JOB_OUTCOMES:
        raise ValueError(f"unknown job outcome {outcome!r}; one of {', '.join(JOB_OUTCOMES)}")
    JOBS.labels(outcome).inc()
    JOB_SECONDS.observe(seconds)


def slack_call(method: str, seconds: float, error: str | None = None) -> None:
    SLACK_CALLS.labels(method).inc()
    SLACK_SECONDS.labels(method).observe(seconds)
    if error is not None:
        SLACK_ERRORS.labels(method, error).inc()


def sweep_timer(sweep: str) -> Timer:
    """Times a sweep, as a context manager, whether it finishes or raises."""
    return SWEEP_SECONDS.labels(sweep).time()


def unacknowledged_pages(db: Database) -> int:
    """Pages of open crises still waiting for an answer.

    Once someone at an agency acknowledges, the agency has answered: its other pages in the
    crisis wait no longer. The lead's page waits until the lead answers it.
    """
    answered = aliased(Page)
    agency_answered = exists().where(
        answered.crisis_id == Page.crisis_id,
        answered.agency_id == Page.agency_id,
        answered.acknowledged_at.is_not(None),
    )
    query = (
        select(func.count())
        .select_from(Page)
        .join(Crisis, and_(Crisis.id == Page.crisis_id, Crisis.state == "open"))
        .where(Page.acknowledged_at.is_(None), ~agency_answered)
    )
    with db.reader() as session:
        return session.scalar(query) or 0


class Waiting:
    """What is waiting, read at each scrape: the queue's jobs and the pages nobody has answered.

    A reading that fails is left out of that scrape (and logged by kind), so that the rest
    still arrives; Prometheus then shows the gap.
    """

    def __init__(self, db: Database, queue_stats: QueueStats | None) -> None:
        self.db, self.queue_stats = db, queue_stats

    def collect(self) -> Iterator[Metric]:
        if self.queue_stats is not None:
            yield from self._jobs(self.queue_stats)
        try:
            pages = unacknowledged_pages(self.db)
        except Exception as error:
            log.warning("pages waiting for acknowledgement not counted: %s", type(error).__name__)
        else:
            yield GaugeMetricFamily(
                "casehub_pages_unacknowledged",
                "Crisis pages waiting for acknowledgement, in open crises.",
                value=pages,
            )

    def _jobs(self, queue_stats: QueueStats) -> Iterator[Metric]:
        try:
            stats = queue_stats()
        except Exception as error:
            log.warning("the job queue's figures were not read: %s", type(error).__name__)
            return
        gauges = {
            "queued": ("casehub_jobs_queued", "Jobs waiting for a worker."),
            "oldest_age_seconds": (
                "casehub_jobs_oldest_age_seconds",
                "Age of the oldest job waiting for a worker (0 when none waits).",
            ),
            "parked": ("casehub_jobs_parked", "Jobs that failed for good and wait for an admin."),
        }
        for key, (name, documentation) in gauges.items():
            if key in stats:
                yield GaugeMetricFamily(name, documentation, value=stats[key])


def make_registry(db: Database, queue_stats: QueueStats | None = None) -> CollectorRegistry:
    """What `/metrics` shows: this process's counts (or, in multi-process mode, those of every
    process on the host) and what is waiting in `db` and the queue."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        MultiProcessCollector(registry)
    else:
        registry.register(EVENTS)
    registry.register(Waiting(db, queue_stats))
    return registry
