"""The action tracker: who does what by when, and every change to it."""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from blocks.kit import escape
from models import (
    Action,
    ActionEvent,
    ActionStatus,
    Agency,
    Case,
    CaseAgency,
    Membership,
    Priority,
    Role,
    clock,
    utcnow,
)
from services import audit, cases, inputs, locks, reminders, sharing_gate, timeline
from services.errors import InvalidInput, NotAllowed, NotFound

TEXT_MAX = 500
REASON_MAX = 500
# An action is due from today to this many years ahead: a later date is a typing slip.
DUE_YEARS_AHEAD = 2
SIMILARITY = 0.6
_WORDS = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True)
class ActionDraft:
    text: str
    agency_slug: str | None
    owner: str | None
    due: date
    priority: Priority = Priority.NORMAL
    duplicate_confirmed: bool = False
    # The findings of the identifier check confirmed one by one (`sharing_gate.key`).
    confirmed: frozenset[str] = frozenset()


def parse_priority(value: str) -> Priority:
    try:
        return Priority(value.lower())
    except ValueError:
        raise InvalidInput(f"`{value}` is not a priority.", hint="Use low, normal, high or urgent.") from None


def check_due(due: date, *, field: str = "due", today: date | None = None) -> None:
    today = today or clock.today()
    if due < today:
        raise InvalidInput(f"{due.isoformat()} is in the past; give a date from today on.", field=field)
    latest = inputs.years_from(today, DUE_YEARS_AHEAD)
    if due > latest:
        raise InvalidInput(
            f"{due.isoformat()} is more than {DUE_YEARS_AHEAD} years ahead; give a date up to "
            f"{latest.isoformat()}.",
            field=field,
        )


def check_text(text: str, confirmed: Collection[str] = (), *, field: str = "text") -> None:
    if len(text.strip()) < 3:
        raise InvalidInput("Say what is to be done.", field=field)
    if len(text) > TEXT_MAX:
        raise InvalidInput(f"This is {len(text)} characters; the limit is {TEXT_MAX}.", field=field)
    sharing_gate.check({field: text}, confirmed, form="`/action add` without text")


def resolve_owner(session: Session, case: Case, draft: ActionDraft) -> Agency:
    """The owning agency: named, or the owner's agency in the case; the owner must belong to it."""
    participating = {a.slug: a for a in case.agencies}
    if draft.agency_slug:
        agency = participating.get(draft.agency_slug)
        if agency is None:
            raise InvalidInput(
                f"`{draft.agency_slug}` does not take part in case {case.reference}.",
                hint="Actions belong to a participating agency.",
                field="agency",
            )
    elif draft.owner:
        owner_agencies = [
            m.agency for m in cases.roles_in_case(session, case, draft.owner) if m.role is not Role.OBSERVER
        ]
        if not owner_agencies:
            raise InvalidInput(
                f"<@{draft.owner}> is not in an agency taking part in case {case.reference}.",
                hint="Choose someone from a participating agency.",
                field="owner",
            )
        if len(owner_agencies) > 1:
            raise InvalidInput(
                f"<@{draft.owner}> is in several agencies here; say which with `agency:<slug>`.",
                field="agency",
            )
        agency = owner_agencies[0]
    else:
        raise InvalidInput("Say which agency owns the action, or who does it.", field="agency")
    if draft.owner and not session.scalar(
        select(Membership.id).where(
            Membership.agency_id == agency.id,
            Membership.user_id == draft.owner,
            Membership.role != Role.OBSERVER,
        )
    ):
        raise InvalidInput(
            f"<@{draft.owner}> is not a member of {escape(agency.name)}.",
            hint="The owner must belong to the owning agency.",
            field="owner",
        )
    return agency


