"""Referrals over HTTP: `/refer`, the hub's card and queue, decisions, the referrer's outcome and
the sweep's nudges, with the builders tested as data."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from slack_sdk import WebClient
from sqlalchemy import select

from blocks import referrals as referral_blocks
from blocks.kit import MAX_VIEW_BLOCKS
from flows.sweep import sweep
from models import Agency, AgencyKind, Area, AuditEvent, Case, Disclosure, Risk, Role, SharingRecord
from models.clock import clock as casehub_clock
from models.person import Person
from models.referral import Awareness, Referral, ReferralConsent, ReferralState, Urgency
from sandbox.slack import BOT_USER, TOKEN
from services import agencies, areas, digests, oversight, referrals, sharing_gate
from services.referrals import Queue
from services.worktime import close_of_working_day
from tests.conftest import ADMIN, COORD, COORD2, OUTSIDER, POLICE, SCHOOL

MONDAY = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)  # London is on UTC in December
CONCERN = "Pupil has been sharing extremist videos in class and speaking of violence."
NAMED = "Met the young person named John Smith at the hub"
NORTH_COORD = "UNORTHC"


@pytest.fixture
def clock():
    with casehub_clock.set_to(MONDAY, running=True) as moved:
        yield moved


@pytest.fixture
def hub_channel(fake, database, registry):
    channel = fake.add_channel("hub-referrals", members={BOT_USER, COORD, COORD2})
    with database.session() as session:
        main = session.scalars(select(Area)).one()
        main.hub_channel_id = channel
    return channel


@pytest.fixture
def north(fake, database, registry):
    """A second area, with its own hub and coordinator."""
    fake.add_user(NORTH_COORD)
    with database.session() as session:
        area = areas.add(session, slug="north", name="North Partnership", actor=ADMIN, request_ref="test")
        hub = agencies.add(
            session,
            slug="northhub",
            name="North Hub",
            kind=AgencyKind.LOCAL_AUTHORITY,
            actor=ADMIN,
            request_ref="t",
        )
        agencies.set_member(
            session, agency=hub, user_id=NORTH_COORD, role=Role.COORDINATOR, actor=ADMIN, request_ref="t"
        )
        areas.join(session, area=area, agency=hub, actor=ADMIN, request_ref="test")
    return "north"


@pytest.fixture
def api(fake):
    return WebClient(token=TOKEN, base_url=fake.api_url)


def values(**overrides):
    form = {
        "concern": CONCERN,
        "why_now": "It escalated this week after a suspension.",
        "risk": "high",
        "done_so_far": "Spoke with the head of year.",
        "awareness": "parent-knows",
        "consent": "given",
        "urgency": "routine",
    }
    form.update(overrides)
    return form


def refer(slack, user=SCHOOL, **overrides):
    reply = slack.command("/refer", "", user=user)
    assert reply.status == 200
    view = slack.fake.last_view()
    assert view["callback_id"] == referral_blocks.REFER
    return slack.submit(view, values(**overrides), user=user)


def stored(database) -> list[Referral]:
    with database.reader() as session:
        return list(session.scalars(select(Referral).order_by(Referral.id)))


def only(database) -> Referral:
    [referral] = stored(database)
    return referral


def card_in(fake, channel):
    return [m for m in fake.posts(channel) if "Referral" in m["text"]]


def decide(slack, fake, referral, user=COORD, **form):
    slack.click(referral_blocks.DECIDE_ACTION, referral.reference, user=user, channel="CGENERAL")
    view = fake.last_view()
    assert view["callback_id"] == referral_blocks.DECIDE
    return slack.submit(view, form, user=user)


# ---- the form and its submission -----------------------------------------------------------------


def test_the_form_warns_first_and_the_submission_is_recorded_with_its_service_levels(
    clock, slack, fake, database, hub_channel
):
    slack.command("/refer", "", user=SCHOOL)
    view = fake.last_view()
    first = view["blocks"][0]["text"]["text"]
    assert "No names or identifiers" in first and "999" in first and "/crisis" in first
    inputs = [b["block_id"] for b in view["blocks"] if b["type"] == "input"]
    assert "area" not in inputs and "agency" not in inputs  # one agency, in one area
    reply = slack.submit(view, values(), user=SCHOOL)
    assert reply.status == 200 and not reply.body, reply.body
    referral = only(database)
    assert (referral.state, referral.risk, referral.urgency) == (
        ReferralState.RECEIVED,
        Risk.HIGH,
        Urgency.ROUTINE,
    )
    assert referral.concern == CONCERN and referral.awareness is Awareness.PARENT_KNOWS
    # Received Monday: acknowledged by the end of Tuesday, decided by the end of next Monday.
    assert referral.ack_due_at.replace(tzinfo=UTC) == datetime(2026, 12, 8, 18, 0, tzinfo=UTC)
    assert referral.decision_due_at.replace(tzinfo=UTC) == datetime(2026, 12, 14, 18, 0, tzinfo=UTC)
    [receipt] = fake.dms(SCHOOL)
    assert referral.label in receipt["text"] and "2026-12-08 18:00" in receipt["text"]
    [card] = card_in(fake, hub_channel)
    shown = json.dumps(card)
    assert referral.label in shown and "Northfield Academy" in shown and "education" in shown
    assert "extremist" not in shown and "suspension" not in shown and "head of year" not in shown
    assert referral.hub_ts == card["ts"]
    assert [e["action_id"] for e in card["blocks"][-1]["elements"]] == [
        "referral_ack",
        "referral_view",
        "referral_decide",
    ]


def test_bad_input_is_shown_on_its_field_and_records_nothing(slack, fake, database, registry):
    reply = refer(slack, concern="short")
    assert reply.json() == {
        "response_action": "errors",
        "errors": {"concern": reply.json()["errors"]["concern"]},
    }
    assert "at least 10 characters" in reply.json()["errors"]["concern"]
    assert stored(database) == []


def test_a_name_in_the_concern_is_quoted_then_confirmed_and_audited(slack, fake, database, registry):
    slack.command("/refer", "", user=SCHOOL)
    view = fake.last_view()
    reply = slack.submit(view, values(concern=NAMED), user=SCHOOL)
    assert reply.json()["response_action"] == "update"
    again = fake.views[view["id"]]
    [box] = [b for b in again["blocks"] if b.get("block_id") == sharing_gate.CONFIRM_FIELD]
    ticked = [o["value"] for o in box["element"]["options"]]
    assert stored(database) == []
    done = slack.submit(again, {**values(concern=NAMED), sharing_gate.CONFIRM_FIELD: ticked}, user=SCHOOL)
    assert done.body == ""
    assert only(database).concern == NAMED
    with database.reader() as session:
        [event] = session.scalars(select(AuditEvent).where(AuditEvent.action == "identifier.overridden"))
        assert event.details == {"field": "concern", "kind": "name"}


def test_a_duplicate_delivery_records_nothing_and_tells_nothing_twice(slack, fake, database, hub_channel):
    slack.command("/refer", "", user=SCHOOL)
    view = fake.last_view()
    first = slack.submit(view, values(), user=SCHOOL)
    again = slack.replay(first)
    assert again.status == 200
    slack.settle()
    assert len(stored(database)) == 1
    assert len(fake.dms(SCHOOL)) == 1 and len(card_in(fake, hub_channel)) == 1


def test_someone_in_no_agency_is_refused_before_any_form(slack, fake, database, registry):
    before = len(fake.opened_views)
    reply = slack.command("/refer", "", user=OUTSIDER)
    said = slack.ephemeral(reply)
    assert "Only members of a registered agency may refer" in said and "/agency member add" in said
    assert len(fake.opened_views) == before


def test_an_agency_in_no_area_is_refused_before_any_form(slack, fake, database, north):
    with database.session() as session:  # with two areas, a new agency joins none by itself
        ngo = agencies.add(
            session, slug="mentors", name="Mentors", kind=AgencyKind.NGO, actor=ADMIN, request_ref="t"
        )
        agencies.set_member(
            session, agency=ngo, user_id=OUTSIDER, role=Role.MEMBER, actor=ADMIN, request_ref="t"
        )
    before = len(fake.opened_views)
    said = slack.ephemeral(slack.command("/refer", "", user=OUTSIDER))
    assert "takes part in no area" in said and "/area agency add" in said
    assert len(fake.opened_views) == before


def test_a_member_of_agencies_in_several_areas_chooses_the_area_and_the_agency(slack, fake, database, north):
    with database.session() as session:
        north_area, school = areas.get(session, "north"), agencies.get(session, "school")
        areas.join(session, area=north_area, agency=school, actor=ADMIN, request_ref="t")
        agencies.set_member(
            session,
            agency=agencies.get(session, "health"),
            user_id=SCHOOL,
            role=Role.MEMBER,
            actor=ADMIN,
            request_ref="t",
        )
    slack.command("/refer", "", user=SCHOOL)
    view = fake.last_view()
    inputs = [b["block_id"] for b in view["blocks"] if b["type"] == "input"]
    assert inputs[:2] == ["area", "agency"]
    assert slack.submit(view, values(area="north", agency="school"), user=SCHOOL).body == ""
    referral = only(database)
    with database.reader() as session:
        assert session.get_one(Area, referral.area_id).slug == "north"
        assert session.get_one(Agency, referral.agency_id).slug == "school"


def test_refer_help_shows_usage(slack, registry):
    said = slack.ephemeral(slack.command("/refer", "help", user=SCHOOL))
    assert "/refer" in said and "999" in said


# ---- the hub ----------------------------------------------------------------------------------------


def test_acknowledging_on_the_card_updates_it_once(slack, fake, database, hub_channel):
    refer(slack)
    [card] = card_in(fake, hub_channel)
    referral = only(database)
    for _ in range(2):  # a double click is one acknowledgement
        slack.click(
            referral_blocks.ACKNOWLEDGE_ACTION,
            referral.reference,
            user=COORD,
            channel=hub_channel,
            message_ts=card["ts"],
        )
    referral = only(database)
    assert referral.state is ReferralState.ACKNOWLEDGED and referral.acknowledged_by == COORD
    with database.reader() as session:
        assert (
            len(list(session.scalars(select(AuditEvent).where(AuditEvent.action == "referral.acknowledged"))))
            == 1
        )
    [card] = card_in(fake, hub_channel)
    assert card["edits"] >= 1 and "acknowledged" in json.dumps(card["blocks"])
    assert "referral_ack" not in json.dumps(card["blocks"])


def test_viewing_is_for_the_areas_coordinators_and_is_audited(slack, fake, database, hub_channel):
    refer(slack)
    referral = only(database)
    slack.click(referral_blocks.VIEW_ACTION, referral.reference, user=COORD, channel=hub_channel)
    shown = json.dumps(fake.last_view())
    assert "extremist videos" in shown and "head of year" in shown
    before = len(fake.opened_views)
    said = slack.ephemeral(
        slack.click(referral_blocks.VIEW_ACTION, referral.reference, user=POLICE, channel=hub_channel)
    )
    assert "Only the coordinators" in said and len(fake.opened_views) == before
    with database.reader() as session:
        [event] = session.scalars(select(AuditEvent).where(AuditEvent.action == "referral.viewed"))
        assert (event.actor, event.details) == (COORD, {"reference": referral.reference})


def test_signposting_tells_the_referrer_where_and_why(slack, fake, database, hub_channel):
    refer(slack)
    referral = only(database)
    reply = decide(
        slack,
        fake,
        referral,
        outcome="signposted",
        reason="Early help fits better",
        signposted_to="Early Help team",
    )
    assert reply.body == ""
    referral = only(database)
    assert (
        referral.state is ReferralState.SIGNPOSTED
        and referral.decided_by == COORD
        and referral.case_id is None
    )
    outcome = fake.dms(SCHOOL)[-1]["text"]
    assert "signposted to Early Help team" in outcome and "Early help fits better" in outcome
    assert "decided" in json.dumps(card_in(fake, hub_channel)[0]) or "signposted" in json.dumps(
        card_in(fake, hub_channel)[0]
    )


def test_signposting_needs_the_service_and_every_decision_a_reason(slack, fake, database, registry):
    refer(slack)
    referral = only(database)
    reply = decide(slack, fake, referral, outcome="signposted", reason="Early help fits better")
    assert "signposted_to" in reply.json()["errors"]
    view = fake.last_view()
    assert "reason" in slack.submit(view, {"outcome": "closed"}, user=COORD).json()["errors"]
    assert only(database).state is ReferralState.RECEIVED


def test_closing_with_no_further_action_tells_the_reason_and_a_second_decision_is_refused(
    slack, fake, database, registry
):
    refer(slack)
    referral = only(database)
    assert (
        decide(slack, fake, referral, outcome="closed", reason="No radicalisation concern found").body == ""
    )
    assert "closed with no further action" in fake.dms(SCHOOL)[-1]["text"]
    assert "No radicalisation concern found" in fake.dms(SCHOOL)[-1]["text"]
    said = slack.ephemeral(
        slack.click(referral_blocks.DECIDE_ACTION, referral.reference, user=COORD2, channel="CGENERAL")
    )
    assert "already closed with no further action by <@UCOORD>" in said
    assert only(database).decided_by == COORD


def test_accepting_opens_a_case_with_the_referrers_agency_and_tells_no_case_details(
    slack, fake, database, hub_channel
):
    refer(slack)
    referral = only(database)
    with database.session() as session:  # the record desk holds who the referral is about
        session.add(
            Person(
                referral_id=referral.id,
                given_names="A",
                indexed_under="t",
                created_by=COORD,
                updated_by=COORD,
            )
        )
    reply = decide(
        slack,
        fake,
        referral,
        outcome="accepted",
        reason="Meets the threshold",
        lead=COORD2,
        agencies=["police"],
        risk="critical",
    )
    assert reply.body == ""
    referral = only(database)
    assert referral.state is ReferralState.ACCEPTED and referral.case_id is not None
    with database.reader() as session:
        case = session.get_one(Case, referral.case_id)
        assert case.opened_via == f"referral:{referral.id}" and case.summary == CONCERN
        assert (case.lead_user_id, case.risk) == (COORD2, Risk.CRITICAL)
        assert sorted(a.slug for a in case.agencies) == ["police", "school"]
        assert case.channel_id
        shared = list(
            session.scalars(
                select(SharingRecord).where(SharingRecord.disclosure == Disclosure.REFERRAL.value)
            )
        )
        assert len(shared) == 2
        reference, channel = case.reference, case.channel_id
        assert (
            session.scalars(select(Person.case_id).where(Person.referral_id == referral.id)).one() == case.id
        )
    assert SCHOOL in fake.channels[channel].members
    log = slack.ephemeral(slack.command("/case", "sharing", user=COORD2, channel=channel))
    assert "accepted a referral of *Northfield Academy* as this case: its concern went to" in log
    [outcome] = [m["text"] for m in fake.dms(SCHOOL) if "accepted" in m["text"]]
    assert "your agency takes part" in outcome and reference not in outcome and "extremist" not in outcome
    assert not [m for m in fake.dms(SCHOOL) if reference in m["text"]]


def test_an_acceptance_the_database_refuses_reopens_the_form_and_changes_nothing(
    slack, fake, database, registry
):
    refer(slack)
    referral = only(database)
    assert (
        decide(slack, fake, referral, outcome="accepted", reason="Meets the threshold", lead=POLICE).body
        == ""
    )
    again = fake.last_view()
    assert again["callback_id"] == referral_blocks.DECIDE and "is not a coordinator" in json.dumps(again)
    assert only(database).state is ReferralState.RECEIVED and only(database).case_id is None
    with database.reader() as session:
        assert session.scalars(select(Case)).all() == []


def test_a_coordinator_of_another_area_is_refused(slack, fake, database, hub_channel, north):
    refer(slack)
    referral = only(database)
    [card] = card_in(fake, hub_channel)
    for action in (
        referral_blocks.ACKNOWLEDGE_ACTION,
        referral_blocks.DECIDE_ACTION,
        referral_blocks.VIEW_ACTION,
    ):
        said = slack.ephemeral(
            slack.click(
                action, referral.reference, user=NORTH_COORD, channel=hub_channel, message_ts=card["ts"]
            )
        )
        assert "Only the coordinators of the area's hub" in said
    # The decide form, had they got it, is refused at submission too.
    slack.click(referral_blocks.DECIDE_ACTION, referral.reference, user=COORD, channel="CGENERAL")
    form = fake.last_view()
    slack.submit(form, {"outcome": "accepted", "reason": "Take it"}, user=NORTH_COORD)
    assert only(database).state is ReferralState.RECEIVED and only(database).case_id is None
    assert any("Only the coordinators" in m["text"] for m in fake.dms(NORTH_COORD))


# ---- App Home -----------------------------------------------------------------------------------------


def open_home(slack, user):
    slack.home_opened(user)
    return slack.fake.published[user]


def test_home_queue_for_the_hub_and_own_referrals_for_the_referrer(slack, fake, database, hub_channel, north):
    refer(slack)
    refer(slack, urgency="urgent", concern="Threats made online against classmates last night.")
    home = json.dumps(open_home(slack, COORD)["blocks"])
    assert "Referrals awaiting your hub (2)" in home
    urgent, routine = stored(database)[1], stored(database)[0]
    assert home.index(urgent.label) < home.index(routine.label)  # urgent first
    assert f"referral_ack:{urgent.reference}" in home and "extremist" not in home
    assert "Referrals awaiting your hub (0)" in json.dumps(open_home(slack, NORTH_COORD)["blocks"])
    mine = json.dumps(open_home(slack, SCHOOL)["blocks"])
    assert "Your referrals" in mine and routine.label in mine and "extremist" not in mine
    assert "Referrals awaiting" not in mine
    # Urgent: each coordinator was told at once.
    assert any(urgent.label in m["text"] for m in fake.dms(COORD2))
    # Acknowledged from Home: the Home is published again.
    view = fake.published[COORD]
    slack.act(
        {"type": "button", "action_id": f"referral_ack:{urgent.reference}", "value": urgent.reference},
        user=COORD,
        block_id=f"referral-home:{urgent.reference}",
        view={**view, "type": "home"},
    )
    assert stored(database)[1].state is ReferralState.ACKNOWLEDGED
    assert "acknowledged, awaiting a decision" in json.dumps(fake.published[COORD]["blocks"])


# ---- the sweep -----------------------------------------------------------------------------------------


def test_overdue_referrals_nudge_the_hub_then_escalate_once(
    clock, slack, fake, database, settings, api, hub_channel
):
    refer(slack)
    referral = only(database)

    def told(user, words):
        return [m["text"] for m in fake.dms(user) if words in m["text"]]

    sweep(database, api, settings, now=datetime(2026, 12, 8, 12, 0, tzinfo=UTC))  # not yet due
    assert told(COORD, "acknowledged") == []
    sweep(database, api, settings, now=datetime(2026, 12, 9, 10, 0, tzinfo=UTC))
    assert (
        len(told(COORD, "was due to be acknowledged")) == 1
        and len(told(COORD2, "was due to be acknowledged")) == 1
    )
    for day in (10, 11, 14, 15, 16, 17, 18, 21, 22):
        sweep(database, api, settings, now=datetime(2026, 12, day, 10, 0, tzinfo=UTC))
    assert len(told(COORD, "was due to be acknowledged")) == 1
    overdue = told(COORD, "awaits a screening decision")
    assert [t.split("(")[1].split(" ")[0] for t in overdue] == ["1", "2", "4", "6"]
    [escalation] = told(ADMIN, "no screening decision")
    assert referral.label in escalation and "5 working days" in escalation and "extremist" not in escalation
    decide(slack, fake, referral, outcome="closed", reason="Handled by the school")
    sweep(database, api, settings, now=datetime(2026, 12, 24, 10, 0, tzinfo=UTC))
    assert len(told(COORD, "awaits a screening decision")) == 4
    assert only(database).nudge_at is None


def test_escalation_goes_to_the_areas_overseers_when_it_has_some(
    clock, slack, fake, database, settings, api, registry
):
    with database.session() as session:
        national = areas.parse_scope("national")
        areas.add_overseer(session, user=POLICE, scope=national, actor=ADMIN, request_ref="t")
    refer(slack)
    sweep(database, api, settings, now=datetime(2026, 12, 21, 10, 0, tzinfo=UTC))
    assert [m for m in fake.dms(POLICE) if "no screening decision" in m["text"]]
    assert not [m for m in fake.dms(ADMIN) if "no screening decision" in m["text"]]


# ---- figures and digests -------------------------------------------------------------------------------


def test_figures_and_digest_count_open_and_past_due_referrals(clock, slack, fake, database, registry):
    refer(slack)
    refer(slack)
    later = datetime(2026, 12, 9, 10, 0, tzinfo=UTC)  # past the acknowledgement's due time
    with database.reader() as session:
        main = session.scalars(select(Area)).one()
        [row] = oversight.figures(session, [main], now=later)
        assert row.extra == {"open referrals": 2, "referrals past due": 2}
        digest = digests.build(session, COORD, now=later, today=later.date(), since=None)
    assert not digest.is_empty
    [line] = digest.extra
    assert "2 open" in line and "2 past due" in line and stored(database)[0].label in line
    with database.reader() as session:  # a coordinator who leads no case still gets a digest
        assert {COORD, COORD2} <= {user for user, _ in digests.leads_and_preferences(session)}


# ---- builders, as data ----------------------------------------------------------------------------------


def _referral(number: int, *, urgency=Urgency.ROUTINE, state=ReferralState.RECEIVED) -> Referral:
    at = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
    return Referral(
        id=number,
        reference=f"A{number:05d}",
        area_id=1,
        referrer=SCHOOL,
        agency_id=1,
        submitted_via=f"view:{number}",
        concern=CONCERN,
        why_now="why",
        risk=Risk.MODERATE,
        awareness=Awareness.UNKNOWN,
        consent=ReferralConsent.NOT_ASKED,
        urgency=urgency,
        state=state,
        received_at=at,
        ack_due_at=at,
        decision_due_at=at,
    )


AGENCY = Agency(id=1, slug="school", name="Northfield <Academy>", kind=AgencyKind.EDUCATION)


def test_the_card_carries_no_typed_text_and_escapes_the_agency():
    shown = json.dumps(referral_blocks.card(_referral(1), AGENCY))
    assert "extremist" not in shown and "why" not in shown.replace("Why", "")
    assert "Northfield &lt;Academy&gt;" in shown


def test_the_hub_queue_stays_within_the_home_limit_and_counts_the_rest():
    rows = [_referral(n) for n in range(1, 201)]
    blocks = referral_blocks.hub_queue(Queue(rows[: referral_blocks.QUEUE_SHOWN], 200, {1: AGENCY}), MONDAY)
    assert len(blocks) < MAX_VIEW_BLOCKS // 2
    assert blocks[0]["text"]["text"] == "Referrals awaiting your hub (200)"
    assert "180 more" in json.dumps(blocks)
    ids = [e["action_id"] for b in blocks if b["type"] == "actions" for e in b["elements"]]
    assert len(ids) == len(set(ids))  # unique within the view


def test_the_decide_form_offers_the_areas_other_agencies_and_the_referrals_risk():
    police = Agency(id=2, slug="police", name="County Police", kind=AgencyKind.POLICE)
    form = referral_blocks.decide_form(_referral(1), [AGENCY, police], decider=COORD)
    by_id = {b.get("block_id"): b for b in form["blocks"]}
    assert [o["value"] for o in by_id["agencies"]["element"]["options"]] == ["police"]
    assert by_id["risk"]["element"]["initial_option"]["value"] == "moderate"
    assert by_id["lead"]["element"]["initial_user"] == COORD
    assert len(form["title"]["text"]) <= 24


def test_the_outcome_never_names_a_case():
    referral = _referral(1, state=ReferralState.ACCEPTED)
    text = referral_blocks.outcome_text(referral, Area(slug="main", name="Main"))
    assert "accepted" in text and "extremist" not in text


def test_service_levels_skip_weekends_and_bank_holidays():
    from services.worktime import WorkingHours, holiday_calendar

    hours = WorkingHours(
        datetime.min.time().replace(hour=8),
        datetime.min.time().replace(hour=18),
        frozenset(range(5)),
        holiday_calendar("GB-ENG"),
    )
    friday = datetime(2026, 12, 24, 15, 0, tzinfo=UTC)  # Christmas Eve, a Thursday; 25 and 28 are holidays
    assert close_of_working_day(friday, 1, hours, "Europe/London") == datetime(
        2026, 12, 29, 18, 0, tzinfo=UTC
    )


def test_the_sweep_reads_open_referrals_through_their_partial_index():
    from sqlalchemy import create_engine

    from models.base import Base

    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    query = referrals.due_query(MONDAY)
    compiled = query.compile(engine, compile_kwargs={"render_postcompile": True})
    with engine.connect() as connection:
        plan = connection.exec_driver_sql(
            "EXPLAIN QUERY PLAN " + str(compiled),
            tuple(compiled.params[k] for k in compiled.positiontup or ()),
        ).all()
    assert "ix_referrals_open_nudge" in str(plan)
