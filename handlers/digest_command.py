"""`/digest`: how often a coordinator hears about their cases, or a digest now."""

from __future__ import annotations

from typing import Any

from slack_bolt import App, BoltContext, Respond
from slack_sdk import WebClient

from blocks import messages
from flows import sweep
from handlers.common import deferred, deps, request_ref, split_args
from services import digests, inputs
from services.errors import InvalidInput

HELP = messages.usage(
    "/digest — your coordinator's digest by direct message",
    [
        "/digest daily [HH:MM] — every working day (default 08:30, your time)",
        "/digest weekly [HH:MM] — Mondays",
        "/digest off — none",
        "/digest now — send it at once",
    ],
    "/digest weekly 09:00",
    "coordinators.",
)


def register(app: App) -> None:
    app.command("/digest")(**deferred(handle_digest))


def handle_digest(body: dict[str, Any], client: WebClient, respond: Respond, context: BoltContext) -> None:
    d, user = deps(context), body["user_id"]
    args = split_args(body.get("text"))
    choice = args[0].lower() if args else "help"
    if choice not in ("daily", "weekly", "off", "now"):
        respond(text=HELP, response_type="ephemeral")
        return
    with d.db.session() as session:
        if choice == "now":
            digests.require_reader(session, user)
        else:
            if len(args) > 2 or (choice == "off" and len(args) > 1):
                raise InvalidInput("Too many words.", hint="For example `/digest daily 08:30`.")
            given = inputs.parse_time(args[1]) if len(args) == 2 else None
            pref = digests.choose(session, user, choice, given, request_ref=request_ref(body))
            at = (pref.digest_time or d.settings.digest_time).strftime("%H:%M")
    if choice == "now":
        sent = sweep.send_digest_now(d.db, client, d.settings, user, f"digest-now:{request_ref(body)}")
        respond(
            text="Your digest is in your direct messages."
            if sent
            else "Nothing to report: no reviews due, nothing overdue, no silent agencies, no risk changes.",
            response_type="ephemeral",
        )
        return
    text = {
        "daily": f"You will get a digest every working day at {at} your time.",
        "weekly": f"You will get a digest on Mondays at {at} your time.",
        "off": "Digests are off. `/digest now` still sends one when you ask.",
    }[choice]
    respond(text=text, response_type="ephemeral")
