"""Buttons on action messages: done, extend, reassign; and the duplicate prompt's answers."""

from __future__ import annotations

import re
from typing import Any

from slack_bolt import App, BoltContext, Respond
from slack_sdk import WebClient

from blocks import actions as action_blocks
from flows import action_posting, home
from handlers import payload
from handlers.common import deferred, deps, request_ref
from models import Priority
from services import actions, cases, deliveries


def register(app: App) -> None:
    # Home lists many actions, each with its own Done button: action_done:<id> there.
    app.action(re.compile(r"^action_done(:\d+)?$"))(**deferred(mark_done))
    app.action("action_extend")(**deferred(open_extend, urgent=True))
    app.action("action_reassign")(**deferred(open_reassign, urgent=True))
    app.action("action_save_anyway")(**deferred(save_anyway))
    app.action("action_cancel")(**deferred(cancel))


def mark_done(
    body: dict[str, Any], action: dict[str, Any], client: WebClient, respond: Respond, context: BoltContext
) -> None:
    d, user, ref = deps(context), body["user"]["id"], request_ref(body)
    with d.db.session() as session:
        tracked = actions.by_id(session, payload.button_id(action))
        case = tracked.case
        if not deliveries.claim(session, ref):
            return
        actions.complete(session, case=case, action=tracked, actor=user, request_ref=ref)
        action_id = tracked.id
    action_posting.post_or_refresh(d.db, client, action_id=action_id)
    if body.get("container", {}).get("type") == "view":
        home.publish(d.db, client, d.settings, user, ref=ref)


def open_extend(
    body: dict[str, Any], action: dict[str, Any], client: WebClient, context: BoltContext
) -> None:
    d, user = deps(context), body["user"]["id"]
    with d.db.reader() as session:
        tracked = actions.by_id(session, payload.button_id(action))
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
        tracked = actions.by_id(session, payload.button_id(action))
        case = tracked.case
        cases.require_lead(case, user, "reassign actions")
        actions.require_open_action(tracked)
        view = action_blocks.reassign_form(tracked, case, case.agencies)
    client.views_open(trigger_id=body["trigger_id"], view=view)


def save_anyway(
    body: dict[str, Any], action: dict[str, Any], client: WebClient, respond: Respond, context: BoltContext
) -> None:
    d, user = deps(context), body["user"]["id"]
    draft, reference, command_ref = saved_draft(payload.button_object(action), user)
    with d.db.session() as session:
        case = cases.get_by_reference(session, reference)
        # Keyed on the original command, so a second click saves nothing more. Everything
        # else is checked again as for a new action: the case, the person's right, the owner.
        tracked, created = actions.add(
            session,
            case=case,
            draft=draft,
            actor=user,
            created_via=command_ref,
            request_ref=request_ref(body),
        )
        action_id = tracked.id
    action_posting.post_or_refresh(d.db, client, action_id=action_id)  # once, however often
    respond(text="Action added." if created else "That action was saved already.", replace_original=True)


def saved_draft(value: dict[str, Any], user: str) -> tuple[actions.ActionDraft, str, str]:
    """The draft a duplicate prompt carries, its case and the command that made it, typed."""
    command_ref = payload.text(value.get("ref"), limit=200)
    if value.get("user") != user or not command_ref.startswith("command:/action:"):
        raise payload.unreadable()  # someone else's prompt, or not one casehub wrote
    due = payload.optional_date(value.get("due"))
    if due is None:
        raise payload.unreadable()
    try:
        priority = Priority(payload.text(value.get("priority"), limit=20))
    except ValueError:
        raise payload.unreadable() from None
    draft = actions.ActionDraft(
        text=payload.text(value.get("text"), limit=actions.TEXT_MAX),
        agency_slug=payload.optional_text(value.get("agency"), limit=100),
        owner=payload.optional_text(value.get("owner"), limit=30),
        due=due,
        priority=priority,
        duplicate_confirmed=True,
    )
    return draft, payload.reference(value), command_ref


def cancel(respond: Respond, context: BoltContext) -> None:
    respond(text="Cancelled: nothing was saved.", replace_original=True)
