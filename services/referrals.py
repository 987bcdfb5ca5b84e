"""Referrals: a concern raised by any agency's member, screened by the area's hub.

Anyone with a role in an agency taking part in an area may refer; the area's coordinators
acknowledge the referral and decide it (accept, signpost, close with no further action),
within service levels counted in the area's working days. The referral's content is theirs
to read: Slack's shared spaces (the hub channel's card, nudges, escalations, the referrer's
outcome) carry its reference and state, never what was written.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, time
from typing import Any

from sqlalchemy import BindParameter, ColumnElement, Select, bindparam, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from blocks.kit import escape
from models import Agency, Area, AreaAgency, Case, Risk, utcnow
from models.person import Person
from models.referral import Awareness, Referral, ReferralConsent, ReferralState, Urgency
from services import agencies, areas, audit, cases, identifiers, sharing, sharing_gate
from services.errors import Conflict, InvalidInput, NotAllowed, NotFound
from services.reminders import BATCH, Due, Rules, TzOf
from services.worktime import at_local, close_of_working_day, local_date

CONCERN_MIN, TEXT_MAX = 10, 2000
SERVICE_MAX = 200
OPEN_STATES = (ReferralState.RECEIVED, ReferralState.ACKNOWLEDGED)
DECISIONS = (ReferralState.ACCEPTED, ReferralState.SIGNPOSTED, ReferralState.CLOSED)
# A screening decision late by this many working days reaches the area's overseers.
OVERDUE_EVERY, ESCALATE_AFTER = 2, 5
# The referral's typed texts, under the names of the fields they were typed in.
FIELDS = ("concern", "why_now", "done_so_far")


@dataclass(frozen=True)
class ReferralDraft:
    concern: str
    why_now: str
    risk: Risk
    awareness: Awareness
    consent: ReferralConsent
    urgency: Urgency
    done_so_far: str | None = None
    # None: the referrer's only area, or only agency.
    area_slug: str | None = None
    agency_slug: str | None = None
    confirmed: frozenset[str] = frozenset()

    def texts(self) -> dict[str, str | None]:
        return {"concern": self.concern, "why_now": self.why_now, "done_so_far": self.done_so_far}


@dataclass(frozen=True)
class Decision:
    outcome: ReferralState  # accepted, signposted or closed
    reason: str
    signposted_to: str | None = None
    # For an acceptance: the case's lead (None: the decider), more agencies, its risk (None:
    # the referral's).
    lead: str | None = None
    agency_slugs: tuple[str, ...] = ()
    risk: Risk | None = None
    confirmed: frozenset[str] = frozenset()

    def texts(self) -> dict[str, str | None]:
        return {"reason": self.reason, "signposted_to": self.signposted_to}


def label(reference: str) -> str:
    return f"R-{reference}"


def normalise_reference(value: str) -> str:
    """A referral's reference as typed or heard: R-ABC123, RABC123, abc123."""
    cleaned = cases.normalise_reference(value)  # upper case, no dash, O for 0, I or L for 1
    return cleaned[1:] if len(cleaned) == cases.REFERENCE_LENGTH + 1 and cleaned.startswith("R") else cleaned


# ---- who may refer, and the form's checks --------------------------------------------------------


def referring_agencies(session: Session, user: str) -> list[Agency]:
    """The agencies a person may refer for: each they have a role in that takes part in an area.
    Refused, with how to be added, for someone in no agency or whose agencies are in no area."""
    mine = sorted((m.agency for m in agencies.memberships_of(session, user)), key=lambda a: a.slug)
    if not mine:
        raise NotAllowed(
            "Only members of a registered agency may refer.",
            hint="Ask your agency's casehub admin to add you: `/agency member add <agency> @you`.",
        )
    placed = [a for a in mine if areas_of_agency(session, a.id)]
    if not placed:
        raise NotAllowed(
            "Your agency takes part in no area yet, so there is no hub to refer to.",
            hint="A casehub admin adds it to its local partnership: `/area agency add <area> <agency>`.",
        )
    return placed


