"""Exports of a case: the bundle and its redaction by purpose, the PDF's text, the command line,
and `/case export` end to end over HTTP through the emulated Slack (on SQLite and PostgreSQL)."""

from __future__ import annotations

import hashlib
import io
import json
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from bot import __main__ as cli
from models import AccessRecord, Action, AuditEvent, Case, Disclosure, Export, Page, SharingRecord, Update
from models.clock import clock as casehub_clock
from services import export, export_pdf, sharing_gate
from tests.conftest import ADMIN, COORD, COORD2, HEALTH, KEY_ENV, POLICE, SCHOOL
from tests.helpers import logging_as_configured, open_case

ROOT = Path(__file__).resolve().parent.parent
TUESDAY = datetime(2026, 12, 8, 11, 0, tzinfo=UTC)
TODAY = "2026-12-08"
DPO = "UDPO1"
SEEN = "Visited the family home; the young person spoke about online forums."
RESTRICTED = "Confidential detail about the household, for the lead coordinator only."
NAMED = "Met the young person named John Smith at the hub"
TYPED = "Café visit: “calm” — said καλημέρα and спасибо → follow-up"
STAFF = (COORD, POLICE, SCHOOL)
SECTIONS = (
    "The case",
    "The person",
    "Agencies",
    "Stages",
    "Consent",
    "Updates",
    "Actions",
    "Reviews",
    "Crises",
)


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {"casehub_dpos": [DPO]}


@pytest.fixture
def clock():
    with casehub_clock.set_to(TUESDAY, running=True) as moved:
        yield moved


def file_update(slack, case, user, **values):
    slack.command("/update", "", user=user, channel=case.channel)
    values = {"contact_date": TODAY, "kind": "home-visit", "observed": SEEN, "risk": "high", **values}
    return slack.submit(slack.fake.last_view(), values, user=user)


def file_named_update(slack, fake, case):
    """An update with a name in it, confirmed by its filer as not the person's (a relative's, say)."""
    slack.command("/update", "", user=POLICE, channel=case.channel)
    view, values = fake.last_view(), {"contact_date": TODAY, "kind": "meeting", "observed": NAMED}
    assert slack.submit(view, values, user=POLICE).json()["response_action"] == "update"
    again = fake.views[view["id"]]
    [box] = [b for b in again["blocks"] if b.get("block_id") == sharing_gate.CONFIRM_FIELD]
    ticked = [o["value"] for o in box["element"]["options"]]
    assert slack.submit(again, {**values, sharing_gate.CONFIRM_FIELD: ticked}, user=POLICE).body == ""


@pytest.fixture
def case(clock, slack, fake, database, registry):
    """A case with something in every section: stages, consent, updates (one restricted, one
    naming someone, one typed in several scripts), an action done, a review, a crisis paged,
    acknowledged and resolved, an agency added later."""
    fake.add_user(DPO)
    opened = open_case(slack, database, agencies=("police", "school"), agency_reference="POL-2026-0042")
    slack.command("/case", "stage screening", user=COORD, channel=opened.channel)
    slack.command("/case", "consent given 2026-12-01", user=COORD, channel=opened.channel)
    file_update(slack, opened, POLICE, concerns="Spends nights online.")
    file_update(slack, opened, SCHOOL, observed=RESTRICTED, restricted=["yes"], kind="observation")
    file_named_update(slack, fake, opened)
    file_update(slack, opened, SCHOOL, observed=TYPED, kind="note", risk="moderate")
    slack.command(
        "/action",
        f"add Share attendance figures <@{SCHOOL}> due:2026-12-20",
        user=COORD,
        channel=opened.channel,
    )
    with database.reader() as session:
        action_id = session.scalars(select(Action.id)).one()
    slack.click("action_done", str(action_id), user=SCHOOL, channel=opened.channel)
    slack.command("/review", "record", user=COORD, channel=opened.channel)
    slack.submit(
        fake.last_view(),
        {
            "held_on": "2026-12-07",
            "present": ["police", "school"],
            "decisions": "Continue support; mentoring to start",
            "risk_after": "moderate",
            "next_review": "2027-01-04",
        },
        user=COORD,
    )
    slack.command("/oncall", f"set police <@{POLICE}>", user=ADMIN)
    slack.command("/crisis", "Threats made online tonight", user=SCHOOL, channel=opened.channel)
    with database.reader() as session:
        page = session.scalars(select(Page).where(Page.user_id == POLICE)).one()
    slack.click("crisis_ack", str(page.id), user=POLICE)
    slack.command("/crisis", "resolve Police attended; safe at home", user=COORD, channel=opened.channel)
    slack.command("/case", "agencies add health", user=COORD, channel=opened.channel)
    with database.reader() as session:
        updates = session.scalars(select(Update)).all()
        assert len(updates) == 4 and sum(u.restricted for u in updates) == 1
    return opened


