"""One scheduler sweep: what the database says is due, sent once, in working hours."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from blocks import digest as digest_blocks
from bot.db import Database
from bot.settings import Settings
from flows import notify
from models import Case, Notice, Preference, Stage, utcnow
from services import digests, reminders
from services.worktime import WorkingHours

log = logging.getLogger(__name__)
TIMEZONE_LOOKUPS_PER_SWEEP = 50
TIMEZONE_MAX_AGE = timedelta(days=7)
FIRST_DIGEST_LOOKBACK = timedelta(days=7)


@dataclass
class SweepReport:
    due: int = 0
    sent: int = 0
    failed: int = 0
    waiting: int = 0
    recovered: int = 0


def working_hours(settings: Settings) -> WorkingHours:
    return WorkingHours(
        settings.working_hours_start, settings.working_hours_end, frozenset(settings.working_weekdays)
    )


def rules(settings: Settings) -> reminders.Rules:
    return reminders.Rules(
        working_hours(settings), settings.default_timezone, settings.review_nudge_working_days
    )


def known_timezones(db: Database) -> dict[str, str]:
    with db.reader() as session:
        return {
            user: tz
            for user, tz in session.execute(
                select(Preference.user_id, Preference.timezone).where(Preference.timezone.is_not(None))
            )
        }


def refresh_timezones(db: Database, client: WebClient, users: set[str], now: datetime) -> None:
    """Ask Slack for the time zones casehub does not know yet (a few a sweep)."""
    with db.reader() as session:
        fresh = set(
            session.scalars(
                select(Preference.user_id).where(
                    Preference.user_id.in_(users), Preference.timezone_checked_at > now - TIMEZONE_MAX_AGE
                )
            )
        )
    for user in sorted(users - fresh)[:TIMEZONE_LOOKUPS_PER_SWEEP]:
        try:
            tz = client.users_info(user=user)["user"].get("tz")
        except SlackApiError as error:
            log.info("no time zone for %s: %s", user, error.response.get("error"))
            tz = None
        try:
            with db.session() as session:
                pref = digests.preference(session, user)
                pref.timezone, pref.timezone_checked_at = tz or pref.timezone, now
        except IntegrityError:
            pass  # another sweep recorded this person at the same moment


def digest_dues(
    db: Database, settings: Settings, now: datetime, tz_of: reminders.TzOf
) -> list[reminders.Due]:
    hours = working_hours(settings)
    out = []
    with db.reader() as session:
        leads = list(session.scalars(select(Case.lead_user_id).where(Case.stage != Stage.CLOSED).distinct()))
        prefs = {
            p.user_id: p for p in session.scalars(select(Preference).where(Preference.user_id.in_(leads)))
        }
        candidates = {}
        for user in leads:
            pref = prefs.get(user)
            choice = pref.digest if pref else "daily"
            at = pref.digest_time if pref and pref.digest_time else settings.digest_time
            day = reminders.digest_due(choice, at, now, tz_of(user), hours)
            if day is not None:
                candidates[f"digest:{user}:{day}"] = user
        if not candidates:
            return []
        done = set(session.scalars(select(Notice.key).where(Notice.key.in_(list(candidates)))))
        for key, user in candidates.items():
            if key in done:
                continue
            pref = prefs.get(user)
            since = pref.last_digest_at if pref and pref.last_digest_at else now - FIRST_DIGEST_LOOKBACK
            tz = tz_of(user)
            data = digests.build(
                session, user, now=now, today=now.astimezone(reminders.zone(tz)).date(), since=since
            )
            if data.is_empty:
                out.append(reminders.Due(key, user, "", tz, blocks=None))  # recorded as skipped
                continue
            out.append(
                reminders.Due(
                    key,
                    user,
                    "Your casehub digest",
                    tz,
                    blocks=digest_blocks.digest(data, title="Your casehub digest"),
                )
            )
    return out


def sweep(db: Database, client: WebClient, settings: Settings, now: datetime | None = None) -> SweepReport:
    now = now or utcnow()
    report = SweepReport()
    zones = known_timezones(db)

    def tz_of(user: str) -> str:
        return zones.get(user) or settings.default_timezone

    with db.reader() as session:
        dues = reminders.due_notices(session, now, rules(settings), tz_of)
    dues += digest_dues(db, settings, now, tz_of)
    report.due = len(dues)
    unknown = {d.recipient for d in dues if d.recipient not in zones and d.channel is None}
    if unknown:
        refresh_timezones(db, client, unknown, now)
        zones.update(known_timezones(db))
        dues = [
            reminders.Due(
                d.key,
                d.recipient,
                d.text,
                tz_of(d.recipient) if d.channel is None else d.tz,
                d.channel,
                d.blocks,
            )
            for d in dues
        ]
    hours = working_hours(settings)
    empty = [d for d in dues if d.key.startswith("digest:") and not d.text]
    for due in empty:
        if hours.is_open(now, due.tz) and notify.claim(db, due, now):
            with db.session() as session:
                session.get_one(Notice, due.key).state = "skipped"
    sendable = [d for d in dues if d.text]
    result = notify.deliver(db, client, sendable, now, is_open=hours.is_open)
    _note_digests(db, [d for d in sendable if d.key.startswith("digest:")], now)
    retried = notify.retry_failed(db, client, now)
    report.recovered = notify.recover_stale(db, client, now)
    report.sent, report.failed, report.waiting = (
        result.sent + retried.sent,
        result.failed + retried.failed,
        result.waiting,
    )
    return report


def _note_digests(db: Database, dues: list[reminders.Due], now: datetime) -> None:
    with db.session() as session:
        for due in dues:
            notice = session.get(Notice, due.key)
            if notice is not None and notice.state == "sent":
                digests.preference(session, due.recipient).last_digest_at = now


def send_digest_now(db: Database, client: WebClient, settings: Settings, user: str, key: str) -> bool:
    """`/digest now`: at once, whatever the hour; False when there is nothing to say."""
    now = utcnow()
    tz = known_timezones(db).get(user) or settings.default_timezone
    with db.reader() as session:
        pref = session.get(Preference, user)
        since = pref.last_digest_at if pref and pref.last_digest_at else now - FIRST_DIGEST_LOOKBACK
        data = digests.build(
            session, user, now=now, today=now.astimezone(reminders.zone(tz)).date(), since=since
        )
    if data.is_empty:
        return False
    due = reminders.Due(
        key, user, "Your casehub digest", tz, blocks=digest_blocks.digest(data, title="Your casehub digest")
    )
    result = notify.deliver(db, client, [due], now, is_open=lambda _now, _tz: True)
    _note_digests(db, [due], now)
    return result.sent == 1 or result.failed == 0
