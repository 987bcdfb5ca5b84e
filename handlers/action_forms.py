"""Submissions of the action forms: add, extend the due date, reassign."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient

from blocks import actions as action_blocks
from blocks import modals
from flows import action_posting
from handlers.common import deps, reported, request_ref
from models import Priority
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


def _extend_problem(d: Any, view: dict[str, Any], user: str) -> CasehubError | None:
    meta, form = json.loads(view["private_metadata"]), modals.values(view)
    try:
        with d.db.reader() as session:
            case = cases.get_by_reference(session, meta["case"])
            action = actions.by_id(session, meta["action"])
            actions.extend(
                session,
                case=case,
                action=action,
                due=_date(form.get("due")),
                reason=form.get("reason") or "",
                actor=user,
                request_ref="check",
            )
    except CasehubError as error:
        return error
    return None


def check_extend(ack: Ack, body: dict[str, Any], view: dict[str, Any], context: BoltContext) -> None:
    # The check runs the change in a session that is never committed.
    _ack_problem(ack, _extend_problem(deps(context), view, body["user"]["id"]), "due")


def record_extend(
    body: dict[str, Any], view: dict[str, Any], client: WebClient, context: BoltContext
) -> None:
    d, user, ref = deps(context), body["user"]["id"], request_ref(body)
    if _extend_problem(d, view, user) is not None:
        return
    meta, form = json.loads(view["private_metadata"]), modals.values(view)
    with d.db.session() as session:
        if not deliveries.claim(session, ref):
            return
        case = cases.get_by_reference(session, meta["case"])
        action = actions.by_id(session, meta["action"])
        actions.extend(
            session,
            case=case,
            action=action,
            due=_date(form.get("due")),
            reason=form.get("reason") or "",
            actor=user,
            request_ref=ref,
        )
    action_posting.post_or_refresh(d.db, client, action_id=meta["action"])


def _reassign_problem(d: Any, view: dict[str, Any], user: str) -> CasehubError | None:
    meta, form = json.loads(view["private_metadata"]), modals.values(view)
    try:
        with d.db.reader() as session:
            case = cases.get_by_reference(session, meta["case"])
            actions.reassign(
                session,
                case=case,
                action=actions.by_id(session, meta["action"]),
                agency_slug=form.get("agency"),
                owner=form.get("owner"),
                actor=user,
                request_ref="check",
            )
    except CasehubError as error:
        return error
    return None


def check_reassign(ack: Ack, body: dict[str, Any], view: dict[str, Any], context: BoltContext) -> None:
    _ack_problem(ack, _reassign_problem(deps(context), view, body["user"]["id"]), "agency")


def record_reassign(
    body: dict[str, Any], view: dict[str, Any], client: WebClient, context: BoltContext
) -> None:
    d, user, ref = deps(context), body["user"]["id"], request_ref(body)
    if _reassign_problem(d, view, user) is not None:
        return
    meta, form = json.loads(view["private_metadata"]), modals.values(view)
    with d.db.session() as session:
        if not deliveries.claim(session, ref):
            return
        case = cases.get_by_reference(session, meta["case"])
        actions.reassign(
            session,
            case=case,
            action=actions.by_id(session, meta["action"]),
            agency_slug=form.get("agency"),
            owner=form.get("owner"),
            actor=user,
            request_ref=ref,
        )
    action_posting.post_or_refresh(d.db, client, action_id=meta["action"])