def bundle_for(database, case, purpose: export.Purpose, *, via_slack: bool = False) -> export.Bundle:
    with database.reader() as session:
        return export.build(
            session,
            session.get_one(Case, case.id),
            purpose,
            made_by=COORD,
            made_at=TUESDAY,
            via_slack=via_slack,
            bases={"safeguarding": "Safeguarding, under the agreement"},
            number=7,
        )


def pdf_text(data: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(data)).pages]


def sharing(database) -> list[SharingRecord]:
    with database.reader() as session:
        return list(session.scalars(select(SharingRecord).order_by(SharingRecord.id)))


def exports_of(database) -> list[Export]:
    with database.reader() as session:
        return list(session.scalars(select(Export).order_by(Export.id)))


def access_views(database) -> list[tuple[str, str]]:
    with database.reader() as session:
        return [(r.user_id, r.view) for r in session.scalars(select(AccessRecord).order_by(AccessRecord.id))]


def audited(database, action: str) -> list[AuditEvent]:
    with database.reader() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


# ---- the bundle, by purpose -------------------------------------------------------------------------


def test_a_court_export_is_the_full_record(database, case):
    bundle = bundle_for(database, case, export.Purpose.COURT)
    data = bundle.to_json().decode()
    assert json.loads(data)["format"] == export.FORMAT and bundle.export_number == 7
    assert bundle.case["reference"] == case.reference and bundle.case["agency_reference"] == "POL-2026-0042"
    assert [s["to"] for s in bundle.stages] == ["referral", "screening"]
    assert [(c["decision"], c["date"]) for c in bundle.consent] == [("given", "2026-12-01")]
    assert [a["agency"] for a in bundle.agencies] == [
        "County Police",
        "Northfield Academy",
        "Community Health",
    ]
    [restricted] = [u for u in bundle.updates if u["restricted"]]
    assert restricted["observed"] == RESTRICTED and restricted["filed_by"] == SCHOOL
    assert NAMED in data and TYPED in data  # the JSON keeps every text exactly
    assert bundle.actions[0]["status"] == "done" and [h["what"] for h in bundle.actions[0]["history"]] == [
        "created",
        "done",
    ]
    assert bundle.reviews[0]["decisions"] == "Continue support; mentoring to start"
    [crisis] = bundle.crises
    assert crisis["state"] == "resolved" and {p["person"] for p in crisis["pages"]} >= {POLICE, COORD}
    assert any(s["disclosure"] == Disclosure.UPDATE and s["reason"] for s in bundle.sharing_log)
    times = [line["at"] for line in bundle.chronology]
    assert times == sorted(times) and any("crisis raised" in line["text"] for line in bundle.chronology)
    assert set(bundle.redactions.values()) == {0}
    # Sent through Slack, even a court's export leaves out the agency's own reference.
    by_slack = bundle_for(database, case, export.Purpose.COURT, via_slack=True)
    assert "agency_reference" not in by_slack.case and by_slack.redactions["agency_reference"] == 1


