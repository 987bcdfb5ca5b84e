"""Transfers: a case handed from one area to another by a handshake with a deadline.

The sending lead offers the case with a reason; a coordinator of the receiving area accepts or
rejects it, with a reason, before the deadline (the end of the `transfer_days`-th working day of
the receiving area's calendar). Until it is accepted nothing about the case changes: the sending
area stays responsible and its lead keeps every right. Accepting moves, in one transaction under
the case's lock, the case's area, its lead and its agencies, and records what the receiving side
now sees in the sharing log. The states: offered → accepted / rejected / revoked / expired.

Consent is checked before anything moves: a case without consent on record (given, or not
required) is accepted only by someone who records that they proceed without it.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from blocks.kit import escape
from models import (
    Action,
    ActionStatus,
    Agency,
    Area,
    Case,
    CaseAgency,
    Consent,
    Disclosure,
    SharingRecord,
    Transfer,
    TransferState,
    utcnow,
)
from services import agencies, areas, audit, cases, locks, sharing, sharing_gate
from services.errors import Conflict, InvalidInput, NotAllowed, NotFound
from services.reminders import Due, Rules, TzOf, plan_review
from services.worktime import WorkingHours, at_local, close_of_working_day, local_date, zone

REASON_MAX = 1000
NOTE_MAX = 1000
USAGE = "`/case transfer <area> <reason>` in the case's channel, e.g. `/case transfer north family moved`."
# Consent on record: the only states in which a case moves without an override.
CONSENTED = (Consent.GIVEN, Consent.NOT_REQUIRED)
# The sharing log's kind for what an offer shows the receiving coordinators (the case as a
# whole, "case", is shared only on acceptance).
OFFER_KIND = sharing.TRANSFER_OFFER
BATCH = 500  # open offers a sweep looks at; the rest stay due for the next one


class Step(StrEnum):
    """What the sweep does for an open offer, in the order of its moments."""

    TWO_DAYS = "two-days"  # the receiving coordinators: two working days left
    ONE_DAY = "one-day"  # the receiving coordinators: one working day left
    DEADLINE_DAY = "deadline-day"  # the sending lead: the offer ends today
    EXPIRE = "expire"  # the deadline passed with no answer: both sides told


def has_consent(case: Case) -> bool:
    return case.consent in CONSENTED


def schedule(transfer: Transfer, hours: WorkingHours, tz: str) -> list[tuple[datetime, Step]]:
    """The moments the sweep acts on an offer, in order; reminders that would fall before the
    offer was made are left out (a one-day deadline has no "two days left")."""
    deadline_day = local_date(transfer.deadline, tz)
    moments = [
        (at_local(hours.add_working_days(deadline_day, -2), hours.start, tz), Step.TWO_DAYS),
        (at_local(hours.add_working_days(deadline_day, -1), hours.start, tz), Step.ONE_DAY),
        (at_local(deadline_day, hours.start, tz), Step.DEADLINE_DAY),
    ]
    kept = [(moment, step) for moment, step in moments if moment > transfer.offered_at]
    return [*kept, (transfer.deadline, Step.EXPIRE)]


def plan(transfer: Transfer, hours: WorkingHours, tz: str, now: datetime) -> None:
    """When the sweep next has something to do about an open offer."""
    if transfer.state is not TransferState.OFFERED:
        transfer.nudge_at = None
        return
    ahead = [moment for moment, _ in schedule(transfer, hours, tz) if moment > now]
    transfer.nudge_at = ahead[0] if ahead else transfer.deadline


# Looking offers up.


def open_offer(session: Session, case_id: int) -> Transfer | None:
    return session.scalar(
        select(Transfer).where(Transfer.case_id == case_id, Transfer.state == TransferState.OFFERED)
    )


def latest(session: Session, case_id: int) -> Transfer:
    """The case's most recent offer, whatever became of it."""
    transfer = session.scalar(
        select(Transfer).where(Transfer.case_id == case_id).order_by(Transfer.id.desc()).limit(1)
    )
    if transfer is None:
        raise NotFound("This case has never been offered to another area.")
    return transfer


