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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import or_, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from bot.db import Database
from bot.slack import describe_error
from models import Notice, utcnow
from services.reminders import Due

log = logging.getLogger(__name__)
STALE = timedelta(minutes=5)
SEND_LIMIT = 300  # a sweep's share of Slack's rate limits; the rest goes next minute
SENDERS = 8  # Slack calls in flight at once
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
    if not dues:
        return 0
    insert = postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    now = utcnow()
    rows = [
        {
            "key": d.key,
            "recipient": d.recipient,
            "channel": d.channel,
            "tz": d.tz,
            "text": d.text,
            "blocks": d.blocks,
            "state": state,
            "attempts": 0,
            "created_at": now,
        }
        for d in dues
    ]
    known = set()
    for start in range(0, len(rows), 1000):
        keys = [row["key"] for row in rows[start : start + 1000]]
        known.update(session.scalars(select(Notice.key).where(Notice.key.in_(keys))))
    fresh = [row for row in rows if row["key"] not in known]
    if fresh:
        # One recorded meanwhile by another scheduler is left as it is.
        session.execute(insert(Notice).on_conflict_do_nothing(), fresh)
    return len(fresh)


def _claim(db: Database, key: str, now: datetime) -> bool:
    with db.session() as session:
        taken = session.execute(
            update(Notice)
            .where(Notice.key == key, Notice.state.in_(("pending", "failed")))
            .values(state="sending", claimed_at=now, attempts=Notice.attempts + 1)
        )
    return taken.rowcount == 1


def _finish(
    db: Database, notice: Notice, *, ts: str | None, channel: str | None, error: str | None, now: datetime
) -> None:
    if error is None:
        values = {
            "state": "sent",
            "ts": ts,
            "sent_at": now,
            "last_error": None,
            "channel": channel or notice.channel,
        }
    else:
        values = {
            "state": "failed",
            "last_error": error[:300],
            "next_attempt_at": now + backoff(notice.attempts + 1),
        }
    with db.session() as session:
        session.execute(update(Notice).where(Notice.key == notice.key).values(**values))


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
    sendable = []
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
    for message in history.get("messages", []):
        payload = (message.get("metadata") or {}).get("event_payload") or {}
        if payload.get("key") == notice.key:
            return message.get("ts")
    return None
