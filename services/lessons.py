"""The lessons register: an area's lessons, followed until they are part of its practice.

A lesson is proposed, agreed by the area's coordinators, integrated by the owning agency into a
named protocol version, and checked by the coordinators; or dropped, with a reason. The text
says what the partnership learnt about its practice, never who the person was: it passes the
identifier gate like every shared text.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from blocks.kit import escape
from models import Agency, Area, Case, Lesson, LessonEvent, LessonStatus, Membership, Role, clock, utcnow
from models.lesson import OPEN_STATUSES
from services import areas, audit, inputs, locks, sharing_gate
from services.errors import InvalidInput, NotAllowed, NotFound
from services.reminders import Due, Rules, TzOf
from services.worktime import at_local, local_date

TEXT_MAX = 1000
PROTOCOL_MAX = 200
VERSION_MAX = 64
REASON_MAX = 500
DUE_YEARS_AHEAD = 2
# A proposed lesson not agreed within this many of the area's working days: its coordinators hear.
AGREE_WITHIN = 10
HOW_TO_ADD = "Ask a coordinator of the area to add it with `/lesson add`."


@dataclass(frozen=True)
class LessonDraft:
    text: str
    protocol: str
    agency_slug: str | None
    due: date
    # The findings of the identifier check confirmed one by one (`sharing_gate.key`).
    confirmed: frozenset[str] = frozenset()


# ---- who ------------------------------------------------------------------------------------------


def require_coordinator(session: Session, area: Area, user: str, doing: str) -> None:
    if not areas.is_coordinator(session, user, area.id):
        raise NotAllowed(
            f"Only a coordinator of {escape(area.name)} can {doing}.",
            hint="Ask one of them: `/lesson list` shows the register, `/lesson help` who does what.",
        )


def require_reader(session: Session, area: Area, user: str) -> None:
    if user not in members_of_area(session, area.id, observers=True):
        raise NotAllowed(
            f"The lessons of {escape(area.name)} are for the agencies taking part in it.",
            hint="Ask your agency's coordinator to add you to the agency.",
        )


def members_of_area(session: Session, area_id: int, *, observers: bool = False) -> set[str]:
    query = select(Membership.user_id).where(Membership.agency_id.in_(areas.agency_ids(session, area_id)))
    if not observers:
        query = query.where(Membership.role != Role.OBSERVER)
    return set(session.scalars(query))


def agency_staff(session: Session, agency_id: int) -> list[str]:
    """Who works in the owning agency (observers only watch)."""
    return sorted(
        session.scalars(
            select(Membership.user_id).where(
                Membership.agency_id == agency_id, Membership.role != Role.OBSERVER
            )
        )
    )


def area_for(session: Session, user: str, slug: str | None, *, case: Case | None = None) -> Area:
    """The area a request is about: the case's, the one named, or the person's only one."""
    if case is not None:
        return session.get_one(Area, case.area_id)
    if slug:
        return areas.get(session, slug.lower())
    mine = areas.coordinated_by(session, user) or areas.areas_of_user(session, user)
    if len(mine) == 1:
        return mine[0]
    if not mine:
        raise NotAllowed(
            "You do not work in an agency of any area, so there is no register to show you.",
            hint="Ask your agency's coordinator to add you to the agency.",
        )
    raise InvalidInput(
        "You work in several areas; say which.",
        hint=f"Add the area's slug, for example `{mine[0].slug}`: one of "
        + ", ".join(f"`{a.slug}`" for a in mine)
        + ".",
    )


# ---- checks ---------------------------------------------------------------------------------------


def _length(value: str, limit: int, field: str) -> None:
    if len(value) > limit:
        raise InvalidInput(f"This is {len(value)} characters; the limit is {limit}.", field=field)


def check_due(due: date, *, field: str = "due") -> None:
    today = clock.today()
    if due < today:
        raise InvalidInput(f"{due.isoformat()} is in the past; give a date from today on.", field=field)
    latest = inputs.years_from(today, DUE_YEARS_AHEAD)
    if due > latest:
        raise InvalidInput(
            f"{due.isoformat()} is more than {DUE_YEARS_AHEAD} years ahead; give a date up to "
            f"{latest.isoformat()}.",
            field=field,
        )


def owning_agency(session: Session, area: Area, slug: str | None) -> Agency:
    if not slug:
        raise InvalidInput("Say which agency owns the lesson.", field="agency")
    for agency in areas.agencies_in(session, area.id):
        if agency.slug == slug:
            return agency
    raise InvalidInput(
        f"`{slug}` does not take part in {escape(area.name)}.",
        hint="A lesson belongs to an agency of its area.",
        field="agency",
    )


def check_new(session: Session, area: Area, draft: LessonDraft, actor: str) -> Agency:
    require_coordinator(session, area, actor, "add lessons to its register")
    if len(draft.text.strip()) < 3:
        raise InvalidInput("Say what was learnt.", field="lesson")
    _length(draft.text, TEXT_MAX, "lesson")
    if len(draft.protocol.strip()) < 2:
        raise InvalidInput("Name the protocol or procedure the lesson affects.", field="protocol")
    _length(draft.protocol, PROTOCOL_MAX, "protocol")
    sharing_gate.check({"lesson": draft.text, "protocol": draft.protocol}, draft.confirmed)
    check_due(draft.due)
    return owning_agency(session, area, draft.agency_slug)


# ---- changes --------------------------------------------------------------------------------------


def plan(lesson: Lesson) -> None:
    """The earliest moment the sweep may have something to say; it works out the rest."""
    if not lesson.is_open:
        lesson.nudge_at = None
        return
    # From the first moment the due date begins anywhere (UTC+14).
    due = at_local(lesson.due, datetime.min.time(), "Etc/GMT-14")
    if lesson.status is LessonStatus.PROPOSED:
        # Ten working days are never fewer than ten calendar days.
        created = lesson.created_at or utcnow()
        due = min(due, created + timedelta(days=AGREE_WITHIN))
    lesson.nudge_at = due


def add(
    session: Session,
    *,
    area: Area,
    draft: LessonDraft,
    actor: str,
    created_via: str,
    request_ref: str,
    case_id: int | None = None,
) -> tuple[Lesson, bool]:
    """Store a new lesson under the area's next number; the same delivery again finds the first."""
    locks.hold(session, area)
    existing = session.scalar(select(Lesson).where(Lesson.created_via == created_via))
    if existing is not None:
        return existing, False
    agency = check_new(session, area, draft, actor)
    if case_id is not None and session.scalar(select(Case.area_id).where(Case.id == case_id)) != area.id:
        raise InvalidInput(
            "That case is not one of this area's.", hint="Open the form again with `/lesson add`."
        )
    number = (session.scalar(select(func.max(Lesson.number)).where(Lesson.area_id == area.id)) or 0) + 1
    lesson = Lesson(
        area_id=area.id,
        number=number,
        case_id=case_id,
        text=draft.text.strip(),
        protocol=draft.protocol.strip(),
        agency=agency,
        due=draft.due,
        status=LessonStatus.PROPOSED,
        created_by=actor,
        created_at=utcnow(),
        created_via=created_via,
    )
    plan(lesson)
    session.add(lesson)
    session.flush()
    _event(lesson, actor, "proposed", due=draft.due.isoformat(), agency=agency.slug)
    audit.record(
        session,
        actor=actor,
        action="lesson.added",
        request_ref=request_ref,
        agency=agency,
        area=area.slug,
        number=number,
        case_id=case_id,
    )
    sharing_gate.admit(
        session,
        {"lesson": draft.text, "protocol": draft.protocol},
        draft.confirmed,
        actor=actor,
        request_ref=request_ref,
    )
    return lesson, True


