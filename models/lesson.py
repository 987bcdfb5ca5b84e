"""The lessons register: what a partnership learnt, and whether it reached its practice."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.agency import Agency, enum_column
from models.base import Base
from models.clock import utcnow
from models.encryption import EncryptedJSON, EncryptedText


class LessonStatus(enum.StrEnum):
    PROPOSED = "proposed"
    AGREED = "agreed"
    INTEGRATED = "integrated"
    CHECKED = "checked"
    DROPPED = "dropped"


OPEN_STATUSES = (LessonStatus.PROPOSED, LessonStatus.AGREED)


class Lesson(Base):
    """A lesson of an area, followed until the protocol it affects is changed and checked."""

    __tablename__ = "lessons"
    __table_args__ = (
        UniqueConstraint("area_id", "number"),
        Index("ix_lessons_status_nudge", "status", "nudge_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    area_id: Mapped[int] = mapped_column(ForeignKey("areas.id"), index=True)
    number: Mapped[int]
    # The case it came from, by id only: a lesson is about practice, not about the person.
    case_id: Mapped[int | None] = mapped_column(index=True)
    text: Mapped[str] = mapped_column(EncryptedText("lessons.text"))
    protocol: Mapped[str] = mapped_column(Text)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"), index=True)
    due: Mapped[date]
    status: Mapped[LessonStatus] = mapped_column(
        enum_column(LessonStatus, "lesson_status"), default=LessonStatus.PROPOSED
    )
    created_by: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_via: Mapped[str] = mapped_column(String(200), unique=True)
    agreed_by: Mapped[str | None] = mapped_column(String(32))
    agreed_at: Mapped[datetime | None]
    integrated_by: Mapped[str | None] = mapped_column(String(32))
    integrated_at: Mapped[datetime | None]
    integrated_protocol: Mapped[str | None] = mapped_column(String(200))
    integrated_version: Mapped[str | None] = mapped_column(String(64))
    checked_by: Mapped[str | None] = mapped_column(String(32))
    checked_at: Mapped[datetime | None]
    dropped_by: Mapped[str | None] = mapped_column(String(32))
    dropped_at: Mapped[datetime | None]
    drop_reason: Mapped[str | None] = mapped_column(EncryptedText("lessons.drop_reason"))
    # When the sweep next looks at this lesson (agreement overdue, due date, overdue nudges).
    nudge_at: Mapped[datetime | None]

    agency: Mapped[Agency] = relationship(lazy="joined")
    history: Mapped[list[LessonEvent]] = relationship(
        back_populates="lesson", order_by="LessonEvent.id", cascade="all, delete-orphan"
    )

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


class LessonEvent(Base):
    __tablename__ = "lesson_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    lesson_id: Mapped[int] = mapped_column(ForeignKey("lessons.id"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(32))
    # What changed; a reason to drop is typed text.
    details: Mapped[dict[str, Any]] = mapped_column(EncryptedJSON("lesson_events.details"), default=dict)

    lesson: Mapped[Lesson] = relationship(back_populates="history")