def get(session: Session, transfer_id: int) -> Transfer:
    transfer = session.get(Transfer, transfer_id)
    if transfer is None:
        raise NotFound("This transfer offer no longer exists.")
    return transfer


def offers_to(session: Session, area_ids: Collection[int]) -> list[Transfer]:
    """Open offers to these areas, the nearest deadline first."""
    if not area_ids:
        return []
    return list(
        session.scalars(
            select(Transfer)
            .where(Transfer.to_area_id.in_(area_ids), Transfer.state == TransferState.OFFERED)
            .order_by(Transfer.deadline, Transfer.id)
        )
    )


def offers_by(session: Session, lead: str) -> list[Transfer]:
    """Open offers of the cases a person leads."""
    return list(
        session.scalars(
            select(Transfer)
            .join(Case, Case.id == Transfer.case_id)
            .where(Case.lead_user_id == lead, Transfer.state == TransferState.OFFERED)
            .order_by(Transfer.deadline, Transfer.id)
        )
    )


def agency_kinds(case: Case) -> list[str]:
    """What the receiving hub is told of who works on the case: the kinds of its agencies."""
    return sorted({agency.kind.value for agency in case.agencies})


# Offering and revoking: the sending lead.


def check_reason(reason: str) -> str:
    reason = reason.strip()
    if not reason:
        raise InvalidInput("Say why the case should move.", hint=f"Use {USAGE}")
    if len(reason) > REASON_MAX:
        raise InvalidInput(f"The reason is {len(reason)} characters; the limit is {REASON_MAX}.")
    return reason


def offer(
    session: Session,
    *,
    case: Case,
    to_slug: str,
    reason: str,
    actor: str,
    offered_via: str,
    request_ref: str,
    rules: Rules,
    basis: str,
) -> tuple[Transfer, bool]:
    """Offer the case to another area; returns (offer, created). A repeated delivery returns
    the first offer and records nothing more.

    The offer itself discloses a little to the receiving coordinators (the reference, stage,
    risk, the kinds of agencies, the reason): recorded in the sharing log for each of them."""
    existing = session.scalar(select(Transfer).where(Transfer.offered_via == offered_via))
    if existing is not None:
        return existing, False
    reason = check_reason(reason)
    locks.hold(session, case)
    cases.require_open(case)
    cases.require_lead(case, actor, "transfer the case")
    area = areas.get(session, to_slug)
    if area.id == case.area_id:
        raise InvalidInput(
            f"Case {case.reference} is in {escape(area.name)} (`{area.slug}`) already.",
            hint="Name the area it should move to; `/area list` shows the areas.",
        )
    pending = open_offer(session, case.id)
    if pending is not None:
        raise _already_offered(session, case, pending)
    if not areas.coordinators(session, area.id):
        raise InvalidInput(
            f"{escape(area.name)} (`{area.slug}`) has no coordinator to answer the offer.",
            hint="An admin gives an agency of the area a coordinator first "
            "(`/agency member add <slug> @someone coordinator`).",
        )
    sharing_gate.admit(session, {"reason": reason}, actor=actor, request_ref=request_ref, case=case)
    now = utcnow()
    receiving = rules.of(area.id)
    transfer = Transfer(
        case_id=case.id,
        from_area_id=case.area_id,
        to_area_id=area.id,
        state=TransferState.OFFERED,
        offered_by=actor,
        offered_via=offered_via,
        offered_at=now,
        reason=reason,
        deadline=close_of_working_day(now, area.transfer_days, receiving.hours, receiving.default_tz),
        hub_channel_id=area.hub_channel_id,
    )
    try:
        with session.begin_nested():
            session.add(transfer)
            session.flush()
    except IntegrityError:
        winner = session.scalar(select(Transfer).where(Transfer.offered_via == offered_via))
        if winner is not None:  # the same command, delivered twice at once
            return winner, False
        pending = open_offer(session, case.id)  # another offer, made at the same moment
        if pending is not None:
            raise _already_offered(session, case, pending) from None
        raise
    plan(transfer, receiving.hours, receiving.default_tz, now)
    told = f"offer of case {case.reference} to {area.name}: reference, stage, risk, kinds of agencies, reason"
    for user in sorted(areas.coordinators(session, area.id)):
        _shared(session, case, basis=basis, actor=actor, reason=told, kind=OFFER_KIND, to_user=user)
    audit.record(
        session,
        actor=actor,
        action="case.transfer.offered",
        request_ref=request_ref,
        case=case,
        transfer=transfer.id,
        from_area=session.get_one(Area, case.area_id).slug,
        to_area=area.slug,
        deadline=transfer.deadline.isoformat(),
        consent=case.consent.value,
    )
    return transfer, True


