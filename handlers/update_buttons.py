"""Buttons on updates and timelines: correct an update, raise a crisis, page through history."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from slack_bolt import App, BoltContext, Respond
from slack_sdk import WebClient

from blocks import updates as update_blocks
from handlers.common import deferred, deps
from services import agencies, cases, updates
from services.timeline import history, page


def register(app: App) -> None:
    app.action("update_edit")(**deferred(edit_update))
    app.action("timeline_earlier")(**deferred(turn_page))
    app.action("timeline_later")(**deferred(turn_page))
    app.action("sharing_earlier")(**deferred(turn_sharing_page))
    app.action("sharing_later")(**deferred(turn_sharing_page))


def edit_update(
    body: dict[str, Any], action: dict[str, Any], client: WebClient, context: BoltContext
) -> None:
    d, user = deps(context), body["user"]["id"]
    with d.db.reader() as session:
        update = updates.get(session, int(action["value"]))
        case = update.case
        cases.require_open(case)
        updates.check_editable(update, user, d.settings.update_edit_minutes)
        view = update_blocks.update_form(case, [], today=date.today(), existing=update)
    client.views_open(trigger_id=body["trigger_id"], view=view)


def turn_page(body: dict[str, Any], action: dict[str, Any], respond: Respond, context: BoltContext) -> None:
    d, user = deps(context), body["user"]["id"]
    query = json.loads(action["value"])
    with d.db.reader() as session:
        case = cases.get_by_reference(session, query["case"])
        since = date.fromisoformat(query["since"]) if query.get("since") else None
        entries = history(session, case, user, agency_slug=query.get("agency"), since=since)
        shown, pages = page(entries, query["page"])
        blocks = update_blocks.timeline(case, shown, min(query["page"], pages), pages, _query(query))
    respond(text=f"Case {case.reference}: timeline", blocks=blocks, replace_original=True)


def turn_sharing_page(
    body: dict[str, Any], action: dict[str, Any], respond: Respond, context: BoltContext
) -> None:
    d, user = deps(context), body["user"]["id"]
    query = json.loads(action["value"])
    with d.db.reader() as session:
        case = cases.get_by_reference(session, query["case"])
        cases.require_lead(case, user, "see the sharing log")
        by_id = {a.id: a for a in agencies.all_agencies(session)}
        shown, pages = page(updates.sharing_log(session, case), query["page"])
        blocks = update_blocks.sharing(case, shown, by_id, min(query["page"], pages), pages)
    respond(text=f"Case {case.reference}: sharing log", blocks=blocks, replace_original=True)


def _query(query: dict[str, Any]) -> dict[str, Any]:
    return {key: query.get(key) for key in ("case", "agency", "since")}
