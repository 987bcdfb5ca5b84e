"""The action tracker over HTTP: add, buttons, lists, duplicates, refusals."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from models import Action, ActionEvent, clock
from tests.conftest import COORD, COORD2, OUTSIDER, POLICE, POLICE_OBSERVER, SCHOOL
from tests.helpers import open_case

IN_A_WEEK = (date.today() + timedelta(days=7)).isoformat()


@pytest.fixture
def case(slack, database, registry):
    return open_case(slack, database, agencies=("police", "school"))


def stored(database):
    with database.reader() as session:
        return session.scalars(select(Action).order_by(Action.id)).all()


def add_by_form(slack, case, user=COORD, **overrides):
    slack.command("/action", "add", user=user, channel=case.channel)
    view = slack.fake.last_view()
    values = {
        "text": "Share attendance records for November",
        "agency": "school",
        "owner": SCHOOL,
        "due": IN_A_WEEK,
        "priority": "high",
        **overrides,
    }
    return view, slack.submit(view, {k: v for k, v in values.items() if v is not None}, user=user)


def message_of(fake, case, action):
    return next(m for m in fake.posts(case.channel) if m["ts"] == action.channel_ts)


def test_add_by_form_posts_with_buttons_and_numbers_per_case(slack, fake, database, case):
    add_by_form(slack, case)
    add_by_form(slack, case, text="Arrange a mentoring assessment", agency="police", owner=None)
    first, second = stored(database)
    assert (first.number, second.number) == (1, 2)
    assert (first.agency.slug, first.owner, first.priority.value) == ("school", SCHOOL, "high")
    message = message_of(fake, case, first)
    ids = [e["action_id"] for e in message["blocks"][-1]["elements"]]
    assert ids == ["action_done", "action_extend", "action_reassign"]
    assert "#1" in message["blocks"][0]["text"]["text"]


def test_add_in_one_line(slack, fake, database, case):
    reply = slack.command(
        "/action",
        f"add Check school attendance <@{SCHOOL}|s> due:{IN_A_WEEK} priority:urgent",
        user=POLICE,
        channel=case.channel,
    )
    assert "Action added" in slack.ephemeral(reply)
    [action] = stored(database)
    assert (action.text, action.owner, action.agency.slug, action.priority.value) == (
        "Check school attendance",
        SCHOOL,
        "school",
        "urgent",
    )


def test_one_line_refusals(slack, database, case):
    past = (date.today() - timedelta(days=1)).isoformat()
    cases = {
        f"add Something <@{SCHOOL}>": "Give a due date",
        f"add Something <@{SCHOOL}> due:{past}": "is in the past",
        f"add Something <@{SCHOOL}> due:tomorrow": "is not a due date",
        f"add Something <@{OUTSIDER}> due:{IN_A_WEEK}": "is not in an agency taking part",
        f"add Something <@{SCHOOL}> due:{IN_A_WEEK} agency:police": "is not a member of County Police",
        f"add Something due:{IN_A_WEEK} agency:housing": "does not take part",
        f"add Something <@{SCHOOL}> due:{IN_A_WEEK} priority:asap": "is not a priority",
        f"add Something due:{IN_A_WEEK}": "Say which agency owns the action",
    }
    for text, expected in cases.items():
        said = slack.ephemeral(slack.command("/action", text, user=COORD, channel=case.channel))
        assert expected in said, (text, said)
    said = slack.ephemeral(
        slack.command(
            "/action", f"add x <@{SCHOOL}> due:{IN_A_WEEK}", user=POLICE_OBSERVER, channel=case.channel
        )
    )
    assert "Observers read the case but do not add actions" in said
    said = slack.ephemeral(slack.command("/action", "add", user=COORD, channel="CGENERAL"))
    assert "works only in a case channel" in said
    assert stored(database) == []


def test_form_refusals_are_inline(slack, database, case):
    past = (date.today() - timedelta(days=1)).isoformat()
    _, reply = add_by_form(slack, case, due=past)
    assert "is in the past" in reply.json()["errors"]["due"]
    _, reply = add_by_form(slack, case, agency="police", owner=SCHOOL)
    assert "is not a member of County Police" in reply.json()["errors"]["owner"]
    assert stored(database) == []


def test_duplicate_warning_in_the_form(slack, database, case):
    add_by_form(slack, case)
    view, reply = add_by_form(slack, case, text="Share the attendance records for november")
    assert "looks like #1" in reply.json()["errors"]["text"]
    assert len(stored(database)) == 1
    slack.submit(
        view,
        {
            "text": "Share the attendance records for november",
            "agency": "school",
            "due": IN_A_WEEK,
            "priority": "normal",
            "confirm_duplicate": ["yes"],
        },
        user=COORD,
    )
    assert len(stored(database)) == 2


def test_duplicate_warning_in_one_line_then_save_or_cancel(slack, fake, database, case):
    add_by_form(slack, case)
    reply = slack.command(
        "/action",
        f"add Share attendance records for November <@{SCHOOL}> due:{IN_A_WEEK}",
        user=COORD,
        channel=case.channel,
    )
    prompt = fake.replies(reply.response_url)[-1]
    assert "looks like #1" in prompt["text"]
    save, cancel = prompt["blocks"][-1]["elements"]
    slack.click(cancel["action_id"], cancel["value"], user=COORD, channel=case.channel)
    assert len(stored(database)) == 1
    slack.click(save["action_id"], save["value"], user=COORD, channel=case.channel)
    slack.click(save["action_id"], save["value"], user=COORD, channel=case.channel)  # a second click
    assert len(stored(database)) == 2


def test_done_by_owner_agency_or_lead_only(slack, fake, database, case):
    add_by_form(slack, case)
    [action] = stored(database)
    for stranger in (POLICE, COORD2, POLICE_OBSERVER):
        reply = slack.click("action_done", str(action.id), user=stranger, channel=case.channel)
        assert "can complete #1" in slack.ephemeral(reply)
    assert stored(database)[0].is_open
    slack.click("action_done", str(action.id), user=SCHOOL, channel=case.channel)
    action = stored(database)[0]
    assert not action.is_open and action.done_by == SCHOOL
    message = message_of(fake, case, action)
    assert "✅ done" in message["blocks"][0]["text"]["text"]
    assert message["blocks"][-1]["type"] != "actions"  # no buttons on a finished action
    reply = slack.click("action_done", str(action.id), user=COORD, channel=case.channel)
    assert "already done" in slack.ephemeral(reply)


def test_extend_asks_for_a_date_and_a_reason(slack, fake, database, case):
    add_by_form(slack, case)
    [action] = stored(database)
    slack.click("action_extend", str(action.id), user=SCHOOL, channel=case.channel)
    view = fake.last_view()
    assert view["callback_id"] == "action_extend"
    reply = slack.submit(view, {"due": action.due.isoformat(), "reason": "waiting"}, user=SCHOOL)
    assert "must be after" in reply.json()["errors"]["due"]
    later = (action.due + timedelta(days=10)).isoformat()
    reply = slack.submit(view, {"due": later, "reason": ""}, user=SCHOOL)
    assert "Say why" in reply.json()["errors"]["reason"]
    first = slack.submit(view, {"due": later, "reason": "Records office closed until the 10th"}, user=SCHOOL)
    slack.replay(first)
    action = stored(database)[0]
    assert action.due.isoformat() == later
    with database.reader() as session:
        kinds = session.scalars(select(ActionEvent.kind).where(ActionEvent.action_id == action.id)).all()
    assert kinds == ["created", "extended"]
    assert "Records office closed" in json.dumps(message_of(fake, case, action)["blocks"])
    slack.click("action_extend", str(action.id), user=POLICE, channel=case.channel)
    assert fake.last_view()["id"] == view["id"]  # police may not: no new form


def test_reassign_is_for_the_lead(slack, fake, database, case):
    add_by_form(slack, case)
    [action] = stored(database)
    reply = slack.click("action_reassign", str(action.id), user=SCHOOL, channel=case.channel)
    assert "Only the lead coordinator" in slack.ephemeral(reply)
    slack.click("action_reassign", str(action.id), user=COORD, channel=case.channel)
    view = fake.last_view()
    reply = slack.submit(view, {"agency": "police", "owner": SCHOOL}, user=COORD)
    assert "is not a member of County Police" in reply.json()["errors"]["owner"]
    slack.submit(view, {"agency": "police", "owner": POLICE}, user=COORD)
    action = stored(database)[0]
    assert (action.agency.slug, action.owner) == ("police", POLICE)
    assert "reassigned by" in json.dumps(message_of(fake, case, action)["blocks"])


def test_lists(slack, fake, database, case):
    add_by_form(slack, case, text="Attendance", owner=SCHOOL)
    add_by_form(slack, case, text="Police check", agency="police", owner=POLICE)
    other = open_case(slack, database, agencies=("school",))
    slack.command(
        "/action", f"add Meet the family <@{SCHOOL}> due:{IN_A_WEEK}", user=COORD, channel=other.channel
    )
    with clock.set_to(clock.now() + timedelta(days=8)):
        in_case = slack.ephemeral(slack.command("/action", "list overdue", user=COORD, channel=case.channel))
        assert "Attendance" in in_case and "Police check" in in_case and "Meet the family" not in in_case
        mine = slack.ephemeral(slack.command("/action", "list mine", user=SCHOOL))
        assert "Attendance" in mine and "Meet the family" in mine and "Police check" not in mine
        assert f"`{other.reference}`" in mine
        overdue_everywhere = slack.ephemeral(slack.command("/action", "list overdue", user=COORD))
        assert "Meet the family" in overdue_everywhere and "Police check" in overdue_everywhere
    said = slack.ephemeral(slack.command("/action", "list open", user=SCHOOL))
    assert "`mine` or `overdue`" in said
    said = slack.ephemeral(slack.command("/action", "list someday", user=SCHOOL, channel=case.channel))
    assert "not a list" in said
    said = slack.ephemeral(slack.command("/action", "list", user=OUTSIDER, channel=case.channel))
    assert "not in an agency taking part" in said


def test_unknown_action_number_cannot_be_reached(slack, database, case):
    reply = slack.click("action_done", "999", user=COORD, channel=case.channel)
    assert "no longer exists" in slack.ephemeral(reply)


def test_action_help(slack):
    said = slack.ephemeral(slack.command("/action", "", user=OUTSIDER))
    assert "/action add <text> @owner due:YYYY-MM-DD" in said and "*Who:*" in said