def _already_offered(session: Session, case: Case, pending: Transfer) -> Conflict:
    area = session.get_one(Area, pending.to_area_id)
    return Conflict(
        f"Case {case.reference} is already offered to {escape(area.name)} (`{area.slug}`), "
        f"open until {pending.deadline:%Y-%m-%d %H:%M} UTC.",
        hint="Wait for its answer, or withdraw it first with `/case transfer cancel`.",
    )


def revoke(session: Session, *, case: Case, actor: str, request_ref: str) -> Transfer:
    """The sending lead withdraws the open offer."""
    locks.hold(session, case)
    cases.require_lead(case, actor, "withdraw the case's transfer offer")
    transfer = open_offer(session, case.id)
    if transfer is None:
        raise NotFound(f"Case {case.reference} has no open transfer offer.", hint=f"Offer it with {USAGE}")
    transfer.state = TransferState.REVOKED
    transfer.decided_by, transfer.decided_at = actor, utcnow()
    transfer.nudge_at = None
    audit.record(
        session,
        actor=actor,
        action="case.transfer.revoked",
        request_ref=request_ref,
        case=case,
        transfer=transfer.id,
        to_area=session.get_one(Area, transfer.to_area_id).slug,
    )
    return transfer


# Answering: a coordinator of the receiving area.


def require_may_answer(
    session: Session, transfer: Transfer, actor: str, *, now: datetime | None = None
) -> None:
    """Who may answer an offer, and when: a coordinator of the receiving area, while it is open
    and before its deadline. Asked when the form opens and again when it is submitted."""
    area = session.get_one(Area, transfer.to_area_id)
    if not areas.is_coordinator(session, actor, area.id):
        raise NotAllowed(
            f"Only coordinators of {escape(area.name)} (`{area.slug}`) answer this transfer offer.",
            hint="An area's coordinators are those with the coordinator role in an agency taking part in it.",
        )
    if transfer.state is not TransferState.OFFERED:
        raise Conflict(f"This transfer offer was {_state_words(transfer)} already; nothing was changed.")
    if (now or utcnow()) >= transfer.deadline:
        raise Conflict(
            f"The offer expired on {transfer.deadline:%Y-%m-%d %H:%M} UTC; "
            "ask the sending lead to offer it again.",
        )


def _state_words(transfer: Transfer) -> str:
    return {
        TransferState.ACCEPTED: "accepted",
        TransferState.REJECTED: "rejected",
        TransferState.REVOKED: "withdrawn by the sending lead",
        TransferState.EXPIRED: "left to expire",
    }.get(transfer.state, transfer.state.value)


@dataclass(frozen=True)
class Acceptance:
    """What a receiving coordinator chose in the accept form."""

    new_lead: str
    agency_slugs: tuple[str, ...]
    note: str = ""
    without_consent: bool = False
    confirmed: frozenset[str] = frozenset()


def default_agencies(session: Session, case: Case, area_id: int) -> list[Agency]:
    """The agencies offered by default: those of the case that also take part in the receiving area."""
    taking_part = areas.agency_ids(session, area_id)
    return [agency for agency in case.agencies if agency.id in taking_part]


