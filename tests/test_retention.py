"""Retention of what casehub keeps only to deliver: sent messages' texts and processed
deliveries' keys, purged by the sweep after the configured days, a batch at a time."""

from __future__ import annotations

from datetime import timedelta

from slack_sdk import WebClient
from sqlalchemy import select, update

from flows.sweep import sweep
from models import Delivery, Notice, clock, utcnow
from sandbox.slack import TOKEN
from services import deliveries, outbox, retention
from services.reminders import Due
from tests.conftest import COORD


def notices(database) -> dict[str, tuple[str, str]]:
    with database.reader() as session:
        return {n.key: (n.state, n.text) for n in session.scalars(select(Notice))}


def sent(database, key: str, days_ago: float) -> None:
    with database.session() as session:
        session.execute(
            update(Notice)
            .where(Notice.key == key)
            .values(state="sent", sent_at=utcnow() - timedelta(days=days_ago))
        )


def test_a_sent_message_keeps_its_key_but_not_its_text_after_the_retention_days(database, fake, settings):
    with database.session() as session:
        outbox.record(
            session,
            [Due(key, COORD, f"Text of {key}", None) for key in ("old", "recent", "failing")],
        )
    sent(database, "old", 31)
    sent(database, "recent", 29)
    with database.session() as session:  # never sent, however old: kept to be sent
        session.execute(update(Notice).where(Notice.key == "failing").values(state="failed"))
    report = sweep(database, WebClient(token=TOKEN, base_url=fake.api_url), settings)
    assert report.purged == 1
    assert notices(database) == {
        "old": ("sent", ""),
        "recent": ("sent", "Text of recent"),
        "failing": ("failed", "Text of failing"),
    }
    with database.session() as session:  # the key stays: the message is never sent again
        assert outbox.record(session, [Due("old", COORD, "Text of old", None)]) == 0


def test_processed_deliveries_are_forgotten_after_their_days(database, settings):
    with clock.set_to(utcnow() - timedelta(days=31)), database.session() as session:
        deliveries.claim(session, "command:old")
    with database.session() as session:
        deliveries.claim(session, "command:new")
    with database.session() as session:
        assert retention.purge_deliveries(session, utcnow(), settings.retention_deliveries_days) == 1
    with database.reader() as session:
        assert list(session.scalars(select(Delivery.key))) == ["command:new"]


def test_a_backlog_is_purged_a_batch_at_a_time(database, settings):
    with database.session() as session:
        outbox.record(session, [Due(f"n{number}", COORD, "text", None) for number in range(5)])
    for number in range(5):
        sent(database, f"n{number}", 40)
    with database.session() as session:
        assert retention.purge_sent_texts(session, utcnow(), 30, limit=2) == 2
    with database.session() as session:
        assert retention.purge_sent_texts(session, utcnow(), 30, limit=10) == 3
    with database.session() as session:
        assert retention.purge_sent_texts(session, utcnow(), 30) == 0
    assert {text for _state, text in notices(database).values()} == {""}
