"""The append-only audit trail: who changed what, when, and through which Slack request."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Agency, AuditEvent, Case


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    request_ref: str,
    case: Case | None = None,
    agency: Agency | None = None,
    **details: Any,
) -> AuditEvent:
    event = AuditEvent(
        actor=actor,
        action=action,
        request_ref=request_ref,
        case_id=case.id if case is not None else None,
        agency_id=agency.id if agency is not None else None,
        details=details,
    )
    session.add(event)
    return event


def trail(session: Session, *, case: Case | None = None, limit: int = 200) -> list[AuditEvent]:
    query = select(AuditEvent).order_by(AuditEvent.id)
    if case is not None:
        query = query.where(AuditEvent.case_id == case.id)
    return list(session.scalars(query.limit(limit)))
