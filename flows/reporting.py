"""Evaluation reports made and delivered: to whoever asks with `/report`, and each month to each
area's coordinators, by direct message as a PDF (with its charts) and a CSV of the same figures.

A report is built in the request's job (never within Slack's 3 seconds) and sent once: its
release is recorded before anything is made, and an attempt that finds an earlier one's upload
begun asks Slack whether its files arrived (by their title, in the direct message's history)
before sending again, as exports do. What the report withheld and gave away is kept with the
release as the upload begins, so that every later report of the same figures is protected
with it (`services.report_releases`).

The monthly reports are made by a scheduler job of their own (`bot.scheduler.reports_job`), a
few areas at a time, on the first working day of the month in each area's calendar and within
its working hours; a process down on the day sends them at its next run within the month's
first five working days.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackRequestError
from sqlalchemy import select

from bot import jobs
from bot.db import Database
from bot.settings import Settings
from bot.slack import describe_error
from flows import uploads
from models import Area, ReleaseState, ReportRelease, utcnow
from services import areas, export_pdf, report_pdf, report_releases, reports
from services.errors import CasehubError
from services.report_releases import Scope
from services.worktime import local_date

log = logging.getLogger(__name__)

# A claim to upload younger than this is left to whoever made it (another attempt still running).
STALE = timedelta(minutes=5)
# Areas whose monthly reports one run makes: the rest wait for the next run.
MONTHLY_BATCH = 5
# The working days at the start of a month on which last month's reports are sent.
SENDING_DAYS = 5


class ReportNotSent(CasehubError):
    """Slack refused the upload: nothing was sent."""


@dataclass(frozen=True)
class Made:
    report: reports.Report
    pdf: bytes
    csv: bytes


def make(db: Database, settings: Settings, scope: Scope, period: reports.Period) -> Made:
    """The report read from the database, protected with the reports already sent, and drawn."""
    with db.reader() as session:
        report = reports.build(
            session,
            areas=scope.areas,
            period=period,
            threshold=settings.report_suppress_below,
            scope=scope.label,
            earlier=report_releases.earlier(session, scope.key, period.start.year),
        )
    pdf = report_pdf.render(report, export_pdf.find_font(settings.export_font))
    return Made(report, pdf, reports.to_csv(report).encode())


def titles(number: int, scope: Scope, period: reports.Period) -> tuple[str, str]:
    """The files' titles in Slack: the release's number makes them its own, so that a later
    attempt can tell whether they arrived."""
    title = f"casehub report {number}: {scope.label}, {period.label}"
    return f"{title} (PDF)", f"{title} (CSV)"


def file_name(scope: Scope, period: reports.Period, extension: str) -> str:
    """`casehub-report-dep-93-2026-11.pdf`, `…-region-north-2026-q4.csv`, `…-national-2026.pdf`."""
    kind, _, name = scope.key.partition(":")
    named = {"area": scope.label, "region": f"region-{name}"}.get(kind, kind)
    stem = re.sub(r"[^a-z0-9]+", "-", named.lower()).strip("-")
    return f"casehub-report-{stem}-{period.label.lower()}.{extension}"


def deliver(
    db: Database,
    client: WebClient,
    settings: Settings,
    *,
    user: str,
    scope: Scope,
    period: reports.Period,
    request_ref: str,
    monthly: bool = False,
) -> str:
    """Send the report to the person by direct message, once; what to tell them. A monthly
    report that Slack or the database cannot take for a moment stays begun, for a later run."""
    with db.session() as session:
        release, first = report_releases.begin(
            session, scope, period, user=user, request_ref=request_ref, monthly=monthly
        )
        number, state, claimed_at = release.id, release.state, release.claimed_at
    if state == ReleaseState.SENT.value:
        return f"Report {number} ({scope.label}, {period.label}) was sent already; nothing was sent again."
    if state == ReleaseState.FAILED.value:
        return f"Report {number} ({scope.label}, {period.label}) could not be sent; ask for it again."
    if not first:
        told = _resume(db, client, user, number, scope, period, claimed_at)
        if told is not None:
            return told
    try:
        made = make(db, settings, scope, period)
    except Exception as error:
        if not (monthly and jobs.is_transient(error)):
            _record_failed(db, number, type(error).__name__)
        raise
    with db.session() as session:
        report_releases.sending(
            session.get_one(ReportRelease, number), made.report, pdf=made.pdf, csv=made.csv, now=utcnow()
        )
    return _send(db, client, user, number, scope, period, made, later=monthly)


def _resume(
    db: Database,
    client: WebClient,
    user: str,
    number: int,
    scope: Scope,
    period: reports.Period,
    claimed_at: datetime | None,
) -> str | None:
    """An earlier attempt began to send this report: what to tell the person if its files
    arrived, or if that attempt may still be sending them; None to send them now."""
    found = _found(db, client, user, number, scope, period, claimed_at)
    if found is not None:
        return found
    job = jobs.current_job()
    fresh = claimed_at is not None and claimed_at > utcnow() - STALE
    if fresh and (job is None or job.attempts <= 1):
        named = f"Report {number} ({scope.label}, {period.label})"
        return f"{named} is being sent: it will be in your direct messages."
    return None


def _send(
    db: Database,
    client: WebClient,
    user: str,
    number: int,
    scope: Scope,
    period: reports.Period,
    made: Made,
    *,
    later: bool,
) -> str:
    try:
        channel, file_ids = _upload(client, user, number, scope, period, made)
    except (SlackApiError, SlackRequestError, OSError) as error:
        if jobs.will_retry(error) or (later and jobs.is_transient(error)):
            raise  # still `sending`: the next attempt asks Slack whether the files arrived first
        found = _found(db, client, user, number, scope, period, utcnow() - STALE)
        if found is not None:  # Slack took them after all and its answer was lost
            return found
        said = (
            "Slack did not take the file" if isinstance(error, SlackRequestError) else describe_error(error)
        )
        log.warning("report %s not sent: %s", number, said)
        _record_failed(db, number, jobs.error_kind(error))
        raise ReportNotSent(
            f"{said}, so report {number} ({scope.label}, {period.label}) was not sent.",
            hint="Please try `/report` again; if it keeps happening, tell your casehub admin.",
        ) from None
    _record_sent(db, number, channel, file_ids)
    return _sent_message(number, scope, period)


def _upload(
    client: WebClient, user: str, number: int, scope: Scope, period: reports.Period, made: Made
) -> tuple[str, list[str]]:
    channel = client.conversations_open(users=user)["channel"]["id"]
    pdf_title, csv_title = titles(number, scope, period)
    response = client.files_upload_v2(
        file_uploads=[
            {"file": made.pdf, "filename": file_name(scope, period, "pdf"), "title": pdf_title},
            {"file": made.csv, "filename": file_name(scope, period, "csv"), "title": csv_title},
        ],
        channel=channel,
        initial_comment=(
            f"Evaluation report {number} of {scope.label} for {period.label}: the PDF to read, with its "
            "charts, and the same figures as CSV. Small counts are withheld, and no report names a case "
            "or a person."
        ),
    )
    files: list[dict[str, Any]] = response.get("files") or []
    return channel, [str(f.get("id")) for f in files]


def _found(
    db: Database,
    client: WebClient,
    user: str,
    number: int,
    scope: Scope,
    period: reports.Period,
    since: datetime | None,
) -> str | None:
    """If the report's files are in the person's direct messages already: recorded sent, and
    what to tell them; else None."""
    arrived = uploads.arrived(client, user, titles(number, scope, period)[0], since)
    if arrived is None:
        return None
    _record_sent(db, number, *arrived)
    return _sent_message(number, scope, period)


def _record_sent(db: Database, number: int, channel: str, file_ids: list[str]) -> None:
    with db.session() as session:
        report_releases.sent(
            session, session.get_one(ReportRelease, number), channel=channel, file_ids=file_ids, now=utcnow()
        )


def _record_failed(db: Database, number: int, kind: str) -> None:
    with db.session() as session:
        report_releases.failed(session.get_one(ReportRelease, number), error_kind=kind, now=utcnow())


def _sent_message(number: int, scope: Scope, period: reports.Period) -> str:
    return (
        f":bar_chart: Report {number} ({scope.label}, {period.label}) is in your direct messages with "
        "casehub: a PDF with its charts, and the same figures as CSV."
    )


# ---- each month, to each area's coordinators ---------------------------------------------------


def monthly_key(area: Area, period: reports.Period, user: str) -> str:
    return f"monthly-report:{area.id}:{period.label}:{user}"


def send_monthly(
    db: Database, client: WebClient, settings: Settings, now: datetime, *, batch: int = MONTHLY_BATCH
) -> int:
    """Last month's report to each coordinator of each area whose first working day of the month
    has come (within its working hours), a few areas per run; how many were delivered. An area
    whose reports were tried within the last few minutes waits, so that areas Slack keeps
    refusing for a while never hold up the others."""
    if not settings.report_monthly:
        return 0
    due: list[tuple[Area, reports.Period, list[str]]] = []
    with db.reader() as session:
        for area in areas.all_areas(session):
            calendar = areas.calendar(area, settings)
            today = local_date(now, calendar.timezone)
            if not calendar.hours.is_open(now, calendar.timezone) or not _in_sending_days(calendar, today):
                continue
            last = today.replace(day=1) - timedelta(days=1)
            period = reports.Period.parse(f"{last.year}-{last.month:02d}")
            wanted = sorted(areas.coordinators(session, area.id))
            keys = [monthly_key(area, period, user) for user in wanted]
            done = set(  # sent, refused for good, or tried lately; one cut off is taken up again
                session.scalars(
                    select(ReportRelease.requested_via).where(
                        ReportRelease.requested_via.in_(keys),
                        (ReportRelease.state != ReleaseState.SENDING.value)
                        | (ReportRelease.claimed_at > now - STALE),
                    )
                )
            )
            waiting = [user for user, key in zip(wanted, keys, strict=True) if key not in done]
            if waiting:
                due.append((area, period, waiting))
            if len(due) >= batch:
                break
    sent = 0
    for area, period, waiting in due:
        scope = report_releases.for_area(area)
        for user in waiting:
            try:
                told = deliver(
                    db, client, settings, user=user, scope=scope, period=period,
                    request_ref=monthly_key(area, period, user), monthly=True,
                )  # fmt: skip
                sent += told.startswith(":bar_chart:")
            except (SlackApiError, SlackRequestError, OSError, CasehubError) as error:
                # Left `sending` (a transient error: the next run resumes it) or recorded failed.
                log.warning("monthly report of area %s not sent: %s", area.id, jobs.error_kind(error))
    return sent


def _in_sending_days(calendar: areas.Calendar, today: date) -> bool:
    """Whether today is one of the month's first working days on which its reports go out: the
    first, and a few more in case the process was down on it (not later: a deployment started
    late in a month does not send last month's report out of the blue)."""
    first = today.replace(day=1)
    while not calendar.hours.is_working_day(first) and first.day < 28:
        first += timedelta(days=1)
    return first <= today <= calendar.hours.add_working_days(first, SENDING_DAYS - 1)
