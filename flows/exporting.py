"""A case's export made and delivered: to its lead in Slack (`/case export`), or to files on the
command line (`python -m bot export case`).

In Slack, the export is built in the request's job (never within Slack's 3 seconds) and sent to
the lead by direct message as two files, uploaded with slack-sdk's `files_upload_v2`. It is sent
once: the request is recorded with the export before anything is uploaded, and an attempt that
finds an earlier one's upload begun asks Slack whether its files arrived (by their title, in
the direct message's history) before sending again, as the notice outbox does for messages. Only
once Slack has taken the files is the export recorded as sent, in the sharing log and the audit
trail; a refusal leaves it recorded as failed, with nothing recorded as shared, and the lead is
told.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackRequestError

from bot import jobs
from bot.db import Database
from bot.settings import Settings
from bot.slack import describe_error
from flows import uploads
from models import Case, Disclosure, Export, ExportState, utcnow
from services import export, export_pdf, export_record
from services.errors import CasehubError
from services.export import Purpose

log = logging.getLogger(__name__)

# A claim to upload younger than this is left to whoever made it (another attempt still running).
STALE = timedelta(minutes=5)


class ExportNotSent(CasehubError):
    """Slack refused the upload: nothing was sent and nothing is recorded as shared."""


@dataclass(frozen=True)
class Asked:
    """One request for an export: who, which case, for whom, through which request."""

    user: str
    case_id: int
    reference: str
    purpose: Purpose
    request_ref: str


@dataclass(frozen=True)
class Made:
    pdf: bytes
    data: bytes
    number: int


def titles(reference: str, purpose: Purpose, number: int) -> tuple[str, str]:
    """The files' titles in Slack: the export's number makes them its own, so that a later attempt
    can tell whether they arrived."""
    title = f"Case {reference}: export {number} for {purpose.value}"
    return f"{title} (PDF)", f"{title} (JSON)"


def make(db: Database, settings: Settings, asked: Asked, number: int, *, via_slack: bool) -> Made:
    """The bundle read from the database and drawn: its PDF and its JSON."""
    with db.reader() as session:
        case = session.get_one(Case, asked.case_id)
        bundle = export.build(
            session,
            case,
            asked.purpose,
            made_by=asked.user,
            made_at=utcnow(),
            via_slack=via_slack,
            bases=dict(settings.sharing_bases),
            number=number,
        )
    pdf = export_pdf.render(bundle, export_pdf.find_font(settings.export_font))
    return Made(pdf, bundle.to_json(), number)


# ---- to the lead in Slack -------------------------------------------------------------------------


def deliver(db: Database, client: WebClient, settings: Settings, asked: Asked) -> str:
    """Send the export to the lead by direct message, once; what to tell them."""
    with db.session() as session:
        case = session.get_one(Case, asked.case_id)
        row, first = export_record.begin(
            session,
            case,
            asked.purpose,
            user=asked.user,
            request_ref=asked.request_ref,
            state=ExportState.SENDING,
        )
        number, state, claimed_at = row.id, row.state, row.claimed_at
    if state == ExportState.SENT.value:
        return (
            f"Export {number} of case {asked.reference} for {export.LABELS[asked.purpose]} was sent "
            "already; nothing was sent again."
        )
    if state == ExportState.SENDING.value and not first:
        told = _resume(db, client, settings, asked, number, claimed_at)
        if told is not None:
            return told
    try:
        made = make(db, settings, asked, number, via_slack=True)
    except Exception as error:  # the identifier check could not run (nothing goes out unchecked), or worse
        _record_failed(db, number, type(error).__name__)
        raise
    with db.session() as session:
        export_record.sending(
            session, session.get_one(Export, number), pdf=made.pdf, data=made.data, now=utcnow()
        )
    return _send(db, client, settings, asked, made)


def _resume(
    db: Database,
    client: WebClient,
    settings: Settings,
    asked: Asked,
    number: int,
    claimed_at: datetime | None,
) -> str | None:
    """An earlier attempt of this request began to send the export: what to tell the lead if its
    files arrived, or if that attempt may still be sending them; None to send them now."""
    arrived = uploads.arrived(
        client, asked.user, titles(asked.reference, asked.purpose, number)[0], claimed_at
    )
    if arrived is not None:
        _record_sent(db, settings, number, *arrived)
        return _sent_message(asked, number)
    job = jobs.current_job()
    fresh = claimed_at is not None and claimed_at > utcnow() - STALE
    if fresh and (job is None or job.attempts <= 1):
        return f"Export {number} of case {asked.reference} is being sent: it will be in your direct messages."
    return None


def _send(db: Database, client: WebClient, settings: Settings, asked: Asked, made: Made) -> str:
    """Upload the files and record them sent; a refusal recorded as such and told."""
    try:
        channel, file_ids = _upload(client, asked, made)
    except (SlackApiError, SlackRequestError, OSError) as error:
        if jobs.will_retry(error):
            raise  # still `sending`: the next attempt asks Slack whether the files arrived first
        arrived = uploads.arrived(
            client, asked.user, titles(asked.reference, asked.purpose, made.number)[0], utcnow() - STALE
        )
        if arrived is not None:  # Slack took them after all and its answer was lost
            _record_sent(db, settings, made.number, *arrived)
            return _sent_message(asked, made.number)
        log.warning("export %s of case %s not sent: %s", made.number, asked.reference, _said(error))
        _record_failed(db, made.number, jobs.error_kind(error))
        raise ExportNotSent(
            f"{_said(error)}, so export {made.number} of case {asked.reference} was not sent, and nothing "
            "is recorded as shared.",
            hint="Please try `/case export` again; if it keeps happening, tell your casehub admin.",
        ) from None
    _record_sent(db, settings, made.number, channel, file_ids)
    return _sent_message(asked, made.number)


def _said(error: Exception) -> str:
    if isinstance(error, SlackRequestError):  # the upload itself was answered with something else
        return "Slack did not take the file"
    return describe_error(error)


def _upload(client: WebClient, asked: Asked, made: Made) -> tuple[str, list[str]]:
    """The two files, in the lead's direct message with casehub: its channel, and the files' ids."""
    channel = client.conversations_open(users=asked.user)["channel"]["id"]
    pdf_title, json_title = titles(asked.reference, asked.purpose, made.number)
    today = utcnow().date()
    response = client.files_upload_v2(
        file_uploads=[
            {
                "file": made.pdf,
                "filename": export.file_name(asked.reference, asked.purpose, today, "pdf"),
                "title": pdf_title,
            },
            {
                "file": made.data,
                "filename": export.file_name(asked.reference, asked.purpose, today, "json"),
                "title": json_title,
            },
        ],
        channel=channel,
        initial_comment=(
            f"Export {made.number} of case *{asked.reference}* for {export.LABELS[asked.purpose]}, as you "
            "asked: the PDF is the chronology to read, the JSON the same record for other systems. Keep "
            "them as securely as the case itself."
        ),
    )
    files: list[dict[str, Any]] = response.get("files") or []
    return channel, [str(f.get("id")) for f in files]


def _record_sent(db: Database, settings: Settings, number: int, channel: str, file_ids: list[str]) -> None:
    with db.session() as session:
        export_record.sent(
            session,
            session.get_one(Export, number),
            channel=channel,
            file_ids=file_ids,
            basis=settings.sharing_basis(Disclosure.EXPORT),
            now=utcnow(),
        )


def _record_failed(db: Database, number: int, kind: str) -> None:
    with db.session() as session:
        export_record.failed(session, session.get_one(Export, number), error_kind=kind, now=utcnow())


def _sent_message(asked: Asked, number: int) -> str:
    review = (
        " Review it before it goes to the person: its last section counts what was removed."
        if asked.purpose is Purpose.SUBJECT
        else ""
    )
    return (
        f":page_facing_up: Export {number} of case {asked.reference} for {export.LABELS[asked.purpose]} "
        "is in your direct messages with casehub: a PDF to read and a JSON file of the same record. "
        f"It is recorded in the case's sharing log.{review}"
    )


# ---- to files, on the command line ---------------------------------------------------------------


def write(db: Database, settings: Settings, asked: Asked, folder: Path) -> tuple[Path, Path]:
    """The export written to `folder` as two new files (never over others), and recorded."""
    today = utcnow().date()
    paths = (
        folder / export.file_name(asked.reference, asked.purpose, today, "pdf"),
        folder / export.file_name(asked.reference, asked.purpose, today, "json"),
    )
    for path in paths:
        if path.exists():
            raise FileExistsError(path)
    produce(db, settings, asked, saving=lambda made: _write_new(paths, (made.pdf, made.data)))
    return paths


def produce(
    db: Database, settings: Settings, asked: Asked, *, saving: Callable[[Made], None] = lambda _made: None
) -> Made:
    """An export made outside Slack (the command line, the desk) and recorded: begun, made, kept
    where `saving` puts it, then recorded as written; a failure is recorded as such."""
    with db.session() as session:
        case = session.get_one(Case, asked.case_id)
        row, _ = export_record.begin(
            session,
            case,
            asked.purpose,
            user=asked.user,
            request_ref=asked.request_ref,
            state=ExportState.WRITING,
        )
        number = row.id
    try:
        made = make(db, settings, asked, number, via_slack=False)
        saving(made)
    except (CasehubError, OSError) as error:
        _record_failed(db, number, type(error).__name__)
        raise
    with db.session() as session:
        export_record.written(
            session, session.get_one(Export, number), pdf=made.pdf, data=made.data, now=utcnow()
        )
    return made


def _write_new(paths: tuple[Path, Path], contents: tuple[bytes, bytes]) -> None:
    """Both files, or neither: each is created new (`x`), and the first removed if the second fails."""
    written: list[Path] = []
    try:
        for path, content in zip(paths, contents, strict=True):
            with path.open("xb") as out:
                written.append(path)
                out.write(content)
    except OSError:
        for path in written:
            path.unlink(missing_ok=True)
        raise
