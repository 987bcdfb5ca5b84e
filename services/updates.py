"""Agency updates: filing, correcting, who may see them, and the sharing log."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import (
    Agency,
    Case,
    Disclosure,
    Membership,
    Risk,
    Role,
    SharingRecord,
    Update,
    UpdateCorrection,
    UpdateKind,
    UpdateRevision,
    clock,
    utcnow,
)
from services import audit, cases, inputs, locks, sharing, sharing_gate
from services.errors import Conflict, InvalidInput, NotAllowed, NotFound

LIMITS = {"observed": 3000, "protective_factors": 1500, "concerns": 1500, "asks": 1500}
TEXT_FIELDS = tuple(LIMITS)
# An update reports a recent contact: from this many years back to today.
CONTACT_YEARS_BACK = 1


@dataclass(frozen=True)
class UpdateDraft:
    agency_slug: str | None
    contact_date: date
    kind: UpdateKind
    observed: str
    risk: Risk | None = None
    protective_factors: str | None = None
    concerns: str | None = None
    asks: str | None = None
    restricted: bool = False
    # The findings of the identifier check the filer confirmed, one by one (`sharing_gate.key`).
    confirmed: frozenset[str] = frozenset()

    def texts(self) -> dict[str, str | None]:
        return {name: getattr(self, name) for name in TEXT_FIELDS}


def check_draft(draft: UpdateDraft, *, today: date | None = None) -> None:
    """Checks that need no database; each error names its form field."""
    today = today or clock.today()
    if draft.contact_date > today:
        raise InvalidInput(
            f"{draft.contact_date.isoformat()} is in the future; give the date of the contact.",
            field="contact_date",
        )
    earliest = inputs.years_from(today, -CONTACT_YEARS_BACK)
    if draft.contact_date < earliest:
        raise InvalidInput(
            f"{draft.contact_date.isoformat()} is too long ago: an update reports a recent contact, "
            f"from {earliest.isoformat()} on.",
            field="contact_date",
        )
    if len((draft.observed or "").strip()) < 3:
        raise InvalidInput("Say what was observed or done.", field="observed")
    for name, limit in LIMITS.items():
        text = getattr(draft, name) or ""
        if len(text) > limit:
            raise InvalidInput(f"This is {len(text)} characters; the limit is {limit}.", field=name)
    sharing_gate.check(draft.texts(), draft.confirmed, form="`/update` without text")


def filing_agencies(session: Session, case: Case, user_id: str) -> list[Membership]:
    """The participating agencies a person may file for; refuses observers and outsiders."""
    roles = cases.require_worker(session, case, user_id, "file updates")
    if not roles:
        # The lead files for their own (hub) agency even when it is not a listed partner.
        roles = [m for m in _memberships(session, user_id) if m.role is Role.COORDINATOR]
    return roles


def _memberships(session: Session, user_id: str) -> list[Membership]:
    return list(session.scalars(select(Membership).where(Membership.user_id == user_id)))


def choose_agency(session: Session, case: Case, user_id: str, slug: str | None) -> Membership:
    roles = filing_agencies(session, case, user_id)
    if not roles:
        raise NotAllowed("You hold no role that files updates.", hint="Ask an admin for a role in an agency.")
    if slug is None:
        if len(roles) > 1:
            raise InvalidInput(
                "You are in several agencies on this case; choose which one this update is from.",
                hint="Use `/update` without text to pick the agency in the form.",
                field="agency",
            )
        return roles[0]
    for membership in roles:
        if membership.agency.slug == slug:
            return membership
    raise InvalidInput(f"You cannot file for `{slug}` on this case.", field="agency")


def file(
    session: Session,
    *,
    case: Case,
    draft: UpdateDraft,
    filer: str,
    filed_via: str,
    request_ref: str,
    basis: str,
) -> tuple[Update, bool]:
    """Store an update and log with whom it is shared; returns (update, created).

    The same delivery again (the same `filed_via`), even at the same moment, finds the first.
    """
    locks.hold(session, case)
    existing = session.scalar(select(Update).where(Update.filed_via == filed_via))
    if existing is not None:
        return existing, False
    cases.require_open(case)
    check_draft(draft)
    membership = choose_agency(session, case, filer, draft.agency_slug)
    update = Update(
        case_id=case.id,
        agency=membership.agency,
        filer=filer,
        filer_role=membership.role.value,
        contact_date=draft.contact_date,
        kind=draft.kind,
        observed=draft.observed.strip(),
        risk=draft.risk,
        protective_factors=_clean(draft.protective_factors),
        concerns=_clean(draft.concerns),
        asks=_clean(draft.asks),
        restricted=draft.restricted,
        filed_via=filed_via,
    )
    session.add(update)
    session.flush()
    sharing.update_shared(session, case, update, disclosure=Disclosure.UPDATE, shared_by=filer, basis=basis)
    audit.record(
        session,
        actor=filer,
        action="update.filed",
        request_ref=request_ref,
        case=case,
        agency=membership.agency,
        update=update.id,
        kind=update.kind.value,
        risk=update.risk.value if update.risk else None,
        restricted=update.restricted,
    )
    sharing_gate.admit(
        session, draft.texts(), draft.confirmed, actor=filer, request_ref=request_ref, case=case
    )
    return update, True


def _clean(text: str | None) -> str | None:
    return (text or "").strip() or None


def get(session: Session, update_id: int) -> Update:
    update = session.get(Update, update_id)
    if update is None:
        raise NotFound("That update no longer exists.")
    return update


def in_case(session: Session, case: Case, update_id: int) -> Update:
    """The update a form names, which must be one of the case the form is about."""
    update = session.get(Update, update_id)
    if update is None or update.case_id != case.id:
        raise NotFound(f"Case {case.reference} has no such update.")
    return update


def require_may_correct(
    session: Session, case: Case, update: Update, user_id: str, window_minutes: int
) -> None:
    """The filer, within the window, while they still work on the case."""
    require_may_rectify(session, case, update, user_id)
    check_editable(update, user_id, window_minutes)


def require_may_rectify(session: Session, case: Case, update: Update, user_id: str) -> None:
    """The filer, while they still work on the open case (after the window, with the lead's approval)."""
    if update.case_id != case.id:
        raise NotFound(f"Case {case.reference} has no such update.")
    cases.require_open(case)
    if update.filer != user_id:
        raise NotAllowed("Only the person who filed an update may correct it.")
    cases.require_worker(session, case, user_id, "correct updates")


def within_window(update: Update, window_minutes: int, now: datetime | None = None) -> bool:
    return (now or utcnow()) - update.created_at <= timedelta(minutes=window_minutes)


def check_editable(update: Update, user_id: str, window_minutes: int, now: datetime | None = None) -> None:
    if update.filer != user_id:
        raise NotAllowed("Only the person who filed an update may correct it.")
    now = now or utcnow()
    if now - update.created_at > timedelta(minutes=window_minutes):
        raise NotAllowed(
            f"Updates can be corrected for {window_minutes} minutes after filing.",
            hint="File a new update that sets the record straight; both stay in the history.",
        )


def correct(
    session: Session,
    *,
    update: Update,
    case: Case,
    draft: UpdateDraft,
    editor: str,
    window_minutes: int,
    request_ref: str,
    basis: str,
) -> None:
    """Correct an update; the corrected content is shared again, and recorded as such.

    Restricting it here takes it back from partners' view: its channel message becomes the
    restricted notice (flows/update_posting.refresh).
    """
    # Corrections take turns, so that each keeps as the earlier version what the last one saved.
    locks.hold(session, case)
    require_may_correct(session, case, update, editor, window_minutes)
    check_draft(draft)
    _apply(session, update, case, _draft_content(draft), editor=editor, request_ref=request_ref, basis=basis)
    sharing_gate.admit(
        session, draft.texts(), draft.confirmed, actor=editor, request_ref=request_ref, case=case
    )


def _apply(
    session: Session,
    update: Update,
    case: Case,
    content: dict[str, object],
    *,
    editor: str,
    request_ref: str,
    basis: str,
    approved_by: str | None = None,
) -> None:
    """The update takes `content`; what it said before is kept as a revision, and the corrected
    content is shared again."""
    now = utcnow()
    session.add(UpdateRevision(update=update, replaced_by=editor, content=_content(update), replaced_at=now))
    newly_restricted = bool(content["restricted"]) and not update.restricted
    update.contact_date = date.fromisoformat(str(content["contact_date"]))
    update.kind = UpdateKind(str(content["kind"]))
    update.observed = str(content["observed"])
    update.risk = Risk(str(content["risk"])) if content["risk"] else None
    update.protective_factors = _optional(content["protective_factors"])
    update.concerns, update.asks = _optional(content["concerns"]), _optional(content["asks"])
    update.restricted = bool(content["restricted"])
    update.edited_at = now
    sharing.update_shared(
        session, case, update, disclosure=Disclosure.CORRECTION, shared_by=editor, basis=basis
    )
    audit.record(
        session,
        actor=approved_by or editor,
        action="update.corrected",
        request_ref=request_ref,
        case=case,
        update=update.id,
        restricted=update.restricted,
        newly_restricted=newly_restricted,
        filer=editor,
        approved_by=approved_by,
    )


def _optional(value: object) -> str | None:
    return None if value is None else str(value)


def _draft_content(draft: UpdateDraft) -> dict[str, object]:
    return {
        "contact_date": draft.contact_date.isoformat(),
        "kind": draft.kind.value,
        "observed": draft.observed.strip(),
        "risk": draft.risk.value if draft.risk else None,
        "protective_factors": _clean(draft.protective_factors),
        "concerns": _clean(draft.concerns),
        "asks": _clean(draft.asks),
        "restricted": draft.restricted,
    }


# ---- rectification: after the window, a correction the lead approves ----------------------------
REASON_MAX = 500


def propose_correction(
    session: Session,
    *,
    update: Update,
    case: Case,
    draft: UpdateDraft,
    proposer: str,
    reason: str,
    proposed_via: str,
    request_ref: str,
) -> UpdateCorrection:
    """Ask the lead to approve a correction of an update past its edit window; nothing changes
    in the update until they do. A repeated submission finds the first request."""
    locks.hold(session, case)
    earlier = session.scalar(select(UpdateCorrection).where(UpdateCorrection.proposed_via == proposed_via))
    if earlier is not None:
        return earlier
    require_may_rectify(session, case, update, proposer)
    check_draft(draft)
    reason = check_reason(reason, draft.confirmed)
    require_none_pending(session, update)
    correction = UpdateCorrection(
        update_id=update.id,
        case_id=case.id,
        proposed_by=proposer,
        proposed_via=proposed_via,
        reason=reason,
        content=_draft_content(draft),
    )
    session.add(correction)
    session.flush()
    audit.record(
        session,
        actor=proposer,
        action="update.correction_asked",
        request_ref=request_ref,
        case=case,
        update=update.id,
        correction=correction.id,
    )
    sharing_gate.admit(
        session, draft.texts(), draft.confirmed, actor=proposer, request_ref=request_ref, case=case
    )
    return correction


def require_none_pending(session: Session, update: Update, *, unless_via: str | None = None) -> None:
    """One correction waits for the lead at a time, so that each is decided on what it replaces
    (`unless_via`: the request that asked for the one waiting, delivered again)."""
    pending = session.scalar(
        select(UpdateCorrection).where(
            UpdateCorrection.update_id == update.id, UpdateCorrection.state == "pending"
        )
    )
    if pending is not None and pending.proposed_via != unless_via:
        raise Conflict(
            f"A correction of this update has waited for the lead since {pending.proposed_at:%Y-%m-%d}.",
            hint="The lead approves or refuses it first; then you may ask again.",
        )


def check_reason(reason: str | None, confirmed: Collection[str] = ()) -> str:
    reason = " ".join((reason or "").split())
    if len(reason) < 5:
        raise InvalidInput("Say why the update needs correcting.", field="correction_reason")
    if len(reason) > REASON_MAX:
        raise InvalidInput(f"Keep the reason under {REASON_MAX} characters.", field="correction_reason")
    sharing_gate.check({"correction_reason": reason}, confirmed)
    return reason


def decide_correction(
    session: Session, *, correction_id: int, approve: bool, lead: str, request_ref: str, basis: str
) -> tuple[UpdateCorrection, bool]:
    """The lead's decision; returns the correction and whether this call decided it (a repeated
    click finds it decided and changes nothing)."""
    correction = session.get(UpdateCorrection, correction_id)
    if correction is None:
        raise NotFound("That correction no longer exists.")
    case = session.get_one(Case, correction.case_id)
    locks.hold(session, case)
    if correction.state != "pending":
        return correction, False
    cases.require_open(case)
    cases.require_lead(case, lead, "approve corrections of updates")
    update = session.get_one(Update, correction.update_id)
    correction.state = "approved" if approve else "refused"
    correction.decided_by, correction.decided_at = lead, utcnow()
    if approve:
        _apply(
            session,
            update,
            case,
            correction.content,
            editor=correction.proposed_by,
            request_ref=request_ref,
            basis=basis,
            approved_by=lead,
        )
        correction.decided_at = update.edited_at  # the timeline finds the approval by it
    else:
        audit.record(
            session,
            actor=lead,
            action="update.correction_refused",
            request_ref=request_ref,
            case=case,
            update=update.id,
            correction=correction.id,
        )
    return correction, True


def _content(update: Update) -> dict[str, object]:
    return {
        "contact_date": update.contact_date.isoformat(),
        "kind": update.kind.value,
        "observed": update.observed,
        "risk": update.risk.value if update.risk else None,
        "protective_factors": update.protective_factors,
        "concerns": update.concerns,
        "asks": update.asks,
        "restricted": update.restricted,
    }


def can_see_in_full(session: Session, case: Case, update: Update, viewer: str) -> bool:
    """Need to know: restricted updates are for the lead and the filing agency only."""
    if not update.restricted:
        return True
    if viewer == case.lead_user_id:
        return True
    return any(m.agency_id == update.agency_id for m in _memberships(session, viewer))


@dataclass(frozen=True)
class AgencyPicture:
    agency: Agency
    risk: Risk | None
    last_update: datetime | None


def pictures(session: Session, cases_: list[Case]) -> dict[int, list[AgencyPicture]]:
    """Each participating agency's latest risk and last update (restricted ones count too),
    for many cases in two queries."""
    ids = [c.id for c in cases_]
    last = {
        (case_id, agency_id): at
        for case_id, agency_id, at in session.execute(
            select(Update.case_id, Update.agency_id, func.max(Update.created_at))
            .where(Update.case_id.in_(ids))
            .group_by(Update.case_id, Update.agency_id)
        )
    }
    risks: dict[tuple[int, int], Risk] = {}
    for case_id, agency_id, risk in session.execute(
        select(Update.case_id, Update.agency_id, Update.risk)
        .where(Update.case_id.in_(ids), Update.risk.is_not(None))
        .order_by(Update.created_at, Update.id)
    ):
        assert risk is not None  # the query leaves out updates without a risk
        risks[(case_id, agency_id)] = risk
    return {
        c.id: [AgencyPicture(a, risks.get((c.id, a.id)), last.get((c.id, a.id))) for a in c.agencies]
        for c in cases_
    }


def picture(session: Session, case: Case) -> list[AgencyPicture]:
    return pictures(session, [case])[case.id]


def sharing_log(session: Session, case: Case) -> list[SharingRecord]:
    return sharing.log(session, case)
