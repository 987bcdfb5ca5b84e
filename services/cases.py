"""Cases: opening, stages and consent, participating agencies, who is entitled to see them."""

from __future__ import annotations

import re
import secrets
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, object_session, selectinload

from blocks.kit import escape
from models import (
    Agency,
    Area,
    Case,
    CaseAgency,
    Consent,
    Membership,
    Risk,
    Role,
    SetupState,
    Stage,
    clock,
    utcnow,
)
from services import agencies, areas, audit, inputs, locks, retention, sharing, sharing_gate
from services.errors import CaseClosed, Conflict, InvalidInput, NotACaseChannel, NotAllowed, NotFound
from services.identifiers import Finding

# Crockford's base32: no I, L, O or U, so a reference survives being read aloud on the phone.
REFERENCE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
REFERENCE_LENGTH = 6
SUMMARY_MAX = 2000
AGENCY_REFERENCE_MAX = 64
OUTCOME_MAX = 2000
LESSONS_MAX = 3000
# How often a case is reviewed, in weeks: the form's choices and `/review every` alike.
REVIEW_WEEKS_MIN, REVIEW_WEEKS_MAX = 1, 52
# Consent is recorded when it is decided; a decision older than this is not news to record.
CONSENT_YEARS_BACK = 2
_WHOLE_NUMBER = re.compile(r"[+-]?[0-9]{1,30}")

# Moves the lead coordinator may make with `/case stage`. Closing goes through `/case close`,
# which asks for an outcome. Support needs consent (or a record that none is required).
TRANSITIONS: dict[Stage, tuple[Stage, ...]] = {
    Stage.REFERRAL: (Stage.SCREENING, Stage.EXIT),
    Stage.SCREENING: (Stage.ASSESSMENT, Stage.EXIT),
    Stage.ASSESSMENT: (Stage.PANEL_DECISION, Stage.EXIT),
    Stage.PANEL_DECISION: (Stage.SUPPORT, Stage.EXIT),
    Stage.SUPPORT: (Stage.PANEL_DECISION, Stage.EXIT),
    Stage.EXIT: (Stage.FOLLOW_UP,),
    Stage.FOLLOW_UP: (),
    Stage.CLOSED: (),
}


def new_reference() -> str:
    return "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(REFERENCE_LENGTH))


def normalise_reference(value: str) -> str:
    """Accept what people type or hear: lower case, O for 0, I or L for 1."""
    cleaned = value.strip().upper().replace("-", "")
    return cleaned.translate(str.maketrans("OIL", "011"))


def parse_stage(value: str) -> Stage:
    key = value.strip().lower().replace("_", "-").replace(" ", "-")
    aliases = {"panel": Stage.PANEL_DECISION, "followup": Stage.FOLLOW_UP}
    if key in aliases:
        return aliases[key]
    try:
        return Stage(key)
    except ValueError:
        raise InvalidInput(
            f"`{value}` is not a stage.", hint="Stages: " + ", ".join(s.value for s in Stage) + "."
        ) from None


def parse_risk(value: str) -> Risk:
    try:
        return Risk(value.strip().lower())
    except ValueError:
        raise InvalidInput(
            f"`{value}` is not a risk level.", hint="Use low, moderate, high or critical."
        ) from None


def parse_review_weeks(value: object, *, field: str | None = None) -> int:
    """A review cadence in weeks, as typed (`/review every 4 weeks`) or chosen in the case form."""
    if not isinstance(value, str) or not _WHOLE_NUMBER.fullmatch(value.strip()):
        raise InvalidInput(
            f"`{inputs.echo(value)}` is not a number of weeks.",
            hint=f"Use {REVIEW_WEEKS_MIN} to {REVIEW_WEEKS_MAX}.",
            field=field,
        )
    weeks = int(value)
    check_review_weeks(weeks, field=field)
    return weeks


def check_review_weeks(weeks: int, *, field: str | None = None) -> None:
    if not REVIEW_WEEKS_MIN <= weeks <= REVIEW_WEEKS_MAX:
        raise InvalidInput(
            f"Reviews can be every {REVIEW_WEEKS_MIN} to {REVIEW_WEEKS_MAX} weeks, not every {weeks}.",
            field=field,
        )


