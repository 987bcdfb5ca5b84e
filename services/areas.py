"""Areas: the local partnerships of a deployment, their agencies, coordinators, calendars and
the regional and national coordinators who oversee them.

An area's coordinators are the people holding the coordinator role in an agency that takes part
in it. An agency, and so a person, may work in several areas. What an area leaves unset falls
back to the deployment's settings (`Calendar`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from models import NATIONAL, Agency, Area, AreaAgency, Case, Membership, Overseer, Role, Stage
from services import agencies, audit, sharing_gate
from services.errors import Conflict, InvalidInput, NotAllowed, NotFound
from services.inputs import echo
from services.worktime import WorkingHours, holiday_calendar

_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{1,31}$")
_REGION = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")
_PREFIX = re.compile(r"^[a-z0-9][a-z0-9_-]{0,40}$")
_CHANNEL = re.compile(r"^[CG][A-Z0-9]{2,31}$")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# The area an upgraded deployment's single partnership became (migration 0019).
MAIN = "main"


@dataclass(frozen=True)
class Calendar:
    """An area's calendar and defaults, with the settings filling in what it leaves unset."""

    area_id: int
    hours: WorkingHours
    timezone: str
    prefix: str
    review_every_weeks: int
    holidays: str | None


def calendar(area: Area, settings: Any) -> Calendar:
    days = area.working_days.split(",") if area.working_days else list(settings.working_days)
    code = area.holidays or settings.holidays
    hours = WorkingHours(
        settings.working_hours_start,
        settings.working_hours_end,
        frozenset(WEEKDAYS.index(day) for day in days),
        holiday_calendar(code) if code else frozenset(),
    )
    return Calendar(
        area.id,
        hours,
        area.timezone or settings.default_timezone,
        area.channel_prefix or settings.case_channel_prefix,
        area.review_every_weeks or settings.review_every_weeks,
        code,
    )


def calendars(session: Session, settings: Any) -> dict[int, Calendar]:
    """Every area's calendar, by id: a few rows, read once for a sweep."""
    return {area.id: calendar(area, settings) for area in session.scalars(select(Area))}


def calendar_of(session: Session, area_id: int, settings: Any) -> Calendar:
    return calendar(session.get_one(Area, area_id), settings)


# Looking areas up.


def get(session: Session, slug: str) -> Area:
    area = session.scalar(select(Area).where(Area.slug == slug.strip().lower()))
    if area is None:
        raise NotFound(f"There is no area `{echo(slug)}`.", hint="`/area list` shows the areas.")
    return area


def chosen_slug(value: object, *, field: str) -> str:
    """An area picked from a form's list: a slug, which the service then looks up."""
    if isinstance(value, str) and _SLUG.fullmatch(value):
        return value
    raise InvalidInput("Choose an area from the list.", field=field)


def all_areas(session: Session) -> list[Area]:
    return list(session.scalars(select(Area).order_by(Area.slug)))


def only_area(session: Session) -> Area | None:
    """The deployment's area when it has just one, else None."""
    found = list(session.scalars(select(Area).limit(2)))
    return found[0] if len(found) == 1 else None


def agency_ids(session: Session, area_id: int) -> set[int]:
    return set(session.scalars(select(AreaAgency.agency_id).where(AreaAgency.area_id == area_id)))


def agencies_in(session: Session, area_id: int) -> list[Agency]:
    return list(
        session.scalars(
            select(Agency)
            .join(AreaAgency, AreaAgency.agency_id == Agency.id)
            .where(AreaAgency.area_id == area_id)
            .order_by(Agency.slug)
        )
    )


def takes_part(session: Session, area_id: int, agency_id: int) -> bool:
    return (
        session.scalar(
            select(AreaAgency.id).where(AreaAgency.area_id == area_id, AreaAgency.agency_id == agency_id)
        )
        is not None
    )


def coordinators(session: Session, area_id: int) -> set[str]:
    """The area's coordinators: the coordinator role in an agency taking part in it."""
    return set(
        session.scalars(
            select(Membership.user_id)
            .join(AreaAgency, AreaAgency.agency_id == Membership.agency_id)
            .where(AreaAgency.area_id == area_id, Membership.role == Role.COORDINATOR)
        )
    )


def coordinated_by(session: Session, user: str) -> list[Area]:
    """The areas where a person is a coordinator, by slug."""
    return list(
        session.scalars(
            select(Area)
            .join(AreaAgency, AreaAgency.area_id == Area.id)
            .join(Membership, Membership.agency_id == AreaAgency.agency_id)
            .where(Membership.user_id == user, Membership.role == Role.COORDINATOR)
            .distinct()
            .order_by(Area.slug)
        )
    )


