"""Submissions of the action forms: add, extend the due date, reassign."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient
from sqlalchemy.orm import Session

from blocks import actions as action_blocks
from blocks import modals
from flows import action_posting
from handlers.common import deps, reported, request_ref
from models import Action, Case, Priority
from services import actions, cases, deliveries
from services.errors import CasehubError


def register(app: App) -> None:
    app.view(action_blocks.ADD_FORM)(ack=reported(check_add), lazy=[reported(record_add)])
    app.view(action_blocks.EXTEND_FORM)(ack=reported(check_extend), lazy=[reported(record_extend)])
    app.view(action_blocks.REASSIGN_FORM)(ack=reported(check_reassign), lazy=[reported(record_reassign)])


def _date(value: str | None) -> date:
    try:
        return date.fromisoformat(value or "")
    except ValueError:
        return date.min


def add_draft(view: dict[str, Any]) -> actions.ActionDraft:
    form = modals.values(view)
    return actions.ActionDraft(
        text=(form.get("text") or "").strip(),
        agency_slug=form.get("agency"),
        owner=form.get("owner"),
        due=_date(form.get("due")),
        priority=Priority(form.get("priority") or "normal"),
        duplicate_confirmed=bool(form.get("confirm_duplicate")),
    )


def _ack_problem(ack: Ack, problem: CasehubError | None, default_field: str) -> None:
    if problem is None:
        ack()
    else:
        ack(response_action="errors", errors={problem.field or default_field: problem.message})


def _add_problem(d: Any, view: dict[str, Any], user: str) -> CasehubError | None:
    try:
        with d.db.reader() as session:
            case = cases.get_by_reference(session, json.loads(view["private_metadata"])["case"])
            actions.check_new(session, case, add_draft(view), user)
    except CasehubError as error:
        return error
    return None


def check_add(ack: Ack, body: dict[str, Any], view: dict[str, Any], context: BoltContext) -> None:
    _ack_problem(ack, _add_problem(deps(context), view, body["user"]["id"]), "text")


def record_add(body: dict[str, Any], view: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    d, user, ref = deps(context), body["user"]["id"], request_ref(body)
    if _add_problem(d, view, user) is not None:
        return  # sent back to the form
    with d.db.session() as session:
        case = cases.get_by_reference(session, json.loads(view["private_metadata"])["case"])
        action, created = actions.add(
            session, case=case, draft=add_draft(view), actor=user, created_via=ref, request_ref=ref
        )
        action_id = action.id
    if created:
        action_posting.post_or_refresh(d.db, client, action_id=action_id)


# Check (with no request reference) or make a change to the action a form names.
Change = Callable[[Session, Case, Action, dict[str, Any], str, str | None], None]


def _extend(
    session: Session, case: Case, action: Action, form: dict[str, Any], user: str, ref: str | None
) -> None:
    values = {"due": _date(form.get("due")), "reason": form.get("reason") or ""}
    if ref is None:
        actions.check_extend(session, case=case, action=action, actor=user, **values)
    else:
        actions.extend(session, case=case, action=action, actor=user, request_ref=ref, **values)


def _reassign(
    session: Session, case: Case, action: Action, form: dict[str, Any], user: str, ref: str | None
) -> None:
    values = {"agency_slug": form.get("agency"), "owner": form.get("owner")}
    if ref is None:
        actions.check_reassign(session, case=case, action=action, actor=user, **values)
    else:
        actions.reassign(session, case=case, action=action, actor=user, request_ref=ref, **values)


def _apply(d: Any, view: dict[str, Any], user: str, change: Change, ref: str | None) -> CasehubError | None:
    """Make the change to the action named in the form; with no `ref`, only check it."""
    meta, form = json.loads(view["private_metadata"]), modals.values(view)
    try:
        with d.db.session() if ref else d.db.reader() as session:
            if ref and not deliveries.claim(session, ref):
                return None  # this submission was applied before
            case = cases.get_by_reference(session, meta["case"])
            change(session, case, actions.by_id(session, meta["action"]), form, user, ref)
    except CasehubError as error:
        return error
    return None


def _changer(change: Change, default_field: str) -> tuple[Callable[..., None], Callable[..., None]]:
    def check(ack: Ack, body: dict[str, Any], view: dict[str, Any], context: BoltContext) -> None:
        _ack_problem(ack, _apply(deps(context), view, body["user"]["id"], change, None), default_field)

    def record(body: dict[str, Any], view: dict[str, Any], client: WebClient, context: BoltContext) -> None:
        d, user = deps(context), body["user"]["id"]
        if _apply(d, view, user, change, None) is not None:
            return  # sent back to the form with the reason
        problem = _apply(d, view, user, change, request_ref(body))
        if problem is not None:
            raise problem
        action_posting.post_or_refresh(d.db, client, action_id=json.loads(view["private_metadata"])["action"])

    check.__name__ = check.__qualname__ = f"check_{change.__name__.strip('_')}"
    record.__name__ = record.__qualname__ = f"record_{change.__name__.strip('_')}"
    return check, record


check_extend, record_extend = _changer(_extend, "due")
check_reassign, record_reassign = _changer(_reassign, "agency")
