"""Opening a case end to end, over HTTP, against the fake Slack."""

from __future__ import annotations

import json
import re
import threading

from sqlalchemy import select, text

from models import AuditEvent, Case, SetupState
from sandbox.slack import BOT_USER
from services.cases import REFERENCE_ALPHABET
from tests.conftest import (
    COORD,
    COORD2,
    OUTSIDER,
    POLICE,
    POLICE_OBSERVER,
    SCHOOL,
)
from tests.helpers import SUMMARY, open_case, wait_for


def test_opening_a_case_makes_a_private_need_to_know_channel(slack, fake, database, registry):
    opened = open_case(slack, database, agencies=("police", "school"), agency_reference="CH-2291-XY")

    assert re.fullmatch(f"[{REFERENCE_ALPHABET}]{{6}}", opened.reference)
    channel = fake.channels[opened.channel]
    assert channel.name == f"case-{opened.reference.lower()}"
    assert channel.is_private
    assert channel.members == {BOT_USER, COORD, POLICE, POLICE_OBSERVER, SCHOOL}
    assert opened.reference in channel.topic
    header = fake.posts(opened.channel)[0]
    assert channel.pins == [header["ts"]]
    header_text = json.dumps(header["blocks"])
    assert f"Case {opened.reference}" in header_text
    for expected in ("County Police", "Northfield Academy", "moderate", "referral", f"<@{COORD}>"):
        assert expected in header_text
    dm = fake.dms(COORD)[-1]["text"]
    assert opened.reference in dm and f"<#{opened.channel}>" in dm


def test_nothing_identifying_reaches_slack(slack, fake, database, registry):
    open_case(slack, database, agency_reference="CH-2291-XY")
    sent = fake.all_text()
    assert "CH-2291-XY" not in sent
    # The concern summary stays out of everything posted to the channel and its metadata.
    assert SUMMARY not in sent


def test_case_record_and_audit_trail(slack, fake, database, registry):
    opened = open_case(slack, database, risk="high", agency_reference="CH-1")
    with database.reader() as session:
        case = session.get_one(Case, opened.id)
        assert case.setup_state is SetupState.READY
        assert case.agency_reference == "CH-1"
        assert case.risk.value == "high"
        events = session.scalars(select(AuditEvent).where(AuditEvent.case_id == case.id)).all()
    actions = [e.action for e in events]
    assert actions == ["case.opened", "case.setup_ready"]
    assert events[0].actor == COORD
    assert events[0].request_ref.startswith("view:V")
    assert events[0].details["agencies"] == ["police", "school"]


def test_audit_trail_refuses_changes(slack, database, registry):
    open_case(slack, database)
    for statement in ("UPDATE audit_events SET actor = 'UX'", "DELETE FROM audit_events"):
        try:
            with database.session() as session:
                session.execute(text(statement))
        except Exception as error:  # the database itself refuses
            assert "append-only" in str(error)
        else:
            raise AssertionError(f"{statement} was allowed")


