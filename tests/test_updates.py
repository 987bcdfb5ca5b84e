"""Agency updates and the shared picture, over HTTP against the fake Slack."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from models import AuditEvent, SharingRecord, Update, UpdateRevision, clock
from tests.conftest import ADMIN, COORD, OUTSIDER, POLICE, POLICE_OBSERVER, SCHOOL
from tests.helpers import open_case

FULL = {
    "contact_date": None,
    "kind": "home-visit",
    "observed": "Visited the family home; the young person spoke about online forums.",
    "risk": "high",
    "protective_factors": "Close to an older sibling; attends football.",
    "concerns": "Spends nights online; withdrawn at school.",
    "asks": "School: please share attendance for the last month.",
}


@pytest.fixture
def case(slack, database, registry):
    return open_case(slack, database, agencies=("police", "school"))


def file_update(slack, case, user=POLICE, **overrides):
    slack.command("/update", "", user=user, channel=case.channel)
    view = slack.fake.last_view()
    values = {**FULL, "contact_date": date.today().isoformat(), **overrides}
    values = {k: v for k, v in values.items() if v is not None}
    return view, slack.submit(view, values, user=user)


def stored_updates(database):
    with database.reader() as session:
        return session.scalars(select(Update).order_by(Update.id)).all()


def test_full_update_is_stored_posted_and_logged(slack, fake, database, case):
    _view, reply = file_update(slack, case)
    assert reply.status == 200 and reply.body == ""
    [update] = stored_updates(database)
    assert (update.agency.slug, update.filer, update.filer_role) == ("police", POLICE, "member")
    assert update.risk.value == "high" and update.kind.value == "home-visit"
    message = fake.posts(case.channel)[-1]
    text = json.dumps(message["blocks"])
    assert "County Police" in text and "(member)" in text and "online forums" in text
    assert "share attendance" in text and message["ts"] == update.channel_ts
    with database.reader() as session:
        shared = session.scalars(select(SharingRecord)).all()
    assert [(r.to_agency_id is not None, r.kind) for r in shared] == [(True, "home-visit")]
    assert "County Police filed a home-visit update" in shared[0].reason


def test_status_card_shows_each_agencys_risk_and_who_is_silent(slack, database, case):
    file_update(slack, case)
    said = slack.ephemeral(slack.command("/case", "status", user=SCHOOL, channel=case.channel))
    assert "*County Police*: 🟠 high" in said
    assert "Nothing filed yet: Northfield Academy" in said


def test_quick_note(slack, fake, database, case):
    reply = slack.command("/update", "Attended mentoring and engaged well", user=SCHOOL, channel=case.channel)
    assert "filed" in slack.ephemeral(reply)
    [update] = stored_updates(database)
    assert update.kind.value == "note" and update.risk is None and update.agency.slug == "school"
    assert "Attended mentoring" in json.dumps(fake.posts(case.channel)[-1]["blocks"])


@pytest.mark.parametrize(
    "note", ["Help offered at home; the family's worker accepted it", "help", "It's going well at school"]
)
def test_a_note_may_start_with_a_subcommand_word_or_hold_an_apostrophe(slack, fake, database, case, note):
    reply = slack.command("/update", note, user=SCHOOL, channel=case.channel)
    said = slack.ephemeral(reply)
    if note == "help":  # the positive control: the word alone asks for help
        assert "/update <text>" in said and stored_updates(database) == []
        return
    assert "filed" in said
    [update] = stored_updates(database)
    assert update.observed == note


def test_quick_note_with_an_identifier_is_refused(slack, fake, database, case):
    said = slack.ephemeral(
        slack.command("/update", "Call mum on 07700 900123", user=SCHOOL, channel=case.channel)
    )
    assert "looks like a phone number in your note" in said and "nothing was saved" in said
    assert "07700" not in fake.all_text()
    assert stored_updates(database) == []


def test_identifiers_are_flagged_on_the_field_and_only_names_can_be_confirmed(slack, fake, database, case):
    view, reply = file_update(slack, case, concerns="Lives at SW1A 1AA with an uncle.")
    errors = reply.json()["errors"]
    assert list(errors) == ["concerns"] and "a postcode" in errors["concerns"]
    assert "SW1A 1AA" in errors["concerns"]  # quoted on its field, to the person who typed it
    assert stored_updates(database) == []
    named = "Met the young person named John Smith at the hub."
    values = {**FULL, "contact_date": date.today().isoformat(), "observed": named}
    reply = slack.submit(view, values, user=POLICE)
    assert reply.json()["response_action"] == "update"  # the form again, with a box per name
    again = fake.views[view["id"]]
    [box] = [b for b in again["blocks"] if b.get("block_id") == "confirm_findings"]
    [name] = box["element"]["options"]
    assert "John Smith" in name["text"]["text"]
    unticked = slack.submit(again, values, user=POLICE)
    assert "a name" in unticked.json()["errors"]["observed"] and stored_updates(database) == []
    confirmed = slack.submit(again, {**values, "confirm_findings": [name["value"]]}, user=POLICE)
    assert confirmed.body == ""
    assert len(stored_updates(database)) == 1
    with database.reader() as session:
        overrides = select(AuditEvent).where(AuditEvent.action == "identifier.overridden")
        [event] = session.scalars(overrides).all()
    assert (event.actor, event.details) == (POLICE, {"field": "observed", "kind": "name"})


def test_restricted_update_is_a_notice_in_the_channel(slack, fake, database, case):
    file_update(slack, case, restricted=["yes"], observed="Intelligence-adjacent detail for the lead only.")
    message = fake.posts(case.channel)[-1]
    assert "Restricted update" in message["text"] and "high" in message["text"]
    assert "Intelligence-adjacent" not in json.dumps(fake.posts(case.channel))
    with database.reader() as session:
        [record] = session.scalars(select(SharingRecord)).all()
    assert record.to_user == COORD and record.to_agency_id is None


def test_restricted_visibility_in_the_timeline(slack, database, case):
    file_update(slack, case, restricted=["yes"], observed="Detail for the lead only.")
    seen = {
        who: slack.ephemeral(slack.command("/case", "timeline", user=who, channel=case.channel))
        for who in (COORD, POLICE, POLICE_OBSERVER, SCHOOL)
    }
    assert "Detail for the lead only" in seen[COORD]
    assert "Detail for the lead only" in seen[POLICE]
    assert "Detail for the lead only" in seen[POLICE_OBSERVER]  # the filing agency's observer
    assert "Detail for the lead only" not in seen[SCHOOL]
    assert "restricted update filed" in seen[SCHOOL]
    outsider = slack.ephemeral(slack.command("/case", "timeline", user=OUTSIDER, channel=case.channel))
    assert "not in an agency taking part" in outsider and "restricted" not in outsider


def test_observers_and_outsiders_cannot_file(slack, fake, database, case):
    said = slack.ephemeral(slack.command("/update", "a note", user=POLICE_OBSERVER, channel=case.channel))
    assert "Observers read the case" in said
    said = slack.ephemeral(slack.command("/update", "", user=OUTSIDER, channel=case.channel))
    assert "not in an agency taking part" in said
    said = slack.ephemeral(slack.command("/update", "a note", user=POLICE, channel="CGENERAL"))
    assert "works only in a case channel" in said
    assert stored_updates(database) == []


def test_form_refusals_store_nothing(slack, database, case):
    future = (date.today() + timedelta(days=2)).isoformat()
    _, reply = file_update(slack, case, contact_date=future)
    assert "is in the future" in reply.json()["errors"]["contact_date"]
    _, reply = file_update(slack, case, observed="x" * 3001)
    assert reply.json()["errors"]["observed"] == "This is 3001 characters; the limit is 3000."
    _, reply = file_update(slack, case, observed="  ")
    assert "Say what was observed" in reply.json()["errors"]["observed"]
    assert stored_updates(database) == []


def test_closed_case_takes_no_updates(slack, fake, database, case):
    view, _ = None, None
    slack.command("/update", "", user=POLICE, channel=case.channel)
    view = fake.last_view()
    slack.command("/case", "close", user=COORD, channel=case.channel)
    slack.submit(fake.last_view(), {"outcome": "Signposted"}, user=COORD)
    reply = slack.submit(view, {**FULL, "contact_date": date.today().isoformat()}, user=POLICE)
    assert "is closed" in reply.json()["errors"]["observed"]
    said = slack.ephemeral(slack.command("/update", "late note", user=POLICE, channel=case.channel))
    assert "is closed" in said
    assert stored_updates(database) == []


def test_duplicate_submission_stores_one_update(slack, fake, database, case):
    _view, first = file_update(slack, case)
    slack.replay(first)
    assert len(stored_updates(database)) == 1
    assert len([m for m in fake.posts(case.channel) if "update" in m["text"]]) == 1


def test_someone_in_two_agencies_chooses(slack, fake, database, case):
    slack.command("/agency", f"member add school <@{POLICE}>", user=ADMIN)
    said = slack.ephemeral(slack.command("/update", "a note", user=POLICE, channel=case.channel))
    assert "several agencies" in said
    _view, reply = file_update(slack, case, agency="school")
    assert reply.body == ""
    assert stored_updates(database)[-1].agency.slug == "school"


def test_filer_corrects_within_the_window_and_history_keeps_the_original(slack, fake, database, case):
    file_update(slack, case)
    update = stored_updates(database)[0]
    slack.click("update_edit", str(update.id), user=POLICE, channel=case.channel)
    view = fake.last_view()
    assert view["submit"]["text"] == "Save"
    first = slack.submit(
        view,
        {
            **FULL,
            "contact_date": date.today().isoformat(),
            "risk": "moderate",
            "observed": "Corrected: the visit was by phone.",
        },
        user=POLICE,
    )
    slack.replay(first)
    [update] = stored_updates(database)
    assert update.risk.value == "moderate" and update.edited_at is not None
    with database.reader() as session:
        revisions = session.scalars(select(UpdateRevision)).all()
    assert len(revisions) == 1 and "online forums" in revisions[0].content["observed"]
    message = next(m for m in fake.posts(case.channel) if m["ts"] == update.channel_ts)
    assert "_edited_" in json.dumps(message["blocks"]) and "Corrected" in json.dumps(message["blocks"])


def test_only_the_filer_may_correct_and_by_themselves_only_for_thirty_minutes(slack, fake, database, case):
    file_update(slack, case)
    update = stored_updates(database)[0]
    slack.click("update_edit", str(update.id), user=SCHOOL, channel=case.channel)
    assert not [v for v in fake.opened_views if v["submit"]["text"] == "Save"]
    said = [r["text"] for r in fake.responses.values() for r in r]
    assert any("Only the person who filed" in t for t in said)
    with clock.set_to(update.created_at + timedelta(minutes=31)):
        reply = slack.click("update_edit", str(update.id), user=POLICE, channel=case.channel)
    assert reply.status == 200
    # Past the window the filer may only ask the lead to approve a correction (test_rectification).
    assert not [v for v in fake.opened_views if v["submit"]["text"] == "Save"]
    [asking] = [v for v in fake.opened_views if v["submit"]["text"] == "Ask the lead"]
    assert asking["title"]["text"] == "Ask to correct"


def test_critical_risk_offers_a_crisis(slack, fake, database, case):
    file_update(slack, case, risk="critical")
    prompt = [m for m in fake.posts(case.channel) if m.get("ephemeral_to") == POLICE]
    assert prompt and prompt[0]["blocks"][-1]["elements"][0]["action_id"] == "crisis_from_update"


def test_timeline_filters_and_pages_within_block_kit_limits(slack, fake, database, case):
    for i in range(40):
        slack.command("/update", f"Note number {i:02d} from school", user=SCHOOL, channel=case.channel)
    slack.command("/update", "One from police", user=POLICE, channel=case.channel)
    reply = slack.command("/case", "timeline", user=COORD, channel=case.channel)
    first = fake.replies(reply.response_url)[-1]
    assert len(first["blocks"]) <= 50
    text = json.dumps(first["blocks"])
    assert "One from police" in text and "Note number 39" in text and "Note number 00" not in text
    earlier = first["blocks"][-1]["elements"][0]
    assert earlier["action_id"] == "timeline_earlier"
    turned = slack.click("timeline_earlier", earlier["value"], user=COORD, channel=case.channel)
    assert "Page 2 of" in slack.ephemeral(turned)
    police_only = slack.command("/case", "timeline police", user=COORD, channel=case.channel)
    only = json.dumps(fake.replies(police_only.response_url)[-1]["blocks"])
    assert "One from police" in only and "Note number" not in only
    later = slack.command(
        "/case",
        f"timeline since {(date.today() + timedelta(days=1)).isoformat()}",
        user=COORD,
        channel=case.channel,
    )
    assert "Nothing to show" in slack.ephemeral(later)


def test_timeline_shows_agencies_joining_and_stage_moves(slack, database, case):
    slack.command("/case", "agencies add health", user=COORD, channel=case.channel)
    slack.command("/case", "stage screening", user=COORD, channel=case.channel)
    said = slack.ephemeral(slack.command("/case", "timeline", user=SCHOOL, channel=case.channel))
    assert "Community Health" in said and "joined the case" in said
    assert "stage referral → screening" in said


def test_sharing_log_is_for_the_lead(slack, case):
    file_update(slack, case)
    said = slack.ephemeral(slack.command("/case", "sharing", user=COORD, channel=case.channel))
    assert "shared a *home-visit* update with *Northfield Academy*" in said
    said = slack.ephemeral(slack.command("/case", "sharing", user=POLICE, channel=case.channel))
    assert "Only the lead coordinator" in said


def test_update_help(slack):
    said = slack.ephemeral(slack.command("/update", "help", user=POLICE))
    assert "/update <text>" in said and "*Who:*" in said


def test_update_for_an_agency_not_yours_is_refused(slack, fake, database, case):
    slack.command("/agency", f"member add school <@{POLICE}>", user=ADMIN)
    _, reply = file_update(slack, case, agency="housing")
    assert "You cannot file for `housing`" in reply.json()["errors"]["agency"]
    assert stored_updates(database) == []


def test_long_sharing_log_pages(slack, fake, database, case):
    for i in range(20):
        slack.command("/update", f"Note {i:02d} from school", user=SCHOOL, channel=case.channel)
    reply = slack.command("/case", "sharing", user=COORD, channel=case.channel)
    first = fake.replies(reply.response_url)[-1]
    assert len(first["blocks"]) <= 50 and "Page 1 of 2" in json.dumps(first["blocks"])
    earlier = first["blocks"][-1]["elements"][0]
    turned = slack.click(earlier["action_id"], earlier["value"], user=COORD, channel=case.channel)
    assert "Page 2 of 2" in slack.ephemeral(turned)
    refused = slack.click(earlier["action_id"], earlier["value"], user=SCHOOL, channel=case.channel)
    assert "Only the lead coordinator" in slack.ephemeral(refused)