@dataclass(frozen=True)
class CaseDraft:
    summary: str
    risk: Risk
    lead_user_id: str
    agency_slugs: tuple[str, ...]
    agency_reference: str | None = None
    review_every_weeks: int = 4
    # The findings of the identifier check confirmed one by one (`sharing_gate.key`).
    confirmed: frozenset[str] = frozenset()
    # The area it belongs to; None: the one area the opener coordinates.
    area_slug: str | None = None


def check_draft(draft: CaseDraft) -> None:
    """The checks that need no database, so a modal can show them inline at once."""
    summary = draft.summary.strip()
    if len(summary) < 10:
        raise InvalidInput("Describe the concern in at least 10 characters.", field="summary")
    if len(summary) > SUMMARY_MAX:
        raise InvalidInput(
            f"The summary is {len(summary)} characters; the limit is {SUMMARY_MAX}.", field="summary"
        )
    if not draft.agency_slugs:
        raise InvalidInput("Choose at least one participating agency.", field="agencies")
    if draft.agency_reference and len(draft.agency_reference) > AGENCY_REFERENCE_MAX:
        raise InvalidInput(
            f"The agency reference is at most {AGENCY_REFERENCE_MAX} characters.", field="agency_reference"
        )
    check_review_weeks(draft.review_every_weeks, field="review_weeks")
    # The summary is on the case's status card; the agency's own reference never leaves casehub.
    sharing_gate.check({"summary": draft.summary}, draft.confirmed)


NOT_A_COORDINATOR = NotAllowed(
    "Only coordinators may open cases.",
    hint="An area's coordinators are those with the coordinator role in an agency taking part in it; "
    "an admin can make you one with `/agency member add <slug> @you coordinator`.",
)


def require_may_open(session: Session, user: str) -> list[Area]:
    """Who may open a case: a coordinator of an area. Asked before the form and on submission;
    returns the areas where they may."""
    mine = areas.coordinated_by(session, user)
    if not mine:
        raise NOT_A_COORDINATOR
    return mine


def area_for(session: Session, opener: str, slug: str | None) -> Area:
    """The area a new case (or a decision in an area) belongs to: the one named, where the
    person coordinates, or else the only area they coordinate."""
    mine = require_may_open(session, opener)
    if slug is not None:
        try:
            area = areas.get(session, slug)
        except NotFound as error:
            error.field = "area"
            raise
        if area not in mine:
            raise NotAllowed(
                f"You are not a coordinator of {escape(area.name)} (`{area.slug}`).",
                hint="Choose one of your areas: " + ", ".join(f"`{a.slug}`" for a in mine) + ".",
                field="area",
            )
        return area
    if len(mine) > 1:
        raise InvalidInput(
            "You coordinate in several areas: say which one the case belongs to.",
            hint="Your areas: " + ", ".join(f"`{a.slug}`" for a in mine) + ".",
            field="area",
        )
    return mine[0]


def check_open_allowed(session: Session, *, draft: CaseDraft, opener: str) -> tuple[Area, list[Agency]]:
    """Every check on a new case; returns its area and the chosen agencies."""
    check_draft(draft)
    area = area_for(session, opener, draft.area_slug)
    if not areas.is_coordinator(session, draft.lead_user_id, area.id):
        raise InvalidInput(
            f"<@{draft.lead_user_id}> is not a coordinator of {escape(area.name)}, so cannot lead its cases.",
            hint="Choose one of the area's coordinators as lead.",
            field="lead",
        )
    chosen = []
    taking_part = areas.agency_ids(session, area.id)
    for slug in dict.fromkeys(draft.agency_slugs):
        try:
            agency = agencies.get(session, slug)
        except NotFound as error:
            error.field = "agencies"
            raise
        if agency.id not in taking_part:
            raise InvalidInput(
                f"{escape(agency.name)} (`{agency.slug}`) does not take part in {escape(area.name)}.",
                hint=f"Choose agencies of the area; an admin adds one with `/area agency add {area.slug} "
                f"{agency.slug}`.",
                field="agencies",
            )
        chosen.append(agency)
    return area, chosen


