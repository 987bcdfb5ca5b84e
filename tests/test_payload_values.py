"""Every value a person submits is read into a typed value within limits, or refused clearly:
on its field in a form, privately for a command; nothing is stored and nothing fails."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, time, timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from sqlalchemy import func, select

from blocks import modals
from models import Action, AuditEvent, FollowUp, Risk, UpdateKind
from sandbox.slack import TEAM
from services import actions, agencies, cases, inputs, updates
from services.errors import InvalidInput
from tests.conftest import ADMIN, COORD, POLICE, SCHOOL
from tests.helpers import SUMMARY, open_case

WENT_WRONG = "Something went wrong"


def day(offset: int) -> str:
    return (date.today() + timedelta(days=offset)).isoformat()


@pytest.fixture
def case(slack, database, registry):
    return open_case(slack, database, agencies=("police", "school"))


def changes(database) -> int:
    """Every change casehub makes is audited: the count tells whether anything was stored."""
    with database.reader() as session:
        return session.scalar(select(func.count(AuditEvent.id)))


def assert_calm(fake, caplog) -> None:
    assert WENT_WRONG not in fake.all_text()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text


# ---- forms ----------------------------------------------------------------------------------------


def add_action(slack, database, case) -> int:
    slack.command(
        "/action", f"add Share attendance <@{SCHOOL}> due:{day(7)}", user=COORD, channel=case.channel
    )
    with database.reader() as session:
        return session.scalars(select(Action.id)).one()


def by_command(command: str, text: str, user: str) -> Callable[..., None]:
    def open_form(slack, database, case) -> None:
        slack.command(command, text, user=user, channel=case.channel)

    return open_form


def by_button(action_id: str) -> Callable[..., None]:
    def open_form(slack, database, case) -> None:
        slack.click(action_id, str(add_action(slack, database, case)), user=COORD, channel=case.channel)

    return open_form


@dataclass(frozen=True)
class Form:
    open: Callable[..., None]
    user: str
    good: dict[str, Any]  # accepted, with values at the edge of their limits
    bad: list[tuple[str, Any, str]] = field(default_factory=list)  # field, value, what the refusal says


BAD_DATES = [("2026-02-30", "not a day of the calendar"), ("9999-12-31", "casehub accepts")]
BAD_DATES += [("0001-01-01", "casehub accepts"), ("30/12/2026", "write it as YYYY-MM-DD")]

FORMS = {
    "case open": Form(
        by_command("/case", "open", COORD),
        COORD,
        {
            "summary": SUMMARY,
            "risk": "low",
            "lead": COORD,
            "agencies": ["police"],
            "review_weeks": "52",
            "agency_reference": "R" * cases.AGENCY_REFERENCE_MAX,
        },
        [
            ("risk", "apocalyptic", "Choose a risk level from the list."),
            ("review_weeks", "0", "1 to 52"),
            ("review_weeks", "-1", "1 to 52"),
            ("review_weeks", "53", "1 to 52"),
            ("review_weeks", str(10**20), "1 to 52"),
            ("review_weeks", "weekly", "is not a number of weeks"),
            ("agencies", ["Police Force!"], "Choose an agency from the list."),
            ("lead", "somebody", "Choose a lead coordinator from the list."),
            ("agency_reference", "R" * (cases.AGENCY_REFERENCE_MAX + 1), "at most 64"),
        ],
    ),
    "case close": Form(
        by_command("/case", "close", COORD),
        COORD,
        {"outcome": "Support completed", "lessons": "l" * cases.LESSONS_MAX, "follow_ups": ["6,12"]},
        [
            ("follow_ups", ["6,12,24"], "Tick the box or leave it empty."),
            ("outcome", "o" * (cases.OUTCOME_MAX + 1), "the limit is 2000"),
            ("lessons", "l" * (cases.LESSONS_MAX + 1), "the limit is 3000"),
        ],
    ),
    "update": Form(
        by_command("/update", "", POLICE),
        POLICE,
        {
            "contact_date": day(-365),
            "kind": "meeting",
            "observed": "Met at school; engaged well.",
            "risk": "low",
        },
        [
            ("risk", "apocalyptic", "Choose a risk level from the list."),
            ("kind", "gossip", "Choose a kind of update from the list."),
            *[("contact_date", value, said) for value, said in BAD_DATES],
            ("contact_date", day(-400), "too long ago"),
            ("contact_date", day(1), "in the future"),
            ("restricted", ["maybe"], "Tick the box or leave it empty."),
            ("observed", "o" * 3001, "the limit is 3000"),
        ],
    ),
    "action add": Form(
        by_command("/action", "add", COORD),
        COORD,
        {
            "text": "Share attendance",
            "agency": "school",
            "owner": SCHOOL,
            "due": day(700),
            "priority": "urgent",
        },
        [
            ("priority", "cosmic", "Choose a priority from the list."),
            *[("due", value, said) for value, said in BAD_DATES],
            ("due", day(800), "2 years ahead"),
            ("due", day(-1), "in the past"),
            ("agency", "Northfield Academy", "Choose an agency from the list."),
            ("owner", "sam", "Choose an owner from the list."),
            ("confirm_duplicate", ["sure"], "Tick the box or leave it empty."),
            ("text", "t" * (actions.TEXT_MAX + 1), "the limit is 500"),
        ],
    ),
    "extend": Form(
        by_button("action_extend"),
        COORD,
        {"due": day(700), "reason": "r" * actions.REASON_MAX},
        [
            *[("due", value, said) for value, said in BAD_DATES],
            ("due", day(800), "2 years ahead"),
            ("reason", "r" * (actions.REASON_MAX + 1), "the limit is 500"),
        ],
    ),
    "reassign": Form(
        by_button("action_reassign"),
        COORD,
        {"agency": "police", "owner": POLICE},
        [
            ("agency", "County Police", "Choose an agency from the list."),
            ("owner", ["U1", "U2"], "Choose an owner from the list."),
        ],
    ),
    "review record": Form(
        by_command("/review", "record", COORD),
        COORD,
        {
            "held_on": day(-300),
            "present": ["police", "school"],
            "decisions": "Continue support",
            "risk_after": "low",
            "next_review": day(360),
            "actions": f"Share attendance | school | {day(700)}",
        },
        [
            ("risk_after", "apocalyptic", "Choose a risk level from the list."),
            *[("held_on", value, said) for value, said in BAD_DATES],
            ("held_on", day(-400), "too long ago"),
            *[("next_review", value, said) for value, said in BAD_DATES],
            ("next_review", day(400), "The next review must be by"),
            ("present", ["housing"], "Choose the agencies present from the list."),
            ("actions", "Share attendance | school | 2026-02-30", "Line 1: 2026-02-30 is not a day"),
            ("actions", f"Share attendance | school | {day(800)}", "2 years ahead"),
            ("actions", f"Share | school | {day(7)}\n" * 21, "At most 20 actions"),
            ("decisions", "d" * 3001, "the limit is 3000"),
        ],
    ),
}


@pytest.mark.parametrize("name", FORMS)
def test_a_bad_value_in_a_form_is_refused_on_its_field(slack, fake, database, case, caplog, name):
    form = FORMS[name]
    form.open(slack, database, case)
    view, before = fake.last_view(), changes(database)
    for block_id, value, said in form.bad:
        reply = slack.submit(view, {**form.good, block_id: value}, user=form.user)
        answer = reply.json()
        assert answer["response_action"] == "errors" and list(answer["errors"]) == [block_id], (value, answer)
        assert said in answer["errors"][block_id], (value, answer)
    assert changes(database) == before
    assert slack.submit(view, form.good, user=form.user).body == ""
    assert changes(database) > before
    assert_calm(fake, caplog)


def test_the_close_form_schedules_the_follow_ups_it_offered(slack, fake, database, case):
    FORMS["case close"].open(slack, database, case)
    slack.submit(fake.last_view(), FORMS["case close"].good, user=COORD)
    with database.reader() as session:
        assert len(session.scalars(select(FollowUp)).all()) == 2


def submit_state(slack, view: dict[str, Any], state: Any, *, user: str):
    """A submission whose state is not what Slack sends: missing keys, wrong types."""
    payload = {"type": "view_submission", "team": {"id": TEAM}, "user": {"id": user}}
    payload |= {"api_app_id": "ACASEHUB", "trigger_id": slack.fake.issue_trigger(user)}
    payload["view"] = {**view, "state": state}
    body = urlencode({"payload": json.dumps(payload)}).encode()
    return slack.post(body, "application/x-www-form-urlencoded")


@pytest.mark.parametrize(
    ("name", "state", "refused"),
    [
        ("case open", None, "summary"),
        (
            "case open",
            {"values": {"summary": "text", "risk": {"value": {"selected_option": "low"}}}},
            "summary",
        ),
        (
            "case open",
            {
                "values": {
                    "summary": {"value": {"type": "plain_text_input", "value": SUMMARY}},
                    "agencies": {"value": {"type": "multi_static_select", "selected_options": "police"}},
                }
            },
            "agencies",
        ),
        ("update", {"values": []}, "contact_date"),
        (
            "action add",
            {"values": {"due": {"value": {"type": "datepicker", "selected_date": 20261231}}}},
            "due",
        ),
        ("review record", {"values": {"held_on": {"x": {"type": "datepicker"}}}}, "held_on"),
    ],
)
def test_a_malformed_form_state_is_refused_not_failed(
    slack, fake, database, case, caplog, name, state, refused
):
    FORMS[name].open(slack, database, case)
    before = changes(database)
    reply = submit_state(slack, fake.last_view(), state, user=FORMS[name].user)
    assert reply.json()["response_action"] == "errors" and refused in reply.json()["errors"]
    assert changes(database) == before
    assert_calm(fake, caplog)


# ---- commands -------------------------------------------------------------------------------------


def close_case(slack, case) -> None:
    slack.command("/case", "close", user=COORD, channel=case.channel)
    slack.submit(slack.fake.last_view(), {"outcome": "Support completed", "follow_ups": ["6,12"]}, user=COORD)


@dataclass(frozen=True)
class Command:
    command: str
    user: str
    good: str
    bad: list[tuple[str, str]]  # the text, what the refusal says
    in_case_channel: bool = True
    prepare: Callable[..., None] | None = None


COMMANDS = {
    "review every": Command(
        "/review",
        COORD,
        "every 52 weeks",
        [
            ("every 0 weeks", "1 to 52"),
            ("every -1 weeks", "1 to 52"),
            (f"every {10**20} weeks", "1 to 52"),
            ("every 1e3 weeks", "is not a number of weeks"),
        ],
    ),
    "review next": Command(
        "/review",
        COORD,
        f"next {day(360)} 09:30",
        [
            ("next 2026-02-30", "not a day of the calendar"),
            ("next 9999-12-31", "casehub accepts"),
            (f"next {day(400)}", "too far ahead"),
            (f"next {day(10)} 25:00", "is not a time"),
        ],
    ),
    "case consent": Command(
        "/case",
        COORD,
        f"consent given {day(-700)}",
        [
            ("consent given 2026-02-30", "not a day of the calendar"),
            ("consent given 0001-01-01", "casehub accepts"),
            (f"consent given {day(-800)}", "years ago"),
            (f"consent given {day(1)}", "in the future"),
        ],
    ),
    "action add": Command(
        "/action",
        COORD,
        f"add Share attendance <@{SCHOOL}> due:{day(700)} priority:urgent",
        [
            (f"add Share attendance <@{SCHOOL}> due:2026-02-30", "not a day of the calendar"),
            (f"add Share attendance <@{SCHOOL}> due:9999-12-31", "casehub accepts"),
            (f"add Share attendance <@{SCHOOL}> due:{day(800)}", "2 years ahead"),
            (f"add Share attendance <@{SCHOOL}> due:{day(7)} priority:cosmic", "is not a priority"),
        ],
    ),
    "oncall set": Command(
        "/oncall",
        ADMIN,
        f"set police <@{POLICE}> from {day(1)} 17:00 to {day(2)} 09:00",
        [
            (f"set police <@{POLICE}> to 2026-02-30 10:00", "not a date and time"),
            (f"set police <@{POLICE}> to 9999-12-31 10:00", "not a date and time"),
            (f"set police <@{POLICE}> to {day(2)} 24:00", "not a date and time"),
            (f"set police <@{POLICE}> to {day(400)} 10:00", "too far ahead"),
            (f"set police <@{POLICE}> from {day(-3)} 10:00 to {day(-1)} 10:00", "over already"),
        ],
        in_case_channel=False,
    ),
}


def follow_up_command(case) -> Command:
    return Command(
        "/review",
        COORD,
        f"followup {case.reference} {day(-1)} Family engaged with mentoring",
        [
            (f"followup {case.reference} 2026-02-30", "not a day of the calendar"),
            (f"followup {case.reference} 30/12/2026 note", "write it as YYYY-MM-DD"),
            (f"followup {case.reference} 9999-12-31", "casehub accepts"),
            (f"followup {case.reference} {day(-800)}", "too long ago"),
            (f"followup {case.reference} {day(1)}", "in the future"),
            (f"followup {case.reference} {day(-1)} {'n' * 501}", "the limit is 500"),
        ],
        in_case_channel=False,
        prepare=close_case,
    )


@pytest.mark.parametrize("name", [*COMMANDS, "review followup"])
def test_a_bad_value_in_a_command_is_refused_privately(slack, fake, database, case, caplog, name):
    command = COMMANDS[name] if name in COMMANDS else follow_up_command(case)
    if command.prepare:
        command.prepare(slack, case)
    channel = case.channel if command.in_case_channel else "CGENERAL"
    before = changes(database)
    for text, said in command.bad:
        reply = slack.command(command.command, text, user=command.user, channel=channel)
        assert said in slack.ephemeral(reply), (text, slack.ephemeral(reply))
    assert changes(database) == before
    slack.command(command.command, command.good, user=command.user, channel=channel)
    assert changes(database) > before
    assert_calm(fake, caplog)


# ---- the readers ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "said"),
    [
        (None, "Give the date."),
        ("", "Give the date."),
        ("2026-02-30", "2026-02-30 is not a day of the calendar."),
        ("1999-12-31", "from 2000 to 2100"),
        ("2101-01-01", "from 2000 to 2100"),
        ("20261207", "write it as YYYY-MM-DD"),
        ("2026-W49-1", "write it as YYYY-MM-DD"),
        ("2026-12-07\n", "write it as YYYY-MM-DD"),
        (["2026-12-07"], "write it as YYYY-MM-DD"),
        (20261207, "write it as YYYY-MM-DD"),
    ],
)
def test_parse_date_refuses_what_is_no_date_of_the_calendar(value, said):
    with pytest.raises(InvalidInput) as refused:
        inputs.parse_date(value, field="due")
    assert said in refused.value.message and refused.value.field == "due"


def test_parse_date_reads_the_calendar_from_2000_to_2100():
    assert inputs.parse_date("2000-01-01") == inputs.FIRST_DAY
    assert inputs.parse_date("2100-12-31") == inputs.LAST_DAY
    assert inputs.parse_date("2028-02-29") == date(2028, 2, 29)


@pytest.mark.parametrize("value", ["apocalyptic", "LOW", "", None, ["low"], 1])
def test_parse_choice_refuses_an_option_never_offered(value):
    with pytest.raises(InvalidInput, match="Choose a risk level from the list") as refused:
        inputs.parse_choice(Risk, value, field="risk", what="a risk level")
    assert refused.value.field == "risk"
    assert inputs.parse_choice(Risk, "critical", field="risk", what="a risk level") is Risk.CRITICAL


@pytest.mark.parametrize("value", ["u123", "<@U123ABC>", "U1", "U" + "A" * 40, None, ["U123ABC"]])
def test_parse_person_wants_a_user_id(value):
    with pytest.raises(InvalidInput, match="Choose an owner from the list"):
        inputs.parse_person(value, field="owner", what="an owner")
    assert inputs.parse_person("W0123ABCD", field="owner") == "W0123ABCD"


def test_ticked_knows_only_its_own_box():
    assert inputs.ticked(None, field="f") is False and inputs.ticked([], field="f") is False
    assert inputs.ticked(["yes"], field="f") is True
    for value in (["no"], ["yes", "yes"], "yes", True):
        with pytest.raises(InvalidInput, match="Tick the box"):
            inputs.ticked(value, field="f")


@pytest.mark.parametrize("value", ["24:00", "10:60", "10", "10:00:00", "1000", "9:5", " 9:05", "٩:٠٥"])
def test_parse_time_wants_hh_mm(value):
    with pytest.raises(InvalidInput, match="is not a time"):
        inputs.parse_time(value)


def test_parse_time_and_years_from():
    assert inputs.parse_time("9:05") == time(9, 5) and inputs.parse_time("23:59") == time(23, 59)
    assert inputs.years_from(date(2028, 2, 29), 1) == date(2029, 2, 28)
    assert inputs.years_from(date(2026, 12, 7), -2) == date(2024, 12, 7)


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ("0", "1 to 52 weeks, not every 0"),
        ("-1", "not every -1"),
        ("53", "not every 53"),
        (str(10**20), "1 to 52"),
        ("9" * 31, "is not a number of weeks"),
        ("four", "is not a number of weeks"),
        ("4.5", "is not a number of weeks"),
        ("1_0", "is not a number of weeks"),
        ("٤", "is not a number of weeks"),
        ("", "is not a number of weeks"),
        (None, "is not a number of weeks"),
    ],
)
def test_parse_review_weeks_takes_1_to_52(value, said):
    with pytest.raises(InvalidInput, match=said) as refused:
        cases.parse_review_weeks(value, field="review_weeks")
    assert refused.value.field == "review_weeks"


def test_review_weeks_in_range_are_read():
    assert [cases.parse_review_weeks(v) for v in ("1", " 4 ", "+6", "52")] == [1, 4, 6, 52]


def test_a_case_draft_outside_the_cadence_is_refused_on_its_field():
    draft = cases.CaseDraft(SUMMARY, Risk.LOW, COORD, ("police",), review_every_weeks=0)
    with pytest.raises(InvalidInput) as refused:
        cases.check_draft(draft)
    assert refused.value.field == "review_weeks"


def test_check_due_is_from_today_to_two_years_ahead():
    today = date(2026, 12, 7)
    actions.check_due(today, today=today)
    actions.check_due(date(2028, 12, 7), today=today)
    for due, said in ((date(2026, 12, 6), "in the past"), (date(2028, 12, 8), "up to 2028-12-07")):
        with pytest.raises(InvalidInput, match=said):
            actions.check_due(due, today=today)


def test_an_update_reports_a_contact_of_the_last_year():
    today = date(2026, 12, 7)

    def draft(contact: date) -> updates.UpdateDraft:
        return updates.UpdateDraft("police", contact, UpdateKind.MEETING, "Met at school.")

    updates.check_draft(draft(date(2025, 12, 7)), today=today)
    for contact, said in ((date(2025, 12, 6), "from 2025-12-07 on"), (date(2026, 12, 8), "in the future")):
        with pytest.raises(InvalidInput, match=said) as refused:
            updates.check_draft(draft(contact), today=today)
        assert refused.value.field == "contact_date"


@pytest.mark.parametrize("value", ["Police!", "a", "x" * 33, "police\n", None, ["police"]])
def test_chosen_slug_refuses_what_no_list_offered(value):
    with pytest.raises(InvalidInput, match="Choose an agency from the list"):
        agencies.chosen_slug(value, field="agency")
    assert agencies.chosen_slug("met-police", field="agency") == "met-police"


@pytest.mark.parametrize(
    "view", [{}, {"state": None}, {"state": {"values": []}}, {"state": {"values": None}}]
)
def test_values_of_a_view_without_state_are_none(view):
    assert modals.values(view) == {}


UNREADABLE = modals.UNREADABLE


@pytest.mark.parametrize(
    ("element", "read"),
    [
        ({"type": "static_select", "selected_option": None}, None),
        ({"type": "static_select", "selected_option": "low"}, UNREADABLE),
        ({"type": "static_select", "selected_option": {"value": 3}}, UNREADABLE),
        ({"type": "multi_static_select"}, []),
        ({"type": "multi_static_select", "selected_options": "x"}, UNREADABLE),
        ({"type": "checkboxes", "selected_options": [{"value": "yes"}, 7]}, UNREADABLE),
        ({"type": "multi_users_select", "selected_users": ["U1", 2]}, UNREADABLE),
        ({"type": "users_select", "selected_user": ["U1"]}, UNREADABLE),
        ({"type": "datepicker"}, None),
        ({"type": "plain_text_input", "value": {"x": 1}}, UNREADABLE),
        ({"value": "typed"}, "typed"),
        ("text", UNREADABLE),
        (None, UNREADABLE),
    ],
)
def test_values_marks_what_slack_never_sends_as_unreadable(element, read):
    assert modals.values({"state": {"values": {"a": {"value": element}}}}) == {"a": read}
    assert modals.values({"state": {"values": {"a": "junk", "b": {}}}}) == {"a": UNREADABLE, "b": UNREADABLE}


@pytest.mark.parametrize(
    ("read", "value"),
    [
        (lambda v: inputs.text(v, field="f"), UNREADABLE),
        (lambda v: inputs.strings(v, field="f", what="agencies"), UNREADABLE),
        (lambda v: inputs.strings(v, field="f", what="agencies"), "police"),
        (lambda v: inputs.parse_date(v, field="f"), UNREADABLE),
        (lambda v: inputs.ticked(v, field="f"), UNREADABLE),
        (lambda v: inputs.parse_person(v, field="f"), UNREADABLE),
        (lambda v: cases.parse_review_weeks(v, field="f"), UNREADABLE),
    ],
)
def test_every_reader_refuses_an_unreadable_value_on_its_field(read, value):
    with pytest.raises(InvalidInput) as refused:
        read(value)
    assert refused.value.field == "f"


def test_a_crisis_outcome_over_the_limit_is_refused_and_the_crisis_stays_open(slack, database, case):
    from models import Crisis
    from services.crises import OUTCOME_MAX

    slack.command("/crisis", "Threats made online tonight", user=POLICE, channel=case.channel)
    said = slack.ephemeral(
        slack.command("/crisis", "resolve " + "x" * (OUTCOME_MAX + 1), user=COORD, channel=case.channel)
    )
    assert f"the limit is {OUTCOME_MAX}" in said and WENT_WRONG not in said
    with database.reader() as session:
        assert session.scalars(select(Crisis.state)).all() == ["open"]
    slack.command("/crisis", "resolve " + "x" * OUTCOME_MAX, user=COORD, channel=case.channel)
    with database.reader() as session:
        assert session.scalars(select(Crisis.state)).all() == ["resolved"]
