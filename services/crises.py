"""Crises: raising one, paging every agency's on-call person, acknowledgement, escalation."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from blocks.kit import escape
from models import Agency, Case, Crisis, Page, Update
from services import audit, cases, digests, locks, oncall, sharing_gate, timeline
from services.errors import CasehubError, Conflict, InvalidInput, NotAllowed, NotFound
from services.reminders import Due, Rules, plan_review
from services.worktime import at_local, local_date

SUMMARY_MAX = 1000
OUTCOME_MAX = 2000


class CrisisOpen(CasehubError):
    def __init__(self, crisis: Crisis) -> None:
        super().__init__(
            f"A crisis is already open on this case (raised {crisis.raised_at:%Y-%m-%d %H:%M} UTC): "
            f"{escape(crisis.summary[:200])}",
            hint="Its status is pinned in the channel. `/crisis resolve <outcome>` ends it.",
        )
        self.crisis = crisis


@dataclass(frozen=True)
class CrisisRules:
    ack_minutes: int
    admins: list[str]
    default_tz: str
    review: Rules
    early_review_days: int


def open_crisis(session: Session, case: Case) -> Crisis | None:
    return session.scalar(select(Crisis).where(Crisis.case_id == case.id, Crisis.state == "open"))


def latest(session: Session, case: Case) -> Crisis | None:
    """The case's most recent crisis, open or resolved."""
    return session.scalar(select(Crisis).where(Crisis.case_id == case.id).order_by(Crisis.id.desc()).limit(1))


def check_summary(summary: str, confirmed: Collection[str] = ()) -> str:
    summary = summary.strip()
    if not summary:
        raise InvalidInput(
            "Say what is happening.",
            hint="For example `/crisis Threats made online tonight`.",
            field="summary",
        )
    if len(summary) > SUMMARY_MAX:
        raise InvalidInput(
            f"The summary is {len(summary)} characters; the limit is {SUMMARY_MAX}.", field="summary"
        )
    # Pages go to partners' phones and e-mail.
    sharing_gate.check({"summary": summary}, confirmed)
    return summary


def check_may_raise(session: Session, case: Case, user: str) -> None:
    cases.require_open(case)
    cases.require_worker(session, case, user, "raise a crisis")
    current = open_crisis(session, case)
    if current is not None:
        raise CrisisOpen(current)


def raise_crisis(
    session: Session,
    *,
    case: Case,
    summary: str,
    actor: str,
    raised_via: str,
    request_ref: str,
    now: datetime,
    rules: CrisisRules,
    confirmed: Collection[str] = (),
) -> tuple[Crisis, bool]:
    """Raise a crisis and make its pages; returns (crisis, created). Two people raising one at
    the same moment raise one: the second is told it is open. The same delivery again finds it."""
    locks.hold(session, case)
    existing = session.scalar(select(Crisis).where(Crisis.raised_via == raised_via))
    if existing is not None:
        return existing, False
    summary = check_summary(summary, confirmed)
    check_may_raise(session, case, actor)
    # Out of hours in the case's area (its zone, working days and bank holidays), an overnight
    # crisis is handed over to day staff at the start of its next working day.
    area = rules.review.of(case.area_id)
    hours, tz = area.hours, area.default_tz
    handover = None
    if not hours.is_open(now, tz):
        day = local_date(now, tz)
        if not (hours.is_working_day(day) and now < at_local(day, hours.start, tz)):
            day = hours.add_working_days(day, 1)
        handover = at_local(day, hours.start, tz)
    crisis = Crisis(
        case_id=case.id,
        summary=summary,
        raised_by=actor,
        raised_at=now,
        raised_via=raised_via,
        state="open",
        handover_at=handover,
    )
    session.add(crisis)
    session.flush()
    deadline = now + timedelta(minutes=rules.ack_minutes)
    for agency in case.agencies:
        cover = oncall.on_call(session, agency, now, rules.default_tz)
        user = cover.user or next(iter(oncall.chain(session, agency, rules.admins)), None)
        if user is None:
            continue  # nobody at all to page: the status block shows the agency as unreachable
        session.add(
            Page(
                crisis_id=crisis.id,
                agency_id=agency.id,
                user_id=user,
                level=0,
                key=f"{crisis.id}:{agency.id}:0",
                escalate_at=deadline,
            )
        )
    session.add(
        Page(
            crisis_id=crisis.id, agency_id=None, user_id=case.lead_user_id, level=0, key=f"{crisis.id}:lead:0"
        )
    )
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="crisis.raised",
        request_ref=request_ref,
        case=case,
        crisis=crisis.id,
        outside_hours=handover is not None,
    )
    sharing_gate.admit(
        session, {"summary": summary}, confirmed, actor=actor, request_ref=request_ref, case=case
    )
    return crisis, True


def pages(session: Session, crisis: Crisis) -> list[Page]:
    return list(session.scalars(select(Page).where(Page.crisis_id == crisis.id).order_by(Page.id)))


