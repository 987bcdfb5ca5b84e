"""Review cycles: cadence, the next review, recording one, and follow-ups after exit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from blocks.kit import escape
from models import Action, Case, FollowUp, Review, Risk, clock, utcnow
from services import actions, audit, cases, inputs, locks, sharing_gate, timeline
from services.errors import InvalidInput
from services.identifiers import Finding
from services.reminders import Rules, plan_review
from services.worktime import at_local, local_date

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
DEFAULT_TIME = time(10, 0)
DECISIONS_MAX = 3000
NOTE_MAX = 500
# A review is recorded once held, within this many years; the next one is set up to a year ahead
# (the longest cadence, 52 weeks, fits).
HELD_YEARS_BACK = 1
NEXT_REVIEW_YEARS_AHEAD = 1
# Follow-up reviews come 6 and 12 months after closing, and may be recorded late.
FOLLOW_UP_YEARS_BACK = 2
# Each action agreed at a review is posted on its own; more belong in `/action add`.
AGREED_MAX = 20


def parse_weekday(value: str) -> int:
    key = value.lower()
    for index, name in enumerate(WEEKDAYS):
        if len(key) >= 3 and name.startswith(key):
            return index
    raise InvalidInput(f"`{value}` is not a weekday.", hint="Use monday … sunday (or mon … sun).")


def next_from(case: Case, after: date, tz: str) -> datetime:
    """The next review after `after` on the case's cadence, weekday and time (lead's time zone)."""
    day = after + timedelta(weeks=case.review_every_weeks)
    if case.review_weekday is not None:
        day += timedelta(days=(case.review_weekday - day.weekday()) % 7)
    return at_local(day, case.review_time or DEFAULT_TIME, tz)


def schedule_first(case: Case, rules: Rules) -> None:
    tz = rules.of(case.area_id).default_tz
    case.next_review_at = next_from(case, local_date(case.opened_at, tz), tz)
    plan_review(case, rules, tz)


def set_cadence(
    session: Session,
    *,
    case: Case,
    weeks: int,
    weekday: int | None,
    at: time | None,
    rules: Rules,
    actor: str,
    request_ref: str,
) -> datetime:
    tz = rules.of(case.area_id).default_tz
    locks.hold(session, case)
    cases.require_open(case)
    cases.require_lead(case, actor, "change the review cadence")
    cases.check_review_weeks(weeks)
    case.review_every_weeks, case.review_weekday, case.review_time = weeks, weekday, at
    base = local_date(case.last_review_at or case.opened_at, tz)
    case.next_review_at = next_from(case, base, tz)
    if case.next_review_at < utcnow():
        case.next_review_at = next_from(case, local_date(utcnow(), tz) - timedelta(weeks=weeks), tz)
    plan_review(case, rules, tz)
    audit.record(
        session,
        actor=actor,
        action="review.cadence",
        request_ref=request_ref,
        case=case,
        weeks=weeks,
        weekday=weekday,
        time=at.isoformat() if at else None,
        next=case.next_review_at.isoformat(),
    )
    return case.next_review_at


def set_next(
    session: Session, *, case: Case, day: date, at: time | None, rules: Rules, actor: str, request_ref: str
) -> datetime:
    tz = rules.of(case.area_id).default_tz
    locks.hold(session, case)
    cases.require_open(case)
    cases.require_lead(case, actor, "set the next review")
    moment = at_local(day, at or case.review_time or DEFAULT_TIME, tz)
    if moment < utcnow():
        raise InvalidInput(f"{day.isoformat()} is in the past; give a date from today on.")
    latest = inputs.years_from(local_date(utcnow(), tz), NEXT_REVIEW_YEARS_AHEAD)
    if day > latest:
        raise InvalidInput(
            f"{day.isoformat()} is too far ahead; set the next review by {latest.isoformat()}."
        )
    case.next_review_at = moment
    plan_review(case, rules, tz)
    audit.record(
        session,
        actor=actor,
        action="review.next",
        request_ref=request_ref,
        case=case,
        next=moment.isoformat(),
    )
    return moment


@dataclass(frozen=True)
class AgreedAction:
    text: str
    agency_slug: str
    due: date


def parse_agreed(text: str | None) -> list[AgreedAction]:
    """One action a line: `what | agency slug | YYYY-MM-DD`."""
    agreed = []
    for number, line in enumerate((text or "").splitlines(), start=1):
        if not line.strip():
            continue
        parts = [p.strip() for p in line.split("|")]
        if len(parts) != 3:
            raise InvalidInput(
                f"Line {number} of the agreed actions needs: what | agency | YYYY-MM-DD.", field="actions"
            )
        try:
            due = inputs.parse_date(parts[2], field="actions", what="due date")
        except InvalidInput as error:
            raise InvalidInput(f"Line {number}: {error.message}", field="actions") from None
        agreed.append(AgreedAction(parts[0], parts[1].lower(), due))
        if len(agreed) > AGREED_MAX:
            raise InvalidInput(
                f"At most {AGREED_MAX} actions can be agreed in one review; add more with `/action add`.",
                field="actions",
            )
    return agreed


@dataclass(frozen=True)
class ReviewDraft:
    held_on: date
    agencies_present: list[str]
    decisions: str
    risk_after: Risk
    next_review: date
    agreed: list[AgreedAction]
    # The findings of the identifier check confirmed one by one (`sharing_gate.key`).
    confirmed: frozenset[str] = frozenset()


def check_record(session: Session, case: Case, draft: ReviewDraft, actor: str) -> list[Finding]:
    """Whether `record` would be refused, and why; returns the findings the lead confirmed."""
    cases.require_open(case)
    cases.require_lead(case, actor, "record reviews")
    today = clock.today()
    if draft.held_on > today:
        raise InvalidInput("A review is recorded once held: the date is in the future.", field="held_on")
    earliest = inputs.years_from(today, -HELD_YEARS_BACK)
    if draft.held_on < earliest:
        raise InvalidInput(
            f"{draft.held_on.isoformat()} is too long ago: record a review held from "
            f"{earliest.isoformat()} on.",
            field="held_on",
        )
    if draft.next_review <= today:
        raise InvalidInput("The next review must be after today.", field="next_review")
    latest = inputs.years_from(today, NEXT_REVIEW_YEARS_AHEAD)
    if draft.next_review > latest:
        raise InvalidInput(f"The next review must be by {latest.isoformat()}.", field="next_review")
    participating = {a.slug for a in case.agencies}
    if not set(draft.agencies_present) <= participating:
        raise InvalidInput("Choose the agencies present from the list.", field="present")
    if len(draft.decisions.strip()) < 3:
        raise InvalidInput("Record what was decided.", field="decisions")
    if len(draft.decisions) > DECISIONS_MAX:
        raise InvalidInput(
            f"This is {len(draft.decisions)} characters; the limit is {DECISIONS_MAX}.", field="decisions"
        )
    agreed = "\n".join(item.text for item in draft.agreed)
    overridden = sharing_gate.check({"decisions": draft.decisions, "actions": agreed}, draft.confirmed)
    for item in draft.agreed:
        if item.agency_slug not in participating:
            raise InvalidInput(f"`{item.agency_slug}` does not take part in this case.", field="actions")
        actions.check_text(item.text, draft.confirmed, field="actions")
        actions.check_due(item.due, field="actions")
    return overridden


def record(
    session: Session,
    *,
    case: Case,
    draft: ReviewDraft,
    rules: Rules,
    actor: str,
    recorded_via: str,
    request_ref: str,
) -> tuple[Review, bool, list[int]]:
    """Store a review, the case's new risk and next review, and the actions agreed; returns
    (review, created, the actions' ids). The same delivery again, even at the same moment,
    finds the first."""
    tz = rules.of(case.area_id).default_tz
    locks.hold(session, case)
    existing = session.scalar(select(Review).where(Review.recorded_via == recorded_via))
    if existing is not None:  # its actions, whose posts a repeated request finishes
        agreed_before = session.scalars(
            select(Action.id)
            .where(
                Action.case_id == case.id,
                Action.created_via.startswith(f"{recorded_via}:action:", autoescape=True),
            )
            .order_by(Action.id)
        ).all()
        return existing, False, list(agreed_before)
    overridden = check_record(session, case, draft, actor)
    decided = [finding for finding in overridden if finding.field == "decisions"]
    # Each action agreed is stored as an action, which records its own confirmations.
    agreed = sharing_gate.confirmed_as([f for f in overridden if f.field == "actions"], "text")
    next_at = at_local(draft.next_review, case.review_time or DEFAULT_TIME, tz)
    review = Review(
        case_id=case.id,
        held_on=draft.held_on,
        agencies_present=draft.agencies_present,
        decisions=draft.decisions.strip(),
        risk_after=draft.risk_after,
        next_review_at=next_at,
        recorded_by=actor,
        recorded_via=recorded_via,
    )
    session.add(review)
    previous_risk = case.risk
    case.risk, case.last_review_at, case.next_review_at = draft.risk_after, utcnow(), next_at
    plan_review(case, rules, tz)
    action_ids = []
    for index, item in enumerate(draft.agreed):
        action, _ = actions.add(
            session,
            case=case,
            draft=actions.ActionDraft(
                item.text, item.agency_slug, None, item.due, duplicate_confirmed=True, confirmed=agreed
            ),
            actor=actor,
            created_via=f"{recorded_via}:action:{index}",
            request_ref=request_ref,
        )
        action_ids.append(action.id)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="review.recorded",
        request_ref=request_ref,
        case=case,
        review=review.id,
        risk_before=previous_risk.value,
        risk_after=draft.risk_after.value,
        next=next_at.isoformat(),
        actions=len(action_ids),
    )
    sharing_gate.record_overrides(session, decided, actor=actor, request_ref=request_ref, case=case)
    return review, True, action_ids


def default_next(case: Case, held_on: date) -> date:
    return held_on + timedelta(weeks=case.review_every_weeks)


def schedule_follow_ups(session: Session, case: Case, months: tuple[int, ...] = (6, 12)) -> list[FollowUp]:
    start = (case.closed_at or utcnow()).date()
    made = []
    for count in months:
        follow_up = FollowUp(
            case_id=case.id,
            due_on=start + timedelta(days=round(count * 30.44)),
            label=f"{count}-month follow-up review",
        )
        session.add(follow_up)
        made.append(follow_up)
    return made


def record_follow_up(
    session: Session, *, case: Case, held_on: date, note: str, actor: str, request_ref: str
) -> FollowUp:
    """Mark the earliest follow-up review still to hold as held (the case is closed by then)."""
    locks.hold(session, case)  # two at once mark two follow-ups, not the same one twice
    cases.require_lead(case, actor, "record follow-up reviews")
    today = clock.today()
    if held_on > today:
        raise InvalidInput(f"{held_on.isoformat()} is in the future; give the date it was held.")
    earliest = inputs.years_from(today, -FOLLOW_UP_YEARS_BACK)
    if held_on < earliest:
        raise InvalidInput(
            f"{held_on.isoformat()} is too long ago: record a follow-up held from {earliest.isoformat()} on."
        )
    if len(note) > NOTE_MAX:
        raise InvalidInput(f"The note is {len(note)} characters; the limit is {NOTE_MAX}.")
    sharing_gate.check({"note": note})
    follow_up = session.scalar(
        select(FollowUp)
        .where(FollowUp.case_id == case.id, FollowUp.held_on.is_(None))
        .order_by(FollowUp.due_on)
    )
    if follow_up is None:
        raise InvalidInput(
            f"Case {case.reference} has no follow-up review to record.",
            hint="Follow-ups are scheduled when a case is closed.",
        )
    follow_up.held_on = held_on
    audit.record(
        session,
        actor=actor,
        action="review.follow_up",
        request_ref=request_ref,
        case=case,
        label=follow_up.label,
        held_on=held_on.isoformat(),
        note=note[:500],
    )
    return follow_up


def _timeline_entries(session: Session, case: Case, viewer: str) -> list[timeline.Entry]:
    out = []
    for review in session.scalars(select(Review).where(Review.case_id == case.id)):
        text = f"review held {review.held_on.isoformat()}; risk after: {review.risk_after.value}"
        if review.next_review_at:
            text += f"; next review {review.next_review_at:%Y-%m-%d}"
        out.append(
            timeline.Entry(
                review.recorded_at, "review", None, text + f". Decisions: {escape(review.decisions)}"
            )
        )
    return out


timeline.SOURCES.append(_timeline_entries)
