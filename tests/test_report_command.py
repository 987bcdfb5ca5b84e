"""`/report` end to end over HTTP through the emulated Slack (on SQLite and PostgreSQL): the PDF and
the CSV by direct message, who may have which report, refusals, a repeated delivery, Slack
refusing the files, each month's report to an area's coordinators, and later reports protected
with what earlier ones withheld."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from pypdf import PdfReader
from slack_sdk import WebClient
from sqlalchemy import select

from flows import reporting
from flows.reporting import send_monthly
from models import AuditEvent, ReportRelease
from models.clock import clock as casehub_clock
from sandbox.slack import TOKEN
from services import areas, report_releases, reports
from tests.conftest import ADMIN, COORD, COORD2, POLICE
from tests.test_reports import SECRET_SUMMARY, make_dataset, report_of

NATIONAL_LEAD = "UNATLEAD"
# Tuesday 1 December 2026, the first working day of the month, mid-morning in London.
FIRST_WORKING_DAY = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


@pytest.fixture
def dataset(database, registry):
    return make_dataset(database)


@pytest.fixture
def clock():
    with casehub_clock.set_to(FIRST_WORKING_DAY, running=True) as moved:
        yield moved


def dm_files(fake, user=COORD) -> list[dict]:
    return fake.files_in(f"D{user}")


def pdf_text(data: bytes) -> str:
    return " ".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def releases(database) -> list[ReportRelease]:
    with database.reader() as session:
        return list(session.scalars(select(ReportRelease).order_by(ReportRelease.id)))


def audited(database) -> list[AuditEvent]:
    with database.reader() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == "report.sent")))


def test_a_coordinator_gets_the_pdf_and_the_csv_by_direct_message(slack, fake, database, dataset, clock):
    said = slack.ephemeral(slack.command("/report", "2026", user=COORD))
    assert "is in your direct messages" in said and "(main, 2026)" in said
    pdf, data = dm_files(fake)
    assert pdf["name"] == "casehub-report-main-2026.pdf" and data["name"] == "casehub-report-main-2026.csv"
    assert pdf["data"].startswith(b"%PDF-")
    text = pdf_text(pdf["data"])
    for words in ("casehub evaluation report", reports.CASES, reports.STAGES, "fewer than 5 or withheld"):
        assert words in text
    # The CSV is the report's figures, those a report built now gives (no report went before).
    assert data["data"].decode() == reports.to_csv(report_of(database))
    rows = list(csv.reader(io.StringIO(data["data"].decode())))
    assert ["opened", "8", "0", "0", "0", "8"] in rows
    # Nothing in either file names a case, a person, an agency or anyone's Slack ID.
    for content in (text, data["data"].decode()):
        assert SECRET_SUMMARY not in content and "K00000" not in content and COORD not in content
        assert all(name not in content for name in ("County Police", "Safeguarding Hub", "Community Health"))
    [release] = releases(database)
    assert release.state == "sent" and release.requested_by == COORD and release.scope_key.startswith("area:")
    assert release.file_ids == [pdf["id"], data["id"]]
    [event] = audited(database)
    assert (
        event.actor == COORD
        and event.details["period"] == "2026"
        and event.details["files"] == release.file_ids
    )


def test_last_month_by_default_and_a_period_not_over_says_so(slack, fake, database, dataset, clock):
    said = slack.ephemeral(slack.command("/report", "", user=COORD))
    assert "(main, 2026-11)" in said and "not over" not in said
    said = slack.ephemeral(slack.command("/report", "main 2026-Q4", user=COORD))
    assert "(main, 2026-Q4)" in said and "2026-Q4 is not over" in said
    assert [r.period for r in releases(database)] == ["2026-11", "2026-Q4"]


@pytest.mark.parametrize(
    ("text", "user", "expected"),
    [
        ("2026", POLICE, "You neither oversee nor coordinate an area."),
        ("north 2026", COORD, "`north` is none of the areas or regions whose reports you have."),
        ("national 2026", COORD, "Only national coordinators have the national report."),
        ("2026-13", COORD, "`2026-13` is not a period."),
        ("2027", COORD, "2027 has not begun yet."),
        ("main 2026 extra", COORD, "Name at most an area (or region) and a period."),
        ("2026-10 2026-11", COORD, "Name at most an area (or region) and a period."),
        ("9999", COORD, "`9999` is not a period."),
        ("region:main 2026", COORD, "`region:main` is none of the areas or regions whose reports you have."),
    ],
)
def test_wrong_asks_are_refused_with_what_to_do(slack, fake, database, dataset, clock, text, user, expected):
    said = slack.ephemeral(slack.command("/report", text, user=user))
    assert expected in said
    assert releases(database) == [] and dm_files(fake, user) == []


def test_the_help_and_the_manifest(slack):
    import yaml

    from tests.test_export import ROOT

    said = slack.ephemeral(slack.command("/report", "help", user=COORD))
    assert "/report [area|region|national] [period]" in said and "2026-Q4" in said
    manifest = yaml.safe_load((ROOT / "manifest.yml").read_text())
    [command] = [c for c in manifest["features"]["slash_commands"] if c["command"] == "/report"]
    assert "help" in command["usage_hint"]


def test_a_national_coordinator_has_the_national_report(slack, fake, database, dataset, clock):
    fake.add_user(NATIONAL_LEAD)
    slack.command("/area", f"overseer add <@{NATIONAL_LEAD}> national", user=ADMIN)
    said = slack.ephemeral(slack.command("/report", "2026", user=NATIONAL_LEAD))
    assert "(every area (2), 2026)" in said
    _pdf, data = dm_files(fake, NATIONAL_LEAD)
    assert data["data"].decode().splitlines()[1] == "areas,every area (2)"
    assert ["opened", "9", "0", "0", "0", "9"] in list(csv.reader(io.StringIO(data["data"].decode())))
    assert releases(database)[0].scope_key == "national"


def test_a_region_named_like_an_area_is_asked_for_as_a_region(slack, fake, database, dataset, clock):
    fake.add_user(NATIONAL_LEAD)
    slack.command("/area", f"overseer add <@{NATIONAL_LEAD}> north", user=ADMIN)
    said = slack.ephemeral(slack.command("/report", "north 2026", user=NATIONAL_LEAD))
    assert "The region `north` has no areas yet, so there is nothing to report." in said
    slack.command("/area", "set north region north", user=ADMIN)
    said = slack.ephemeral(slack.command("/report", "region:north 2026", user=NATIONAL_LEAD))
    assert "(region north (1 areas), 2026)" in said
    assert [r.scope_key for r in releases(database)] == ["region:north"]


def test_a_repeated_delivery_sends_the_report_once(slack, fake, database, dataset, clock):
    first = slack.command("/report", "2026", user=COORD)
    assert slack.replay(first).status == 200
    assert len(dm_files(fake)) == 2 and len(fake.calls_to("files.completeUploadExternal", ok=True)) == 1
    assert len(releases(database)) == 1 and len(audited(database)) == 1
    # The same request's work done again (a retried job) finds it sent.
    with database.reader() as session:
        scope = report_releases.for_area(areas.get(session, "main"))
    said = reporting.deliver(
        database,
        slack.work.casehub.app.client,
        slack.work.casehub.settings,
        user=COORD,
        scope=scope,
        period=reports.Period.parse("2026"),
        request_ref=releases(database)[0].requested_via,
    )
    assert "was sent already" in said and len(dm_files(fake)) == 2


def test_a_refused_upload_is_told_and_keeps_what_it_would_have_given_away(
    slack, fake, database, dataset, clock
):
    fake.fail("files.completeUploadExternal", "not_in_channel")
    said = slack.ephemeral(slack.command("/report", "2026", user=COORD))
    assert "Slack answered `not_in_channel`" in said and "was not sent" in said
    [release] = releases(database)
    # Kept: a refusal whose files arrived all the same cannot be told from one whose files did not.
    assert release.state == "failed" and release.withheld and release.known
    assert dm_files(fake) == [] and audited(database) == []
    said = slack.ephemeral(slack.command("/report", "2026", user=COORD))
    assert "is in your direct messages" in said and len(dm_files(fake)) == 2


def test_an_upload_whose_answer_is_lost_is_found_and_not_sent_again(slack, fake, database, dataset, clock):
    fake.lose_answer("files.completeUploadExternal")
    said = slack.ephemeral(slack.command("/report", "2026", user=COORD))
    assert "is in your direct messages" in said
    assert len([m for m in fake.dms(COORD) if m.get("files")]) == 1
    assert [r.state for r in releases(database)] == ["sent"] and len(audited(database)) == 1


def test_a_release_keeps_the_months_its_trend_chart_draws(slack, fake, database, dataset, clock):
    slack.command("/report", "2026-11", user=COORD)
    [release] = releases(database)
    kept = {tuple(p) for p in release.known[reports.CASES] + release.withheld[reports.CASES]}
    assert {("opened", "Feb 2026"), ("closed", "Nov 2026"), ("Total", "Nov 2026")} <= kept
    assert ("opened", "Dec 2026") not in kept  # after the period: not drawn
    consent = {tuple(p) for p in release.known[reports.CONSENT] + release.withheld[reports.CONSENT]}
    assert consent and {column for _, column in consent} == {"Nov 2026"}  # its table's month only


def test_places_a_table_no_longer_has_are_left_aside(database, dataset):
    with database.reader() as session:
        main = areas.get(session, "main")
        earlier = {
            reports.CASES: (frozenset({("reopened", "Feb 2026"), ("opened", "Feb 2026")}), frozenset())
        }
        report = reports.build(session, areas=[main], period=reports.Period.parse("2026-02"), earlier=earlier)
    assert report.table(reports.CASES).cells[0][0].withheld  # the 8 opened in February, withheld again


def test_a_later_report_keeps_withheld_what_an_earlier_one_withheld(slack, fake, database, dataset, clock):
    """The month's report, then its quarter's after a record changed: what the first withheld stays
    withheld, and what it gave away is not chosen to hide a new small count."""
    slack.command("/report", "2026-02", user=COORD)
    [first] = releases(database)
    assert first.withheld and first.known
    with database.reader() as session:
        main = areas.get(session, "main")
        earlier = report_releases.earlier(session, f"area:{main.id}", 2026)
        later = reports.build(session, areas=[main], period=reports.Period.parse("2026-Q1"), earlier=earlier)
    for table in later.year_tables:
        grid = table.bordered()
        rows, columns = [*table.rows, "Total"], [*table.columns, "Total"]
        for row, column in first.withheld.get(table.title, []):
            cell = grid[rows.index(row)][columns.index(column)]
            assert cell.withheld or cell.value == 0


# ---- each month's report ---------------------------------------------------------------------------


@pytest.fixture
def monthly(settings):
    return settings.model_copy(update={"report_monthly": True})


@pytest.fixture
def api(fake):
    return WebClient(token=TOKEN, base_url=fake.api_url)


def test_each_coordinator_gets_last_months_report_on_the_first_working_day(
    slack, fake, database, dataset, clock, monthly, api
):
    before = send_monthly(database, api, monthly, FIRST_WORKING_DAY - timedelta(days=1))  # 30 November
    assert before == 0 and dm_files(fake) == []
    assert send_monthly(database, api, monthly, FIRST_WORKING_DAY.replace(hour=6)) == 0  # before hours
    assert send_monthly(database, api, monthly, FIRST_WORKING_DAY) == 2
    for user in (COORD, COORD2):
        _pdf, data = dm_files(fake, user)
        assert data["name"] == "casehub-report-main-2026-11.csv"
    assert {r.requested_by for r in releases(database)} == {COORD, COORD2}
    assert all(r.monthly and r.period == "2026-11" for r in releases(database))
    assert send_monthly(database, api, monthly, FIRST_WORKING_DAY + timedelta(minutes=10)) == 0
    assert len(dm_files(fake)) == 2


def test_the_monthly_report_waits_for_a_bank_holiday_to_pass(slack, fake, database, dataset, monthly, api):
    new_year = datetime(2027, 1, 1, 10, 0, tzinfo=UTC)  # a Friday, and a bank holiday in England
    with database.session() as session:
        areas.get(session, "main").holidays = "GB-ENG"
    with casehub_clock.set_to(new_year, running=True):
        assert send_monthly(database, api, monthly, new_year) == 0
    monday = new_year + timedelta(days=3)
    with casehub_clock.set_to(monday, running=True):
        assert send_monthly(database, api, monthly, monday) == 2
    assert {r.period for r in releases(database)} == {"2026-12"}


def test_a_monthly_report_slack_cannot_take_for_a_moment_goes_at_a_later_run(
    slack, fake, database, dataset, clock, monthly, api
):
    fake.server_error("files.completeUploadExternal")
    assert send_monthly(database, api, monthly, FIRST_WORKING_DAY) == 1  # one of the two
    assert sorted(r.state for r in releases(database)) == ["sending", "sent"]
    # Tried a minute ago: left for now, and the others are not held up.
    assert send_monthly(database, api, monthly, FIRST_WORKING_DAY + timedelta(minutes=1)) == 0
    later = FIRST_WORKING_DAY + timedelta(minutes=20)
    with casehub_clock.set_to(later, running=True):
        assert send_monthly(database, api, monthly, later) == 1
    assert [r.state for r in releases(database)] == ["sent", "sent"]
    assert len(fake.calls_to("files.completeUploadExternal", ok=True)) == 2


def test_monthly_reports_are_off_when_the_setting_says_so(
    slack, fake, database, dataset, clock, settings, api
):
    assert not settings.report_monthly
    assert send_monthly(database, api, settings, FIRST_WORKING_DAY) == 0


def test_the_scheduler_looks_for_monthly_reports_apart_from_its_sweeps(database):
    from bot.scheduler import REPORTS_EVERY_MINUTES, REPORTS_JOB, SWEEP_JOB, build_scheduler

    for wanted in (True, False):
        scheduler = build_scheduler(database, monthly_reports=wanted)
        scheduler.start(paused=True)
        try:
            job = scheduler.get_job(REPORTS_JOB)
            if not wanted:
                assert job is None
                continue
            assert job.executor == "audit" and scheduler.get_job(SWEEP_JOB).executor == "default"
            assert job.trigger.interval == timedelta(minutes=REPORTS_EVERY_MINUTES)
        finally:
            scheduler.shutdown(wait=False)
