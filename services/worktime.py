"""Working days and hours, in the recipient's own time zone."""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


@dataclass(frozen=True)
class WorkingHours:
    start: time
    end: time
    weekdays: frozenset[int]
    # Bank holidays (a `holidays` calendar, which fills in years as they are asked about).
    holidays: Container[date] = field(default=frozenset(), compare=False, hash=False)

    def is_working_day(self, day: date) -> bool:
        return day.weekday() in self.weekdays and day not in self.holidays

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


def close_of_working_day(moment: datetime, days: int, hours: WorkingHours, tz: str) -> datetime:
    """The end of working hours on the `days`-th working day after `moment`, in the zone `tz`
    (its calendar's bank holidays skipped): a service level's deadline."""
    day = hours.add_working_days(local_date(moment, tz), days)
    return at_local(day, hours.end, tz)


def zone(tz: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(tz or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def local_date(moment: datetime, tz: str) -> date:
    return moment.astimezone(zone(tz)).date()


def at_local(day: date, moment: time, tz: str) -> datetime:
    return datetime.combine(day, moment, tzinfo=zone(tz)).astimezone(UTC)


def holiday_calendar(code: str) -> Container[date]:
    """The bank holidays of a country (`FR`) or one of its subdivisions (`GB-ENG`), as the
    `holidays` package knows them; a `ValueError` saying which codes exist if it is not one."""
    import holidays  # only where a calendar is asked for

    country, _, subdivision = code.strip().upper().partition("-")
    supported = holidays.list_supported_countries()
    if country not in supported:
        raise ValueError(f"{code!r} is not a country code; use one such as GB-ENG, GB-SCT or FR")
    if subdivision and subdivision not in supported[country]:
        shown = ", ".join(f"{country}-{s}" for s in supported[country][:12])
        raise ValueError(f"{code!r} is not a subdivision of {country}; use {country} or one of {shown}")
    return holidays.country_holidays(country, subdiv=subdivision or None)


def holiday_name(calendar: Container[date], day: date) -> str | None:
    """What holiday a day is, where the calendar says."""
    get = getattr(calendar, "get", None)
    return get(day) if get is not None and day in calendar else None
