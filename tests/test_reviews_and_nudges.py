"""Reviews, nudges and digests, with controlled time and the real sweep (and scheduler)."""

from __future__ import annotations

import json
import threading
from datetime import UTC, date, datetime, timedelta

import pytest
from slack_sdk import WebClient
from sqlalchemy import select

from bot import scheduler
from flows.rules import reminder_rules as sweep_rules
from flows.sweep import sweep
from models import Action, AuditEvent, Case, FollowUp, Notice, Review
from models.clock import clock as casehub_clock
from sandbox.slack import TOKEN
from services import outbox, reminders
from tests.conftest import COORD, COORD2, POLICE, POLICE_OBSERVER, SCHOOL
from tests.helpers import open_case, wait_for

MONDAY = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)  # London is on UTC in December


@pytest.fixture
def clock():
    with casehub_clock.set_to(MONDAY, running=True) as moved:
        yield moved


@pytest.fixture
def case(clock, slack, database, registry):
    return open_case(slack, database, agencies=("police", "school"))


@pytest.fixture
def api(fake):
    return WebClient(token=TOKEN, base_url=fake.api_url)


def run(database, api, settings, at):
    return sweep(database, api, settings, now=at)


def notices(database):
    with database.reader() as session:
        return {n.key: n for n in session.scalars(select(Notice))}


def dms_with(fake, user, words):
    return [m["text"] for m in fake.dms(user) if words in m["text"]]


def set_review(database, case, at, settings):
    with database.session() as session:
        stored = session.get_one(Case, case.id)
        stored.next_review_at = at
        reminders.plan_review(stored, sweep_rules(settings), settings.default_timezone)


def test_cadence_is_set_at_opening_and_changed_by_the_lead(slack, fake, database, case):
    with database.reader() as session:
        stored = session.get_one(Case, case.id)
        assert stored.review_every_weeks == 4
        assert stored.next_review_at.date() == date(2027, 1, 4)
    slack.command("/review", "every 2 weeks tuesday 14:30", user=COORD, channel=case.channel)
    with database.reader() as session:
        stored = session.get_one(Case, case.id)
        assert stored.review_every_weeks == 2
        assert stored.next_review_at == datetime(2026, 12, 22, 14, 30, tzinfo=UTC)
    said = slack.ephemeral(slack.command("/review", "", user=SCHOOL, channel=case.channel))
    assert "Tuesday 22 December 2026, 14:30" in said and "every 2 week(s)" in said
    slack.command("/review", "next 2026-12-15 11:00", user=COORD, channel=case.channel)
    with database.reader() as session:
        assert session.get_one(Case, case.id).next_review_at == datetime(2026, 12, 15, 11, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("every 0 weeks", "1 to 52"),
        ("every 53 weeks", "1 to 52"),
        ("every four weeks", "not a number of weeks"),
        ("every 2 weeks funday", "not a weekday"),
        ("every 2 weeks 25:00", "not a time"),
        ("next 2026-12-01", "is in the past"),
        ("next 01/12/2027", "YYYY-MM-DD"),
    ],
)
def test_review_refusals_change_nothing(slack, database, case, text, expected):
    with database.reader() as session:
        before = session.get_one(Case, case.id).next_review_at
    said = slack.ephemeral(slack.command("/review", text, user=COORD, channel=case.channel))
    assert expected in said
    with database.reader() as session:
        assert session.get_one(Case, case.id).next_review_at == before


def test_review_commands_need_the_lead_and_a_case_channel(slack, case):
    said = slack.ephemeral(slack.command("/review", "every 2 weeks", user=POLICE, channel=case.channel))
    assert "Only the lead coordinator" in said
    said = slack.ephemeral(slack.command("/review", "every 2 weeks", user=COORD, channel="CGENERAL"))
    assert "works only in a case channel" in said