def open_case(
    session: Session, *, draft: CaseDraft, opener: str, opened_via: str, request_ref: str
) -> tuple[Case, bool]:
    """Record a new case; returns (case, created). A repeated delivery returns the first case."""
    existing = session.scalar(select(Case).where(Case.opened_via == opened_via))
    if existing is not None:
        return existing, False
    area, chosen = check_open_allowed(session, draft=draft, opener=opener)
    for _attempt in range(10):
        case = Case(
            area_id=area.id,
            reference=new_reference(),
            risk=draft.risk,
            summary=draft.summary.strip(),
            agency_reference=(draft.agency_reference or "").strip() or None,
            lead_user_id=draft.lead_user_id,
            opened_by=opener,
            opened_via=opened_via,
            review_every_weeks=draft.review_every_weeks,
        )
        try:
            with session.begin_nested():
                session.add(case)
                session.flush()
        except IntegrityError:
            winner = session.scalar(select(Case).where(Case.opened_via == opened_via))
            if winner is not None:  # the same submission, delivered twice at once
                return winner, False
            continue  # a reference collision: draw again
        break
    else:  # pragma: no cover - 32**6 references make ten collisions in a row implausible
        raise Conflict("Could not draw a free case reference; please try again.")
    for agency in chosen:
        session.add(CaseAgency(case=case, agency=agency, added_by=opener))
    session.flush()
    audit.record(
        session,
        actor=opener,
        action="case.opened",
        request_ref=request_ref,
        case=case,
        reference=case.reference,
        risk=case.risk.value,
        lead=case.lead_user_id,
        agencies=[a.slug for a in chosen],
        area=area.slug,
    )
    sharing_gate.admit(
        session, {"summary": draft.summary}, draft.confirmed, actor=opener, request_ref=request_ref, case=case
    )
    return case, True


def get_by_reference(session: Session, reference: str) -> Case:
    case = session.scalar(select(Case).where(Case.reference == normalise_reference(reference)))
    if case is None:
        raise NotFound(f"There is no case `{reference}`.", hint="`/case list` shows your cases.")
    return case


def in_channel(session: Session, channel_id: str) -> Case | None:
    return session.scalar(
        select(Case).where(Case.channel_id == channel_id).options(selectinload(Case.participations))
    )


def for_channel(session: Session, channel_id: str, command: str) -> Case:
    case = in_channel(session, channel_id)
    if case is None:
        raise NotACaseChannel(command)
    return case


def references(session: Session, case_ids: set[int]) -> dict[int, str]:
    return {
        case_id: ref
        for case_id, ref in session.execute(select(Case.id, Case.reference).where(Case.id.in_(case_ids)))
    }


def entitled_users(session: Session, case: Case) -> set[str]:
    """Everyone with a need to know: the lead and every member of a participating agency."""
    agency_ids = [p.agency_id for p in case.active_participations]
    users = {case.lead_user_id}
    if agency_ids:
        users.update(session.scalars(select(Membership.user_id).where(Membership.agency_id.in_(agency_ids))))
    return users


def roles_in_case(session: Session, case: Case, user_id: str) -> list[Membership]:
    agency_ids = [p.agency_id for p in case.active_participations]
    return list(
        session.scalars(
            select(Membership).where(Membership.user_id == user_id, Membership.agency_id.in_(agency_ids))
        )
    )


def acts_as_lead(session: Session, case: Case, user_id: str) -> bool:
    """The case's lead, as long as they still hold a coordinator's role.

    A lead who has lost it (left the hub, say) keeps no right over the case: an admin hands
    their cases over with `/agency handover`. Checked at the moment of every change, never
    taken from what a form or button carries.
    """
    return user_id == case.lead_user_id and areas.is_coordinator(session, user_id, case.area_id)


def require_participant(session: Session, case: Case, user_id: str) -> None:
    if acts_as_lead(session, case, user_id) or roles_in_case(session, case, user_id):
        return
    raise NotAllowed(
        f"You are not in an agency taking part in case {case.reference}.",
        hint="Ask the lead coordinator to add your agency if you need to know.",
    )


def require_worker(session: Session, case: Case, user_id: str, doing: str) -> list[Membership]:
    """The lead, or a member or coordinator of a participating agency (observers only read).

    Returns the person's working roles in the case (empty for a lead outside its agencies).
    """
    roles = roles_in_case(session, case, user_id)
    working = [m for m in roles if m.role is not Role.OBSERVER]
    if working or acts_as_lead(session, case, user_id):
        return working
    if roles:
        raise NotAllowed(
            f"Observers read the case but do not {doing}.",
            hint="Ask a member of your agency or the lead coordinator.",
        )
    raise NotAllowed(
        f"You are not in an agency taking part in case {case.reference}.",
        hint="Ask the lead coordinator to add your agency if you need to know.",
    )


