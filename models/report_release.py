"""Evaluation reports sent: to whom, of what, and what each gave away, so that a later report of
the same figures withholds what this one withheld and does not undo it."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base
from models.clock import utcnow


class ReleaseState(enum.StrEnum):
    SENDING = "sending"  # being made and uploaded, or cut off: Slack is asked before sending again
    SENT = "sent"  # in the person's direct messages
    FAILED = "failed"  # Slack refused it: nothing went out


class ReportRelease(Base):
    """One report asked for (`/report`) or due (each month's, to each coordinator of an area).

    `scope_key` names the figures (`area:<id>`, `region:<name>`, `national`) and `year` the
    calendar year whose protected tables the report was read from; `withheld` and `known` are,
    by table title, the positions of those tables the report withheld and gave away. A report
    of the same scope and year made later is protected with them (`services.reports.build`)."""

    __tablename__ = "report_releases"
    __table_args__ = (Index("ix_report_releases_scope_year", "scope_key", "year", "state"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    scope_key: Mapped[str] = mapped_column(String(120))
    scope: Mapped[str] = mapped_column(String(200))  # as the report names it: slugs, a region, a count
    period: Mapped[str] = mapped_column(String(16))
    year: Mapped[int]
    monthly: Mapped[bool] = mapped_column(default=False)
    requested_by: Mapped[str] = mapped_column(String(32))
    requested_via: Mapped[str] = mapped_column(String(200), unique=True)
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    state: Mapped[str] = mapped_column(String(16))
    claimed_at: Mapped[datetime | None]
    channel: Mapped[str | None] = mapped_column(String(32))
    file_ids: Mapped[list[str] | None] = mapped_column(JSON)
    pdf_sha256: Mapped[str | None] = mapped_column(String(64))
    csv_sha256: Mapped[str | None] = mapped_column(String(64))
    withheld: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    known: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    done_at: Mapped[datetime | None]
    # The kind of the last failure (Slack's error code, an exception's class): never its text.
    last_error: Mapped[str | None] = mapped_column(String(200))
