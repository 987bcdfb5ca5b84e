"""First steps per role, ticked as the trainee does each one in the sandbox.

A step is done by a deed: a slash command casehub accepted, a button used, a form casehub
took without errors, the Home tab opened, or the clock moved on.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sandbox.partnership import Partnership


@dataclass(frozen=True)
class Deed:
    kind: str  # command | action | form | home | clock
    name: str  # "/case" with `word` "status"; an action_id; a form's callback_id
    word: str = ""  # a command's first word, lower-cased


def command(name: str, *words: str) -> Callable[[Deed], bool]:
    """A command, with one of `words` first (any text when none are given)."""
    return lambda deed: deed.kind == "command" and deed.name == name and (not words or deed.word in words)


def used(*action_ids: str) -> Callable[[Deed], bool]:
    return lambda deed: deed.kind == "action" and deed.name.split(":")[0] in action_ids


def form(callback_id: str) -> Callable[[Deed], bool]:
    return lambda deed: deed.kind == "form" and deed.name == callback_id


def kind(name: str) -> Callable[[Deed], bool]:
    return lambda deed: deed.kind == name


def either(*tests: Callable[[Deed], bool]) -> Callable[[Deed], bool]:
    return lambda deed: any(test(deed) for test in tests)


@dataclass(frozen=True)
class Step:
    id: str
    title: str
    hint: str
    done_by: Callable[[Deed], bool]


HOME = Step(
    "home",
    "Look at your Home tab",
    "Click Home in the sidebar: your cases, actions and what is due.",
    kind("home"),
)

CHECKLISTS: dict[str, tuple[Step, ...]] = {
    "coordinator": (
        HOME,
        Step(
            "open-case",
            "Open a case",
            "In #general type /case open and fill in the form. No names: casehub gives the case a reference.",
            form("case_open"),
        ),
        Step(
            "status",
            "Read a case's card",
            "In a case channel, type /case status.",
            command("/case", "status"),
        ),
        Step(
            "action",
            "Give a partner an action",
            "In a case channel: /action add Share attendance @tom due:YYYY-MM-DD, or /action add alone "
            "for the form.",
            either(command("/action", "add"), form("action_add")),
        ),
        Step(
            "review",
            "Plan the next review",
            "In a case channel: /review next YYYY-MM-DD 10:00, or /review every 2 weeks.",
            command("/review", "next", "every"),
        ),
        Step(
            "time",
            "Let time pass",
            "Click +1 day, then read your digest and the nudges in the casehub direct message.",
            kind("clock"),
        ),
    ),
    "member": (
        HOME,
        Step(
            "update",
            "File your agency's update",
            "In your case's channel: /update and a one-line note, or /update alone for the full form.",
            either(
                lambda d: d.kind == "command" and d.name == "/update" and d.word != "help",
                form("update_form"),
            ),
        ),
        Step(
            "timeline",
            "Read the case history",
            "In the case channel: /case timeline.",
            command("/case", "timeline"),
        ),
        Step("actions", "See your actions", "/action list mine, anywhere.", command("/action", "list")),
        Step(
            "done",
            "Complete an action",
            "Click Done on one of your actions, in the case channel or on your Home tab.",
            used("action_done"),
        ),
    ),
    "oncall": (
        HOME,
        Step("who", "See who is on call", "Type /oncall who.", command("/oncall", "who")),
        Step(
            "ack",
            "Acknowledge a crisis page",
            "Pages arrive in the casehub direct message: click Acknowledge. To see one, act as Tom and type "
            "/crisis and what is happening in a case channel.",
            used("crisis_ack"),
        ),
        Step(
            "status", "Check the crisis", "In the case channel: /crisis status.", command("/crisis", "status")
        ),
    ),
    "outsider": (
        Step(
            "home",
            "Look at your Home tab",
            "You take part in no case: Home shows none, and no case channel is in your sidebar.",
            kind("home"),
        ),
        Step(
            "list",
            "Ask for cases",
            "Type /case list: casehub shows only cases you take part in.",
            command("/case", "list"),
        ),
        Step(
            "refused",
            "Try a case command",
            "Type /case status in #general: casehub says what you may do, and where.",
            command("/case", "status"),
        ),
    ),
}


class Progress:
    def __init__(self, partnership: Partnership) -> None:
        self.partnership = partnership
        self._lock = threading.Lock()
        self._done: dict[str, set[str]] = defaultdict(set)

    def record(self, user: str, deed: Deed) -> None:
        person = self.partnership.person(user)
        if person is None:
            return
        with self._lock:
            for step in CHECKLISTS[person.checklist]:
                if step.done_by(deed):
                    self._done[user].add(step.id)

    def checklist(self, user: str) -> dict[str, Any]:
        person = self.partnership.person(user)
        if person is None:
            return {"role": "", "steps": []}
        with self._lock:
            done = set(self._done[user])
        return {
            "role": person.checklist,
            "steps": [
                {"id": s.id, "title": s.title, "hint": s.hint, "done": s.id in done}
                for s in CHECKLISTS[person.checklist]
            ],
        }

    def reset(self) -> None:
        with self._lock:
            self._done.clear()
