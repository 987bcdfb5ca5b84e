"""The person a case is about, on the desk: the identity's fields as a form holds them (lists one
a line, the date as typed), read into an `Identity`, and shown back."""

from __future__ import annotations

from datetime import date

from werkzeug.datastructures import MultiDict

from services.errors import InvalidInput
from services.identity_forms import Identity

LISTS = ("aliases", "agency_references", "contacts")
TEXTS = ("given_names", "family_names", "gender", "address", "school_or_employer")
FIELDS = (*TEXTS, *LISTS, "date_of_birth")


def typed(form: MultiDict[str, str]) -> dict[str, str]:
    """What the identity's fields hold, as typed, to show again whole."""
    return {name: form.get(name, "") for name in FIELDS}


def as_typed(identity: Identity | None) -> dict[str, str]:
    """An identity as its form shows it."""
    if identity is None:
        return dict.fromkeys(FIELDS, "")
    values = {name: getattr(identity, name) or "" for name in TEXTS}
    values.update({name: "\n".join(getattr(identity, name)) for name in LISTS})
    values["date_of_birth"] = identity.date_of_birth.isoformat() if identity.date_of_birth else ""
    return values


def read(values: dict[str, str]) -> Identity:
    """The identity the form describes; a date that is not one is refused on its field."""
    born = values.get("date_of_birth", "").strip()
    try:
        day = date.fromisoformat(born) if born else None
    except ValueError:
        raise InvalidInput(
            f"{born} is not a date: write it as YYYY-MM-DD, for example 2009-04-17.", field="date_of_birth"
        ) from None
    return Identity(
        given_names=values.get("given_names", ""),
        family_names=values.get("family_names", ""),
        aliases=_lines(values.get("aliases", "")),
        date_of_birth=day,
        gender=values.get("gender") or None,
        address=values.get("address") or None,
        school_or_employer=values.get("school_or_employer") or None,
        agency_references=_lines(values.get("agency_references", "")),
        contacts=_lines(values.get("contacts", "")),
    )


def is_empty(identity: Identity) -> bool:
    return not any(getattr(identity, name) for name in Identity.FIELDS)


def _lines(text: str) -> tuple[str, ...]:
    return tuple(line.strip() for line in text.splitlines() if line.strip())