def check_acceptance(session: Session, transfer: Transfer, choice: Acceptance, actor: str) -> list[Agency]:
    """Every check of an acceptance, changing nothing; returns the chosen agencies."""
    require_may_answer(session, transfer, actor)
    case = session.get_one(Case, transfer.case_id)
    cases.require_open(case)
    area = session.get_one(Area, transfer.to_area_id)
    if not areas.is_coordinator(session, choice.new_lead, area.id):
        raise InvalidInput(
            f"<@{choice.new_lead}> is not a coordinator of {escape(area.name)}, so cannot lead its cases.",
            hint="Choose one of the area's coordinators.",
            field="lead",
        )
    if not choice.agency_slugs:
        raise InvalidInput("Choose at least one agency of your area to take part.", field="agencies")
    taking_part = areas.agency_ids(session, area.id)
    chosen = []
    for slug in dict.fromkeys(choice.agency_slugs):
        try:
            agency = agencies.get(session, slug)
        except NotFound as error:
            error.field = "agencies"
            raise
        if agency.id not in taking_part:
            raise InvalidInput(
                f"{escape(agency.name)} (`{agency.slug}`) does not take part in {escape(area.name)}.",
                field="agencies",
            )
        chosen.append(agency)
    if len(choice.note) > NOTE_MAX:
        raise InvalidInput(
            f"The note is {len(choice.note)} characters; the limit is {NOTE_MAX}.", field="note"
        )
    if not has_consent(case) and not choice.without_consent:
        raise InvalidInput(
            f"Case {case.reference} has no consent on record ({case.consent.value}): tick the box to "
            "record that you accept it without consent on record.",
            field="consent_override",
        )
    sharing_gate.check({"note": choice.note}, choice.confirmed)
    return chosen


@dataclass
class Accepted:
    transfer: Transfer
    case: Case
    previous_lead: str
    before: set[str]
    after: set[str]
    joined: list[Agency] = field(default_factory=list)
    left: list[Agency] = field(default_factory=list)
    # Open actions of agencies that left the case: their owners keep them; the new lead hears.
    orphaned: list[Action] = field(default_factory=list)


def accept(
    session: Session,
    *,
    transfer_id: int,
    choice: Acceptance,
    actor: str,
    request_ref: str,
    rules: Rules,
    basis: str,
) -> Accepted:
    transfer = get(session, transfer_id)
    case = session.get_one(Case, transfer.case_id)
    locks.hold(session, case)  # what was read is read again, under the lock
    chosen = check_acceptance(session, transfer, choice, actor)
    findings = sharing_gate.check({"note": choice.note}, choice.confirmed)
    sharing_gate.record_overrides(session, findings, actor=actor, request_ref=request_ref, case=case)
    now = utcnow()
    from_area = session.get_one(Area, transfer.from_area_id)
    to_area = session.get_one(Area, transfer.to_area_id)
    result = Accepted(transfer, case, case.lead_user_id, cases.entitled_users(session, case), set())
    before_ids = {p.agency_id for p in case.active_participations}
    chosen_ids = {a.id for a in chosen}
    for participation in case.active_participations:
        if participation.agency_id not in chosen_ids:
            participation.left_at, participation.removed_by = now, actor
            result.left.append(participation.agency)
    for agency in chosen:
        if agency.id not in before_ids:
            session.add(CaseAgency(case=case, agency=agency, added_by=actor))
            result.joined.append(agency)
    case.area_id, case.lead_user_id = to_area.id, choice.new_lead
    session.flush()
    session.expire(case, ["participations"])
    transfer.state, transfer.decided_by, transfer.decided_at = TransferState.ACCEPTED, actor, now
    transfer.decision_reason, transfer.new_lead, transfer.nudge_at = (
        choice.note.strip() or None,
        choice.new_lead,
        None,
    )
    why = f"transfer of case {case.reference} from {from_area.name} to {to_area.name}, accepted"
    for agency in result.joined:
        _shared(session, case, basis=basis, actor=actor, reason=why, to_agency=agency)
    _shared(
        session,
        case,
        basis=basis,
        actor=actor,
        reason=why + " (the new lead coordinator)",
        to_user=choice.new_lead,
    )
    left_ids = [a.id for a in result.left]
    if left_ids:
        result.orphaned = list(
            session.scalars(
                select(Action)
                .where(
                    Action.case_id == case.id,
                    Action.status == ActionStatus.OPEN,
                    Action.agency_id.in_(left_ids),
                )
                .order_by(Action.number)
            )
        )
    plan_review(case, rules, rules.of(case.area_id).default_tz)
    result.after = cases.entitled_users(session, case)
    audit.record(
        session,
        actor=actor,
        action="case.transfer.accepted",
        request_ref=request_ref,
        case=case,
        transfer=transfer.id,
        from_area=from_area.slug,
        to_area=to_area.slug,
        previous_lead=result.previous_lead,
        lead=choice.new_lead,
        joined=[a.slug for a in result.joined],
        left=[a.slug for a in result.left],
    )
    if not has_consent(case):
        # The override the domain asks for: who proceeded without consent on record, and when.
        audit.record(
            session,
            actor=actor,
            action="case.transfer.consent_overridden",
            request_ref=request_ref,
            case=case,
            transfer=transfer.id,
            consent=case.consent.value,
        )
    return result


