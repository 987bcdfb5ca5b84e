"""What is due now: review nudges, reminders, action nudges and digests.

The database decides. Every notice has a key naming what, for whom and for which due
time; a notice already recorded under its key is never produced again, however many
sweeps run, however late. Each query is bounded by what is due, not by the case count.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from models import Action, ActionStatus, Case, FollowUp, Membership, Notice, Role, Stage, Update
from services.worktime import WorkingHours, local_date, zone

LOOKAHEAD = timedelta(days=9)  # enough for "3 working days before" across a weekend and a holiday


@dataclass(frozen=True)
class Due:
    key: str
    recipient: str  # the user who should read it (a DM), or the lead for a channel post
    text: str
    tz: str  # whose working hours decide when it may go
    channel: str | None = None  # a case channel; None means a direct message to the recipient
    blocks: list[dict[str, Any]] | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Rules:
    hours: WorkingHours
    default_tz: str
    nudge_working_days: int = 3
    overdue_every: int = 2
    escalate_after: int = 5


TzOf = Callable[[str], str]


def due_notices(session: Session, now: datetime, rules: Rules, tz_of: TzOf) -> list[Due]:
    found = (
        _review_nudges(session, now, rules)
        + _review_reminders(session, now, rules, tz_of)
        + _action_notices(session, now, rules, tz_of)
        + _follow_ups(session, now, rules, tz_of)
    )
    return not_yet_recorded(session, found)


def not_yet_recorded(session: Session, found: list[Due]) -> list[Due]:
    if not found:
        return []
    keys = [d.key for d in found]
    known: set[str] = set()
    for start in range(0, len(keys), 500):
        known.update(session.scalars(select(Notice.key).where(Notice.key.in_(keys[start : start + 500]))))
    return [d for d in found if d.key not in known]


def _open_cases(query: Any) -> Any:
    return query.where(Case.stage != Stage.CLOSED, Case.next_review_at.is_not(None))


def _review_nudges(session: Session, now: datetime, rules: Rules) -> list[Due]:
    """Before a review: agencies silent since the last one are named in the case channel."""
    out = []
    upcoming = session.scalars(
        _open_cases(select(Case))
        .where(
            Case.next_review_at > now, Case.next_review_at <= now + LOOKAHEAD, Case.channel_id.is_not(None)
        )
        .options(selectinload(Case.participations))
    )
    today = local_date(now, rules.default_tz)
    for case in upcoming:
        review_day = local_date(case.next_review_at, rules.default_tz)
        if today < rules.hours.add_working_days(review_day, -rules.nudge_working_days):
            continue
        since = case.last_review_at or case.opened_at
        filed = set(
            session.scalars(
                select(Update.agency_id).where(Update.case_id == case.id, Update.created_at >= since)
            )
        )
        silent = [p.agency for p in case.active_participations if p.agency_id not in filed]
        if not silent:
            continue
        people = session.execute(
            select(Membership.user_id, Membership.agency_id).where(
                Membership.agency_id.in_([a.id for a in silent]), Membership.role != Role.OBSERVER
            )
        ).all()
        names = []
        for agency in silent:
            members = " ".join(f"<@{u}>" for u, a in people if a == agency.id)
            names.append(f"{agency.name} ({members or 'no members'})")
        text = (
            f":calendar: The review of case *{case.reference}* is on {review_day.isoformat()}. "
            f"No update since the last review from: {'; '.join(names)}. Please file one with `/update`."
        )
        key = f"review-nudge:{case.id}:{case.next_review_at:%Y%m%dT%H%M}"
        out.append(Due(key, case.lead_user_id, text, rules.default_tz, channel=case.channel_id))
    return out


def _review_reminders(session: Session, now: datetime, rules: Rules, tz_of: TzOf) -> list[Due]:
    """On the day, the lead is reminded; a review left unrecorded reminds them each working day."""
    out = []
    for case in session.scalars(
        _open_cases(select(Case)).where(Case.next_review_at <= now + timedelta(days=1))
    ):
        tz = tz_of(case.lead_user_id)
        today, review_day = local_date(now, tz), local_date(case.next_review_at, tz)
        if today == review_day:
            out.append(
                Due(
                    f"review-day:{case.id}:{review_day}",
                    case.lead_user_id,
                    f":calendar: The review of case *{case.reference}* is today "
                    f"({case.next_review_at.astimezone(zone(tz)):%H:%M}). Record it with `/review record`.",
                    tz,
                )
            )
        elif today > review_day and rules.hours.is_working_day(today):
            out.append(
                Due(
                    f"review-overdue:{case.id}:{review_day}:{today}",
                    case.lead_user_id,
                    f":warning: The review of case *{case.reference}* due {review_day.isoformat()} is not "
                    "recorded. Record it with `/review record`, or set a new date with `/review next`.",
                    tz,
                )
            )
    return out


def _action_notices(session: Session, now: datetime, rules: Rules, tz_of: TzOf) -> list[Due]:
    """Due today: the owner; then every 2 working days; after 5, the lead coordinator too."""
    out = []
    horizon = local_date(now, rules.default_tz) + timedelta(days=1)
    rows = session.execute(
        select(Action, Case)
        .join(Case, Action.case_id == Case.id)
        .where(Action.status == ActionStatus.OPEN, Action.due <= horizon, Case.stage != Stage.CLOSED)
        .options(selectinload(Action.agency))
    )
    for action, case in rows:
        recipients = (
            [action.owner]
            if action.owner
            else list(
                session.scalars(
                    select(Membership.user_id).where(
                        Membership.agency_id == action.agency_id, Membership.role != Role.OBSERVER
                    )
                )
            )
        )
        label = f"*#{action.number}* on case *{case.reference}*: {action.text[:200]}"
        for user in recipients:
            tz = tz_of(user)
            today = local_date(now, tz)
            late = rules.hours.working_days_between(action.due, today)
            if today == action.due:
                out.append(
                    Due(
                        f"action-due:{action.id}:{action.due}:{user}",
                        user,
                        f":alarm_clock: Due today — {label}",
                        tz,
                    )
                )
            elif today > action.due and late >= rules.overdue_every:
                round_ = late // rules.overdue_every
                out.append(
                    Due(
                        f"action-overdue:{action.id}:{action.due}:{user}:{round_}",
                        user,
                        f":warning: Overdue since {action.due.isoformat()} ({late} working days) — {label}. "
                        "Mark it done, or extend it with a reason.",
                        tz,
                    )
                )
        lead_tz = tz_of(case.lead_user_id)
        late = rules.hours.working_days_between(action.due, local_date(now, lead_tz))
        if late >= rules.escalate_after:
            out.append(
                Due(
                    f"action-escalated:{action.id}:{action.due}",
                    case.lead_user_id,
                    f":rotating_light: {label} is {late} working days overdue "
                    f"({action.agency.name}). It may need reassigning.",
                    lead_tz,
                )
            )
    return out


def _follow_ups(session: Session, now: datetime, rules: Rules, tz_of: TzOf) -> list[Due]:
    out = []
    today = local_date(now, rules.default_tz)
    rows = session.execute(
        select(FollowUp, Case)
        .join(Case, FollowUp.case_id == Case.id)
        .where(FollowUp.held_on.is_(None), FollowUp.due_on <= today)
    )
    for follow_up, case in rows:
        out.append(
            Due(
                f"follow-up:{follow_up.id}",
                case.lead_user_id,
                f":calendar: The {follow_up.label} of case *{case.reference}* is due "
                f"({follow_up.due_on.isoformat()}).",
                tz_of(case.lead_user_id),
            )
        )
    return out


def digest_due(pref_digest: str, digest_at: Any, now: datetime, tz: str, hours: WorkingHours) -> date | None:
    """The local date whose digest is due now for someone, or None."""
    if pref_digest == "off":
        return None
    local = now.astimezone(zone(tz))
    if not hours.is_working_day(local.date()) or local.time() < digest_at:
        return None
    if pref_digest == "weekly" and local.weekday() != 0:
        return None
    return local.date()
