"""`/digest`: how often a coordinator hears about their cases, or a digest now."""

from __future__ import annotations

from typing import Any

from slack_bolt import App, BoltContext, Respond
from slack_sdk import WebClient

from blocks import messages
from flows import sweep
from handlers.commands import Call, Subcommand, dispatch
from handlers.common import deferred
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
    dispatch(SUBCOMMANDS, show_help, body, client, respond, context)


def show_help(call: Call) -> None:
    call.say(HELP)


def send_now(call: Call) -> None:
    d = call.deps
    with d.db.reader() as session:
        digests.require_reader(session, call.user)
    sent = sweep.send_digest_now(d.db, call.client, d.settings, call.user, f"digest-now:{call.ref}")
    call.say(
        "Your digest is in your direct messages."
        if sent
        else "Nothing to report: no reviews due, nothing overdue, no silent agencies, no risk changes."
    )


def choose(call: Call) -> None:
    """`daily`, `weekly` or `off`, with the time of day for the first two."""
    d, choice, args = call.deps, call.name, call.args
    if len(args) > 1 or (choice == "off" and args):
        raise InvalidInput("Too many words.", hint="For example `/digest daily 08:30`.")
    given = inputs.parse_time(args[0]) if args else None
    with d.db.session() as session:
        pref = digests.choose(session, call.user, choice, given, request_ref=call.ref)
        at = (pref.digest_time or d.settings.digest_time).strftime("%H:%M")
    call.say(
        {
            "daily": f"You will get a digest every working day at {at} your time.",
            "weekly": f"You will get a digest on Mondays at {at} your time.",
            "off": "Digests are off. `/digest now` still sends one when you ask.",
        }[choice]
    )


SUBCOMMANDS: dict[str, Subcommand] = {
    "daily": choose,
    "weekly": choose,
    "off": choose,
    "now": send_now,
    "help": show_help,
}
