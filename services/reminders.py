"""What is due now: review nudges, reminders, action nudges, follow-ups.

The database decides. Each case and action carries the moment the sweep next has
something to say about it (`review_nudge_at`, `review_reminder_at`, `nudge_at`), so a
sweep reads only what is due, whatever the number of cases. Collecting a notice moves
that moment on, in the same transaction that records the notice under its unique key
(what, for whom, for which due time): nothing is produced twice, nothing is lost.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time
from typing import Any, TypeVar

from sqlalchemy import Select, select
from sqlalchemy.orm import Session, selectinload

from blocks.kit import escape
from models import Action, ActionStatus, Case, FollowUp, Membership, Role, Stage, Update
from services.worktime import WorkingHours, at_local, local_date, zone

BATCH = 1000  # at most this many cases or actions a sweep; the rest stay due for the next one


@dataclass(frozen=True)
class Due:
    key: str
    recipient: str  # the user who should read it (a DM), or the lead for a channel post
    text: str
    tz: str | None  # whose working hours decide when it may go; None: at once
    channel: str | None = None  # a case channel; None means a direct message to the recipient
    blocks: list[dict[str, Any]] | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Rules:
    hours: WorkingHours
    default_tz: str
    nudge_working_days: int = 3
    overdue_every: int = 2
    escalate_after: int = 5
    # Each area's working days and time zone, by area id (services.areas.Calendar); an area
    # missing from it follows `hours` and `default_tz`.
    areas: Mapping[int, tuple[WorkingHours, str]] = field(default_factory=dict, compare=False, hash=False)

    def of(self, area_id: int | None) -> Rules:
        """These rules with the area's working days, bank holidays and time zone."""
        calendar = self.areas.get(area_id) if area_id is not None else None
        if calendar is None:
            return self
        return replace(self, hours=calendar[0], default_tz=calendar[1], areas={})


TzOf = Callable[[str], str]


def _start_of(day: date, tz: str) -> datetime:
    return at_local(day, time.min, tz)


def plan_review(case: Case, rules: Rules, tz: str) -> None:
    """Set when the sweep will nudge and remind about the case's next review."""
    if case.next_review_at is None or case.stage is Stage.CLOSED:
        case.review_nudge_at = case.review_reminder_at = None
        return
    rules = rules.of(case.area_id)
    review_day = local_date(case.next_review_at, rules.default_tz)
    nudge_day = rules.hours.add_working_days(review_day, -rules.nudge_working_days)
    case.review_nudge_at = _start_of(nudge_day, rules.default_tz)
    case.review_reminder_at = _start_of(local_date(case.next_review_at, tz), tz)


def plan_action(action: Action) -> None:
    # From the first moment the due date begins anywhere (UTC+14); the sweep then waits
    # for each recipient's own due date.
    action.nudge_at = _start_of(action.due, "Etc/GMT-14") if action.is_open else None


Query = TypeVar("Query", bound=Select)


def _locked(query: Query) -> Query:
    # Two sweeps at once (a standby taking over) split the work instead of both doing it.
    return query.limit(BATCH).with_for_update(skip_locked=True)


def collect(session: Session, now: datetime, rules: Rules, tz_of: TzOf) -> list[Due]:
    return (
        _review_nudges(session, now, rules)
        + _review_reminders(session, now, rules, tz_of)
        + _action_notices(session, now, rules, tz_of)
        + _follow_ups(session, now, tz_of)
    )


def _review_nudges(session: Session, now: datetime, rules: Rules) -> list[Due]:
    """Before a review: agencies silent since the last one are named in the case channel."""
    out = []
    due = session.scalars(
        _locked(
            select(Case)
            .where(Case.review_nudge_at <= now, Case.stage != Stage.CLOSED)
            .options(selectinload(Case.participations))
        )
    )
    for case in due:
        case.review_nudge_at = None
        area = rules.of(case.area_id)
        if case.next_review_at is None or case.next_review_at <= now or not case.channel_id:
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
            names.append(f"{escape(agency.name)} ({members or 'no members'})")
        review_day = local_date(case.next_review_at, area.default_tz)
        text = (
            f":calendar: The review of case *{case.reference}* is on {review_day.isoformat()}. "
            f"No update since the last review from: {'; '.join(names)}. Please file one with `/update`."
        )
        key = f"review-nudge:{case.id}:{case.next_review_at:%Y%m%dT%H%M}"
        out.append(Due(key, case.lead_user_id, text, area.default_tz, channel=case.channel_id))
    return out


def _review_reminders(session: Session, now: datetime, rules: Rules, tz_of: TzOf) -> list[Due]:
    """On the day, the lead is reminded; a review left unrecorded reminds them each working day."""
    out = []
    due = session.scalars(
        _locked(select(Case).where(Case.review_reminder_at <= now, Case.stage != Stage.CLOSED))
    )
    for case in due:
        if case.next_review_at is None:
            case.review_reminder_at = None
            continue
        tz, hours = tz_of(case.lead_user_id), rules.of(case.area_id).hours
        today, review_day = local_date(now, tz), local_date(case.next_review_at, tz)
        if today < review_day:  # not yet the day where the lead is
            case.review_reminder_at = _start_of(review_day, tz)
            continue
        if today == review_day:
            at = case.next_review_at.astimezone(zone(tz))
            out.append(
                Due(
                    f"review-day:{case.id}:{review_day}",
                    case.lead_user_id,
                    f":calendar: The review of case *{case.reference}* is today ({at:%H:%M}). "
                    "Record it with `/review record`.",
                    tz,
                )
            )
        elif today > review_day and hours.is_working_day(today):
            out.append(
                Due(
                    f"review-overdue:{case.id}:{review_day}:{today}",
                    case.lead_user_id,
                    f":warning: The review of case *{case.reference}* due {review_day.isoformat()} is not "
                    "recorded. Record it with `/review record`, or set a new date with `/review next`.",
                    tz,
                )
            )
        case.review_reminder_at = _start_of(hours.add_working_days(max(today, review_day), 1), tz)
    return out


