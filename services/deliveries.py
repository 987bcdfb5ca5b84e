"""Exactly-once processing of Slack deliveries (event retries, repeated submissions)."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from models import Delivery


def claim(session: Session, key: str) -> bool:
    """Record `key` in the current transaction; False when it was processed already.

    The row commits (or rolls back) with the change it guards, so a failed attempt
    can be retried and a successful one is never repeated.
    """
    if session.get(Delivery, key) is not None:
        return False
    try:
        with session.begin_nested():
            session.add(Delivery(key=key))
    except IntegrityError:
        return False
    return True