def is_coordinator(session: Session, user: str, area_id: int | None = None) -> bool:
    """Whether a person coordinates the area (any area, when none is named)."""
    query = (
        select(AreaAgency.area_id)
        .join(Membership, Membership.agency_id == AreaAgency.agency_id)
        .where(Membership.user_id == user, Membership.role == Role.COORDINATOR)
    )
    if area_id is not None:
        query = query.where(AreaAgency.area_id == area_id)
    return session.scalar(query.limit(1)) is not None


def areas_of_user(session: Session, user: str) -> list[Area]:
    """The areas where a person works: those of every agency they have a role in."""
    return list(
        session.scalars(
            select(Area)
            .join(AreaAgency, AreaAgency.area_id == Area.id)
            .join(Membership, Membership.agency_id == AreaAgency.agency_id)
            .where(Membership.user_id == user)
            .distinct()
            .order_by(Area.slug)
        )
    )


def overseen(session: Session, user: str) -> list[Area]:
    """The areas a regional or national coordinator oversees (none for anyone else)."""
    scopes = set(session.scalars(select(Overseer.scope).where(Overseer.user_id == user)))
    if not scopes:
        return []
    query = select(Area).order_by(Area.slug)
    if NATIONAL not in scopes:
        query = query.where(Area.region.in_(scopes))
    return list(session.scalars(query))


def overseers_of(session: Session, area: Area) -> set[str]:
    scopes = [NATIONAL] + ([area.region] if area.region else [])
    return set(session.scalars(select(Overseer.user_id).where(Overseer.scope.in_(scopes))))


def scopes_of(session: Session, user: str) -> list[str]:
    return list(
        session.scalars(select(Overseer.scope).where(Overseer.user_id == user).order_by(Overseer.scope))
    )


# What the admins change; each change audited.


def require_admin(actor: str, admins: Iterable[str]) -> None:
    if actor not in set(admins):
        raise NotAllowed(
            "Only casehub admins may change the areas.",
            hint="Admins are listed in the CASEHUB_ADMINS setting; ask one of them.",
        )


def check_slug(slug: str) -> str:
    if not _SLUG.match(slug):
        raise InvalidInput(
            f"`{echo(slug)}` is not a valid area slug.",
            hint="Use 2-32 lowercase letters, digits or '-', for example `north-shire` or `dep-93`.",
        )
    return slug


def check_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > 120:
        raise InvalidInput("An area's name must be 1-120 characters.")
    sharing_gate.check({"area_name": name})  # shown in Slack wherever the area is
    return name


def add(session: Session, *, slug: str, name: str, actor: str, request_ref: str) -> Area:
    check_slug(slug)
    name = check_name(name)
    taken = Conflict(f"Area `{slug}` exists already.", hint="`/area list` shows the areas.")
    if session.scalar(select(Area.id).where(Area.slug == slug)) is not None:
        raise taken
    area = Area(slug=slug, name=name)
    try:
        with session.begin_nested():
            session.add(area)
    except IntegrityError:
        raise taken from None
    audit.record(session, actor=actor, action="area.added", request_ref=request_ref, area=slug, name=name)
    return area


# `/area set <slug> <field> <value>`: what each field takes, and how it is stored.
SETTABLE = {
    "name": "the area's name",
    "region": "its region, for regional coordinators (`none` to clear)",
    "timezone": "an IANA time zone such as Europe/Paris",
    "holidays": "bank holidays: GB-ENG, GB-WLS, GB-SCT, GB-NIR, FR, FR-57, … (`none` for none)",
    "working-days": "e.g. mon,tue,wed,thu,fri",
    "channel-prefix": "the start of its case channels' names, e.g. `north`",
    "review-weeks": "the default review cadence, 1-52 weeks",
    "hub-channel": "the hub's channel, picked with # (casehub must be in it)",
    "referral-ack-days": "working days to acknowledge a referral (0-10)",
    "referral-decision-days": "working days to decide on a referral (1-30)",
    "transfer-days": "working days to answer a transfer offer (1-30)",
}
_CLEAR = {"none", "-", "default", ""}