def areas_of_agency(session: Session, agency_id: int) -> list[Area]:
    return list(
        session.scalars(
            select(Area)
            .join(AreaAgency, AreaAgency.area_id == Area.id)
            .where(AreaAgency.agency_id == agency_id)
            .order_by(Area.slug)
        )
    )


def referral_areas(session: Session, mine: list[Agency]) -> list[Area]:
    """The areas where the person's agencies take part, by slug."""
    found = {a.id: a for agency in mine for a in areas_of_agency(session, agency.id)}
    return sorted(found.values(), key=lambda a: a.slug)


def check_draft(draft: ReferralDraft) -> None:
    """What needs no database, shown on the form's fields at once."""
    concern = draft.concern.strip()
    if len(concern) < CONCERN_MIN:
        raise InvalidInput(f"Describe the concern in at least {CONCERN_MIN} characters.", field="concern")
    for field, text in draft.texts().items():
        if text and len(text.strip()) > TEXT_MAX:
            raise InvalidInput(
                f"This is {len(text.strip())} characters; the limit is {TEXT_MAX}.", field=field
            )
    if not draft.why_now.strip():
        raise InvalidInput("Say why you are referring now.", field="why_now")
    sharing_gate.check(draft.texts(), draft.confirmed)


def _placed(session: Session, draft: ReferralDraft, referrer: str) -> tuple[Area, Agency]:
    """The area and agency of a new referral, checked against who the referrer is now."""
    mine = referring_agencies(session, referrer)
    if draft.agency_slug is not None:
        agency = next((a for a in mine if a.slug == draft.agency_slug), None)
        if agency is None:
            raise NotAllowed("You can refer only for an agency you belong to.", field="agency")
    elif len(mine) > 1:
        raise InvalidInput("You are in several agencies: say which one refers.", field="agency")
    else:
        agency = mine[0]
    where = areas_of_agency(session, agency.id)
    if draft.area_slug is not None:
        area = next((a for a in where if a.slug == draft.area_slug), None)
        if area is None:
            raise InvalidInput(
                f"{escape(agency.name)} does not take part in that area.",
                hint="Choose an area where your agency takes part.",
                field="area",
            )
    elif len(where) > 1:
        raise InvalidInput("Your agency takes part in several areas: choose one.", field="area")
    else:
        area = where[0]
    return area, agency


def submit(
    session: Session,
    *,
    draft: ReferralDraft,
    referrer: str,
    submitted_via: str,
    request_ref: str,
    settings: Any,
) -> tuple[Referral, bool]:
    """Record a referral; returns (referral, created). A repeated delivery records nothing."""
    existing = session.scalar(select(Referral).where(Referral.submitted_via == submitted_via))
    if existing is not None:
        return existing, False
    check_draft(draft)
    area, agency = _placed(session, draft, referrer)
    calendar = areas.calendar(area, settings)
    received = utcnow()
    for _attempt in range(10):
        referral = Referral(
            reference=cases.new_reference(),
            area_id=area.id,
            referrer=referrer,
            agency_id=agency.id,
            submitted_via=submitted_via,
            concern=draft.concern.strip(),
            why_now=draft.why_now.strip(),
            done_so_far=(draft.done_so_far or "").strip() or None,
            risk=draft.risk,
            awareness=draft.awareness,
            consent=draft.consent,
            urgency=draft.urgency,
            state=ReferralState.RECEIVED,
            received_at=received,
            ack_due_at=close_of_working_day(
                received, area.referral_ack_days, calendar.hours, calendar.timezone
            ),
            decision_due_at=close_of_working_day(
                received, area.referral_decision_days, calendar.hours, calendar.timezone
            ),
        )
        referral.nudge_at = referral.ack_due_at
        try:
            with session.begin_nested():
                session.add(referral)
                session.flush()
        except IntegrityError:
            winner = session.scalar(select(Referral).where(Referral.submitted_via == submitted_via))
            if winner is not None:  # the same submission, delivered twice at once
                return winner, False
            continue  # a reference collision: draw again
        break
    else:  # pragma: no cover - 32**6 references make ten collisions in a row implausible
        raise Conflict("Could not draw a free referral reference; please try again.")
    audit.record(
        session,
        actor=referrer,
        action="referral.received",
        request_ref=request_ref,
        agency=agency,
        reference=referral.reference,
        area=area.slug,
        urgency=draft.urgency.value,
        risk=draft.risk.value,
    )
    sharing_gate.admit(
        session, draft.texts(), draft.confirmed, actor=referrer, request_ref=request_ref, agency=agency
    )
    return referral, True


