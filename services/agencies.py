"""The agency registry and people's roles in agencies."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from models import Agency, AgencyKind, Membership, Role
from services import audit, locks, sharing_gate
from services.errors import Conflict, InvalidInput, NotFound

_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{1,31}$")
KIND_ALIASES = {kind.value.replace("-", ""): kind for kind in AgencyKind} | {
    "school": AgencyKind.EDUCATION,
    "socialcare": AgencyKind.SOCIAL_CARE,
    "la": AgencyKind.LOCAL_AUTHORITY,
}


def parse_kind(value: str) -> AgencyKind:
    key = value.strip().lower().replace("-", "").replace("_", "").replace(" ", "")
    if key in KIND_ALIASES:
        return KIND_ALIASES[key]
    raise InvalidInput(
        f"`{value}` is not an agency kind.",
        hint="Use one of: " + ", ".join(kind.value for kind in AgencyKind) + ".",
    )


def parse_role(value: str) -> Role:
    try:
        return Role(value.strip().lower())
    except ValueError:
        raise InvalidInput(
            f"`{value}` is not a role.", hint="Use one of: coordinator, member, observer."
        ) from None


def check_slug(slug: str) -> str:
    if not _SLUG.match(slug):
        raise InvalidInput(
            f"`{slug}` is not a valid agency slug.",
            hint="Use 2-32 lowercase letters, digits or '-', for example `met-police`.",
        )
    return slug


def chosen_slug(value: object, *, field: str) -> str:
    """An agency picked from a form's list: a slug, which the service then looks up."""
    if isinstance(value, str) and _SLUG.fullmatch(value):
        return value
    raise InvalidInput("Choose an agency from the list.", field=field)


def get(session: Session, slug: str) -> Agency:
    agency = session.scalar(select(Agency).where(Agency.slug == slug.lower()))
    if agency is None:
        raise NotFound(f"There is no agency `{slug}`.", hint="`/agency list` shows the registry.")
    return agency


def all_agencies(session: Session) -> list[Agency]:
    return list(session.scalars(select(Agency).order_by(Agency.slug)))


def add(session: Session, *, slug: str, name: str, kind: AgencyKind, actor: str, request_ref: str) -> Agency:
    check_slug(slug)
    name = name.strip()
    if not name or len(name) > 120:
        raise InvalidInput("The display name must be 1-120 characters.")
    # An agency's name is shown on every case it takes part in.
    sharing_gate.check({"name": name})
    taken = Conflict(f"Agency `{slug}` exists already.", hint="`/agency list` shows the registry.")
    if session.scalar(select(Agency.id).where(Agency.slug == slug)) is not None:
        raise taken
    agency = Agency(slug=slug, name=name, kind=kind)
    try:
        with session.begin_nested():
            session.add(agency)
    except IntegrityError:  # registered by someone else at the same moment
        raise taken from None
    audit.record(
        session,
        actor=actor,
        action="agency.added",
        request_ref=request_ref,
        agency=agency,
        slug=slug,
        name=name,
        kind=kind.value,
    )
    return agency


@dataclass(frozen=True)
class MembershipChange:
    agency: Agency
    user_id: str
    role: Role | None
    previous: Role | None


def set_member(
    session: Session, *, agency: Agency, user_id: str, role: Role, actor: str, request_ref: str
) -> MembershipChange:
    locks.hold(session, agency)  # the same person added twice at once: the second is told so
    membership = membership_of(session, agency, user_id)
    previous = membership.role if membership else None
    if previous is role:
        raise Conflict(f"<@{user_id}> is already a {role.value} of `{agency.slug}`.")
    if membership is None:
        session.add(Membership(agency=agency, user_id=user_id, role=role))
    else:
        membership.role = role
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="agency.member.set",
        request_ref=request_ref,
        agency=agency,
        user=user_id,
        role=role.value,
        previous=previous.value if previous else None,
    )
    return MembershipChange(agency, user_id, role, previous)


def remove_member(
    session: Session, *, agency: Agency, user_id: str, actor: str, request_ref: str
) -> MembershipChange:
    locks.hold(session, agency)
    membership = membership_of(session, agency, user_id)
    if membership is None:
        raise NotFound(f"<@{user_id}> is not in `{agency.slug}`.")
    previous = membership.role
    session.delete(membership)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="agency.member.removed",
        request_ref=request_ref,
        agency=agency,
        user=user_id,
        previous=previous.value,
    )
    return MembershipChange(agency, user_id, None, previous)


def set_timezone(session: Session, *, agency: Agency, timezone: str, actor: str, request_ref: str) -> Agency:
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(
            f"`{timezone}` is not a time zone.",
            hint="Use an IANA name such as Europe/London or Europe/Paris.",
        ) from None
    locks.hold(session, agency)
    previous, agency.timezone = agency.timezone, timezone
    audit.record(
        session,
        actor=actor,
        action="agency.timezone",
        request_ref=request_ref,
        agency=agency,
        timezone=timezone,
        previous=previous,
    )
    return agency


def membership_of(session: Session, agency: Agency, user_id: str) -> Membership | None:
    return session.scalar(
        select(Membership).where(Membership.agency_id == agency.id, Membership.user_id == user_id)
    )


def memberships_of(session: Session, user_id: str) -> list[Membership]:
    return list(session.scalars(select(Membership).where(Membership.user_id == user_id)))


def is_coordinator(session: Session, user_id: str) -> bool:
    return any(m.role is Role.COORDINATOR for m in memberships_of(session, user_id))


def import_registry(
    session: Session, data: dict[str, Any], *, actor: str, request_ref: str
) -> tuple[int, int]:
    """Create or update agencies and members from a parsed YAML document; safe to repeat."""
    entries = data.get("agencies") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise InvalidInput("The file must have a top-level `agencies:` list.")
    agencies_changed = members_changed = 0
    for index, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict) or "slug" not in entry or "name" not in entry:
            raise InvalidInput(f"Entry {index} needs at least `slug` and `name`.")
        slug = check_slug(str(entry["slug"]))
        kind = parse_kind(str(entry.get("kind", "other")))
        agency = session.scalar(select(Agency).where(Agency.slug == slug))
        if agency is None:
            try:
                agency = add(
                    session,
                    slug=slug,
                    name=str(entry["name"]),
                    kind=kind,
                    actor=actor,
                    request_ref=request_ref,
                )
            except sharing_gate.IdentifierFound as found:
                raise InvalidInput(f"Entry {index} (`{slug}`): {found.message}", hint=found.hint) from None
            except Conflict:  # another import registered it at the same moment
                agency = get(session, slug)
            else:
                agencies_changed += 1
        if entry.get("timezone"):
            agency.timezone = str(entry["timezone"])
        for user_id, role in _members(entry.get("members", {}), index):
            current = membership_of(session, agency, user_id)
            if current is None or current.role is not role:
                set_member(
                    session,
                    agency=agency,
                    user_id=user_id,
                    role=role,
                    actor=actor,
                    request_ref=request_ref,
                )
                members_changed += 1
    return agencies_changed, members_changed


def _members(value: object, index: int) -> Iterable[tuple[str, Role]]:
    if not isinstance(value, dict):
        raise InvalidInput(f"Entry {index}: `members` maps Slack user IDs to roles.")
    for user_id, role in value.items():
        yield str(user_id), parse_role(str(role))
