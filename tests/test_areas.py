"""Areas: many local partnerships in one deployment, over HTTP and in the services."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time

import pytest
import yaml
from sqlalchemy import select

from blocks import areas as area_blocks
from blocks import home as home_blocks
from flows.rules import reminder_rules
from models import (
    AccessRecord,
    Action,
    ActionStatus,
    AgencyKind,
    Area,
    AuditEvent,
    Case,
    Role,
    Stage,
)
from services import agencies, areas, cases, home, oversight, reminders
from services.errors import InvalidInput
from services.worktime import WorkingHours
from tests.conftest import ADMIN, COORD, COORD2, HOUSING, OUTSIDER, POLICE
from tests.helpers import SUMMARY, open_case

NORTH_COORD = "UNORTH1"
OVERSEER = "UNATION"


@pytest.fixture
def north(database, registry):
    """A second area, `north`, with its own hub (coordinator NORTH_COORD), the police taking part
    in both areas, and its own calendar."""
    with database.session() as session:
        area = areas.add(session, slug="north", name="North Shire", actor=ADMIN, request_ref="t")
        hub = agencies.add(
            session,
            slug="north-hub",
            name="North Hub",
            kind=AgencyKind.LOCAL_AUTHORITY,
            actor=ADMIN,
            request_ref="t",
        )
        agencies.set_member(
            session, agency=hub, user_id=NORTH_COORD, role=Role.COORDINATOR, actor=ADMIN, request_ref="t"
        )
        for agency in (hub, agencies.get(session, "police")):
            areas.join(session, area=area, agency=agency, actor=ADMIN, request_ref="t")
        for field, value in (("channel-prefix", "north"), ("holidays", "GB-ENG"), ("region", "north-east")):
            areas.set_field(session, area=area, field=field, value=value, actor=ADMIN, request_ref="t")
        return area.id


@pytest.fixture(autouse=True)
def people(fake):
    for person in (NORTH_COORD, OVERSEER):
        fake.add_user(person)


def test_an_upgraded_deployment_is_one_area_with_every_agency(database, registry):
    with database.reader() as session:
        (main,) = areas.all_areas(session)
        assert main.slug == areas.MAIN
        assert {a.slug for a in areas.agencies_in(session, main.id)} == {
            "hub",
            "police",
            "school",
            "health",
            "housing",
        }
        assert areas.coordinators(session, main.id) == {COORD, COORD2}


def test_area_list_and_show_say_what_each_area_is(slack, north):
    listed = slack.ephemeral(slack.command("/area", "list", user=POLICE))
    assert "North Shire" in listed and "`north-hub`" in listed and "north-east" in listed
    shown = slack.ephemeral(slack.command("/area", "show north", user=POLICE))
    assert "GB-ENG" in shown and "`north-…`" in shown and f"<@{NORTH_COORD}>" in shown
    assert "Europe/London" in shown  # unset: the deployment's default zone


def test_admins_create_and_configure_an_area(slack, database, registry):
    said = slack.ephemeral(slack.command("/area", 'add south "South Vale"', user=ADMIN))
    assert "South Vale" in said and "is created" in said
    assert "is set" in slack.ephemeral(slack.command("/area", "set south timezone Europe/Paris", user=ADMIN))
    slack.command("/area", "set south holidays FR", user=ADMIN)
    slack.command("/area", "set south working-days mon,tue,wed,thu", user=ADMIN)
    slack.command("/area", "set south hub-channel <#CHUBSOUTH|hub-south>", user=ADMIN)
    slack.command("/area", "set south transfer-days 3", user=ADMIN)
    assert "takes part" in slack.ephemeral(slack.command("/area", "agency add south housing", user=ADMIN))
    with database.reader() as session:
        south = areas.get(session, "south")
        assert (south.timezone, south.holidays, south.working_days) == (
            "Europe/Paris",
            "FR",
            "mon,tue,wed,thu",
        )
        assert (south.hub_channel_id, south.transfer_days) == ("CHUBSOUTH", 3)
        assert [a.slug for a in areas.agencies_in(session, south.id)] == ["housing"]
        actions = [e.action for e in session.scalars(select(AuditEvent).order_by(AuditEvent.id))]
        assert (
            "area.added" in actions and actions.count("area.updated") == 5 and "area.agency.joined" in actions
        )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("set north holidays XX", "is not a country code"),
        ("set north holidays GB-XYZ", "is not a subdivision of GB"),
        ("set north timezone Mars/Olympus", "is not a time zone"),
        ("set north working-days funday", "is not a list of weekdays"),
        ("set north colour blue", "is not something an area sets"),
        ("set north review-weeks 99", "is not a number from 1 to 52"),
        ("set nowhere timezone Europe/Paris", "There is no area `nowhere`"),
        ("agency add north nosuch", "There is no agency `nosuch`"),
        ('add Bad_Slug "X"', "is not a valid area slug"),
    ],
)
def test_mistakes_are_answered_with_how_to_do_it_right(slack, north, text, expected):
    assert expected in slack.ephemeral(slack.command("/area", text, user=ADMIN))


def test_only_admins_change_areas(slack, database, north):
    said = slack.ephemeral(slack.command("/area", "set north timezone Europe/Paris", user=NORTH_COORD))
    assert "Only casehub admins may change the areas" in said
    with database.reader() as session:
        assert areas.get(session, "north").timezone is None


def test_an_agency_busy_in_an_open_case_cannot_leave_the_area(slack, database, registry):
    open_case(slack, database, agencies=("police",))
    said = slack.ephemeral(slack.command("/area", "agency remove main police", user=ADMIN))
    assert "still takes part in open cases" in said
    assert "no longer takes part" in slack.ephemeral(
        slack.command("/area", "agency remove main health", user=ADMIN)
    )


def test_with_several_areas_a_new_agency_joins_none_and_the_admin_is_told(slack, database, north):
    said = slack.ephemeral(slack.command("/agency", 'add youth "Youth Service" youth-work', user=ADMIN))
    assert "takes part in no area yet" in said
    with database.reader() as session:
        youth = agencies.get(session, "youth")
        assert areas.areas_of_user(session, "nobody") == []
        assert not any(areas.takes_part(session, a.id, youth.id) for a in areas.all_areas(session))


def test_a_coordinator_opens_cases_in_their_area_with_its_channel_prefix(slack, database, fake, north):
    reply = slack.command("/case", "open", user=NORTH_COORD)
    view = fake.last_view()
    assert "area" not in {b.get("block_id") for b in view["blocks"]}  # one area: nothing to choose
    agency_options = json.dumps(view)
    assert "north-hub" in agency_options and "school" not in agency_options  # only the area's agencies
    values = {"summary": SUMMARY, "risk": "high", "lead": NORTH_COORD, "agencies": ["police"]}
    assert reply.status == 200 and slack.submit(view, values, user=NORTH_COORD).status == 200
    with database.reader() as session:
        case = session.scalars(select(Case).order_by(Case.id.desc())).one()
        assert case.area_id == north and case.channel_name == f"north-{case.reference.lower()}"


def test_a_case_takes_only_its_areas_agencies_and_coordinators(slack, database, fake, north):
    slack.command("/case", "open", user=NORTH_COORD)
    view = fake.last_view()
    wrong_agency = {"summary": SUMMARY, "risk": "high", "lead": NORTH_COORD, "agencies": ["school"]}
    slack.submit(view, wrong_agency, user=NORTH_COORD)
    again = fake.last_view()
    assert "does not take part in North Shire" in json.dumps(again)
    slack.command("/case", "open", user=NORTH_COORD)
    wrong_lead = {"summary": SUMMARY, "risk": "high", "lead": COORD, "agencies": ["police"]}
    slack.submit(fake.last_view(), wrong_lead, user=NORTH_COORD)
    assert "is not a coordinator of North Shire" in json.dumps(fake.last_view())
    with database.reader() as session:
        assert session.scalars(select(Case)).all() == []


def test_someone_coordinating_in_two_areas_chooses_the_area(slack, database, fake, north):
    with database.session() as session:
        hub = agencies.get(session, "north-hub")
        agencies.set_member(
            session, agency=hub, user_id=COORD, role=Role.COORDINATOR, actor=ADMIN, request_ref="t"
        )
    slack.command("/case", "open", user=COORD)
    view = fake.last_view()
    area_block = next(b for b in view["blocks"] if b.get("block_id") == "area")
    assert {o["value"] for o in area_block["element"]["options"]} == {"main", "north"}
    values = {"summary": SUMMARY, "risk": "low", "lead": COORD, "agencies": ["north-hub"], "area": "north"}
    slack.submit(view, values, user=COORD)
    with database.reader() as session:
        assert session.scalars(select(Case.area_id)).one() == north


def test_a_case_form_naming_another_area_is_refused(database, north):
    draft = cases.CaseDraft(SUMMARY, cases.Risk.LOW, COORD, ("police",), area_slug="north")
    with database.session() as session, pytest.raises(cases.NotAllowed, match="not a coordinator of North"):
        cases.open_case(session, draft=draft, opener=COORD, opened_via="v:1", request_ref="r")


def test_a_coordinator_of_another_area_has_no_right_over_a_case(slack, database, north):
    opened = open_case(slack, database)
    with database.session() as session:
        hub = agencies.get(session, "north-hub")
        agencies.set_member(
            session, agency=hub, user_id=COORD2, role=Role.COORDINATOR, actor=ADMIN, request_ref="t"
        )
        agencies.remove_member(
            session, agency=agencies.get(session, "hub"), user_id=COORD2, actor=ADMIN, request_ref="t"
        )
        case = session.get_one(Case, opened.id)
        case.lead_user_id = COORD2  # led by someone who now coordinates only in another area
    said = slack.ephemeral(slack.command("/case", "stage screening", user=COORD2, channel=opened.channel))
    assert "no longer a coordinator" in said


def test_an_agency_outside_the_case_area_cannot_be_added(slack, database, north):
    opened = open_case(slack, database)
    said = slack.ephemeral(
        slack.command("/case", "agencies add north-hub", user=COORD, channel=opened.channel)
    )
    assert "does not take part in Main partnership" in said and "/area agency add main north-hub" in said


# Calendars: each area's working days and bank holidays.


def test_an_area_calendar_skips_its_bank_holidays(database, settings, north):
    with database.reader() as session:
        north_calendar = areas.calendar_of(session, north, settings)
        main_calendar = areas.calendar(areas.get(session, "main"), settings)
    christmas_eve = date(2026, 12, 24)  # a Thursday; 25 and 28 December are English bank holidays
    assert north_calendar.hours.add_working_days(christmas_eve, 1) == date(2026, 12, 29)
    assert main_calendar.hours.add_working_days(christmas_eve, 1) == date(2026, 12, 25)
    assert not north_calendar.hours.is_working_day(date(2026, 12, 28))


def test_overdue_actions_count_the_working_days_of_their_case_area(database, settings, north):
    with database.session() as session:
        police = agencies.get(session, "police")
        rows = {}
        for area_id in (1, north):
            case = Case(
                area_id=area_id,
                reference=cases.new_reference(),
                risk=cases.Risk.LOW,
                summary=SUMMARY,
                lead_user_id=COORD,
                opened_by=COORD,
                opened_via=f"v:{area_id}",
                stage=Stage.SUPPORT,
            )
            session.add(case)
            session.flush()
            action = Action(
                case_id=case.id,
                number=1,
                text="Arrange a mentor",
                agency_id=police.id,
                owner=POLICE,
                due=date(2026, 12, 24),
                created_by=COORD,
                created_via=f"a:{area_id}",
                status=ActionStatus.OPEN,
            )
            session.add(action)
            session.flush()
            rows[area_id] = action.id
            reminders.plan_action(action)
    now = datetime(2026, 12, 29, 9, 0, tzinfo=UTC)
    with database.session() as session:
        dues = reminders.collect(session, now, reminder_rules(settings, session), lambda _u: "Europe/London")
    texts = {d.key.split(":")[1]: d.text for d in dues if d.key.startswith("action-overdue")}
    # Main has no bank holidays: 25, 28, 29 December are 3 working days late; North, 1.
    assert "(3 working days)" in texts[str(rows[1])]
    assert str(rows[north]) not in texts  # one working day late is not yet a nudge in North


# Oversight: figures and references, never content.


@pytest.fixture
def overseer(slack):
    said = slack.ephemeral(slack.command("/area", f"overseer add <@{OVERSEER}|nat> national", user=ADMIN))
    assert "figures and case references" in said


def test_a_national_coordinator_sees_figures_and_references_only(slack, database, fake, north, overseer):
    opened = open_case(slack, database)
    figures = slack.ephemeral(slack.command("/area", "figures", user=OVERSEER))
    assert "All 2 areas" in figures and "Open cases: *1*" in figures and "North Shire" in figures
    assert SUMMARY[:20] not in figures
    listed = slack.ephemeral(slack.command("/area", "cases main", user=OVERSEER))
    assert opened.reference in listed and "referral" in listed
    assert SUMMARY[:20] not in listed and "police" not in listed.lower()
    with database.reader() as session:
        seen = session.scalars(select(AccessRecord).where(AccessRecord.user_id == OVERSEER)).all()
        assert [(r.case_id, r.view) for r in seen] == [(opened.id, "area-cases")]


def test_a_regional_coordinator_sees_only_their_region(slack, database, north):
    slack.command("/area", f"overseer add <@{OVERSEER}> north-east", user=ADMIN)
    figures = slack.ephemeral(slack.command("/area", "figures", user=OVERSEER))
    assert "North Shire" in figures and "Main partnership" not in figures
    said = slack.ephemeral(slack.command("/area", "cases main", user=OVERSEER))
    assert "You do not oversee or coordinate `main`" in said


def test_someone_who_oversees_nothing_is_told_so(slack, registry):
    said = slack.ephemeral(slack.command("/area", "figures", user=OUTSIDER))
    assert "neither oversee nor coordinate" in said
    said = slack.ephemeral(slack.command("/area", "cases main", user=HOUSING))
    assert "You do not oversee or coordinate `main`" in said


def test_an_overseer_home_tab_shows_their_areas_figures(slack, database, fake, north, overseer):
    open_case(slack, database)
    slack.home_opened(OVERSEER)
    published = json.dumps(fake.published[OVERSEER]["blocks"])
    assert "Areas you oversee (2)" in published and "Open cases: *1*" in published
    assert SUMMARY[:20] not in published


def test_figures_are_counted_per_area_in_a_few_queries(database, north):
    with database.session() as session:
        for index, area_id in enumerate((1, 1, north)):
            session.add(
                Case(
                    area_id=area_id,
                    reference=cases.new_reference(),
                    risk=cases.Risk.LOW,
                    summary=SUMMARY,
                    lead_user_id=COORD,
                    opened_by=COORD,
                    opened_via=f"v:{index}",
                    stage=Stage.SCREENING if index else Stage.SUPPORT,
                )
            )
    with database.reader() as session:
        rows = oversight.figures(session, areas.all_areas(session))
    by_slug = {row.area.slug: row for row in rows}
    assert by_slug["main"].open_cases == 2 and by_slug["main"].by_stage == {
        Stage.SUPPORT: 1,
        Stage.SCREENING: 1,
    }
    assert by_slug["north"].open_cases == 1
    assert oversight.totals(rows).open_cases == 3


# The YAML import.


def test_the_registry_file_creates_areas_and_overseers(database, registry, tmp_path, monkeypatch):
    from bot.__main__ import import_agencies

    document = {
        "agencies": [
            {
                "slug": "dep93-hub",
                "name": "Cellule 93",
                "kind": "local-authority",
                "members": {"UCELL1": "coordinator"},
            }
        ],
        "areas": [
            {
                "slug": "dep-93",
                "name": "Seine-Saint-Denis",
                "region": "idf",
                "timezone": "Europe/Paris",
                "holidays": "FR",
                "channel-prefix": "c93",
                "agencies": ["dep93-hub", "police"],
            }
        ],
        "overseers": {"UPREF1": "idf", "UNAT1": "national"},
    }
    path = tmp_path / "registry.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    monkeypatch.setenv("DATABASE_URL", database.url)
    assert import_agencies(path) == 0
    assert import_agencies(path) == 0  # safe to repeat
    with database.reader() as session:
        area = areas.get(session, "dep-93")
        assert (area.region, area.timezone, area.holidays, area.channel_prefix) == (
            "idf",
            "Europe/Paris",
            "FR",
            "c93",
        )
        assert areas.coordinators(session, area.id) == {"UCELL1"}
        assert [a.slug for a in areas.overseen(session, "UPREF1")] == ["dep-93"]
        assert len(areas.overseen(session, "UNAT1")) == 2


def test_a_mistake_in_an_area_entry_imports_nothing(database, registry):
    document = {
        "areas": [{"slug": "ok-area", "name": "Fine"}, {"slug": "bad", "name": "X", "holidays": "ZZ"}]
    }
    with pytest.raises(InvalidInput, match=r"Area 2 \(`bad`\)"), database.session() as session:
        areas.import_areas(session, document, actor="t", request_ref="t")
    with database.reader() as session:
        assert [a.slug for a in areas.all_areas(session)] == ["main"]


# Block Kit builders.


def test_area_blocks_stay_within_slack_limits():
    many = [Area(id=i, slug=f"area-{i:03d}", name=f"Area {i}", region="r") for i in range(120)]
    blocks = area_blocks.area_list(many)
    assert len(blocks) <= 50 and all(len(json.dumps(b)) < 4000 for b in blocks)
    rows = [oversight.AreaFigures(a, by_stage={Stage.SUPPORT: 3}) for a in many]
    figures = area_blocks.figures(rows, oversight.totals(rows))
    assert len(figures) <= 50 and "All 120 areas" in json.dumps(figures)


def test_the_home_of_a_national_coordinator_stays_within_the_view_limit():
    many = [Area(id=i, slug=f"a{i:03d}", name=f"Area {i}") for i in range(100)]
    data = home.HomeData(user=OVERSEER, is_coordinator=False)
    data.overseen = [oversight.AreaFigures(a, by_stage={Stage.SUPPORT: i}) for i, a in enumerate(many)]
    view = home_blocks.home(data)
    assert len(view["blocks"]) <= 100
    assert "Areas you oversee (100)" in json.dumps(view) and "Area 99" in json.dumps(
        view
    )  # the busiest first


def test_working_hours_without_holidays_are_weekdays_only():
    hours = WorkingHours(time(8), time(18), frozenset(range(5)))
    assert hours.add_working_days(date(2026, 12, 24), 1) == date(2026, 12, 25)
    assert hours.working_days_between(date(2026, 12, 24), date(2026, 12, 29)) == 3


def test_the_migration_makes_one_partnership_the_area_main_and_keeps_identities(tmp_path):
    from alembic import command
    from sqlalchemy import create_engine, text

    from bot.db import Database, alembic_config

    url = f"sqlite:///{tmp_path / 'old.db'}"
    config = alembic_config(url)
    command.upgrade(config, "0018")
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO agencies (id, slug, name, kind, created_at) VALUES "
                "(1, 'hub', 'Hub', 'local-authority', '2025-01-01 10:00:00')"
            )
        )
        connection.execute(
            text(
                "INSERT INTO cases (id, reference, stage, risk, summary, lead_user_id, opened_by, "
                "opened_via, opened_at, consent, setup_state, members_invited, topic_set, header_pinned, "
                "channel_archived, review_every_weeks, actions_numbered, stage_reached) VALUES (1, "
                "'OLD001', 'support', 'low', 'x', 'U1', 'U1', 'v1', '2025-01-01 10:00:00', 'given', "
                "'ready', 1, 1, 1, 0, 4, 0, 'support')"
            )
        )
        connection.execute(
            text(
                "INSERT INTO persons (id, case_id, given_names, family_names, indexed_under, "
                "created_by, created_at, updated_by, updated_at) VALUES (1, 1, 'a', 'b', 'v', 'U1', "
                "'2025-01-01 10:00:00', 'U1', '2025-01-01 10:00:00')"
            )
        )
        connection.execute(
            text(
                "INSERT INTO person_keys (person_id, digest) VALUES (1, x'00112233445566778899aabbccddeeff')"
            )
        )
    engine.dispose()
    database = Database(url)
    try:
        database.migrate()
        with database.reader() as session:
            (main,) = areas.all_areas(session)
            assert (main.slug, main.name) == ("main", "Main partnership")
            assert session.scalars(select(Case.area_id)).all() == [main.id]
            assert [a.slug for a in areas.agencies_in(session, main.id)] == ["hub"]
        with database.engine.connect() as connection:  # the identity's index survived the rebuild
            assert connection.execute(text("SELECT count(*) FROM person_keys")).scalar_one() == 1
            assert connection.execute(text("SELECT referral_id FROM persons")).scalar_one() is None
        command.downgrade(config, "0018")
        command.upgrade(config, "head")
        with database.engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM person_keys")).scalar_one() == 1
    finally:
        database.dispose()
