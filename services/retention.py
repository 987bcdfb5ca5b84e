"""Retention: what casehub keeps only to do its work is purged once that work is done.

A sent message's text (and blocks) is emptied some days after it was sent; its key stays, so
that the outbox still knows it was sent and never sends it twice. The keys of Slack deliveries
already processed are deleted some days after: Slack retries within minutes, not days. Each
sweep purges a bounded batch, so a backlog is worked off over several sweeps.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, null, select, update
from sqlalchemy.orm import Session

from models import Delivery, Notice

BATCH = 1000


def purge_sent_texts(session: Session, now: datetime, days: int, *, limit: int = BATCH) -> int:
    cutoff = now - timedelta(days=days)
    keys = list(
        session.scalars(
            select(Notice.key)
            .where(
                Notice.state == "sent",
                Notice.sent_at < cutoff,
                Notice.text != "",  # emptied already: nothing left to purge
            )
            .limit(limit)
        )
    )
    if keys:
        session.execute(update(Notice).where(Notice.key.in_(keys)).values(text="", blocks=null()))
    return len(keys)


def purge_deliveries(session: Session, now: datetime, days: int, *, limit: int = BATCH) -> int:
    cutoff = now - timedelta(days=days)
    keys = list(session.scalars(select(Delivery.key).where(Delivery.at < cutoff).limit(limit)))
    if keys:
        session.execute(delete(Delivery).where(Delivery.key.in_(keys)))
    return len(keys)