def _shared(
    session: Session,
    case: Case,
    *,
    basis: str,
    actor: str,
    reason: str,
    kind: str = "case",
    to_agency: Agency | None = None,
    to_user: str | None = None,
) -> None:
    session.add(
        SharingRecord(
            case_id=case.id,
            disclosure=Disclosure.TRANSFER.value,
            basis=basis,
            shared_by=actor,
            kind=kind,
            reason=reason[:300],
            to_agency_id=to_agency.id if to_agency else None,
            to_user=to_user,
        )
    )


def check_rejection(
    session: Session, transfer: Transfer, reason: str, actor: str, confirmed: Collection[str] = ()
) -> str:
    require_may_answer(session, transfer, actor)
    reason = reason.strip()
    if not reason:
        raise InvalidInput("Say why your area does not take the case.", field="reason")
    if len(reason) > REASON_MAX:
        raise InvalidInput(
            f"The reason is {len(reason)} characters; the limit is {REASON_MAX}.", field="reason"
        )
    sharing_gate.check({"reason": reason}, confirmed)
    return reason


def reject(
    session: Session,
    *,
    transfer_id: int,
    reason: str,
    actor: str,
    request_ref: str,
    confirmed: Collection[str] = (),
) -> Transfer:
    transfer = get(session, transfer_id)
    case = session.get_one(Case, transfer.case_id)
    locks.hold(session, case)
    reason = check_rejection(session, transfer, reason, actor, confirmed)
    sharing_gate.admit(
        session, {"reason": reason}, confirmed, actor=actor, request_ref=request_ref, case=case
    )
    transfer.state, transfer.decided_by, transfer.decided_at = TransferState.REJECTED, actor, utcnow()
    transfer.decision_reason, transfer.nudge_at = reason, None
    audit.record(
        session,
        actor=actor,
        action="case.transfer.rejected",
        request_ref=request_ref,
        case=case,
        transfer=transfer.id,
        to_area=session.get_one(Area, transfer.to_area_id).slug,
    )
    return transfer


# The sweep: reminders to both sides, and the end of an offer left unanswered.


