"""What a form or button carries besides what the person typed: metadata, ids, button values.

casehub put these there, and Slack hands them back; still, nothing in a payload is trusted.
Each is parsed here into a typed value (or refused with a clear message), and whatever it
names is then checked against the database and the person acting: an action or update must
belong to the case it is acted on in, and the person must have the right at that moment.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from services.errors import InvalidInput

_STALE = "This form or button is out of date or was changed, so casehub cannot use it. Nothing was saved."
_HINT = "Close it and start again from the command."
MAX_ID = 2**63 - 1  # the largest id a database column holds


def unreadable() -> InvalidInput:
    return InvalidInput(_STALE, hint=_HINT)


def _object(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, str) or len(raw) > 3000:
        raise unreadable()
    try:
        value = json.loads(raw)
    except ValueError:
        raise unreadable() from None
    if not isinstance(value, dict):
        raise unreadable()
    return value


def metadata(view: dict[str, Any]) -> dict[str, Any]:
    """A form's private metadata, written by casehub as a JSON object."""
    return _object(view.get("private_metadata"))


def reference(meta: dict[str, Any], key: str = "case") -> str:
    """A case reference: a short word (looked up, and refused if unknown, by the case service)."""
    value = meta.get(key)
    if not isinstance(value, str) or not 1 <= len(value) <= 20:
        raise unreadable()
    return value


def identifier(value: Any) -> int:
    """A database id, as a number or the digits of one."""
    if isinstance(value, bool):
        raise unreadable()
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 19:
        value = int(value)
    if not isinstance(value, int) or not 1 <= value <= MAX_ID:
        raise unreadable()
    return value


def optional_identifier(meta: dict[str, Any], key: str) -> int | None:
    value = meta.get(key)
    return None if value is None else identifier(value)


def button_id(action: dict[str, Any]) -> int:
    """The id a button carries as its value."""
    return identifier(action.get("value"))


def button_object(action: dict[str, Any]) -> dict[str, Any]:
    """A button value casehub wrote as a JSON object."""
    return _object(action.get("value"))


def text(value: Any, *, limit: int) -> str:
    if not isinstance(value, str) or len(value) > limit:
        raise unreadable()
    return value


def optional_text(value: Any, *, limit: int) -> str | None:
    return None if value is None else text(value, limit=limit)


def optional_date(value: Any) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(text(value, limit=10))
    except ValueError:
        raise unreadable() from None


def page_number(value: Any) -> int:
    number = identifier(value)
    if number > 100_000:
        raise unreadable()
    return number