def _event(lesson: Lesson, actor: str, kind: str, **details: object) -> None:
    lesson.history.append(LessonEvent(actor=actor, kind=kind, details=details))


def get(session: Session, area: Area, number: int) -> Lesson:
    lesson = session.scalar(select(Lesson).where(Lesson.area_id == area.id, Lesson.number == number))
    if lesson is None:
        raise NotFound(f"{escape(area.name)} has no lesson #{number}.", hint="`/lesson list all` lists them.")
    return lesson


def _in_owning_agency(session: Session, lesson: Lesson, user: str) -> bool:
    return user in agency_staff(session, lesson.agency_id)


def _require_status(lesson: Lesson, wanted: Collection[LessonStatus], doing: str) -> None:
    if lesson.status not in wanted:
        order = " or ".join(s.value for s in wanted)
        raise InvalidInput(
            f"Lesson #{lesson.number} is {lesson.status.value}: only a lesson {order} can be {doing}.",
            hint="A lesson goes proposed → agreed → integrated → checked.",
        )


UPDATES = ("agreed", "integrated", "checked", "dropped", "due")


def update(
    session: Session,
    *,
    area: Area,
    number: int,
    change: str,
    args: list[str],
    actor: str,
    request_ref: str,
    delivery_new: bool = True,
) -> Lesson:
    """Move a lesson on (`agreed`, `integrated <protocol> <version>`, `checked`, `dropped
    <reason>`) or change its due date (`due YYYY-MM-DD`); `delivery_new` False: a repeated
    delivery, which changes nothing."""
    if change not in UPDATES:
        raise InvalidInput(
            f"`{change}` is not a change of a lesson.",
            hint="Use agreed, integrated <protocol> <version>, checked, dropped <reason> or due YYYY-MM-DD.",
        )
    locks.hold(session, area)
    lesson = get(session, area, number)
    if not delivery_new:
        return lesson
    now = utcnow()
    if change == "agreed":
        require_coordinator(session, area, actor, "agree lessons")
        _require_status(lesson, (LessonStatus.PROPOSED,), "agreed")
        lesson.status, lesson.agreed_by, lesson.agreed_at = LessonStatus.AGREED, actor, now
        details: dict[str, object] = {}
    elif change == "integrated":
        if not (_in_owning_agency(session, lesson, actor) or areas.is_coordinator(session, actor, area.id)):
            raise NotAllowed(
                f"Only {escape(lesson.agency.name)} or a coordinator of {escape(area.name)} can mark "
                f"lesson #{lesson.number} integrated.",
                hint="Ask a member of the owning agency to run this once the protocol is changed.",
            )
        _require_status(lesson, (LessonStatus.AGREED,), "integrated")
        if len(args) < 2:
            raise InvalidInput(
                "Name the protocol and its version the lesson is now part of.",
                hint=f'For example `/lesson update {lesson.number} integrated "Referral protocol" v3.2`.',
            )
        protocol, version = " ".join(args[:-1]).strip(), args[-1].strip()
        _length(protocol, PROTOCOL_MAX, "protocol")
        _length(version, VERSION_MAX, "version")
        sharing_gate.admit(session, {"protocol": protocol}, (), actor=actor, request_ref=request_ref)
        lesson.status, lesson.integrated_by, lesson.integrated_at = LessonStatus.INTEGRATED, actor, now
        lesson.integrated_protocol, lesson.integrated_version = protocol, version
        details = {"protocol": protocol, "version": version}
    elif change == "checked":
        require_coordinator(session, area, actor, "check lessons")
        _require_status(lesson, (LessonStatus.INTEGRATED,), "checked")
        lesson.status, lesson.checked_by, lesson.checked_at = LessonStatus.CHECKED, actor, now
        details = {}
    elif change == "dropped":
        require_coordinator(session, area, actor, "drop lessons")
        _require_status(lesson, OPEN_STATUSES, "dropped")
        reason = " ".join(args).strip()
        if len(reason) < 3:
            raise InvalidInput("Say why the lesson is dropped.", field="reason")
        _length(reason, REASON_MAX, "reason")
        sharing_gate.admit(session, {"reason": reason}, (), actor=actor, request_ref=request_ref)
        lesson.status, lesson.dropped_by, lesson.dropped_at = LessonStatus.DROPPED, actor, now
        lesson.drop_reason = reason
        details = {"reason": reason}
    else:
        require_coordinator(session, area, actor, "move the due date of lessons")
        _require_status(lesson, OPEN_STATUSES, "given a new due date")
        if len(args) != 1:
            raise InvalidInput("Give the new due date.", hint="For example `due 2027-03-31`.")
        due = inputs.parse_date(args[0], what="due date")
        check_due(due)
        details = {"previous": lesson.due.isoformat(), "due": due.isoformat()}
        lesson.due = due
    plan(lesson)
    _event(lesson, actor, "due-moved" if change == "due" else change, **details)
    audit.record(
        session,
        actor=actor,
        action=f"lesson.{'due_moved' if change == 'due' else change}",
        request_ref=request_ref,
        agency=lesson.agency,
        area=area.slug,
        number=lesson.number,
        version=lesson.integrated_version if change == "integrated" else None,
    )
    return lesson