def test_an_agency_export_withholds_restricted_updates(database, case):
    bundle = bundle_for(database, case, export.Purpose.AGENCY)
    data = bundle.to_json().decode()
    assert RESTRICTED not in data and "POL-2026-0042" not in data
    [withheld] = [u for u in bundle.updates if "withheld" in u]
    assert withheld == {
        "at": withheld["at"],
        "agency": "Northfield Academy",
        "withheld": "withheld: restricted",
    }
    assert not any(u.get("restricted") for u in bundle.updates)
    assert any(line["text"] == "update withheld: restricted" for line in bundle.chronology)
    about_it = [s for s in bundle.sharing_log if s["kind"] == "restricted"]
    assert about_it and all(s["to_person"] == COORD for s in about_it)
    assert bundle.redactions["restricted_updates"] == 1
    assert bundle.redactions["restricted_sharing_details"] == len(about_it)
    assert POLICE in data  # staff are still named by their IDs


def test_a_subject_export_removes_third_parties_and_restricted_updates(database, case):
    bundle = bundle_for(database, case, export.Purpose.SUBJECT)
    data = bundle.to_json().decode()
    assert RESTRICTED not in data and "withheld" not in data
    assert "John Smith" not in data and export.REDACTED in data
    for person in STAFF:
        assert not re.search(rf"\b{person}\b", data), person
    filers = {u["agency"]: u["filed_by"] for u in bundle.updates}
    assert filers["County Police"] == "County Police (member)"
    assert bundle.case["lead"] == "the lead coordinator (Safeguarding Hub)"
    pages = bundle.crises[0]["pages"]
    assert {p["agency"] for p in pages} >= {"County Police", "the lead coordinator"}
    assert all("person" not in p and "acknowledged_by" not in p for p in pages)
    # Every recipient stays, as an agency; the stored sentences, which name staff, do not.
    assert {s["to_agency"] for s in bundle.sharing_log} >= {"County Police", "Northfield Academy"}
    assert all("reason" not in s for s in bundle.sharing_log)
    counts = bundle.redactions
    assert counts["restricted_updates"] == 1 and counts["restricted_sharing_entries"] >= 1
    assert counts["third_party_identifiers"] >= 1 and counts["staff_identities"] > 0


def test_a_subject_export_is_refused_when_the_identifier_check_cannot_run(database, case, monkeypatch):
    from services import identifiers

    def unavailable(text, field):
        raise identifiers.DetectorUnavailable()

    monkeypatch.setattr(identifiers, "scan", unavailable)
    with pytest.raises(identifiers.DetectorUnavailable):
        bundle_for(database, case, export.Purpose.SUBJECT)
    assert bundle_for(database, case, export.Purpose.COURT).updates  # the others need no check


# ---- the PDF -----------------------------------------------------------------------------------------


def unicode_font() -> export_pdf.Font:
    font = export_pdf.find_font()
    if font is None:
        import os

        message = (
            "no Unicode font (DejaVu Sans) on this machine: set EXPORT_FONT or install fonts-dejavu-core"
        )
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return font


@pytest.mark.parametrize("purpose", list(export.Purpose))
def test_the_pdf_reads_in_order_with_page_numbers(database, case, purpose):
    bundle = bundle_for(database, case, purpose)
    pdf = export_pdf.render(bundle, unicode_font())
    assert pdf.startswith(b"%PDF-")
    pages = pdf_text(pdf)
    assert len(pages) >= 2
    for number, text in enumerate(pages, start=1):
        assert f"Page {number} of {len(pages)}" in text
    whole = "\n".join(pages)
    assert f"Case {case.reference}" in whole and f"Export for {export.LABELS[purpose]}" in whole
    places = [whole.index(f"{n}. {title}") for n, title in enumerate((*SECTIONS, "Sharing log"), start=1)]
    assert places == sorted(places)
    assert "Chronology" in whole and "Redactions" in whole
    flat = " ".join(whole.split())
    assert ("Confidential detail about the household" in flat) is (purpose is export.Purpose.COURT)
    assert ("withheld: restricted" in flat) is (purpose is export.Purpose.AGENCY)
    assert ("John Smith" in flat) is (purpose is not export.Purpose.SUBJECT)
    assert "online forums" in flat


def test_the_pdf_shows_what_was_typed_in_any_script(database, case):
    pdf = export_pdf.render(bundle_for(database, case, export.Purpose.COURT), unicode_font())
    flat = " ".join(" ".join(pdf_text(pdf)).split())
    for word in ("Café", "καλημέρα", "спасибо", "“calm”"):
        assert word in flat


