from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base
from models.clock import utcnow


class MessageDeletion(Base):
    """One of casehub's own messages in a case channel, to delete from Slack because the case's
    record was deleted under the retention schedule; kept, with Slack's answer, for the record of
    what could not be deleted."""

    __tablename__ = "message_deletions"
    __table_args__ = (Index("ix_message_deletions_state", "state", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    channel: Mapped[str] = mapped_column(String(32))
    ts: Mapped[str] = mapped_column(String(32))
    # pending (to try), deleted, gone (Slack no longer had it), failed (Slack refused for good)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    done_at: Mapped[datetime | None]