def acknowledge(session: Session, *, page: Page, user: str, now: datetime, request_ref: str) -> Crisis:
    crisis = session.get_one(Crisis, page.crisis_id)
    case = session.get_one(Case, crisis.case_id)
    # A crisis's acknowledgements and its resolution take turns: each sees what the last did.
    locks.hold(session, case)
    if page.user_id != user:
        raise NotAllowed(
            f"This page is for <@{page.user_id}>; only they can acknowledge it.",
            hint="If you are covering for them, ask their coordinator to set you as on call.",
        )
    if page.acknowledged_at is not None:
        raise Conflict(f"You acknowledged this page at {page.acknowledged_at:%H:%M} UTC.")
    if crisis.state != "open":
        raise Conflict("This crisis is resolved; nothing to acknowledge.")
    page.acknowledged_at, page.acknowledged_by = now, user
    # The agency has answered: its other pages in this crisis need no escalation.
    for other in session.scalars(
        select(Page).where(
            Page.crisis_id == crisis.id,
            Page.agency_id == page.agency_id,
            Page.agency_id.is_not(None),
            Page.id != page.id,
        )
    ):
        other.escalate_at = None
    page.escalate_at = None
    audit.record(
        session,
        actor=user,
        action="crisis.acknowledged",
        request_ref=request_ref,
        case=case,
        crisis=crisis.id,
        page=page.id,
    )
    return crisis


def escalate_due(
    session: Session, now: datetime, rules: CrisisRules
) -> tuple[list[Page], list[Due], set[int]]:
    """Pages unanswered past their deadline: the next in the agency's chain, or tell the lead and admins.

    Returns the new pages, the notices for chains run out, and the crises whose status changed.
    """
    new_pages: list[Page] = []
    dues: list[Due] = []
    touched: set[int] = set()
    overdue = session.scalars(
        select(Page)
        .where(Page.escalate_at <= now, Page.acknowledged_at.is_(None))
        .order_by(Page.id)
        .limit(500)
        .with_for_update(skip_locked=True)
    )
    for page in overdue:
        page.escalate_at = None
        crisis = session.get_one(Crisis, page.crisis_id)
        if crisis.state != "open" or page.agency_id is None:
            continue
        touched.add(crisis.id)
        agency = session.get_one(Agency, page.agency_id)
        already = {
            p.user_id
            for p in session.scalars(
                select(Page).where(Page.crisis_id == crisis.id, Page.agency_id == agency.id)
            )
        }
        following = [u for u in oncall.chain(session, agency, rules.admins) if u not in already]
        case = session.get_one(Case, crisis.case_id)
        if following:
            nxt = Page(
                crisis_id=crisis.id,
                agency_id=agency.id,
                user_id=following[0],
                level=page.level + 1,
                key=f"{crisis.id}:{agency.id}:{page.level + 1}",
                escalate_at=now + timedelta(minutes=rules.ack_minutes),
            )
            session.add(nxt)
            new_pages.append(nxt)
            audit.record(
                session,
                actor="casehub",
                action="crisis.escalated",
                request_ref=f"sweep:{now:%Y%m%dT%H%M}",
                case=case,
                crisis=crisis.id,
                agency=agency,
                to=following[0],
                level=page.level + 1,
            )
            continue
        text = (
            f":rotating_light: Nobody at *{escape(agency.name)}* has acknowledged the crisis on case "
            f"*{case.reference}* (raised {crisis.raised_at:%H:%M} UTC), after its whole escalation chain."
        )
        for user in dict.fromkeys([case.lead_user_id, *rules.admins]):
            dues.append(Due(f"crisis-unanswered:{crisis.id}:{agency.id}:{user}", user, text, None))
        audit.record(
            session,
            actor="casehub",
            action="crisis.unanswered",
            request_ref=f"sweep:{now:%Y%m%dT%H%M}",
            case=case,
            crisis=crisis.id,
            agency=agency,
        )
    session.flush()
    return new_pages, dues, touched


