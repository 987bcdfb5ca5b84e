"""casehub's one clock: what time it is for the case work, read in one place.

Services, flows, handlers and Block Kit builders take the time (`now`, aware, UTC) and today's
date (`today`, the UTC date, as the partnership's records keep it) from here, never from
`datetime.now()` or `date.today()`. Tests and demonstrations set it here: `clock.set_to(moment)`
stands it still at a moment, or with `running=True` lets it run on from there.

The job queue's leases and back-offs keep to the machine's own time: they time processes, not
case work, and must not stand still when the case clock does.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta


class Clock:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        # When set: the moment it was set to, and the machine's monotonic time then (None when
        # it stands still). Unset, the clock is the machine's.
        self._set: tuple[datetime, float | None] | None = None

    def now(self) -> datetime:
        with self._lock:
            setting = self._set
        if setting is None:
            return datetime.now(UTC)
        moment, since = setting
        return moment if since is None else moment + timedelta(seconds=time.monotonic() - since)

    def today(self) -> date:
        return self.now().date()

    def move_to(self, moment: datetime, *, running: bool | None = None) -> None:
        """Set the clock to an aware moment; it keeps running or standing as it was unless told."""
        if moment.tzinfo is None:
            raise ValueError("set the clock to an aware moment")
        with self._lock:
            if running is None:
                running = self._set is not None and self._set[1] is not None
            self._set = (moment.astimezone(UTC), time.monotonic() if running else None)

    def shift(self, by: timedelta) -> None:
        self.move_to(self.now() + by)

    def reset(self) -> None:
        """Back to the machine's time."""
        with self._lock:
            self._set = None

    @contextmanager
    def set_to(self, moment: datetime, *, running: bool = False) -> Iterator[Clock]:
        """The clock set for the length of a `with` block, then as it was before."""
        with self._lock:
            before = self._set
        self.move_to(moment, running=running)
        try:
            yield self
        finally:
            with self._lock:
                self._set = before


clock = Clock()


def utcnow() -> datetime:
    """Now, for the case work."""
    return clock.now()


def machine_now() -> datetime:
    """Now, by the machine's own time: for the job queue, which times processes."""
    return datetime.now(UTC)
