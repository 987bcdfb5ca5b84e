from __future__ import annotations

from datetime import date, datetime, time

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base
from models.clock import utcnow
from models.encryption import EncryptedText


class OnCallOverride(Base):
    """Someone on call for an agency for a stretch of time, ahead of the rota."""

    __tablename__ = "oncall_overrides"

    id: Mapped[int] = mapped_column(primary_key=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"), index=True)
    user_id: Mapped[str] = mapped_column(String(32))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime | None]
    created_by: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class OnCallRota(Base):
    """A weekly rotation: the next person takes over each week at the hand-over time."""

    __tablename__ = "oncall_rotas"

    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"), primary_key=True)
    users: Mapped[list[str]] = mapped_column(JSON)
    weekday: Mapped[int]
    at: Mapped[time]
    # The first hand-over of the rota, in the agency's zone: the first person's week starts then.
    starts_on: Mapped[date]
    created_by: Mapped[str] = mapped_column(String(32))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class EscalationChain(Base):
    __tablename__ = "escalation_chains"

    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"), primary_key=True)
    users: Mapped[list[str]] = mapped_column(JSON)
    updated_by: Mapped[str] = mapped_column(String(32))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Crisis(Base):
    __tablename__ = "crises"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    summary: Mapped[str] = mapped_column(EncryptedText("crises.summary"))
    raised_by: Mapped[str] = mapped_column(String(32))
    raised_at: Mapped[datetime] = mapped_column(default=utcnow)
    raised_via: Mapped[str] = mapped_column(String(200), unique=True)
    state: Mapped[str] = mapped_column(String(16), default="open", index=True)
    banner_ts: Mapped[str | None] = mapped_column(String(32))
    # Raised outside working hours: when the lead gets the overnight summary, then None.
    handover_at: Mapped[datetime | None] = mapped_column(index=True)
    outcome: Mapped[str | None] = mapped_column(EncryptedText("crises.outcome"))
    resolved_by: Mapped[str | None] = mapped_column(String(32))
    resolved_at: Mapped[datetime | None]


class Page(Base):
    """One person paged in a crisis: for an agency (its on-call, then its chain) or as lead."""

    __tablename__ = "pages"

    id: Mapped[int] = mapped_column(primary_key=True)
    crisis_id: Mapped[int] = mapped_column(ForeignKey("crises.id"), index=True)
    agency_id: Mapped[int | None] = mapped_column(ForeignKey("agencies.id"))
    user_id: Mapped[str] = mapped_column(String(32))
    level: Mapped[int]  # 0: the on-call person (or the lead); 1, 2, …: the escalation chain
    # Unique per crisis, agency (or lead) and level: a page is never made twice.
    key: Mapped[str] = mapped_column(String(120), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    escalate_at: Mapped[datetime | None] = mapped_column(index=True)
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[str | None] = mapped_column(String(32))
