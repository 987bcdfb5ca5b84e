"""Retention of case records: warned 30 days before, then content deleted and a marker left;
held cases kept; casehub's own messages deleted from Slack; the audit chains still verify."""

from __future__ import annotations

import io
from contextlib import redirect_stdout
from datetime import date, datetime, timedelta

import pytest
from slack_sdk import WebClient
from sqlalchemy import select, text

from bot.__main__ import main
from flows import retention as retention_flow
from models import (
    Action,
    AuditEvent,
    Case,
    CaseAgency,
    Crisis,
    MessageDeletion,
    Notice,
    Review,
    Update,
    UpdateRevision,
    clock,
    utcnow,
)
from sandbox.slack import BOT_USER, TOKEN
from services import chain, retention
from tests.conftest import COORD, POLICE
from tests.helpers import SUMMARY, open_case

DPO = "UDPO1"
OBSERVED = "Visited the flat on Corrie Street; talked about the forum posts at length."
ACTION = "Share the attendance record for October"
OUTCOME = "Signposted to the mentoring scheme at the youth club"


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {"casehub_dpos": [DPO]}


@pytest.fixture
def case(slack, fake, database, registry):
    fake.add_user(DPO)
    opened = open_case(slack, database, agencies=("police", "school"), agency_reference="PC-2026-0042")
    slack.command("/update", "", user=POLICE, channel=opened.channel)
    values = {
        "contact_date": date.today().isoformat(),
        "kind": "home-visit",
        "observed": OBSERVED,
        "risk": "high",
        "concerns": "Stays up at night on the forum.",
    }
    assert slack.submit(fake.last_view(), values, user=POLICE).status == 200
    reply = slack.command(
        "/action", f"add {ACTION} <@{POLICE}> due:{(date.today() + timedelta(days=7)).isoformat()}",
        user=COORD, channel=opened.channel,
    )  # fmt: skip
    assert reply.status == 200
    return opened


def move(slack, database, case, *stages: str) -> None:
    for stage in stages:
        slack.command("/case", f"stage {stage}", user=COORD, channel=case.channel)
        assert stored(database, case).stage.value == stage


def close(slack, fake, case) -> None:
    slack.command("/case", "close", user=COORD, channel=case.channel)
    assert slack.submit(fake.last_view(), {"outcome": OUTCOME, "lessons": "Earlier contact with the school"},
                        user=COORD).status == 200  # fmt: skip


def stored(database, case) -> Case:
    with database.reader() as session:
        return session.get_one(Case, case.id)


def nightly(database, settings, now: datetime) -> retention_flow.PassReport:
    return retention_flow.nightly(database, settings, now)


@pytest.fixture
def status_env(monkeypatch, database):
    monkeypatch.setenv("DATABASE_URL", database.url)


def texts_in_database(database) -> str:
    """Every text and JSON value of the tables that hold case content, as one string."""
    with database.reader() as session:
        parts: list[str] = []
        for model in (Case, Update, UpdateRevision, Action, Review, Crisis, AuditEvent):
            for row in session.scalars(select(model)):
                parts.extend(str(value) for value in vars(row).values())
        return "\n".join(parts)


