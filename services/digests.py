"""A coordinator's digest: where their cases are slipping, gathered in a handful of queries."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from models import Action, ActionStatus, Agency, Case, Preference, Stage, Update
from services import areas, audit, lessons, referrals, updates
from services.errors import NotAllowed

# Later capabilities add lines (for example open crises): (session, case ids) -> texts.
EXTRA_SECTIONS: list[Callable[[Session, list[int]], list[str]]] = []


@dataclass
class Digest:
    user: str
    cases: list[Case] = field(default_factory=list)
    reviews_this_week: list[Case] = field(default_factory=list)
    reviews_overdue: list[Case] = field(default_factory=list)
    overdue_by_agency: dict[str, list[tuple[str, Action]]] = field(default_factory=dict)
    silent: list[tuple[str, str, int | None]] = field(default_factory=list)  # reference, agency, days
    risk_changes: list[tuple[str, str, str]] = field(default_factory=list)  # reference, agency, risk
    extra: list[str] = field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        return not (
            self.reviews_this_week
            or self.reviews_overdue
            or self.overdue_by_agency
            or self.silent
            or self.risk_changes
            or self.extra
        )


def preference(session: Session, user: str) -> Preference:
    """A person's preference, made the first time it is needed (and once, when two need it
    at the same moment: the person choosing a digest, the sweep learning their time zone)."""
    pref = session.get(Preference, user)
    if pref is not None:
        return pref
    try:
        with session.begin_nested():
            pref = Preference(user_id=user)
            session.add(pref)
    except IntegrityError:
        pref = session.get_one(Preference, user)
    return pref


def build(session: Session, user: str, *, now: datetime, today: date, since: datetime | None) -> Digest:
    digest = Digest(user)
    digest.extra += referrals.digest_lines(session, user, now)
    digest.extra += lessons.digest_lines(session, user, today)
    led = list(
        session.scalars(
            select(Case)
            .where(Case.lead_user_id == user, Case.stage != Stage.CLOSED)
            .options(selectinload(Case.participations))
        )
    )
    if not led:
        return digest
    digest.cases = led
    agency_pictures = updates.pictures(session, led)
    ids = [c.id for c in led]
    reference = {c.id: c.reference for c in led}
    week_end = now + timedelta(days=7 - today.weekday())
    for case in led:
        if case.next_review_at is None:
            continue
        if case.next_review_at < now:
            digest.reviews_overdue.append(case)
        elif case.next_review_at < week_end:
            digest.reviews_this_week.append(case)
    grouped: dict[str, list[tuple[str, Action]]] = defaultdict(list)
    for action, agency_name in session.execute(
        select(Action, Agency.name)
        .join(Agency, Action.agency_id == Agency.id)
        .where(Action.case_id.in_(ids), Action.status == ActionStatus.OPEN, Action.due < today)
        .order_by(Action.due)
    ):
        grouped[agency_name].append((reference[action.case_id], action))
    digest.overdue_by_agency = dict(grouped)
    for case in led:
        limit = timedelta(weeks=case.review_every_weeks)
        joined = {p.agency_id: p.joined_at for p in case.active_participations}
        for item in agency_pictures[case.id]:
            if now - (item.last_update or joined[item.agency.id]) > limit:
                days = (now - item.last_update).days if item.last_update else None
                digest.silent.append((case.reference, item.agency.name, days))
    if since is not None:
        for case_id, agency_name, risk in session.execute(
            select(Update.case_id, Agency.name, Update.risk)
            .join(Agency, Update.agency_id == Agency.id)
            .where(Update.case_id.in_(ids), Update.risk.is_not(None), Update.created_at >= since)
            .order_by(Update.created_at)
        ):
            assert risk is not None  # the query leaves out updates without a risk
            digest.risk_changes.append((reference[case_id], agency_name, risk.value))
    for section in EXTRA_SECTIONS:
        digest.extra += section(session, ids)
    return digest


def known_timezones(session: Session) -> dict[str, str]:
    """The time zones Slack reported for people, as last learnt."""
    return {
        user: tz
        for user, tz in session.execute(
            select(Preference.user_id, Preference.timezone).where(Preference.timezone.is_not(None))
        )
        if tz is not None  # the query asks this already; said here, it narrows the type
    }


def recently_checked(session: Session, users: set[str], since: datetime) -> set[str]:
    return set(
        session.scalars(
            select(Preference.user_id).where(
                Preference.user_id.in_(users), Preference.timezone_checked_at > since
            )
        )
    )


def note_timezone(session: Session, user: str, tz: str | None, now: datetime) -> None:
    pref = preference(session, user)
    pref.timezone, pref.timezone_checked_at = tz or pref.timezone, now


def leads_and_preferences(session: Session) -> list[tuple[str, Preference | None]]:
    """Everyone who leads an open case or whose hub has open referrals, with their digest
    preference if they set one."""
    leads = list(session.scalars(select(Case.lead_user_id).where(Case.stage != Stage.CLOSED).distinct()))
    leads += sorted(referrals.hub_coordinators(session) - set(leads))  # their hubs' referrals
    leads += sorted(lessons.coordinators_with_open(session) - set(leads))  # their areas' lessons
    prefs = {p.user_id: p for p in session.scalars(select(Preference).where(Preference.user_id.in_(leads)))}
    return [(user, prefs.get(user)) for user in leads]


def require_reader(session: Session, user: str) -> None:
    """Who gets digests: coordinators, who lead cases."""
    if not areas.is_coordinator(session, user):
        raise NotAllowed("Digests are for coordinators.", hint="An admin can give you the coordinator role.")


def choose(session: Session, user: str, choice: str, at: time | None, *, request_ref: str) -> Preference:
    """A coordinator's digest: daily, weekly or off, and at what time; audited."""
    require_reader(session, user)
    pref = preference(session, user)
    pref.digest = choice
    if at is not None:
        pref.digest_time = at
    audit.record(
        session,
        actor=user,
        action="digest.chosen",
        request_ref=request_ref,
        digest=choice,
        at=at.strftime("%H:%M") if at is not None else None,
    )
    return pref
