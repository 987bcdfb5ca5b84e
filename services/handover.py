"""Hand-over: a successor takes over a person's role, cases, actions and lead duties."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from blocks.kit import escape
from models import Action, ActionEvent, ActionStatus, Agency, Case, Role, Stage
from services import agencies, audit, cases, locks, reminders, sharing
from services.errors import InvalidInput, NotAllowed, NotFound

_RANK = {Role.OBSERVER: 0, Role.MEMBER: 1, Role.COORDINATOR: 2}


@dataclass
class Handover:
    agency: Agency
    predecessor: str
    successor: str
    role: Role
    # Per open case whose channel changes: who was entitled before the hand-over.
    before: dict[int, set[str]] = field(default_factory=dict)
    actions: list[int] = field(default_factory=list)
    lead_cases: list[int] = field(default_factory=list)


def require_may_hand_over(session: Session, agency: Agency, actor: str, *, is_admin: bool) -> None:
    if is_admin:
        return
    membership = agencies.membership_of(session, agency, actor)
    if membership is None or membership.role is not Role.COORDINATOR:
        raise NotAllowed(
            f"Only casehub admins and coordinators of {escape(agency.name)} hand over its roles."
        )


def agency_for(session: Session, predecessor: str, slug: str | None) -> Agency:
    if slug:
        return agencies.get(session, slug)
    held = agencies.memberships_of(session, predecessor)
    if not held:
        raise NotFound(f"<@{predecessor}> has no role in any agency.")
    if len(held) > 1:
        raise InvalidInput(
            f"<@{predecessor}> is in several agencies; say which.",
            hint="For example `/agency handover @from @to police`.",
        )
    return held[0].agency


def hand_over(
    session: Session,
    *,
    agency: Agency,
    predecessor: str,
    successor: str,
    actor: str,
    is_admin: bool,
    request_ref: str,
    basis: str,
) -> Handover:
    require_may_hand_over(session, agency, actor, is_admin=is_admin)
    if predecessor == successor:
        raise InvalidInput("Someone cannot hand over to themselves.")
    # A change within a case locks the case before it touches the case's actions; so does a
    # hand-over, in the cases whose lead or actions it changes, or each could wait for the other.
    changing = session.scalars(
        select(Case).where(
            ((Case.lead_user_id == predecessor) & (Case.stage != Stage.CLOSED))
            | Case.id.in_(
                select(Action.case_id).where(
                    Action.owner == predecessor,
                    Action.agency_id == agency.id,
                    Action.status == ActionStatus.OPEN,
                )
            )
        )
    ).all()
    locks.hold(session, agency, *changing)
    current = agencies.membership_of(session, agency, predecessor)
    if current is None:
        raise NotFound(f"<@{predecessor}> is not in `{agency.slug}`.")
    role = current.role
    led = list(
        session.scalars(select(Case).where(Case.lead_user_id == predecessor, Case.stage != Stage.CLOSED))
    )
    affected = {c.id: c for c in cases.open_cases_of_agency(session, agency)}
    if role is Role.COORDINATOR:
        affected.update({c.id: c for c in led if c.channel_id})
    result = Handover(agency, predecessor, successor, role)
    result.before = {case_id: cases.entitled_users(session, case) for case_id, case in affected.items()}

    existing = agencies.membership_of(session, agency, successor)
    if existing is None or _RANK[existing.role] < _RANK[role]:
        agencies.set_member(
            session, agency=agency, user_id=successor, role=role, actor=actor, request_ref=request_ref
        )
    agencies.remove_member(session, agency=agency, user_id=predecessor, actor=actor, request_ref=request_ref)

    for action in session.scalars(
        select(Action).where(
            Action.owner == predecessor, Action.agency_id == agency.id, Action.status == ActionStatus.OPEN
        )
    ):
        action.owner = successor
        reminders.plan_action(action)
        action.history.append(
            ActionEvent(actor=actor, kind="handed-over", details={"from": predecessor, "to": successor})
        )
        result.actions.append(action.id)
    if role is Role.COORDINATOR:
        for case in led:
            case.lead_user_id = successor
            audit.record(
                session,
                actor=actor,
                action="case.lead_handed_over",
                request_ref=request_ref,
                case=case,
                previous=predecessor,
                lead=successor,
            )
            result.lead_cases.append(case.id)
    # The successor receives each case's information: recorded where they did not have it yet
    # (a lead's cases always: the lead also sees restricted updates).
    handed = {**affected, **{case.id: case for case in led if case.id in result.lead_cases}}
    for case_id, case in handed.items():
        lead = case_id in result.lead_cases
        if lead or successor not in result.before.get(case_id, set()):
            sharing.handed_over(
                session,
                case,
                agency,
                predecessor=predecessor,
                successor=successor,
                actor=actor,
                lead=lead,
                basis=basis,
            )
    audit.record(
        session,
        actor=actor,
        action="agency.handover",
        request_ref=request_ref,
        agency=agency,
        predecessor=predecessor,
        successor=successor,
        role=role.value,
        actions=len(result.actions),
        lead_cases=len(result.lead_cases),
    )
    session.flush()
    return result


def cases_in_care(session: Session, successor: str, case_ids: list[int]) -> list[tuple[Case, list[Action]]]:
    """For the successor's briefing: each case now in their care with their open actions in it."""
    briefing = []
    for case in session.scalars(select(Case).where(Case.id.in_(case_ids)).order_by(Case.reference)):
        mine = list(
            session.scalars(
                select(Action).where(
                    Action.case_id == case.id, Action.status == ActionStatus.OPEN, Action.owner == successor
                )
            )
        )
        briefing.append((case, mine))
    return briefing
