from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.agency import Agency, enum_column
from models.base import Base
from models.case import Case
from models.clock import utcnow
from models.encryption import EncryptedJSON, EncryptedText


class Priority(enum.StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


class ActionStatus(enum.StrEnum):
    OPEN = "open"
    DONE = "done"


class Action(Base):
    """Who does what by when: the coordinator's tracker, kept in the database."""

    __tablename__ = "actions"
    __table_args__ = (
        UniqueConstraint("case_id", "number"),
        Index("ix_actions_open_due", "status", "due"),
        Index("ix_actions_open_nudge", "status", "nudge_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    number: Mapped[int]
    text: Mapped[str] = mapped_column(EncryptedText("actions.text"))
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"), index=True)
    owner: Mapped[str | None] = mapped_column(String(32), index=True)
    due: Mapped[date]
    priority: Mapped[Priority] = mapped_column(
        enum_column(Priority, "action_priority"), default=Priority.NORMAL
    )
    status: Mapped[ActionStatus] = mapped_column(
        enum_column(ActionStatus, "action_status"), default=ActionStatus.OPEN
    )
    created_by: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_via: Mapped[str] = mapped_column(String(200), unique=True)
    done_at: Mapped[datetime | None]
    done_by: Mapped[str | None] = mapped_column(String(32))
    channel_ts: Mapped[str | None] = mapped_column(String(32))
    # When the sweep next looks at this action (its due date, then the next overdue nudge).
    nudge_at: Mapped[datetime | None]

    agency: Mapped[Agency] = relationship(lazy="joined")
    case: Mapped[Case] = relationship()
    history: Mapped[list[ActionEvent]] = relationship(
        back_populates="action", order_by="ActionEvent.id", cascade="all, delete-orphan"
    )

    @property
    def is_open(self) -> bool:
        return self.status is ActionStatus.OPEN


class ActionEvent(Base):
    __tablename__ = "action_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    action_id: Mapped[int] = mapped_column(ForeignKey("actions.id"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(32))
    # What changed; an extension's reason is typed text.
    details: Mapped[dict[str, Any]] = mapped_column(EncryptedJSON("action_events.details"), default=dict)

    action: Mapped[Action] = relationship(back_populates="history")