def test_without_a_unicode_font_the_pdf_says_what_it_could_not_show(database, case, caplog):
    bundle = bundle_for(database, case, export.Purpose.COURT)
    pdf = export_pdf.render(bundle, None)
    flat = " ".join(" ".join(pdf_text(pdf)).split())
    assert "no Unicode font was found" in flat and "Café" in flat and "καλημέρα" not in flat
    assert '"calm"' in flat and "-> follow-up" in flat  # look-alikes where there are some
    assert "no Unicode font" in caplog.text and "καλημέρα" not in caplog.text
    assert TYPED in bundle.to_json().decode()


def test_what_the_font_cannot_draw_is_said_but_never_logged(database, case, caplog):
    bundle = bundle_for(database, case, export.Purpose.COURT)
    bundle.case["summary"] = "Calm after the visit 🙂 and 東京 mentioned"
    caplog.set_level("DEBUG")
    flat = " ".join(" ".join(pdf_text(export_pdf.render(bundle, unicode_font()))).split())
    assert "3 character(s) that its font cannot draw" in flat and "Calm after the visit ? and ??" in flat
    assert "🙂" not in caplog.text and "東" not in caplog.text and "3 character(s)" in caplog.text


def test_the_font_setting_names_a_font_that_exists(fake, database, tmp_path):
    from bot.settings import ConfigurationError, load_settings

    with pytest.raises(ConfigurationError, match="EXPORT_FONT is invalid: no such file"):
        load_settings(
            slack_bot_token="xoxb-x", slack_signing_secret="s", database_url=database.url,
            export_font=str(tmp_path / "none.ttf"),
        )  # fmt: skip
    font = unicode_font()
    assert export_pdf.find_font(str(font.regular)) == font


# ---- the command line ------------------------------------------------------------------------------


def run_cli(monkeypatch, database, *args: str) -> int:
    monkeypatch.setenv("DATABASE_URL", database.url)
    for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "AUDIT_KEYS", "EXPORT_FONT"):
        monkeypatch.delenv(name, raising=False)
    with logging_as_configured():
        return cli.main(["export", "case", *args])


def test_the_command_line_writes_both_files_and_records_the_export(
    slack, database, case, tmp_path, monkeypatch, capsys
):
    assert (
        run_cli(monkeypatch, database, case.reference.lower(), "--for", "subject", "--output", str(tmp_path))
        == 0
    )
    printed = capsys.readouterr().out.split()
    stem = f"casehub-{case.reference}-subject-20261208"
    assert printed == [str(tmp_path / f"{stem}.pdf"), str(tmp_path / f"{stem}.json")]
    pdf, data = (Path(p).read_bytes() for p in printed)
    bundle = json.loads(data)
    assert pdf.startswith(b"%PDF-") and bundle["purpose"] == "subject" and "John Smith" not in data.decode()
    assert bundle["made_via"] == "the command line"
    [row] = exports_of(database)
    assert (row.state, row.purpose, row.requested_by) == ("written", "subject", row.requested_by)
    assert row.requested_by.startswith("cli:")
    assert (row.requested_by, "export") in access_views(database)
    [event] = audited(database, "case.exported")
    assert event.details["pdf_sha256"] == hashlib.sha256(pdf).hexdigest()
    assert event.details["json_sha256"] == hashlib.sha256(data).hexdigest()
    assert not [s for s in sharing(database) if s.disclosure == Disclosure.EXPORT]  # no one was sent it
    seen = slack.ephemeral(slack.command("/case", "access", user=COORD, channel=case.channel))
    login = row.requested_by.removeprefix("cli:")
    assert f"`{login}` on the command line · an export of the case (PDF and JSON)" in seen
    # The same day again: the files are there, so nothing is written over them.
    assert run_cli(monkeypatch, database, case.reference, "--for", "subject", "--output", str(tmp_path)) == 2
    assert "exists already" in capsys.readouterr().err
    assert Path(printed[0]).read_bytes() == pdf


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("ZZZZZZ", "--for", "court"), "There is no case ZZZZZZ."),
        (("{ref}", "--for", "judge"), "judge is not a purpose of export."),
        (("{ref}", "--for", "court", "--output", "nowhere"), "nowhere is not a folder"),
    ],
)
def test_the_command_line_refuses_in_one_line(database, case, tmp_path, monkeypatch, capsys, args, said):
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    code = run_cli(monkeypatch, database, *(a.format(ref=case.reference) for a in args))
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and err.startswith(said), err
    assert list(here.iterdir()) == [] and exports_of(database) == []


