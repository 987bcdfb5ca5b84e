"""Transfers between areas: offered by the sending lead, answered by the receiving hub before a
deadline, and on acceptance the case's area, lead, agencies and channel changed at once."""

from __future__ import annotations

import json
import threading
from datetime import UTC, date, datetime, timedelta

import pytest
from slack_sdk import WebClient
from sqlalchemy import select

from blocks import transfers as transfer_blocks
from flows.sweep import sweep
from models import (
    Action,
    AgencyKind,
    AuditEvent,
    Case,
    Disclosure,
    Notice,
    Role,
    SharingRecord,
    Transfer,
    TransferState,
    clock,
)
from sandbox import blockkit
from sandbox.slack import BOT_USER, TOKEN
from services import agencies, areas, transfers
from services.worktime import WorkingHours, close_of_working_day
from tests.conftest import COORD, COORD2, POLICE, SCHOOL
from tests.helpers import open_case

MONDAY = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)  # London is on UTC in December
# Five working days on: Monday 14 December, at the end of working hours.
DEADLINE = datetime(2026, 12, 14, 18, 0, tzinfo=UTC)
NORTH_COORD, NORTH_COORD2, NORTH_SCHOOL = "UNCO1", "UNCO2", "UNSC1"
SOUTH_COORD = "USCO1"
REASON = "The family has moved to the north of the county; support continues there."


@pytest.fixture
def moment():
    with clock.set_to(MONDAY, running=True) as moved:
        yield moved


@pytest.fixture
def north(database, fake, registry):
    """A second area with its own hub and school, the police taking part in both; a third area
    with a coordinator of its own."""
    for user in (NORTH_COORD, NORTH_COORD2, NORTH_SCHOOL, SOUTH_COORD):
        fake.add_user(user)
    hub_channel = fake.add_channel("north-hub", members={BOT_USER, NORTH_COORD})
    with database.session() as session:
        area = areas.add(session, slug="north", name="North County", actor="setup", request_ref="t")
        area.hub_channel_id = hub_channel
        south = areas.add(session, slug="south", name="South County", actor="setup", request_ref="t")
        layout = {
            "north-hub": ("North Hub", AgencyKind.LOCAL_AUTHORITY, {NORTH_COORD: Role.COORDINATOR}, area),
            "north-school": ("Northern College", AgencyKind.EDUCATION, {NORTH_SCHOOL: Role.MEMBER}, area),
            "south-hub": ("South Hub", AgencyKind.LOCAL_AUTHORITY, {SOUTH_COORD: Role.COORDINATOR}, south),
        }
        for slug, (name, kind, members, where) in layout.items():
            agency = agencies.add(session, slug=slug, name=name, kind=kind, actor="setup", request_ref="t")
            for user, role in members.items():
                agencies.set_member(
                    session, agency=agency, user_id=user, role=role, actor="s", request_ref="t"
                )
            areas.join(session, area=where, agency=agency, actor="setup", request_ref="t")
        hub = agencies.get(session, "north-hub")
        agencies.set_member(
            session, agency=hub, user_id=NORTH_COORD2, role=Role.COORDINATOR, actor="s", request_ref="t"
        )
        areas.join(session, area=area, agency=agencies.get(session, "police"), actor="s", request_ref="t")
    return hub_channel


@pytest.fixture
def case(moment, slack, database, north):
    return open_case(slack, database, agencies=("police", "school"))


@pytest.fixture
def api(fake):
    return WebClient(token=TOKEN, base_url=fake.api_url)


def offer(slack, case, text=f"north {REASON}", user=COORD):
    return slack.command("/case", f"transfer {text}", user=user, channel=case.channel)


def the_transfer(database) -> Transfer:
    with database.reader() as session:
        return session.scalars(select(Transfer).order_by(Transfer.id.desc())).first()


def card_of(fake, user):
    """The offer card in a coordinator's direct messages, and its Accept and Reject buttons."""
    message = next(m for m in reversed(fake.dms(user)) if "Transfer offer" in json.dumps(m.get("blocks")))
    buttons = next(b for b in message["blocks"] if b["type"] == "actions")["elements"]
    return message, {b["action_id"].split(":")[0]: b for b in buttons}