def similar_open(session: Session, case: Case, agency: Agency, text: str) -> Action | None:
    """An open action of the same agency on the case that reads like this one."""
    wanted = " ".join(_WORDS.findall(text.lower()))
    for action in session.scalars(
        select(Action).where(
            Action.case_id == case.id, Action.agency_id == agency.id, Action.status == ActionStatus.OPEN
        )
    ):
        existing = " ".join(_WORDS.findall(action.text.lower()))
        if difflib.SequenceMatcher(None, wanted, existing).ratio() >= SIMILARITY:
            return action
    return None


class LooksDuplicate(InvalidInput):
    def __init__(self, existing: Action) -> None:
        super().__init__(
            f"This looks like #{existing.number} “{escape(existing.text[:80])}” "
            f"({escape(existing.agency.name)}, due "
            f"{existing.due.isoformat()}), which is still open. Save it anyway, or cancel.",
            field="text",
        )
        self.existing = existing


def check_new(session: Session, case: Case, draft: ActionDraft, actor: str) -> Agency:
    cases.require_open(case)
    require_case_worker(session, case, actor)
    check_text(draft.text, draft.confirmed)
    check_due(draft.due)
    agency = resolve_owner(session, case, draft)
    if not draft.duplicate_confirmed:
        existing = similar_open(session, case, agency, draft.text)
        if existing is not None:
            raise LooksDuplicate(existing)
    return agency


def require_case_worker(session: Session, case: Case, user: str) -> None:
    cases.require_worker(session, case, user, "add actions")


def add(
    session: Session, *, case: Case, draft: ActionDraft, actor: str, created_via: str, request_ref: str
) -> tuple[Action, bool]:
    """Store a new action under the case's next number; returns (action, created).

    The same delivery again (the same `created_via`), even at the same moment, finds the first.
    """
    locks.hold(session, case)
    existing = session.scalar(select(Action).where(Action.created_via == created_via))
    if existing is not None:
        return existing, False
    agency = check_new(session, case, draft, actor)
    case.actions_numbered += 1
    number = case.actions_numbered
    action = Action(
        case_id=case.id,
        number=number,
        text=draft.text.strip(),
        agency=agency,
        owner=draft.owner,
        due=draft.due,
        priority=draft.priority,
        created_by=actor,
        created_via=created_via,
        status=ActionStatus.OPEN,
    )
    reminders.plan_action(action)
    session.add(action)
    session.flush()
    _event(action, actor, "created", due=draft.due.isoformat(), owner=draft.owner, agency=agency.slug)
    audit.record(
        session,
        actor=actor,
        action="action.added",
        request_ref=request_ref,
        case=case,
        agency=agency,
        number=number,
    )
    sharing_gate.admit(
        session, {"text": draft.text}, draft.confirmed, actor=actor, request_ref=request_ref, case=case
    )
    return action, True


def _event(action: Action, actor: str, kind: str, **details: object) -> None:
    action.history.append(ActionEvent(actor=actor, kind=kind, details=details))


def get(session: Session, case: Case, number: int) -> Action:
    action = session.scalar(select(Action).where(Action.case_id == case.id, Action.number == number))
    if action is None:
        raise NotFound(
            f"Case {case.reference} has no action #{number}.", hint="`/action list all` lists them."
        )
    return action


def by_id(session: Session, action_id: int) -> Action:
    action = session.get(Action, action_id)
    if action is None:
        raise NotFound("That action no longer exists.")
    return action


def in_case(session: Session, case: Case, action_id: int) -> Action:
    """The action a form names, which must be one of the case the form is about."""
    action = session.get(Action, action_id)
    if action is None or action.case_id != case.id:
        raise NotFound(
            f"Case {case.reference} has no such action.", hint="`/action list all` lists its actions."
        )
    return action


def _in_owning_agency(session: Session, action: Action, user: str) -> bool:
    return (
        session.scalar(
            select(Membership.id).where(
                Membership.agency_id == action.agency_id,
                Membership.user_id == user,
                Membership.role != Role.OBSERVER,
            )
        )
        is not None
    )


def require_open_action(action: Action) -> None:
    if not action.is_open:
        raise InvalidInput(f"Action #{action.number} is already done.")