# ---- the hub's work -------------------------------------------------------------------------------


def get_by_reference(session: Session, reference: str) -> Referral:
    referral = session.scalar(select(Referral).where(Referral.reference == normalise_reference(reference)))
    if referral is None:
        raise NotFound(f"There is no referral `{escape(reference)}`.", hint="Your Home tab lists your hub's.")
    return referral


def require_coordinator(session: Session, referral: Referral, user: str, doing: str) -> None:
    """Only the coordinators of the referral's area read or decide it; asked at every click and
    submission, never taken from what a button carries."""
    if not areas.is_coordinator(session, user, referral.area_id):
        raise NotAllowed(
            f"Only the coordinators of the area's hub may {doing} referral {referral.label}.",
            hint="It belongs to another area's hub.",
        )


def decided_already(referral: Referral) -> Conflict:
    assert referral.decided_at is not None
    return Conflict(
        f"Referral {referral.label} was already {outcome_words(referral.state)} by <@{referral.decided_by}> "
        f"on {referral.decided_at:%Y-%m-%d %H:%M} UTC.",
        hint="A referral is decided once.",
    )


def outcome_words(state: ReferralState) -> str:
    return {
        ReferralState.ACCEPTED: "accepted",
        ReferralState.SIGNPOSTED: "signposted",
        ReferralState.CLOSED: "closed with no further action",
    }.get(state, state.value)


def acknowledge(session: Session, referral: Referral, *, user: str, request_ref: str, rules: Rules) -> bool:
    """The hub has it in hand; False when it was acknowledged already (a double click)."""
    require_coordinator(session, referral, user, "acknowledge")
    if not referral.state.is_open:
        raise decided_already(referral)
    if referral.state is ReferralState.ACKNOWLEDGED:
        return False
    referral.state = ReferralState.ACKNOWLEDGED
    referral.acknowledged_at, referral.acknowledged_by = utcnow(), user
    plan(referral, rules, referral.acknowledged_at)
    audit.record(
        session,
        actor=user,
        action="referral.acknowledged",
        request_ref=request_ref,
        reference=referral.reference,
    )
    return True


def check_decision(decision: Decision) -> None:
    """What needs no database, shown on the decide form's fields at once."""
    if decision.outcome not in DECISIONS:
        raise InvalidInput("Choose accept, signpost or close.", field="outcome")
    if not decision.reason.strip():
        raise InvalidInput("Give the reason for the decision.", field="reason")
    if len(decision.reason.strip()) > TEXT_MAX:
        raise InvalidInput(f"The reason is at most {TEXT_MAX} characters.", field="reason")
    signposted = (decision.signposted_to or "").strip()
    if decision.outcome is ReferralState.SIGNPOSTED and not signposted:
        raise InvalidInput("Name the service it is signposted to.", field="signposted_to")
    if len(signposted) > SERVICE_MAX:
        raise InvalidInput(f"The service is at most {SERVICE_MAX} characters.", field="signposted_to")
    sharing_gate.check(decision.texts(), decision.confirmed)


