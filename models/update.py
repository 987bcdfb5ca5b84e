from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.agency import Agency, enum_column
from models.audit import Chained
from models.base import Base
from models.case import Case, Risk
from models.clock import utcnow
from models.encryption import EncryptedJSON, EncryptedText


class UpdateKind(enum.StrEnum):
    MEETING = "meeting"
    HOME_VISIT = "home-visit"
    OBSERVATION = "observation"
    INFORMATION_RECEIVED = "information-received"
    REFERRAL = "referral"
    NOTE = "note"
    OTHER = "other"


class Update(Base):
    """One agency's contribution to the shared picture of a case."""

    __tablename__ = "updates"
    __table_args__ = (Index("ix_updates_case_created", "case_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"), index=True)
    filer: Mapped[str] = mapped_column(String(32))
    filer_role: Mapped[str] = mapped_column(String(32))
    contact_date: Mapped[date]
    kind: Mapped[UpdateKind] = mapped_column(enum_column(UpdateKind, "update_kind"))
    observed: Mapped[str] = mapped_column(EncryptedText("updates.observed"))
    # None: the update changes nothing about the agency's view of the risk.
    risk: Mapped[Risk | None] = mapped_column(enum_column(Risk, "update_risk"))
    protective_factors: Mapped[str | None] = mapped_column(EncryptedText("updates.protective_factors"))
    concerns: Mapped[str | None] = mapped_column(EncryptedText("updates.concerns"))
    asks: Mapped[str | None] = mapped_column(EncryptedText("updates.asks"))
    restricted: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    edited_at: Mapped[datetime | None]
    channel_ts: Mapped[str | None] = mapped_column(String(32))
    # The Slack delivery that filed it: a repeated submission files nothing more.
    filed_via: Mapped[str] = mapped_column(String(200), unique=True)

    agency: Mapped[Agency] = relationship(lazy="joined")
    case: Mapped[Case] = relationship()
    revisions: Mapped[list[UpdateRevision]] = relationship(
        back_populates="update", order_by="UpdateRevision.id", cascade="all, delete-orphan"
    )


class UpdateRevision(Base):
    """The content of an update before an edit: the history keeps every version."""

    __tablename__ = "update_revisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    update_id: Mapped[int] = mapped_column(ForeignKey("updates.id"), index=True)
    replaced_at: Mapped[datetime] = mapped_column(default=utcnow)
    replaced_by: Mapped[str] = mapped_column(String(32))
    content: Mapped[dict[str, Any]] = mapped_column(EncryptedJSON("update_revisions.content"))

    update: Mapped[Update] = relationship(back_populates="revisions")


class Disclosure(enum.StrEnum):
    """The kinds of disclosure the sharing log records."""

    UPDATE = "update"  # an update filed, shared with the case's agencies (or the lead alone)
    CORRECTION = "correction"  # its corrected content, shared again
    EARLIER_UPDATE = "earlier-update"  # in the channel's history when an agency joins
    CRISIS_PAGE = "crisis-page"  # a page, to its recipient
    CRISIS_EMAIL = "crisis-email"  # the e-mail copy of a page
    HANDOVER = "handover"  # a successor taking over someone's cases
    EXPORT = "export"  # an export of the case (a PDF and a JSON file), to the lead who asked
    TRANSFER = "transfer"  # the case as a whole, to the area (and lead) it was transferred to
    REFERRAL = "referral"  # a referral's content, to the case opened when it was accepted


class SharingRecord(Chained, Base):
    """Who shared what kind of information with whom, when and why (append-only, chained)."""

    __tablename__ = "sharing_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    disclosure: Mapped[str] = mapped_column(
        String(32), default=Disclosure.UPDATE.value, server_default=Disclosure.UPDATE.value
    )
    # What was disclosed: an update, a crisis, or (for a hand-over) the case as a whole.
    update_id: Mapped[int | None] = mapped_column(ForeignKey("updates.id"))
    crisis_id: Mapped[int | None] = mapped_column(ForeignKey("crises.id"))
    from_agency_id: Mapped[int | None] = mapped_column(ForeignKey("agencies.id"))
    shared_by: Mapped[str] = mapped_column(String(32))
    # An agency, or one person (the lead for restricted updates, whoever is paged, a successor).
    to_agency_id: Mapped[int | None] = mapped_column(ForeignKey("agencies.id"))
    to_user: Mapped[str | None] = mapped_column(String(32))
    # What kind of information: the update's kind, or what a page or hand-over carried.
    kind: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(String(300))
    # A key of SHARING_BASES; None only for entries made before purposes were recorded.
    basis: Mapped[str | None] = mapped_column(String(32))


class UpdateCorrection(Base):
    """A correction of an update asked for after its edit window: applied only once the case's
    lead approves it; kept, with the decision, whatever it is."""

    __tablename__ = "update_corrections"

    id: Mapped[int] = mapped_column(primary_key=True)
    update_id: Mapped[int] = mapped_column(ForeignKey("updates.id"), index=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    proposed_by: Mapped[str] = mapped_column(String(32))
    proposed_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The form submission that asked for it: a repeated submission asks nothing more.
    proposed_via: Mapped[str] = mapped_column(String(200), unique=True)
    reason: Mapped[str] = mapped_column(EncryptedText("update_corrections.reason"))
    # The update as it would read, as in UpdateRevision.
    content: Mapped[dict[str, Any]] = mapped_column(EncryptedJSON("update_corrections.content"))
    state: Mapped[str] = mapped_column(String(16), default="pending")  # pending, approved, refused
    decided_by: Mapped[str | None] = mapped_column(String(32))
    decided_at: Mapped[datetime | None]
