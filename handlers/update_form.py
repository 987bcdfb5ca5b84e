"""Submissions of the update form: a new update, or the correction of one."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient

from blocks import modals
from blocks import updates as update_blocks
from flows import update_posting
from handlers.common import deps, reported, request_ref
from models import Risk
from services import cases, deliveries, updates
from services.errors import CasehubError


def register(app: App) -> None:
    app.view(update_blocks.UPDATE_FORM)(ack=reported(check_update), lazy=[reported(record_update)])


def draft_from(view: dict[str, Any]) -> updates.UpdateDraft:
    form = modals.values(view)
    risk = form.get("risk")
    try:
        contact = date.fromisoformat(form.get("contact_date") or "")
    except ValueError:
        contact = date.today()
    return updates.UpdateDraft(
        agency_slug=form.get("agency"),
        contact_date=contact,
        kind=updates.parse_kind(form.get("kind") or "other"),
        observed=form.get("observed") or "",
        risk=None if risk in (None, update_blocks.NO_CHANGE) else Risk(risk),
        protective_factors=form.get("protective_factors"),
        concerns=form.get("concerns"),
        asks=form.get("asks"),
        restricted=bool(form.get("restricted")),
        identifiers_confirmed=bool(form.get("confirm_identifiers")),
    )


def _problem(session: Any, view: dict[str, Any], user: str, window: int) -> CasehubError | None:
    meta = json.loads(view["private_metadata"])
    draft = draft_from(view)
    try:
        case = cases.get_by_reference(session, meta["case"])
        cases.require_open(case)
        updates.check_draft(draft)
        if meta.get("update"):
            updates.check_editable(updates.get(session, meta["update"]), user, window)
        else:
            updates.choose_agency(session, case, user, draft.agency_slug)
    except CasehubError as error:
        return error
    return None


def check_update(ack: Ack, body: dict[str, Any], view: dict[str, Any], context: BoltContext) -> None:
    d = deps(context)
    with d.db.reader() as session:
        problem = _problem(session, view, body["user"]["id"], d.settings.update_edit_minutes)
    if problem is None:
        ack()
    elif problem.field:
        ack(response_action="errors", errors={problem.field: problem.message})
    else:
        # Not about one field (a closed case, a lapsed edit window): say so at the top of the form.
        ack(response_action="errors", errors={"observed": problem.message})


def record_update(
    body: dict[str, Any], view: dict[str, Any], client: WebClient, context: BoltContext
) -> None:
    d, user, ref = deps(context), body["user"]["id"], request_ref(body)
    with d.db.reader() as session:
        if _problem(session, view, user, d.settings.update_edit_minutes) is not None:
            return  # the form was sent back with the reason
    meta = json.loads(view["private_metadata"])
    draft = draft_from(view)
    with d.db.session() as session:
        case = cases.get_by_reference(session, meta["case"])
        if meta.get("update"):
            update = updates.get(session, meta["update"])
            if not deliveries.claim(session, ref):
                return  # this correction was delivered before
            updates.correct(
                session,
                update=update,
                case=case,
                draft=draft,
                editor=user,
                window_minutes=d.settings.update_edit_minutes,
                request_ref=ref,
            )
            update_id, created, corrected = update.id, False, True
        else:
            update, created = updates.file(
                session, case=case, draft=draft, filer=user, filed_via=ref, request_ref=ref
            )
            update_id, corrected = update.id, False
    if created:
        update_posting.post(d.db, client, update_id=update_id, filer=user)
    elif corrected:
        update_posting.refresh(d.db, client, update_id=update_id)
