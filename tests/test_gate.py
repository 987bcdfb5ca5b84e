"""One gate on every path to Slack and e-mail: each free text casehub stores to share is checked
for what identifies the person; a finding is refused (on its field in a form, ephemerally and
without the text for a command), names may be confirmed one by one, structured identifiers never."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from blocks import findings
from handlers import register_listeners
from models import Action, Agency, AgencyKind, AuditEvent, Case, Crisis, Review, Role, Transfer, Update
from models.clock import clock as casehub_clock
from models.referral import Referral
from services import agencies, areas, identifiers, sharing_gate
from services.errors import InvalidInput
from services.identifiers import Finding, Kind
from tests.conftest import ADMIN, COORD, POLICE, SCHOOL
from tests.helpers import open_case

TUESDAY = datetime(2026, 12, 8, 11, 0, tzinfo=UTC)
TODAY, IN_A_WEEK = "2026-12-08", "2026-12-15"
PHONE = "07700 900123"
TYPED = f"Call {PHONE} after school"
NAMED = "Met the young person named John Smith at the hub"


@pytest.fixture
def clock():
    with casehub_clock.set_to(TUESDAY, running=True) as moved:
        yield moved


@pytest.fixture
def case(clock, slack, database, registry):
    return open_case(slack, database, agencies=("police", "school"))


def stored(database, model):
    with database.reader() as session:
        return session.scalars(select(model).order_by(model.id)).all()


def overrides(database):
    return [e for e in stored(database, AuditEvent) if e.action == "identifier.overridden"]


def refused_on(reply, field, label="a phone number"):
    answer = reply.json()
    assert answer["response_action"] == "errors", answer
    assert label in answer["errors"][field], answer


def refused_ephemerally(slack, reply, where):
    said = slack.ephemeral(reply)
    assert f"looks like a phone number in {where}" in said, said
    assert PHONE not in said


def never_reached_slack(fake, text=PHONE):
    assert text not in fake.all_text()


# ---- the gate itself --------------------------------------------------------------------------


def test_a_structured_identifier_cannot_be_confirmed():
    with pytest.raises(sharing_gate.IdentifierFound) as refused:
        sharing_gate.check({"text": TYPED})
    [finding] = refused.value.findings
    assert finding.kind is Kind.PHONE and not finding.overridable
    with pytest.raises(sharing_gate.IdentifierFound):
        sharing_gate.check({"text": TYPED}, {sharing_gate.key(finding)})


def test_a_name_confirmed_passes_and_is_returned_for_the_audit():
    with pytest.raises(sharing_gate.IdentifierFound) as refused:
        sharing_gate.check({"observed": NAMED})
    [finding] = refused.value.findings
    assert finding.kind is Kind.NAME and finding.overridable
    assert sharing_gate.check({"observed": NAMED}, {sharing_gate.key(finding)}) == [finding]
    # A confirmation names the field too: the same name elsewhere is asked about again.
    with pytest.raises(sharing_gate.IdentifierFound):
        sharing_gate.check({"concerns": NAMED}, {sharing_gate.key(finding)})


def test_a_refusal_names_the_kind_and_where_but_quotes_only_on_the_field():
    with pytest.raises(sharing_gate.IdentifierFound) as refused:
        sharing_gate.check({"observed": "Fine today", "asks": TYPED})
    error = refused.value
    said = "This looks like a phone number in what you ask of partners, so nothing was saved."
    assert error.message == said
    assert PHONE not in str(error)
    assert list(error.errors()) == ["asks"] and PHONE in error.errors()["asks"]


def test_the_detector_failing_refuses_on_the_field(monkeypatch):
    def unavailable(text, field):
        raise identifiers.DetectorUnavailable()

    monkeypatch.setattr(identifiers, "scan", unavailable)
    with pytest.raises(identifiers.DetectorUnavailable) as refused:
        sharing_gate.check({"observed": "", "concerns": "Anything at all"})
    assert refused.value.field == "concerns"


def test_the_confirmation_box_offers_names_only_and_keeps_what_was_typed():
    view = {
        "type": "modal",
        "callback_id": "update_form",
        "title": {"type": "plain_text", "text": "Case update"},
        "blocks": [
            {
                "type": "input",
                "block_id": "observed",
                "label": {"type": "plain_text", "text": "What was observed or done"},
                "element": {"type": "plain_text_input", "action_id": "value"},
            }
        ],
        "state": {"values": {"observed": {"value": {"type": "plain_text_input", "value": NAMED}}}},
    }
    name = Finding("observed", Kind.NAME, 30, 40, "named John Smith")
    phone = Finding("observed", Kind.PHONE, 0, 5, PHONE)
    assert findings.needs_confirming(view, [phone]) is False
    assert findings.needs_confirming(view, [phone, name]) is True
    again = findings.with_findings(view, [phone, name])
    by_id = {b.get("block_id"): b for b in again["blocks"]}
    assert by_id["observed"]["element"]["initial_value"] == NAMED
    assert [o["value"] for o in by_id["confirm_findings"]["element"]["options"]] == [sharing_gate.key(name)]
    assert len(by_id["finding:observed"]["elements"]) == 2
    assert findings.needs_confirming(again, [phone, name]) is False  # offered: now errors on the field


# ---- every path, over HTTP --------------------------------------------------------------------


def file_update(slack, case, values, user=POLICE):
    slack.command("/update", "", user=user, channel=case.channel)
    values = {"contact_date": TODAY, "kind": "meeting", "observed": "Met at the hub", **values}
    return slack.submit(slack.fake.last_view(), values, user=user)


def add_action_by_form(slack, case, text):
    slack.command("/action", "add", user=COORD, channel=case.channel)
    values = {"text": text, "agency": "school", "owner": SCHOOL, "due": TODAY, "priority": "high"}
    return slack.submit(slack.fake.last_view(), values, user=COORD)


def review_values(**overrides):
    return {
        "held_on": TODAY,
        "present": ["police", "school"],
        "decisions": "Keep the plan as agreed",
        "risk_after": "low",
        "next_review": "2027-01-05",
        **overrides,
    }


def test_quick_note(slack, fake, database, case):
    reply = slack.command("/update", TYPED, user=SCHOOL, channel=case.channel)
    refused_ephemerally(slack, reply, "your note")
    assert stored(database, Update) == []
    never_reached_slack(fake)


@pytest.mark.parametrize("field", ["observed", "protective_factors", "concerns", "asks"])
def test_every_field_of_the_update_form_and_its_correction(slack, fake, database, case, field):
    refused_on(file_update(slack, case, {field: TYPED}), field)
    assert stored(database, Update) == []
    file_update(slack, case, {})
    [update] = stored(database, Update)
    slack.click("update_edit", str(update.id), user=POLICE, channel=case.channel)
    values = {"contact_date": TODAY, "kind": "meeting", "observed": "Met at the hub", field: TYPED}
    refused_on(slack.submit(fake.last_view(), values, user=POLICE), field)
    assert TYPED not in json.dumps([getattr(u, field) for u in stored(database, Update)])
    never_reached_slack(fake)


def test_action_text_by_form_one_line_and_save_anyway(slack, fake, database, case):
    refused_on(add_action_by_form(slack, case, TYPED), "text")
    line = f"add {TYPED} <@{SCHOOL}|s> due:{IN_A_WEEK}"
    refused_ephemerally(slack, slack.command("/action", line, user=COORD, channel=case.channel), "the action")
    prompt = {  # a duplicate prompt's button, as casehub writes one
        "case": case.reference,
        "text": TYPED,
        "agency": None,
        "owner": SCHOOL,
        "due": IN_A_WEEK,
        "priority": "normal",
        "ref": "command:/action:T1",
        "user": COORD,
    }
    reply = slack.click("action_save_anyway", json.dumps(prompt), user=COORD, channel=case.channel)
    refused_ephemerally(slack, reply, "the action")
    assert stored(database, Action) == []
    never_reached_slack(fake)


def test_extension_reason(slack, fake, database, case):
    add_action_by_form(slack, case, "Share attendance")
    [action] = stored(database, Action)
    slack.click("action_extend", str(action.id), user=SCHOOL, channel=case.channel)
    refused_on(slack.submit(fake.last_view(), {"due": IN_A_WEEK, "reason": TYPED}, user=SCHOOL), "reason")
    assert stored(database, Action)[0].due.isoformat() == TODAY
    never_reached_slack(fake)


@pytest.mark.parametrize(
    ("field", "values"),
    [
        ("decisions", {"decisions": TYPED}),
        ("actions", {"actions": f"Share attendance | school | {IN_A_WEEK}\n{TYPED} | school | {IN_A_WEEK}"}),
    ],
)
def test_review_decisions_and_actions_agreed(slack, fake, database, case, field, values):
    slack.command("/review", "record", user=COORD, channel=case.channel)
    refused_on(slack.submit(fake.last_view(), review_values(**values), user=COORD), field)
    assert stored(database, Review) == [] and stored(database, Action) == []
    never_reached_slack(fake)


def test_case_concern_summary(slack, fake, database, clock, registry):
    slack.command("/case", "open", user=COORD)
    values = {"summary": TYPED, "risk": "moderate", "lead": COORD, "agencies": ["police"]}
    refused_on(slack.submit(fake.last_view(), values, user=COORD), "summary")
    assert stored(database, Case) == []
    never_reached_slack(fake)


@pytest.mark.parametrize("field", ["outcome", "lessons"])
def test_close_outcome_and_lessons(slack, fake, database, case, field):
    slack.command("/case", "close", user=COORD, channel=case.channel)
    values = {"outcome": "Support completed", "lessons": "", "follow_ups": [], field: TYPED}
    refused_on(slack.submit(fake.last_view(), values, user=COORD), field)
    assert stored(database, Case)[0].closed_at is None
    never_reached_slack(fake)


def test_crisis_summary_by_command_and_form_and_its_outcome(slack, fake, database, case):
    said = slack.command("/crisis", TYPED, user=SCHOOL, channel=case.channel)
    refused_ephemerally(slack, said, "the summary")
    file_update(slack, case, {"risk": "critical"})
    prompt = next(m for m in fake.posts(case.channel) if m.get("ephemeral_to") == POLICE)
    button = prompt["blocks"][-1]["elements"][0]
    slack.click(button["action_id"], button["value"], user=POLICE, channel=case.channel)
    refused_on(slack.submit(fake.last_view(), {"summary": TYPED}, user=POLICE), "summary")
    assert stored(database, Crisis) == []
    slack.command("/crisis", "Threats made online tonight", user=SCHOOL, channel=case.channel)
    said = slack.command("/crisis", f"resolve {TYPED}", user=COORD, channel=case.channel)
    refused_ephemerally(slack, said, "the outcome")
    assert [c.outcome for c in stored(database, Crisis)] == [None]
    never_reached_slack(fake)


def test_agency_names_by_command_and_import(slack, fake, database, registry):
    said = slack.command("/agency", f'add youth "Youth team {PHONE}" other', user=ADMIN)
    refused_ephemerally(slack, said, "the agency's name")
    with pytest.raises(InvalidInput, match=r"Entry 1 .*a phone number"), database.session() as session:
        data = {"agencies": [{"slug": "youth", "name": f"Youth team {PHONE}"}]}
        agencies.import_registry(session, data, actor="cli", request_ref="cli:test")
    assert [a.slug for a in stored(database, Agency) if a.slug == "youth"] == []
    never_reached_slack(fake)


def test_follow_up_note(slack, fake, database, case):
    slack.command("/case", "close", user=COORD, channel=case.channel)
    slack.submit(fake.last_view(), {"outcome": "Support completed", "follow_ups": ["6,12"]}, user=COORD)
    said = slack.command("/review", f"followup {case.reference} {TODAY} {TYPED}", user=COORD)
    refused_ephemerally(slack, said, "the note")
    assert [e for e in stored(database, AuditEvent) if e.action == "review.follow_up"] == []
    never_reached_slack(fake)


# ---- nothing bypasses it ------------------------------------------------------------------------

# Every command casehub answers, and the free text each stores to share (tested above).
COMMANDS = {
    "/update": ["quick note"],
    "/action": ["action text", "save anyway"],
    "/review": ["follow-up note"],
    "/crisis": ["summary", "outcome"],
    "/agency": ["agency name"],
    "/area": ["area name"],
    "/case": [],  # its free text is typed in the open and close forms
    "/oncall": [],
    "/digest": [],
    "/refer": [],  # its free text is typed in the referral and decide forms
    "/lesson": ["protocol integrated", "reason dropped"],  # the lesson is typed in its form
    "/report": [],  # counts only
}


class Recorder:
    """Stands in for the bolt app to list what casehub listens to."""

    def __init__(self) -> None:
        self.views: set[str] = set()
        self.commands: set[str] = set()

    def view(self, callback_id: str) -> Any:
        self.views.add(callback_id)
        return lambda *args, **kwargs: None

    def command(self, name: str) -> Any:
        self.commands.add(name)
        return lambda *args, **kwargs: None

    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: lambda *a, **k: None


def every_form(slack, fake, database, case) -> list[dict[str, Any]]:
    """Every form casehub opens, opened the way a person opens it."""
    before = len(fake.opened_views)
    slack.command("/update", "", user=POLICE, channel=case.channel)
    file_update(slack, case, {"risk": "critical"})
    [update] = stored(database, Update)
    slack.click("update_edit", str(update.id), user=POLICE, channel=case.channel)
    prompt = next(m for m in fake.posts(case.channel) if m.get("ephemeral_to") == POLICE)
    button = prompt["blocks"][-1]["elements"][0]
    slack.click(button["action_id"], button["value"], user=POLICE, channel=case.channel)
    add_action_by_form(slack, case, "Share attendance")
    [action] = stored(database, Action)
    slack.click("action_extend", str(action.id), user=SCHOOL, channel=case.channel)
    slack.click("action_reassign", str(action.id), user=COORD, channel=case.channel)
    slack.command("/review", "record", user=COORD, channel=case.channel)
    slack.command("/case", "open", user=COORD)
    slack.command("/case", "close", user=COORD, channel=case.channel)
    open_transfer_forms(slack, fake, database, case)
    slack.command("/refer", "", user=SCHOOL)
    referral = {"concern": "Sharing extremist videos in class", "why_now": "This week", "risk": "high"}
    referral |= {"awareness": "unknown", "consent": "not-asked", "urgency": "routine"}
    slack.submit(fake.last_view(), referral, user=SCHOOL)
    [reference] = [r.reference for r in stored(database, Referral)]
    slack.click("referral_decide", reference, user=COORD, channel=case.channel)
    slack.command("/lesson", "add", user=COORD)
    return fake.opened_views[before:]


def open_transfer_forms(slack, fake, database, case) -> None:
    """The receiving hub's forms: the case offered to a second area, answered by its coordinator."""
    fake.add_user("UNCO1")
    with database.session() as session:
        area = areas.add(session, slug="north", name="North County", actor="setup", request_ref="t")
        kind, role = AgencyKind.LOCAL_AUTHORITY, Role.COORDINATOR
        hub = agencies.add(session, slug="north-hub", name="North Hub", kind=kind, actor="s", request_ref="t")
        agencies.set_member(session, agency=hub, user_id="UNCO1", role=role, actor="s", request_ref="t")
        areas.join(session, area=area, agency=hub, actor="setup", request_ref="t")
    reason = "The family has moved to the north."
    slack.command("/case", f"transfer north {reason}", user=COORD, channel=case.channel)
    [transfer] = stored(database, Transfer)
    for which in ("transfer_accept", "transfer_reject"):
        slack.click(f"{which}:{transfer.id}", str(transfer.id), user="UNCO1")


