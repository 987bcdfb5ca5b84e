"""`/oncall`: who answers for an agency out of hours, and who is next when they do not."""

from __future__ import annotations

import re
from typing import Any

from slack_bolt import App, BoltContext, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from blocks import crisis as crisis_blocks
from blocks import messages
from blocks.kit import escape
from flows import crisis
from handlers.commands import Call, Subcommand, dispatch
from handlers.common import deferred, user_arg
from models import utcnow
from services import agencies, deliveries, inputs, oncall, reviews
from services.errors import InvalidInput

HELP = messages.usage(
    "/oncall — on-call cover per agency",
    [
        "/oncall who [slug] — who is on call now and next (your agencies without a slug)",
        "/oncall set <slug> @user [from YYYY-MM-DD HH:MM] [to YYYY-MM-DD HH:MM] — an override",
        "/oncall rota <slug> @a @b @c weekly <weekday> <HH:MM> — a weekly rotation",
        "/oncall escalation <slug> @user @user … — who is paged, in order, when nobody answers",
    ],
    "/oncall rota police @sam @alex weekly monday 09:00",
    "anyone may ask who; casehub admins and the agency's coordinators change the cover. Times are in the "
    "agency's time zone.",
)
_MENTION = re.compile(r"^<@")


def register(app: App) -> None:
    app.command("/oncall")(**deferred(handle_oncall))


def _people(client: WebClient, words: list[str]) -> list[str]:
    users = [user_arg(word) for word in words]
    for user in users:
        try:
            client.users_info(user=user)
        except SlackApiError as error:
            if error.response.get("error") in ("user_not_found", "users_not_found"):
                raise InvalidInput(f"Slack knows no user <@{user}>.", hint="Pick people with @.") from None
            raise
    return users


def handle_oncall(body: dict[str, Any], client: WebClient, respond: Respond, context: BoltContext) -> None:
    dispatch(SUBCOMMANDS, show_help, body, client, respond, context)


def show_help(call: Call) -> None:
    call.say(HELP)


def who(call: Call) -> None:
    d = call.deps
    with d.db.reader() as session:
        chosen = (
            [agencies.get(session, call.args[0])]
            if call.args
            else [m.agency for m in agencies.memberships_of(session, call.user)]
        )
    now = utcnow()
    lines = crisis.who_lines(d.db, d.settings, chosen, now)
    call.say("On call", crisis_blocks.who(lines, now))


def change_cover(call: Call) -> None:
    """`set`, `rota` and `escalation`: who answers for an agency, checked with Slack first."""
    d, name, args, user, ref = call.deps, call.name, call.args, call.user, call.ref
    if not args:
        call.say(HELP)
        return
    with d.db.reader() as session:
        agency = agencies.get(session, args[0])
        tz = oncall.timezone_of(agency, d.settings.default_timezone)
    if name == "set":
        people, starts, ends = parse_set(args[1:], tz)
        people = _people(call.client, people)
    elif name == "rota":
        people, weekday, at = parse_rota(args[1:])
        people = _people(call.client, people)
    else:
        people = _people(call.client, args[1:])
    is_admin = d.settings.is_admin(user)
    with d.db.session() as session:
        agency = agencies.get(session, args[0])
        if not deliveries.claim(session, ref):
            return
        if name == "set":
            oncall.set_override(
                session,
                agency=agency,
                user=people[0],
                starts=starts,
                ends=ends,
                actor=user,
                is_admin=is_admin,
                request_ref=ref,
            )
            until = f" until {ends:%Y-%m-%d %H:%M} UTC" if ends else ""
            text = f"<@{people[0]}> is on call for {escape(agency.name)}{until}."
        elif name == "rota":
            oncall.set_rota(
                session,
                agency=agency,
                users=people,
                weekday=weekday,
                at=at,
                tz=tz,
                actor=user,
                is_admin=is_admin,
                request_ref=ref,
            )
            text = (
                f"{escape(agency.name)} rotates weekly on {reviews.WEEKDAYS[weekday].capitalize()} at "
                f"{at:%H:%M} ({tz}): " + ", ".join(f"<@{p}>" for p in people) + "."
            )
        else:
            oncall.set_chain(
                session, agency=agency, users=people, actor=user, is_admin=is_admin, request_ref=ref
            )
            text = f"{escape(agency.name)} escalates to: " + " → ".join(f"<@{p}>" for p in people) + "."
    call.say(text)


SUBCOMMANDS: dict[str, Subcommand] = {
    "who": who,
    "set": change_cover,
    "rota": change_cover,
    "escalation": change_cover,
    "help": show_help,
}


def parse_set(words: list[str], tz: str) -> tuple[list[str], Any, Any]:
    if not words or not _MENTION.match(words[0]):
        raise InvalidInput(
            "Say who is on call.", hint="For example `/oncall set police @sam from 2026-12-24 17:00`."
        )
    starts = ends = None
    rest = words[1:]
    while rest:
        if len(rest) < 3 or rest[0].lower() not in ("from", "to"):
            raise InvalidInput("After the person: `from YYYY-MM-DD HH:MM` and/or `to YYYY-MM-DD HH:MM`.")
        moment = oncall.parse_moment(rest[1], rest[2], tz)
        if rest[0].lower() == "from":
            starts = moment
        else:
            ends = moment
        rest = rest[3:]
    return [words[0]], starts, ends


def parse_rota(words: list[str]) -> tuple[list[str], int, Any]:
    people = [w for w in words if _MENTION.match(w)]
    rest = [w for w in words if not _MENTION.match(w)]
    if not people or len(rest) != 3 or rest[0].lower() != "weekly":
        raise InvalidInput(
            "Give the people, then `weekly <weekday> <HH:MM>`.",
            hint="For example `/oncall rota police @sam @alex weekly monday 09:00`.",
        )
    return people, reviews.parse_weekday(rest[1]), inputs.parse_time(rest[2])
