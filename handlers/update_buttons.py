"""Buttons on updates and timelines: correct an update, raise a crisis, page through history."""

from __future__ import annotations

from typing import Any

from slack_bolt import App, BoltContext, Respond
from slack_sdk import WebClient

from blocks import updates as update_blocks
from flows import notify, update_posting
from handlers import payload
from handlers.common import deferred, deps, record_shown, request_ref
from models import Case, Disclosure, clock
from services import agencies, cases, outbox, updates
from services.timeline import history, page


def register(app: App) -> None:
    app.action("update_edit")(**deferred(edit_update, urgent=True))
    app.action(update_blocks.CORRECTION_APPROVE)(**deferred(decide_correction))
    app.action(update_blocks.CORRECTION_REFUSE)(**deferred(decide_correction))
    app.action("timeline_earlier")(**deferred(turn_page))
    app.action("timeline_later")(**deferred(turn_page))
    app.action("sharing_earlier")(**deferred(turn_sharing_page))
    app.action("sharing_later")(**deferred(turn_sharing_page))


def edit_update(
    body: dict[str, Any], action: dict[str, Any], client: WebClient, context: BoltContext
) -> None:
    d, user = deps(context), body["user"]["id"]
    with d.db.reader() as session:
        update = updates.get(session, payload.button_id(action))
        case = update.case
        updates.require_may_rectify(session, case, update, user)
        # Past the window, the same form asks the lead to approve the correction.
        rectify = not updates.within_window(update, d.settings.update_edit_minutes)
        view = update_blocks.update_form(case, [], today=clock.today(), existing=update, rectify=rectify)
    client.views_open(trigger_id=body["trigger_id"], view=view)


def decide_correction(
    body: dict[str, Any], action: dict[str, Any], client: WebClient, respond: Respond, context: BoltContext
) -> None:
    """The lead approves or refuses a correction asked for after the edit window."""
    d, user, ref = deps(context), body["user"]["id"], request_ref(body)
    approve = action["action_id"] == update_blocks.CORRECTION_APPROVE
    with d.db.session() as session:
        correction, decided = updates.decide_correction(
            session,
            correction_id=payload.button_id(action),
            approve=approve,
            lead=user,
            request_ref=ref,
            basis=d.settings.sharing_basis(Disclosure.CORRECTION),
        )
        case = session.get_one(Case, correction.case_id)
        told = update_blocks.correction_decided(correction, case)
        key = f"correction-decided:{correction.id}"
        if decided:
            outbox.owe(session, key, text=told, recipient=correction.proposed_by)
        update_id, approved = correction.update_id, correction.state == "approved"
    if approved:  # however often this runs, the channel's message shows the update as it is
        update_posting.refresh(d.db, client, update_id=update_id)
    notify.send_owed(d.db, client, [key])
    respond(text=told, replace_original=True)


def turn_page(body: dict[str, Any], action: dict[str, Any], respond: Respond, context: BoltContext) -> None:
    d, user = deps(context), body["user"]["id"]
    query = payload.button_object(action)
    number, since = payload.page_number(query.get("page")), payload.optional_date(query.get("since"))
    agency = payload.optional_text(query.get("agency"), limit=100)
    with d.db.reader() as session:
        case = cases.get_by_reference(session, payload.reference(query))
        entries = history(session, case, user, agency_slug=agency, since=since)
        shown, pages = page(entries, number)
        blocks = update_blocks.timeline(case, shown, min(number, pages), pages, _query(query))
        reference, case_id = case.reference, case.id
    record_shown(d.db, user=user, case_ids=[case_id], view="timeline", ref=request_ref(body))
    respond(text=f"Case {reference}: timeline", blocks=blocks, replace_original=True)


def turn_sharing_page(
    body: dict[str, Any], action: dict[str, Any], respond: Respond, context: BoltContext
) -> None:
    d, user = deps(context), body["user"]["id"]
    query = payload.button_object(action)
    number = payload.page_number(query.get("page"))
    with d.db.reader() as session:
        case = cases.get_by_reference(session, payload.reference(query))
        cases.require_lead(case, user, "see the sharing log")
        by_id = {a.id: a for a in agencies.all_agencies(session)}
        shown, pages = page(updates.sharing_log(session, case), number)
        blocks = update_blocks.sharing(
            case, shown, by_id, min(number, pages), pages, bases=d.settings.sharing_bases
        )
        reference, case_id = case.reference, case.id
    record_shown(d.db, user=user, case_ids=[case_id], view="sharing", ref=request_ref(body))
    respond(text=f"Case {reference}: sharing log", blocks=blocks, replace_original=True)


def _query(query: dict[str, Any]) -> dict[str, Any]:
    return {key: query.get(key) for key in ("case", "agency", "since")}
