"""Exports of a case: a chronology (PDF) and a bundle (JSON), redacted for whom they are for."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base
from models.clock import utcnow


class ExportState(enum.StrEnum):
    WRITING = "writing"  # being written to files on the command line
    WRITTEN = "written"  # written to files on the command line
    SENDING = "sending"  # an upload to Slack is under way, or was cut off: Slack is asked first
    SENT = "sent"  # in the lead's direct messages, and recorded in the sharing log
    FAILED = "failed"  # Slack refused it: nothing was sent, nothing recorded as shared


class Export(Base):
    """One export asked for: by whom, for which purpose, through which request, and what became
    of it. The request is unique, so a repeated delivery finds the export it already made rather
    than sending it twice; the files' digests say which files casehub made."""

    __tablename__ = "exports"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    purpose: Mapped[str] = mapped_column(String(16))
    requested_by: Mapped[str] = mapped_column(String(32))
    requested_via: Mapped[str] = mapped_column(String(200), unique=True)
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    state: Mapped[str] = mapped_column(String(16))
    # When the upload now under way (or cut off) began: a later attempt asks Slack before sending.
    claimed_at: Mapped[datetime | None]
    channel: Mapped[str | None] = mapped_column(String(32))  # the direct message it went to
    file_ids: Mapped[list[str] | None] = mapped_column(JSON)
    pdf_sha256: Mapped[str | None] = mapped_column(String(64))
    json_sha256: Mapped[str | None] = mapped_column(String(64))
    done_at: Mapped[datetime | None]
    # The kind of the last failure (Slack's error code, an exception's class): never its text.
    last_error: Mapped[str | None] = mapped_column(String(200))
