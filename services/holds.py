"""Legal holds: a data protection officer keeps a case from deletion (for an inquiry, a claim, a
subject's request) and releases it, each time with a reason, each change audited."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from blocks.kit import escape
from models import Case, CaseHold, utcnow
from services import audit, locks, sharing_gate
from services.errors import Conflict, InvalidInput, NotAllowed

REASON_MAX = 500


def require_officer(user: str, officers: Sequence[str]) -> None:
    """Checked before any case is looked up: nobody else learns which references exist."""
    if user not in officers:
        raise NotAllowed(
            "Only a data protection officer may hold or release a case.",
            hint="Ask your data protection officer (CASEHUB_DPOS lists them).",
        )


def active(session: Session, case: Case) -> CaseHold | None:
    return session.scalar(select(CaseHold).where(CaseHold.case_id == case.id, CaseHold.lifted_at.is_(None)))


def is_held(session: Session, case: Case) -> bool:
    return active(session, case) is not None


def _reason(reason: str, doing: str) -> str:
    reason = " ".join(reason.split())
    if len(reason) < 5:
        raise InvalidInput(
            f"Give the reason to {doing}.", hint="For example `inquiry by the county council, ref IR-22`."
        )
    if len(reason) > REASON_MAX:
        raise InvalidInput(f"Keep the reason under {REASON_MAX} characters.")
    sharing_gate.check({"reason": reason})
    return reason


def place(session: Session, case: Case, *, officer: str, reason: str, request_ref: str) -> CaseHold:
    reason = _reason(reason, "hold the case")
    locks.hold(session, case)
    if case.purged_at is not None:
        raise Conflict(
            f"Case {case.reference}'s record was deleted under the retention schedule on "
            f"{case.purged_at:%Y-%m-%d}: only its marker is left, and nothing to hold."
        )
    current = active(session, case)
    if current is not None:
        raise Conflict(
            f"Case {case.reference} is held already, since {current.placed_at:%Y-%m-%d} "
            f"({escape(current.reason)}).",
            hint=f"`/case release {case.reference} <reason>` releases it.",
        )
    held = CaseHold(case_id=case.id, placed_by=officer, reason=reason, placed_at=utcnow())
    session.add(held)
    audit.record(
        session, actor=officer, action="case.hold_placed", request_ref=request_ref, case=case, reason=reason
    )
    return held


def release(session: Session, case: Case, *, officer: str, reason: str, request_ref: str) -> CaseHold:
    reason = _reason(reason, "release the case")
    locks.hold(session, case)
    current = active(session, case)
    if current is None:
        raise Conflict(
            f"Case {case.reference} is not held.", hint=f"`/case hold {case.reference} <reason>` holds it."
        )
    current.lifted_at, current.lifted_by, current.lift_reason = utcnow(), officer, reason
    audit.record(
        session, actor=officer, action="case.hold_lifted", request_ref=request_ref, case=case, reason=reason
    )
    return current


def all_active(session: Session) -> list[tuple[str, CaseHold]]:
    rows = session.execute(
        select(Case.reference, CaseHold)
        .join(CaseHold, CaseHold.case_id == Case.id)
        .where(CaseHold.lifted_at.is_(None))
        .order_by(CaseHold.placed_at)
    )
    return [(reference, hold) for reference, hold in rows]
