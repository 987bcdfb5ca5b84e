"""casehub's one clock: set in one place, read everywhere, and never by the job queue."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta

import pytest

from bot.jobs import JobQueue
from models import Job, UpdateKind
from models.clock import Clock, clock, machine_now, utcnow
from services import updates
from services.errors import InvalidInput

TUESDAY = datetime(2026, 12, 8, 9, 30, tzinfo=UTC)


def test_unset_it_is_the_machines_time():
    before = datetime.now(UTC)
    assert before <= Clock().now() <= datetime.now(UTC)


def test_set_it_stands_still_or_runs_on_and_is_restored_after():
    own = Clock()
    with own.set_to(TUESDAY):
        time.sleep(0.02)
        assert own.now() == TUESDAY and own.today() == date(2026, 12, 8)
        with own.set_to(TUESDAY + timedelta(days=1), running=True):
            time.sleep(0.02)
            assert (
                TUESDAY + timedelta(days=1, seconds=0.02)
                <= own.now()
                < TUESDAY + timedelta(days=1, seconds=5)
            )
        assert own.now() == TUESDAY  # the outer setting is back
        own.shift(timedelta(hours=2))
        assert own.now() == TUESDAY + timedelta(hours=2)
    assert abs(own.now() - datetime.now(UTC)) < timedelta(seconds=5)


def test_a_naive_moment_is_refused():
    with pytest.raises(ValueError, match="aware"):
        Clock().move_to(datetime(2026, 12, 8, 9, 30))


def test_services_read_the_set_clock():
    draft = updates.UpdateDraft(None, date(2026, 12, 9), UpdateKind.NOTE, "Attended and engaged well")
    with clock.set_to(TUESDAY + timedelta(days=1)):
        assert utcnow() == TUESDAY + timedelta(days=1)
        updates.check_draft(draft)  # the positive control: on the day itself
    with clock.set_to(TUESDAY), pytest.raises(InvalidInput, match="is in the future"):
        updates.check_draft(draft)


def test_the_job_queue_keeps_the_machines_time(database):
    queue = JobQueue(database)
    try:
        with clock.set_to(datetime(2020, 1, 1, tzinfo=UTC)):
            assert queue.record(listener="l", mode="x", body="b=1", person=None, priority=5)
            # A job recorded while the case clock stands in 2020 may run now, by the machine's time.
            claimed = queue.claim("w")
        assert claimed is not None
        with queue.db.reader() as session:
            created = session.get_one(Job, claimed.id).created_at
        assert abs(created - machine_now()) < timedelta(minutes=1)
    finally:
        queue.dispose()
