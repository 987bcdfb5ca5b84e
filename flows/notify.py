"""Sending notices exactly once: claim the key, send, record; recover what a crash left.

A notice is inserted as `sending` before Slack is called. If the process dies after
Slack accepted the message but before `sent` was written, the next sweep finds the
stale claim and asks Slack (the message carries its key as metadata) before sending
again. Slack errors mark a notice `failed` with a back-off; one failure never blocks
the others.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from bot.db import Database
from bot.slack import describe_error
from models import Notice
from services.reminders import Due

log = logging.getLogger(__name__)
STALE = timedelta(minutes=5)
METADATA_TYPE = "casehub_notice"


@dataclass
class SendResult:
    sent: int = 0
    failed: int = 0
    waiting: int = 0  # outside the recipient's working hours


def backoff(attempts: int) -> timedelta:
    return timedelta(minutes=min(60, 2**attempts))


def claim(db: Database, due: Due, now: datetime) -> bool:
    try:
        with db.session() as session:
            session.add(
                Notice(
                    key=due.key,
                    recipient=due.recipient,
                    channel=due.channel,
                    text=due.text,
                    blocks=due.blocks,
                    state="sending",
                    claimed_at=now,
                    attempts=1,
                )
            )
    except IntegrityError:
        return False  # recorded already: by an earlier sweep or by another scheduler
    return True


def _channel_for(client: WebClient, notice: Notice) -> str:
    if notice.channel:
        return notice.channel
    return client.conversations_open(users=notice.recipient)["channel"]["id"]


def _post(client: WebClient, notice: Notice, channel: str) -> str:
    response = client.chat_postMessage(
        channel=channel,
        text=notice.text,
        blocks=notice.blocks,
        metadata={"event_type": METADATA_TYPE, "event_payload": {"key": notice.key}},
    )
    return response["ts"]


def _finish(
    db: Database, key: str, *, ts: str | None, channel: str | None, error: str | None, now: datetime
) -> None:
    with db.session() as session:
        notice = session.get_one(Notice, key)
        notice.channel = channel or notice.channel
        if error is None:
            notice.state, notice.ts, notice.sent_at, notice.last_error = "sent", ts, now, None
        else:
            notice.state, notice.last_error = "failed", error[:300]
            notice.next_attempt_at = now + backoff(notice.attempts)


def _send(db: Database, client: WebClient, notice: Notice, now: datetime) -> bool:
    channel = None
    try:
        channel = _channel_for(client, notice)
        if notice.channel is None:
            with db.session() as session:  # remember the DM channel, for recovery
                session.get_one(Notice, notice.key).channel = channel
        ts = _post(client, notice, channel)
    except (SlackApiError, OSError) as error:
        log.warning("notice %s not sent: %s", notice.key, describe_error(error))
        _finish(db, notice.key, ts=None, channel=channel, error=describe_error(error), now=now)
        return False
    _finish(db, notice.key, ts=ts, channel=channel, error=None, now=now)
    return True


def deliver(db: Database, client: WebClient, dues: list[Due], now: datetime, *, is_open) -> SendResult:  # type: ignore[no-untyped-def]
    result = SendResult()
    for due in dues:
        if not is_open(now, due.tz):
            result.waiting += 1
            continue
        if not claim(db, due, now):
            continue
        with db.reader() as session:
            notice = session.get_one(Notice, due.key)
        if _send(db, client, notice, now):
            result.sent += 1
        else:
            result.failed += 1
    return result


def retry_failed(db: Database, client: WebClient, now: datetime) -> SendResult:
    result = SendResult()
    with db.reader() as session:
        keys = list(
            session.scalars(
                select(Notice.key).where(Notice.state == "failed", Notice.next_attempt_at <= now).limit(200)
            )
        )
    for key in keys:
        with db.session() as session:  # take it over only if nobody else did
            taken = session.execute(
                update(Notice)
                .where(Notice.key == key, Notice.state == "failed")
                .values(state="sending", claimed_at=now, attempts=Notice.attempts + 1)
            )
        if taken.rowcount != 1:
            continue
        with db.reader() as session:
            notice = session.get_one(Notice, key)
        if _send(db, client, notice, now):
            result.sent += 1
        else:
            result.failed += 1
    return result


def recover_stale(db: Database, client: WebClient, now: datetime) -> int:
    """Claims left `sending` by a process that died: sent after all, or send them now."""
    with db.reader() as session:
        stale = list(
            session.scalars(
                select(Notice).where(Notice.state == "sending", Notice.claimed_at < now - STALE).limit(200)
            )
        )
    recovered = 0
    for notice in stale:
        ts = _find_sent(client, notice) if notice.channel else None
        if ts is not None:
            _finish(db, notice.key, ts=ts, channel=notice.channel, error=None, now=now)
        elif _send(db, client, notice, now):
            recovered += 1
    return recovered


def _find_sent(client: WebClient, notice: Notice) -> str | None:
    oldest = (notice.claimed_at - timedelta(minutes=1)).timestamp() if notice.claimed_at else 0
    try:
        history = client.conversations_history(
            channel=notice.channel, oldest=str(oldest), limit=200, include_all_metadata=True
        )
    except SlackApiError as error:
        log.warning("cannot check whether %s was sent: %s", notice.key, describe_error(error))
        return None
    for message in history.get("messages", []):
        payload = (message.get("metadata") or {}).get("event_payload") or {}
        if payload.get("key") == notice.key:
            return message.get("ts")
    return None
