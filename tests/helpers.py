"""Steps many tests share: opening a case through the real form."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from bot.db import Database
from models import Case
from sandbox.driver import SlackDriver
from tests.conftest import COORD

SUMMARY = "Concerning online activity reported by school staff; sharing extremist material."


@dataclass
class OpenedCase:
    id: int
    reference: str
    channel: str


def open_case(
    slack: SlackDriver,
    database: Database,
    *,
    agencies: tuple[str, ...] = ("police", "school"),
    user: str = COORD,
    lead: str | None = None,
    risk: str = "moderate",
    summary: str = SUMMARY,
    agency_reference: str | None = None,
) -> OpenedCase:
    reply = slack.command("/case", "open", user=user)
    assert reply.status == 200
    view = slack.fake.last_view()
    values = {"summary": summary, "risk": risk, "lead": lead or user, "agencies": list(agencies)}
    if agency_reference:
        values["agency_reference"] = agency_reference
    submitted = slack.submit(view, values, user=user)
    assert submitted.status == 200 and not submitted.body, submitted.body
    with database.reader() as session:
        case = session.scalars(select(Case).order_by(Case.id.desc())).first()
        assert case is not None
        return OpenedCase(case.id, case.reference, case.channel_id or "")


def wait_for(condition: Callable[[], Any], timeout: float = 10.0) -> Any:
    """Poll until `condition` holds, for the moments a test must look mid-flight."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.01)
    return condition()


@contextmanager
def logging_as_configured() -> Iterator[None]:
    """Let a test configure this process's logging (as `python -m bot` does), and put pytest's
    back afterwards: a handler left writing to a test's captured stream outlives it."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
