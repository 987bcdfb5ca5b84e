"""What the desk shows of cases, by who is looking.

A coordinator sees the cases they lead, whole: the record as a court export would have it
(restricted updates included: the lead sees them in full), the sharing log and the access log.
A data protection officer sees every case, without its content: reference, stage, dates, the
agencies' kinds, its hold and when its record is due for deletion, and who has read it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from models import AccessRecord, Case, CaseHold
from services import access, export, identity, retention
from services.cases import normalise_reference


class Viewer(Protocol):
    user_id: str
    coordinator: bool
    officer: bool


@dataclass(frozen=True)
class Listed:
    id: int
    reference: str
    stage: str
    risk: str
    opened_at: datetime
    closed_at: datetime | None
    held: bool
    purged_at: datetime | None
    yours: bool


@dataclass
class Shown:
    case_id: int
    reference: str
    stage: str
    risk: str
    lead: str
    opened_at: datetime
    closed_at: datetime | None
    agencies: list[str]
    hold: CaseHold | None
    kept_until: datetime | None
    purged_at: datetime | None
    access: Sequence[AccessRecord]
    views: dict[str, str]
    setup: str = ""  # the channel's setup: pending, ready or failed
    record: dict[str, Any] | None = None  # the bundle's sections, for the lead only
    content_withheld: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def cases_for(session: Session, viewer: Viewer) -> list[Listed]:
    query = select(Case).order_by(Case.opened_at.desc())
    if not viewer.officer:
        query = query.where(Case.lead_user_id == viewer.user_id)
    held = set(session.scalars(select(CaseHold.case_id).where(CaseHold.lifted_at.is_(None))))
    return [
        Listed(
            c.id,
            c.reference,
            c.stage.value,
            c.risk.value,
            c.opened_at,
            c.closed_at,
            c.id in held,
            c.purged_at,
            c.lead_user_id == viewer.user_id,
        )
        for c in session.scalars(query)
    ]


def case_for(
    session: Session, viewer: Viewer, reference: str, *, bases: dict[str, str], schedule: retention.Schedule
) -> Shown | None:
    """The case as this viewer may see it; None when they may not see it at all (the same
    answer whether or not the reference exists)."""
    try:
        wanted = normalise_reference(reference)
    except ValueError:
        return None
    case = session.scalar(
        select(Case).where(Case.reference == wanted).options(selectinload(Case.participations))
    )
    if case is None:
        return None
    lead = case.lead_user_id == viewer.user_id
    if not lead and not viewer.officer:
        return None
    hold = session.scalar(select(CaseHold).where(CaseHold.case_id == case.id, CaseHold.lifted_at.is_(None)))
    shown = Shown(
        case_id=case.id,
        reference=case.reference,
        stage=case.stage.value,
        risk=case.risk.value,
        lead=case.lead_user_id,
        opened_at=case.opened_at,
        closed_at=case.closed_at,
        agencies=[p.agency.name for p in case.active_participations],
        hold=hold,
        kept_until=schedule.kept_until(case),
        purged_at=case.purged_at,
        access=access.of_case(session, case),
        views=access.VIEWS,
        setup=case.setup_state.value,
    )
    if lead:
        purpose, made_by, made_at = export.Purpose.COURT, viewer.user_id, case.opened_at
        bundle = export.build(
            session, case, purpose, made_by=made_by, made_at=made_at, via_slack=False, bases=bases
        )
        shown.record = {
            "case": bundle.case,
            "chronology": bundle.chronology,
            "sharing_log": bundle.sharing_log,
        }
    else:
        shown.content_withheld = True
    return shown


def person_of(session: Session, case: Case, *, user: str, ref: str) -> dict[str, Any]:
    """For the lead: the identity of the person (the view recorded), the cases whose person may be
    the same (each shown recorded as a view of that case), and the decisions already made."""
    known = identity.show_identity(session, case, user=user, request_ref=ref)
    found = identity.candidates_for(session, case) if known is not None else []
    if found:
        identity.shown_candidates(session, user=user, found=found, request_ref=ref)
    made = identity.decisions(session, case)
    others = [d.other(case.id) for d in made]
    rows = session.execute(select(Case.id, Case.reference).where(Case.id.in_(others)))
    references = {case_id: reference for case_id, reference in rows}
    decided = [
        (references.get(d.other(case.id), "?"), d.decision.value, d.decided_at, d.decided_by) for d in made
    ]
    return {"known": known, "candidates": found, "decided": decided}