def test_every_free_text_input_of_every_form_goes_through_the_gate(slack, fake, database, case):
    listened = Recorder()
    register_listeners(listened)  # type: ignore[arg-type]
    forms = every_form(slack, fake, database, case)
    assert {form["callback_id"] for form in forms} == listened.views, "a form this test does not open"
    assert listened.commands == set(COMMANDS), "a command this test does not know: does it store text?"
    gated = set(sharing_gate.WHERE) | sharing_gate.NOT_SHARED
    for form in forms:
        for block in form["blocks"]:
            if block.get("type") == "input" and block["element"]["type"] == "plain_text_input":
                assert block["block_id"] in gated, f"{form['callback_id']}: {block['block_id']} is not gated"


def test_every_service_that_stores_shared_text_asks_the_gate():
    """Where the rules live: each service storing a field of `WHERE` calls the gate."""
    services = Path(__file__).parent.parent / "services"
    asks = re.compile(r"sharing_gate\.(check|admit)\(")
    asking = {path.stem for path in services.glob("*.py") if asks.search(path.read_text())}
    assert {"actions", "agencies", "areas", "cases", "crises", "lessons", "reviews", "updates"} <= asking


# ---- overrides, one finding at a time ------------------------------------------------------------


def confirm_all(slack, fake, view, values, user):
    """Submit; the form comes back with a box per name; tick them all and submit again."""
    reply = slack.submit(view, values, user=user)
    assert reply.json()["response_action"] == "update", reply.body
    again = fake.views[view["id"]]
    [box] = [b for b in again["blocks"] if b.get("block_id") == sharing_gate.CONFIRM_FIELD]
    ticked = [o["value"] for o in box["element"]["options"]]
    refused = slack.submit(again, values, user=user)  # not ticked: shown on the field
    assert refused.json()["response_action"] == "errors"
    return slack.submit(again, {**values, sharing_gate.CONFIRM_FIELD: ticked}, user=user)


