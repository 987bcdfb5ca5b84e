"""`/report [area|region|national] [period]`: an evaluation report, by direct message, as a PDF
with its charts and a CSV of the same figures."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from slack_bolt import App, BoltContext, Respond
from slack_sdk import WebClient

from blocks import messages
from flows import reporting
from handlers.commands import Call, dispatch
from handlers.common import deferred
from models import clock
from services import report_releases, reports
from services.errors import InvalidInput

HELP = messages.usage(
    "/report — the partnership's evaluation report",
    [
        "/report [area|region|national] [period] — the report by direct message: a PDF with its charts "
        "and a CSV of the same figures",
        "a period is a month (2026-11), a quarter (2026-Q4) or a year (2026); last month when none is given",
        "`region:<name>` names a region that has an area's name",
        "/report help — this help",
    ],
    "/report north 2026-Q3",
    "an area's coordinators have its reports; regional and national coordinators those of the areas "
    "they oversee, of their region and of every area. Counts under the threshold are withheld, and no "
    "report names a case or a person.",
)


def register(app: App) -> None:
    app.command("/report")(**deferred(handle_report))


def handle_report(body: dict[str, Any], client: WebClient, respond: Respond, context: BoltContext) -> None:
    dispatch({"help": show_help}, send_report, body, client, respond, context)


def show_help(call: Call) -> None:
    call.say(HELP)


def send_report(call: Call) -> None:
    words = call.text.split()
    if len(words) > 2:
        raise InvalidInput(
            "Name at most an area (or region) and a period.", hint="For example `/report north 2026-Q3`."
        )
    period_words = [w for w in words if _looks_like_period(w)]
    scope_words = [w for w in words if not _looks_like_period(w)]
    if len(period_words) > 1 or len(scope_words) > 1:
        raise InvalidInput(
            "Name at most an area (or region) and a period.", hint="For example `/report north 2026-Q3`."
        )
    period = reports.Period.parse(period_words[0]) if period_words else last_month()
    today = clock.today()
    if period.start.date() > today:
        raise InvalidInput(
            f"{period.label} has not begun yet.", hint="Ask for a month, quarter or year that has begun."
        )
    d = call.deps
    with d.db.reader() as session:
        scope = report_releases.choose(session, call.user, scope_words[0] if scope_words else None)
    told = reporting.deliver(
        d.db, call.client, d.settings, user=call.user, scope=scope, period=period, request_ref=call.ref
    )
    if period.end.date() > today:
        told += f" {period.label} is not over: its figures are those recorded so far."
    call.say(told)


def last_month() -> reports.Period:
    last = clock.today().replace(day=1) - timedelta(days=1)
    return reports.Period.parse(f"{last.year}-{last.month:02d}")


def _looks_like_period(word: str) -> bool:
    return word[:4].isdigit()