# ---- reading --------------------------------------------------------------------------------------

LIST_FILTERS = ("open", "all", "mine")


def listing(session: Session, area: Area, user: str, which: str) -> list[Lesson]:
    """Lessons for `/lesson list`: open ones, all, or those of the person's agencies still to do."""
    if which not in LIST_FILTERS:
        raise InvalidInput(f"`{which}` is not a list.", hint="Use open, all or mine.")
    require_reader(session, area, user)
    query = select(Lesson).where(Lesson.area_id == area.id).order_by(Lesson.number)
    if which != "all":
        query = query.where(Lesson.status.in_(OPEN_STATUSES))
    if which == "mine":
        mine = select(Membership.agency_id).where(
            Membership.user_id == user, Membership.role != Role.OBSERVER
        )
        query = query.where(Lesson.agency_id.in_(mine))
    return list(session.scalars(query))


def counts_by_status(session: Session, area_id: int, start: datetime, end: datetime) -> dict[str, int]:
    """Lessons of an area added in [start, end), by their status now (every status named)."""
    rows = session.execute(
        select(Lesson.status, func.count())
        .where(Lesson.area_id == area_id, Lesson.created_at >= start, Lesson.created_at < end)
        .group_by(Lesson.status)
    )
    counts = dict.fromkeys((s.value for s in LessonStatus), 0)
    for status, count in rows:
        counts[LessonStatus(status).value] = count
    return counts


