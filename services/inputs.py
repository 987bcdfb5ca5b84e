"""What people type or choose, read into typed values; anything else is refused on its field.

A form's state arrives as strings, lists of strings, nothing, or something unreadable
(`blocks.modals.values`); a command as words. Each reader returns a typed value or raises
`InvalidInput` naming the form field, so that a value Slack would never send is refused like
any other mistake instead of failing a listener. The services narrow these values further for
each use (a due date is from today on, a contact date is not in the future, ...).
"""

from __future__ import annotations

import re
from datetime import date, time
from enum import StrEnum
from typing import TypeVar

from services.errors import InvalidInput

# The calendar casehub works with at all; every use of a date narrows it further.
FIRST_DAY = date(2000, 1, 1)
LAST_DAY = date(2100, 12, 31)
# How much of a mistyped value a refusal repeats back.
ECHO_MAX = 40

_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_TIME = re.compile(r"([01]?[0-9]|2[0-3]):([0-5][0-9])")
_USER_ID = re.compile(r"[UW][A-Z0-9]{2,31}")

Choice = TypeVar("Choice", bound=StrEnum)


def echo(value: object) -> str:
    """A submitted value to repeat in a refusal, clipped."""
    shown = value if isinstance(value, str) else repr(value)
    return shown if len(shown) <= ECHO_MAX else shown[: ECHO_MAX - 1] + "…"


def text(value: object, *, field: str) -> str:
    """A text input: what was typed, or "" for nothing."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    raise InvalidInput("This could not be read; type it again.", field=field)


def strings(value: object, *, field: str, what: str) -> list[str]:
    """A multi-select: the values chosen, or none."""
    if value is None:
        return []
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    raise InvalidInput(f"Choose {what} from the list.", field=field)


def parse_choice(kind: type[Choice], value: object, *, field: str, what: str) -> Choice:
    """One of the options casehub offered in a form (`what` names it: "a risk level")."""
    if isinstance(value, str):
        try:
            return kind(value)
        except ValueError:
            pass
    raise InvalidInput(f"Choose {what} from the list.", field=field)


def parse_person(value: object, *, field: str, what: str = "a person") -> str:
    """A person picked in a form's user menu: a Slack user ID."""
    if isinstance(value, str) and _USER_ID.fullmatch(value):
        return value
    raise InvalidInput(f"Choose {what} from the list.", field=field)


def ticked(value: object, option: str = "yes", *, field: str) -> bool:
    """A checkbox casehub offered: ticked or not; any other value is refused."""
    if value is None or value == []:
        return False
    if value == [option]:
        return True
    raise InvalidInput("Tick the box or leave it empty.", field=field)


def parse_date(value: object, *, field: str | None = None, what: str = "date") -> date:
    """A YYYY-MM-DD date of the calendar casehub works with (`what` names it: "due date")."""
    if value is None or value == "":
        raise InvalidInput(f"Give the {what}.", field=field)
    if not isinstance(value, str) or not _DATE.fullmatch(value):
        raise InvalidInput(f"`{echo(value)}` is not a {what}: write it as YYYY-MM-DD.", field=field)
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{value} is not a day of the calendar.", field=field) from None
    if not FIRST_DAY <= day <= LAST_DAY:
        raise InvalidInput(
            f"{value} is not a {what} casehub accepts: give one from {FIRST_DAY.year} to {LAST_DAY.year}.",
            field=field,
        )
    return day


def parse_time(value: str) -> time:
    """A time of day, HH:MM on the 24-hour clock."""
    match = _TIME.fullmatch(value)
    if not match:
        raise InvalidInput(f"`{echo(value)}` is not a time.", hint="Write times as HH:MM, for example 14:30.")
    return time(int(match.group(1)), int(match.group(2)))


def years_from(day: date, years: int) -> date:
    """The same day `years` later (earlier when negative); 29 February becomes the 28th."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)
