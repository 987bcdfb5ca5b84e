"""The case's history in order, as a given person is allowed to see it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from blocks.kit import escape
from models import AuditEvent, Case, CaseAgency, Update, UpdateCorrection
from services import cases, updates

PAGE_SIZE = 15
T = TypeVar("T")


@dataclass(frozen=True)
class Entry:
    at: datetime
    kind: str  # update, restricted, edit, agency, stage, consent, closed, and what later sources add
    agency: str | None  # the agency's name, as stored
    text: str  # mrkdwn: what a person typed is escaped by the source that made the entry
    update_id: int | None = None


# Later capabilities (reviews, actions, crises) add their events here, each a function
# (session, case, viewer) -> entries, so the timeline needs no change to show them.
SOURCES: list[Callable[[Session, Case, str], list[Entry]]] = []


def history(
    session: Session, case: Case, viewer: str, *, agency_slug: str | None = None, since: date | None = None
) -> list[Entry]:
    cases.require_participant(session, case, viewer)
    entries = _updates(session, case, viewer) + _participation(session, case) + _decisions(session, case)
    for source in SOURCES:
        entries += source(session, case, viewer)
    if agency_slug:
        entries = [e for e in entries if e.agency and _slug_matches(session, case, e.agency, agency_slug)]
    if since:
        start = datetime.combine(since, time.min, tzinfo=UTC)
        entries = [e for e in entries if e.at >= start]
    return sorted(entries, key=lambda e: e.at)


def _slug_matches(session: Session, case: Case, agency_name: str, slug: str) -> bool:
    for participation in case.participations:
        if participation.agency.slug == slug:
            return participation.agency.name == agency_name
    return False


def page(entries: list[T], number: int) -> tuple[list[T], int]:
    """Page 1 is the most recent; returns the page (in time order) and the number of pages."""
    pages = max(1, -(-len(entries) // PAGE_SIZE))
    number = min(max(1, number), pages)
    end = len(entries) - (number - 1) * PAGE_SIZE
    return entries[max(0, end - PAGE_SIZE) : end], pages


def _updates(session: Session, case: Case, viewer: str) -> list[Entry]:
    out = []
    rows = session.scalars(select(Update).where(Update.case_id == case.id).order_by(Update.id))
    approved = {
        (c.update_id, c.decided_at): c.decided_by
        for c in session.scalars(
            select(UpdateCorrection).where(
                UpdateCorrection.case_id == case.id, UpdateCorrection.state == "approved"
            )
        )
    }
    for update in rows:
        risk = f" · risk {update.risk.value}" if update.risk else ""
        if updates.can_see_in_full(session, case, update, viewer):
            text = (
                f"*{update.kind.value}* (contact {update.contact_date.isoformat()}){risk}: "
                f"{escape(update.observed)}"
            )
            if update.restricted:
                text = "🔒 " + text
            out.append(Entry(update.created_at, "update", update.agency.name, text, update.id))
        else:
            out.append(
                Entry(
                    update.created_at,
                    "restricted",
                    update.agency.name,
                    f"🔒 restricted update filed{risk}",
                    update.id,
                )
            )
        for revision in update.revisions:  # every correction, the last one when it was made
            approval = approved.get((update.id, revision.replaced_at))
            said = "corrected an update" + (f", approved by <@{approval}>" if approval else "")
            out.append(Entry(revision.replaced_at, "edit", update.agency.name, said, update.id))
    return out


def _participation(session: Session, case: Case) -> list[Entry]:
    out = []
    rows = session.scalars(select(CaseAgency).where(CaseAgency.case_id == case.id))
    for row in rows:
        out.append(Entry(row.joined_at, "agency", row.agency.name, "joined the case"))
        if row.left_at:
            out.append(Entry(row.left_at, "agency", row.agency.name, "left the case"))
    return out


_DECISIONS = {"case.stage", "case.consent", "case.closed", "case.opened"}


def _decisions(session: Session, case: Case) -> list[Entry]:
    out = []
    rows = session.scalars(
        select(AuditEvent).where(AuditEvent.case_id == case.id, AuditEvent.action.in_(_DECISIONS))
    )
    for event in rows:
        details = event.details
        if event.action == "case.opened":
            text = f"case opened (risk {details.get('risk')})"
        elif event.action == "case.stage":
            text = f"stage {details.get('previous')} → {details.get('stage')}"
            if details.get("reason"):
                text += f" ({escape(details['reason'])})"
        elif event.action == "case.consent":
            text = f"consent {details.get('consent')} ({details.get('date')})"
        else:
            text = "case closed"
        out.append(Entry(event.at, event.action.split(".")[1], None, text))
    return out
