"""Sending notices exactly once, through an outbox in the database.

A notice is first recorded `pending` under its unique key, in the same transaction
that decided it was due. Sending claims it (`pending` → `sending`, a conditional
update that only one process can win), posts it with its key as message metadata,
and records `sent`. If a process dies between Slack's answer and that record, the
next sweep finds the stale claim and asks Slack whether the message is there before
sending again. Slack errors mark a notice `failed` with a back-off; one failure never
blocks the others; working hours are checked at sending, in the recipient's zone.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.db import Database
from bot.slack import describe_error
from models import Notice
from services.reminders import Due

log = logging.getLogger(__name__)
STALE = timedelta(minutes=5)
SEND_LIMIT = 300  # a sweep's share of Slack's rate limits; the rest goes next minute
METADATA_TYPE = "casehub_notice"
IsOpen = Callable[[datetime, str], bool]


@dataclass
class SendResult:
    sent: int = 0
    failed: int = 0
    waiting: int = 0  # outside the recipient's working hours


def backoff(attempts: int) -> timedelta:
    return timedelta(minutes=min(60, 2**attempts))


def record(session: Session, dues: list[Due], *, state: str = "pending") -> int:
    """Record notices in the caller's transaction; those already recorded are left alone."""
    added = 0
    for due in dues:
        if session.get(Notice, due.key) is not None:
            continue
        try:
            with session.begin_nested():
                session.add(
                    Notice(
                        key=due.key,
                        recipient=due.recipient,
                        channel=due.channel,
                        tz=due.tz,
                        text=due.text,
                        blocks=due.blocks,
                        state=state,
                    )
                )
            added += 1
        except IntegrityError:
            continue  # another sweep recorded it at the same moment
    return added


def _claim(db: Database, key: str, now: datetime) -> bool:
    with db.session() as session:
        taken = session.execute(
            update(Notice)
            .where(Notice.key == key, Notice.state.in_(("pending", "failed")))
            .values(state="sending", claimed_at=now, attempts=Notice.attempts + 1)
        )
    return taken.rowcount == 1


def _finish(db: Database, key: str, *, ts: str | None, error: str | None, now: datetime) -> None:
    with db.session() as session:
        notice = session.get_one(Notice, key)
        if error is None:
            notice.state, notice.ts, notice.sent_at, notice.last_error = "sent", ts, now, None
        else:
            notice.state, notice.last_error = "failed", error[:300]
            notice.next_attempt_at = now + backoff(notice.attempts)


def _send(db: Database, client: WebClient, notice: Notice, now: datetime) -> bool:
    try:
        channel = notice.channel
        if channel is None:
            channel = client.conversations_open(users=notice.recipient)["channel"]["id"]
            with db.session() as session:  # remembered, so a recovery can look for the message
                session.get_one(Notice, notice.key).channel = channel
        ts = client.chat_postMessage(
            channel=channel,
            text=notice.text,
            blocks=notice.blocks,
            metadata={"event_type": METADATA_TYPE, "event_payload": {"key": notice.key}},
        )["ts"]
    except (SlackApiError, OSError) as error:
        log.warning("notice %s not sent: %s", notice.key, describe_error(error))
        _finish(db, notice.key, ts=None, error=describe_error(error), now=now)
        return False
    _finish(db, notice.key, ts=ts, error=None, now=now)
    return True


def send_ready(
    db: Database, client: WebClient, now: datetime, *, is_open: IsOpen, keys: list[str] | None = None
) -> SendResult:
    """Send pending notices (and failed ones whose back-off is over), within working hours."""
    result = SendResult()
    query = (
        select(Notice)
        .where(
            or_(
                Notice.state == "pending",
                (Notice.state == "failed") & (Notice.next_attempt_at <= now),
            )
        )
        .order_by(Notice.created_at)
        .limit(SEND_LIMIT * 4)
    )
    if keys is not None:
        query = query.where(Notice.key.in_(keys))
    with db.reader() as session:
        ready = list(session.scalars(query))
    for notice in ready:
        if result.sent + result.failed >= SEND_LIMIT:
            break
        if notice.tz is not None and not is_open(now, notice.tz):
            result.waiting += 1
            continue
        if not _claim(db, notice.key, now):
            continue
        if _send(db, client, notice, now):
            result.sent += 1
        else:
            result.failed += 1
    return result


def recover_stale(db: Database, client: WebClient, now: datetime) -> int:
    """Claims left `sending` by a process that died: sent after all, or sent now."""
    with db.reader() as session:
        stale = list(
            session.scalars(
                select(Notice).where(Notice.state == "sending", Notice.claimed_at < now - STALE).limit(200)
            )
        )
    resent = 0
    for notice in stale:
        ts = _find_sent(client, notice) if notice.channel else None
        if ts is not None:
            _finish(db, notice.key, ts=ts, error=None, now=now)
        elif _send(db, client, notice, now):
            resent += 1
    return resent


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