def test_recording_a_review(slack, fake, database, case):
    slack.command("/review", "record", user=COORD, channel=case.channel)
    view = fake.last_view()
    next_field = next(b for b in view["blocks"] if b.get("block_id") == "next_review")
    assert next_field["element"]["initial_date"] == "2027-01-04"  # held today + the 4-week cadence
    bad = slack.submit(
        view,
        {
            "held_on": "2026-12-07",
            "decisions": "Continue support",
            "risk_after": "low",
            "next_review": "2027-01-04",
            "actions": "Share attendance | school",
        },
        user=COORD,
    )
    assert "needs: what | agency | YYYY-MM-DD" in bad.json()["errors"]["actions"]
    good = slack.submit(
        view,
        {
            "held_on": "2026-12-07",
            "present": ["police", "school"],
            "decisions": "Continue support; mentoring to start",
            "risk_after": "low",
            "next_review": "2027-01-04",
            "actions": "Share attendance | school | 2026-12-14\nMentor intro | police | 2026-12-18",
        },
        user=COORD,
    )
    slack.replay(good)
    with database.reader() as session:
        stored = session.get_one(Case, case.id)
        assert stored.risk.value == "low" and stored.next_review_at.date() == date(2027, 1, 4)
        assert len(session.scalars(select(Review)).all()) == 1
        assert [a.text for a in session.scalars(select(Action).order_by(Action.number))] == [
            "Share attendance",
            "Mentor intro",
        ]
    assert any("Review of case" in m["text"] for m in fake.posts(case.channel))
    timeline = slack.ephemeral(slack.command("/case", "timeline", user=SCHOOL, channel=case.channel))
    assert "review held 2026-12-07" in timeline and "action added: #1 Share attendance" in timeline


def test_nudge_before_review_names_silent_agencies(slack, fake, database, settings, api, case):
    set_review(database, case, datetime(2026, 12, 17, 10, 0, tzinfo=UTC), settings)  # Thursday
    slack.command("/update", "Met the young person at school", user=SCHOOL, channel=case.channel)

    def nudges():
        return [m["text"] for m in fake.posts(case.channel) if "No update since the last review" in m["text"]]

    run(database, api, settings, datetime(2026, 12, 11, 10, 0, tzinfo=UTC))  # 4 working days before
    assert nudges() == []
    run(database, api, settings, datetime(2026, 12, 14, 10, 0, tzinfo=UTC))  # Monday: 3 working days before
    [nudge] = nudges()
    assert "County Police" in nudge and f"<@{POLICE}>" in nudge and f"<@{POLICE_OBSERVER}>" not in nudge
    assert "Northfield Academy" not in nudge  # it filed
    run(database, api, settings, datetime(2026, 12, 15, 10, 0, tzinfo=UTC))
    assert len(nudges()) == 1  # once only


def test_review_day_and_unrecorded_review_remind_the_lead(slack, fake, database, settings, api, case):
    set_review(database, case, datetime(2026, 12, 9, 14, 0, tzinfo=UTC), settings)
    slack.command("/update", "note", user=SCHOOL, channel=case.channel)
    slack.command("/update", "note", user=POLICE, channel=case.channel)
    run(database, api, settings, datetime(2026, 12, 9, 8, 30, tzinfo=UTC))
    assert len(dms_with(fake, COORD, "is today (14:00)")) == 1
    for day in (10, 11, 12, 13, 14):  # Thu, Fri, Sat, Sun, Mon
        run(database, api, settings, datetime(2026, 12, day, 9, 0, tzinfo=UTC))
    assert len(dms_with(fake, COORD, "is not recorded")) == 3  # working days only


def test_action_nudges_follow_the_owner_and_escalate(slack, fake, database, settings, api, case):
    slack.command(
        "/action", f"add Share attendance <@{SCHOOL}> due:2026-12-08", user=COORD, channel=case.channel
    )
    for day in range(8, 19):
        run(database, api, settings, datetime(2026, 12, day, 10, 0, tzinfo=UTC))
    to_owner = [m["text"] for m in fake.dms(SCHOOL)]
    assert to_owner[0].startswith(":alarm_clock: Due today")
    overdue = [t for t in to_owner if "Overdue since" in t]
    assert [t.split("(")[1].split(" ")[0] for t in overdue] == ["2", "4", "6", "8"]
    escalations = [m for m in fake.dms(COORD) if "working days overdue" in m["text"]]
    assert len(escalations) == 1 and "5 working days" in escalations[0]["text"]