def test_a_closed_case_is_warned_then_its_content_deleted_leaving_a_marker(
    slack, fake, database, settings, case
):
    move(slack, database, case, "screening", "assessment", "panel-decision")
    slack.command("/case", "consent given", user=COORD, channel=case.channel)
    move(slack, database, case, "support", "exit")
    close(slack, fake, case)
    kept = stored(database, case)
    assert kept.stage_reached == "support" and kept.exited_at is not None
    assert kept.retention_from == kept.exited_at  # the period counts from the exit
    due = retention.Schedule().kept_until(kept)
    assert due is not None and due.year == kept.exited_at.year + 6
    assert OBSERVED in texts_in_database(database)

    # Long before: nothing. Within 30 days: the lead and the officer are told, nothing deleted.
    assert nightly(database, settings, due - timedelta(days=31)).warned == 0
    report = nightly(database, settings, due - timedelta(days=30))
    assert report.warned == 1 and report.purged == []
    with database.reader() as session:
        warnings = {n.recipient: n.text for n in session.scalars(select(Notice)) if "retention" in n.key}
    assert set(warnings) == {COORD, DPO}
    assert (
        f"Case {case.reference}'s record is due for deletion on {due.date().isoformat()}" in warnings[COORD]
    )
    assert "ask a data protection officer to hold it" in warnings[COORD]
    assert f"`/case hold {case.reference} <reason>`" in warnings[DPO]
    assert nightly(database, settings, due - timedelta(days=28)).warned == 0  # told once

    assert nightly(database, settings, due - timedelta(minutes=1)).purged == []
    report = nightly(database, settings, due)
    assert report.purged == [case.reference]
    marker = stored(database, case)
    assert marker.purged_at is not None and marker.reference == case.reference
    assert (marker.summary, marker.agency_reference, marker.outcome, marker.lessons) == ("", None, None, None)
    assert marker.outcome_category == "supported" and marker.stage_reached == "support"
    assert marker.agency_kinds == ["education", "police"]
    assert marker.opened_at and marker.exited_at and marker.closed_at
    dump = texts_in_database(database)
    for typed in (OBSERVED, SUMMARY, ACTION, OUTCOME, "PC-2026-0042", "Stays up at night"):
        assert typed not in dump
    with database.reader() as session:
        assert session.scalars(select(Action)).all() == []
        assert session.scalars(select(CaseAgency)).all() == []
        [update] = session.scalars(select(Update)).all()  # a skeleton, for the sharing log
        assert update.observed == "" and update.kind.value == "home-visit"
        events = session.scalars(
            select(AuditEvent).where(AuditEvent.case_id == case.id).order_by(AuditEvent.seq)
        ).all()
        redacted = [e for e in events if e.details == chain.REDACTED]
        assert len(redacted) == len(events) - 1 and events[-1].action == "case.purged"
        assert {e.action for e in redacted} >= {"case.opened", "update.filed", "case.closed"}
    with database.engine.connect() as connection:
        assert chain.verify(connection).intact


def test_casehub_deletes_its_own_messages_and_records_what_slack_refused(
    slack, fake, database, settings, case, status_env
):
    theirs = fake.post_as(POLICE, case.channel, "A message of someone's own")
    client = WebClient(token=TOKEN, base_url=fake.api_url)
    # One casehub posted but kept no record of (as when it stopped before recording it).
    untracked = client.chat_postMessage(channel=case.channel, text="Reminder of the review")["ts"]
    close(slack, fake, case)
    ours = {  # posted, and shown in the channel as a reply to a command
        m["ts"]
        for m in fake.messages
        if m["channel"] == case.channel and m["user"] == BOT_USER and not m.get("ephemeral_to")
    }
    assert untracked in ours and len(ours) >= 5  # with the header, the update, the action, the closing
    due = retention.Schedule().kept_until(stored(database, case))
    assert due is not None
    nightly(database, settings, due - timedelta(days=30))
    report = nightly(database, settings, due)
    assert report.messages == len(ours) - 1  # all but the untracked one, which the history shows
    fake.fail("chat.delete", "cant_delete_message")  # refused for good: recorded
    fake.fail("chat.delete", "service_unavailable")  # passing: tried again later
    now = due + timedelta(minutes=1)
    assert retention_flow.delete_messages(database, client, now) == len(ours)
    assert retention_flow.delete_messages(database, client, now + timedelta(minutes=10)) == 1
    assert retention_flow.delete_messages(database, client, now + timedelta(days=1)) == 0
    with database.reader() as session:
        rows = session.scalars(select(MessageDeletion).where(MessageDeletion.ts != retention.HISTORY)).all()
    assert sorted(d.state for d in rows) == ["deleted"] * (len(ours) - 1) + ["failed"]
    [failed] = [d for d in rows if d.state == "failed"]
    assert failed.last_error == "cant_delete_message"
    left = [m for m in fake.messages if m["ts"] in ours]
    assert [m["ts"] for m in left] == [failed.ts]
    assert any(m["ts"] == theirs for m in fake.messages)  # others' messages are Slack's retention
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["retention", "status"]) == 0
    assert "deleted (marker left):    1" in out.getvalue()
    assert "(Slack refused 1)" in out.getvalue()