def decide(
    session: Session,
    referral: Referral,
    *,
    decision: Decision,
    decider: str,
    request_ref: str,
    basis: str,
    review_weeks: int = 4,
) -> Case | None:
    """Record the hub's decision; for an acceptance, open the case (with the referrer's agency
    taking part) and return it. Refused when it is decided already, saying who decided what."""
    require_coordinator(session, referral, decider, "decide")
    if not referral.state.is_open:
        raise decided_already(referral)
    check_decision(decision)
    case = None
    if decision.outcome is ReferralState.ACCEPTED:
        case = _accept(
            session,
            referral,
            decision=decision,
            decider=decider,
            request_ref=request_ref,
            basis=basis,
            review_weeks=review_weeks,
        )
    referral.state = decision.outcome
    referral.decided_at, referral.decided_by = utcnow(), decider
    referral.decision_reason = decision.reason.strip()
    referral.signposted_to = (decision.signposted_to or "").strip() or None
    referral.nudge_at = None
    audit.record(
        session,
        actor=decider,
        action="referral.decided",
        request_ref=request_ref,
        case=case,
        reference=referral.reference,
        outcome=decision.outcome.value,
    )
    sharing_gate.admit(
        session, decision.texts(), decision.confirmed, actor=decider, request_ref=request_ref, case=case
    )
    return case


def _accept(
    session: Session,
    referral: Referral,
    *,
    decision: Decision,
    decider: str,
    request_ref: str,
    basis: str,
    review_weeks: int,
) -> Case:
    area = session.get_one(Area, referral.area_id)
    referring = session.get_one(Agency, referral.agency_id)
    draft = cases.CaseDraft(
        summary=referral.concern,
        risk=decision.risk or referral.risk,
        lead_user_id=decision.lead or decider,
        agency_slugs=(referring.slug, *(s for s in decision.agency_slugs if s != referring.slug)),
        area_slug=area.slug,
        review_every_weeks=review_weeks,
        # The concern passed the gate when it was referred (its findings confirmed by the
        # referrer); as the case's summary it is the same text.
        confirmed=carried_confirmations(referral.concern),
    )
    case, _created = cases.open_case(
        session, draft=draft, opener=decider, opened_via=f"referral:{referral.id}", request_ref=request_ref
    )
    referral.case_id = case.id
    for agency in case.agencies:
        sharing.referral_accepted(
            session,
            case,
            agency,
            referral_label=referral.label,
            from_agency_id=referring.id,
            shared_by=decider,
            basis=basis,
        )
    # An identity the record desk holds for the referral now belongs to its case.
    session.execute(update(Person).where(Person.referral_id == referral.id).values(case_id=case.id))
    return case


def carried_confirmations(concern: str) -> frozenset[str]:
    """The findings in a referred concern that may be confirmed, as confirmations of the same
    text stored as a case's summary."""
    return frozenset(sharing_gate.key(f) for f in identifiers.scan(concern, "summary") if f.overridable)


# ---- what the hub and the referrer see -----------------------------------------------------------


@dataclass
class Queue:
    referrals: list[Referral]
    total: int
    agencies: dict[int, Agency]


def hub_queue(session: Session, user: str, *, limit: int) -> Queue:
    """The open referrals of the areas a person coordinates: urgent first, then oldest. Reads
    only their areas' open referrals (the area-and-state index), whatever the rest."""
    area_ids = [a.id for a in areas.coordinated_by(session, user)]
    if not area_ids:
        return Queue([], 0, {})
    where = (Referral.area_id.in_(area_ids), Referral.state.in_(OPEN_STATES))
    total = session.scalar(select(func.count()).select_from(Referral).where(*where)) or 0
    urgent_first = (Referral.urgency == Urgency.URGENT).desc()
    shown = list(
        session.scalars(
            select(Referral).where(*where).order_by(urgent_first, Referral.received_at).limit(limit)
        )
    )
    ids = {r.agency_id for r in shown}
    by_id = {a.id: a for a in session.scalars(select(Agency).where(Agency.id.in_(ids)))} if ids else {}
    return Queue(shown, total, by_id)


