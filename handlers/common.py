"""What every listener shares: its dependencies, argument parsing, request references."""

from __future__ import annotations

import functools
import logging
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from slack_bolt import Ack, BoltContext
from slack_sdk.errors import SlackApiError

from blocks import findings, messages
from bot import jobs
from bot.db import Database
from bot.settings import Settings
from bot.slack import describe_error
from services import inputs
from services.errors import CasehubError, InvalidInput
from services.sharing_gate import IdentifierFound

log = logging.getLogger("casehub")

UNEXPECTED = (
    ":x: Something went wrong on casehub's side and your request was not completed. "
    "Please try again in a minute; if it keeps happening, tell your casehub admin."
)

_USER_MENTION = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>$")
_BARE_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
# Slack's markup in a command's text (`<…>`), and the three entities it escapes typed text with.
_MARKUP = re.compile(r"<([^<>]*)>")
_ENTITY = re.compile(r"&(amp|lt|gt);")
_ENTITIES = {"amp": "&", "lt": "<", "gt": ">"}
_BROADCASTS = ("here", "channel", "everyone", "subteam")


@dataclass(frozen=True)
class Deps:
    settings: Settings
    db: Database

    def __deepcopy__(self, memo: dict[int, Any]) -> Deps:
        # bolt deep-copies the context for lazy listeners; the shared engine must not be.
        return self


def deps(context: BoltContext) -> Deps:
    return context["deps"]


def record_shown(db: Database, *, user: str, case_ids: list[int], view: str, ref: str) -> None:
    """The access log's entry for what is about to be shown, written before it is."""
    from services import access

    with db.session() as session:
        access.viewed(session, user=user, case_ids=case_ids, view=view, request_ref=ref)


def request_ref(body: dict[str, Any]) -> str:
    """Which Slack request caused a change, for the audit trail."""
    if body.get("type") == "view_submission":
        return f"view:{body['view']['id']}"
    if body.get("type") == "block_actions":
        return f"action:{body.get('trigger_id') or body.get('container', {}).get('message_ts')}"
    if "event_id" in body:
        return f"event:{body['event_id']}"
    if "command" in body:
        return f"command:{body['command']}:{body.get('trigger_id')}"
    return "unknown"


def split_args(text: str | None) -> list[str]:
    try:
        return shlex.split(text or "")
    except ValueError:
        raise InvalidInput(
            "Your quotes do not match.", hint='Put a display name in straight quotes: "Met Police".'
        ) from None


def user_arg(value: str) -> str:
    """A user from a mention (`<@U123|name>`, as Slack escapes it) or a bare ID."""
    match = _USER_MENTION.match(value)
    if match:
        return match.group(1)
    if _BARE_USER_ID.match(value):
        return value
    raise InvalidInput(f"`{value}` is not a person.", hint="Mention them with @, picking them from the list.")


def typed_text(text: str) -> str:
    """A command's free text as the person read it when typing, to store as plain text.

    With `should_escape`, Slack sends `&`, `<` and `>` as entities and turns what was picked
    from its menus into markup: `<@U1|sam>`, `<#C1|name>`, `<!here>`, `<!subteam^S1|@team>`,
    `<https://x|label>`. Stored as it came, that markup would become a real mention or
    broadcast wherever casehub shows the text; as plain text it is shown (escaped) as typed.
    """
    parts = _MARKUP.split(text)  # text and markup take turns: the markup is at the odd places
    return "".join(_markup_as_text(part) if i % 2 else _decoded(part) for i, part in enumerate(parts))


def _decoded(text: str) -> str:
    return _ENTITY.sub(lambda match: _ENTITIES[match.group(1)], text)


def _markup_as_text(markup: str) -> str:
    """`@sam` for `<@U1|sam>`, `#name` for `<#C1|name>`, `@here` for `<!here>`, `@team` for
    `<!subteam^S1|@team>`, `label (https://x)` for `<https://x|label>`."""
    target, _, label = (_decoded(part) for part in markup.partition("|"))
    if target[:1] in ("@", "#"):  # a person or a channel: its name, or else its ID
        return target[0] + (label.lstrip(target[0]) or target[1:])
    if target.startswith("!"):
        name = target[1:].split("^")
        if name[0] in _BROADCASTS:
            return "@" + (label.lstrip("@") or name[-1])
        return label or "@" + name[0]  # a date's fallback text, or another special word
    if not label or label == target or target == f"mailto:{label}":
        return label or target
    return f"{label} ({target})"