def require_may_update(session: Session, case: Case, action: Action, actor: str, doing: str) -> None:
    """The owner, the owning agency and the lead coordinator complete and extend an action.

    Each of them must still work on the case at that moment: an owner who has since lost
    their role in every agency taking part no longer may.
    """
    if action.case_id != case.id:
        raise NotFound(f"Case {case.reference} has no such action.")
    cases.require_open(case)
    require_open_action(action)
    is_lead = cases.acts_as_lead(session, case, actor)
    if actor != action.owner and not is_lead and not _in_owning_agency(session, action, actor):
        raise NotAllowed(
            f"Only the owner, {escape(action.agency.name)} or the lead coordinator can {doing} "
            f"#{action.number}."
        )
    cases.require_worker(session, case, actor, doing + " actions")


def complete(session: Session, *, case: Case, action: Action, actor: str, request_ref: str) -> None:
    locks.hold(session, case)  # two people pressing Done at once: the second finds it done
    require_may_update(session, case, action, actor, "complete")
    action.status, action.done_at, action.done_by = ActionStatus.DONE, utcnow(), actor
    reminders.plan_action(action)
    _event(action, actor, "done")
    audit.record(
        session, actor=actor, action="action.done", request_ref=request_ref, case=case, number=action.number
    )


def check_extend(
    session: Session,
    *,
    case: Case,
    action: Action,
    due: date,
    reason: str,
    actor: str,
    confirmed: Collection[str] = (),
) -> None:
    """Whether `extend` would be refused, and why; changes nothing."""
    require_may_update(session, case, action, actor, "extend")
    check_due(due)
    if due <= action.due:
        raise InvalidInput(f"The new date must be after {action.due.isoformat()}.", field="due")
    if len(reason.strip()) < 3:
        raise InvalidInput("Say why the date moves.", field="reason")
    if len(reason) > REASON_MAX:
        raise InvalidInput(f"This is {len(reason)} characters; the limit is {REASON_MAX}.", field="reason")
    sharing_gate.check({"reason": reason}, confirmed)


def extend(
    session: Session,
    *,
    case: Case,
    action: Action,
    due: date,
    reason: str,
    actor: str,
    request_ref: str,
    confirmed: Collection[str] = (),
) -> None:
    locks.hold(session, case)
    check_extend(session, case=case, action=action, due=due, reason=reason, actor=actor, confirmed=confirmed)
    sharing_gate.admit(
        session, {"reason": reason}, confirmed, actor=actor, request_ref=request_ref, case=case
    )
    previous, action.due = action.due, due
    reminders.plan_action(action)
    _event(
        action, actor, "extended", previous=previous.isoformat(), due=due.isoformat(), reason=reason.strip()
    )
    audit.record(
        session,
        actor=actor,
        action="action.extended",
        request_ref=request_ref,
        case=case,
        number=action.number,
        due=due.isoformat(),
    )


def check_reassign(
    session: Session, *, case: Case, action: Action, agency_slug: str | None, owner: str | None, actor: str
) -> Agency:
    """The agency `reassign` would give the action, or why it would be refused; changes nothing."""
    if action.case_id != case.id:
        raise NotFound(f"Case {case.reference} has no such action.")
    cases.require_open(case)
    require_open_action(action)
    cases.require_lead(case, actor, "reassign actions")
    draft = ActionDraft(action.text, agency_slug, owner, action.due, duplicate_confirmed=True)
    return resolve_owner(session, case, draft)


def reassign(
    session: Session,
    *,
    case: Case,
    action: Action,
    agency_slug: str | None,
    owner: str | None,
    actor: str,
    request_ref: str,
) -> None:
    locks.hold(session, case)
    agency = check_reassign(
        session, case=case, action=action, agency_slug=agency_slug, owner=owner, actor=actor
    )
    previous = {"agency": action.agency.slug, "owner": action.owner}
    action.agency, action.owner = agency, owner
    reminders.plan_action(action)  # a new owner hears about it from the due date on
    _event(action, actor, "reassigned", previous=previous, agency=agency.slug, owner=owner)
    audit.record(
        session,
        actor=actor,
        action="action.reassigned",
        request_ref=request_ref,
        case=case,
        agency=agency,
        number=action.number,
        owner=owner,
    )