def handovers_due(session: Session, now: datetime) -> list[tuple[Crisis, Case, str]]:
    """Crises raised out of hours whose hand-over to the day is due: (crisis, case, summary text)."""
    out = []
    # Two sweeps at once (a standby taking over) hand each crisis over once, and neither waits
    # for a crisis being resolved: it is handed over by the next sweep.
    due = (
        select(Crisis)
        .where(Crisis.handover_at <= now)
        .limit(200)
        .with_for_update(skip_locked=True, key_share=True)
    )
    for crisis in session.scalars(due):
        crisis.handover_at = None
        case = session.get_one(Case, crisis.case_id)
        lines = []
        for page in pages(session, crisis):
            who = (
                escape(session.get_one(Agency, page.agency_id).name) if page.agency_id else "lead coordinator"
            )
            state = (
                f"acknowledged by <@{page.acknowledged_by}> at {page.acknowledged_at:%H:%M}"
                if page.acknowledged_at
                else "not acknowledged"
            )
            lines.append(f"• {who}: paged <@{page.user_id}> (level {page.level}), {state}")
        filed = session.execute(
            select(Agency.name, func.count())
            .join(Update, Update.agency_id == Agency.id)
            .where(Update.case_id == case.id, Update.created_at >= crisis.raised_at)
            .group_by(Agency.name)
        ).all()
        updates_line = ", ".join(f"{escape(name)}: {count}" for name, count in filed) or "none"
        status = "still open" if crisis.state == "open" else f"resolved: {escape(crisis.outcome or '')}"
        text = (
            f":sunrise: Overnight hand-over for case *{case.reference}*. Crisis raised "
            f"{crisis.raised_at:%Y-%m-%d %H:%M} UTC by <@{crisis.raised_by}> ({status}).\n"
            + "\n".join(lines)
            + f"\nUpdates filed since: {updates_line}."
        )
        out.append((crisis, case, text))
    return out


def resolve(
    session: Session,
    *,
    case: Case,
    outcome: str,
    actor: str,
    now: datetime,
    rules: CrisisRules,
    request_ref: str,
) -> tuple[Crisis, datetime | None]:
    locks.hold(session, case)
    crisis = open_crisis(session, case)
    if crisis is None:
        raise NotFound(
            "There is no open crisis on this case.", hint="`/crisis <what is happening>` raises one."
        )
    if actor not in (case.lead_user_id, crisis.raised_by):
        raise NotAllowed("Only the lead coordinator or whoever raised the crisis resolves it.")
    # Who raised it may resolve it only while they still work on the case.
    cases.require_worker(session, case, actor, "resolve a crisis")
    if not outcome.strip():
        raise InvalidInput("Say how it ended.", hint="For example `/crisis resolve Police attended; safe`.")
    if len(outcome.strip()) > OUTCOME_MAX:
        raise InvalidInput(f"The outcome is {len(outcome.strip())} characters; the limit is {OUTCOME_MAX}.")
    sharing_gate.check({"outcome": outcome})
    crisis.state, crisis.outcome, crisis.resolved_by, crisis.resolved_at = (
        "resolved",
        outcome.strip(),
        actor,
        now,
    )
    for page in pages(session, crisis):
        page.escalate_at = None
    area = rules.review.of(case.area_id)  # the case's area's working days and time zone
    early = at_local(
        area.hours.add_working_days(local_date(now, area.default_tz), rules.early_review_days),
        case.review_time or time(10, 0),
        area.default_tz,
    )
    moved = None
    if case.next_review_at is None or early < case.next_review_at:
        case.next_review_at = moved = early
        plan_review(case, rules.review, area.default_tz)
    audit.record(
        session,
        actor=actor,
        action="crisis.resolved",
        request_ref=request_ref,
        case=case,
        crisis=crisis.id,
        early_review=moved.isoformat() if moved else None,
    )
    return crisis, moved


def page_by_id(session: Session, page_id: int) -> Page:
    page = session.get(Page, page_id)
    if page is None:
        raise NotFound("That page no longer exists.")
    return page


def _timeline_entries(session: Session, case: Case, viewer: str) -> list[timeline.Entry]:
    out = []
    for crisis in session.scalars(select(Crisis).where(Crisis.case_id == case.id)):
        out.append(
            timeline.Entry(crisis.raised_at, "crisis", None, f"🚨 crisis raised: {escape(crisis.summary)}")
        )
        for page in pages(session, crisis):
            agency = session.get_one(Agency, page.agency_id).name if page.agency_id else None
            what = "paged" if page.level == 0 else f"escalated (level {page.level}) to"
            out.append(timeline.Entry(page.created_at, "page", agency, f"{what} <@{page.user_id}>"))
            if page.acknowledged_at:
                out.append(
                    timeline.Entry(
                        page.acknowledged_at, "ack", agency, f"<@{page.acknowledged_by}> acknowledged"
                    )
                )
        if crisis.resolved_at:
            out.append(
                timeline.Entry(
                    crisis.resolved_at, "crisis", None, f"crisis resolved: {escape(crisis.outcome or '')}"
                )
            )
    return out


timeline.SOURCES.append(_timeline_entries)


def open_crises_lines(session: Session, case_ids: list[int]) -> list[str]:
    rows = session.execute(
        select(Crisis, Case.reference)
        .join(Case, Crisis.case_id == Case.id)
        .where(Crisis.case_id.in_(case_ids), Crisis.state == "open")
    )
    return [
        f":rotating_light: *Open crisis* on *{ref}* since {crisis.raised_at:%Y-%m-%d %H:%M} UTC"
        for crisis, ref in rows
    ]


digests.EXTRA_SECTIONS.append(open_crises_lines)
