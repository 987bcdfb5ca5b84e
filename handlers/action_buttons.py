"""Buttons on action messages: done, extend, reassign; and the duplicate prompt's answers."""

from __future__ import annotations

import json
import re
from datetime import date
from typing import Any

from slack_bolt import App, BoltContext, Respond
from slack_sdk import WebClient

from blocks import actions as action_blocks
from flows import action_posting, home
from handlers.common import deferred, deps, request_ref
from models import Priority
from services import actions, cases, deliveries


def register(app: App) -> None:
    # Home lists many actions, each with its own Done button: action_done:<id> there.
    app.action(re.compile(r"^action_done(:\d+)?$"))(**deferred(mark_done))
    app.action("action_extend")(**deferred(open_extend))
    app.action("action_reassign")(**deferred(open_reassign))
    app.action("action_save_anyway")(**deferred(save_anyway))
    app.action("action_cancel")(**deferred(cancel))


def mark_done(
    body: dict[str, Any], action: dict[str, Any], client: WebClient, respond: Respond, context: BoltContext
) -> None:
    d, user, ref = deps(context), body["user"]["id"], request_ref(body)
    with d.db.session() as session:
        if not deliveries.claim(session, ref):
            return
        tracked = actions.by_id(session, int(action["value"]))
        case = tracked.case
        actions.complete(session, case=case, action=tracked, actor=user, request_ref=ref)
        action_id = tracked.id
    action_posting.post_or_refresh(d.db, client, action_id=action_id)
    if body.get("container", {}).get("type") == "view":
        home.publish(d.db, client, d.settings, user)


def open_extend(
    body: dict[str, Any], action: dict[str, Any], client: WebClient, context: BoltContext
) -> None:
    d, user = deps(context), body["user"]["id"]
    with d.db.reader() as session:
        tracked = actions.by_id(session, int(action["value"]))
        case = tracked.case
        # Refuse before the form opens: someone without the right is told at once.
        actions.require_may_update(session, case, tracked, user, "extend")
        view = action_blocks.extend_form(tracked, case)
    client.views_open(trigger_id=body["trigger_id"], view=view)


def open_reassign(
    body: dict[str, Any], action: dict[str, Any], client: WebClient, context: BoltContext
) -> None:
    d, user = deps(context), body["user"]["id"]
    with d.db.reader() as session:
        tracked = actions.by_id(session, int(action["value"]))
        case = tracked.case
        cases.require_lead(case, user, "reassign actions")
        actions.require_open_action(tracked)
        view = action_blocks.reassign_form(tracked, case, case.agencies)
    client.views_open(trigger_id=body["trigger_id"], view=view)


def save_anyway(
    body: dict[str, Any], action: dict[str, Any], client: WebClient, respond: Respond, context: BoltContext
) -> None:
    d, user = deps(context), body["user"]["id"]
    draft_data = json.loads(action["value"])
    draft = actions.ActionDraft(
        text=draft_data["text"],
        agency_slug=draft_data["agency"],
        owner=draft_data["owner"],
        due=date.fromisoformat(draft_data["due"]),
        priority=Priority(draft_data["priority"]),
        duplicate_confirmed=True,
    )
    with d.db.session() as session:
        case = cases.get_by_reference(session, draft_data["case"])
        # Keyed on the original command, so a second click saves nothing more.
        tracked, created = actions.add(
            session,
            case=case,
            draft=draft,
            actor=user,
            created_via=draft_data["ref"],
            request_ref=request_ref(body),
        )
        action_id = tracked.id
    if created:
        action_posting.post_or_refresh(d.db, client, action_id=action_id)
    respond(text="Action added." if created else "That action was saved already.", replace_original=True)


def cancel(respond: Respond, context: BoltContext) -> None:
    respond(text="Cancelled: nothing was saved.", replace_original=True)