LIST_FILTERS = ("mine", "overdue", "open", "all")


def listing(session: Session, user: str, which: str, *, case: Case | None = None) -> list[Action]:
    """Actions for `/action list`: in one case, or (mine, overdue) across the user's cases."""
    if which not in LIST_FILTERS:
        raise InvalidInput(f"`{which}` is not a list.", hint="Use mine, overdue, open or all.")
    query = select(Action).options(joinedload(Action.agency)).order_by(Action.due, Action.id)
    if case is not None:
        query = query.where(Action.case_id == case.id)
    else:
        if which not in ("mine", "overdue"):
            raise InvalidInput(
                "Outside a case channel, `/action list` shows `mine` or `overdue`.",
                hint="Run `/action list open` or `all` in the case's channel.",
            )
        query = query.where(Action.case_id.in_(visible_case_ids(session, user)))
    if which != "all":
        query = query.where(Action.status == ActionStatus.OPEN)
    if which == "overdue":
        query = query.where(Action.due < clock.today())
    if which == "mine":
        query = query.where(Action.owner == user)
    return list(session.scalars(query))


def visible_case_ids(session: Session, user: str) -> list[int]:
    """Open cases a person takes part in: as lead, or through a participating agency."""
    agency_ids = select(Membership.agency_id).where(Membership.user_id == user)
    through_agency = select(CaseAgency.case_id).where(
        CaseAgency.agency_id.in_(agency_ids), CaseAgency.left_at.is_(None)
    )
    query = (
        select(Case.id)
        .where(Case.stage != "closed")
        .where((Case.lead_user_id == user) | Case.id.in_(through_agency))
    )
    return list(session.scalars(query))


def agency_open_actions(session: Session, user: str) -> list[Action]:
    """Open actions a member should see on Home: theirs, and their agencies' in their cases."""
    agency_ids = list(session.scalars(select(Membership.agency_id).where(Membership.user_id == user)))
    case_ids = visible_case_ids(session, user)
    query = (
        select(Action)
        .options(joinedload(Action.agency))
        .where(
            Action.status == ActionStatus.OPEN,
            Action.case_id.in_(case_ids),
            (Action.owner == user) | Action.agency_id.in_(agency_ids),
        )
        .order_by(Action.due, Action.id)
    )
    return list(session.scalars(query))


def open_for_cases(session: Session, case_ids: list[int]) -> list[Action]:
    return list(
        session.scalars(
            select(Action)
            .options(joinedload(Action.agency))
            .where(Action.case_id.in_(case_ids), Action.status == ActionStatus.OPEN)
            .order_by(Action.due, Action.id)
        )
    )


def week_end(today: date) -> date:
    return today + timedelta(days=6 - today.weekday())


def _timeline_entries(session: Session, case: Case, viewer: str) -> list[timeline.Entry]:
    words = {
        "created": "action added",
        "done": "action completed",
        "extended": "due date moved",
        "reassigned": "action reassigned",
        "handed-over": "action handed over",
    }
    out = []
    rows = session.execute(
        select(ActionEvent, Action)
        .join(Action, ActionEvent.action_id == Action.id)
        .where(Action.case_id == case.id)
        .options(joinedload(Action.agency))
    )
    for event, action in rows:
        reason = f" ({escape(event.details['reason'])})" if event.details.get("reason") else ""
        text = f"{words.get(event.kind, event.kind)}: #{action.number} {escape(action.text[:200])}{reason}"
        out.append(timeline.Entry(event.at, "action", action.agency.name, text))
    return out


timeline.SOURCES.append(_timeline_entries)
