from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from models.agency import enum_column
from models.base import Base
from models.case import Risk
from models.clock import utcnow
from models.encryption import EncryptedJSON, EncryptedText


class Review(Base):
    """A multi-agency review meeting as recorded by the lead coordinator."""

    __tablename__ = "reviews"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    held_on: Mapped[date]
    agencies_present: Mapped[list[str]] = mapped_column(JSON, default=list)
    decisions: Mapped[str] = mapped_column(EncryptedText("reviews.decisions"))
    risk_after: Mapped[Risk] = mapped_column(enum_column(Risk, "review_risk"))
    next_review_at: Mapped[datetime | None]
    recorded_by: Mapped[str] = mapped_column(String(32))
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    recorded_via: Mapped[str] = mapped_column(String(200), unique=True)


class FollowUp(Base):
    """A follow-up review after exit (for example at 6 and 12 months)."""

    __tablename__ = "follow_ups"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    due_on: Mapped[date] = mapped_column(index=True)
    label: Mapped[str] = mapped_column(String(80))
    held_on: Mapped[date | None]
    reminded_at: Mapped[datetime | None]


class Preference(Base):
    """A person's digest choice and the time zone Slack reports for them."""

    __tablename__ = "preferences"

    user_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    digest: Mapped[str] = mapped_column(String(16), default="daily")
    digest_time: Mapped[time | None]
    timezone: Mapped[str | None] = mapped_column(String(64))
    timezone_checked_at: Mapped[datetime | None]
    last_digest_at: Mapped[datetime | None]


class Notice(Base):
    """Every nudge, reminder and digest, recorded under a unique key before it is sent.

    The key names what, for whom and for which due time, so a restart, a crash, a
    second scheduler or a sweep after downtime can never send the same notice twice.
    """

    __tablename__ = "notices"
    __table_args__ = (
        Index("ix_notices_state_retry", "state", "next_attempt_at"),
        Index("ix_notices_claimed", "state", "claimed_at"),
        Index("ix_notices_state_sent", "state", "sent_at"),  # retention finds old sent texts
    )

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    recipient: Mapped[str] = mapped_column(String(32))
    # Whose working hours decide when it goes; None: at once, whatever the hour (crisis pages).
    tz: Mapped[str | None] = mapped_column(String(64))
    channel: Mapped[str | None] = mapped_column(String(32))
    # What is sent carries what people typed (an update's fields in its channel message).
    text: Mapped[str] = mapped_column(EncryptedText("notices.text"))
    blocks: Mapped[list[dict[str, Any]] | None] = mapped_column(EncryptedJSON("notices.blocks"))
    # pending (not yet tried), sending (a send is under way), sent, failed (will retry)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_at: Mapped[datetime | None]
    next_attempt_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    ts: Mapped[str | None] = mapped_column(String(32))
    last_error: Mapped[str | None] = mapped_column(String(300))