def digest_lines(session: Session, user: str, today: date) -> list[str]:
    """A coordinator's digest: the open lessons of their areas, and those overdue by number."""
    out = []
    for area in areas.coordinated_by(session, user):
        rows = list(
            session.scalars(
                select(Lesson)
                .where(Lesson.area_id == area.id, Lesson.status.in_(OPEN_STATUSES))
                .order_by(Lesson.number)
            )
        )
        if not rows:
            continue
        counts = Counter(lesson.status.value for lesson in rows)
        line = f"*Lessons of {escape(area.name)}*: " + ", ".join(
            f"{counts[s.value]} {s.value}" for s in OPEN_STATUSES if counts[s.value]
        )
        late = [f"#{lesson.number}" for lesson in rows if lesson.due < today]
        if late:
            line += f"; overdue: {', '.join(late[:20])}" + (
                f" and {len(late) - 20} more" if len(late) > 20 else ""
            )
        out.append(line + ".")
    return out


def coordinators_with_open(session: Session) -> set[str]:
    """The coordinators of every area with open lessons: their digest names them."""
    area_ids = set(session.scalars(select(Lesson.area_id).where(Lesson.status.in_(OPEN_STATUSES)).distinct()))
    return set().union(*(areas.coordinators(session, area_id) for area_id in area_ids))


# ---- the sweep ------------------------------------------------------------------------------------


def due_notices(session: Session, now: datetime, rules: Rules, tz_of: TzOf) -> list[Due]:
    """Not agreed in 10 working days: the coordinators. Due today: the owning agency; overdue,
    every 2 working days; after 5, the area's coordinators too."""
    out: list[Due] = []
    lessons = list(
        session.scalars(
            select(Lesson)
            .where(Lesson.status.in_(OPEN_STATUSES), Lesson.nudge_at <= now)
            .options(selectinload(Lesson.agency))  # a joined agency could not be locked with it
            .limit(1000)
            .with_for_update(skip_locked=True)
        )
    )
    area_names = {
        a.id: a.name for a in session.scalars(select(Area).where(Area.id.in_({x.area_id for x in lessons})))
    }
    for lesson in lessons:
        area_rules = rules.of(lesson.area_id)
        hours, tz = area_rules.hours, area_rules.default_tz
        today = local_date(now, tz)
        wakes: list[datetime] = []
        coordinators = sorted(areas.coordinators(session, lesson.area_id))
        label = (
            f"*Lesson #{lesson.number}* of {escape(area_names[lesson.area_id])} "
            f"({escape(lesson.agency.name)}): {escape(lesson.text[:200])}"
        )
        if lesson.status is LessonStatus.PROPOSED:
            created = local_date(lesson.created_at, tz)
            by = hours.add_working_days(created, AGREE_WITHIN)
            if today >= by:
                for user in coordinators:
                    out.append(
                        Due(
                            f"lesson-unagreed:{lesson.id}:{user}",
                            user,
                            f":hourglass: Proposed {created.isoformat()} and not yet agreed — {label}. "
                            f"Agree it with `/lesson update {lesson.number} agreed`, or drop it.",
                            tz_of(user),
                        )
                    )
            else:
                wakes.append(at_local(by, datetime.min.time(), tz))
        if today < lesson.due:
            wakes.append(at_local(lesson.due, datetime.min.time(), tz))
        else:
            late = hours.working_days_between(lesson.due, today)
            staff = agency_staff(session, lesson.agency_id) or coordinators
            for user in staff:
                if today == lesson.due:
                    key, text = (
                        f"lesson-due:{lesson.id}:{lesson.due}:{user}",
                        f":alarm_clock: Due today — {label}",
                    )
                elif late >= rules.overdue_every:
                    key = f"lesson-overdue:{lesson.id}:{lesson.due}:{user}:{late // rules.overdue_every}"
                    text = (
                        f":warning: Overdue since {lesson.due.isoformat()} ({late} working days) — {label}. "
                        "Once the protocol is changed, mark it integrated naming the protocol and version."
                    )
                else:
                    continue
                out.append(Due(key, user, text, tz_of(user)))
            if late >= rules.escalate_after:
                for user in coordinators:
                    out.append(
                        Due(
                            f"lesson-escalated:{lesson.id}:{lesson.due}:{user}",
                            user,
                            f":rotating_light: {label} is {late} working days overdue. It may need a new "
                            "due date or another agency.",
                            tz_of(user),
                        )
                    )
            else:
                wakes.append(
                    at_local(
                        hours.add_working_days(lesson.due, rules.escalate_after), datetime.min.time(), tz
                    )
                )
            round_ = late // rules.overdue_every + 1
            next_round = hours.add_working_days(lesson.due, rules.overdue_every * round_)
            wakes.append(at_local(next_round, datetime.min.time(), tz))
        lesson.nudge_at = min(wakes) if wakes else None
    return out
