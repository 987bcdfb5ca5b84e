"""Who may have which evaluation report, and the record each one sent leaves.

A coordinator has the reports of the areas they coordinate; a regional or national coordinator
those of the areas they oversee, of their region(s) together, or of every area. A report is sent
at most once per request (or per month, area and coordinator): the release is recorded before
anything is made, a repeated delivery finds it, and an attempt cut off after Slack took the
files asks Slack before sending them again. The audit trail records each report sent, to whom,
of what, with its files' digests: the access to the partnership's figures is accountable.

Each release keeps what it withheld and gave away, by table (positions of the year's protected
tables, `services.reports`), and `earlier` hands them to the next report of the same figures.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from models import NATIONAL, Area, Overseer, ReleaseState, ReportRelease, utcnow
from services import areas, audit, oversight, reports
from services.errors import InvalidInput, NotAllowed
from services.inputs import echo


@dataclass(frozen=True)
class Scope:
    """The figures a report covers: which areas, under which key its releases are kept, and
    how the report names them."""

    key: str
    areas: tuple[Area, ...]
    label: str


def for_area(area: Area) -> Scope:
    return Scope(f"area:{area.id}", (area,), area.slug)


def choose(session: Session, user: str, wanted: str | None) -> Scope:
    """The scope a person asks for (an area's slug, a region, `national`), or theirs when they
    have one only; refused, saying what they may ask for, otherwise."""
    coordinated = areas.coordinated_by(session, user)
    scopes = set(session.scalars(select(Overseer.scope).where(Overseer.user_id == user)))
    visible = oversight.visible_areas(session, user)
    if not visible and not scopes:
        raise oversight.nothing_to_oversee()
    if wanted is None:
        if len(coordinated) == 1 and not scopes:
            return for_area(coordinated[0])
        if not coordinated and len(scopes) == 1:
            return _overseen(session, next(iter(scopes)))
        raise InvalidInput("Say which report you want.", hint=f"Yours: {_choices(visible, scopes)}.")
    key = wanted.strip().lower()
    if key in ("national", "all", "*"):
        if NATIONAL not in scopes:
            raise NotAllowed(
                "Only national coordinators have the national report.",
                hint=f"Yours: {_choices(visible, scopes)}.",
            )
        return _overseen(session, NATIONAL)
    as_region = key.startswith("region:")
    key = key.removeprefix("region:")
    for area in [] if as_region else visible:
        if area.slug == key:
            return for_area(area)
    if key in scopes or (NATIONAL in scopes and any(a.region == key for a in visible)):
        return _overseen(session, key)
    raise NotAllowed(
        f"`{echo(wanted)}` is none of the areas or regions whose reports you have.",
        hint=f"Yours: {_choices(visible, scopes)}. A region named like an area: `region:<name>`.",
    )


def _overseen(session: Session, scope: str) -> Scope:
    query = select(Area).order_by(Area.slug)
    if scope != NATIONAL:
        query = query.where(Area.region == scope)
    chosen = tuple(session.scalars(query))
    if not chosen:
        named = "There are no areas" if scope == NATIONAL else f"The region `{scope}` has no areas"
        raise InvalidInput(
            f"{named} yet, so there is nothing to report.", hint="`/area list` shows the areas."
        )
    if scope == NATIONAL:
        return Scope("national", chosen, f"every area ({len(chosen)})")
    return Scope(f"region:{scope}", chosen, f"region {scope} ({len(chosen)} areas)")


def _choices(visible: list[Area], scopes: set[str]) -> str:
    slugs = {a.slug for a in visible}
    named = [f"`{a.slug}`" for a in visible]
    named += [
        "`national`" if s == NATIONAL else f"`region:{s}`" if s in slugs else f"`{s}`" for s in sorted(scopes)
    ]
    return ", ".join(dict.fromkeys(named))


def earlier(session: Session, scope_key: str, year: int) -> reports.Earlier:
    """What the reports of these figures already sent (or begun, or refused: their files may
    have arrived all the same) for the year withheld and gave away."""
    withheld: dict[str, set[reports.Place]] = {}
    known: dict[str, set[reports.Place]] = {}
    rows = session.execute(
        select(ReportRelease.withheld, ReportRelease.known).where(
            ReportRelease.scope_key == scope_key, ReportRelease.year == year
        )
    )
    for kept_withheld, kept_known in rows:
        _gather(withheld, kept_withheld)
        _gather(known, kept_known)
    return {
        title: (
            frozenset(withheld.get(title, set())),
            frozenset(known.get(title, set()) - withheld.get(title, set())),
        )
        for title in set(withheld) | set(known)
    }


def _gather(into: dict[str, set[reports.Place]], kept: Any) -> None:
    for title, places in (kept or {}).items():
        into.setdefault(title, set()).update((str(row), str(column)) for row, column in places)


def given_away(report: reports.Report) -> tuple[dict[str, list[list[str]]], dict[str, list[list[str]]]]:
    """What the report withholds and gives away (its tables and its trend chart), by table, as
    JSON for its release: the places of the year's tables, by their rows' and columns' labels."""
    withheld: dict[str, list[list[str]]] = {}
    known: dict[str, list[list[str]]] = {}
    for title, (hidden, shown) in reports.given_away(report).items():
        withheld[title] = sorted([row, column] for row, column in hidden)
        known[title] = sorted([row, column] for row, column in shown)
    return withheld, known


def begin(
    session: Session,
    scope: Scope,
    period: reports.Period,
    *,
    user: str,
    request_ref: str,
    monthly: bool = False,
) -> tuple[ReportRelease, bool]:
    """The release this request asked for, recorded now or found; returns (release, made now)."""
    existing = session.scalar(select(ReportRelease).where(ReportRelease.requested_via == request_ref))
    if existing is not None:
        return existing, False
    release = ReportRelease(
        scope_key=scope.key,
        scope=scope.label[:200],
        period=period.label,
        year=period.start.year,
        monthly=monthly,
        requested_by=user,
        requested_via=request_ref,
        state=ReleaseState.SENDING.value,
        claimed_at=utcnow(),
    )
    try:
        with session.begin_nested():
            session.add(release)
            session.flush()
    except IntegrityError:  # the same request, delivered twice at the same moment
        found = session.scalars(select(ReportRelease).where(ReportRelease.requested_via == request_ref)).one()
        return found, False
    return release, True


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sending(release: ReportRelease, report: reports.Report, *, pdf: bytes, csv: bytes, now: datetime) -> None:
    """An upload begins: its files' digests, and what the report gives away (kept from now on,
    so that a report made while this one is under way is protected with it)."""
    release.state, release.claimed_at = ReleaseState.SENDING.value, now
    release.pdf_sha256, release.csv_sha256 = digest(pdf), digest(csv)
    release.withheld, release.known = given_away(report)


def sent(
    session: Session, release: ReportRelease, *, channel: str, file_ids: list[str], now: datetime
) -> bool:
    """The files are in the person's direct messages: audited, once. False when another
    attempt recorded it first."""
    if release.state == ReleaseState.SENT.value:
        return False
    release.state, release.done_at, release.last_error = ReleaseState.SENT.value, now, None
    release.channel, release.file_ids = channel, file_ids
    audit.record(
        session,
        actor=release.requested_by,
        action="report.sent",
        request_ref=release.requested_via,
        release=release.id,
        scope=release.scope_key,
        period=release.period,
        monthly=release.monthly,
        files=file_ids,
        pdf_sha256=release.pdf_sha256,
        csv_sha256=release.csv_sha256,
    )
    return True


def failed(release: ReportRelease, *, error_kind: str, now: datetime) -> None:
    """Slack refused it: the kind of failure is kept (never its text). What it would have given
    away is kept too: a refusal whose files arrived all the same cannot be told from one whose
    files did not, and withholding a little more later costs nothing."""
    release.state, release.done_at, release.last_error = ReleaseState.FAILED.value, now, error_kind[:200]
