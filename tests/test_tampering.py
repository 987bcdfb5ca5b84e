"""Forms and buttons carrying ids from another case, malformed values, and rights lost on the way."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from models import Action, Crisis, Update
from tests.conftest import ADMIN, COORD, COORD2, HEALTH, POLICE, SCHOOL
from tests.helpers import open_case

IN_A_WEEK = (date.today() + timedelta(days=7)).isoformat()
LATER = (date.today() + timedelta(days=30)).isoformat()
UNEXPECTED = "Something went wrong"


@pytest.fixture
def two_cases(slack, database, registry):
    """Case A led by COORD with police and school; case B led by COORD2 with health alone."""
    a = open_case(slack, database, agencies=("police", "school"))
    b = open_case(slack, database, agencies=("health",), user=COORD2)
    return a, b


def add_action(slack, database, case, user, agency, owner):
    slack.command("/action", "add", user=user, channel=case.channel)
    view = slack.fake.last_view()
    values = {"text": f"Work for {agency}", "agency": agency, "owner": owner, "due": IN_A_WEEK}
    reply = slack.submit(view, values, user=user)
    assert reply.status == 200 and not reply.body, reply.body
    with database.reader() as session:
        return session.scalars(select(Action).order_by(Action.id.desc())).first()


@pytest.fixture
def actions_in_both(slack, database, two_cases):
    a, b = two_cases
    mine = add_action(slack, database, a, COORD, "school", SCHOOL)
    theirs = add_action(slack, database, b, COORD2, "health", HEALTH)
    return mine, theirs


def action(database, action_id):
    with database.reader() as session:
        return session.get(Action, action_id)


def tampered(view, **metadata):
    return {**view, "private_metadata": json.dumps(metadata)}


# ---- forms carrying another case's ids --------------------------------------------------------


@pytest.mark.parametrize(
    ("button", "form_values"),
    [
        ("action_extend", {"due": LATER, "reason": "Waiting for the records office"}),
        ("action_reassign", {"agency": "police", "owner": POLICE}),
    ],
)
def test_a_form_naming_an_action_of_another_case_changes_nothing(
    slack, fake, database, two_cases, actions_in_both, button, form_values
):
    a, _ = two_cases
    mine, theirs = actions_in_both
    slack.click(button, str(mine.id), user=COORD, channel=a.channel)
    view = fake.last_view()
    # A's metadata, B's action: the lead of A has no role in B.
    reply = slack.submit(tampered(view, case=a.reference, action=theirs.id), form_values, user=COORD)
    errors = reply.json()["errors"]
    assert "has no such action" in next(iter(errors.values()))
    # B's metadata and B's action: the lead of A is not B's lead, nor in its agencies.
    reply = slack.submit(
        tampered(view, case=_reference_of(database, theirs), action=theirs.id), form_values, user=COORD
    )
    assert reply.json()["response_action"] == "errors"
    after = action(database, theirs.id)
    assert (after.due, after.agency.slug, after.owner) == (theirs.due, "health", HEALTH)
    # The positive control: the form, untouched, changes A's own action.
    reply = slack.submit(view, form_values, user=COORD)
    assert reply.status == 200 and not reply.body
    changed = action(database, mine.id)
    assert (changed.due.isoformat(), changed.owner) != (mine.due.isoformat(), mine.owner)


def _reference_of(database, tracked):
    with database.reader() as session:
        return session.get(Action, tracked.id).case.reference


def test_an_update_correction_naming_another_cases_update_changes_nothing(slack, fake, database, two_cases):
    a, b = two_cases
    slack.command("/update", "Attended the session and engaged well", user=SCHOOL, channel=a.channel)
    slack.command("/update", "Seen at the clinic today", user=HEALTH, channel=b.channel)
    with database.reader() as session:
        mine, theirs = session.scalars(select(Update).order_by(Update.id)).all()
    slack.click("update_edit", str(mine.id), user=SCHOOL, channel=a.channel)
    view = fake.last_view()
    values = {
        "observed": "Rewritten by someone else",
        "kind": "note",
        "contact_date": date.today().isoformat(),
    }
    reply = slack.submit(tampered(view, case=a.reference, update=theirs.id), values, user=SCHOOL)
    assert "has no such update" in json.dumps(reply.json())
    with database.reader() as session:
        assert session.get(Update, theirs.id).observed == "Seen at the clinic today"


# ---- buttons carrying another case's ids ------------------------------------------------------


def test_buttons_naming_another_cases_records_are_refused(slack, fake, database, two_cases, actions_in_both):
    a, b = two_cases
    _, theirs = actions_in_both
    for button in ("action_done", "action_extend", "action_reassign"):
        views_before = len(fake.opened_views)
        reply = slack.click(button, str(theirs.id), user=COORD, channel=a.channel)
        said = slack.ephemeral(reply)
        assert ("not in an agency taking part" in said or "Only" in said) and UNEXPECTED not in said
        assert len(fake.opened_views) == views_before  # no form opened on B's action
    assert action(database, theirs.id).is_open
    page = json.dumps({"case": b.reference, "page": 1, "agency": None, "since": None})
    said = slack.ephemeral(slack.click("timeline_earlier", page, user=COORD, channel=a.channel))
    assert "not in an agency taking part" in said
    said = slack.ephemeral(slack.click("sharing_earlier", page, user=COORD, channel=a.channel))
    assert "Only the lead coordinator" in said


def test_a_duplicate_prompt_answered_by_someone_else_or_for_another_case_saves_nothing(
    slack, database, two_cases
):
    a, b = two_cases
    value = {
        "case": b.reference,
        "text": "Planted action",
        "agency": "health",
        "owner": None,
        "due": IN_A_WEEK,
        "priority": "normal",
        "ref": "command:/action:T1",
        "user": COORD,
    }
    said = slack.ephemeral(
        slack.click("action_save_anyway", json.dumps(value), user=COORD, channel=a.channel)
    )
    assert "not in an agency taking part" in said
    value.update(case=a.reference, agency="school", user=POLICE)
    said = slack.ephemeral(
        slack.click("action_save_anyway", json.dumps(value), user=COORD, channel=a.channel)
    )
    assert "out of date or was changed" in said
    with database.reader() as session:
        assert session.scalars(select(Action)).all() == []


@pytest.mark.parametrize(
    "value",
    ["not a number", "", "-3", "1.5", "9" * 30, "[1]", "{}", "0", "１２"],
)
@pytest.mark.parametrize(
    "button", ["action_done", "action_extend", "update_edit", "crisis_ack", "crisis_from_update"]
)
def test_buttons_with_values_casehub_never_wrote_get_a_clear_refusal(slack, two_cases, button, value):
    a, _ = two_cases
    said = slack.ephemeral(slack.click(button, value, user=COORD, channel=a.channel))
    assert "out of date or was changed" in said and UNEXPECTED not in said


@pytest.mark.parametrize("value", ["not json", "[]", '{"case": 5, "page": 1}', '{"case": "X", "page": "x"}'])
@pytest.mark.parametrize("button", ["timeline_earlier", "sharing_later", "action_save_anyway"])
def test_json_buttons_with_values_casehub_never_wrote_get_a_clear_refusal(slack, two_cases, button, value):
    a, _ = two_cases
    said = slack.ephemeral(slack.click(button, value, user=COORD, channel=a.channel))
    assert ("out of date or was changed" in said or "No case" in said) and UNEXPECTED not in said


@pytest.mark.parametrize("metadata", ["not json", "[]", '{"case": 7}', '{"case": "A", "action": "x"}', ""])
def test_forms_with_metadata_casehub_never_wrote_get_a_clear_refusal(
    slack, fake, database, two_cases, actions_in_both, metadata
):
    a, _ = two_cases
    mine, _ = actions_in_both
    slack.click("action_extend", str(mine.id), user=COORD, channel=a.channel)
    view = {**fake.last_view(), "private_metadata": metadata}
    reply = slack.submit(view, {"due": LATER, "reason": "Waiting for the records office"}, user=COORD)
    assert "out of date or was changed" in json.dumps(reply.json())
    assert action(database, mine.id).due == mine.due


# ---- rights re-checked at the moment of the change --------------------------------------------


def remove_member(slack, agency, user):
    said = slack.ephemeral(slack.command("/agency", f"member remove {agency} <@{user}>", user=ADMIN))
    assert "removed" in said.lower() or "no longer" in said.lower(), said


def test_an_owner_who_lost_their_role_cannot_complete_their_action(
    slack, database, two_cases, actions_in_both
):
    a, _ = two_cases
    mine, _ = actions_in_both
    remove_member(slack, "school", SCHOOL)
    said = slack.ephemeral(slack.click("action_done", str(mine.id), user=SCHOOL, channel=a.channel))
    assert "not in an agency taking part" in said
    assert action(database, mine.id).is_open
    # The positive control: the lead still may.
    slack.click("action_done", str(mine.id), user=COORD, channel=a.channel)
    assert not action(database, mine.id).is_open


def test_whoever_raised_a_crisis_cannot_resolve_it_after_losing_their_role(slack, database, two_cases):
    a, _ = two_cases
    slack.command("/crisis", "Threats made online tonight", user=POLICE, channel=a.channel)
    remove_member(slack, "police", POLICE)
    said = slack.ephemeral(slack.command("/crisis", "resolve Safe at home", user=POLICE, channel=a.channel))
    assert "not in an agency taking part" in said
    with database.reader() as session:
        assert session.scalars(select(Crisis.state)).all() == ["open"]
    slack.command("/crisis", "resolve Safe at home", user=COORD, channel=a.channel)
    with database.reader() as session:
        assert session.scalars(select(Crisis.state)).all() == ["resolved"]


def test_a_filer_who_lost_their_role_cannot_correct_their_update(slack, fake, database, two_cases):
    a, _ = two_cases
    slack.command("/update", "Attended the session and engaged well", user=SCHOOL, channel=a.channel)
    with database.reader() as session:
        [update] = session.scalars(select(Update)).all()
    slack.click("update_edit", str(update.id), user=SCHOOL, channel=a.channel)
    view = fake.last_view()
    remove_member(slack, "school", SCHOOL)
    values = {"observed": "Changed afterwards", "kind": "note", "contact_date": date.today().isoformat()}
    reply = slack.submit(view, values, user=SCHOOL)
    assert "not in an agency taking part" in json.dumps(reply.json())
    with database.reader() as session:
        assert session.get(Update, update.id).observed == "Attended the session and engaged well"


def test_a_lead_who_is_no_longer_a_coordinator_cannot_change_the_case(slack, database, two_cases):
    a, _ = two_cases
    remove_member(slack, "hub", COORD)
    said = slack.ephemeral(slack.command("/case", "stage screening", user=COORD, channel=a.channel))
    assert "no longer a coordinator" in said
    said = slack.ephemeral(slack.command("/review", "every 2 weeks", user=COORD, channel=a.channel))
    assert "no longer a coordinator" in said
