"""The settings that govern reminders and crises, as the services take them."""

from __future__ import annotations

from sqlalchemy.orm import Session

from bot.settings import Settings
from services import areas
from services.crises import CrisisRules
from services.reminders import Rules
from services.worktime import WorkingHours, holiday_calendar


def working_hours(settings: Settings) -> WorkingHours:
    """The deployment's working hours and days (an area may set its own days and holidays)."""
    return WorkingHours(
        settings.working_hours_start,
        settings.working_hours_end,
        frozenset(settings.working_weekdays),
        holiday_calendar(settings.holidays) if settings.holidays else frozenset(),
    )


def reminder_rules(settings: Settings, session: Session | None = None) -> Rules:
    """The rules of reminders; with a session, each area's calendar too (a few rows)."""
    calendars = areas.calendars(session, settings) if session is not None else {}
    return Rules(
        working_hours(settings),
        settings.default_timezone,
        settings.review_nudge_working_days,
        areas={area_id: (c.hours, c.timezone) for area_id, c in calendars.items()},
    )


def crisis_rules(settings: Settings, session: Session | None = None) -> CrisisRules:
    return CrisisRules(
        settings.crisis_ack_minutes,
        list(settings.casehub_admins),
        settings.default_timezone,
        reminder_rules(settings, session),
        settings.early_review_working_days,
    )