def click(slack, fake, user, which, owner=NORTH_COORD):
    message, buttons = card_of(fake, owner)
    button = buttons[which]
    return slack.click(
        button["action_id"], button["value"], user=user, channel=f"D{owner}", message_ts=message["ts"]
    )


def audit_actions(database, case_id):
    with database.reader() as session:
        return list(session.scalars(select(AuditEvent.action).where(AuditEvent.case_id == case_id)))


# Offering.


def test_offer_tells_the_receiving_hub_and_changes_nothing_else(slack, fake, database, case, north):
    said = slack.ephemeral(offer(slack, case))
    assert "offered to *North County*" in said and "2026-12-14 18:00 (Europe/London)" in said
    transfer = the_transfer(database)
    assert transfer.state is TransferState.OFFERED and transfer.deadline == DEADLINE
    assert transfer.reason == REASON and transfer.hub_channel_id == north
    with database.reader() as session:
        stored = session.get_one(Case, case.id)
        assert stored.lead_user_id == COORD and areas.get(session, "main").id == stored.area_id
    for user in (NORTH_COORD, NORTH_COORD2):
        card = json.dumps(card_of(fake, user)[0]["blocks"])
        assert case.reference in card and "Main partnership" in card
        assert "education" in card and "police" in card and "family has moved" in card
        assert "Concerning online activity" not in card  # never the summary
        assert "no consent on record" in card
    hub_card = json.dumps([m["blocks"] for m in fake.posts(north)])
    assert "Accept" in hub_card and case.reference in hub_card
    assert the_transfer(database).hub_ts is not None
    assert any("offered this case to North County" in m["text"] for m in fake.posts(case.channel))
    # The sending lead keeps every right meanwhile, and partners see where it stands.
    said = slack.ephemeral(slack.command("/case", "stage screening", user=COORD, channel=case.channel))
    assert "Only the lead" not in said
    status = slack.ephemeral(slack.command("/case", "transfer", user=POLICE, channel=case.channel))
    assert "offered to *North County*" in status and "family has moved" in status
    assert "case.transfer.offered" in audit_actions(database, case.id)
    with database.reader() as session:  # what the offer showed, and to whom
        shown = session.scalars(select(SharingRecord).where(SharingRecord.kind == transfers.OFFER_KIND)).all()
        assert sorted(r.to_user for r in shown) == [NORTH_COORD, NORTH_COORD2]
        assert all(r.disclosure == Disclosure.TRANSFER.value for r in shown)


def test_a_hub_channel_casehub_is_not_in_holds_nothing_up(slack, fake, database, case):
    elsewhere = fake.add_channel("not-ours", members={NORTH_COORD})
    with database.session() as session:
        areas.get(session, "north").hub_channel_id = elsewhere
    said = slack.ephemeral(offer(slack, case))
    assert "hub's channel could not be reached" in said
    assert card_of(fake, NORTH_COORD) and card_of(fake, NORTH_COORD2)
    assert the_transfer(database).state is TransferState.OFFERED


def test_a_repeated_offer_delivery_records_and_tells_once(slack, fake, database, case):
    first = offer(slack, case)
    slack.replay(first)
    with database.reader() as session:
        assert len(session.scalars(select(Transfer)).all()) == 1
    assert len([m for m in fake.dms(NORTH_COORD) if "Transfer offer" in json.dumps(m.get("blocks"))]) == 1


@pytest.mark.parametrize(
    ("user", "text", "expected"),
    [
        (COORD, f"nowhere {REASON}", "There is no area `nowhere`"),
        (COORD, f"main {REASON}", "is in Main"),
        (COORD, "north", "Say why the case should move"),
        (POLICE, f"north {REASON}", "Only the lead coordinator"),
        (COORD2, f"north {REASON}", "Only the lead coordinator"),
    ],
)
def test_offer_refusals_record_nothing(slack, database, case, user, text, expected):
    said = slack.ephemeral(offer(slack, case, text, user=user))
    assert expected in said, said
    with database.reader() as session:
        assert session.scalars(select(Transfer)).all() == []


