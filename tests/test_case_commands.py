"""`/case` subcommands over HTTP: stages, consent, status, agencies, close, help and refusals."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from models import AuditEvent, Case, Consent, Stage
from tests.conftest import COORD, COORD2, HOUSING, OUTSIDER, POLICE, POLICE_OBSERVER, SCHOOL
from tests.helpers import open_case


@pytest.fixture
def case(slack, database, registry):
    return open_case(slack, database)


def stage_of(database, case_id):
    with database.reader() as session:
        return session.get_one(Case, case_id).stage


def test_lead_moves_the_case_on_and_the_header_follows(slack, fake, database, case):
    reply = slack.command("/case", "stage screening", user=COORD, channel=case.channel)
    assert reply.status == 200
    assert stage_of(database, case.id) is Stage.SCREENING
    header = fake.posts(case.channel)[0]
    assert header["edits"] == 1 and "screening" in json.dumps(header["blocks"])
    assert "screening" in fake.channels[case.channel].topic
    assert any("moved from referral to *screening*" in m["text"] for m in fake.posts(case.channel))


def test_illegal_moves_are_refused_with_the_allowed_ones(slack, database, case):
    reply = slack.command("/case", "stage support", user=COORD, channel=case.channel)
    said = slack.ephemeral(reply)
    assert "cannot move from referral to support" in said
    assert "`screening`, `exit`" in said
    assert stage_of(database, case.id) is Stage.REFERRAL


def test_unknown_stage_lists_the_stages(slack, case):
    said = slack.ephemeral(slack.command("/case", "stage sideways", user=COORD, channel=case.channel))
    assert "`sideways` is not a stage" in said and "panel-decision" in said


def test_only_the_lead_moves_stages(slack, database, case):
    said = slack.ephemeral(slack.command("/case", "stage screening", user=COORD2, channel=case.channel))
    assert "Only the lead coordinator" in said
    assert stage_of(database, case.id) is Stage.REFERRAL


def walk_to_panel(slack, case):
    for stage in ("screening", "assessment", "panel-decision"):
        slack.command("/case", f"stage {stage}", user=COORD, channel=case.channel)


def test_support_needs_consent(slack, database, case):
    walk_to_panel(slack, case)
    said = slack.ephemeral(slack.command("/case", "stage support", user=COORD, channel=case.channel))
    assert "Support needs consent on record" in said
    assert stage_of(database, case.id) is Stage.PANEL_DECISION
    slack.command("/case", "consent given 2026-11-20", user=COORD, channel=case.channel)
    slack.command("/case", "stage support", user=COORD, channel=case.channel)
    assert stage_of(database, case.id) is Stage.SUPPORT
    with database.reader() as session:
        stored = session.get_one(Case, case.id)
        assert stored.consent is Consent.GIVEN and stored.consent_date == date(2026, 11, 20)


def test_withdrawn_consent_moves_back_to_panel_and_tells_the_coordinator(slack, fake, database, case):
    walk_to_panel(slack, case)
    slack.command("/case", "consent given", user=COORD, channel=case.channel)
    slack.command("/case", "stage support", user=COORD, channel=case.channel)
    slack.command("/case", "consent withdrawn", user=COORD, channel=case.channel)
    assert stage_of(database, case.id) is Stage.PANEL_DECISION
    assert "withdrawn" in fake.dms(COORD)[-1]["text"]
    with database.reader() as session:
        reasons = [
            e.details.get("reason")
            for e in session.scalars(select(AuditEvent).where(AuditEvent.action == "case.stage"))
        ]
    assert "consent withdrawn" in reasons


def test_consent_refusals(slack, database, case):
    future = (date.today() + timedelta(days=3)).isoformat()
    said = slack.ephemeral(
        slack.command("/case", f"consent given {future}", user=COORD, channel=case.channel)
    )
    assert "is in the future" in said
    said = slack.ephemeral(slack.command("/case", "consent maybe", user=COORD, channel=case.channel))
    assert "given, withdrawn or not-required" in said
    said = slack.ephemeral(
        slack.command("/case", "consent given 20/11/2026", user=COORD, channel=case.channel)
    )
    assert "YYYY-MM-DD" in said
    with database.reader() as session:
        assert session.get_one(Case, case.id).consent is Consent.NOT_RECORDED


def test_status_card_for_participants_only(slack, fake, case):
    said = slack.ephemeral(slack.command("/case", "status", user=POLICE_OBSERVER, channel=case.channel))
    assert f"Case {case.reference}" in said and "County Police" in said
    said = slack.ephemeral(slack.command("/case", "status", user=OUTSIDER, channel=case.channel))
    assert "not in an agency taking part" in said and "County Police" not in said


def test_case_commands_outside_a_case_channel_say_where_to_run_them(slack, case):
    for text in ("status", "stage screening", "consent given", "agencies add health", "close"):
        said = slack.ephemeral(slack.command("/case", text, user=COORD, channel="CGENERAL"))
        assert "works only in a case channel" in said, text


def test_list_shows_the_cases_i_lead(slack, database, case):
    other = open_case(slack, database, lead=COORD2)
    said = slack.ephemeral(slack.command("/case", "list", user=COORD))
    assert case.reference in said and other.reference not in said


def test_adding_and_removing_agencies_follows_need_to_know(slack, fake, database, case):
    slack.command("/case", "agencies add housing", user=COORD, channel=case.channel)
    assert HOUSING in fake.channels[case.channel].members
    slack.command("/case", "agencies remove school", user=COORD, channel=case.channel)
    members = fake.channels[case.channel].members
    assert SCHOOL not in members and POLICE in members
    header = json.dumps(fake.posts(case.channel)[0]["blocks"])
    assert "City Housing" in header and "Northfield Academy" not in header
    with database.reader() as session:
        actions = session.scalars(select(AuditEvent.action).where(AuditEvent.case_id == case.id)).all()
    assert "case.agency.added" in actions and "case.agency.removed" in actions


def test_agency_change_refusals(slack, fake, case):
    said = slack.ephemeral(slack.command("/case", "agencies add nowhere", user=COORD, channel=case.channel))
    assert "There is no agency `nowhere`" in said
    said = slack.ephemeral(slack.command("/case", "agencies add police", user=COORD, channel=case.channel))
    assert "already takes part" in said
    said = slack.ephemeral(slack.command("/case", "agencies add housing", user=POLICE, channel=case.channel))
    assert "Only the lead coordinator" in said
    assert HOUSING not in fake.channels[case.channel].members
    slack.command("/case", "agencies remove school", user=COORD, channel=case.channel)
    said = slack.ephemeral(slack.command("/case", "agencies remove police", user=COORD, channel=case.channel))
    assert "at least one participating agency" in said
    said = slack.ephemeral(slack.command("/case", "agencies swap police", user=COORD, channel=case.channel))
    assert "Say add or remove" in said


def test_duplicate_command_delivery_changes_once(slack, fake, database, case):
    first = slack.command("/case", "agencies add housing", user=COORD, channel=case.channel)
    slack.replay(first)
    with database.reader() as session:
        added = session.scalars(select(AuditEvent).where(AuditEvent.action == "case.agency.added")).all()
    assert len(added) == 1
    joined = [m for m in fake.posts(case.channel) if "has joined this case" in m["text"]]
    assert len(joined) == 1
    assert len(fake.replies(first.response_url)) == 1


def test_close_records_outcome_and_archives(slack, fake, database, case):
    slack.command("/case", "close", user=COORD, channel=case.channel)
    view = fake.last_view()
    assert view["callback_id"] == "case_close"
    missing = slack.submit(view, {"outcome": "  ", "lessons": ""}, user=COORD)
    assert missing.json()["errors"] == {"outcome": "Say what the outcome was."}
    slack.submit(view, {"outcome": "Support completed", "lessons": "Involve housing earlier"}, user=COORD)
    with database.reader() as session:
        stored = session.get_one(Case, case.id)
        assert stored.stage is Stage.CLOSED and stored.outcome == "Support completed"
        assert stored.lessons == "Involve housing earlier" and stored.channel_archived
    assert fake.channels[case.channel].archived
    assert "is closed" in fake.posts(case.channel)[-1]["text"]
    assert "Support completed" not in fake.all_text()
    said = slack.ephemeral(slack.command("/case", "stage exit", user=COORD, channel=case.channel))
    assert "is closed" in said


def test_only_the_lead_closes(slack, fake, case):
    said = slack.ephemeral(slack.command("/case", "close", user=COORD2, channel=case.channel))
    assert "Only the lead coordinator" in said
    assert not [v for v in fake.opened_views if v["callback_id"] == "case_close"]


def test_failed_archive_is_retried_without_a_second_closing_message(slack, fake, database, case):
    fake.fail("conversations.archive", "fatal_error")
    slack.command("/case", "close", user=COORD, channel=case.channel)
    slack.submit(fake.last_view(), {"outcome": "Signposted to mentoring"}, user=COORD)
    notice = fake.dms(COORD)[-1]
    assert notice["blocks"][-1]["elements"][0]["action_id"] == "case_archive_retry"
    assert not fake.channels[case.channel].archived
    slack.click("case_archive_retry", case.reference, user=COORD)
    assert fake.channels[case.channel].archived
    closing = [m for m in fake.posts(case.channel) if m["text"] == "This case is closed."]
    assert len(closing) == 1


@pytest.mark.parametrize("text", ["", "help", "frobnicate"])
def test_case_help(slack, text):
    said = slack.ephemeral(slack.command("/case", text, user=OUTSIDER))
    assert "/case stage <stage>" in said and "*Example:*" in said and "*Who:*" in said