def date_arg(value: str, what: str = "date") -> date:
    """A YYYY-MM-DD date of casehub's calendar; the service narrows it for its use."""
    return inputs.parse_date(value, what=what)


def tell_user(error: Exception, context: BoltContext) -> None:
    """The one place where a refusal or failure becomes a message to the person who asked."""
    if isinstance(error, CasehubError):
        text = messages.refusal(error)
    elif isinstance(error, SlackApiError):
        log.warning("Slack API error: %s", describe_error(error))
        text = (
            f":x: {describe_error(error)}, so your request could not be completed. "
            "What was recorded is kept; please try again."
        )
    else:
        log.error("unexpected error in a listener", exc_info=error)
        text = UNEXPECTED
    try:
        if context.response_url and context.respond is not None:
            context.respond(text=text, response_type="ephemeral", replace_original=False)
        elif context.user_id and context.client is not None:
            context.client.chat_postMessage(channel=context.user_id, text=text)
    except Exception:  # the person cannot be told; the log has it
        log.exception("could not report an error to %s", context.user_id)


def reported(listener: Callable[..., None]) -> Callable[..., None]:
    """Wrap a listener (which must take `context`) so that what it raises is told to the user.

    bolt's own error handler runs too late for this: an exception after `ack()` makes
    the sync runner drop the acknowledgement and hold the HTTP reply for 3 seconds.

    In a job, a failure that may pass (Slack or the database briefly unavailable) is told to
    no one while the job will be tried again: it is raised for the queue to retry. A failure
    that is not casehub refusing the request is raised too, once told, so that the job is
    parked and the admins hear of it.
    """

    @functools.wraps(listener)
    def run(**kwargs: Any) -> None:
        context: BoltContext = kwargs["context"]
        try:
            listener(**kwargs)
        except Exception as error:
            if jobs.will_retry(error):
                raise
            tell_user(error, context)
            if context.ack is not None and context.ack.response is None:
                context.ack()
            if jobs.current_job() is not None and _unfinished(error):
                raise

    return run


def answer_form(ack: Ack, view: dict[str, Any], problem: CasehubError | None, *, field: str) -> None:
    """Accept a submitted form, or show what is wrong on its field (`field` when the refusal
    names none) with what was typed kept. Text that may identify the person is quoted on its
    field; the first time a finding may be a false alarm, the form comes back with a box to
    confirm each such finding."""
    if problem is None:
        ack()
    elif isinstance(problem, IdentifierFound) and findings.needs_confirming(view, problem.findings):
        ack(response_action="update", view=findings.with_findings(view, problem.findings))
    elif isinstance(problem, IdentifierFound):
        ack(response_action="errors", errors=problem.errors())
    else:
        # Slack refuses the whole answer if an error names an input the form does not have.
        named = {block.get("block_id") for block in view.get("blocks", []) if block.get("type") == "input"}
        where = problem.field if problem.field is not None and problem.field in named else field
        ack(response_action="errors", errors={where: problem.message})


def acknowledge(ack: Ack) -> None:
    ack()


def _unfinished(error: Exception) -> bool:
    """Whether the job should be parked for an admin, not counted as done: anything but casehub
    refusing the request or Slack refusing a call for good (the person has been told of both)."""
    if isinstance(error, CasehubError):
        return False
    return not isinstance(error, SlackApiError) or jobs.is_transient(error)


FormTest = Callable[[dict[str, Any]], bool]


def deferred(listener: Callable[..., None], *, urgent: bool | FormTest = False) -> dict[str, Any]:
    """Acknowledge at once on the request thread; the work is recorded and done by a worker.

    With `process_before_response=True` bolt runs the `ack` function before replying and
    hands the `lazy` ones to the job queue, which records them before the reply is sent.
    `urgent` says whether the work opens a form with the request's trigger or pages people
    in a crisis (or, given a request's body, whether this one does): those jobs go first, as
    Slack lets a trigger open a form only within 3 seconds of the click or command.
    """
    work = reported(listener)
    work.urgent = urgent  # type: ignore[attr-defined]
    return {"ack": acknowledge, "lazy": [work]}


def first_word(body: dict[str, Any]) -> str:
    """The subcommand of a slash command's text, lower-cased ("" for none)."""
    words = (body.get("text") or "").split(maxsplit=1)
    return words[0].lower() if words else ""
