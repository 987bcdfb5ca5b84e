"""The notice outbox: every nudge, reminder, digest and page, recorded before it is sent.

A notice goes pending → sending (claimed by exactly one process) → sent, or → failed with a
back-off and back to sending. Keys name what, for whom and for which due time.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from models import Action, Notice, Update, utcnow
from services.reminders import Due

STALE = timedelta(minutes=5)
# A message a change owes is sent by the request's own job, tried again for about four minutes;
# only after that may the scheduler's sweep send it, so that the two never send it at once.
OWED_GRACE = timedelta(minutes=5)


def backoff(attempts: int) -> timedelta:
    return timedelta(minutes=min(60, 2**attempts))


def record(
    session: Session, dues: list[Due], *, state: str = "pending", not_before: datetime | None = None
) -> int:
    """Record notices in the caller's transaction; those already recorded are left alone.
    With `not_before`, the sweep leaves them to whoever recorded them until then."""
    if not dues:
        return 0
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
            "next_attempt_at": not_before,
        }
        for d in dues
    ]
    unrecorded_keys = unrecorded(session, [d.key for d in dues])
    fresh = [row for row in rows if row["key"] in unrecorded_keys]
    if fresh:
        insert = postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
        # One recorded meanwhile by another scheduler is left as it is.
        session.execute(insert(Notice).on_conflict_do_nothing(), fresh)
    return len(fresh)


def owe(
    session: Session,
    key: str,
    *,
    text: str,
    recipient: str,
    channel: str | None = None,
    blocks: list[dict[str, Any]] | None = None,
) -> None:
    """A message a change owes a channel (or, without one, the recipient directly), recorded in
    the change's own transaction: once the change is committed, the message will be sent, by
    the request's job or else by the scheduler's sweep, however often Slack fails meanwhile."""
    due = Due(key, recipient, text, None, channel=channel, blocks=blocks)
    record(session, [due], not_before=utcnow() + OWED_GRACE)


def keys_under(session: Session, prefix: str) -> list[str]:
    """The keys of the notices recorded under a prefix (what one request owes), in order."""
    return list(
        session.scalars(
            select(Notice.key)
            .where(Notice.key.startswith(prefix, autoescape=True))
            .order_by(Notice.created_at)
        )
    )


def claim(session: Session, key: str, now: datetime) -> bool:
    """Take a notice to send it; only one process can win."""
    taken = session.execute(
        update(Notice)
        .where(Notice.key == key, Notice.state.in_(("pending", "failed")))
        .values(state="sending", claimed_at=now, attempts=Notice.attempts + 1)
    )
    # Session.execute is typed as returning a plain Result; for an UPDATE it is a CursorResult.
    return taken.rowcount == 1  # type: ignore[attr-defined]


def mark_sent(
    session: Session, notice: Notice, *, ts: str | None, channel: str | None, now: datetime
) -> None:
    session.execute(
        update(Notice)
        .where(Notice.key == notice.key)
        .values(state="sent", ts=ts, sent_at=now, last_error=None, channel=channel or notice.channel)
    )
    record = _posted_record(notice.key)
    if record is not None and ts is not None:  # whoever sent it, the record learns where it is
        model, record_id = record
        session.execute(
            update(model).where(model.id == record_id, model.channel_ts.is_(None)).values(channel_ts=ts)
        )


# Notices that are the channel message of a record: `<prefix>:<id>`.
UPDATE_POST = "update-post"
ACTION_POST = "action-post"
_POSTED_MODELS: dict[str, type[Update] | type[Action]] = {UPDATE_POST: Update, ACTION_POST: Action}


def post_key(prefix: str, record_id: int) -> str:
    return f"{prefix}:{record_id}"


def _posted_record(key: str) -> tuple[type[Update] | type[Action], int] | None:
    prefix, _, record_id = key.partition(":")
    model = _POSTED_MODELS.get(prefix)
    return (model, int(record_id)) if model is not None and record_id.isdigit() else None


def release(session: Session, key: str) -> None:
    """A claim whose sender died without sending: back to be claimed again."""
    session.execute(update(Notice).where(Notice.key == key, Notice.state == "sending").values(state="failed"))


def mark_failed(session: Session, notice: Notice, *, error: str, now: datetime) -> None:
    session.execute(
        update(Notice)
        .where(Notice.key == notice.key)
        .values(state="failed", last_error=error[:300], next_attempt_at=now + backoff(notice.attempts + 1))
    )


def ready(session: Session, now: datetime, *, limit: int, keys: list[str] | None = None) -> list[Notice]:
    """Pending notices, and failed ones whose back-off is over, oldest first."""
    query = (
        select(Notice)
        .where(
            or_(
                (Notice.state == "pending")
                & or_(Notice.next_attempt_at.is_(None), Notice.next_attempt_at <= now),
                (Notice.state == "failed") & (Notice.next_attempt_at <= now),
            )
        )
        .order_by(Notice.created_at)
        .limit(limit)
    )
    if keys is not None:
        query = query.where(Notice.key.in_(keys))
    return list(session.scalars(query))


def stale(session: Session, now: datetime) -> list[Notice]:
    """Claims left `sending` by a process that died mid-send."""
    return list(
        session.scalars(
            select(Notice).where(Notice.state == "sending", Notice.claimed_at < now - STALE).limit(200)
        )
    )


def unsent(session: Session, keys: list[str]) -> list[Notice]:
    """The notices among these keys not sent yet, in the order they were recorded."""
    return list(
        session.scalars(
            select(Notice).where(Notice.key.in_(keys), Notice.state != "sent").order_by(Notice.created_at)
        )
    )


def unrecorded(session: Session, keys: list[str]) -> set[str]:
    """The keys among these that no notice carries yet."""
    known: set[str] = set()
    for start in range(0, len(keys), 1000):
        known.update(session.scalars(select(Notice.key).where(Notice.key.in_(keys[start : start + 1000]))))
    return set(keys) - known
