"""`/update`: the form for a full update, or one line as a quick note."""

from __future__ import annotations

from datetime import date
from typing import Any

from slack_bolt import App, BoltContext, Respond
from slack_sdk import WebClient

from blocks import messages
from blocks import updates as update_blocks
from flows import update_posting
from handlers.common import deferred, deps, first_word, request_ref, typed_text
from models import Disclosure, UpdateKind
from services import cases, updates

HELP = messages.usage(
    "/update — tell partners what your agency has seen or done",
    [
        "/update — the full form (kind, risk, protective factors, concerns, asks, restricted)",
        "/update <text> — a one-line note from your agency, with no change of risk",
        "/update help — this help",
    ],
    "/update Attended the mentoring session and engaged well",
    "members and coordinators of the agencies taking part, in the case's channel; observers only read.",
)


def register(app: App) -> None:
    app.command("/update")(**deferred(handle_update, urgent=lambda body: not first_word(body)))


def handle_update(body: dict[str, Any], client: WebClient, respond: Respond, context: BoltContext) -> None:
    d, user, text = deps(context), body["user_id"], (body.get("text") or "").strip()
    if text.lower() == "help":
        respond(text=HELP, response_type="ephemeral")
        return
    with d.db.reader() as session:
        case = cases.for_channel(session, body["channel_id"], "/update")
        cases.require_open(case)
        memberships = updates.filing_agencies(session, case, user)
        if not text:
            view = update_blocks.update_form(case, memberships, today=date.today())
    if not text:
        client.views_open(trigger_id=body["trigger_id"], view=view)
        return
    draft = updates.UpdateDraft(
        agency_slug=None, contact_date=date.today(), kind=UpdateKind.NOTE, observed=typed_text(text)
    )
    updates.check_draft(draft)  # a finding is refused naming its kind, never quoting it
    ref = request_ref(body)
    with d.db.session() as session:
        case = cases.for_channel(session, body["channel_id"], "/update")
        update, created = updates.file(
            session,
            case=case,
            draft=draft,
            filer=user,
            filed_via=ref,
            request_ref=ref,
            basis=d.settings.sharing_basis(Disclosure.UPDATE),
        )
        update_id = update.id
    if created:
        update_posting.post(d.db, client, update_id=update_id, filer=user)
        respond(text="Your note is filed and shared with the case channel.", response_type="ephemeral")
