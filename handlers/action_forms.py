"""Submissions of the action forms: add, extend the due date, reassign."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient
from sqlalchemy.orm import Session

from blocks import actions as action_blocks
from blocks import findings, modals
from flows import action_posting
from handlers import payload
from handlers.common import answer_form, deps, reported, request_ref
from models import Action, Case, Priority
from services import actions, agencies, cases, deliveries, inputs
from services.errors import CasehubError


def register(app: App) -> None:
    app.view(action_blocks.ADD_FORM)(ack=reported(check_add), lazy=[reported(record_add)])
    app.view(action_blocks.EXTEND_FORM)(ack=reported(check_extend), lazy=[reported(record_extend)])
    app.view(action_blocks.REASSIGN_FORM)(ack=reported(check_reassign), lazy=[reported(record_reassign)])


def add_draft(view: dict[str, Any]) -> actions.ActionDraft:
    """The form's values, typed; one the form never offered is refused on its field."""
    form = modals.values(view)
    return actions.ActionDraft(
        text=inputs.text(form.get("text"), field="text").strip(),
        agency_slug=_agency(form),
        owner=_owner(form),
        due=inputs.parse_date(form.get("due"), field="due", what="due date"),
        priority=inputs.parse_choice(
            Priority, form.get("priority") or Priority.NORMAL, field="priority", what="a priority"
        ),
        duplicate_confirmed=inputs.ticked(form.get("confirm_duplicate"), field="confirm_duplicate"),
        confirmed=findings.confirmed(view),
    )


def _agency(form: dict[str, modals.FormValue]) -> str | None:
    chosen = form.get("agency")
    return None if chosen is None else agencies.chosen_slug(chosen, field="agency")


def _owner(form: dict[str, modals.FormValue]) -> str | None:
    chosen = form.get("owner")
    return None if chosen is None else inputs.parse_person(chosen, field="owner", what="an owner")


def _add_problem(d: Any, view: dict[str, Any], user: str) -> CasehubError | None:
    try:
        with d.db.reader() as session:
            case = cases.get_by_reference(session, payload.reference(payload.metadata(view)))
            actions.check_new(session, case, add_draft(view), user)
    except CasehubError as error:
        return error
    return None


def check_add(ack: Ack, body: dict[str, Any], view: dict[str, Any], context: BoltContext) -> None:
    answer_form(ack, view, _add_problem(deps(context), view, body["user"]["id"]), field="text")


def record_add(body: dict[str, Any], view: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    d, user, ref = deps(context), body["user"]["id"], request_ref(body)
    if _add_problem(d, view, user) is not None:
        return  # sent back to the form
    with d.db.session() as session:
        case = cases.get_by_reference(session, payload.reference(payload.metadata(view)))
        action, _ = actions.add(
            session, case=case, draft=add_draft(view), actor=user, created_via=ref, request_ref=ref
        )
        action_id = action.id
    # Posted once however often this runs: a repeat (its first attempt cut off) finishes the post.
    action_posting.post_or_refresh(d.db, client, action_id=action_id)


# Check (with no request reference) or make a change to the action a form names.
Change = Callable[[Session, Case, Action, dict[str, Any], str, str | None], None]


def _extend(
    session: Session, case: Case, action: Action, form: dict[str, Any], user: str, ref: str | None
) -> None:
    due = inputs.parse_date(form.get("due"), field="due", what="due date")
    reason = inputs.text(form.get("reason"), field="reason")
    confirmed = findings.ticked_in(form)
    if ref is None:
        actions.check_extend(
            session, case=case, action=action, due=due, reason=reason, actor=user, confirmed=confirmed
        )
    else:
        actions.extend(
            session,
            case=case,
            action=action,
            due=due,
            reason=reason,
            actor=user,
            request_ref=ref,
            confirmed=confirmed,
        )


def _reassign(
    session: Session, case: Case, action: Action, form: dict[str, Any], user: str, ref: str | None
) -> None:
    values = {"agency_slug": _agency(form), "owner": _owner(form)}
    if ref is None:
        actions.check_reassign(session, case=case, action=action, actor=user, **values)
    else:
        actions.reassign(session, case=case, action=action, actor=user, request_ref=ref, **values)


def _apply(d: Any, view: dict[str, Any], user: str, change: Change, ref: str | None) -> CasehubError | None:
    """Make the change to the action named in the form; with no `ref`, only check it.

    The action must be one of the case the form names, and the person must have the right to
    change it there now: both are checked in the database, whatever the form carries.
    """
    form = modals.values(view)
    try:
        meta = payload.metadata(view)
        reference, action_id = payload.reference(meta), payload.identifier(meta.get("action"))
        with d.db.session() if ref else d.db.reader() as session:
            case = cases.get_by_reference(session, reference)
            action = actions.in_case(session, case, action_id)
            if ref and not deliveries.claim(session, ref):
                return None  # this submission was applied before
            change(session, case, action, form, user, ref)
    except CasehubError as error:
        return error
    return None


def _changer(change: Change, default_field: str) -> tuple[Callable[..., None], Callable[..., None]]:
    def check(ack: Ack, body: dict[str, Any], view: dict[str, Any], context: BoltContext) -> None:
        problem = _apply(deps(context), view, body["user"]["id"], change, None)
        answer_form(ack, view, problem, field=default_field)

    def record(body: dict[str, Any], view: dict[str, Any], client: WebClient, context: BoltContext) -> None:
        d, user = deps(context), body["user"]["id"]
        if _apply(d, view, user, change, None) is not None:
            return  # sent back to the form with the reason
        problem = _apply(d, view, user, change, request_ref(body))
        if problem is not None:
            raise problem
        action_id = payload.identifier(payload.metadata(view).get("action"))
        action_posting.post_or_refresh(d.db, client, action_id=action_id)

    check.__name__ = check.__qualname__ = f"check_{change.__name__.strip('_')}"
    record.__name__ = record.__qualname__ = f"record_{change.__name__.strip('_')}"
    return check, record


check_extend, record_extend = _changer(_extend, "due")
check_reassign, record_reassign = _changer(_reassign, "agency")