def test_a_name_in_an_action_is_confirmed_and_audited(slack, fake, database, case):
    slack.command("/action", "add", user=COORD, channel=case.channel)
    values = {"text": NAMED, "agency": "school", "owner": SCHOOL, "due": TODAY, "priority": "high"}
    assert confirm_all(slack, fake, fake.last_view(), values, COORD).body == ""
    assert [a.text for a in stored(database, Action)] == [NAMED]
    [event] = overrides(database)
    assert (event.actor, event.case_id, event.details) == (COORD, case.id, {"field": "text", "kind": "name"})
    assert "John" not in json.dumps([e.details for e in stored(database, AuditEvent)])


def test_a_name_in_the_actions_agreed_at_a_review_is_confirmed_once(slack, fake, database, case):
    slack.command("/review", "record", user=COORD, channel=case.channel)
    values = review_values(actions=f"{NAMED} | school | {IN_A_WEEK}")
    assert confirm_all(slack, fake, fake.last_view(), values, COORD).body == ""
    assert [a.text for a in stored(database, Action)] == [NAMED]
    assert [e.details for e in overrides(database)] == [{"field": "text", "kind": "name"}]


def test_names_in_the_close_form_are_confirmed_each(slack, fake, database, case):
    slack.command("/case", "close", user=COORD, channel=case.channel)
    values = {"outcome": NAMED, "lessons": "Spoke to the family named Jane Doe", "follow_ups": []}
    assert confirm_all(slack, fake, fake.last_view(), values, COORD).body == ""
    assert stored(database, Case)[0].outcome == NAMED
    assert sorted(e.details["field"] for e in overrides(database)) == ["lessons", "outcome"]