def due_notices(session: Session, now: datetime, rules: Rules, tz_of: TzOf) -> list[Due]:
    """Reminders of open offers whose moment has come, and the offers past their deadline
    marked expired with both sides told. Only the step current at `now` is sent: a sweep that
    comes late sends no stale "two days left"."""
    out: list[Due] = []
    due = session.scalars(
        select(Transfer)
        .where(Transfer.state == TransferState.OFFERED, Transfer.nudge_at <= now)
        .order_by(Transfer.nudge_at)
        .limit(BATCH)
        .with_for_update(skip_locked=True)
    ).all()
    for transfer in due:
        case = session.get_one(Case, transfer.case_id)
        if case.is_closed:  # closed while offered: nothing left to move
            out += _withdrawn_by_closing(session, transfer, case)
            continue
        receiving = rules.of(transfer.to_area_id)
        steps = schedule(transfer, receiving.hours, receiving.default_tz)
        passed = [step for moment, step in steps if moment <= now]
        if not passed:
            plan(transfer, receiving.hours, receiving.default_tz, now)
            continue
        current = passed[-1]
        to_area = session.get_one(Area, transfer.to_area_id)
        from_area = session.get_one(Area, transfer.from_area_id)
        if current is Step.EXPIRE:
            out += _expire(session, transfer, case, from_area, to_area)
            continue
        deadline = _local(transfer.deadline, receiving.default_tz)
        if current is Step.DEADLINE_DAY:
            lead = case.lead_user_id
            out.append(
                Due(
                    f"transfer:{transfer.id}:deadline-day",
                    lead,
                    f":hourglass: Your offer of case *{case.reference}* to {escape(to_area.name)} has no "
                    f"answer yet; it ends today at {deadline}. Until it is accepted the case stays with "
                    "you; `/case transfer` in its channel shows where it stands.",
                    tz_of(lead),
                )
            )
        else:
            left = "two working days" if current is Step.TWO_DAYS else "one working day"
            for user in sorted(areas.coordinators(session, to_area.id)):
                out.append(
                    Due(
                        f"transfer:{transfer.id}:{current.value}:{user}",
                        user,
                        f":hourglass: {escape(from_area.name)} offered case *{case.reference}* to "
                        f"{escape(to_area.name)}: {left} left to accept or reject it (until {deadline}). "
                        "The offer is on your Home tab.",
                        tz_of(user),
                    )
                )
        plan(transfer, receiving.hours, receiving.default_tz, now)
    return out


def _withdrawn_by_closing(session: Session, transfer: Transfer, case: Case) -> list[Due]:
    transfer.state, transfer.nudge_at = TransferState.REVOKED, None
    transfer.decided_by, transfer.decided_at = "casehub", utcnow()
    to_area = session.get_one(Area, transfer.to_area_id)
    audit.record(
        session,
        actor="casehub",
        action="case.transfer.revoked",
        request_ref=f"sweep:transfer:{transfer.id}",
        case=case,
        transfer=transfer.id,
        to_area=to_area.slug,
        reason="case closed",
    )
    return [
        Due(
            f"transfer:{transfer.id}:closed:{user}",
            user,
            f"Case *{case.reference}* was closed by its lead, so its offer to {escape(to_area.name)} is "
            "withdrawn; there is nothing to answer.",
            None,
        )
        for user in sorted(areas.coordinators(session, to_area.id))
    ]


def _expire(session: Session, transfer: Transfer, case: Case, from_area: Area, to_area: Area) -> list[Due]:
    transfer.state, transfer.nudge_at = TransferState.EXPIRED, None
    audit.record(
        session,
        actor="casehub",
        action="case.transfer.expired",
        request_ref=f"sweep:transfer:{transfer.id}",
        case=case,
        transfer=transfer.id,
        to_area=to_area.slug,
    )
    ended = f"{transfer.deadline:%Y-%m-%d %H:%M} UTC"
    out = [
        Due(
            f"transfer:{transfer.id}:expired:lead",
            case.lead_user_id,
            f":hourglass_flowing_sand: Your offer of case *{case.reference}* to {escape(to_area.name)} "
            f"expired on {ended} with no answer. The case stays with you and {escape(from_area.name)}; "
            "offer it again with `/case transfer <area> <reason>` if it should still move.",
            None,
        )
    ]
    for user in sorted(areas.coordinators(session, to_area.id)):
        out.append(
            Due(
                f"transfer:{transfer.id}:expired:{user}",
                user,
                f":hourglass_flowing_sand: The offer of case *{case.reference}* from "
                f"{escape(from_area.name)} to {escape(to_area.name)} expired on {ended} with no answer; "
                f"it stays with {escape(from_area.name)}.",
                None,
            )
        )
    return out


def _local(moment: datetime, tz: str) -> str:
    return f"{moment.astimezone(zone(tz)):%Y-%m-%d %H:%M} ({tz})"


def deadline_text(transfer: Transfer, tz: str) -> str:
    return _local(transfer.deadline, tz)