def test_concurrent_opens_get_distinct_references(slack, fake, database, registry):
    views = []
    for _ in range(8):
        slack.command("/case", "open", user=COORD)
        views.append(fake.last_view())
    values = {"summary": SUMMARY, "risk": "low", "lead": COORD, "agencies": ["police"]}
    threads = [
        threading.Thread(target=slack.submit, args=(view, values), kwargs={"user": COORD, "settle": False})
        for view in views
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    slack.settle()
    with database.reader() as session:
        all_cases = session.scalars(select(Case)).all()
    assert len(all_cases) == 8
    assert len({c.reference for c in all_cases}) == 8
    assert all(c.setup_state is SetupState.READY for c in all_cases)
    assert len({c.channel_id for c in all_cases}) == 8


def test_duplicate_submission_opens_one_case(slack, fake, database, registry):
    slack.command("/case", "open", user=COORD)
    view = fake.last_view()
    values = {"summary": SUMMARY, "risk": "low", "lead": COORD, "agencies": ["police"]}
    slack.submit(view, values, user=COORD)
    slack.submit(view, values, user=COORD)
    with database.reader() as session:
        assert len(session.scalars(select(Case)).all()) == 1
    assert len(fake.calls_to("conversations.create", ok=True)) == 1
    assert len([m for m in fake.dms(COORD) if "is open in" in m["text"]]) == 1


def test_only_coordinators_may_open_cases(slack, fake, database, registry):
    reply = slack.command("/case", "open", user=POLICE)
    assert "Only coordinators may open cases" in slack.ephemeral(reply)
    assert not fake.calls_to("views.open")


def test_form_mistakes_are_shown_on_the_field_and_store_nothing(slack, fake, database, registry):
    slack.command("/case", "open", user=COORD)
    view = fake.last_view()
    short = slack.submit(
        view, {"summary": "too short", "risk": "low", "lead": COORD, "agencies": ["police"]}, user=COORD
    )
    assert short.json() == {
        "response_action": "errors",
        "errors": {"summary": "Describe the concern in at least 10 characters."},
    }
    no_agency = slack.submit(
        view, {"summary": SUMMARY, "risk": "low", "lead": COORD, "agencies": []}, user=COORD
    )
    assert "agencies" in no_agency.json()["errors"]
    # What needs the database is checked after the answer: the form comes back with the
    # problem on top and everything that was typed still in it.
    not_coordinator = slack.submit(
        view,
        {"summary": SUMMARY, "risk": "high", "lead": POLICE, "agencies": ["police", "school"]},
        user=COORD,
    )
    assert not_coordinator.body == ""
    again = fake.last_view()  # opened again with the submission's own trigger
    assert again["callback_id"] == "case_open" and again["id"] != view["id"]
    assert again["blocks"][0]["text"]["text"].startswith(f":warning: *<@{POLICE}> is not a coordinator")
    by_id = {b.get("block_id"): b for b in again["blocks"]}
    assert by_id["summary"]["element"]["initial_value"] == SUMMARY
    assert by_id["risk"]["element"]["initial_option"]["value"] == "high"
    assert by_id["lead"]["element"]["initial_user"] == POLICE
    assert [o["value"] for o in by_id["agencies"]["element"]["initial_options"]] == ["police", "school"]
    fixed = slack.submit(
        again, {"summary": SUMMARY, "risk": "high", "lead": COORD, "agencies": ["police"]}, user=COORD
    )
    assert fixed.body == ""
    with database.reader() as session:
        assert len(session.scalars(select(Case)).all()) == 1


def test_nothing_is_stored_while_the_form_is_wrong(slack, fake, database, registry):
    slack.command("/case", "open", user=COORD)
    view = fake.last_view()
    slack.submit(
        view, {"summary": SUMMARY, "risk": "low", "lead": POLICE, "agencies": ["police"]}, user=COORD
    )
    with database.reader() as session:
        assert session.scalars(select(Case)).all() == []
    assert fake.dms(COORD) == []  # the form said it all; no second telling by DM
    assert not fake.calls_to("conversations.create")


def test_another_coordinator_can_lead(slack, fake, database, registry):
    opened = open_case(slack, database, lead=COORD2)
    assert COORD2 in fake.channels[opened.channel].members
    with database.reader() as session:
        assert session.get_one(Case, opened.id).lead_user_id == COORD2


def test_ack_comes_before_slow_slack_work(slack, fake, database, registry):
    fake.delay("conversations.create", 2.0)
    slack.command("/case", "open", user=COORD)
    reply = slack.submit(
        fake.last_view(),
        {"summary": SUMMARY, "risk": "low", "lead": COORD, "agencies": ["police"]},
        user=COORD,
        settle=False,
    )
    assert reply.status == 200
    # The form was acknowledged before the channel existed: Slack is still being asked for it.
    assert wait_for(lambda: fake.calls_to("conversations.create"))
    with database.reader() as session:
        case = session.scalars(select(Case)).one()
        assert case.channel_id is None
    slack.settle()
    with database.reader() as session:
        assert session.scalars(select(Case)).one().setup_state is SetupState.READY


def test_invite_failure_leaves_a_case_that_retry_completes(slack, fake, database, registry):
    fake.fail("conversations.invite", "fatal_error")
    opened = open_case(slack, database)
    with database.reader() as session:
        case = session.get_one(Case, opened.id)
        assert case.setup_state is SetupState.FAILED
        assert "fatal_error" in (case.setup_error or "")
    notice = fake.dms(COORD)[-1]
    assert "not finished" in json.dumps(notice["blocks"])
    assert notice["blocks"][-1]["elements"][0]["action_id"] == "case_setup_retry"

    slack.click("case_setup_retry", opened.reference, user=COORD)
    with database.reader() as session:
        case = session.get_one(Case, opened.id)
        assert case.setup_state is SetupState.READY
    channel = fake.channels[case.channel_id]
    assert {COORD, POLICE, SCHOOL} <= channel.members
    assert len(fake.calls_to("conversations.create", ok=True)) == 1
    assert len(fake.posts(case.channel_id)) == 1  # one header, not two


def test_a_setup_cut_short_is_reported_once_by_the_sweep_and_retry_completes(
    slack, fake, database, settings, registry
):
    """The process setting up a channel stopped (a deploy, a crash) after recording the case."""
    from datetime import timedelta

    from slack_sdk import WebClient

    from flows.sweep import sweep
    from models import Risk, utcnow
    from sandbox.slack import TOKEN
    from services import cases

    with database.session() as session:
        draft = cases.CaseDraft(SUMMARY, Risk.LOW, COORD, ("police", "school"))
        case, _ = cases.open_case(
            session, draft=draft, opener=COORD, opened_via="view:VLOST", request_ref="x"
        )
        reference = case.reference
    api = WebClient(token=TOKEN, base_url=fake.api_url)

    def told() -> list[dict]:
        return [m for m in fake.dms(COORD) if reference in m["text"] and "not finished" in m["text"]]

    sweep(database, api, settings, now=utcnow() + timedelta(minutes=5))  # it may still be under way
    assert told() == []
    later = utcnow() + timedelta(minutes=11)
    sweep(database, api, settings, now=later)
    sweep(database, api, settings, now=later + timedelta(minutes=1))
    [notice] = told()
    assert "stopped while it was setting up" in json.dumps(notice["blocks"])
    assert notice["blocks"][-1]["elements"][0]["action_id"] == "case_setup_retry"
    with database.reader() as session:
        stored = session.scalars(select(Case).where(Case.reference == reference)).one()
        assert stored.setup_state is SetupState.FAILED
        recorded = session.scalars(select(AuditEvent.action).where(AuditEvent.case_id == stored.id)).all()
    assert "case.setup_interrupted" in recorded

    slack.click("case_setup_retry", reference, user=COORD)
    with database.reader() as session:
        stored = session.scalars(select(Case).where(Case.reference == reference)).one()
        assert stored.setup_state is SetupState.READY
    assert {COORD, POLICE, SCHOOL} <= fake.channels[stored.channel_id].members


def test_retry_is_for_the_lead_only(slack, fake, database, registry):
    fake.fail("chat.postMessage", "fatal_error")
    opened = open_case(slack, database)
    reply = slack.command("/case", f"retry {opened.reference}", user=COORD2)
    assert "Only the lead coordinator" in slack.ephemeral(reply)
    reply = slack.command("/case", f"retry {opened.reference.lower()}", user=COORD)
    with database.reader() as session:
        assert session.get_one(Case, opened.id).setup_state is SetupState.READY


def test_a_channel_made_but_not_confirmed_is_adopted_not_made_twice(slack, fake, database, registry):
    """Slack created the channel, the answer was lost, the client retried: name_taken."""
    fake.lose_answer("conversations.create")
    opened = open_case(slack, database)
    made = [c for c in fake.calls_to("conversations.create") if c.ok]
    assert len(made) == 1  # the retry was refused with name_taken and nothing else was made
    assert fake.calls_to("conversations.create")[-1].error == "name_taken"
    channel = fake.channels[opened.channel]
    assert channel.name == f"case-{opened.reference.lower()}" and channel.is_private
    assert {COORD, POLICE, SCHOOL} <= channel.members
    assert [c.id for c in fake.channels.values() if c.name.startswith("case-")] == [opened.channel]
    with database.reader() as session:
        assert session.get_one(Case, opened.id).setup_state is SetupState.READY
        actions = session.scalars(select(AuditEvent.action)).all()
    assert "case.reference_redrawn" not in actions


def test_channel_name_taken_draws_a_new_reference(slack, fake, database, registry):
    fake.fail("conversations.create", "name_taken")
    opened = open_case(slack, database)
    assert fake.channels[opened.channel].name == f"case-{opened.reference.lower()}"
    with database.reader() as session:
        actions = session.scalars(select(AuditEvent.action)).all()
    assert "case.reference_redrawn" in actions


def test_rate_limits_are_retried_after_retry_after(slack, fake, database, registry):
    fake.rate_limit("conversations.create", retry_after=0)
    fake.server_error("pins.add")
    opened = open_case(slack, database)
    with database.reader() as session:
        assert session.get_one(Case, opened.id).setup_state is SetupState.READY
    assert [c.error for c in fake.calls_to("conversations.create")] == ["http_429", None]


def test_uninvitable_people_are_reported_not_fatal(slack, fake, database, registry):
    fake.users[SCHOOL]["deleted"] = True
    opened = open_case(slack, database)
    assert SCHOOL not in fake.channels[opened.channel].members
    assert POLICE in fake.channels[opened.channel].members
    assert f"<@{SCHOOL}>" in fake.dms(COORD)[-1]["text"]


def test_strangers_in_a_case_channel_are_reported(slack, fake, database, registry):
    opened = open_case(slack, database)
    fake.channels[opened.channel].members.add(OUTSIDER)
    event = {
        "type": "member_joined_channel",
        "user": OUTSIDER,
        "channel": opened.channel,
        "channel_type": "G",
        "team": "T0CASEHUB",
    }
    slack.event(event, event_id="Ev0001")
    slack.event(event, event_id="Ev0001", retry_num=1)  # Slack's retry of the same delivery
    alerts = [m for m in fake.dms(COORD) if "joined the channel" in m["text"]]
    assert len(alerts) == 1
    assert f"<@{OUTSIDER}>" in alerts[0]["text"]
    assert OUTSIDER in fake.channels[opened.channel].members  # not strict: only reported


def test_members_joining_is_not_reported(slack, fake, database, registry):
    opened = open_case(slack, database)
    slack.event({"type": "member_joined_channel", "user": POLICE, "channel": opened.channel})
    assert not [m for m in fake.dms(COORD) if "joined the channel" in m["text"]]


def test_a_refusal_reaches_the_coordinator_when_the_form_cannot_reopen(slack, fake, database, registry):
    slack.command("/case", "open", user=COORD)
    fake.fail("views.open", "expired_trigger_id")
    slack.submit(
        fake.last_view(),
        {"summary": SUMMARY, "risk": "low", "lead": POLICE, "agencies": ["police"]},
        user=COORD,
    )
    assert "is not a coordinator" in fake.dms(COORD)[-1]["text"]
    with database.reader() as session:
        assert session.scalars(select(Case)).all() == []


def test_large_registry_is_searched_as_the_coordinator_types(slack, fake, database, registry):
    from models import AgencyKind
    from services import agencies as agency_service

    with database.session() as session:
        for n in range(110):
            agency_service.add(
                session,
                slug=f"ngo-{n:03d}",
                name=f"Mentoring Project {n}",
                kind=AgencyKind.NGO,
                actor="setup",
                request_ref="test",
            )
    slack.command("/case", "open", user=COORD)
    view = fake.last_view()
    field = next(b for b in view["blocks"] if b.get("block_id") == "agencies")
    assert field["element"]["type"] == "multi_external_select"
    payload = {
        "type": "block_suggestion",
        "team": {"id": "T0CASEHUB"},
        "user": {"id": COORD},
        "api_app_id": "ACASEHUB",
        "action_id": "value",
        "block_id": "agencies",
        "value": "police",
        "view": view,
    }
    reply = slack.post_payload(payload)
    assert reply.status == 200
    assert [o["value"] for o in reply.json()["options"]] == ["police"]
    many = slack.post_payload({**payload, "value": "mentoring"}).json()["options"]
    assert len(many) == 100  # Slack's limit for a menu's options
