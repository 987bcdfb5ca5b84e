"""One scheduler sweep: what the database says is due, sent once, in working hours."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from blocks import digest as digest_blocks
from blocks import messages
from bot.db import Database
from bot.settings import Settings
from flows import crisis, notify
from flows import retention as retention_flow
from flows.rules import reminder_rules, working_hours
from models import Preference, utcnow
from services import cases, digests, lessons, outbox, referrals, reminders, retention, transfers
from services.worktime import zone

log = logging.getLogger(__name__)
TIMEZONE_LOOKUPS_PER_SWEEP = 50
TIMEZONE_MAX_AGE = timedelta(days=7)
FIRST_DIGEST_LOOKBACK = timedelta(days=7)
DIGESTS_PER_SWEEP = 20  # at 08:30 everyone is due at once: spread over the next minutes


@dataclass
class SweepReport:
    due: int = 0
    sent: int = 0
    failed: int = 0
    waiting: int = 0
    recovered: int = 0
    purged: int = 0  # sent texts emptied and delivery keys deleted under retention
    deleted: int = 0  # casehub's messages of deleted cases, deletion tried in Slack


def known_timezones(db: Database) -> dict[str, str]:
    with db.reader() as session:
        return digests.known_timezones(session)


def refresh_timezones(db: Database, client: WebClient, users: set[str], now: datetime) -> None:
    """Ask Slack for the time zones casehub does not know yet (a few a sweep)."""
    with db.reader() as session:
        fresh = digests.recently_checked(session, users, now - TIMEZONE_MAX_AGE)
    for user in sorted(users - fresh)[:TIMEZONE_LOOKUPS_PER_SWEEP]:
        try:
            tz = client.users_info(user=user)["user"].get("tz")
        except SlackApiError as error:
            log.info("no time zone for %s: %s", user, error.response.get("error"))
            tz = None
        try:
            with db.session() as session:
                digests.note_timezone(session, user, tz, now)
        except IntegrityError:
            pass  # another sweep recorded this person at the same moment


def digest_dues(
    session: Session, settings: Settings, now: datetime, tz_of: reminders.TzOf
) -> list[reminders.Due]:
    """Digests due now (one a coordinator and local day); an empty one is recorded as skipped."""
    hours = working_hours(settings)
    candidates = {}
    for user, pref in digests.leads_and_preferences(session):
        choice = pref.digest if pref else "daily"
        at = pref.digest_time if pref and pref.digest_time else settings.digest_time
        day = reminders.digest_due(choice, at, now, tz_of(user), hours)
        if day is not None:
            candidates[f"digest:{user}:{day}"] = (user, pref)
    fresh = outbox.unrecorded(session, list(candidates))
    due = [key for key in candidates if key in fresh][:DIGESTS_PER_SWEEP]
    return [
        build_digest(
            session, settings, candidates[key][0], key, now, tz_of(candidates[key][0]), candidates[key][1]
        )
        for key in due
    ]


def interrupted_setup_dues(session: Session, now: datetime) -> list[reminders.Due]:
    """Tell the lead, at once, of a case whose setup was cut short, with the retry button."""
    return [
        reminders.Due(
            f"setup-interrupted:{case.id}",
            case.lead_user_id,
            f"Case {case.reference} is recorded but its channel is not finished.",
            None,
            blocks=messages.case_setup_failed(case, cases.SETUP_INTERRUPTED),
        )
        for case in cases.interrupted_setups(session, now)
    ]


def build_digest(
    session: Session, settings: Settings, user: str, key: str, now: datetime, tz: str, pref: Preference | None
) -> reminders.Due:
    since = pref.last_digest_at if pref and pref.last_digest_at else now - FIRST_DIGEST_LOOKBACK
    today = now.astimezone(zone(tz)).date()
    data = digests.build(session, user, now=now, today=today, since=since)
    if data.is_empty:
        return reminders.Due(key, user, "", tz)
    digests.preference(session, user).last_digest_at = now
    title = "Your casehub digest"
    return reminders.Due(key, user, title, tz, blocks=digest_blocks.digest(data, title=title))


def sweep(db: Database, client: WebClient, settings: Settings, now: datetime | None = None) -> SweepReport:
    now = now or utcnow()
    report = SweepReport()
    zones = known_timezones(db)
    hours = working_hours(settings)

    def tz_of(user: str) -> str:
        return zones.get(user) or settings.default_timezone

    with db.reader() as session:  # learn the time zones of people about to be told something
        upcoming = reminders.recipients_due(session, now) | referrals.recipients_due(session, now)
    unknown = upcoming - set(zones)
    if unknown:
        refresh_timezones(db, client, unknown, now)
        zones.update(known_timezones(db))
    with db.session() as session:  # decide and record in one transaction: the outbox
        rules = reminder_rules(settings, session)
        dues = (
            reminders.collect(session, now, rules, tz_of)
            + referrals.due_notices(session, now, rules, tz_of, admins=settings.casehub_admins)
            + transfers.due_notices(session, now, rules, tz_of)
            + lessons.due_notices(session, now, rules, tz_of)
            + digest_dues(session, settings, now, tz_of)
            + interrupted_setup_dues(session, now)
        )
        report.due = outbox.record(session, [d for d in dues if d.text])
        outbox.record(session, [d for d in dues if not d.text], state="skipped")
    crisis.escalate(db, client, settings, now)
    sent = notify.send_ready(db, client, now, is_open=hours.is_open)
    report.recovered = notify.recover_stale(db, client, now)
    report.sent, report.failed, report.waiting = sent.sent, sent.failed, sent.waiting
    with db.session() as session:  # what was kept only to deliver, purged once delivered
        report.purged = retention.purge_sent_texts(session, now, settings.retention_outbox_days)
        report.purged += retention.purge_deliveries(session, now, settings.retention_deliveries_days)
    report.deleted = retention_flow.delete_messages(db, client, now)
    return report


def send_digest_now(db: Database, client: WebClient, settings: Settings, user: str, key: str) -> bool:
    """`/digest now`: at once, whatever the hour; False when there is nothing to say."""
    now = utcnow()
    tz = known_timezones(db).get(user) or settings.default_timezone
    with db.session() as session:
        due = build_digest(session, settings, user, key, now, tz, session.get(Preference, user))
        if not due.text:
            return False
        outbox.record(session, [reminders.Due(due.key, user, due.text, None, blocks=due.blocks)])
    notify.send_ready(db, client, now, is_open=hours_always_open, keys=[key])
    return True


def hours_always_open(_now: datetime, _tz: str) -> bool:
    return True