def test_catch_up_after_downtime_sends_once(slack, fake, database, settings, api, case):
    slack.command(
        "/action", f"add Share attendance <@{SCHOOL}> due:2026-12-08", user=COORD, channel=case.channel
    )
    run(database, api, settings, datetime(2026, 12, 16, 10, 0, tzinfo=UTC))  # first sweep in 6 working days
    texts = [m["text"] for m in fake.dms(SCHOOL)]
    assert len([t for t in texts if "Overdue" in t]) == 1 and not [t for t in texts if "Due today" in t]
    assert len([m for m in fake.dms(COORD) if "working days overdue" in m["text"]]) == 1


def test_working_hours_in_the_recipients_time_zone(slack, fake, database, settings, api, case):
    fake.users[SCHOOL]["tz"] = "America/New_York"
    slack.command(
        "/action", f"add Share attendance <@{SCHOOL}> due:2026-12-09", user=COORD, channel=case.channel
    )
    report = run(database, api, settings, datetime(2026, 12, 9, 10, 0, tzinfo=UTC))  # 05:00 in New York
    assert report.waiting >= 1 and not fake.dms(SCHOOL)
    run(database, api, settings, datetime(2026, 12, 9, 14, 0, tzinfo=UTC))  # 09:00 in New York
    assert "Due today" in fake.dms(SCHOOL)[-1]["text"]
    run(database, api, settings, datetime(2026, 12, 12, 15, 0, tzinfo=UTC))  # a Saturday
    assert len(fake.dms(SCHOOL)) == 1


def test_slack_failure_is_retried_without_blocking_others(slack, fake, database, settings, api, case):
    slack.command(
        "/action", f"add Share attendance <@{SCHOOL}> due:2026-12-09", user=COORD, channel=case.channel
    )
    slack.command("/action", f"add Police check <@{POLICE}> due:2026-12-09", user=COORD, channel=case.channel)
    fake.fail("chat.postMessage", "internal_error")
    first = run(database, api, settings, datetime(2026, 12, 9, 10, 0, tzinfo=UTC))
    assert (first.sent, first.failed) == (1, 1)
    failed = [n for n in notices(database).values() if n.state == "failed"]
    assert len(failed) == 1 and failed[0].last_error
    second = run(database, api, settings, datetime(2026, 12, 9, 10, 5, tzinfo=UTC))
    assert second.sent == 1
    assert len(fake.dms(SCHOOL)) + len(fake.dms(POLICE)) == 2


def test_a_crash_mid_send_neither_drops_nor_repeats(clock, slack, fake, database, settings, api, case):
    slack.command(
        "/action", f"add Share attendance <@{SCHOOL}> due:2026-12-09", user=COORD, channel=case.channel
    )
    slack.command("/action", f"add Police check <@{POLICE}> due:2026-12-09", user=COORD, channel=case.channel)
    at = datetime(2026, 12, 9, 10, 0, tzinfo=UTC)
    clock.move_to(at)
    run(database, api, settings, at)
    with database.session() as session:  # as if the process died right after Slack answered ...
        sent = session.get_one(Notice, f"action-due:1:2026-12-09:{SCHOOL}")
        sent.state, sent.ts = "sending", None
        lost = session.get_one(Notice, f"action-due:2:2026-12-09:{POLICE}")  # ... or right before
        lost.state, lost.channel = "sending", None
    fake.messages[:] = [m for m in fake.messages if m["channel"] != f"D{POLICE}"]
    clock.move_to(at + timedelta(minutes=10))
    report = run(database, api, settings, at + timedelta(minutes=10))
    assert report.recovered == 1  # the lost one was sent; the other was found in Slack, not sent again
    assert len(fake.dms(SCHOOL)) == 1 and len(fake.dms(POLICE)) == 1
    stored = notices(database)
    assert stored[f"action-due:1:2026-12-09:{SCHOOL}"].state == "sent"
    assert stored[f"action-due:2:2026-12-09:{POLICE}"].state == "sent"