def test_a_held_case_is_kept_until_its_hold_is_released(slack, fake, database, settings, case, status_env):
    close(slack, fake, case)
    due = retention.Schedule().kept_until(stored(database, case))
    assert due is not None
    nightly(database, settings, due - timedelta(days=29))
    said = slack.ephemeral(slack.command("/case", f"hold {case.reference} Inquiry by the council", user=DPO))
    assert "is held" in said
    assert nightly(database, settings, due + timedelta(days=400)).purged == []
    assert stored(database, case).summary == SUMMARY
    with clock.set_to(due + timedelta(days=400)):
        said = slack.ephemeral(slack.command("/case", f"release {case.reference} Inquiry closed", user=DPO))
    assert f"was due for deletion on {due:%Y-%m-%d}" in said and "next nightly pass" in said
    assert nightly(database, settings, due + timedelta(days=401)).purged == [case.reference]
    said = slack.ephemeral(slack.command("/case", f"hold {case.reference} Another inquiry", user=DPO))
    assert "deleted under the retention schedule" in said and "nothing to hold" in said


def test_a_referral_closed_at_screening_is_kept_for_the_shorter_time(slack, fake, database, settings, case):
    move(slack, database, case, "screening", "exit")
    close(slack, fake, case)
    kept = stored(database, case)
    assert kept.stage_reached == "screening"
    due = retention.Schedule().kept_until(kept)
    assert due is not None and kept.retention_from is not None
    assert (due - kept.retention_from).days in range(1094, 1098)  # 36 months
    nightly(database, settings, due - timedelta(days=29))
    assert nightly(database, settings, due + timedelta(days=1)).purged == [case.reference]
    assert stored(database, case).outcome_category == "screened-out"


def test_a_case_is_never_deleted_sooner_than_the_warning_period_after_its_warning(
    slack, fake, database, settings, case
):
    close(slack, fake, case)
    late = utcnow() + timedelta(days=365 * 7)  # its time passed before any pass warned of it
    report = nightly(database, settings, late)
    assert report.warned == 1 and report.purged == []
    assert nightly(database, settings, late + timedelta(days=29)).purged == []
    assert nightly(database, settings, late + timedelta(days=30)).purged == [case.reference]


def test_open_cases_are_never_due(slack, database, settings, case):
    assert stored(database, case).retention_from is None
    report = nightly(database, settings, utcnow() + timedelta(days=365 * 50))
    assert (report.warned, report.purged) == (0, [])


def test_a_redaction_outside_retention_breaks_the_chain(slack, database, case):
    with database.engine.begin() as connection:  # the triggers allow this one change…
        connection.execute(
            text("UPDATE audit_events SET details = :marker WHERE action = 'update.filed'"),
            {"marker": '{"redacted": true}'},
        )
    with database.engine.connect() as connection:  # …and the verifier shows it
        report = chain.verify(connection)
    assert not report.intact
    assert "was redacted, but its case was never deleted under retention" in report.summary()


@pytest.mark.parametrize(
    "change",
    [
        "UPDATE audit_events SET actor = 'UFORGER' WHERE action = 'update.filed'",
        "UPDATE audit_events SET details = '{\"note\": \"rewritten\"}' WHERE action = 'update.filed'",
        "UPDATE audit_events SET details = '{\"redacted\": true}', actor = 'UX' WHERE id = 1",
    ],
)
def test_nothing_but_a_redaction_may_change_an_audit_entry(slack, database, case, change):
    with pytest.raises(Exception, match="append-only"), database.engine.begin() as connection:
        connection.execute(text(change))


def test_the_months_arithmetic_keeps_to_the_calendar():
    assert retention.months_before(datetime(2026, 3, 31), 1) == datetime(2026, 2, 28)
    assert retention.months_before(datetime(2026, 1, 15), 13) == datetime(2024, 12, 15)
    assert retention.months_before(datetime(2024, 2, 29), -12) == datetime(2025, 2, 28)
    assert retention.outcome_category("referral") == "screened-out"
    assert retention.outcome_category("panel-decision") == "not-adopted"