def test_offer_of_a_closed_case_is_refused(slack, fake, database, case):
    slack.command("/case", "close", user=COORD, channel=case.channel)
    slack.submit(fake.last_view(), {"outcome": "Support completed"}, user=COORD)
    said = slack.ephemeral(offer(slack, case))
    assert "is closed" in said
    assert the_transfer(database) is None


def test_a_second_offer_while_one_is_open_is_refused(slack, database, case):
    offer(slack, case)
    said = slack.ephemeral(offer(slack, case, f"south {REASON}"))
    assert "already offered to North County" in said and "/case transfer cancel" in said
    with database.reader() as session:
        assert len(session.scalars(select(Transfer)).all()) == 1


def test_two_offers_at_the_same_moment_make_one(slack, database, case):
    replies = []

    def send(text):
        replies.append(offer(slack, case, text, user=COORD))

    threads = [threading.Thread(target=send, args=(f"{slug} {REASON}",)) for slug in ("north", "south")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    slack.settle()
    with database.reader() as session:
        assert len(session.scalars(select(Transfer)).all()) == 1
    said = "\n".join(slack.ephemeral(r) for r in replies)
    assert "already offered" in said and "Something went wrong" not in said


def test_an_identifier_in_the_reason_is_refused(slack, database, case):
    said = slack.ephemeral(offer(slack, case, "north moved, call 07700 900123 to reach the mother"))
    assert "nothing was saved" in said
    assert the_transfer(database) is None


# Accepting.


def accept_form(slack, fake, user=NORTH_COORD):
    click(slack, fake, user, transfer_blocks.ACCEPT)
    view = fake.last_view()
    assert view["callback_id"] == transfer_blocks.ACCEPT_FORM
    return view


def test_acceptance_moves_area_lead_agencies_channel_and_records_the_sharing(slack, fake, database, case):
    slack.command(
        "/action",
        f"add Share attendance <@{SCHOOL}> due:{date(2026, 12, 20).isoformat()}",
        user=COORD,
        channel=case.channel,
    )
    offer(slack, case)
    view = accept_form(slack, fake)
    lead = next(b for b in view["blocks"] if b.get("block_id") == "lead")["element"]
    assert lead["initial_user"] == NORTH_COORD
    chosen = next(b for b in view["blocks"] if b.get("block_id") == "agencies")["element"]
    assert [o["value"] for o in chosen["initial_options"]] == ["police"]  # in both areas
    values = {"lead": NORTH_COORD2, "agencies": ["police", "north-school"], "note": "Welcome"}
    refused = slack.submit(view, values, user=NORTH_COORD)
    assert "consent_override" in refused.json()["errors"]  # no consent on record: an override
    assert the_transfer(database).state is TransferState.OFFERED
    answer = slack.submit(view, {**values, "consent_override": ["without-consent"]}, user=NORTH_COORD)
    assert answer.status == 200 and not answer.body
    with database.reader() as session:
        stored = session.get_one(Case, case.id)
        assert stored.area_id == areas.get(session, "north").id and stored.lead_user_id == NORTH_COORD2
        assert sorted(a.slug for a in stored.agencies) == ["north-school", "police"]
        left = [p for p in stored.participations if p.left_at is not None]
        assert [p.agency.slug for p in left] == ["school"]
        shared = session.scalars(
            select(SharingRecord).where(
                SharingRecord.disclosure == Disclosure.TRANSFER.value, SharingRecord.kind == "case"
            )
        ).all()
        north_school = agencies.get(session, "north-school").id
        assert {(r.to_agency_id, r.to_user) for r in shared} == {(north_school, None), (None, NORTH_COORD2)}
        assert all(r.kind == "case" and "North County" in r.reason for r in shared)
        action = session.scalars(select(Action)).one()
        assert action.owner == SCHOOL and action.is_open  # open actions stay with their owners
    transfer = the_transfer(database)
    assert transfer.state is TransferState.ACCEPTED and transfer.new_lead == NORTH_COORD2
    log = slack.ephemeral(slack.command("/case", "sharing", user=NORTH_COORD2, channel=case.channel))
    assert "transferred the case to another area: *Northern College* receives the case's information" in log
    assert "offered the case to another area: its reference and facts went to" in log
    assert transfer.decided_by == NORTH_COORD and transfer.decision_reason == "Welcome"
    members = fake.channels[case.channel].members
    assert {NORTH_COORD2, NORTH_SCHOOL, POLICE} <= members
    assert COORD not in members and SCHOOL not in members
    assert "case.transfer.accepted" in audit_actions(database, case.id)
    assert "case.transfer.consent_overridden" in audit_actions(database, case.id)
    briefing = json.dumps(fake.dms(NORTH_COORD2)[-1]["blocks"])
    assert "you are its lead coordinator" in briefing and "Share attendance" in briefing
    assert any("accepted case" in m["text"] and "Welcome" in m["text"] for m in fake.dms(COORD))
    assert any("has moved from Main" in m["text"] for m in fake.posts(case.channel))
    header = json.dumps(fake.posts(case.channel)[0]["blocks"])
    assert f"<@{NORTH_COORD2}>" in header
    # The cards are closed, and the new lead now has the lead's rights; the old one none.
    assert "Accepted by" in json.dumps(card_of_closed(fake, NORTH_COORD2))
    said = slack.ephemeral(slack.command("/case", "stage screening", user=COORD, channel=case.channel))
    assert "Only the lead coordinator" in said
    said = slack.ephemeral(slack.command("/case", "stage screening", user=NORTH_COORD2, channel=case.channel))
    assert "Only the lead" not in said


def card_of_closed(fake, user):
    return [m["blocks"] for m in fake.dms(user) if "Transfer offer" in json.dumps(m.get("blocks"))]


def test_a_repeated_acceptance_changes_and_tells_once(slack, fake, database, case):
    slack.command("/case", "consent given", user=COORD, channel=case.channel)
    offer(slack, case)
    view = accept_form(slack, fake)
    assert not any(b.get("block_id") == "consent_override" for b in view["blocks"])
    answer = slack.submit(view, {"lead": NORTH_COORD, "agencies": ["police"]}, user=NORTH_COORD)
    slack.replay(answer)
    with database.reader() as session:
        shared = session.scalars(
            select(SharingRecord).where(
                SharingRecord.disclosure == Disclosure.TRANSFER.value, SharingRecord.kind == "case"
            )
        ).all()
        assert len(shared) == 1  # the new lead; the police saw the case already
        accepted = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "case.transfer.accepted")
        ).all()
        assert len(accepted) == 1
        assert "case.transfer.consent_overridden" not in audit_actions(database, case.id)
    assert len([m for m in fake.dms(COORD) if "accepted case" in m["text"]]) == 1


