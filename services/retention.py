"""Retention: nothing is kept longer than the schedule says.

What casehub keeps only to do its work is purged once that work is done. A sent message's text
(and blocks) is emptied some days after it was sent; its key stays, so that the outbox still
knows it was sent and never sends it twice. The keys of Slack deliveries already processed are
deleted some days after: Slack retries within minutes, not days.

A case's record is kept for years after its exit (or its closure, when it never reached exit);
a referral closed at screening for a shorter time. The lead and the data protection officers are
told some days before its time, and it is never deleted sooner than that after the warning. Then
its personal and free-text content is deleted and a minimal marker stays: reference, dates,
stage reached, risk level and consent category at closure, its agencies' kinds and an outcome
category. The person's identity is deleted, with its blind-index digests. Its audit entries
keep who did what and when, with their details redacted (the chain covers their digest, so it
still verifies); the sharing and access logs stay as they are (they name kinds of information,
agencies and staff, never content). casehub's own messages in the
case channel are queued for deletion from Slack. A case under a legal hold is skipped.

A referral the hub signposted or closed with no further action never became a case: its record
is kept for the shorter time after its decision, then its texts and the identity of its person
(with the links decided with it) are deleted and a marker stays (reference, area, referring
agency, dates, risk, urgency, the decision). A referral accepted as a case goes with the case.

Each pass works a bounded batch, so a backlog is worked off over several passes.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, delete, exists, func, null, or_, select, update
from sqlalchemy.orm import Session

from models import (
    Action,
    ActionEvent,
    AuditEvent,
    Case,
    CaseAgency,
    CaseHold,
    Crisis,
    Delivery,
    FollowUp,
    MessageDeletion,
    Notice,
    Page,
    Referral,
    ReferralState,
    Review,
    Stage,
    Update,
    UpdateCorrection,
    UpdateRevision,
    utcnow,
)
from services import audit, chain, identity, locks
from services.reminders import Due

BATCH = 1000
PURGES_PER_PASS = 500
WARNINGS_PER_PASS = 2000
HISTORY = "history"  # a MessageDeletion that asks for the channel's history to be searched
SCREENED_OUT = (Stage.REFERRAL.value, Stage.SCREENING.value)
PROGRESSION = (Stage.REFERRAL, Stage.SCREENING, Stage.ASSESSMENT, Stage.PANEL_DECISION, Stage.SUPPORT)


def purge_sent_texts(session: Session, now: datetime, days: int, *, limit: int = BATCH) -> int:
    cutoff = now - timedelta(days=days)
    keys = list(
        session.scalars(
            select(Notice.key)
            .where(
                Notice.state == "sent",
                Notice.sent_at < cutoff,
                Notice.text != "",  # emptied already: nothing left to purge
            )
            .limit(limit)
        )
    )
    if keys:
        session.execute(update(Notice).where(Notice.key.in_(keys)).values(text="", blocks=null()))
    return len(keys)


def purge_deliveries(session: Session, now: datetime, days: int, *, limit: int = BATCH) -> int:
    cutoff = now - timedelta(days=days)
    keys = list(session.scalars(select(Delivery.key).where(Delivery.at < cutoff).limit(limit)))
    if keys:
        session.execute(delete(Delivery).where(Delivery.key.in_(keys)))
    return len(keys)


# ---- the schedule of case records ---------------------------------------------------------------
def months_before(moment: datetime, months: int) -> datetime:
    """The same moment `months` earlier; a day the month lacks becomes its last."""
    total = moment.year * 12 + moment.month - 1 - months
    year, month = divmod(total, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


@dataclass(frozen=True)
class Schedule:
    case_years: int = 6
    screened_out_months: int = 36
    warning_days: int = 30

    def kept_until(self, case: Case) -> datetime | None:
        """When the case's record is due for deletion; None while it is open."""
        if case.retention_from is None:
            return None
        months = self.case_years * 12
        if case.stage_reached in SCREENED_OUT:
            months = min(months, self.screened_out_months)
        return months_before(case.retention_from, -months)

    def due_by(self, moment: datetime) -> ColumnElement[bool]:
        """The cases (not purged, not held) whose record is due for deletion by `moment`."""
        return and_(
            Case.purged_at.is_(None),
            Case.retention_from.is_not(None),
            or_(
                Case.retention_from <= months_before(moment, self.case_years * 12),
                and_(
                    Case.stage_reached.in_(SCREENED_OUT),
                    Case.retention_from <= months_before(moment, self.screened_out_months),
                ),
            ),
            ~exists().where(CaseHold.case_id == Case.id, CaseHold.lifted_at.is_(None)),
        )