def parse_field(field: str, value: str) -> tuple[str, Any]:
    """A field of `/area set` and its value as stored (an attribute of `Area`)."""
    key = field.strip().lower().replace("_", "-")
    raw = value.strip()
    cleared = raw.lower() in _CLEAR
    if key == "name":
        return "name", check_name(raw)
    if key == "region":
        if cleared:
            return "region", None
        if not _REGION.match(raw.lower()):
            raise InvalidInput(
                f"`{echo(raw)}` is not a region.", hint="Use 1-32 lowercase letters, digits or '-'."
            )
        return "region", raw.lower()
    if key == "timezone":
        if cleared:
            return "timezone", None
        return "timezone", agencies.check_timezone(raw)
    if key == "holidays":
        if cleared:
            return "holidays", None
        try:
            holiday_calendar(raw)
        except ValueError as error:
            said = str(error)
            raise InvalidInput(f"{said[:1].upper()}{said[1:]}.") from None
        return "holidays", raw.upper()
    if key == "working-days":
        if cleared:
            return "working_days", None
        days = [part.strip().lower()[:3] for part in raw.split(",") if part.strip()]
        unknown = [day for day in days if day not in WEEKDAYS]
        if not days or unknown:
            raise InvalidInput(
                f"`{echo(raw)}` is not a list of weekdays.", hint="For example `mon,tue,wed,thu,fri`."
            )
        return "working_days", ",".join(day for day in WEEKDAYS if day in days)
    if key == "channel-prefix":
        if cleared:
            return "channel_prefix", None
        if not _PREFIX.match(raw):
            raise InvalidInput(
                f"`{echo(raw)}` cannot start a channel name.",
                hint="Use 1-41 lowercase letters, digits, '-' or '_'.",
            )
        return "channel_prefix", raw
    if key == "hub-channel":
        if cleared:
            return "hub_channel_id", None
        match = re.fullmatch(r"<#([CG][A-Z0-9]+)(?:\|[^>]*)?>", raw)
        channel = match.group(1) if match else raw
        if not _CHANNEL.match(channel):
            raise InvalidInput(f"`{echo(raw)}` is not a channel.", hint="Pick the channel with #.")
        return "hub_channel_id", channel
    bounds = {
        "review-weeks": ("review_every_weeks", 1, 52),
        "referral-ack-days": ("referral_ack_days", 0, 10),
        "referral-decision-days": ("referral_decision_days", 1, 30),
        "transfer-days": ("transfer_days", 1, 30),
    }
    if key in bounds:
        attribute, low, high = bounds[key]
        if key == "review-weeks" and cleared:
            return attribute, None
        if not re.fullmatch(r"[0-9]{1,3}", raw) or not low <= int(raw) <= high:
            raise InvalidInput(f"`{echo(raw)}` is not a number from {low} to {high}.")
        return attribute, int(raw)
    raise InvalidInput(
        f"`{echo(field)}` is not something an area sets.",
        hint="Fields: " + ", ".join(f"`{name}`" for name in SETTABLE) + ".",
    )


def set_field(session: Session, *, area: Area, field: str, value: str, actor: str, request_ref: str) -> bool:
    """Change one field; False when it already had that value."""
    attribute, new = parse_field(field, value)
    old = getattr(area, attribute)
    if old == new:
        return False
    setattr(area, attribute, new)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="area.updated",
        request_ref=request_ref,
        area=area.slug,
        field=attribute,
        value=new,
        previous=old,
    )
    return True


def join(session: Session, *, area: Area, agency: Agency, actor: str, request_ref: str) -> bool:
    """The agency takes part in the area; False when it did already."""
    if takes_part(session, area.id, agency.id):
        return False
    try:
        with session.begin_nested():
            session.add(AreaAgency(area_id=area.id, agency_id=agency.id))
    except IntegrityError:  # joined by someone else at the same moment
        return False
    audit.record(
        session,
        actor=actor,
        action="area.agency.joined",
        request_ref=request_ref,
        agency=agency,
        area=area.slug,
    )
    return True


def leave(session: Session, *, area: Area, agency: Agency, actor: str, request_ref: str) -> None:
    """The agency stops taking part; refused while it takes part in an open case of the area."""
    row = session.scalar(
        select(AreaAgency).where(AreaAgency.area_id == area.id, AreaAgency.agency_id == agency.id)
    )
    if row is None:
        raise NotFound(f"`{agency.slug}` does not take part in `{area.slug}`.")
    from models import CaseAgency

    busy = session.scalar(
        select(Case.reference)
        .join(CaseAgency, CaseAgency.case_id == Case.id)
        .where(
            Case.area_id == area.id,
            Case.stage != Stage.CLOSED,
            CaseAgency.agency_id == agency.id,
            CaseAgency.left_at.is_(None),
        )
        .limit(1)
    )
    if busy is not None:
        raise Conflict(
            f"`{agency.slug}` still takes part in open cases of `{area.slug}` (case {busy}, at least).",
            hint="Their leads take it off those cases first (`/case agencies remove`).",
        )
    session.delete(row)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="area.agency.left",
        request_ref=request_ref,
        agency=agency,
        area=area.slug,
    )


def parse_scope(value: str) -> str:
    key = value.strip().lower()
    if key in ("national", "*", "all"):
        return NATIONAL
    if key.startswith("region:"):
        key = key.removeprefix("region:")
    if not _REGION.match(key):
        raise InvalidInput(
            f"`{echo(value)}` is not a region.", hint="Give a region's name, or `national` for every area."
        )
    return key