def of_referrer(session: Session, user: str, *, limit: int) -> list[Referral]:
    """A person's own referrals, the newest first."""
    return list(
        session.scalars(
            select(Referral)
            .where(Referral.referrer == user)
            .order_by(Referral.received_at.desc())
            .limit(limit)
        )
    )


def record_viewed(session: Session, referral: Referral, *, user: str, request_ref: str) -> None:
    """The access log is per case: reading a referral is recorded in the audit trail."""
    audit.record(
        session, actor=user, action="referral.viewed", request_ref=request_ref, reference=referral.reference
    )


def counts_by_area(session: Session, area_ids: Collection[int], now: datetime) -> dict[int, tuple[int, int]]:
    """Each area's open referrals, and those past a due time (acknowledgement or decision)."""
    out: dict[int, tuple[int, int]] = {}
    if not area_ids:
        return out
    late = ((Referral.state == ReferralState.RECEIVED) & (Referral.ack_due_at < now)) | (
        Referral.decision_due_at < now
    )
    for area_id, total, past in session.execute(
        select(Referral.area_id, func.count(), func.count().filter(late))
        .where(Referral.area_id.in_(list(area_ids)), Referral.state.in_(OPEN_STATES))
        .group_by(Referral.area_id)
    ):
        out[area_id] = (total, past)
    return out


def add_figures(session: Session, rows: list[Any], now: datetime) -> None:
    """The referral counts of each area's figures (`services.oversight.AreaFigures.extra`)."""
    counts = counts_by_area(session, [row.area.id for row in rows], now)
    for row in rows:
        total, past = counts.get(row.area.id, (0, 0))
        row.extra["open referrals"] = total
        row.extra["referrals past due"] = past


def digest_lines(session: Session, user: str, now: datetime) -> list[str]:
    """A coordinator's digest line about their hubs' open referrals, by reference only."""
    area_ids = [a.id for a in areas.coordinated_by(session, user)]
    if not area_ids:
        return []
    rows = session.execute(
        select(Referral.reference, Referral.ack_due_at, Referral.decision_due_at, Referral.state)
        .where(Referral.area_id.in_(area_ids), Referral.state.in_(OPEN_STATES))
        .order_by(Referral.received_at)
    ).all()
    if not rows:
        return []
    past = [
        label(ref)
        for ref, ack, decision, state in rows
        if decision < now or (state is ReferralState.RECEIVED and ack < now)
    ]
    line = f"*Referrals awaiting your hub*: {len(rows)} open"
    if past:
        shown = ", ".join(past[:20]) + (f" and {len(past) - 20} more" if len(past) > 20 else "")
        line += f", {len(past)} past due: {shown}"
    return [line + "."]


# ---- the sweep ------------------------------------------------------------------------------------


