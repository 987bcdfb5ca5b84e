"""The nightly retention pass, and the deletion of casehub's own messages from Slack.

The pass warns of the cases due within the warning period and deletes the content of those
whose time has come, one case a transaction, a bounded number a night. Deleting messages from
Slack is slower (chat.delete allows about 50 a minute), so each sweep deletes a few: the
database is the record, and what Slack refuses is kept with its answer for the officers.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import Select, or_, select

from bot.db import Database
from bot.settings import Settings
from models import MessageDeletion, utcnow
from services import digests, outbox, retention

log = logging.getLogger(__name__)
DELETIONS_PER_SWEEP = 40  # under chat.delete's 50 a minute
MAX_ATTEMPTS = 5
# Slack's answers that say the message is gone already, and those that will never change.
GONE = {"message_not_found", "channel_not_found"}
TRANSIENT = {"ratelimited", "service_unavailable", "internal_error", "fatal_error", "request_timeout"}


def schedule_of(settings: Settings) -> retention.Schedule:
    return retention.Schedule(
        case_years=settings.retention_case_years,
        screened_out_months=settings.retention_screened_out_months,
        warning_days=settings.retention_warning_days,
    )


@dataclass
class PassReport:
    warned: int = 0
    purged: list[str] = field(default_factory=list)
    messages: int = 0
    referrals: list[str] = field(default_factory=list)  # referrals never opened as cases, deleted

    def __str__(self) -> str:
        return (
            f"{self.warned} cases warned, {len(self.purged)} deleted, {self.messages} messages to delete, "
            f"{len(self.referrals)} referrals deleted"
        )


def nightly(db: Database, settings: Settings, now: datetime | None = None) -> PassReport:
    """Warn of what is due soon; delete what is due. Each case in its own transaction, so a
    failure leaves the others done and the pass can simply run again."""
    now = now or utcnow()
    schedule = schedule_of(settings)
    report = PassReport()
    with db.reader() as session:
        zones = digests.known_timezones(session)

    def tz_of(user: str) -> str:
        return zones.get(user) or settings.default_timezone

    with db.session() as session:
        dues = retention.warn(session, now, schedule, settings.casehub_dpos, tz_of)
        outbox.record(session, dues)
        report.warned = len({due.key.split(":")[1] for due in dues})
    with db.reader() as session:
        ids = retention.purgeable(session, now, schedule)
    for case_id in ids:
        with db.session() as session:
            purged = retention.purge_case(session, case_id, now, schedule)
        if purged is not None:
            report.purged.append(purged.reference)
            report.messages += purged.messages
    with db.reader() as session:
        referral_ids = retention.referrals_due(session, now, schedule)
    for referral_id in referral_ids:
        with db.session() as session:
            label = retention.purge_referral(session, referral_id, now, schedule)
        if label is not None:
            report.referrals.append(label)
    if report.warned or report.purged or report.referrals:
        log.info("retention: %s", report)
    return report


def delete_messages(
    db: Database, client: WebClient, now: datetime, *, limit: int = DELETIONS_PER_SWEEP
) -> int:
    """Delete a few of the messages queued by the pass (after searching a channel's history for
    the rest of casehub's messages there); returns how many were tried."""
    search_history(db, client, now)
    with db.session() as session:  # claimed: a second scheduler (or the next sweep) leaves them
        rows = session.scalars(
            _ready(now)
            .where(MessageDeletion.ts != retention.HISTORY)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).all()
        work = [(row.id, row.channel, row.ts) for row in rows]
        for row in rows:
            row.attempts += 1
            row.next_attempt_at = now + timedelta(minutes=5 * row.attempts)
    answers: dict[int, str | None] = {}
    for row_id, channel, ts in work:
        try:
            client.chat_delete(channel=channel, ts=ts)
            answers[row_id] = None
        except SlackApiError as error:
            answers[row_id] = str(error.response.get("error") or "unknown_error")
            if answers[row_id] == "ratelimited":
                break  # the rest wait for the next sweep, untried
    if answers:
        with db.session() as session:
            for row_id, answer in answers.items():
                settle(session.get_one(MessageDeletion, row_id), answer, now)
    return len(answers)


def _ready(now: datetime) -> Select[Any]:
    return (
        select(MessageDeletion)
        .where(
            MessageDeletion.state == "pending",
            or_(MessageDeletion.next_attempt_at.is_(None), MessageDeletion.next_attempt_at <= now),
        )
        .order_by(MessageDeletion.id)
    )


def search_history(db: Database, client: WebClient, now: datetime) -> bool:
    """One deleted case's channel searched for casehub's own messages that it kept no record of
    (replies to commands shown in the channel), each queued for deletion; True if one was."""
    with db.session() as session:
        row = session.scalars(
            _ready(now)
            .where(MessageDeletion.ts == retention.HISTORY)
            .limit(1)
            .with_for_update(skip_locked=True)
        ).first()
        if row is None:
            return False
        row.attempts += 1
        row.next_attempt_at = now + timedelta(minutes=5 * row.attempts)
        row_id, case_id, channel = row.id, row.case_id, row.channel
    found: list[str] = []
    answer: str | None = None
    try:
        me = client.auth_test()
        cursor = None
        while True:
            page = client.conversations_history(channel=channel, limit=200, cursor=cursor)
            messages: list[dict[str, Any]] = page.get("messages", [])
            found += [
                m["ts"]
                for m in messages
                if m.get("user") == me["user_id"] or (m.get("bot_id") and m.get("bot_id") == me.get("bot_id"))
            ]
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                break
    except SlackApiError as error:
        answer = str(error.response.get("error") or "unknown_error")
    with db.session() as session:
        if answer is None:
            known = set(session.scalars(select(MessageDeletion.ts).where(MessageDeletion.channel == channel)))
            fresh = [ts for ts in dict.fromkeys(found) if ts not in known]
            session.add_all(
                MessageDeletion(case_id=case_id, channel=channel, ts=ts, created_at=now) for ts in fresh
            )
        settle(session.get_one(MessageDeletion, row_id), answer, now)
    return True


def settle(row: MessageDeletion, answer: str | None, now: datetime) -> None:
    """Record Slack's answer: deleted, gone already, to try again, or refused for good."""
    if answer is None or answer in GONE:
        row.state, row.done_at, row.last_error = ("deleted" if answer is None else "gone"), now, answer
        return
    row.last_error = answer
    if answer not in TRANSIENT or row.attempts >= MAX_ATTEMPTS:
        row.state, row.done_at = "failed", now
        log.warning("could not delete a message in %s: %s", row.channel, answer)
