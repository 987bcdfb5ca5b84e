"""`/action`: add actions (form or one line) and list them."""

from __future__ import annotations

import re
from typing import Any

from slack_bolt import App, BoltContext, Respond
from slack_sdk import WebClient

from blocks import actions as action_blocks
from blocks import messages
from flows import action_posting
from handlers.commands import Call, Subcommand, dispatch
from handlers.common import date_arg, deferred, record_shown, typed_text, user_arg
from models import Priority, clock
from services import actions, cases
from services.errors import InvalidInput

HELP = messages.usage(
    "/action — the case's action tracker",
    [
        "/action add — the form: what, owning agency, owner, due date, priority",
        "/action add <text> @owner due:YYYY-MM-DD [agency:<slug>] [priority:high] — the same in one line",
        "/action list [mine|overdue|open|all] — in a case channel, that case; elsewhere mine or overdue",
        "/action help — this help",
    ],
    "/action add Share attendance for November @sam due:2026-12-05",
    "the lead coordinator and members of participating agencies add; owners, their agency or the lead "
    "complete and extend; the lead reassigns.",
)
_OPTION = re.compile(r"^(due|agency|priority):(.+)$", re.IGNORECASE)


def register(app: App) -> None:
    app.command("/action")(**deferred(handle_action, urgent=_opens_form))


def _opens_form(body: dict[str, Any]) -> bool:
    """`/action add` alone opens the form."""
    return (body.get("text") or "").strip().lower() == "add"


def handle_action(body: dict[str, Any], client: WebClient, respond: Respond, context: BoltContext) -> None:
    dispatch(SUBCOMMANDS, show_help, body, client, respond, context)


def show_help(call: Call) -> None:
    call.say(HELP)


def add(call: Call) -> None:
    d, user, args = call.deps, call.user, call.args
    with d.db.reader() as session:
        case = cases.for_channel(session, call.channel, "/action add")
        cases.require_open(case)
        actions.require_case_worker(session, case, user)
        if not args:
            view = action_blocks.add_form(case, case.agencies, today=clock.today())
    if not args:
        call.client.views_open(trigger_id=call.body["trigger_id"], view=view)
        return
    draft = parse_line(args)
    ref = call.ref
    try:
        action_id = record(d, call.channel, draft, user, ref)
    except actions.LooksDuplicate as duplicate:
        payload = {
            "case": case.reference,
            "text": draft.text,
            "agency": draft.agency_slug,
            "owner": draft.owner,
            "due": draft.due.isoformat(),
            "priority": draft.priority.value,
            "ref": ref,
            "user": user,  # the prompt is theirs alone: nobody else may answer it
        }
        call.say(duplicate.message, action_blocks.duplicate_prompt(duplicate.message, payload))
        return
    # Posted once however often this runs: a repeat (its first attempt cut off) finishes the post.
    problem = action_posting.post_or_refresh(d.db, call.client, action_id=action_id)
    call.say(f"Action added.{' But ' + problem if problem else ''}")


def record(d: Any, channel: str, draft: actions.ActionDraft, user: str, ref: str) -> int:
    """The action, added once: the same request again finds the first."""
    with d.db.session() as session:
        case = cases.for_channel(session, channel, "/action add")
        action, _ = actions.add(session, case=case, draft=draft, actor=user, created_via=ref, request_ref=ref)
        return action.id


def parse_line(args: list[str]) -> actions.ActionDraft:
    words, owner, due, agency, priority = [], None, None, None, Priority.NORMAL
    for arg in args:
        option = _OPTION.match(arg)
        if option:
            key, value = option.group(1).lower(), option.group(2)
            if key == "due":
                due = date_arg(value, "due date")
            elif key == "agency":
                agency = value.lower()
            else:
                priority = actions.parse_priority(value)
        elif arg.startswith("<@") and owner is None:
            owner = user_arg(arg)
        else:
            words.append(arg)
    if due is None:
        raise InvalidInput(
            "Give a due date.", hint="For example `/action add Share attendance @sam due:2026-12-05`."
        )
    # The owner is read from its mention first; what is left is the text, as typed.
    return actions.ActionDraft(typed_text(" ".join(words)), agency, owner, due, priority)


def show(call: Call) -> None:
    d, user, args = call.deps, call.user, call.args
    which = args[0].lower() if args else "open"
    with d.db.reader() as session:
        case = cases.in_channel(session, call.channel)
        if case is not None:
            cases.require_participant(session, case, user)
            rows = actions.listing(session, user, which, case=case)
            title = f"Case {case.reference}: {which} actions"
            references = None
        else:
            rows = actions.listing(session, user, which if args else "mine")
            title = f"Your cases: {which if args else 'mine'} actions"
            references = cases.references(session, {a.case_id for a in rows})
        blocks = action_blocks.action_list(title, rows, references)
        shown = sorted({a.case_id for a in rows})
    record_shown(d.db, user=user, case_ids=shown, view="actions", ref=call.ref)
    call.say(title, blocks)


SUBCOMMANDS: dict[str, Subcommand] = {"add": add, "list": show, "help": show_help}