def plan(referral: Referral, rules: Rules, now: datetime) -> None:
    """When the sweep next has something to say about the referral."""
    if not referral.state.is_open:
        referral.nudge_at = None
        return
    area = rules.of(referral.area_id)
    hours, tz = area.hours, area.default_tz
    wakes = []
    if referral.state is ReferralState.RECEIVED and now < referral.ack_due_at:
        wakes.append(referral.ack_due_at)
    if now < referral.decision_due_at:
        wakes.append(referral.decision_due_at)
    else:
        due_day = local_date(referral.decision_due_at, tz)
        late = hours.working_days_between(due_day, local_date(now, tz))
        wakes.append(
            at_local(
                hours.add_working_days(due_day, OVERDUE_EVERY * (late // OVERDUE_EVERY + 1)), time.min, tz
            )
        )
        if late < ESCALATE_AFTER:
            wakes.append(at_local(hours.add_working_days(due_day, ESCALATE_AFTER), time.min, tz))
    referral.nudge_at = min(wakes)


def _open() -> ColumnElement[bool]:
    """The open states, written out in the SQL as the partial index's condition is, so that the
    planner (SQLite's above all) can use the index of open referrals' `nudge_at`."""
    states: BindParameter[list[str]] = bindparam(
        "open_states", [s.value for s in OPEN_STATES], expanding=True, literal_execute=True
    )
    return Referral.state.in_(states)


def due_query(now: datetime) -> Select[Referral]:
    """The open referrals whose time has come, at most a batch."""
    return select(Referral).where(_open(), Referral.nudge_at <= now).order_by(Referral.nudge_at).limit(BATCH)


def due_notices(
    session: Session, now: datetime, rules: Rules, tz_of: TzOf, *, admins: Collection[str]
) -> list[Due]:
    """Overdue acknowledgements and decisions: the area's coordinators, in their working hours;
    a decision 5 working days late, the area's overseers (or else the admins). References only."""
    due = list(session.scalars(due_query(now).with_for_update(skip_locked=True)))
    out: list[Due] = []
    hubs: dict[int, set[str]] = {}
    for referral in due:
        if referral.area_id not in hubs:
            hubs[referral.area_id] = areas.coordinators(session, referral.area_id)
        coordinators = sorted(hubs[referral.area_id])
        area = rules.of(referral.area_id)
        hours, tz = area.hours, area.default_tz
        if referral.state is ReferralState.RECEIVED and referral.ack_due_at <= now:
            for user in coordinators:
                out.append(
                    Due(
                        f"referral-ack-overdue:{referral.id}:{user}",
                        user,
                        f":warning: Referral *{referral.label}* was due to be acknowledged by "
                        f"{referral.ack_due_at:%Y-%m-%d %H:%M} UTC. Acknowledge it from your Home tab.",
                        tz_of(user),
                    )
                )
        if referral.decision_due_at <= now:
            due_day = local_date(referral.decision_due_at, tz)
            late = hours.working_days_between(due_day, local_date(now, tz))
            round_ = late // OVERDUE_EVERY
            for user in coordinators:
                out.append(
                    Due(
                        f"referral-decision-overdue:{referral.id}:{user}:{round_}",
                        user,
                        f":warning: Referral *{referral.label}* awaits a screening decision, due "
                        f"{due_day.isoformat()} ({late} working days late). Decide it from your Home tab.",
                        tz_of(user),
                    )
                )
            if late >= ESCALATE_AFTER:
                out += _escalation(session, referral, late, due_day.isoformat(), tz, admins)
        plan(referral, rules, now)
    return out


def _escalation(
    session: Session, referral: Referral, late: int, due_day: str, tz: str, admins: Collection[str]
) -> list[Due]:
    area = session.get_one(Area, referral.area_id)
    told = sorted(areas.overseers_of(session, area)) or sorted(admins)
    text = (
        f":rotating_light: Referral *{referral.label}* in {escape(area.name)} has had no screening decision "
        f"for {late} working days past its due date ({due_day})."
    )
    return [Due(f"referral-escalated:{referral.id}:{user}", user, text, tz) for user in told]


def hub_coordinators(session: Session) -> set[str]:
    """The coordinators of every area with open referrals (a few rows: one an area)."""
    area_ids = session.scalars(select(Referral.area_id).where(Referral.state.in_(OPEN_STATES)).distinct())
    return set().union(*(areas.coordinators(session, area_id) for area_id in area_ids))


def recipients_due(session: Session, now: datetime) -> set[str]:
    """The coordinators the sweep is about to tell something, so their time zones are learnt."""
    area_ids = set(
        session.scalars(select(Referral.area_id).where(_open(), Referral.nudge_at <= now).limit(BATCH))
    )
    return set().union(*(areas.coordinators(session, area_id) for area_id in area_ids)) if area_ids else set()