def test_two_sweeps_at_once_send_each_notice_once(slack, fake, database, settings, api, case):
    tasks = [
        "Share attendance",
        "Call the mentor",
        "Book a room",
        "Send minutes",
        "Check housing",
        "Plan visit",
    ]
    for task in tasks:
        slack.command("/action", f"add {task} <@{SCHOOL}> due:2026-12-09", user=COORD, channel=case.channel)
    at = datetime(2026, 12, 9, 10, 0, tzinfo=UTC)
    threads = [threading.Thread(target=run, args=(database, api, settings, at)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    texts = [m["text"] for m in fake.dms(SCHOOL)]
    assert len(texts) == 6 and len(set(texts)) == 6


def test_only_one_scheduler_holds_the_lock(database):
    first, second = scheduler.SchedulerLock(database), scheduler.SchedulerLock(database)
    assert first.try_acquire()
    assert not second.try_acquire()
    first.release()
    assert second.try_acquire()
    second.release()


def test_scheduler_process_sweeps_on_taking_over(slack, fake, database, settings, case):
    slack.command(
        "/action",
        f"add Share attendance <@{SCHOOL}> due:{casehub_clock.today().isoformat()}",
        user=COORD,
        channel=case.channel,
    )
    stop = threading.Event()
    runner = threading.Thread(target=scheduler.run, args=(settings,), kwargs={"stop": stop}, daemon=True)
    runner.start()
    try:
        assert wait_for(lambda: fake.dms(SCHOOL), timeout=45)
        standby = threading.Event()
        other = threading.Thread(
            target=scheduler.run, args=(settings,), kwargs={"stop": standby, "standby_poll": 0.1}, daemon=True
        )
        other.start()
        standby.set()
        other.join(timeout=10)
        assert not other.is_alive()  # it stood by and stopped, sending nothing
    finally:
        stop.set()
        runner.join(timeout=20)
    assert len(fake.dms(SCHOOL)) == 1


def test_digest_contents_and_empty_digest(slack, fake, database, settings, api, case):
    slack.command(
        "/action", f"add Share attendance <@{SCHOOL}> due:2026-12-08", user=COORD, channel=case.channel
    )
    slack.command("/update", "", user=POLICE, channel=case.channel)
    slack.submit(
        fake.last_view(),
        {"contact_date": "2026-12-07", "kind": "meeting", "observed": "Met at the hub", "risk": "high"},
        user=POLICE,
    )
    run(database, api, settings, datetime(2026, 12, 10, 8, 0, tzinfo=UTC))
    assert not [m for m in fake.dms(COORD) if m["text"] == "Your casehub digest"]  # before 08:30
    run(database, api, settings, datetime(2026, 12, 10, 8, 31, tzinfo=UTC))
    [digest] = [m for m in fake.dms(COORD) if m["text"] == "Your casehub digest"]
    text = json.dumps(digest["blocks"])
    assert "Overdue actions by agency" in text and "Northfield Academy" in text
    assert "County Police \\u2192 high" in text or "County Police → high" in text
    assert f"<#{case.channel}>" in text
    run(database, api, settings, datetime(2026, 12, 10, 9, 0, tzinfo=UTC))
    assert len([m for m in fake.dms(COORD) if m["text"] == "Your casehub digest"]) == 1
    # COORD2 leads a case with nothing to say: no digest at all.
    open_case(slack, database, lead=COORD2, agencies=("health",))
    run(database, api, settings, datetime(2026, 12, 11, 8, 45, tzinfo=UTC))
    assert not [m for m in fake.dms(COORD2) if m["text"] == "Your casehub digest"]


def test_digest_choices(slack, fake, database, settings, api, case):
    slack.command(
        "/action", f"add Share attendance <@{SCHOOL}> due:2026-12-08", user=COORD, channel=case.channel
    )
    said = slack.ephemeral(slack.command("/digest", "weekly 09:15", user=COORD))
    assert "Mondays at 09:15" in said
    run(database, api, settings, datetime(2026, 12, 10, 9, 30, tzinfo=UTC))  # a Thursday
    assert not [m for m in fake.dms(COORD) if m["text"] == "Your casehub digest"]
    run(database, api, settings, datetime(2026, 12, 14, 9, 20, tzinfo=UTC))  # Monday after 09:15
    assert len([m for m in fake.dms(COORD) if m["text"] == "Your casehub digest"]) == 1
    slack.command("/digest", "off", user=COORD)
    with database.reader() as session:  # each choice is accountable
        chosen = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "digest.chosen").order_by(AuditEvent.id)
        ).all()
        assert [(e.actor, e.details) for e in chosen] == [
            (COORD, {"digest": "weekly", "at": "09:15"}),
            (COORD, {"digest": "off", "at": None}),
        ]
    run(database, api, settings, datetime(2026, 12, 21, 9, 20, tzinfo=UTC))
    assert len([m for m in fake.dms(COORD) if m["text"] == "Your casehub digest"]) == 1
    with casehub_clock.set_to(datetime(2026, 12, 21, 20, 0, tzinfo=UTC)):
        said = slack.ephemeral(slack.command("/digest", "now", user=COORD))
    assert "in your direct messages" in said
    assert len([m for m in fake.dms(COORD) if m["text"] == "Your casehub digest"]) == 2
    assert "for coordinators" in slack.ephemeral(slack.command("/digest", "daily", user=POLICE))
    assert "not a time" in slack.ephemeral(slack.command("/digest", "daily 8.30", user=COORD))