def _action_notices(session: Session, now: datetime, rules: Rules, tz_of: TzOf) -> list[Due]:
    """Due today: the owner; then every 2 working days; after 5, the lead coordinator too."""
    out = []
    actions = list(
        session.scalars(
            _locked(
                select(Action)
                .where(Action.status == ActionStatus.OPEN, Action.nudge_at <= now)
                .options(selectinload(Action.agency))
            )
        )
    )
    case_of = {
        c.id: c for c in session.scalars(select(Case).where(Case.id.in_({a.case_id for a in actions})))
    }
    ownerless = {a.agency_id for a in actions if not a.owner}
    staff: dict[int, list[str]] = {}
    for user, agency_id in session.execute(
        select(Membership.user_id, Membership.agency_id).where(
            Membership.agency_id.in_(ownerless), Membership.role != Role.OBSERVER
        )
    ):
        staff.setdefault(agency_id, []).append(user)
    for action in actions:
        case = case_of[action.case_id]
        if case.stage is Stage.CLOSED:
            action.nudge_at = None
            continue
        hours = rules.of(case.area_id).hours
        recipients = [action.owner] if action.owner else staff.get(action.agency_id, [])
        if not recipients:
            recipients = [case.lead_user_id]  # nobody to tell in the agency: the lead hears of it
        label = f"*#{action.number}* on case *{case.reference}*: {escape(action.text[:200])}"
        wakes = []
        for user in recipients:
            tz = tz_of(user)
            today = local_date(now, tz)
            late = hours.working_days_between(action.due, today)
            if today < action.due:  # not yet the due date where this person is
                wakes.append(_start_of(action.due, tz))
                continue
            if today == action.due:
                out.append(
                    Due(
                        f"action-due:{action.id}:{action.due}:{user}",
                        user,
                        f":alarm_clock: Due today — {label}",
                        tz,
                    )
                )
            elif late >= rules.overdue_every:
                round_ = late // rules.overdue_every
                out.append(
                    Due(
                        f"action-overdue:{action.id}:{action.due}:{user}:{round_}",
                        user,
                        f":warning: Overdue since {action.due.isoformat()} ({late} working days) — "
                        f"{label}. Mark it done, or extend it with a reason.",
                        tz,
                    )
                )
            next_round = hours.add_working_days(
                action.due, rules.overdue_every * (late // rules.overdue_every + 1)
            )
            wakes.append(_start_of(next_round, tz))
        lead_tz = tz_of(case.lead_user_id)
        late = hours.working_days_between(action.due, local_date(now, lead_tz))
        if late >= rules.escalate_after:
            out.append(
                Due(
                    f"action-escalated:{action.id}:{action.due}",
                    case.lead_user_id,
                    f":rotating_light: {label} is {late} working days overdue "
                    f"({escape(action.agency.name)}). It may need reassigning.",
                    lead_tz,
                )
            )
        else:
            wakes.append(_start_of(hours.add_working_days(action.due, rules.escalate_after), lead_tz))
        action.nudge_at = min(wakes)
    return out


def _follow_ups(session: Session, now: datetime, tz_of: TzOf) -> list[Due]:
    out = []
    rows = session.execute(
        _locked(
            select(FollowUp, Case)
            .join(Case, FollowUp.case_id == Case.id)
            .where(FollowUp.held_on.is_(None), FollowUp.reminded_at.is_(None), FollowUp.due_on <= now.date())
        )
    )
    for follow_up, case in rows:
        follow_up.reminded_at = now
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


def digest_due(pref_digest: str, digest_at: time, now: datetime, tz: str, hours: WorkingHours) -> date | None:
    """The local date whose digest is due now for someone, or None."""
    if pref_digest == "off":
        return None
    local = now.astimezone(zone(tz))
    if not hours.is_working_day(local.date()) or local.time() < digest_at:
        return None
    if pref_digest == "weekly" and local.weekday() != 0:
        return None
    return local.date()


def recipients_due(session: Session, now: datetime) -> set[str]:
    """People the sweep is about to decide something for, so their time zones can be learnt first."""
    users = set(
        session.scalars(
            select(Case.lead_user_id)
            .where(
                ((Case.review_reminder_at <= now) | (Case.review_nudge_at <= now)), Case.stage != Stage.CLOSED
            )
            .limit(BATCH)
        )
    )
    for owner, lead in session.execute(
        select(Action.owner, Case.lead_user_id)
        .join(Case, Action.case_id == Case.id)
        .where(Action.status == ActionStatus.OPEN, Action.nudge_at <= now)
        .limit(BATCH)
    ):
        users.add(lead)
        if owner:
            users.add(owner)
    return users