def test_only_the_receiving_areas_coordinators_answer(slack, fake, database, case):
    offer(slack, case)
    for user in (SOUTH_COORD, COORD, POLICE):
        said = slack.ephemeral(click(slack, fake, user, transfer_blocks.ACCEPT))
        assert "Only coordinators of North County" in said, user
    # Checked again at submission: a new lead from outside the area is refused on its field.
    view = accept_form(slack, fake)
    refused = slack.submit(view, {"lead": SOUTH_COORD, "agencies": ["police"]}, user=NORTH_COORD)
    assert "not a coordinator of North County" in refused.json()["errors"]["lead"]
    refused = slack.submit(view, {"lead": NORTH_COORD, "agencies": ["school"]}, user=NORTH_COORD)
    assert "does not take part in North County" in refused.json()["errors"]["agencies"]
    assert the_transfer(database).state is TransferState.OFFERED


def test_acting_after_the_deadline_is_refused(slack, fake, database, case, moment):
    offer(slack, case)
    view = accept_form(slack, fake)
    moment.move_to(DEADLINE + timedelta(minutes=1))
    refused = slack.submit(
        view,
        {"lead": NORTH_COORD, "agencies": ["police"], "consent_override": ["without-consent"]},
        user=NORTH_COORD,
    )
    assert "expired on 2026-12-14" in json.dumps(refused.json())
    said = slack.ephemeral(click(slack, fake, NORTH_COORD, transfer_blocks.REJECT))
    assert "expired on 2026-12-14" in said and "ask the sending lead to offer it again" in said
    with database.reader() as session:
        assert session.get_one(Case, case.id).lead_user_id == COORD


# Rejecting and withdrawing.


