from __future__ import annotations

import enum
from datetime import date, datetime, time

from sqlalchemy import JSON, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.agency import Agency, enum_column
from models.base import Base
from models.clock import utcnow
from models.encryption import EncryptedText


class Stage(enum.StrEnum):
    REFERRAL = "referral"
    SCREENING = "screening"
    ASSESSMENT = "assessment"
    PANEL_DECISION = "panel-decision"
    SUPPORT = "support"
    EXIT = "exit"
    FOLLOW_UP = "follow-up"
    CLOSED = "closed"


class Risk(enum.StrEnum):
    LOW = "low"
    MODERATE = "moderate"
    HIGH = "high"
    CRITICAL = "critical"


class Consent(enum.StrEnum):
    NOT_RECORDED = "not-recorded"
    GIVEN = "given"
    WITHDRAWN = "withdrawn"
    NOT_REQUIRED = "not-required"


class SetupState(enum.StrEnum):
    PENDING = "pending"
    READY = "ready"
    FAILED = "failed"


class CaseWithoutChannel(RuntimeError):
    """A case reached work that needs its channel before its setup made one: a fault, not a user's error."""

    def __init__(self, reference: str) -> None:
        super().__init__(f"case {reference} has no channel yet")
        self.reference = reference


class Case(Base):
    __tablename__ = "cases"
    __table_args__ = (  # the nightly retention pass finds the cases whose time has come
        Index(
            "ix_cases_retention_due",
            "retention_from",
            sqlite_where=text("purged_at IS NULL"),
            postgresql_where=text("purged_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Pseudonymous, random and never sequential: counts must not leak from references.
    reference: Mapped[str] = mapped_column(String(6), unique=True)
    stage: Mapped[Stage] = mapped_column(enum_column(Stage, "case_stage"), default=Stage.REFERRAL)
    risk: Mapped[Risk] = mapped_column(enum_column(Risk, "case_risk"))
    summary: Mapped[str] = mapped_column(EncryptedText("cases.summary"))
    # The referring agency's own reference: kept in the record, never sent to Slack.
    agency_reference: Mapped[str | None] = mapped_column(EncryptedText("cases.agency_reference"))
    # The local partnership the case belongs to (models.area); a transfer moves it.
    area_id: Mapped[int] = mapped_column(ForeignKey("areas.id"), index=True)
    lead_user_id: Mapped[str] = mapped_column(String(32), index=True)
    opened_by: Mapped[str] = mapped_column(String(32))
    # The Slack delivery that opened the case: a second delivery finds this and opens nothing.
    opened_via: Mapped[str] = mapped_column(String(200), unique=True)
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    consent: Mapped[Consent] = mapped_column(
        enum_column(Consent, "case_consent"), default=Consent.NOT_RECORDED
    )
    consent_date: Mapped[date | None]
    setup_state: Mapped[SetupState] = mapped_column(
        enum_column(SetupState, "case_setup_state"), default=SetupState.PENDING
    )
    setup_error: Mapped[str | None] = mapped_column(Text)
    channel_id: Mapped[str | None] = mapped_column(String(32), unique=True)
    channel_name: Mapped[str | None] = mapped_column(String(80))
    members_invited: Mapped[bool] = mapped_column(default=False)
    topic_set: Mapped[bool] = mapped_column(default=False)
    header_ts: Mapped[str | None] = mapped_column(String(32))
    header_pinned: Mapped[bool] = mapped_column(default=False)
    closed_at: Mapped[datetime | None]
    outcome: Mapped[str | None] = mapped_column(EncryptedText("cases.outcome"))
    lessons: Mapped[str | None] = mapped_column(EncryptedText("cases.lessons"))
    review_every_weeks: Mapped[int] = mapped_column(default=4)
    # Local weekday (0 = Monday) and time for reviews, in the lead coordinator's time zone.
    review_weekday: Mapped[int | None]
    review_time: Mapped[time | None]
    next_review_at: Mapped[datetime | None] = mapped_column(index=True)
    last_review_at: Mapped[datetime | None]
    # When the sweep next has something to say about this case's review: the nudge to
    # agencies before it, and the reminders to the lead on the day and after.
    review_nudge_at: Mapped[datetime | None] = mapped_column(index=True)
    review_reminder_at: Mapped[datetime | None] = mapped_column(index=True)
    closing_ts: Mapped[str | None] = mapped_column(String(32))
    channel_archived: Mapped[bool] = mapped_column(default=False)
    # The last number given to an action of the case, taken under the case's row lock.
    actions_numbered: Mapped[int] = mapped_column(default=0, server_default="0")
    # Retention (services.retention). The furthest stage of the process the case reached, and
    # when it left support: with the closure, they decide how long its record is kept.
    stage_reached: Mapped[str] = mapped_column(String(32), default=Stage.REFERRAL.value)
    exited_at: Mapped[datetime | None]
    # Set at closure: the time the retention period counts from (its exit, else its closure).
    retention_from: Mapped[datetime | None]
    retention_warned_at: Mapped[datetime | None]
    # When its content was deleted under the schedule; what is left is a minimal marker.
    purged_at: Mapped[datetime | None]
    outcome_category: Mapped[str | None] = mapped_column(String(32))
    agency_kinds: Mapped[list[str] | None] = mapped_column(JSON)

    participations: Mapped[list[CaseAgency]] = relationship(
        back_populates="case", cascade="all, delete-orphan", order_by="CaseAgency.id"
    )

    @property
    def active_participations(self) -> list[CaseAgency]:
        return [p for p in self.participations if p.left_at is None]

    @property
    def agencies(self) -> list[Agency]:
        return [p.agency for p in self.active_participations]

    @property
    def is_closed(self) -> bool:
        return self.stage is Stage.CLOSED

    @property
    def is_purged(self) -> bool:
        return self.purged_at is not None

    def channel(self) -> str:
        """The case's Slack channel, for work that runs only once the case's setup has made it."""
        if self.channel_id is None:
            raise CaseWithoutChannel(self.reference)
        return self.channel_id


class CaseAgency(Base):
    """An agency's participation in a case; rows are kept after it leaves, for the record."""

    __tablename__ = "case_agencies"
    __table_args__ = (
        Index(
            "uq_case_agencies_active",
            "case_id",
            "agency_id",
            unique=True,
            sqlite_where=text("left_at IS NULL"),
            postgresql_where=text("left_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"), index=True)
    joined_at: Mapped[datetime] = mapped_column(default=utcnow)
    added_by: Mapped[str] = mapped_column(String(32))
    left_at: Mapped[datetime | None]
    removed_by: Mapped[str | None] = mapped_column(String(32))

    case: Mapped[Case] = relationship(back_populates="participations")
    agency: Mapped[Agency] = relationship(lazy="joined")
