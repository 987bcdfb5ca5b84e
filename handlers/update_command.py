"""`/update`: the form for a full update, or one line as a quick note."""

from __future__ import annotations

from typing import Any

from slack_bolt import App, BoltContext, Respond
from slack_sdk import WebClient

from blocks import messages
from blocks import updates as update_blocks
from flows import update_posting
from handlers.commands import Call, Subcommand, dispatch
from handlers.common import deferred, first_word, typed_text
from models import Disclosure, UpdateKind, clock
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
    dispatch(SUBCOMMANDS, quick_note, body, client, respond, context)


def show_help(call: Call) -> None:
    if call.rest:  # "Help offered at home…" is a note, not a question
        quick_note(call)
        return
    call.say(HELP)


def open_form(call: Call) -> None:
    """`/update` alone: the full form."""
    with call.deps.db.reader() as session:
        case = cases.for_channel(session, call.channel, "/update")
        cases.require_open(case)
        memberships = updates.filing_agencies(session, case, call.user)
        view = update_blocks.update_form(case, memberships, today=clock.today())
    call.client.views_open(trigger_id=call.body["trigger_id"], view=view)


def quick_note(call: Call) -> None:
    """`/update <text>`: everything typed is a note from the person's agency."""
    d = call.deps
    with d.db.reader() as session:
        case = cases.for_channel(session, call.channel, "/update")
        cases.require_open(case)
        updates.filing_agencies(session, case, call.user)
    draft = updates.UpdateDraft(
        agency_slug=None, contact_date=clock.today(), kind=UpdateKind.NOTE, observed=typed_text(call.text)
    )
    updates.check_draft(draft)  # a finding is refused naming its kind, never quoting it
    with d.db.session() as session:
        case = cases.for_channel(session, call.channel, "/update")
        update, _ = updates.file(
            session,
            case=case,
            draft=draft,
            filer=call.user,
            filed_via=call.ref,
            request_ref=call.ref,
            basis=d.settings.sharing_basis(Disclosure.UPDATE),
        )
        update_id = update.id
    # Posted once however often this runs: a repeat (its first attempt cut off) finishes the post.
    update_posting.post(d.db, call.client, update_id=update_id, filer=call.user)
    call.say("Your note is filed and shared with the case channel.")


SUBCOMMANDS: dict[str, Subcommand] = {"": open_form, "help": show_help}
