"""The sharing log: every disclosure of a case's information, to whom, and under which purpose and
lawful basis (a key of the configured list, never a sentence made up at the time)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Agency, Case, Crisis, Disclosure, Page, SharingRecord, Update

# What a page or its e-mail copy carried.
PAGE_WITH_SUMMARY = "crisis-summary"
PAGE_NOTICE_ONLY = "crisis-notice"
# A transfer offer shows the receiving hub the case's reference and facts, not its content.
TRANSFER_OFFER = "transfer-offer"


def _add(
    session: Session,
    *,
    case: Case,
    disclosure: Disclosure,
    basis: str,
    shared_by: str,
    kind: str,
    reason: str,
    update_id: int | None = None,
    crisis_id: int | None = None,
    from_agency_id: int | None = None,
    to_agency_id: int | None = None,
    to_user: str | None = None,
) -> None:
    session.add(
        SharingRecord(
            case_id=case.id,
            disclosure=disclosure.value,
            basis=basis,
            shared_by=shared_by,
            kind=kind,
            reason=reason[:300],
            update_id=update_id,
            crisis_id=crisis_id,
            from_agency_id=from_agency_id,
            to_agency_id=to_agency_id,
            to_user=to_user,
        )
    )


def update_shared(
    session: Session, case: Case, update: Update, *, disclosure: Disclosure, shared_by: str, basis: str
) -> None:
    """An update filed or corrected: every other participating agency, or the lead alone."""
    what = "corrected" if disclosure is Disclosure.CORRECTION else "filed"
    why = f"{update.agency.name} {what} a {update.kind.value} update on case {case.reference}"
    if update.restricted:
        recipients: list[tuple[Agency | None, str | None]] = [(None, case.lead_user_id)]
        why += " (restricted: the lead coordinator only)"
    else:
        recipients = [(agency, None) for agency in case.agencies if agency.id != update.agency_id]
    for agency, user in recipients:
        _add(
            session,
            case=case,
            disclosure=disclosure,
            basis=basis,
            shared_by=shared_by,
            kind=update.kind.value,
            reason=why,
            update_id=update.id,
            from_agency_id=update.agency_id,
            to_agency_id=agency.id if agency else None,
            to_user=user,
        )


def earlier_updates(session: Session, case: Case, agency: Agency, *, actor: str, basis: str) -> int:
    """An agency added to a case sees the channel's history: its earlier unrestricted updates.

    Slack shows a private channel's whole history to whoever joins it, so these are disclosed
    by the lead's decision to add the agency, and recorded as such. Restricted updates are not:
    the channel only ever held their notice.
    """
    earlier = session.scalars(
        select(Update)
        .where(Update.case_id == case.id, Update.agency_id != agency.id, Update.restricted.is_(False))
        .order_by(Update.id)
    )
    count = 0
    for update in earlier:
        _add(
            session,
            case=case,
            disclosure=Disclosure.EARLIER_UPDATE,
            basis=basis,
            shared_by=actor,
            kind=update.kind.value,
            reason=f"{agency.name} joined case {case.reference} and sees the channel's earlier updates",
            update_id=update.id,
            from_agency_id=update.agency_id,
            to_agency_id=agency.id,
        )
        count += 1
    return count


def page_sent(
    session: Session,
    case: Case,
    crisis: Crisis,
    page: Page,
    *,
    with_summary: bool,
    by_email: bool = False,
    basis: str,
) -> None:
    """A crisis page (or its e-mail copy) to one person: what it carried."""
    disclosure = Disclosure.CRISIS_EMAIL if by_email else Disclosure.CRISIS_PAGE
    carried = "the summary" if with_summary else "the reference and the emergency notice only"
    channel = "e-mail copy of the page" if by_email else "page"
    _add(
        session,
        case=case,
        disclosure=disclosure,
        basis=basis,
        shared_by=crisis.raised_by,
        kind=PAGE_WITH_SUMMARY if with_summary else PAGE_NOTICE_ONLY,
        reason=f"crisis on case {case.reference}: {channel} (level {page.level}) with {carried}",
        crisis_id=crisis.id,
        to_agency_id=page.agency_id,
        to_user=page.user_id,
    )


def handed_over(
    session: Session,
    case: Case,
    agency: Agency,
    *,
    predecessor: str,
    successor: str,
    actor: str,
    lead: bool,
    basis: str,
) -> None:
    """A successor takes over someone's part in a case and receives its information."""
    role = "lead coordination and role" if lead else "role"
    _add(
        session,
        case=case,
        disclosure=Disclosure.HANDOVER,
        basis=basis,
        shared_by=actor,
        kind="case",
        reason=f"hand-over of {predecessor}'s {role} in {agency.name} on case {case.reference}",
        from_agency_id=agency.id,
        to_agency_id=agency.id,
        to_user=successor,
    )


def exported(session: Session, case: Case, *, lead: str, purpose: str, number: int, basis: str) -> None:
    """An export of the case (a PDF and a JSON file) sent to the lead who asked for it, by direct
    message: it leaves the case channel, so it is a disclosure like any other."""
    _add(
        session,
        case=case,
        disclosure=Disclosure.EXPORT,
        basis=basis,
        shared_by=lead,
        kind=purpose,
        reason=f"export {number} of case {case.reference} for {purpose}, sent to the lead coordinator "
        "by direct message",
        to_user=lead,
    )


def log(session: Session, case: Case) -> list[SharingRecord]:
    return list(
        session.scalars(
            select(SharingRecord).where(SharingRecord.case_id == case.id).order_by(SharingRecord.id)
        )
    )


def referral_accepted(
    session: Session,
    case: Case,
    agency: Agency,
    *,
    referral_label: str,
    from_agency_id: int,
    shared_by: str,
    basis: str,
) -> None:
    """A referral accepted: its concern, as the new case's summary, reaches an agency of the case."""
    _add(
        session,
        case=case,
        disclosure=Disclosure.REFERRAL,
        basis=basis,
        shared_by=shared_by,
        kind="referral",
        reason=f"referral {referral_label} accepted as case {case.reference}",
        from_agency_id=from_agency_id,
        to_agency_id=agency.id,
    )
