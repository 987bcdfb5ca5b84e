"""The access log: every view of a case's content, and who may read it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import AccessRecord, Case
from services import cases
from services.errors import NotAllowed

# What a person was shown, in the words the access log uses.
VIEWS = {
    "status": "the case card",
    "timeline": "the timeline",
    "sharing": "the sharing log",
    "home": "the case on their Home tab",
    "access": "the access log",
    "actions": "its actions in an action list",
    "cases": "the case in their case list",
    "crisis": "the crisis status",
    "export": "an export of the case (PDF and JSON)",
    "desk-case": "the case's record on the desk",
    "desk-cases": "the case in their case list on the desk",
    "identity": "the person's identity, on the record desk",
    "candidate": "the person's identity, as a possible repeat referral",
    "area-cases": "the case's reference, in an area's list for its overseers",
}
SHOWN = 50


def viewed(session: Session, *, user: str, case_ids: Iterable[int], view: str, request_ref: str) -> None:
    """Record that `user` was shown `view` of these cases; a retried request records nothing more."""
    if view not in VIEWS:
        raise ValueError(f"unknown view {view!r}")
    wanted = set(case_ids)
    if not wanted:
        return
    already = set(
        session.scalars(
            select(AccessRecord.case_id).where(
                AccessRecord.request_ref == request_ref,
                AccessRecord.view == view,
                AccessRecord.case_id.in_(wanted),
            )
        )
    )
    for case_id in sorted(wanted - already):
        session.add(AccessRecord(user_id=user, case_id=case_id, view=view, request_ref=request_ref))


def of_case(session: Session, case: Case, *, limit: int = SHOWN) -> Sequence[AccessRecord]:
    """The newest views of a case first."""
    return session.scalars(
        select(AccessRecord)
        .where(AccessRecord.case_id == case.id)
        .order_by(AccessRecord.at.desc(), AccessRecord.id.desc())
        .limit(limit)
    ).all()


def require_may_read(case: Case, user: str, officers: Sequence[str]) -> None:
    """The lead coordinator reads their case's access log; a data protection officer, any's."""
    if user in officers:
        return
    if user != case.lead_user_id:
        raise NotAllowed(
            "Only the lead coordinator of the case, or a data protection officer, may see who has read it.",
            hint="Ask the lead, or your data protection officer.",
        )
    cases.require_lead(case, user, "see who has read the case")
