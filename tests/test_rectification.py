"""Rectification: after the edit window the filer asks, the lead approves or refuses; the
original is kept and the correction shows in the timeline and the sharing log."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from models import AuditEvent, Case, SharingRecord, Update, UpdateCorrection, UpdateRevision, clock
from tests.conftest import COORD, POLICE, SCHOOL
from tests.helpers import open_case

OBSERVED = "Met at the youth centre; he spoke about the forum."
CORRECTED = "Met at the youth centre; he spoke about the forum and about his new job."


@pytest.fixture
def filed(slack, fake, database, registry):
    case = open_case(slack, database, agencies=("police", "school"))
    slack.command("/update", "", user=POLICE, channel=case.channel)
    values = {"contact_date": date.today().isoformat(), "kind": "meeting", "observed": OBSERVED}
    assert slack.submit(fake.last_view(), values, user=POLICE).status == 200
    with database.reader() as session:
        update = session.scalars(select(Update)).one()
    return case, update


REASON = "We learnt more at the next visit about the forum."


def ask(slack, fake, case, update, *, reason=REASON, user=POLICE):
    with clock.set_to(update.created_at + timedelta(days=3)):
        slack.click("update_edit", str(update.id), user=user, channel=case.channel)
        view = fake.last_view()
        assert view["submit"]["text"] == "Ask the lead"
        values = {"contact_date": update.contact_date.isoformat(), "kind": "meeting", "observed": CORRECTED}
        if reason is not None:
            values["correction_reason"] = reason
        return slack.submit(view, values, user=user)


def corrections(database) -> list[UpdateCorrection]:
    with database.reader() as session:
        return list(session.scalars(select(UpdateCorrection)))


def lead_request(fake) -> dict:
    [message] = [m for m in fake.dms(COORD) if "asks to correct" in json.dumps(m.get("blocks"))]
    return message


def test_a_late_correction_waits_for_the_lead_and_replaces_the_update_once_approved(
    slack, fake, database, filed
):
    case, update = filed
    reply = ask(slack, fake, case, update)
    assert reply.status == 200 and not reply.body
    [asked] = corrections(database)
    assert (asked.state, asked.proposed_by) == ("pending", POLICE)
    with database.reader() as session:
        assert session.get_one(Update, update.id).observed == OBSERVED  # nothing changes yet
    request = lead_request(fake)
    text = json.dumps(request["blocks"])
    assert REASON in text and "about his new job" in text
    assert any("is with the lead" in m["text"] for m in fake.dms(POLICE))

    slack.click("correction_approve", str(asked.id), user=COORD, channel=request["channel"])
    slack.click("correction_approve", str(asked.id), user=COORD, channel=request["channel"])  # again
    with database.reader() as session:
        now = session.get_one(Update, update.id)
        assert now.observed == CORRECTED and now.edited_at is not None
        [original] = session.scalars(select(UpdateRevision)).all()  # once, however often clicked
        assert original.content["observed"] == OBSERVED and original.replaced_by == POLICE
        shared = session.scalars(select(SharingRecord).where(SharingRecord.disclosure == "correction")).all()
        assert [s.to_agency_id is not None for s in shared] == [True]  # to the school, again
        [audited] = session.scalars(select(AuditEvent).where(AuditEvent.action == "update.corrected")).all()
        assert audited.actor == COORD and audited.details["filer"] == POLICE
    assert corrections(database)[0].state == "approved"
    assert any("was approved by" in m["text"] for m in fake.dms(POLICE))
    posted = [m for m in fake.posts(case.channel) if "about his new job" in json.dumps(m.get("blocks"))]
    assert posted  # the channel's message shows the update as it now is
    reply = slack.command("/case", "timeline", user=COORD, channel=case.channel)
    timeline = json.dumps(fake.replies(reply.response_url)[-1]["blocks"])
    assert f"corrected an update, approved by <@{COORD}>" in timeline


def test_a_refused_correction_changes_nothing_and_the_filer_is_told(slack, fake, database, filed):
    case, update = filed
    ask(slack, fake, case, update)
    [asked] = corrections(database)
    slack.click("correction_refuse", str(asked.id), user=COORD, channel=lead_request(fake)["channel"])
    with database.reader() as session:
        assert session.get_one(Update, update.id).observed == OBSERVED
        assert session.scalars(select(UpdateRevision)).all() == []
    assert corrections(database)[0].state == "refused"
    assert any("was refused by" in m["text"] for m in fake.dms(POLICE))


def test_only_the_lead_decides(slack, fake, database, filed):
    case, update = filed
    ask(slack, fake, case, update)
    [asked] = corrections(database)
    reply = slack.click("correction_approve", str(asked.id), user=SCHOOL, channel=case.channel)
    said = [r["text"] for r in fake.replies(reply.response_url)]
    assert any("Only the lead coordinator" in t for t in said)
    assert corrections(database)[0].state == "pending"


def test_a_reason_is_required_and_one_request_waits_at_a_time(slack, fake, database, filed):
    case, update = filed
    reply = ask(slack, fake, case, update, reason=None)
    body = json.loads(reply.body)
    assert body["response_action"] == "errors" and "correction_reason" in body["errors"]
    assert corrections(database) == []
    ask(slack, fake, case, update)
    reply = ask(slack, fake, case, update, reason="And another thing we learnt.")
    assert json.loads(reply.body)["response_action"] == "errors"
    assert "waited for the lead" in reply.body
    assert len(corrections(database)) == 1


def test_nobody_but_the_filer_may_ask(slack, fake, database, filed):
    case, update = filed
    with clock.set_to(update.created_at + timedelta(days=3)):
        reply = slack.click("update_edit", str(update.id), user=SCHOOL, channel=case.channel)
    said = [r["text"] for r in fake.replies(reply.response_url)]
    assert any("Only the person who filed" in t for t in said)
    assert not [v for v in fake.opened_views if v["submit"]["text"] == "Ask the lead"]


def test_exports_show_the_corrections_asked_and_what_the_lead_decided(slack, fake, database, filed):
    from services import export, export_pdf
    from tests.test_export import pdf_text

    case, update = filed
    ask(slack, fake, case, update)
    [asked] = corrections(database)
    slack.click("correction_refuse", str(asked.id), user=COORD, channel=lead_request(fake)["channel"])

    def bundle(purpose: export.Purpose) -> export.Bundle:
        with database.reader() as session:
            return export.build(
                session, session.get_one(Case, case.id), purpose, made_by=COORD, made_at=asked.proposed_at,
                via_slack=False, bases={"safeguarding": "Safeguarding"},
            )  # fmt: skip

    [court] = bundle(export.Purpose.COURT).updates[0]["corrections_asked"]
    assert (court["state"], court["reason"], court["decided_by"]) == ("refused", REASON, COORD)
    assert court["proposed"]["observed"] == CORRECTED  # refused: only here is what it would have said
    [subject] = bundle(export.Purpose.SUBJECT).updates[0]["corrections_asked"]
    assert subject["state"] == "refused" and "proposed" not in subject
    text = " ".join(" ".join(pdf_text(export_pdf.render(bundle(export.Purpose.COURT), None))).split())
    assert "Correction asked" in text and "refused by" in text and CORRECTED in text
