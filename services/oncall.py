"""Who is on call for an agency: an override, else the weekly rota, else its coordinators."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from blocks.kit import escape
from models import Agency, EscalationChain, Membership, OnCallOverride, OnCallRota, Role, utcnow
from services import agencies, audit, inputs, locks
from services.errors import InvalidInput, NotAllowed
from services.worktime import at_local, zone

# An override is set for cover someone has agreed to; further ahead than this is a typing slip.
COVER_YEARS_AHEAD = 1


def timezone_of(agency: Agency, default: str) -> str:
    return agency.timezone or default


def require_may_change(session: Session, agency: Agency, actor: str, *, is_admin: bool) -> None:
    if is_admin:
        return
    membership = agencies.membership_of(session, agency, actor)
    if membership is None or membership.role is not Role.COORDINATOR:
        raise NotAllowed(
            f"Only casehub admins and coordinators of {escape(agency.name)} change its on-call cover."
        )


def set_override(
    session: Session,
    *,
    agency: Agency,
    user: str,
    starts: datetime | None,
    ends: datetime | None,
    actor: str,
    is_admin: bool,
    request_ref: str,
) -> OnCallOverride:
    require_may_change(session, agency, actor, is_admin=is_admin)
    now = utcnow()
    starts = starts or now
    if ends is not None and ends <= starts:
        raise InvalidInput("The end of the cover is before its start.", hint="Give `to` after `from`.")
    if ends is not None and ends <= now:
        raise InvalidInput("That cover is over already.", hint="Give a `to` in the future.")
    latest = datetime.combine(inputs.years_from(now.date(), COVER_YEARS_AHEAD), now.timetz())
    if max(starts, ends or starts) > latest:
        raise InvalidInput(
            f"That is too far ahead: on-call cover can be set up to {latest:%Y-%m-%d %H:%M} UTC."
        )
    override = OnCallOverride(
        agency_id=agency.id, user_id=user, starts_at=starts, ends_at=ends, created_by=actor
    )
    session.add(override)
    audit.record(
        session,
        actor=actor,
        action="oncall.override",
        request_ref=request_ref,
        agency=agency,
        user=user,
        starts=starts.isoformat(),
        ends=ends.isoformat() if ends else None,
    )
    return override


def set_rota(
    session: Session,
    *,
    agency: Agency,
    users: list[str],
    weekday: int,
    at: time,
    tz: str,
    actor: str,
    is_admin: bool,
    request_ref: str,
) -> OnCallRota:
    require_may_change(session, agency, actor, is_admin=is_admin)
    if len(users) < 1 or len(set(users)) != len(users):
        raise InvalidInput("Name each person in the rota once.")
    today = utcnow().astimezone(zone(tz)).date()
    # The rota starts with its first person from the latest hand-over moment (so: now).
    first = today - timedelta(days=(today.weekday() - weekday) % 7)
    if at_local(first, at, tz) > utcnow():
        first -= timedelta(days=7)
    locks.hold(session, agency)  # two rotas set at once: the second replaces the first
    rota = session.get(OnCallRota, agency.id) or OnCallRota(agency_id=agency.id)
    rota.users, rota.weekday, rota.at, rota.starts_on = users, weekday, at, first
    rota.created_by, rota.updated_at = actor, utcnow()
    session.add(rota)
    audit.record(
        session,
        actor=actor,
        action="oncall.rota",
        request_ref=request_ref,
        agency=agency,
        users=users,
        weekday=weekday,
        at=at.isoformat(),
    )
    return rota


def set_chain(
    session: Session, *, agency: Agency, users: list[str], actor: str, is_admin: bool, request_ref: str
) -> None:
    require_may_change(session, agency, actor, is_admin=is_admin)
    if not users:
        raise InvalidInput("Name at least one person.")
    locks.hold(session, agency)
    chain = session.get(EscalationChain, agency.id) or EscalationChain(agency_id=agency.id)
    chain.users, chain.updated_by, chain.updated_at = users, actor, utcnow()
    session.add(chain)
    audit.record(
        session, actor=actor, action="oncall.escalation", request_ref=request_ref, agency=agency, users=users
    )


@dataclass(frozen=True)
class Cover:
    user: str | None
    source: str  # override, rota, coordinator, nobody
    until: datetime | None = None


def _rota_cover(rota: OnCallRota, at: datetime, tz: str) -> Cover:
    start = at_local(rota.starts_on, rota.at, tz)
    if at < start:
        return Cover(rota.users[-1], "rota", start)
    weeks = int((at - start) / timedelta(weeks=1))
    handover_day: date = rota.starts_on + timedelta(weeks=weeks + 1)
    return Cover(rota.users[weeks % len(rota.users)], "rota", at_local(handover_day, rota.at, tz))


def on_call(session: Session, agency: Agency, at: datetime, default_tz: str) -> Cover:
    tz = timezone_of(agency, default_tz)
    override = session.scalar(
        select(OnCallOverride)
        .where(
            OnCallOverride.agency_id == agency.id,
            OnCallOverride.starts_at <= at,
            (OnCallOverride.ends_at.is_(None)) | (OnCallOverride.ends_at > at),
        )
        .order_by(OnCallOverride.created_at.desc(), OnCallOverride.id.desc())
    )
    if override is not None:
        return Cover(override.user_id, "override", override.ends_at)
    rota = session.get(OnCallRota, agency.id)
    if rota is not None:
        return _rota_cover(rota, at, tz)
    coordinator = session.scalar(
        select(Membership.user_id)
        .where(Membership.agency_id == agency.id, Membership.role == Role.COORDINATOR)
        .order_by(Membership.id)
    )
    return Cover(coordinator, "coordinator" if coordinator else "nobody")


def next_cover(session: Session, agency: Agency, at: datetime, default_tz: str) -> Cover | None:
    now = on_call(session, agency, at, default_tz)
    if now.until is None:
        return None
    return on_call(session, agency, now.until + timedelta(seconds=1), default_tz)


def chain(session: Session, agency: Agency, admins: list[str]) -> list[str]:
    """Who is paged, in order, when the on-call person does not answer."""
    configured = session.get(EscalationChain, agency.id)
    if configured is not None:
        return list(configured.users)
    coordinators = list(
        session.scalars(
            select(Membership.user_id)
            .where(Membership.agency_id == agency.id, Membership.role == Role.COORDINATOR)
            .order_by(Membership.id)
        )
    )
    return list(dict.fromkeys(coordinators + list(admins)))


def parse_moment(day: str, clock: str, tz: str) -> datetime:
    """`YYYY-MM-DD HH:MM` in the agency's time zone."""
    try:
        return at_local(inputs.parse_date(day), inputs.parse_time(clock), tz)
    except InvalidInput:
        raise InvalidInput(
            f"`{inputs.echo(f'{day} {clock}')}` is not a date and time.",
            hint=f"Write YYYY-MM-DD HH:MM, in the years {inputs.FIRST_DAY.year} to {inputs.LAST_DAY.year}.",
        ) from None
