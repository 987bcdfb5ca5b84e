"""The lessons register over HTTP: add, list, moving a lesson on, refusals, capture, nudges, digests."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
from slack_sdk import WebClient
from sqlalchemy import select

from blocks import lessons as lesson_blocks
from flows.sweep import sweep
from models import Area, AuditEvent, Case, Lesson, LessonEvent, LessonStatus, Review, Risk
from models.clock import clock as casehub_clock
from sandbox.slack import TOKEN
from services import areas, lessons
from tests.conftest import ADMIN, COORD, COORD2, OUTSIDER, POLICE, POLICE_OBSERVER, SCHOOL
from tests.helpers import open_case

MONDAY = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
IN_SIX_WEEKS = (MONDAY.date() + timedelta(weeks=6)).isoformat()
LESSON = "Share school attendance concerns with the hub within two days"
PROTOCOL = "Information sharing protocol"


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


def stored(database):
    with database.reader() as session:
        return session.scalars(select(Lesson).order_by(Lesson.id)).all()


def add_by_form(slack, fake, user=COORD, channel="CGENERAL", **overrides):
    slack.command("/lesson", "add", user=user, channel=channel)
    view = fake.last_view()
    assert view["callback_id"] == lesson_blocks.ADD_FORM
    values = {"lesson": LESSON, "protocol": PROTOCOL, "agency": "school", "due": IN_SIX_WEEKS, **overrides}
    return slack.submit(view, {k: v for k, v in values.items() if v is not None}, user=user)


def update(slack, text, user=COORD, channel="CGENERAL"):
    return slack.ephemeral(slack.command("/lesson", f"update {text}", user=user, channel=channel))


def test_add_by_form_numbers_per_area_and_tells_the_coordinator(slack, fake, database, case):
    assert not add_by_form(slack, fake).body
    assert not add_by_form(
        slack, fake, channel=case.channel, lesson="Invite housing to every first meeting"
    ).body
    first, second = stored(database)
    assert (first.number, second.number) == (1, 2)
    assert (first.text, first.protocol, first.agency.slug, first.status) == (
        LESSON,
        PROTOCOL,
        "school",
        LessonStatus.PROPOSED,
    )
    assert first.case_id is None and second.case_id == case.id  # from a case channel: its id only
    assert first.area_id == second.area_id
    assert any("Lesson *#1* added" in m["text"] for m in fake.dms(COORD))
    with database.reader() as session:
        added = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "lesson.added").order_by(AuditEvent.id)
        ).all()
    assert [e.details["number"] for e in added] == [1, 2]


def test_only_coordinators_add(slack, fake, database, case):
    for user in (POLICE, SCHOOL, OUTSIDER):
        said = slack.ephemeral(slack.command("/lesson", "add", user=user))
        assert "coordinators add lessons" in said or "Only a coordinator" in said, said
    assert not [v for v in fake.opened_views if v["callback_id"] == lesson_blocks.ADD_FORM]


def test_form_refusals_change_nothing(slack, fake, database, case):
    past = (MONDAY.date() - timedelta(days=1)).isoformat()
    cases = {
        "lesson": ({"lesson": "x"}, "Say what was learnt"),
        "protocol": ({"protocol": "x"}, "Name the protocol"),
        "due": ({"due": past}, "is in the past"),
    }
    for field, (values, expected) in cases.items():
        answer = add_by_form(slack, fake, **values).json()
        assert answer["response_action"] == "errors" and expected in answer["errors"][field], answer
    assert stored(database) == []


def test_the_gate_refuses_a_name_in_the_lesson(slack, fake, database, case):
    answer = add_by_form(slack, fake, lesson="Ahmed Khan's school did not tell the hub he was absent").json()
    assert answer["response_action"] in ("errors", "update"), answer
    assert stored(database) == []


def test_the_gate_refuses_a_number_in_a_reason_to_drop(slack, fake, database, case):
    add_by_form(slack, fake)
    said = update(slack, "1 dropped Call him on 07700 900123 first")
    assert "phone number in the reason, so nothing was saved" in said, said
    [lesson] = stored(database)
    assert lesson.status is LessonStatus.PROPOSED


def test_list_open_all_and_mine(slack, fake, database, case):
    add_by_form(slack, fake)
    add_by_form(slack, fake, lesson="Police to attend the first meeting in person", agency="police")
    update(slack, "2 dropped Covered by the new panel terms")
    said = slack.ephemeral(slack.command("/lesson", "list", user=SCHOOL))
    assert "#1" in said and "#2" not in said
    said = slack.ephemeral(slack.command("/lesson", "list all", user=POLICE_OBSERVER))
    assert "#1" in said and "#2" in said and "dropped" in said
    said = slack.ephemeral(slack.command("/lesson", "list mine", user=POLICE))
    assert "#1" not in said
    said = slack.ephemeral(slack.command("/lesson", "list", user=OUTSIDER))
    assert "do not work in an agency" in said


def test_a_lesson_moves_from_proposed_to_checked(slack, fake, database, case):
    add_by_form(slack, fake)
    assert "is agreed" in update(slack, "1 agreed")
    assert "is integrated" in update(slack, '1 integrated "Attendance procedure" v2.1', user=SCHOOL)
    assert "is checked" in update(slack, "1 checked", user=COORD2)
    [lesson] = stored(database)
    assert (lesson.status, lesson.integrated_protocol, lesson.integrated_version) == (
        LessonStatus.CHECKED,
        "Attendance procedure",
        "v2.1",
    )
    assert (lesson.agreed_by, lesson.integrated_by, lesson.checked_by) == (COORD, SCHOOL, COORD2)
    assert lesson.nudge_at is None
    with database.reader() as session:
        kinds = [e.kind for e in session.scalars(select(LessonEvent).order_by(LessonEvent.id))]
        audited = [
            e.action
            for e in session.scalars(select(AuditEvent).order_by(AuditEvent.id))
            if e.action.startswith("lesson.")
        ]
    assert kinds == ["proposed", "agreed", "integrated", "checked"]
    assert audited == ["lesson.added", "lesson.agreed", "lesson.integrated", "lesson.checked"]


def test_status_refusals(slack, fake, database, case):
    add_by_form(slack, fake)
    assert "only a lesson agreed can be integrated" in update(slack, "1 integrated Procedure v1", user=SCHOOL)
    assert "only a lesson integrated can be checked" in update(slack, "1 checked")
    assert "Only a coordinator" in update(slack, "1 agreed", user=SCHOOL)
    update(slack, "1 agreed")
    assert "Only Northfield Academy or a coordinator" in update(
        slack, "1 integrated Procedure v1", user=POLICE
    )
    assert "Name the protocol and its version" in update(slack, "1 integrated v1", user=SCHOOL)
    assert "has no lesson #9" in update(slack, "9 agreed")
    assert "is not a change" in update(slack, "1 finished")
    assert "Say why" in update(slack, "1 dropped")
    assert "Only a coordinator" in update(slack, "1 due 2027-02-01", user=SCHOOL)
    assert "due 2027-02-01" in update(slack, "1 due 2027-02-01")
    [lesson] = stored(database)
    assert (lesson.status, lesson.due) == (LessonStatus.AGREED, date(2027, 2, 1))


def test_a_repeated_update_changes_nothing(slack, fake, database, case):
    add_by_form(slack, fake)
    first = slack.command("/lesson", "update 1 agreed", user=COORD)
    again = slack.replay(first)
    assert "is agreed" in slack.ephemeral(again)
    with database.reader() as session:
        agreed = session.scalars(select(AuditEvent).where(AuditEvent.action == "lesson.agreed")).all()
    assert len(agreed) == 1


def test_a_repeated_form_adds_one_lesson(slack, fake, database, case):
    slack.command("/lesson", "add", user=COORD)
    view = fake.last_view()
    values = {"lesson": LESSON, "protocol": PROTOCOL, "agency": "school", "due": IN_SIX_WEEKS}
    slack.replay(slack.submit(view, values, user=COORD))
    assert len(stored(database)) == 1
    assert len([m for m in fake.dms(COORD) if "added to the register" in m["text"]]) == 1


def test_closing_with_lessons_prompts_the_lead(slack, fake, database, case):
    slack.command("/case", "close", user=COORD, channel=case.channel)
    learnt = "Attendance concerns reached the hub too late"
    slack.submit(fake.last_view(), {"outcome": "Support accepted", "lessons": learnt}, user=COORD)
    [prompt] = [m for m in fake.dms(COORD) if "lessons register" in m["text"]]
    assert stored(database) == []  # nothing becomes a lesson on its own
    button = prompt["blocks"][-1]["elements"][0]
    assert button["action_id"] == lesson_blocks.CAPTURE
    slack.click(button["action_id"], button["value"], user=COORD)
    view = fake.last_view()
    assert view["callback_id"] == lesson_blocks.ADD_FORM
    lesson_input = next(b for b in view["blocks"] if b.get("block_id") == "lesson")
    assert lesson_input["element"]["initial_value"] == learnt
    values = {"lesson": learnt, "protocol": PROTOCOL, "agency": "school", "due": IN_SIX_WEEKS}
    assert not slack.submit(view, values, user=COORD).body
    [lesson] = stored(database)
    assert lesson.case_id == case.id


def test_a_lesson_cannot_be_tied_to_a_case_of_another_area(slack, fake, database, case):
    with database.session() as session:
        areas.add(session, slug="north", name="North Shire", actor=ADMIN, request_ref="t")
        other = Case(
            reference="KOTHER", risk=Risk.LOW, summary="x", area_id=areas.get(session, "north").id,
            lead_user_id=COORD2, opened_by=COORD2, opened_via="t:other",
        )  # fmt: skip
        session.add(other)
        session.flush()
        other_id = other.id
    slack.command("/lesson", "add", user=COORD)
    view = {**fake.last_view(), "private_metadata": json.dumps({"area": "main", "case": other_id})}
    values = {"lesson": LESSON, "protocol": PROTOCOL, "agency": "school", "due": IN_SIX_WEEKS}
    slack.submit(view, values, user=COORD)
    assert stored(database) == []
    slack.submit(
        {**view, "private_metadata": json.dumps({"area": "main", "case": case.id})}, values, user=COORD
    )
    assert [lesson.case_id for lesson in stored(database)] == [case.id]


def test_closing_without_lessons_prompts_no_one(slack, fake, database, case):
    slack.command("/case", "close", user=COORD, channel=case.channel)
    slack.submit(fake.last_view(), {"outcome": "Support accepted", "lessons": ""}, user=COORD)
    assert not [m for m in fake.dms(COORD) if "lessons register" in m["text"]]


def test_a_review_prompts_the_lead(slack, fake, database, case):
    slack.command("/review", "record", user=COORD, channel=case.channel)
    values = {
        "held_on": MONDAY.date().isoformat(),
        "present": ["police", "school"],
        "decisions": "Agreed that referrals from school go through the hub",
        "risk_after": "low",
        "next_review": "2027-01-05",
    }
    slack.submit(fake.last_view(), values, user=COORD)
    [prompt] = [m for m in fake.dms(COORD) if "lessons register" in m["text"]]
    with database.reader() as session:
        [review] = session.scalars(select(Review)).all()
    button = prompt["blocks"][-1]["elements"][0]
    assert button["value"] == f"review:{review.id}"
    forms = len(fake.opened_views)
    slack.click(button["action_id"], button["value"], user=SCHOOL)
    assert len(fake.opened_views) == forms  # a member is refused: only coordinators add
    slack.click(button["action_id"], button["value"], user=COORD2)
    assert len(fake.opened_views) == forms  # another coordinator too: the prompt was the lead's
    slack.click(button["action_id"], button["value"], user=COORD)
    lesson_input = next(b for b in fake.last_view()["blocks"] if b.get("block_id") == "lesson")
    assert lesson_input["element"]["initial_value"] == values["decisions"]


def run(database, api, settings, at):
    return sweep(database, api, settings, now=at)


def test_nudges_follow_the_owning_agency_and_escalate(slack, fake, database, settings, api, case):
    add_by_form(slack, fake, due="2026-12-08")
    update(slack, "1 agreed")
    for day in range(8, 19):
        run(database, api, settings, datetime(2026, 12, day, 10, 0, tzinfo=UTC))
    to_school = [m["text"] for m in fake.dms(SCHOOL) if "Lesson #1" in m["text"]]
    assert to_school[0].startswith(":alarm_clock: Due today")
    overdue = [t for t in to_school if "Overdue since" in t]
    assert [t.split("(")[1].split(" ")[0] for t in overdue] == ["2", "4", "6", "8"]
    for coordinator in (COORD, COORD2):
        escalations = [m for m in fake.dms(coordinator) if "working days overdue" in m["text"]]
        assert len(escalations) == 1 and "5 working days" in escalations[0]["text"]
    assert not [m for m in fake.dms(POLICE_OBSERVER) if "Lesson #1" in m["text"]]


def test_a_proposed_lesson_not_agreed_in_ten_working_days(slack, fake, database, settings, api, case):
    add_by_form(slack, fake)
    for day in range(8, 21):
        run(database, api, settings, datetime(2026, 12, day, 10, 0, tzinfo=UTC))
    assert not [m for m in fake.dms(COORD) if "not yet agreed" in m["text"]]
    for day in (21, 22, 23):
        run(database, api, settings, datetime(2026, 12, day, 11, 0, tzinfo=UTC))
    assert len([m for m in fake.dms(COORD) if "not yet agreed" in m["text"]]) == 1
    assert len([m for m in fake.dms(COORD2) if "not yet agreed" in m["text"]]) == 1


def test_digest_counts_open_lessons_and_names_overdue_ones(slack, fake, database, settings, api, case):
    add_by_form(slack, fake, due="2026-12-08")
    add_by_form(slack, fake, lesson="Police to attend the first meeting in person", agency="police")
    update(slack, "2 agreed")
    run(database, api, settings, datetime(2026, 12, 10, 8, 31, tzinfo=UTC))
    [digest] = [m for m in fake.dms(COORD) if m["text"] == "Your casehub digest"]
    text = json.dumps(digest["blocks"])
    assert "1 proposed, 1 agreed" in text and "overdue: #1" in text


def test_counts_by_status_for_reports(slack, fake, database, case):
    add_by_form(slack, fake)
    add_by_form(slack, fake, lesson="Police to attend the first meeting in person", agency="police")
    update(slack, "2 agreed")
    with database.reader() as session:
        area = session.scalars(select(Area)).one()
        counts = lessons.counts_by_status(
            session, area.id, MONDAY - timedelta(days=1), MONDAY + timedelta(days=1)
        )
        later = lessons.counts_by_status(
            session, area.id, MONDAY + timedelta(days=1), MONDAY + timedelta(days=9)
        )
    assert counts == {"proposed": 1, "agreed": 1, "integrated": 0, "checked": 0, "dropped": 0}
    assert sum(later.values()) == 0


# ---- Block Kit, as data ---------------------------------------------------------------------------


def test_add_form_offers_the_agencies_and_keeps_slack_limits():
    area = Area(id=1, slug="main", name="Main")
    agencies = [_agency("police", "County Police"), _agency("school", "Northfield Academy")]
    view = lesson_blocks.add_form(agencies, today=date(2026, 12, 7), area=area, text="x" * 1500)
    ids = [b.get("block_id") for b in view["blocks"]]
    assert ids == ["lesson", "protocol", "agency", "due"]
    assert len(view["blocks"][0]["element"]["initial_value"]) == lesson_blocks.TEXT_MAX
    assert json.loads(view["private_metadata"]) == {"area": "main", "case": None}
    chooser = lesson_blocks.add_form(
        agencies, today=date(2026, 12, 7), area=None, choices=[area, Area(slug="north", name="North")]
    )
    assert chooser["blocks"][0]["block_id"] == "area"


def test_list_and_prompt_blocks():
    lesson = Lesson(number=3, text="Use the <panel> form", protocol="Panel terms", due=date(2026, 12, 1))
    lesson.status = LessonStatus.AGREED
    lesson.agency = _agency("school", "Northfield Academy")
    [title, line] = lesson_blocks.lesson_list("Lessons", [lesson], today=date(2026, 12, 7))
    assert title["type"] == "header"
    assert "&lt;panel&gt;" in line["text"]["text"] and "overdue since 2026-12-01" in line["text"]["text"]
    empty = lesson_blocks.lesson_list("Lessons", [], today=date(2026, 12, 7))
    assert "No lessons" in json.dumps(empty)
    prompt = lesson_blocks.capture_prompt("AB12", "closing", "close:5")
    assert prompt[-1]["elements"][0]["value"] == "close:5"


def _agency(slug, name):
    from models import Agency

    return Agency(slug=slug, name=name)