def test_rejection_tells_the_sending_lead_and_leaves_the_case(slack, fake, database, case, north):
    offer(slack, case)
    click(slack, fake, NORTH_COORD2, transfer_blocks.REJECT, owner=NORTH_COORD2)
    view = fake.last_view()
    assert view["callback_id"] == transfer_blocks.REJECT_FORM
    refused = slack.submit(view, {"reason": "  "}, user=NORTH_COORD2)
    assert "Say why" in refused.json()["errors"]["reason"]
    slack.submit(view, {"reason": "The family has not moved yet; ask again in January."}, user=NORTH_COORD2)
    transfer = the_transfer(database)
    assert transfer.state is TransferState.REJECTED and transfer.decided_by == NORTH_COORD2
    assert any("rejected the transfer" in m["text"] and "January" in m["text"] for m in fake.dms(COORD))
    with database.reader() as session:
        stored = session.get_one(Case, case.id)
        assert stored.lead_user_id == COORD and sorted(a.slug for a in stored.agencies) == [
            "police",
            "school",
        ]
    hub = [m for m in fake.posts(north) if "Transfer offer" in json.dumps(m.get("blocks"))]
    assert "Rejected by" in json.dumps(hub[-1]["blocks"])
    assert not any(b["type"] == "actions" for b in hub[-1]["blocks"])
    assert "case.transfer.rejected" in audit_actions(database, case.id)
    # A new offer may follow.
    assert "offered to" in slack.ephemeral(offer(slack, case))


def test_the_lead_withdraws_an_offer_and_the_hub_is_told(slack, fake, database, case):
    offer(slack, case)
    said = slack.ephemeral(slack.command("/case", "transfer cancel", user=COORD, channel=case.channel))
    assert "withdrawn" in said
    assert the_transfer(database).state is TransferState.REVOKED
    for user in (NORTH_COORD, NORTH_COORD2):
        assert any("has withdrawn the offer" in m["text"] for m in fake.dms(user))
    closed = card_of_closed(fake, NORTH_COORD)[-1]
    assert "Withdrawn by" in json.dumps(closed) and not any(b["type"] == "actions" for b in closed)
    # A button kept from before (on a card Slack could not change) refuses.
    transfer_id = the_transfer(database).id
    stale = slack.click(f"{transfer_blocks.ACCEPT}:{transfer_id}", str(transfer_id), user=NORTH_COORD)
    assert "withdrawn by the sending lead" in slack.ephemeral(stale)
    said = slack.ephemeral(slack.command("/case", "transfer cancel", user=COORD, channel=case.channel))
    assert "has no open transfer offer" in said
    said = slack.ephemeral(slack.command("/case", "transfer", user=COORD, channel=case.channel))
    assert "not offered to another area" in said


def test_only_the_lead_withdraws(slack, database, case):
    offer(slack, case)
    said = slack.ephemeral(slack.command("/case", "transfer cancel", user=POLICE, channel=case.channel))
    assert "Only the lead coordinator" in said
    assert the_transfer(database).state is TransferState.OFFERED


# Reminders and expiry.


def sent_keys(database, transfer_id):
    with database.reader() as session:
        return sorted(
            n.key
            for n in session.scalars(select(Notice).where(Notice.key.startswith(f"transfer:{transfer_id}:")))
        )


