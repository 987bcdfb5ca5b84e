"""Who may export a case, and the record each export leaves: its row in `exports`, the access
log's entry, and once it has gone out the audit trail's entry (with the digests of its files)
and, for one sent through Slack, the sharing log's."""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from models import Case, Export, ExportState, utcnow
from services import access, areas, audit, cases, locks, sharing
from services.errors import NotAllowed
from services.export import Purpose

ONLY_THE_LEAD = "Only the lead coordinator of a case may export it."


def case_to_export(session: Session, user: str, *, reference: str | None, channel: str) -> Case:
    """The case a lead asks to export: by its reference, or the case of the channel.

    Someone who leads no case (a member, an admin, a data protection officer, who administers
    the record without seeing its content) is refused before any reference is looked up; a
    coordinator naming a case finds only the cases they lead, so nobody learns which others exist.
    """
    if not areas.is_coordinator(session, user):
        raise NotAllowed(ONLY_THE_LEAD, hint="Ask the case's lead coordinator for the export.")
    if reference:
        case = session.scalar(
            select(Case).where(
                Case.reference == cases.normalise_reference(reference), Case.lead_user_id == user
            )
        )
        if case is None:
            raise NotAllowed(
                f"{ONLY_THE_LEAD} You lead no case `{reference}`.",
                hint="`/case list` shows the cases you lead.",
            )
    else:
        case = cases.for_channel(session, channel, "/case export")
    cases.require_lead(case, user, "export the case")
    return case


def begin(
    session: Session, case: Case, purpose: Purpose, *, user: str, request_ref: str, state: ExportState
) -> tuple[Export, bool]:
    """The export this request asked for, made now (and the view recorded in the access log,
    before anything is shown) or found; returns (export, made now)."""
    existing = session.scalar(select(Export).where(Export.requested_via == request_ref))
    if existing is not None:
        return existing, False
    export = Export(
        case_id=case.id,
        purpose=purpose.value,
        requested_by=user,
        requested_via=request_ref,
        state=state.value,
        claimed_at=utcnow(),
    )
    try:
        with session.begin_nested():
            session.add(export)
            session.flush()
    except IntegrityError:  # the same request, delivered twice at the same moment
        return session.scalars(select(Export).where(Export.requested_via == request_ref)).one(), False
    access.viewed(session, user=user, case_ids=[case.id], view="export", request_ref=request_ref)
    return export, True


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sending(session: Session, export: Export, *, pdf: bytes, data: bytes, now: datetime) -> None:
    """An upload begins: when, and which files (a later attempt that finds them in Slack records
    these)."""
    export.state, export.claimed_at = ExportState.SENDING.value, now
    export.pdf_sha256, export.json_sha256 = digest(pdf), digest(data)


def sent(
    session: Session, export: Export, *, channel: str, file_ids: list[str], basis: str, now: datetime
) -> bool:
    """The files are in the lead's direct messages: recorded as shared and audited, once.
    False when another attempt recorded it first."""
    case = session.get_one(Case, export.case_id)
    locks.hold(session, case)
    if export.state == ExportState.SENT.value:
        return False
    export.state, export.done_at, export.last_error = ExportState.SENT.value, now, None
    export.channel, export.file_ids = channel, file_ids
    sharing.exported(
        session, case, lead=export.requested_by, purpose=export.purpose, number=export.id, basis=basis
    )
    _audit(session, case, export, delivery="slack", files=file_ids)
    return True


def written(session: Session, export: Export, *, pdf: bytes, data: bytes, now: datetime) -> None:
    """The files are written on the command line: audited with their digests."""
    case = session.get_one(Case, export.case_id)
    export.state, export.done_at = ExportState.WRITTEN.value, now
    export.pdf_sha256, export.json_sha256 = digest(pdf), digest(data)
    _audit(session, case, export, delivery="file")


def failed(session: Session, export: Export, *, error_kind: str, now: datetime) -> None:
    """Nothing went out: the kind of failure is kept (never its text), nothing is recorded as shared."""
    export.state, export.done_at, export.last_error = ExportState.FAILED.value, now, error_kind[:200]


def _audit(
    session: Session, case: Case, export: Export, *, delivery: str, files: list[str] | None = None
) -> None:
    audit.record(
        session,
        actor=export.requested_by,
        action="case.exported",
        request_ref=export.requested_via,
        case=case,
        export=export.id,
        purpose=export.purpose,
        delivery=delivery,
        pdf_sha256=export.pdf_sha256,
        json_sha256=export.json_sha256,
        files=files,
    )