def test_a_name_and_a_phone_number_offer_the_name_and_refuse_the_number(slack, fake, database, case):
    slack.command("/update", "", user=POLICE, channel=case.channel)
    view = fake.last_view()
    values = {"contact_date": TODAY, "kind": "meeting", "observed": NAMED, "concerns": TYPED}
    assert slack.submit(view, values, user=POLICE).json()["response_action"] == "update"
    again = fake.views[view["id"]]
    [box] = [b for b in again["blocks"] if b.get("block_id") == sharing_gate.CONFIRM_FIELD]
    ticked = {sharing_gate.CONFIRM_FIELD: [o["value"] for o in box["element"]["options"]]}
    refused_on(slack.submit(again, {**values, **ticked}, user=POLICE), "concerns")
    assert stored(database, Update) == [] and overrides(database) == []


# ---- when the check cannot run ---------------------------------------------------------------------


@pytest.fixture
def detector_down(monkeypatch):
    def unavailable(text, field):
        raise identifiers.DetectorUnavailable()

    monkeypatch.setattr(identifiers, "scan", unavailable)


def test_without_the_detector_nothing_is_stored_and_the_person_is_told(
    slack, fake, database, case, detector_down
):
    answer = file_update(slack, case, {"observed": "Met at the hub"}).json()
    assert answer["response_action"] == "errors" and "cannot check" in answer["errors"]["observed"]
    said = slack.ephemeral(slack.command("/update", "Met at the hub", user=SCHOOL, channel=case.channel))
    assert "cannot check this text" in said
    said = slack.ephemeral(slack.command("/crisis", "Threats made online", user=SCHOOL, channel=case.channel))
    assert "cannot check this text" in said
    assert stored(database, Update) == [] and stored(database, Crisis) == []