def require_lead(case: Case, user_id: str, doing: str) -> None:
    if user_id != case.lead_user_id:
        raise NotAllowed(
            f"Only the lead coordinator (<@{case.lead_user_id}>) may {doing}.",
            hint="Ask them, or ask them to hand the case over to you.",
        )
    session = object_session(case)
    if session is None or not acts_as_lead(session, case, user_id):
        raise NotAllowed(
            f"You are no longer a coordinator, so you cannot {doing}.",
            hint="A casehub admin can hand your cases over with `/agency handover`.",
        )


def require_open(case: Case) -> None:
    if case.is_closed:
        raise CaseClosed(
            f"Case {case.reference} is closed.", hint="Closed cases are kept for the record only."
        )


def move_stage(session: Session, *, case: Case, to: Stage, actor: str, request_ref: str) -> Stage:
    locks.hold(session, case)
    require_open(case)
    require_lead(case, actor, "move the case's stage")
    allowed = TRANSITIONS[case.stage]
    if to is Stage.CLOSED:
        raise InvalidInput("Cases are closed with `/case close`, which records the outcome.")
    if to is case.stage:
        raise Conflict(f"Case {case.reference} is already at {to.value}.")
    if to not in allowed:
        options = ", ".join(f"`{s.value}`" for s in allowed) or "none (close it with `/case close`)"
        raise InvalidInput(
            f"A case cannot move from {case.stage.value} to {to.value}.",
            hint=f"From {case.stage.value} it can move to: {options}.",
        )
    if to is Stage.SUPPORT and case.consent not in (Consent.GIVEN, Consent.NOT_REQUIRED):
        raise InvalidInput(
            "Support needs consent on record.",
            hint="Record it first with `/case consent given [YYYY-MM-DD]` "
            "(or `not-required` where the law allows).",
        )
    previous = case.stage
    case.stage = to
    retention.reached(case, to)
    audit.record(
        session,
        actor=actor,
        action="case.stage",
        request_ref=request_ref,
        case=case,
        previous=previous.value,
        stage=to.value,
    )
    return previous


def parse_consent(value: str) -> Consent:
    try:
        consent = Consent(value.strip().lower())
    except ValueError:
        consent = None
    if consent is None or consent is Consent.NOT_RECORDED:
        raise InvalidInput(
            f"`{value}` is not a consent decision.", hint="Use given, withdrawn or not-required."
        )
    return consent


def record_consent(
    session: Session, *, case: Case, consent: Consent, on: date, actor: str, request_ref: str
) -> bool:
    """Record consent; returns True when a withdrawal moved the case back to panel decision."""
    locks.hold(session, case)
    require_open(case)
    require_lead(case, actor, "record consent")
    today = clock.today()
    if on > today:
        raise InvalidInput(f"{on.isoformat()} is in the future; give the date consent was decided.")
    earliest = inputs.years_from(today, -CONSENT_YEARS_BACK)
    if on < earliest:
        raise InvalidInput(
            f"{on.isoformat()} is more than {CONSENT_YEARS_BACK} years ago; "
            f"give the date consent was decided, from {earliest.isoformat()} on."
        )
    case.consent, case.consent_date = consent, on
    moved_back = consent is Consent.WITHDRAWN and case.stage is Stage.SUPPORT
    audit.record(
        session,
        actor=actor,
        action="case.consent",
        request_ref=request_ref,
        case=case,
        consent=consent.value,
        date=on.isoformat(),
    )
    if moved_back:
        case.stage = Stage.PANEL_DECISION
        audit.record(
            session,
            actor=actor,
            action="case.stage",
            request_ref=request_ref,
            case=case,
            previous=Stage.SUPPORT.value,
            stage=Stage.PANEL_DECISION.value,
            reason="consent withdrawn",
        )
    return moved_back


def add_agency(
    session: Session, *, case: Case, agency: Agency, actor: str, request_ref: str, basis: str
) -> int:
    """Add an agency; returns how many earlier updates it now sees (recorded as disclosed)."""
    locks.hold(session, case)
    require_open(case)
    require_lead(case, actor, "change which agencies take part")
    if agency in case.agencies:
        raise Conflict(f"`{agency.slug}` already takes part in case {case.reference}.")
    if not areas.takes_part(session, case.area_id, agency.id):
        area = session.get_one(Area, case.area_id)
        raise InvalidInput(
            f"{escape(agency.name)} (`{agency.slug}`) does not take part in {escape(area.name)}, "
            "the case's area.",
            hint=f"An admin adds it with `/area agency add {area.slug} {agency.slug}`.",
        )
    session.add(CaseAgency(case=case, agency=agency, added_by=actor))
    session.flush()
    earlier = sharing.earlier_updates(session, case, agency, actor=actor, basis=basis)
    audit.record(
        session,
        actor=actor,
        action="case.agency.added",
        request_ref=request_ref,
        case=case,
        agency=agency,
        earlier_updates=earlier,
    )
    return earlier


