"""Evaluation reports: figures from a small known dataset, on both databases, under disclosure
control, with nothing in them that names a case, a person or an agency."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from models import (
    Action,
    ActionStatus,
    Agency,
    Area,
    Awareness,
    Case,
    CaseAgency,
    Consent,
    Crisis,
    FollowUp,
    Page,
    Referral,
    ReferralConsent,
    ReferralState,
    Review,
    Risk,
    Stage,
    Update,
    UpdateKind,
    Urgency,
)
from services import agencies, areas, audit, reports
from services.disclosure import CountTable, protect
from services.errors import InvalidInput
from services.reports import Period
from tests.conftest import ADMIN, COORD

START = datetime(2026, 2, 2, 10, 0, tzinfo=UTC)
SECRET_SUMMARY = "Sharing extremist material at Northfield"


def at(days: float) -> datetime:
    return START + timedelta(days=days)


def referral(session, n: int, area_id: int, agency_id: int, received: datetime, state: ReferralState) -> None:
    session.add(
        Referral(
            reference=f"R{n:05d}",
            area_id=area_id,
            referrer="UREF",
            agency_id=agency_id,
            submitted_via=f"t:{n}",
            concern=SECRET_SUMMARY,
            why_now="now",
            risk=Risk.MODERATE,
            awareness=Awareness.UNKNOWN,
            consent=ReferralConsent.NOT_ASKED,
            urgency=Urgency.ROUTINE,
            state=state,
            received_at=received,
            ack_due_at=received + timedelta(days=1),
            decision_due_at=received + timedelta(days=5),
            decided_at=None if state.is_open else received + timedelta(days=3),
        )
    )


def stage(session, case: Case, to: Stage, when: datetime, previous: Stage) -> None:
    event = audit.record(
        session,
        actor=COORD,
        action="case.stage",
        request_ref="t",
        case=case,
        previous=previous.value,
        stage=to.value,
    )
    event.at = when


@pytest.fixture
def dataset(database, registry):
    return make_dataset(database)


def make_dataset(database) -> int:
    """Eight cases in `main` opened from 2 February 2026 a day apart, and one in `north`."""
    with database.session() as session:
        north = areas.add(session, slug="north", name="North Shire", actor=ADMIN, request_ref="t")
        police, school, health = (agencies.get(session, s) for s in ("police", "school", "health"))
        main_id = areas.get(session, areas.MAIN).id
        n = 0
        for agency, count, when in ((school, 6, at(-20)), (police, 7, at(-25)), (health, 2, at(70))):
            for _ in range(count):
                n += 1
                referral(session, n, main_id, agency.id, when, ReferralState.ACCEPTED)
        session.flush()
        for i in range(9):
            area_id = main_id if i < 8 else north.id
            opened = at(i)
            case = Case(
                reference=f"K{i:05d}",
                risk=Risk.MODERATE,
                summary=SECRET_SUMMARY,
                area_id=area_id,
                lead_user_id=COORD,
                opened_by=COORD,
                opened_via=f"t:case:{i}",
                opened_at=opened,
                stage=Stage.SUPPORT,
                consent=Consent.GIVEN,
                consent_date=(opened + timedelta(days=15)).date(),
            )
            session.add(case)
            session.flush()
            stage(session, case, Stage.SCREENING, opened + timedelta(days=2), Stage.REFERRAL)
            stage(session, case, Stage.PANEL_DECISION, opened + timedelta(days=10), Stage.SCREENING)
            case.stage_reached = Stage.PANEL_DECISION.value
            if i < 6:
                stage(session, case, Stage.SUPPORT, opened + timedelta(days=20), Stage.PANEL_DECISION)
                case.stage_reached = Stage.SUPPORT.value
            if i < 5:
                stage(session, case, Stage.EXIT, opened + timedelta(days=100), Stage.SUPPORT)
                case.exited_at = opened + timedelta(days=100)
                case.closed_at = opened + timedelta(days=120)
                case.stage = Stage.CLOSED
                session.add(
                    FollowUp(case_id=case.id, due_on=date(2026, 12, 1), label="6-month follow-up review")
                )
            for agency, first in ((police, 1), (school, 3)):
                session.add(
                    CaseAgency(case_id=case.id, agency_id=agency.id, joined_at=opened, added_by=COORD)
                )
                session.add(
                    Update(
                        case_id=case.id,
                        agency_id=agency.id,
                        filer="UFILER",
                        filer_role="member",
                        contact_date=opened.date(),
                        kind=UpdateKind.NOTE,
                        observed=SECRET_SUMMARY,
                        created_at=opened + timedelta(days=first),
                        filed_via=f"t:u:{i}:{agency.id}",
                    )
                )
            done = date(2026, 3, 10) if i < 6 else None
            session.add(
                Action(
                    case_id=case.id,
                    number=1,
                    text=SECRET_SUMMARY,
                    agency_id=police.id,
                    owner="UPOL1",
                    due=date(2026, 3, 15),
                    status=ActionStatus.DONE if done else ActionStatus.OPEN,
                    created_by=COORD,
                    created_at=opened,
                    created_via=f"t:a:{i}",
                    done_at=datetime(2026, 3, 10, 9, tzinfo=UTC) if done else None,
                )
            )
            session.add(
                Review(
                    case_id=case.id,
                    held_on=(opened + timedelta(days=25)).date(),
                    decisions=SECRET_SUMMARY,
                    risk_after=Risk.LOW,
                    next_review_at=opened + timedelta(days=53),
                    recorded_by=COORD,
                    recorded_at=opened + timedelta(days=25),
                    recorded_via=f"t:r:{i}",
                )
            )
            session.add(
                Review(
                    case_id=case.id,
                    held_on=(opened + timedelta(days=53)).date(),
                    decisions=SECRET_SUMMARY,
                    risk_after=Risk.LOW,
                    recorded_by=COORD,
                    recorded_at=opened + timedelta(days=53),
                    recorded_via=f"t:r2:{i}",
                )
            )
            if i == 0:
                crisis = Crisis(
                    case_id=case.id,
                    summary=SECRET_SUMMARY,
                    raised_by=COORD,
                    raised_at=at(30),
                    raised_via="t:c",
                )
                session.add(crisis)
                session.flush()
                session.add(
                    Page(
                        crisis_id=crisis.id,
                        agency_id=police.id,
                        user_id="UPOL1",
                        level=0,
                        key="t:p",
                        created_at=at(30),
                        acknowledged_at=at(30) + timedelta(minutes=6),
                    )
                )
    return main_id


def report_of(database, slugs=("main",), period="2026", threshold=5):
    with database.reader() as session:
        chosen = [areas.get(session, slug) for slug in slugs]
        return reports.build(session, areas=chosen, period=Period.parse(period), threshold=threshold)


def values(table):
    return [[c.value for c in line] for line in table.bordered()]


def test_periods_are_months_quarters_and_years():
    year = Period.parse("2026")
    assert (year.start, year.end) == (datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
    assert [p.label for p in year.parts] == ["2026-Q1", "2026-Q2", "2026-Q3", "2026-Q4"]
    quarter = Period.parse("2026-q4")
    assert quarter.end == datetime(2027, 1, 1, tzinfo=UTC)
    assert [p.column_label for p in quarter.parts] == ["Oct 2026", "Nov 2026", "Dec 2026"]
    month = Period.parse("2026-11")
    assert month.parts == (month,) and month.end == datetime(2026, 12, 1, tzinfo=UTC)
    for wrong in ("2026-13", "2026-Q5", "26", "last year"):
        with pytest.raises(InvalidInput):
            Period.parse(wrong)


def test_a_years_figures_from_a_known_dataset(database, dataset):
    report = report_of(database)
    cases = report.table(reports.CASES)
    assert cases.columns == ("2026-Q1", "2026-Q2", "2026-Q3", "2026-Q4")
    assert values(cases)[:2] == [[8, 0, 0, 0, 8], [0, 5, 0, 0, 5]]  # the north's case is not counted
    referrals = report.table(reports.REFERRALS)
    education = referrals.rows.index("education")
    police = referrals.rows.index("police")
    assert referrals.cells[education][0].value == 6 and referrals.cells[police][0].value == 7
    health = referrals.rows.index("health")
    assert referrals.cells[health][1].shown(5) == "fewer than 5 or withheld"
    assert values(report.table(reports.UPDATES))[referrals.rows.index("police")][0] == 8
    assert values(report.table(reports.CONSENT))[0][:2] == [8, 0]
    assert values(report.table(reports.AGENCIES_PER_CASE))[1][0] == 8  # two agencies each
    due = values(report.table(reports.ACTIONS_DUE))
    # 6 done on time and 2 not done: the 2 is withheld, and the 6 with it, or 8 less 6 gives it.
    assert due[2][0] is None and due[0][0] is None
    reviews = values(report.table(reports.REVIEWS))
    assert reviews[0][-1] == 8 and reviews[2][-1] == 8  # the second on its planned day
    assert report.table(reports.CRISES).cells[0][0].shown(5) == "fewer than 5 or withheld"
    assert values(report.table(reports.OUTCOMES))[2][1] == 5
    assert values(report.table(reports.FOLLOW_UPS))[0][3] == 0  # 5 not held: shown below
    assert values(report.table(reports.FOLLOW_UPS))[1][3] == 5
    durations = {d.title: d for d in report.durations}
    assert durations[reports.TO_SCREENING].median == 2.0
    assert durations[reports.TO_PANEL].median == 10.0
    assert durations[reports.TO_SUPPORT].median == 20.0
    assert durations[reports.SUPPORT_LENGTH].median == 80.0
    assert durations[reports.FIRST_UPDATE].median == 2.0
    assert durations[reports.FIRST_ACK].withheld  # one crisis


def test_several_areas_are_added_together(database, dataset):
    report = report_of(database, slugs=("main", "north"))
    assert values(report.table(reports.CASES))[0][0] == 9


def test_a_quarters_columns_are_its_months(database, dataset):
    report = report_of(database, period="2026-Q1")
    cases = report.table(reports.CASES)
    assert cases.columns == ("Jan 2026", "Feb 2026", "Mar 2026")
    assert values(cases)[0] == [0, 8, 0, 8]


def test_the_threshold_is_a_setting(database, dataset):
    report = report_of(database, threshold=3)
    assert report.table(reports.CRISES).cells[0][0].shown(3) == "fewer than 3 or withheld"
    assert report.table(reports.ACTIONS_DUE).cells[2][0].value is None  # 2 is under 3
    assert report_of(database, threshold=2).table(reports.ACTIONS_DUE).cells[2][0].value == 2


def test_every_published_count_is_protected(database, dataset):
    report = report_of(database)
    for table in report.tables:
        for line in table.bordered():
            for cell in line:
                assert cell.value is None or cell.value == 0 or cell.value >= 5


def test_the_csv_names_no_case_person_or_agency(database, dataset):
    text = reports.to_csv(report_of(database)) + reports.to_csv(report_of(database, period="2026-02"))
    with database.reader() as session:
        references = list(session.scalars(select(Case.reference))) + list(
            session.scalars(select(Referral.reference))
        )
        names = list(session.scalars(select(Agency.name)))
        area_names = [a.name for a in session.scalars(select(Area))]
    for forbidden in [*references, *names, *area_names, SECRET_SUMMARY, COORD, "UPOL1", "UREF", "UFILER"]:
        assert forbidden not in text
    assert "County Police" in names and "Northfield Academy" in names
    assert "fewer than 5 or withheld" in text and "Referral to support" in text
    assert text.splitlines()[0] == "casehub evaluation report,2026"


def test_lessons_are_counted_by_where_they_stand(database, dataset):
    from models.lesson import Lesson, LessonStatus

    with database.session() as session:
        school = agencies.get(session, "school")
        main_id = areas.get(session, areas.MAIN).id
        for n, status in enumerate([LessonStatus.AGREED] * 6 + [LessonStatus.PROPOSED] * 2, start=1):
            session.add(
                Lesson(
                    area_id=main_id,
                    number=n,
                    text="Share attendance data with the hub within a week of a referral.",
                    protocol="Information-sharing protocol",
                    agency_id=school.id,
                    due=date(2026, 6, 30),
                    status=status,
                    created_by=COORD,
                    created_at=at(-10),
                    created_via=f"t:lesson:{n}",
                )
            )
    table = report_of(database).table(reports.LESSONS)
    assert table.rows == tuple(s.value for s in LessonStatus)
    counted = values(table)
    # 6 agreed and 2 proposed in one quarter: the 2 is withheld, and the 6 with it.
    assert counted[1][0] is None and counted[0][0] is None
    assert counted[-1][-1] == 8  # the total of the year is published


# ---- every period of a year read from one protected table -------------------------------------------

MONTHS = tuple(Period.parse(f"2026-{m:02d}") for m in range(1, 13))
PERIODS = (
    *MONTHS,
    *(Period.parse(f"2026-Q{q}") for q in range(1, 5)),
    Period.parse("2026"),
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.lists(st.one_of(st.integers(0, 4), st.integers(0, 15), st.just(0)), min_size=12, max_size=12),
        min_size=1,
        max_size=3,
    )
)
def test_a_months_quarters_and_years_reports_say_nothing_their_years_table_does_not(rows):
    """Every figure of every period's table is the true count, and is published only when every
    figure of the year's protected table it adds up is published: so the reports of a month, its
    quarter and its year, read together, give away nothing the year's table does not, and that
    table hides each withheld count (tests/test_disclosure.py)."""
    true = CountTable(
        "t",
        tuple(f"kind{i}" for i in range(len(rows))),
        tuple(m.column_label for m in MONTHS),
        tuple(map(tuple, rows)),
    )
    year = protect(true, 5)
    truth, grid = true.bordered(), year.bordered()
    for period in PERIODS:
        shown = reports.view(year, period)
        assert shown.columns == tuple(p.column_label for p in period.parts)
        withheld, known = reports.released(year, period)
        for i, line in enumerate(shown.bordered()):
            for j, figure in enumerate(line):
                [positions] = [reports._layout(period, len(rows))[i][j]]
                if figure.withheld:
                    assert any(grid[a][b].withheld for a, b in positions)
                    assert {p for p in positions if grid[p[0]][p[1]].withheld} <= withheld
                else:
                    assert figure.value == sum(truth[a][b] for a, b in positions)
                    assert all(not grid[a][b].withheld for a, b in positions) and set(positions) <= known
        assert not withheld & known


def test_a_month_reads_the_same_in_its_own_report_and_in_its_quarters(dataset, database):
    month, quarter = report_of(database, period="2026-02"), report_of(database, period="2026-Q1")
    for table in month.tables:
        other = quarter.table(table.title)
        assert [line[0] for line in table.cells] == [line[1] for line in other.cells]
        assert table.column_totals[0] == other.column_totals[1]