def test_reminders_before_the_deadline_and_expiry_after_it(slack, fake, database, settings, api, case):
    offer(slack, case)
    transfer = the_transfer(database)
    sweep(database, api, settings, now=datetime(2026, 12, 9, 12, 0, tzinfo=UTC))  # Wednesday: nothing
    assert not [k for k in sent_keys(database, transfer.id) if "days" in k or "day" in k.split(":")[2]]
    sweep(database, api, settings, now=datetime(2026, 12, 10, 9, 0, tzinfo=UTC))  # Thursday
    assert any("two working days left" in m["text"] for m in fake.dms(NORTH_COORD2))
    sweep(database, api, settings, now=datetime(2026, 12, 10, 9, 5, tzinfo=UTC))  # again: nothing more
    assert len([m for m in fake.dms(NORTH_COORD2) if "two working days" in m["text"]]) == 1
    sweep(database, api, settings, now=datetime(2026, 12, 11, 9, 0, tzinfo=UTC))  # Friday
    assert any("one working day left" in m["text"] for m in fake.dms(NORTH_COORD))
    sweep(database, api, settings, now=datetime(2026, 12, 14, 9, 0, tzinfo=UTC))  # Monday, the last day
    assert any("it ends today" in m["text"] for m in fake.dms(COORD))
    assert the_transfer(database).state is TransferState.OFFERED
    sweep(database, api, settings, now=DEADLINE + timedelta(minutes=1))
    assert the_transfer(database).state is TransferState.EXPIRED
    assert any(
        "expired on 2026-12-14" in m["text"] and "stays with you" in m["text"] for m in fake.dms(COORD)
    )
    assert any("expired on 2026-12-14" in m["text"] for m in fake.dms(NORTH_COORD))
    sweep(database, api, settings, now=DEADLINE + timedelta(minutes=5))
    assert len([m for m in fake.dms(COORD) if "expired on" in m["text"]]) == 1
    assert "case.transfer.expired" in audit_actions(database, case.id)
    with database.reader() as session:
        assert session.get_one(Case, case.id).lead_user_id == COORD


def test_closing_the_case_withdraws_its_offer(slack, fake, database, settings, api, case):
    offer(slack, case)
    slack.command("/case", "close", user=COORD, channel=case.channel)
    slack.submit(fake.last_view(), {"outcome": "Support completed"}, user=COORD)
    said = slack.ephemeral(click(slack, fake, NORTH_COORD, transfer_blocks.ACCEPT))
    assert "is closed" in said
    sweep(database, api, settings, now=datetime(2026, 12, 10, 9, 0, tzinfo=UTC))
    assert the_transfer(database).state is TransferState.REVOKED
    assert any("was closed by its lead" in m["text"] for m in fake.dms(NORTH_COORD))
    assert not any("working day" in m["text"] for m in fake.dms(NORTH_COORD))


def test_a_late_sweep_sends_only_the_current_reminder(slack, fake, database, settings, api, case):
    offer(slack, case)
    sweep(database, api, settings, now=datetime(2026, 12, 11, 10, 0, tzinfo=UTC))  # Friday, first sweep
    assert not any("two working days" in m["text"] for m in fake.dms(NORTH_COORD))
    assert any("one working day left" in m["text"] for m in fake.dms(NORTH_COORD))


def test_an_answered_offer_is_not_reminded(slack, fake, database, settings, api, case):
    offer(slack, case)
    slack.command("/case", "transfer cancel", user=COORD, channel=case.channel)
    sweep(database, api, settings, now=DEADLINE + timedelta(minutes=1))
    assert the_transfer(database).state is TransferState.REVOKED
    assert not any("working day" in m["text"] or "expired" in m["text"] for m in fake.dms(NORTH_COORD))


# The Home tab.