def test_follow_up_reviews_after_closing(slack, fake, database, settings, api, case):
    slack.command("/case", "close", user=COORD, channel=case.channel)
    slack.submit(fake.last_view(), {"outcome": "Support completed", "follow_ups": ["6,12"]}, user=COORD)
    with database.reader() as session:
        follow_ups = session.scalars(select(FollowUp).order_by(FollowUp.due_on)).all()
    assert [f.label for f in follow_ups] == ["6-month follow-up review", "12-month follow-up review"]
    run(
        database,
        api,
        settings,
        datetime.combine(follow_ups[0].due_on, datetime.min.time(), UTC) + timedelta(hours=10),
    )
    assert dms_with(fake, COORD, "6-month follow-up review")


def test_backoff_grows_and_is_capped():
    assert outbox.backoff(1) < outbox.backoff(3) <= outbox.backoff(20) == timedelta(minutes=60)


def test_follow_up_review_is_recorded_as_held(slack, fake, database, case):
    slack.command("/case", "close", user=COORD, channel=case.channel)
    slack.submit(fake.last_view(), {"outcome": "Support completed", "follow_ups": ["6,12"]}, user=COORD)
    said = slack.ephemeral(
        slack.command(
            "/review", f"followup {case.reference} 2026-12-07 all well, the school's view too", user=COORD
        )
    )
    assert "6-month follow-up review" in said and "2026-12-07" in said
    said = slack.ephemeral(slack.command("/review", f"followup {case.reference}", user=POLICE))
    assert "Only the lead coordinator" in said
    with database.reader() as session:
        held = [f.held_on for f in session.scalars(select(FollowUp).order_by(FollowUp.due_on))]
        [recorded] = session.scalars(select(AuditEvent).where(AuditEvent.action == "review.follow_up")).all()
    assert held == [date(2026, 12, 7), None]
    assert recorded.details["note"] == "all well, the school's view too"
    said = slack.ephemeral(slack.command("/review", "followup NOCASE", user=COORD))
    assert "There is no case" in said
