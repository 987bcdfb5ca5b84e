"""Work acknowledged to Slack and not yet done: the durable job queue."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, SmallInteger, String, text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base
from models.clock import machine_now
from models.encryption import EncryptedText


class JobState(enum.StrEnum):
    QUEUED = "queued"  # waiting for a worker (or for its back-off to end)
    RUNNING = "running"  # claimed by a worker under a lease
    DONE = "done"  # finished; its request is forgotten, the row stays a day against duplicates
    PARKED = "parked"  # failed for good: an admin retries or drops it


class Job(Base):
    """One request's work after its acknowledgement, recorded before Slack is answered.

    `body` is the request as Slack sent it (verified before it was recorded); the worker
    dispatches it again to the named listener. It holds what the person typed, so it is
    cleared as soon as the job is done.
    """

    __tablename__ = "jobs"
    __table_args__ = (
        # What a worker claims next: the queued jobs, most urgent first, oldest first.
        Index(
            "ix_jobs_claimable",
            "priority",
            "id",
            postgresql_where=text("state = 'queued'"),
            sqlite_where=text("state = 'queued'"),
        ),
        # One person's jobs run in order: whether an earlier one is still in hand.
        Index(
            "ix_jobs_person_open",
            "person",
            "id",
            postgresql_where=text("state IN ('queued', 'running')"),
            sqlite_where=text("state IN ('queued', 'running')"),
        ),
        Index("ix_jobs_state_lease", "state", "lease_until"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    # The same request delivered twice is recorded once.
    request_key: Mapped[str] = mapped_column(String(64), unique=True)
    listener: Mapped[str] = mapped_column(String(200))
    mode: Mapped[str] = mapped_column(String(16), default="http")
    body: Mapped[str | None] = mapped_column(EncryptedText("jobs.body"))
    # Whose request it is (a Slack user ID): one person's jobs run in the order they came.
    person: Mapped[str | None] = mapped_column(String(32))
    # 0 opens a form within its trigger's 3 seconds; 1 is everything else.
    priority: Mapped[int] = mapped_column(SmallInteger, default=1)
    state: Mapped[JobState] = mapped_column(String(16), default=JobState.QUEUED)
    attempts: Mapped[int] = mapped_column(default=0)
    run_after: Mapped[datetime] = mapped_column(default=machine_now)
    lease_until: Mapped[datetime | None]
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    # The kind of the last failure (an exception's class, Slack's error code): never its text.
    last_error: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=machine_now)
    finished_at: Mapped[datetime | None]