def test_home_shows_offers_to_the_area_and_the_leads_own(slack, fake, database, case):
    offer(slack, case)
    slack.home_opened(NORTH_COORD)
    home = fake.published[NORTH_COORD]
    assert blockkit.validate_view(home) == []
    text = json.dumps(home["blocks"])
    assert "Transfer offers to your area (1)" in text and case.reference in text
    assert any(
        e["action_id"].startswith(transfer_blocks.ACCEPT)
        for b in home["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
    )
    slack.home_opened(COORD)
    assert "Your open transfer offers (1)" in json.dumps(fake.published[COORD]["blocks"])
    slack.home_opened(SOUTH_COORD)
    assert "Transfer offers" not in json.dumps(fake.published[SOUTH_COORD]["blocks"])


# Services and Block Kit as data.


def test_deadline_counts_the_receiving_areas_working_days():
    from datetime import time

    hours = WorkingHours(time(9), time(17), frozenset(range(5)), frozenset({date(2026, 12, 25)}))
    offered = datetime(2026, 12, 22, 10, 0, tzinfo=UTC)  # a Tuesday
    # Wednesday 23, Thursday 24, (Christmas), Monday 28, Tuesday 29, Wednesday 30.
    assert close_of_working_day(offered, 5, hours, "Europe/London") == datetime(
        2026, 12, 30, 17, 0, tzinfo=UTC
    )
    assert close_of_working_day(offered, 1, hours, "Europe/Paris") == datetime(
        2026, 12, 23, 16, 0, tzinfo=UTC
    )


def sample_offer(**overrides) -> transfer_blocks.Offer:
    values = dict(
        transfer_id=7,
        reference="K7Q2M9",
        from_area="Main <b>",
        to_area="North & Shire",
        stage="support",
        risk="high",
        kinds=["education", "police"],
        reason="<!channel> moved " + "x" * 1200,
        deadline="2026-12-14 18:00 (Europe/London)",
        consent="not-recorded",
        consented=False,
    )
    values.update(overrides)
    return transfer_blocks.Offer(**values)


def test_offer_card_is_valid_escaped_and_answerable():
    blocks = transfer_blocks.offer_card(sample_offer())
    assert blockkit.validate(blocks, "message") == []
    text = json.dumps(blocks)
    assert "<!channel>" not in text and "&lt;!channel&gt;" in text and "North &amp; Shire" in text
    buttons = next(b for b in blocks if b["type"] == "actions")["elements"]
    assert [b["action_id"] for b in buttons] == ["transfer_accept:7", "transfer_reject:7"]
    assert "no consent on record" in text
    closed = transfer_blocks.answered_card(sample_offer(consented=True, consent="given"), "Rejected.")
    assert blockkit.validate(closed, "message") == [] and not any(b["type"] == "actions" for b in closed)


def test_accept_form_offers_the_override_only_without_consent():
    in_area = [agencies_row("police"), agencies_row("north-school")]
    view = transfer_blocks.accept_form(sample_offer(), area_agencies=in_area, chosen=in_area[:1], lead="U1")
    assert blockkit.validate_view(view) == []
    ids = [b.get("block_id") for b in view["blocks"]]
    assert "consent_override" in ids and json.loads(view["private_metadata"])["transfer"] == 7
    view = transfer_blocks.accept_form(
        sample_offer(consented=True), area_agencies=in_area, chosen=[], lead="U1"
    )
    assert "consent_override" not in [b.get("block_id") for b in view["blocks"]]
    assert blockkit.validate_view(transfer_blocks.reject_form(sample_offer())) == []


def test_home_rows_stay_small():
    offers = [sample_offer(transfer_id=n, reference=f"REF{n:03d}") for n in range(1, 9)]
    blocks = transfer_blocks.home_rows(offers, offers[:2])
    assert blockkit.validate_view({"type": "home", "blocks": blocks}) == []
    assert len(blocks) <= 2 * transfer_blocks.HOME_SHOWN + 4
    assert transfer_blocks.home_rows([], []) == []


def agencies_row(slug):
    from models import Agency

    return Agency(slug=slug, name=slug.title(), kind=AgencyKind.OTHER)


def test_the_open_offer_index_refuses_a_second_offer_made_at_the_same_moment(
    database, settings, north, monkeypatch
):
    from flows.rules import reminder_rules
    from models import Risk
    from services import cases
    from services.errors import Conflict

    with database.session() as session:
        draft = cases.CaseDraft("A concern without names.", Risk.LOW, COORD, ("police",))
        opened, _ = cases.open_case(session, draft=draft, opener=COORD, opened_via="seed", request_ref="t")
        case_id = opened.id

    def offer_to(slug, via):
        with database.session() as session:
            transfers.offer(
                session,
                case=session.get_one(Case, case_id),
                to_slug=slug,
                reason=REASON,
                actor=COORD,
                offered_via=via,
                request_ref=via,
                rules=reminder_rules(settings, session),
                basis="safeguarding",
            )

    offer_to("north", "one")
    real, looks = transfers.open_offer, []

    def blind(session, case_id):  # the first look misses the offer another request just made
        looks.append(case_id)
        return None if len(looks) == 1 else real(session, case_id)

    monkeypatch.setattr(transfers, "open_offer", blind)
    with pytest.raises(Conflict, match="already offered to North County"):
        offer_to("south", "two")
    with database.reader() as session:
        assert [t.to_area_id for t in session.scalars(select(Transfer))] == [areas.get(session, "north").id]
