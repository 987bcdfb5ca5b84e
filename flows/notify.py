"""Sending notices exactly once, through an outbox in the database.

A notice is first recorded `pending` under its unique key (`services.outbox.record`), in
the same transaction that decided it was due. Sending claims it (`pending` → `sending`, a conditional
update that only one process can win), posts it with its key as message metadata,
and records `sent`. If a process dies between Slack's answer and that record, the
next sweep finds the stale claim and asks Slack whether the message is there before
sending again. Slack errors mark a notice `failed` with a back-off; one failure never
blocks the others; working hours are checked at sending, in the recipient's zone.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot import jobs
from bot.db import Database
from bot.slack import describe_error
from models import Notice, utcnow
from services import outbox
from services.reminders import Due

log = logging.getLogger(__name__)
SEND_LIMIT = 300  # a sweep's share of Slack's rate limits; the rest goes next minute
SENDERS = 8  # Slack calls in flight at once
METADATA_TYPE = "casehub_notice"
IsOpen = Callable[[datetime, str], bool]


@dataclass
class SendResult:
    sent: int = 0
    failed: int = 0
    waiting: int = 0  # outside the recipient's working hours


def _claim(db: Database, key: str, now: datetime) -> bool:
    with db.session() as session:
        return outbox.claim(session, key, now)


def _finish(
    db: Database, notice: Notice, *, ts: str | None, channel: str | None, error: str | None, now: datetime
) -> None:
    with db.session() as session:
        if error is None:
            outbox.mark_sent(session, notice, ts=ts, channel=channel, now=now)
        else:
            outbox.mark_failed(session, notice, error=error, now=now)


def _send(db: Database, client: WebClient, notice: Notice, now: datetime) -> bool:
    try:
        # A user ID as the channel posts to the app's direct message with that person.
        response = client.chat_postMessage(
            channel=notice.channel or notice.recipient,
            text=notice.text,
            blocks=notice.blocks,
            metadata={"event_type": METADATA_TYPE, "event_payload": {"key": notice.key}},
        )
    except (SlackApiError, OSError) as error:
        log.warning("notice %s not sent: %s", notice.key, describe_error(error))
        _finish(db, notice, ts=None, channel=None, error=describe_error(error), now=now)
        return False
    _finish(db, notice, ts=response["ts"], channel=response.get("channel"), error=None, now=now)
    return True


def send_ready(
    db: Database, client: WebClient, now: datetime, *, is_open: IsOpen, keys: list[str] | None = None
) -> SendResult:
    """Send pending notices (and failed ones whose back-off is over), within working hours."""
    result = SendResult()
    with db.reader() as session:
        ready = outbox.ready(session, now, limit=SEND_LIMIT * 4, keys=keys)
    sendable: list[Notice] = []
    for notice in ready:
        if notice.tz is not None and not is_open(now, notice.tz):
            result.waiting += 1
        elif len(sendable) < SEND_LIMIT:
            sendable.append(notice)

    def attempt(notice: Notice) -> bool | None:
        return _send(db, client, notice, now) if _claim(db, notice.key, now) else None

    with ThreadPoolExecutor(max_workers=SENDERS) as pool:
        for outcome in pool.map(attempt, sendable):
            if outcome is True:
                result.sent += 1
            elif outcome is False:
                result.failed += 1
    return result


def post_once(
    db: Database,
    client: WebClient,
    *,
    key: str,
    channel: str,
    recipient: str,
    text: str,
    blocks: list[dict[str, Any]] | None,
    now: datetime,
) -> str | None:
    """Post a message casehub owes a channel exactly once; its ts, or None if another process
    is sending it at this moment.

    It is recorded in the outbox first, under `key`. A failed send raises (the job that asked
    is tried again) and stays in the outbox, which the scheduler's sweep keeps sending until
    Slack answers, so the channel gets it even if every attempt of the job fails. A job
    taken again after its worker died finds the post claimed: Slack is asked whether it
    arrived (by the key in its metadata) before it is sent again.
    """
    due = Due(key, recipient, text, None, channel=channel, blocks=blocks)
    with db.session() as session:
        outbox.record(session, [due])
    with db.reader() as session:
        notice = session.get_one(Notice, key)
    if notice.state == "sent":
        return notice.ts
    if notice.state == "sending":
        ts = _find_sent(client, notice)
        if ts is not None:
            _finish(db, notice, ts=ts, channel=None, error=None, now=now)
            return ts
        if not _may_take_over(notice, now):
            return None  # someone else is sending it now
        with db.session() as session:
            outbox.release(session, key)
    if not _claim(db, key, now):
        return None
    try:
        response = client.chat_postMessage(
            channel=channel,
            text=text,
            blocks=blocks,
            metadata={"event_type": METADATA_TYPE, "event_payload": {"key": key}},
        )
    except (SlackApiError, OSError) as error:
        _finish(db, notice, ts=None, channel=None, error=describe_error(error), now=now)
        raise
    _finish(db, notice, ts=response["ts"], channel=response.get("channel"), error=None, now=now)
    return str(response["ts"])


def _may_take_over(notice: Notice, now: datetime) -> bool:
    """A claim to send that Slack shows no trace of is taken over only from a sender that
    stopped: one claimed long ago, or by an earlier attempt of the job now running (whose
    worker died or failed). A first attempt that finds a fresh claim leaves it to its sender,
    the scheduler's sweep or the same request running elsewhere: both would post."""
    job = jobs.current_job()
    fresh = notice.claimed_at is not None and notice.claimed_at > now - outbox.STALE
    return not fresh or (job is not None and job.attempts > 1)


def recover_stale(db: Database, client: WebClient, now: datetime) -> int:
    """Claims left `sending` by a process that died: sent after all, or sent now."""
    with db.reader() as session:
        stale = outbox.stale(session, now)
    resent = 0
    for notice in stale:
        ts = _find_sent(client, notice)
        if ts is not None:
            _finish(db, notice, ts=ts, channel=None, error=None, now=now)
        elif _send(db, client, notice, now):
            resent += 1
    return resent


def _find_sent(client: WebClient, notice: Notice) -> str | None:
    oldest = (notice.claimed_at - timedelta(minutes=1)).timestamp() if notice.claimed_at else 0
    try:
        channel = notice.channel or client.conversations_open(users=notice.recipient)["channel"]["id"]
        history = client.conversations_history(
            channel=channel, oldest=str(oldest), limit=200, include_all_metadata=True
        )
    except SlackApiError as error:
        log.warning("cannot check whether %s was sent: %s", notice.key, describe_error(error))
        return None
    messages: list[dict[str, Any]] = history.get("messages", [])
    for message in messages:
        payload = (message.get("metadata") or {}).get("event_payload") or {}
        if payload.get("key") == notice.key:
            return message.get("ts")
    return None


def send_owed(db: Database, client: WebClient, keys: list[str]) -> None:
    """Send now the messages a request's change owes (`outbox.owe`), those not sent yet.

    Called again for a repeated request, it sends what the first one could not. A failure is
    raised, for the request's job to be tried again; what every attempt fails to send stays in
    the outbox for the scheduler's sweep.
    """
    with db.reader() as session:
        owed = outbox.unsent(session, keys)
    for notice in owed:
        post_once(
            db,
            client,
            key=notice.key,
            channel=notice.channel or notice.recipient,  # a user ID: the app's direct message
            recipient=notice.recipient,
            text=notice.text,
            blocks=notice.blocks,
            now=utcnow(),
        )
