"""The settings that govern reminders and crises, as the services take them."""

from __future__ import annotations

from bot.settings import Settings
from services.crises import CrisisRules
from services.reminders import Rules
from services.worktime import WorkingHours


def working_hours(settings: Settings) -> WorkingHours:
    return WorkingHours(
        settings.working_hours_start, settings.working_hours_end, frozenset(settings.working_weekdays)
    )


def reminder_rules(settings: Settings) -> Rules:
    return Rules(working_hours(settings), settings.default_timezone, settings.review_nudge_working_days)


def crisis_rules(settings: Settings) -> CrisisRules:
    return CrisisRules(
        settings.crisis_ack_minutes,
        list(settings.casehub_admins),
        settings.default_timezone,
        reminder_rules(settings),
        settings.early_review_working_days,
    )
