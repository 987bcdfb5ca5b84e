"""What every listener shares: its dependencies, argument parsing, request references."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from datetime import date
from typing import Any

from slack_bolt import BoltContext

from bot.db import Database
from bot.settings import Settings
from services.errors import InvalidInput

_USER_MENTION = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>$")
_BARE_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")


@dataclass(frozen=True)
class Deps:
    settings: Settings
    db: Database


def deps(context: BoltContext) -> Deps:
    return context["deps"]


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
    raise InvalidInput(
        f"`{value}` is not a person.", hint="Mention them with @, picking them from the list."
    )


def date_arg(value: str, what: str = "date") -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"`{value}` is not a {what}.", hint="Write dates as YYYY-MM-DD.") from None


def user_of(body: dict[str, Any]) -> str:
    return body.get("user_id") or body.get("user", {}).get("id")
