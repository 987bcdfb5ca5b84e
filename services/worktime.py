"""Working days and hours, in the recipient's own time zone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


@dataclass(frozen=True)
class WorkingHours:
    start: time
    end: time
    weekdays: frozenset[int]

    def is_working_day(self, day: date) -> bool:
        return day.weekday() in self.weekdays

    def is_open(self, moment: datetime, tz: str) -> bool:
        local = moment.astimezone(zone(tz))
        return self.is_working_day(local.date()) and self.start <= local.time() < self.end

    def add_working_days(self, day: date, count: int) -> date:
        step = 1 if count >= 0 else -1
        remaining = abs(count)
        while remaining:
            day += timedelta(days=step)
            if self.is_working_day(day):
                remaining -= 1
        return day

    def working_days_between(self, start: date, end: date) -> int:
        """Working days after `start` up to and including `end` (0 when end <= start)."""
        count, day = 0, start
        while day < end:
            day += timedelta(days=1)
            if self.is_working_day(day):
                count += 1
        return count


def zone(tz: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(tz or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def local_date(moment: datetime, tz: str) -> date:
    return moment.astimezone(zone(tz)).date()


def at_local(day: date, moment: time, tz: str) -> datetime:
    return datetime.combine(day, moment, tzinfo=zone(tz)).astimezone(UTC)