def add_overseer(session: Session, *, user: str, scope: str, actor: str, request_ref: str) -> bool:
    exists = session.scalar(select(Overseer.id).where(Overseer.user_id == user, Overseer.scope == scope))
    if exists is not None:
        return False
    try:
        with session.begin_nested():
            session.add(Overseer(user_id=user, scope=scope, added_by=actor))
    except IntegrityError:
        return False
    audit.record(
        session, actor=actor, action="area.overseer.added", request_ref=request_ref, user=user, scope=scope
    )
    return True


def remove_overseer(session: Session, *, user: str, scope: str, actor: str, request_ref: str) -> None:
    row = session.scalar(select(Overseer).where(Overseer.user_id == user, Overseer.scope == scope))
    if row is None:
        raise NotFound(f"<@{user}> does not oversee {scope_label(scope)}.")
    session.delete(row)
    session.flush()
    audit.record(
        session, actor=actor, action="area.overseer.removed", request_ref=request_ref, user=user, scope=scope
    )


def scope_label(scope: str) -> str:
    return "every area (national)" if scope == NATIONAL else f"the region `{scope}`"


def with_agencies(session: Session) -> list[Area]:
    return list(session.scalars(select(Area).options(selectinload(Area.participations)).order_by(Area.slug)))


# The YAML import: an `areas:` list beside `agencies:`, and `overseers:`.

AREA_KEYS = ("slug", "name", "agencies", *(key for key in SETTABLE if key != "name"))


@dataclass(frozen=True)
class AreaImport:
    added: int
    updated: int
    joined: int
    overseers: int


def import_areas(session: Session, data: object, *, actor: str, request_ref: str) -> AreaImport:
    """Create areas, set what each entry says, and have the agencies listed take part; safe to
    repeat. What an entry leaves out stays as it is. Refused as a whole on the first mistake."""
    if not isinstance(data, dict):
        return AreaImport(0, 0, 0, 0)
    entries = data.get("areas") or []
    if not isinstance(entries, list):
        raise InvalidInput("`areas:` must be a list of areas.")
    added = updated = joined = 0
    for index, value in enumerate(entries, start=1):
        if not isinstance(value, dict) or "slug" not in value or "name" not in value:
            raise InvalidInput(f"Area {index} needs at least `slug` and `name`.")
        slug = check_slug(str(value["slug"]))
        where = f"Area {index} (`{slug}`)"
        unknown = [str(key) for key in value if key not in AREA_KEYS]
        if unknown:
            raise InvalidInput(
                f"{where}: `{echo(unknown[0])}` is not a key of an area.",
                hint="An area has " + ", ".join(f"`{key}`" for key in AREA_KEYS) + ".",
            )
        try:
            area = session.scalar(select(Area).where(Area.slug == slug))
            changed, new = False, area is None
            if area is None:
                area = add(session, slug=slug, name=str(value["name"]), actor=actor, request_ref=request_ref)
                added += 1
            for key, raw in value.items():
                if key in ("slug", "agencies") or raw is None:
                    continue
                text = ",".join(map(str, raw)) if isinstance(raw, list) else str(raw)
                changed |= set_field(
                    session, area=area, field=str(key), value=text, actor=actor, request_ref=request_ref
                )
            listed = value.get("agencies") or []
            if not isinstance(listed, list):
                raise InvalidInput("`agencies` lists the slugs of the agencies taking part.")
            for slug_of_agency in listed:
                agency = agencies.get(session, str(slug_of_agency))
                joined += join(session, area=area, agency=agency, actor=actor, request_ref=request_ref)
        except sharing_gate.IdentifierFound as found:
            raise InvalidInput(f"{where}: {found.message}", hint=found.hint) from None
        except (InvalidInput, NotFound, Conflict) as error:
            raise InvalidInput(f"{where}: {error.message}", hint=error.hint) from None
        if changed and not new:
            updated += 1
    overseers = 0
    listed_overseers = data.get("overseers") or {}
    if not isinstance(listed_overseers, dict):
        raise InvalidInput("`overseers:` maps Slack user IDs to a region, or to `national`.")
    for user, scope in listed_overseers.items():
        if not isinstance(user, str) or not agencies.USER_ID.fullmatch(user):
            raise InvalidInput(f"`{echo(user)}` under `overseers:` is not a Slack user ID.")
        scopes = scope if isinstance(scope, list) else [scope]
        for one in scopes:
            overseers += add_overseer(
                session, user=user, scope=parse_scope(str(one)), actor=actor, request_ref=request_ref
            )
    return AreaImport(added, updated, joined, overseers)
