from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base
from models.clock import utcnow


class Chained:
    """An entry of a tamper-evident chain (`services.chain`): its place, the key that sealed it,
    and its link, a keyed hash of the link before it and of its own content."""

    seq: Mapped[int | None] = mapped_column(BigInteger, index=True, unique=True)
    key_id: Mapped[str | None] = mapped_column(String(32))
    chain_hash: Mapped[str | None] = mapped_column(String(64))


class AuditChain(Base):
    """Where each chain ends: its last place and link. Entries are sealed under this row's lock."""

    __tablename__ = "audit_chains"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)  # the chained table
    seq: Mapped[int] = mapped_column(BigInteger, default=0)
    chain_hash: Mapped[str] = mapped_column(String(64))


class AuditEvent(Chained, Base):
    """Append-only: the migration installs triggers that refuse UPDATE and DELETE, and each entry
    is chained to the one before it."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(64), index=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    agency_id: Mapped[int | None] = mapped_column(ForeignKey("agencies.id"), index=True)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Which Slack request caused the change (command trigger, view id, event id, job).
    request_ref: Mapped[str] = mapped_column(String(200))
    # The chain covers this digest of the details rather than the details themselves, so that
    # details may one day be redacted (retention) and the chain still verify.
    details_digest: Mapped[str | None] = mapped_column(String(64))


class Delivery(Base):
    """Keys of Slack deliveries already processed, so retries and duplicates change nothing."""

    __tablename__ = "deliveries"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