def reached(case: Case, stage: Stage) -> None:
    """Keep the furthest stage of the process the case reached, and when it left support."""
    if stage in PROGRESSION and PROGRESSION.index(stage) > PROGRESSION.index(Stage(case.stage_reached)):
        case.stage_reached = stage.value
    if stage is Stage.EXIT and case.exited_at is None:
        case.exited_at = utcnow()


def closed(case: Case) -> None:
    """At closure: the retention period counts from the exit, or from now."""
    assert case.closed_at is not None
    case.retention_from = case.exited_at or case.closed_at


def outcome_category(stage_reached: str) -> str:
    """What the marker says of the outcome, from the furthest stage the case reached."""
    if stage_reached in SCREENED_OUT:
        return "screened-out"
    if stage_reached == Stage.SUPPORT.value:
        return "supported"
    return "not-adopted"


# ---- warnings -------------------------------------------------------------------------------------
def warn(
    session: Session,
    now: datetime,
    schedule: Schedule,
    officers: Sequence[str],
    tz_of: Callable[[str], str],
    *,
    limit: int = WARNINGS_PER_PASS,
) -> list[Due]:
    """The cases due within the warning period and not yet warned: each is marked warned, and
    its lead and the officers are told, with the way to ask for a hold."""
    horizon = now + timedelta(days=schedule.warning_days)
    found = session.scalars(
        select(Case)
        .where(schedule.due_by(horizon), Case.retention_warned_at.is_(None))
        .order_by(Case.retention_from, Case.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    dues = []
    for case in found:
        case.retention_warned_at = now
        # Never deleted sooner than the warning period after the warning, whatever the schedule.
        when = max(schedule.kept_until(case) or now, now + timedelta(days=schedule.warning_days))
        audit.record(
            session,
            actor="casehub",
            action="case.retention_warned",
            request_ref=f"retention:{now:%Y%m%d}",
            case=case,
            deletion_on=when.date().isoformat(),
        )
        for user in dict.fromkeys([case.lead_user_id, *officers]):
            text = warning_text(case.reference, when.date(), officer=user in officers)
            dues.append(Due(f"retention-warning:{case.id}:{user}", user, text, tz_of(user)))
    return dues


def warning_text(reference: str, on: date, *, officer: bool) -> str:
    ask = (
        "To keep it (an inquiry, a claim, a subject access request), hold it: "
        f"`/case hold {reference} <reason>`."
        if officer
        else "If it must be kept (an inquiry, a claim, a subject access request), ask a data protection "
        f"officer to hold it: they type `/case hold {reference} <reason>`."
    )
    return (
        f":hourglass_flowing_sand: Case {reference}'s record is due for deletion on {on.isoformat()} under "
        f"the retention schedule. Only a marker will be left: its reference, dates, stage reached and "
        f"outcome category. {ask}"
    )


# ---- deletion ------------------------------------------------------------------------------------
def purgeable(
    session: Session, now: datetime, schedule: Schedule, *, limit: int = PURGES_PER_PASS
) -> list[int]:
    """The cases whose time has come, warned at least the warning period ago, oldest first."""
    warned_by = now - timedelta(days=schedule.warning_days)
    return list(
        session.scalars(
            select(Case.id)
            .where(schedule.due_by(now), Case.retention_warned_at <= warned_by)
            .order_by(Case.retention_from, Case.id)
            .limit(limit)
        )
    )


@dataclass(frozen=True)
class Purged:
    reference: str
    messages: int  # casehub's own messages in Slack, queued for deletion


def purge_case(session: Session, case_id: int, now: datetime, schedule: Schedule) -> Purged | None:
    """Delete one case's content, leaving its marker, in the caller's transaction; None when it
    is no longer due (held, purged or changed meanwhile)."""
    case = session.get(Case, case_id)
    if case is None:
        return None
    locks.hold(session, case)
    held = session.scalar(
        select(CaseHold.id).where(CaseHold.case_id == case.id, CaseHold.lifted_at.is_(None))
    )
    due = schedule.kept_until(case)
    warned = case.retention_warned_at
    if case.purged_at or held or due is None or due > now:
        return None
    if warned is None or warned > now - timedelta(days=schedule.warning_days):
        return None
    messages = _own_messages(session, case)
    session.add_all(MessageDeletion(case_id=case.id, channel=c, ts=ts, created_at=now) for c, ts in messages)
    if case.channel_id is not None:  # and whatever else it posted there (replies to commands)
        session.add(MessageDeletion(case_id=case.id, channel=case.channel_id, ts=HISTORY, created_at=now))
    counts = _delete_content(session, case)
    case.agency_kinds = sorted({p.agency.kind.value for p in case.participations})
    case.outcome_category = outcome_category(case.stage_reached)
    session.execute(delete(CaseAgency).where(CaseAgency.case_id == case.id))
    case.summary, case.agency_reference, case.outcome, case.lessons = "", None, None, None
    case.setup_error, case.consent_date = None, None
    case.next_review_at = case.review_nudge_at = case.review_reminder_at = None
    case.purged_at = now
    # The case's audit entries keep who did what and when; their details (which may quote typed
    # reasons) are redacted. Only this change is allowed on them (see migration 0014).
    session.execute(
        update(AuditEvent)
        .where(AuditEvent.case_id == case.id)
        .values(details=chain.REDACTED)
        .execution_options(synchronize_session=False)
    )
    audit.record(
        session,
        actor="casehub",
        action=chain.PURGED_ACTION,
        request_ref=f"retention:{now:%Y%m%d}",
        case=case,
        outcome=case.outcome_category,
        messages=len(messages),
        removed=counts,
    )
    return Purged(case.reference, len(messages))


def _own_messages(session: Session, case: Case) -> list[tuple[str, str]]:
    """casehub's messages in the case channel that it knows of: header, closing summary, posted
    updates and actions, crisis banners and the notices it posted there."""
    if case.channel_id is None:
        return []
    found = [case.header_ts, case.closing_ts]
    for model in (Update, Action):
        found += session.scalars(select(model.channel_ts).where(model.case_id == case.id))
    found += session.scalars(select(Crisis.banner_ts).where(Crisis.case_id == case.id))
    found += session.scalars(select(Notice.ts).where(Notice.channel == case.channel_id))
    return [(case.channel_id, ts) for ts in dict.fromkeys(found) if ts]


def _delete_content(session: Session, case: Case) -> dict[str, int]:
    """What the record held of the case, deleted or emptied; counts of each, for the audit entry.
    Rows the sharing log points at (updates, crises) stay as skeletons: kind, agency and dates.
    The person's identity goes with its blind-index digests, so that a deleted case is never
    proposed as a repeat referral again, and so do the decisions on pairs it was in."""
    updates = select(Update.id).where(Update.case_id == case.id)
    actions = select(Action.id).where(Action.case_id == case.id)
    crises = select(Crisis.id).where(Crisis.case_id == case.id)
    counts = {
        "updates": _count(session, updates),
        "actions": _count(session, actions),
        "crises": _count(session, crises),
    }
    session.execute(delete(UpdateRevision).where(UpdateRevision.update_id.in_(updates)))
    session.execute(delete(UpdateCorrection).where(UpdateCorrection.case_id == case.id))
    session.execute(
        update(Update)
        .where(Update.case_id == case.id)
        .values(observed="", protective_factors=None, concerns=None, asks=None)
        .execution_options(synchronize_session=False)
    )
    session.execute(delete(ActionEvent).where(ActionEvent.action_id.in_(actions)))
    session.execute(delete(Action).where(Action.case_id == case.id))
    counts["reviews"] = _count(session, select(Review.id).where(Review.case_id == case.id))
    session.execute(delete(Review).where(Review.case_id == case.id))
    session.execute(delete(FollowUp).where(FollowUp.case_id == case.id))
    session.execute(delete(Page).where(Page.crisis_id.in_(crises)))
    session.execute(
        update(Crisis)
        .where(Crisis.case_id == case.id)
        .values(summary="", outcome=None)
        .execution_options(synchronize_session=False)
    )
    counts.update(identity.delete_for_case(session, case))
    # The referral it was opened from held the same concern: it goes with the case.
    session.execute(
        update(Referral)
        .where(Referral.case_id == case.id)
        .values(**_REFERRAL_TEXTS_EMPTIED, purged_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return counts


_REFERRAL_TEXTS_EMPTIED: dict[str, Any] = {
    "concern": "",
    "why_now": "",
    "done_so_far": None,
    "decision_reason": None,
    "signposted_to": None,
}
NOT_OPENED = (ReferralState.SIGNPOSTED, ReferralState.CLOSED)


def referrals_due(
    session: Session, now: datetime, schedule: Schedule, *, limit: int = PURGES_PER_PASS
) -> list[int]:
    """Referrals that never became a case and whose time is over: decided (signposted or closed)
    longer ago than the shorter retention period."""
    return list(
        session.scalars(
            select(Referral.id)
            .where(
                Referral.purged_at.is_(None),
                Referral.state.in_(NOT_OPENED),
                Referral.decided_at <= months_before(now, schedule.screened_out_months),
            )
            .order_by(Referral.decided_at)
            .limit(limit)
        )
    )


def purge_referral(session: Session, referral_id: int, now: datetime, schedule: Schedule) -> str | None:
    """Delete one referral's content, leaving its marker; its reference, or None when it is no
    longer due."""
    referral = session.scalar(select(Referral).where(Referral.id == referral_id).with_for_update())
    if (
        referral is None
        or referral.purged_at is not None
        or referral.state not in NOT_OPENED
        or referral.decided_at is None
        or referral.decided_at > months_before(now, schedule.screened_out_months)
    ):
        return None
    removed = identity.delete_for_referral(session, referral.id)
    for name, value in _REFERRAL_TEXTS_EMPTIED.items():
        setattr(referral, name, value)
    referral.purged_at = now
    audit.record(
        session,
        actor="casehub",
        action="referral.purged",
        request_ref=f"retention:{now:%Y%m%d}",
        referral=referral.label,
        decision=referral.state.value,
        removed=removed,
    )
    return referral.label


def _count(session: Session, query: Select[Any]) -> int:
    return session.scalar(select(func.count()).select_from(query.subquery())) or 0


# ---- what the data protection officers see (no content) ------------------------------------------
@dataclass(frozen=True)
class Status:
    open_cases: int
    closed_kept: int
    warned: int  # due within the warning period, lead and officers told
    held: int
    purged: int
    overdue: int  # due, not held, and not yet deleted (the next passes will)
    messages_pending: int
    messages_failed: int


def status(session: Session, now: datetime, schedule: Schedule) -> Status:
    def count(*where: ColumnElement[bool]) -> int:
        return session.scalar(select(func.count(Case.id)).where(*where)) or 0

    in_force = exists().where(CaseHold.case_id == Case.id, CaseHold.lifted_at.is_(None))

    def deletions(state: str) -> int:
        return (
            session.scalar(select(func.count(MessageDeletion.id)).where(MessageDeletion.state == state)) or 0
        )

    return Status(
        open_cases=count(Case.closed_at.is_(None)),
        closed_kept=count(Case.closed_at.is_not(None), Case.purged_at.is_(None)),
        warned=count(Case.retention_warned_at.is_not(None), Case.purged_at.is_(None), ~in_force),
        held=count(in_force),
        purged=count(Case.purged_at.is_not(None)),
        overdue=count(schedule.due_by(now)),
        messages_pending=deletions("pending"),
        messages_failed=deletions("failed"),
    )