def test_the_migration_works_out_existing_cases_from_their_audit_trail(tmp_path):
    import json

    from alembic import command
    from sqlalchemy import create_engine

    from bot.db import Database, alembic_config

    url = f"sqlite:///{tmp_path / 'old.db'}"
    command.upgrade(alembic_config(url), "0013")
    engine = create_engine(url)
    with engine.begin() as connection:
        for number, (stage, closed) in enumerate([("closed", "2020-05-01 10:00:00"), ("support", None)], 1):
            connection.execute(
                text(
                    "INSERT INTO cases (id, reference, stage, risk, summary, lead_user_id, opened_by, "
                    "opened_via, opened_at, consent, setup_state, members_invited, topic_set, header_pinned, "
                    "channel_archived, review_every_weeks, actions_numbered, closed_at) VALUES (:id, :ref, "
                    ":stage, 'low', 'x', 'U1', 'U1', :via, '2019-01-01 10:00:00', 'given', 'ready', 1, 1, 1, "
                    "0, 4, 0, :closed)"
                ),
                {
                    "id": number,
                    "ref": f"OLD00{number}",
                    "stage": stage,
                    "via": f"v{number}",
                    "closed": closed,
                },
            )
        moves = [(1, "referral", "screening"), (1, "screening", "assessment"), (1, "assessment", "exit")]
        for seq, (case_id, previous, stage) in enumerate(moves, 1):
            connection.execute(
                text(
                    "INSERT INTO audit_events (at, actor, action, case_id, details, request_ref, seq, "
                    "chain_hash) VALUES (:at, 'U1', 'case.stage', :case, :details, 'old', :seq, 'x')"
                ),
                {
                    "at": f"2020-0{seq}-01 10:00:00.000000",
                    "case": case_id,
                    "details": json.dumps({"previous": previous, "stage": stage}),
                    "seq": seq,
                },
            )
    engine.dispose()
    database = Database(url)
    database.migrate()
    try:
        with database.reader() as session:
            closed, running = session.scalars(select(Case).order_by(Case.id)).all()
        assert closed.stage_reached == "assessment" and closed.exited_at is not None
        assert closed.retention_from == closed.exited_at and closed.exited_at.month == 3
        assert running.stage_reached == "support" and running.retention_from is None
    finally:
        database.dispose()


def test_an_export_of_a_deleted_case_shows_its_marker_and_nothing_else(slack, fake, database, settings, case):
    from pypdf import PdfReader

    from services import export, export_pdf

    close(slack, fake, case)
    due = retention.Schedule().kept_until(stored(database, case))
    assert due is not None
    nightly(database, settings, due - timedelta(days=30))
    assert nightly(database, settings, due).purged == [case.reference]
    with database.reader() as session:
        bundle = export.build(
            session, session.get_one(Case, case.id), export.Purpose.COURT, made_by=DPO, made_at=due,
            via_slack=False, bases={"safeguarding": "Safeguarding"},
        )  # fmt: skip
    marker = bundle.case["deleted_under_retention"]
    assert (marker["outcome_category"], marker["agency_kinds"]) == ("screened-out", ["education", "police"])
    text = "\n".join(
        page.extract_text()
        for page in PdfReader(io.BytesIO(export_pdf.render(bundle, export_pdf.find_font()))).pages
    )
    flat = " ".join(text.split())
    assert "record was deleted under the retention schedule on" in flat
    for typed in (OBSERVED, SUMMARY, ACTION, OUTCOME):
        assert typed not in flat and typed not in bundle.to_json().decode()


def test_the_scheduler_runs_the_retention_pass_nightly_apart_from_its_sweeps(database):
    from datetime import time

    from bot.scheduler import RETENTION_JOB, build_scheduler

    scheduler = build_scheduler(database, audit_at=time(2, 30), retention_at=time(3, 0))
    scheduler.start(paused=True)
    try:
        job = scheduler.get_job(RETENTION_JOB)
        assert job.executor == "audit" and (job.next_run_time.hour, job.next_run_time.minute) == (3, 0)
    finally:
        scheduler.shutdown(wait=False)
