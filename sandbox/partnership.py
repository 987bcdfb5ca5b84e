"""The demo partnership the sandbox starts with (`partnership.yaml` beside this file)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

import yaml

CHECKLISTS = ("coordinator", "member", "oncall", "outsider")


@dataclass(frozen=True)
class Person:
    id: str
    handle: str  # what people type after @ in Slack
    name: str
    title: str
    tz: str
    checklist: str  # which first steps the sandbox shows them


@dataclass(frozen=True)
class Partnership:
    registry: dict[str, Any]  # the agencies, as `python -m bot agencies import` reads them
    people: tuple[Person, ...]
    admins: tuple[str, ...]

    def person(self, user_id: str) -> Person | None:
        return next((p for p in self.people if p.id == user_id), None)

    def by_handle(self, handle: str) -> Person | None:
        return next((p for p in self.people if p.handle == handle.lower()), None)

    def agency_of(self, user_id: str) -> str:
        for agency in self.registry["agencies"]:
            if user_id in (agency.get("members") or {}):
                return str(agency["name"])
        return ""


def load() -> Partnership:
    text = resources.files("sandbox").joinpath("partnership.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    people = tuple(Person(**entry) for entry in data["people"])
    for person in people:
        if person.checklist not in CHECKLISTS:
            raise ValueError(f"{person.id}: unknown checklist {person.checklist!r}")
    return Partnership({"agencies": data["agencies"]}, people, tuple(data.get("admins") or ()))


# A handle: letters, digits, _ and -, with dots inside but not at the end ("ask @tom.").
_MENTION = re.compile(r"(?<![\w<|])@([a-z0-9_-]+(?:\.[a-z0-9_-]+)*)", re.IGNORECASE)


def as_slack_sends(text: str, partnership: Partnership) -> str:
    """A command's text as Slack sends it when the command escapes (`should_escape`): `&`, `<`
    and `>` as entities, and `@tom` as `<@UTOM|tom>` for people in the workspace."""

    def mention(match: re.Match[str]) -> str:
        person = partnership.by_handle(match.group(1))
        return f"<@{person.id}|{person.handle}>" if person is not None else match.group(0)

    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MENTION.sub(mention, escaped)
