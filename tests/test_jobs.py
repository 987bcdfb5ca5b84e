"""The durable job queue: recorded before Slack is answered, claimed under a lease, retried,
parked; and what people see when the database or Slack is not there."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from slack_sdk import WebClient
from sqlalchemy import select, text

from bot.__main__ import manage_jobs
from bot.app import NOT_SAVED
from bot.jobs import NORMAL, URGENT, JobQueue, WriteTurns, store
from flows import notify
from models import Job, JobState, Update, utcnow
from models.clock import machine_now
from sandbox.driver import SlackDriver
from sandbox.slack import TOKEN
from tests.conftest import ADMIN, COORD, POLICE, SECRET, make_settings, serve
from tests.helpers import open_case, wait_for


def jobs_of(database):
    """The database the queue is in: casehub's own, or SQLite's file beside it."""
    return store(database)


def record(queue: JobQueue, body: str, *, person: str | None = "U1", priority: int = NORMAL) -> bool:
    return queue.record(listener="handle_x", mode="form", body=body, person=person, priority=priority)


@pytest.fixture
def queue(database):
    queue = JobQueue(database, lease=30, max_attempts=3, retry_after=0.01)
    yield queue
    queue.dispose()


# ---- the queue itself ------------------------------------------------------------------------------


def test_the_same_request_delivered_twice_is_recorded_once(queue, database):
    assert record(queue, "text=one&trigger_id=1") is True
    assert record(queue, "text=one&trigger_id=1") is False  # Slack's retry, or a double submission
    assert record(queue, "text=one&trigger_id=2") is True  # another request with the same text
    with queue.db.reader() as session:
        # The bodies are encrypted at rest: compared once read, never in SQL.
        bodies = sorted(session.scalars(select(Job.body)))
    assert bodies == ["text=one&trigger_id=1", "text=one&trigger_id=2"]


def test_urgent_jobs_are_claimed_first_then_the_oldest(queue):
    record(queue, "a", person="U1")
    record(queue, "b", person="U2")
    record(queue, "c", person="U3", priority=URGENT)
    claimed = [queue.claim("w") for _ in range(3)]
    assert [job.body for job in claimed if job] == ["c", "a", "b"]
    assert queue.claim("w") is None


def test_the_urgent_thread_takes_only_urgent_jobs(queue):
    record(queue, "slow", person="U1")
    assert queue.claim("w", urgent_only=True) is None
    record(queue, "form", person="U2", priority=URGENT)
    job = queue.claim("w", urgent_only=True)
    assert job is not None and job.body == "form"


def test_one_persons_jobs_run_in_the_order_they_came(queue):
    record(queue, "first", person="U1")
    record(queue, "second", person="U1")
    record(queue, "other", person="U2")
    first = queue.claim("w")
    assert first is not None and first.body == "first"
    other = queue.claim("w")  # U1's second waits for the first; U2's goes past it
    assert other is not None and other.body == "other"
    assert queue.claim("w") is None
    queue.finish(first.id, "w")
    second = queue.claim("w")
    assert second is not None and second.body == "second"


def test_a_finished_job_forgets_the_request(queue, database):
    record(queue, "text=what+was+typed")
    job = queue.claim("w")
    assert job is not None
    queue.finish(job.id, "w")
    with queue.db.reader() as session:
        row = session.get_one(Job, job.id)
        assert row.state == JobState.DONE and row.body is None and row.finished_at is not None
    assert queue.open_jobs() == 0
    # Its row, without the request, still stops the same request being recorded again.
    assert record(queue, "text=what+was+typed") is False
    assert record(queue, "text=something+else") is True  # the positive control


def test_a_dead_workers_job_is_taken_again_when_its_lease_expires(queue):
    record(queue, "work")
    job = queue.claim("dead-worker")
    assert job is not None and job.attempts == 1
    assert queue.reclaim_expired() == ([], [])  # the lease still runs: nobody else takes it
    assert queue.claim("w") is None
    later = utcnow() + queue.lease + timedelta(seconds=1)
    assert queue.reclaim_expired(now=later) == ([job.id], [])
    again = queue.claim("w", now=later)
    assert again is not None and again.id == job.id and again.attempts == 2
    queue.finish(job.id, "dead-worker")  # the dead worker's late word changes nothing
    assert queue.stats().running == 1
    queue.extend([job.id], "w")  # the live worker's lease is renewed: it does not expire
    renewed = machine_now()
    assert queue.reclaim_expired(now=renewed + queue.lease / 2) == ([], [])
    assert queue.reclaim_expired(now=renewed + queue.lease * 2) == ([job.id], [])


def test_a_failing_job_backs_off_then_is_parked_and_can_be_retried_or_dropped(queue):
    queue.retry_after = 60.0
    record(queue, "flaky")
    for attempt in (1, 2):
        job = queue.claim("w", now=utcnow() + timedelta(minutes=attempt * 10))
        assert job is not None and job.attempts == attempt and not job.last_attempt
        queue.retry(job, "w", "SlackApiError:503")
        assert queue.claim("w") is None  # not before its back-off is over
    job = queue.claim("w", now=utcnow() + timedelta(minutes=60))
    assert job is not None and job.last_attempt
    queue.park(job.id, "w", "SlackApiError:503")
    parked = queue.parked()
    assert [(p.id, p.attempts, p.last_error) for p in parked] == [(job.id, 3, "SlackApiError:503")]
    assert queue.stats().parked == 1 and queue.open_jobs() == 0
    assert queue.requeue([job.id, 999]) == 1
    again = queue.claim("w")
    assert again is not None and again.attempts == 1  # a fresh set of attempts
    queue.park(again.id, "w", "RuntimeError")
    assert queue.drop([again.id]) == 1 and queue.parked() == []


def test_a_job_that_lost_its_worker_on_every_attempt_is_parked(queue):
    record(queue, "kills its worker")
    now = utcnow()
    for attempt in range(1, 4):
        now += queue.lease + timedelta(seconds=1)
        job = queue.claim("w", now=now)
        assert job is not None and job.attempts == attempt
        now += queue.lease + timedelta(seconds=1)
        requeued, parked = queue.reclaim_expired(now=now)
    assert (requeued, parked) == ([], [job.id])
    assert queue.parked()[0].last_error == "lost"


def test_back_off_doubles_up_to_five_minutes(queue):
    queue.retry_after = 2.0
    assert [queue.backoff(n).total_seconds() for n in (1, 2, 3, 9, 20)] == [2, 4, 8, 300, 300]


def test_the_queue_says_how_old_the_oldest_waiting_job_is(queue):
    assert queue.stats().oldest_age_seconds == 0
    record(queue, "waiting")
    stats = queue.stats(now=utcnow() + timedelta(seconds=90))
    assert stats.queued == 1 and 89 <= stats.oldest_age_seconds <= 91


# ---- over HTTP ---------------------------------------------------------------------------------------


def test_work_is_recorded_before_slack_is_answered_and_done_after(settings, database, fake, registry):
    """With no worker running, an acknowledged note is in the queue, and done once one starts."""
    answering = serve(settings, database, threads=0)
    try:
        case = open_case_with(settings, database, fake)
        driver = SlackDriver(answering.url, SECRET, fake, _NoWait())
        reply = driver.command("/update", "Home visit went well", user=POLICE, channel=case.channel)
        assert reply.status == 200
        with jobs_of(database).reader() as session:
            job = session.scalars(select(Job).where(Job.state != JobState.DONE)).one()
            assert job.state == JobState.QUEUED and job.person == POLICE and job.listener == "handle_update"
        with database.reader() as session:
            assert session.scalars(select(Update)).all() == []
    finally:
        answering.stop()
    worker = serve(settings, database)  # another process, later: the job is still there
    try:
        assert worker.wait_idle()
        with database.reader() as session:
            assert [u.observed for u in session.scalars(select(Update))] == ["Home visit went well"]
        assert sum("Home visit went well" in str(p) for p in fake.posts(case.channel)) == 1
    finally:
        worker.stop()


class _NoWait:
    def wait_idle(self, timeout: float = 0) -> bool:
        return True


def open_case_with(settings, database, fake):
    running = serve(settings, database)
    try:
        return open_case(SlackDriver(running.url, SECRET, fake, running), database)
    finally:
        running.stop()


def test_a_command_that_cannot_be_recorded_is_answered_at_once_that_nothing_was_saved(
    slack, database, fake, registry
):
    case = open_case(slack, database)
    with jobs_of(database).engine.execution_options(casehub_writes=True).connect() as connection:
        blocker = _lock_jobs(database, connection)
        started = time.monotonic()
        reply = slack.command("/update", "Met the family", user=POLICE, channel=case.channel, settle=False)
        took = time.monotonic() - started
        blocker()
    assert reply.status == 200 and took < 3.0  # within Slack's 3 seconds, though it waited ~2
    assert reply.json() == {"response_type": "ephemeral", "text": NOT_SAVED}
    slack.settle()
    with database.reader() as session:
        assert session.scalars(select(Update)).all() == []
    with jobs_of(database).reader() as session:
        assert session.scalar(select(Job.id).where(Job.listener == "handle_update")) is None
    # Positive control: the same command goes through once the database answers.
    assert slack.command("/update", "Met the family", user=POLICE, channel=case.channel).body == ""
    with database.reader() as session:
        assert len(session.scalars(select(Update)).all()) == 1


def test_a_form_that_cannot_be_recorded_stays_open_under_a_notice(slack, database, fake, registry):
    slack.command("/case", "open", user=COORD)
    view = fake.last_view()
    values = {"summary": "Worries raised by school", "risk": "low", "lead": COORD, "agencies": ["police"]}
    with jobs_of(database).engine.execution_options(casehub_writes=True).connect() as connection:
        release = _lock_jobs(database, connection)
        reply = slack.submit(view, values, user=COORD, settle=False)
        release()
    answer = reply.json()
    assert answer["response_action"] == "push"  # the form stays underneath, with what was typed
    assert NOT_SAVED in str(answer["view"]["blocks"])
    slack.settle()
    with jobs_of(database).reader() as session:
        assert session.scalar(select(Job.id).where(Job.listener != "handle_case")) is None


def _lock_jobs(database, connection):
    """Hold the jobs table (SQLite: the queue's file) until the returned function is called."""
    transaction = connection.begin()  # SQLite: BEGIN IMMEDIATE, the file's one write lock
    if database.engine.dialect.name == "postgresql":
        connection.execute(text("LOCK TABLE jobs IN ACCESS EXCLUSIVE MODE"))
    return transaction.rollback


def test_an_update_reaches_its_channel_once_slack_answers_again(slack, database, fake, registry, settings):
    """Slack failing for longer than every attempt of the job: the post waits in the outbox."""
    case = open_case(slack, database)
    fake.server_error("chat.postMessage", times=100)
    reply = slack.command("/update", "School reports improved attendance", user=POLICE, channel=case.channel)
    assert reply.status == 200
    with database.reader() as session:
        update = session.scalars(select(Update)).one()
        assert update.channel_ts is None
    with jobs_of(database).reader() as session:
        jobs = session.scalars(select(Job).where(Job.listener == "handle_update")).all()
        assert [job.state for job in jobs] == [JobState.DONE]  # told, and left to the outbox
    assert not any("improved attendance" in str(p) for p in fake.posts(case.channel))
    fake.heal("chat.postMessage")
    client = WebClient(token=TOKEN, base_url=settings.slack_api_url)
    # The scheduler's sweep sends what the outbox holds.
    notify.send_ready(database, client, utcnow() + timedelta(hours=1), is_open=lambda *_: True)
    posted = [p for p in fake.posts(case.channel) if "improved attendance" in str(p)]
    assert len(posted) == 1
    with database.reader() as session:
        assert session.get_one(Update, update.id).channel_ts == posted[0]["ts"]


def test_a_job_that_fails_unexpectedly_is_parked_and_the_admins_are_told(
    slack, database, fake, registry, monkeypatch, capsys
):
    from services import updates

    case = open_case(slack, database)
    real = updates.file

    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(updates, "file", broken)
    reply = slack.command("/update", "Family engaged well", user=POLICE, channel=case.channel)
    assert "Something went wrong" in slack.ephemeral(reply)
    with jobs_of(database).reader() as session:
        job = session.scalars(select(Job).where(Job.state == JobState.PARKED)).one()
        assert job.last_error == "RuntimeError" and job.body  # kept, to be tried again
    wait_for(lambda: fake.dms(ADMIN))
    told = " ".join(m["text"] for m in fake.dms(ADMIN))
    assert f"job {job.id}" in told and "Family engaged" not in told

    monkeypatch.setenv("DATABASE_URL", database.url)
    assert manage_jobs("list", []) == 0
    listed = capsys.readouterr().out
    assert f"job {job.id}: handle_update from {POLICE}" in listed and "Family engaged" not in listed
    monkeypatch.setattr(updates, "file", real)  # the bug is fixed
    assert manage_jobs("retry", [job.id]) == 0
    assert slack.work.wait_idle(10)
    with database.reader() as session:
        assert [u.observed for u in session.scalars(select(Update))] == ["Family engaged well"]
    assert manage_jobs("drop", [job.id]) == 1  # done now, not parked: nothing to drop


def test_answers_do_not_wait_for_a_slack_that_hangs_or_fails(slack, database, fake, registry):
    case = open_case(slack, database)
    for method in ("chat.postMessage", "chat.postEphemeral", "views.open", "users.info"):
        fake.delay(method, 4.0)
    timings = []
    for note in ("First note", "Second note", "Third note"):
        started = time.monotonic()
        reply = slack.command("/update", note, user=POLICE, channel=case.channel, settle=False)
        timings.append(time.monotonic() - started)
        assert reply.status == 200
    assert max(timings) < 1.0, timings
    for method in ("chat.postMessage", "chat.postEphemeral", "views.open", "users.info"):
        fake.delay(method, 0)
    slack.settle()


def test_slack_unreachable_at_start_delays_no_answer(settings, database, fake, registry):
    """No auth.test on the request path: Slack's API down at start costs the answer nothing."""
    down = settings.model_copy(update={"slack_api_url": "http://127.0.0.1:9/api/"})
    running = serve(down, database, wait_for_slack=False)
    try:
        assert wait_for(lambda: running.casehub.identity.state() == "unreachable")
        driver = SlackDriver(running.url, SECRET, fake, _NoWait())
        started = time.monotonic()
        reply = driver.command("/case", "list", user=COORD)
        assert reply.status == 200 and time.monotonic() - started < 1.0
        with jobs_of(database).reader() as session:  # recorded, waiting for Slack, not failing
            job = session.scalars(select(Job).where(Job.state != JobState.DONE)).one()
            assert job.state == JobState.QUEUED and job.attempts == 0
    finally:
        running.stop()


def test_a_recording_waiting_for_its_turn_goes_before_the_workers():
    turns = WriteTurns()
    order: list[str] = []

    def write(name: str, recording: bool) -> None:
        with turns.turn(recording=recording, timeout=5):
            order.append(name)

    with turns.turn():  # a worker writes; another worker comes to wait first, a recording after
        worker = threading.Thread(target=write, args=("worker", False))
        worker.start()
        assert wait_for(lambda: turns.waiting() == 1, timeout=5)
        recording = threading.Thread(target=write, args=("recording", True))
        recording.start()
        assert wait_for(lambda: turns.waiting() == 2, timeout=5)
    worker.join(5)
    recording.join(5)
    assert order == ["recording", "worker"]
    with turns.turn(), pytest.raises(TimeoutError), turns.turn(recording=True, timeout=0.05):
        pass  # a recording gives up in time
    with turns.turn(recording=True, timeout=0.05):  # the positive control: free, it is taken
        pass


def test_a_job_wakes_a_worker_that_can_take_it_not_only_the_urgent_thread(database, fake, registry):
    """Workers look for jobs every minute here: a job is done at once only if its recording
    woke a worker that may take it (the thread kept for urgent jobs may not)."""
    settings = make_settings(fake, database, job_poll_seconds=60)
    running = serve(settings, database, threads=1)
    try:
        driver = SlackDriver(running.url, SECRET, fake, _NoWait())
        for _ in range(3):  # each time both idle threads wait: the urgent one and the worker
            assert wait_for(lambda: running.casehub.queue.open_jobs() == 0, timeout=5)
            started = time.monotonic()
            reply = driver.command("/case", "list", user=COORD)
            assert wait_for(lambda url=reply.response_url: fake.replies(url), timeout=10)
            assert time.monotonic() - started < 5, "the job waited for a worker's next look"
    finally:
        running.stop()
