"""The agency registry and people's roles in agencies."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from models import Agency, AgencyKind, Area, AreaAgency, Membership, Role
from services import audit, locks, sharing_gate
from services.errors import Conflict, InvalidInput, NotAllowed, NotFound
from services.inputs import echo

_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{1,31}$")
# Slack user IDs: U (or W, in Enterprise Grid) then capital letters and digits.
USER_ID = re.compile(r"[UW][A-Z0-9]{2,31}")
# What an entry of an imported registry may say; anything else is a typo that would be ignored.
ENTRY_KEYS = ("slug", "name", "kind", "timezone", "members")
KIND_ALIASES = {kind.value.replace("-", ""): kind for kind in AgencyKind} | {
    "school": AgencyKind.EDUCATION,
    "socialcare": AgencyKind.SOCIAL_CARE,
    "la": AgencyKind.LOCAL_AUTHORITY,
}


def member_ids(agency: Agency) -> set[str]:
    """The Slack users with a role in the agency."""
    return {membership.user_id for membership in agency.memberships}


def require_admin(actor: str, admins: Collection[str]) -> None:
    """The agency registry (agencies, their members, their time zones) is changed by casehub
    admins alone: the people named in CASEHUB_ADMINS."""
    if actor not in admins:
        raise NotAllowed(
            "Only casehub admins may change the agency registry.",
            hint="Admins are listed in the CASEHUB_ADMINS setting; ask one of them.",
        )


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


def check_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > 120:
        raise InvalidInput("The display name must be 1-120 characters.")
    # An agency's name is shown on every case it takes part in.
    sharing_gate.check({"name": name})
    return name


def check_timezone(timezone: str) -> str:
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise InvalidInput(
            f"`{timezone}` is not a time zone.",
            hint="Use an IANA name such as Europe/London or Europe/Paris.",
        ) from None
    return timezone


def add(session: Session, *, slug: str, name: str, kind: AgencyKind, actor: str, request_ref: str) -> Agency:
    check_slug(slug)
    name = check_name(name)
    taken = Conflict(f"Agency `{slug}` exists already.", hint="`/agency list` shows the registry.")
    if session.scalar(select(Agency.id).where(Agency.slug == slug)) is not None:
        raise taken
    agency = Agency(slug=slug, name=name, kind=kind)
    try:
        with session.begin_nested():
            session.add(agency)
    except IntegrityError:  # registered by someone else at the same moment
        raise taken from None
    # A deployment with a single area (a single partnership) has every agency take part in it.
    only = session.scalars(select(Area.id).limit(2)).all()
    if len(only) == 1:
        session.add(AreaAgency(area_id=only[0], agency_id=agency.id))
    audit.record(
        session,
        actor=actor,
        action="agency.added",
        request_ref=request_ref,
        agency=agency,
        slug=slug,
        name=name,
        kind=kind.value,
        area=only[0] if len(only) == 1 else None,
    )
    return agency


def update(
    session: Session, *, agency: Agency, name: str, kind: AgencyKind, actor: str, request_ref: str
) -> bool:
    """Rename an agency or change its kind; False when it already has this name and kind."""
    name = check_name(name)
    if (agency.name, agency.kind) == (name, kind):
        return False
    previous_name, previous_kind = agency.name, agency.kind
    agency.name, agency.kind = name, kind
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="agency.updated",
        request_ref=request_ref,
        agency=agency,
        name=name,
        kind=kind.value,
        previous_name=previous_name,
        previous_kind=previous_kind.value,
    )
    return True


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
    check_timezone(timezone)
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


@dataclass(frozen=True)
class ImportSummary:
    added: int
    updated: int
    roles_set: int


@dataclass(frozen=True)
class RegistryEntry:
    """One agency of an imported registry, read and checked before any of it is stored."""

    slug: str
    name: str
    kind: AgencyKind | None
    timezone: str | None
    members: dict[str, Role]


def import_registry(session: Session, data: object, *, actor: str, request_ref: str) -> ImportSummary:
    """Create agencies, update the name, kind and time zone of those that exist, and set the
    roles of the members listed, from a parsed YAML document; safe to repeat. Refused as a
    whole on the first mistake (the caller's transaction then stores nothing)."""
    entries = data.get("agencies") if isinstance(data, dict) else None
    if isinstance(data, dict) and entries is None and ("areas" in data or "overseers" in data):
        entries = []  # a file of areas alone (services.areas.import_areas)
    if not isinstance(entries, list):
        raise InvalidInput(
            "The file must have a top-level `agencies:` list (and may have `areas:` and `overseers:`)."
        )
    added = updated = roles_set = 0
    for index, value in enumerate(entries, start=1):
        entry = _registry_entry(value, index)
        agency = session.scalar(select(Agency).where(Agency.slug == entry.slug))
        try:
            if agency is None:
                agency = _import_new(session, entry, actor=actor, request_ref=request_ref)
                added += 1
            elif _import_changes(session, agency, entry, actor=actor, request_ref=request_ref):
                updated += 1
        except sharing_gate.IdentifierFound as found:
            raise InvalidInput(f"Entry {index} (`{entry.slug}`): {found.message}", hint=found.hint) from None
        for user_id, role in entry.members.items():
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
                roles_set += 1
    return ImportSummary(added, updated, roles_set)


def _import_new(session: Session, entry: RegistryEntry, *, actor: str, request_ref: str) -> Agency:
    kind = entry.kind or AgencyKind.OTHER
    try:
        agency = add(
            session, slug=entry.slug, name=entry.name, kind=kind, actor=actor, request_ref=request_ref
        )
    except Conflict:  # another import registered it at the same moment: this one updates it
        agency = get(session, entry.slug)
        _import_changes(session, agency, entry, actor=actor, request_ref=request_ref)
        return agency
    if entry.timezone is not None:
        set_timezone(session, agency=agency, timezone=entry.timezone, actor=actor, request_ref=request_ref)
    return agency


def _import_changes(
    session: Session, agency: Agency, entry: RegistryEntry, *, actor: str, request_ref: str
) -> bool:
    """Whether the entry changed the agency: what an entry leaves out stays as it is."""
    kind = entry.kind or agency.kind
    changed = update(session, agency=agency, name=entry.name, kind=kind, actor=actor, request_ref=request_ref)
    if entry.timezone is not None and entry.timezone != agency.timezone:
        set_timezone(session, agency=agency, timezone=entry.timezone, actor=actor, request_ref=request_ref)
        changed = True
    return changed


def _registry_entry(value: object, index: int) -> RegistryEntry:
    if not isinstance(value, dict) or "slug" not in value or "name" not in value:
        raise InvalidInput(f"Entry {index} needs at least `slug` and `name`.")
    slug = check_slug(str(value["slug"]))
    where = f"Entry {index} (`{slug}`)"
    unknown = [str(key) for key in value if key not in ENTRY_KEYS]
    if unknown:
        raise InvalidInput(
            f"{where}: `{unknown[0]}` is not a key of an agency entry.",
            hint="An entry has " + ", ".join(f"`{key}`" for key in ENTRY_KEYS) + ".",
        )
    try:
        kind = parse_kind(str(value["kind"])) if value.get("kind") is not None else None
        timezone = check_timezone(str(value["timezone"])) if value.get("timezone") else None
        members = dict(_members(value.get("members")))
    except InvalidInput as error:
        raise InvalidInput(f"{where}: {error.message}", hint=error.hint) from None
    return RegistryEntry(slug, str(value["name"]), kind, timezone, members)


def _members(value: object) -> Iterable[tuple[str, Role]]:
    if value is None:
        return
    if not isinstance(value, dict):
        raise InvalidInput("`members` maps Slack user IDs to roles.")
    for user_id, role in value.items():
        if not isinstance(user_id, str) or not USER_ID.fullmatch(user_id):
            raise InvalidInput(
                f"`{echo(user_id)}` is not a Slack user ID.",
                hint="A member ID is U or W followed by capital letters and digits, such as "
                "U0123ABCDE (in Slack: a person's profile → ⋮ → Copy member ID).",
            )
        yield user_id, parse_role(str(role))