def test_python_m_bot_export_case(database, case, tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "bot", "export", "case", case.reference, "--for", "court"],
        capture_output=True,
        text=True,
        env={"DATABASE_URL": database.url, "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), **KEY_ENV},
        cwd=tmp_path,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    names = [Path(line).name for line in done.stdout.split()]
    assert names == [
        f"casehub-{case.reference}-court-{datetime.now(UTC):%Y%m%d}.{s}" for s in ("pdf", "json")
    ]
    bundle = json.loads((tmp_path / names[1]).read_text())
    assert bundle["case"]["agency_reference"] == "POL-2026-0042"  # written off Slack: the full record


# ---- /case export, over HTTP through the emulated Slack ---------------------------------------------


def dm_files(fake, user=COORD) -> list[dict]:
    return fake.files_in(f"D{user}")


def test_the_lead_receives_the_export_by_direct_message(slack, fake, database, case):
    reply = slack.command("/case", "export subject", user=COORD, channel=case.channel)
    said = slack.ephemeral(reply)
    assert "is in your direct messages" in said and "Review it before it goes to the person" in said
    pdf, data = dm_files(fake)
    assert pdf["name"] == f"casehub-{case.reference}-subject-20261208.pdf" and data["name"].endswith(".json")
    assert pdf["data"].startswith(b"%PDF-") and f"Case {case.reference}" in " ".join(pdf_text(pdf["data"]))
    bundle = json.loads(data["data"])
    assert bundle["purpose"] == "subject" and RESTRICTED not in data["data"].decode()
    assert "POL-2026-0042" not in (pdf["data"] + data["data"]).decode("latin-1")
    [message] = [m for m in fake.dms(COORD) if m.get("files")]
    assert f"case *{case.reference}*" in message["text"]
    [row] = exports_of(database)
    assert row.state == "sent" and row.channel == f"D{COORD}" and row.file_ids == [pdf["id"], data["id"]]
    [shared] = [s for s in sharing(database) if s.disclosure == Disclosure.EXPORT]
    assert (shared.to_user, shared.shared_by, shared.kind, shared.basis) == (
        COORD,
        COORD,
        "subject",
        "safeguarding",
    )
    assert (COORD, "export") in access_views(database)
    [event] = audited(database, "case.exported")
    assert event.details["pdf_sha256"] == hashlib.sha256(pdf["data"]).hexdigest()
    assert event.details["files"] == row.file_ids
    # The sharing log shows it to the lead like every other disclosure.
    log = slack.ephemeral(slack.command("/case", "sharing", user=COORD, channel=case.channel))
    assert "exported the case for *subject*" in log


def test_a_reference_names_the_case_from_anywhere(slack, fake, database, case):
    said = slack.ephemeral(slack.command("/case", f"export {case.reference} court", user=COORD))
    assert "is in your direct messages" in said
    assert [f["name"].rsplit("-", 2)[1] for f in dm_files(fake)] == ["court", "court"]


@pytest.mark.parametrize(
    ("user", "text", "said"),
    [
        (SCHOOL, "export court", "Only the lead coordinator of a case may export it."),
        (DPO, "export {ref} court", "Only the lead coordinator of a case may export it."),
        (HEALTH, "export ZZZZZZ court", "Only the lead coordinator of a case may export it."),
        (COORD2, "export {ref} court", "You lead no case"),
        (COORD2, "export ZZZZZZ court", "You lead no case"),
        (COORD, "export", "Say who the export is for"),
        (COORD, "export judge", "`judge` is not a purpose of export"),
        (COORD, "export {ref} court now", "Say who the export is for"),
    ],
)
def test_only_the_lead_may_export_and_mistakes_are_explained(slack, fake, database, case, user, text, said):
    channel = case.channel if "{ref}" not in text and "ZZZZZZ" not in text else "CGENERAL"
    reply = slack.command("/case", text.format(ref=case.reference), user=user, channel=channel)
    assert said in slack.ephemeral(reply)
    assert dm_files(fake, user) == [] and exports_of(database) == []
    assert [v for v in access_views(database) if v[1] == "export"] == []


def test_a_coordinator_who_is_not_the_lead_is_told_who_is(slack, fake, database, case):
    said = slack.ephemeral(slack.command("/case", "export court", user=COORD2, channel=case.channel))
    assert f"Only the lead coordinator (<@{COORD}>) may export the case" in said
    assert exports_of(database) == [] and dm_files(fake, COORD2) == []


def test_a_repeated_delivery_sends_the_files_once(slack, fake, database, case):
    first = slack.command("/case", "export court", user=COORD, channel=case.channel)
    again = slack.replay(first)
    assert again.status == 200
    assert len(dm_files(fake)) == 2 and len(fake.calls_to("files.completeUploadExternal", ok=True)) == 1
    assert len(exports_of(database)) == 1
    assert len([s for s in sharing(database) if s.disclosure == Disclosure.EXPORT]) == 1
    # The same request's work done again (a retried job) finds it sent and sends nothing.
    from flows import exporting

    with database.reader() as session:
        row = session.scalars(select(Export)).one()
    asked = exporting.Asked(COORD, case.id, case.reference, export.Purpose.COURT, row.requested_via)
    said = exporting.deliver(database, slack.work.casehub.app.client, slack.work.casehub.settings, asked)
    assert "was sent already" in said and len(dm_files(fake)) == 2


def test_a_refused_upload_is_told_and_nothing_is_recorded_as_shared(slack, fake, database, case):
    fake.fail("files.completeUploadExternal", "not_in_channel")
    said = slack.ephemeral(slack.command("/case", "export agency", user=COORD, channel=case.channel))
    assert "Slack answered `not_in_channel`" in said and "was not sent" in said
    assert "nothing is recorded as shared" in said
    assert dm_files(fake) == [] and [e.state for e in exports_of(database)] == ["failed"]
    assert [s for s in sharing(database) if s.disclosure == Disclosure.EXPORT] == []
    assert audited(database, "case.exported") == []
    # Asked again, it goes.
    said = slack.ephemeral(slack.command("/case", "export agency", user=COORD, channel=case.channel))
    assert "is in your direct messages" in said and len(dm_files(fake)) == 2


def test_an_upload_that_fails_for_a_moment_is_sent_once_by_the_next_attempt(slack, fake, database, case):
    fake.fail_upload(status=503)
    said = slack.ephemeral(slack.command("/case", "export court", user=COORD, channel=case.channel))
    assert "is in your direct messages" in said
    assert len(dm_files(fake)) == 2 and len(fake.calls_to("files.completeUploadExternal", ok=True)) == 1
    assert len([s for s in sharing(database) if s.disclosure == Disclosure.EXPORT]) == 1


def test_an_upload_whose_answer_is_lost_is_found_and_not_sent_again(slack, fake, database, case):
    fake.lose_answer("files.completeUploadExternal")
    said = slack.ephemeral(slack.command("/case", "export court", user=COORD, channel=case.channel))
    assert "is in your direct messages" in said
    assert len(dm_files(fake)) == 2 and len([m for m in fake.dms(COORD) if m.get("files")]) == 1
    [row] = exports_of(database)
    assert row.state == "sent" and row.file_ids == [f["id"] for f in dm_files(fake)]
    assert len([s for s in sharing(database) if s.disclosure == Disclosure.EXPORT]) == 1


def test_the_help_and_the_manifest_name_the_subcommand(slack):
    import yaml

    assert "/case export [REF] subject|agency|court" in slack.ephemeral(
        slack.command("/case", "help", user=COORD)
    )
    manifest = yaml.safe_load((ROOT / "manifest.yml").read_text())
    [case_command] = [c for c in manifest["features"]["slash_commands"] if c["command"] == "/case"]
    assert "export" in case_command["usage_hint"]
    assert "files:write" in manifest["oauth_config"]["scopes"]["bot"]
