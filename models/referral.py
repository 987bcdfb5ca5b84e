"""Referrals: a concern raised by any agency's member, for an area's hub to screen.

A referral is received, acknowledged, then decided: accepted (a case is opened, with the
referrer's agency taking part), signposted to another service, or closed with no further
action, always with a reason. Its free text is encrypted at rest and passes the identifier gate
like every other text that reaches Slack.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from models.agency import enum_column
from models.base import Base
from models.case import Risk
from models.clock import utcnow
from models.encryption import EncryptedText


class ReferralState(enum.StrEnum):
    RECEIVED = "received"
    ACKNOWLEDGED = "acknowledged"
    ACCEPTED = "accepted"
    SIGNPOSTED = "signposted"
    CLOSED = "closed"  # no further action

    @property
    def is_open(self) -> bool:
        return self in (ReferralState.RECEIVED, ReferralState.ACKNOWLEDGED)


class Urgency(enum.StrEnum):
    ROUTINE = "routine"
    URGENT = "urgent"


class Awareness(enum.StrEnum):
    """Whether the person (or a parent, for a child) knows of the referral."""

    PERSON_KNOWS = "person-knows"
    PARENT_KNOWS = "parent-knows"
    NOT_TOLD = "not-told"
    UNKNOWN = "unknown"


class ReferralConsent(enum.StrEnum):
    """Whether the person (or a parent, for a child) consents to it."""

    GIVEN = "given"
    REFUSED = "refused"
    NOT_ASKED = "not-asked"


class Referral(Base):
    __tablename__ = "referrals"
    __table_args__ = (  # the sweep reads only the open referrals whose time has come
        Index(
            "ix_referrals_open_nudge",
            "nudge_at",
            sqlite_where=text("state IN ('received', 'acknowledged')"),
            postgresql_where=text("state IN ('received', 'acknowledged')"),
        ),
        Index("ix_referrals_area_state", "area_id", "state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Random like a case's, drawn from the same alphabet; shown as R-XXXXXX.
    reference: Mapped[str] = mapped_column(String(6), unique=True)
    area_id: Mapped[int] = mapped_column(ForeignKey("areas.id"))
    referrer: Mapped[str] = mapped_column(String(32), index=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"), index=True)
    # The Slack delivery that submitted it: a second delivery finds this and records nothing.
    submitted_via: Mapped[str] = mapped_column(String(200), unique=True)
    concern: Mapped[str] = mapped_column(EncryptedText("referrals.concern"))
    why_now: Mapped[str] = mapped_column(EncryptedText("referrals.why_now"))
    done_so_far: Mapped[str | None] = mapped_column(EncryptedText("referrals.done_so_far"))
    risk: Mapped[Risk] = mapped_column(enum_column(Risk, "referral_risk"))
    awareness: Mapped[Awareness] = mapped_column(enum_column(Awareness, "referral_awareness"))
    consent: Mapped[ReferralConsent] = mapped_column(enum_column(ReferralConsent, "referral_consent"))
    urgency: Mapped[Urgency] = mapped_column(enum_column(Urgency, "referral_urgency"))
    state: Mapped[ReferralState] = mapped_column(
        enum_column(ReferralState, "referral_state"), default=ReferralState.RECEIVED
    )
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Service levels, worked out in the area's working days when it is received.
    ack_due_at: Mapped[datetime]
    decision_due_at: Mapped[datetime]
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[str | None] = mapped_column(String(32))
    decided_at: Mapped[datetime | None]
    decided_by: Mapped[str | None] = mapped_column(String(32))
    decision_reason: Mapped[str | None] = mapped_column(EncryptedText("referrals.decision_reason"))
    signposted_to: Mapped[str | None] = mapped_column(EncryptedText("referrals.signposted_to"))
    # The case opened when it was accepted.
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), unique=True)
    # When the sweep next has something to say about it (a nudge, an escalation); None once
    # decided.
    nudge_at: Mapped[datetime | None]
    # Where the hub's card about it was posted, to update it when it is acknowledged or decided.
    hub_channel_id: Mapped[str | None] = mapped_column(String(32))
    hub_ts: Mapped[str | None] = mapped_column(String(32))
    # When its content was deleted under the retention schedule; a marker stays.
    purged_at: Mapped[datetime | None]

    @property
    def label(self) -> str:
        return f"R-{self.reference}"


class LinkDecision(enum.StrEnum):
    LINKED = "linked"  # the same person
    DISMISSED = "dismissed"  # not the same person: not proposed again


class ReferralLink(Base):
    """A coordinator's decision that a referral is (or is not) about the same person as an
    earlier case or referral; a later decision on the same pair replaces it, the audit trail
    keeps each."""

    __tablename__ = "referral_links"
    __table_args__ = (UniqueConstraint("referral_id", "case_id", "other_referral_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    referral_id: Mapped[int] = mapped_column(ForeignKey("referrals.id"), index=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    other_referral_id: Mapped[int | None] = mapped_column(ForeignKey("referrals.id"), index=True)
    decision: Mapped[LinkDecision] = mapped_column(enum_column(LinkDecision, "referral_link_decision"))
    reason: Mapped[str | None] = mapped_column(EncryptedText("referral_links.reason"))
    # casehub's own score of the pair when it was decided (services.identity_score).
    score: Mapped[int | None]
    decided_by: Mapped[str] = mapped_column(String(32))
    decided_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_via: Mapped[str] = mapped_column(String(200))