def remove_agency(session: Session, *, case: Case, agency: Agency, actor: str, request_ref: str) -> None:
    locks.hold(session, case)
    require_open(case)
    require_lead(case, actor, "change which agencies take part")
    participation = next((p for p in case.active_participations if p.agency_id == agency.id), None)
    if participation is None:
        raise NotFound(f"`{agency.slug}` does not take part in case {case.reference}.")
    if len(case.active_participations) == 1:
        raise InvalidInput("A case needs at least one participating agency.")
    participation.left_at = utcnow()
    participation.removed_by = actor
    audit.record(
        session,
        actor=actor,
        action="case.agency.removed",
        request_ref=request_ref,
        case=case,
        agency=agency,
    )


def check_closing(outcome: str, lessons: str, confirmed: Collection[str] = ()) -> list[Finding]:
    """The checks of the close form that need no database; returns the findings confirmed."""
    if not outcome.strip():
        raise InvalidInput("Say what the outcome was.", field="outcome")
    if len(outcome) > OUTCOME_MAX:
        raise InvalidInput(f"This is {len(outcome)} characters; the limit is {OUTCOME_MAX}.", field="outcome")
    if len(lessons) > LESSONS_MAX:
        raise InvalidInput(f"This is {len(lessons)} characters; the limit is {LESSONS_MAX}.", field="lessons")
    return sharing_gate.check({"outcome": outcome, "lessons": lessons}, confirmed)


def close(
    session: Session,
    *,
    case: Case,
    outcome: str,
    lessons: str,
    actor: str,
    request_ref: str,
    confirmed: Collection[str] = (),
) -> None:
    locks.hold(session, case)
    require_open(case)
    require_lead(case, actor, "close the case")
    overridden = check_closing(outcome, lessons, confirmed)
    sharing_gate.record_overrides(session, overridden, actor=actor, request_ref=request_ref, case=case)
    case.stage = Stage.CLOSED
    case.closed_at = utcnow()
    case.outcome, case.lessons = outcome.strip(), lessons.strip() or None
    retention.closed(case)
    audit.record(
        session,
        actor=actor,
        action="case.closed",
        request_ref=request_ref,
        case=case,
    )


def led_by(session: Session, user_id: str, *, include_closed: bool = False) -> list[Case]:
    query = select(Case).where(Case.lead_user_id == user_id).order_by(Case.opened_at.desc())
    if not include_closed:
        query = query.where(Case.stage != Stage.CLOSED)
    return list(session.scalars(query.options(selectinload(Case.participations))))


def mark_setup(session: Session, case: Case, *, error: str | None) -> None:
    case.setup_state = SetupState.FAILED if error else SetupState.READY
    case.setup_error = error


SETUP_INTERRUPTED_AFTER = timedelta(minutes=10)
SETUP_INTERRUPTED = "casehub stopped while it was setting up the channel"


def interrupted_setups(session: Session, now: datetime, *, limit: int = 100) -> list[Case]:
    """Cases whose channel setup began long ago and never ended: the process doing it stopped.

    Each is marked failed (so that it is reported once) and left for the lead to retry, as
    after a Slack failure: a setup still running that late would race the retry.
    """
    stalled = session.scalars(
        select(Case)
        .where(Case.setup_state == SetupState.PENDING, Case.opened_at < now - SETUP_INTERRUPTED_AFTER)
        .order_by(Case.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    for case in stalled:
        mark_setup(session, case, error=SETUP_INTERRUPTED)
        audit.record(
            session,
            actor="casehub",
            action="case.setup_interrupted",
            request_ref=f"sweep:{now:%Y%m%dT%H%M}",
            case=case,
        )
    return list(stalled)


def open_cases_of_agency(session: Session, agency: Agency) -> list[Case]:
    return list(
        session.scalars(
            select(Case)
            .join(CaseAgency)
            .where(
                CaseAgency.agency_id == agency.id,
                CaseAgency.left_at.is_(None),
                Case.stage != Stage.CLOSED,
                Case.channel_id.is_not(None),
            )
        )
    )
