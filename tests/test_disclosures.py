"""Disclosures, recorded: restricting after filing, the sharing log with purpose and lawful basis,
pages to people outside the case, and e-mail copies over STARTTLS without free text."""

from __future__ import annotations

import json
import os
import socket
import ssl
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select, text

from bot import mail
from bot.settings import ConfigurationError, load_settings
from models import AuditEvent, Disclosure, SharingRecord, Update
from models.clock import clock as casehub_clock
from sandbox.slack import TOKEN
from tests.conftest import ADMIN, COORD, HOUSING, KEY_ENV, POLICE, SCHOOL, SECRET, make_settings
from tests.helpers import open_case

ROOT = Path(__file__).resolve().parent.parent
TUESDAY = datetime(2026, 12, 8, 11, 0, tzinfo=UTC)
SUMMARY = "Threats made online tonight"
SAFEGUARDING = "Safeguarding, under the partnership's information-sharing agreement"
UPDATE = {
    "kind": "home-visit",
    "observed": "Visited the family home; the young person spoke about online forums.",
    "risk": "high",
    "concerns": "Spends nights online; withdrawn at school.",
}


# ---- a loopback mail server, with STARTTLS under a certificate made for the test ---------------


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="session")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A test authority and a certificate it signed for 127.0.0.1."""
    where = tmp_path_factory.mktemp("tls")
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=casehub test CA",
             "-keyout", "ca.key", "-out", "ca.pem", "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign", cwd=where)  # fmt: skip
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", "server.key",
             "-out", "server.csr", cwd=where)  # fmt: skip
    (where / "san.ext").write_text("subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
             "-days", "2", "-out", "server.pem", "-extfile", "san.ext", cwd=where)  # fmt: skip
    return {"ca": where / "ca.pem", "cert": where / "server.pem", "key": where / "server.key"}


class Inbox:
    def __init__(self) -> None:
        self.messages: list[str] = []
        self.encrypted: list[bool] = []

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        self.messages.append(envelope.content.decode())
        self.encrypted.append(session.ssl is not None)
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _serve(inbox: Inbox, **tls: object) -> tuple[Controller, int]:
    port = _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, **tls)
    controller.start()
    return controller, port


@pytest.fixture
def starttls_server(certificates):
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certificates["cert"], certificates["key"])
    inbox = Inbox()
    controller, port = _serve(inbox, tls_context=context, require_starttls=True)
    yield inbox, port
    controller.stop()


@pytest.fixture
def plain_server():
    inbox = Inbox()
    controller, port = _serve(inbox)
    yield inbox, port
    controller.stop()


@pytest.fixture
def settings_overrides(request, certificates):
    overrides: dict[str, object] = {}
    if "starttls_server" in request.fixturenames:
        port = request.getfixturevalue("starttls_server")[1]
        overrides = {"smtp_url": f"smtp://127.0.0.1:{port}", "smtp_ca_file": str(certificates["ca"])}
    marker = request.node.get_closest_marker("settings")
    if marker:
        overrides.update(marker.kwargs)
    return overrides


# ---- helpers ------------------------------------------------------------------------------------


@pytest.fixture
def clock():
    with casehub_clock.set_to(TUESDAY, running=True) as moved:
        yield moved


@pytest.fixture
def case(clock, slack, database, registry):
    return open_case(slack, database, agencies=("police", "school"))


def file_update(slack, case, user=POLICE, **overrides):
    slack.command("/update", "", user=user, channel=case.channel)
    view = slack.fake.last_view()
    slack.submit(view, {**UPDATE, "contact_date": casehub_clock.today().isoformat(), **overrides}, user=user)
    return view


def correct_update(slack, case, update_id, user=POLICE, **overrides):
    slack.click("update_edit", str(update_id), user=user, channel=case.channel)
    view = slack.fake.last_view()
    assert view["submit"]["text"] == "Save"
    return slack.submit(
        view, {**UPDATE, "contact_date": casehub_clock.today().isoformat(), **overrides}, user=user
    )


def the_update(database) -> Update:
    with database.reader() as session:
        return session.scalars(select(Update)).one()


def log_of(database, disclosure: Disclosure | None = None) -> list[SharingRecord]:
    with database.reader() as session:
        query = select(SharingRecord).order_by(SharingRecord.id)
        if disclosure is not None:
            query = query.where(SharingRecord.disclosure == disclosure.value)
        return list(session.scalars(query))


def sharing_log_shown(slack, case) -> str:
    return slack.ephemeral(slack.command("/case", "sharing", user=COORD, channel=case.channel))


def page_dms(fake, user):
    return [m for m in fake.dms(user) if m.get("blocks") and "crisis_ack" in json.dumps(m["blocks"])]


# ---- restricted after filing --------------------------------------------------------------------


def test_restricting_an_update_after_filing_replaces_its_channel_message(slack, fake, database, case):
    file_update(slack, case)
    update = the_update(database)
    message = next(m for m in fake.posts(case.channel) if m["ts"] == update.channel_ts)
    assert "online forums" in json.dumps(message["blocks"])

    reply = correct_update(slack, case, update.id, restricted=["yes"])
    assert reply.status == 200 and not reply.body
    message = next(m for m in fake.posts(case.channel) if m["ts"] == update.channel_ts)
    assert "Restricted update" in message["text"]
    everything_posted = json.dumps([fake.posts(case.channel), fake.messages])
    # The channel message was the only place the text was posted, and it no longer holds it.
    assert "online forums" not in json.dumps(fake.posts(case.channel))
    assert everything_posted.count("online forums") == 0
    [correction] = log_of(database, Disclosure.CORRECTION)
    assert (correction.to_user, correction.to_agency_id) == (COORD, None)
    assert correction.basis == "safeguarding" and correction.update_id == update.id
    with database.reader() as session:
        [event] = session.scalars(select(AuditEvent).where(AuditEvent.action == "update.corrected")).all()
    assert event.details["newly_restricted"] is True


def test_a_restricted_update_slack_will_not_edit_is_deleted_from_the_channel(slack, fake, database, case):
    file_update(slack, case)
    update = the_update(database)
    fake.fail("chat.update", "msg_too_long")
    reply = correct_update(slack, case, update.id, restricted=["yes"])
    assert reply.status == 200 and not reply.body
    assert not [m for m in fake.posts(case.channel) if m["ts"] == update.channel_ts]
    assert "online forums" not in json.dumps(fake.posts(case.channel))
    assert [c.method for c in fake.calls if c.method == "chat.delete" and c.ok] == ["chat.delete"]


def test_a_correction_is_recorded_as_shared_again(slack, fake, database, case):
    file_update(slack, case)
    correct_update(slack, case, the_update(database).id, observed="Corrected: the visit was by phone.")
    [filed] = log_of(database, Disclosure.UPDATE)
    [corrected] = log_of(database, Disclosure.CORRECTION)
    assert filed.to_agency_id == corrected.to_agency_id is not None  # the school, both times
    assert (corrected.shared_by, corrected.basis, corrected.kind) == (POLICE, "safeguarding", "home-visit")
    shown = sharing_log_shown(slack, case)
    assert "shared a correction of a *home-visit* update" in shown and SAFEGUARDING in shown


# ---- an agency added later ---------------------------------------------------------------------


def test_an_agency_added_later_is_recorded_as_seeing_the_earlier_updates(slack, fake, database, case):
    file_update(slack, case)
    file_update(slack, case, restricted=["yes"], observed="Detail for the lead only.")
    said = slack.ephemeral(slack.command("/case", "agencies add housing", user=COORD, channel=case.channel))
    assert "1 earlier update(s)" in said
    [earlier] = log_of(database, Disclosure.EARLIER_UPDATE)
    with database.reader() as session:
        unrestricted = session.scalars(select(Update).where(Update.restricted.is_(False))).one()
    assert earlier.update_id == unrestricted.id and earlier.shared_by == COORD
    assert earlier.basis == "safeguarding" and earlier.to_user is None
    assert HOUSING in fake.channels[case.channel].members
    shown = sharing_log_shown(slack, case)
    assert "added *City Housing*, which sees an earlier *home-visit* update" in shown


# ---- crisis pages ------------------------------------------------------------------------------


def test_a_page_to_someone_outside_the_case_carries_no_summary(slack, fake, database, case):
    slack.command("/oncall", f"set police <@{POLICE}>", user=ADMIN)
    slack.command("/crisis", SUMMARY, user=SCHOOL, channel=case.channel)
    # The school has nobody on call: its chain ends with the admin, who does not work on the case.
    [outsider] = page_dms(fake, ADMIN)
    shown = json.dumps(outsider["blocks"])
    assert SUMMARY not in shown and SUMMARY not in outsider["text"]
    assert case.reference in shown and "Immediate danger to life?" in shown
    assert f"<@{COORD}>" in shown and "call the lead coordinator" in shown
    [insider] = page_dms(fake, POLICE)
    assert SUMMARY in json.dumps(insider["blocks"])

    pages = {r.to_user: r for r in log_of(database, Disclosure.CRISIS_PAGE)}
    assert set(pages) == {POLICE, ADMIN, COORD}  # who received what, per page
    assert pages[ADMIN].kind == "crisis-notice" and pages[POLICE].kind == "crisis-summary"
    assert all(r.basis == "safeguarding" and r.crisis_id for r in pages.values())
    shown = sharing_log_shown(slack, case)
    assert f"a crisis page with the reference and notice went to <@{ADMIN}>" in shown
    assert f"a crisis page with the summary went to <@{POLICE}>" in shown


@pytest.mark.settings(
    sharing_bases={
        "safeguarding": SAFEGUARDING,
        "emergency": "Protecting someone from serious harm (vital interests)",
    },
    sharing_basis_for={"crisis-page": "emergency"},
)
def test_each_kind_of_disclosure_records_the_basis_configured_for_it(slack, fake, database, case):
    file_update(slack, case)
    slack.command("/crisis", SUMMARY, user=SCHOOL, channel=case.channel)
    assert {r.basis for r in log_of(database, Disclosure.CRISIS_PAGE)} == {"emergency"}
    assert {r.basis for r in log_of(database, Disclosure.UPDATE)} == {"safeguarding"}
    shown = sharing_log_shown(slack, case)
    assert "Protecting someone from serious harm (vital interests)" in shown and SAFEGUARDING in shown


def test_the_purpose_list_is_checked_at_start():
    base = {"slack_bot_token": "x", "slack_signing_secret": "y", "_env_file": None}
    with pytest.raises(ConfigurationError, match=r"SHARING_BASIS_FOR is invalid: .*not one of SHARING_BASES"):
        load_settings(**base, sharing_basis_for={"crisis-page": "whim"})
    with pytest.raises(ConfigurationError, match=r"SHARING_BASIS_FOR is invalid: .*not a kind of disclosure"):
        load_settings(**base, sharing_basis_for={"gossip": "safeguarding"})
    with pytest.raises(ConfigurationError, match="SHARING_BASES is invalid"):
        load_settings(**base, sharing_bases={})


# ---- hand-overs --------------------------------------------------------------------------------


def test_a_handover_is_recorded_as_the_successor_receiving_the_case(slack, fake, database, case):
    fake.add_user("UPOLNEW")
    slack.command("/agency", f"handover <@{POLICE}> <@UPOLNEW> police", user=ADMIN)
    [record] = log_of(database, Disclosure.HANDOVER)
    assert (record.to_user, record.shared_by, record.basis) == ("UPOLNEW", ADMIN, "safeguarding")
    assert record.case_id == case.id
    shown = sharing_log_shown(slack, case)
    assert "handed over a role in *County Police*: <@UPOLNEW> receives the case's information" in shown


def test_a_lead_handover_is_recorded(slack, fake, database, case):
    slack.command("/agency", f"handover <@{COORD}> <@{HOUSING}> hub", user=ADMIN)
    [record] = log_of(database, Disclosure.HANDOVER)
    assert record.to_user == HOUSING and "lead coordination" in record.reason


# ---- the log stays append-only -----------------------------------------------------------------


def test_the_sharing_log_is_still_append_only(slack, database, case):
    file_update(slack, case)
    with pytest.raises(Exception, match="append-only"), database.engine.begin() as connection:
        connection.execute(text("UPDATE sharing_log SET basis = 'other'"))
    with pytest.raises(Exception, match="append-only"), database.engine.begin() as connection:
        connection.execute(text("DELETE FROM sharing_log"))
    assert len(log_of(database)) == 1


# ---- e-mail ------------------------------------------------------------------------------------


def test_pages_are_emailed_over_starttls_without_free_text(starttls_server, slack, fake, database, case):
    inbox, _port = starttls_server
    slack.command("/crisis", SUMMARY, user=SCHOOL, channel=case.channel)
    assert len(inbox.messages) == 3 and all(inbox.encrypted)
    for message in inbox.messages:
        assert f"Crisis on case {case.reference}" in message and "Immediate danger to life?" in message
        assert SUMMARY not in message and "Open Slack" in message
    emailed = log_of(database, Disclosure.CRISIS_EMAIL)
    assert {r.to_user for r in emailed} == {r.to_user for r in log_of(database, Disclosure.CRISIS_PAGE)}
    assert {r.kind for r in emailed} == {"crisis-notice"}


@pytest.mark.settings(smtp_include_summary=True)
def test_the_summary_is_emailed_only_when_asked_and_never_outside_the_case(
    starttls_server, slack, fake, database, case
):
    inbox, _port = starttls_server
    slack.command("/crisis", SUMMARY, user=SCHOOL, channel=case.channel)
    by_recipient = {
        line.split(":", 1)[1].strip(): message
        for message in inbox.messages
        for line in message.splitlines()
        if line.startswith("To:")
    }
    assert SUMMARY in by_recipient[f"{COORD.lower()}@example.org"]
    assert SUMMARY not in by_recipient[f"{ADMIN.lower()}@example.org"]
    kinds = {r.to_user: r.kind for r in log_of(database, Disclosure.CRISIS_EMAIL)}
    assert kinds[COORD] == "crisis-summary" and kinds[ADMIN] == "crisis-notice"


def _mail_settings(fake, database, port: int, **overrides: object):
    return make_settings(fake, database, smtp_url=f"smtp://127.0.0.1:{port}", **overrides)


def test_a_starttls_server_passes_the_start_check_and_an_unknown_authority_does_not(
    starttls_server, certificates, fake, database
):
    _inbox, port = starttls_server
    mail.check_at_start(_mail_settings(fake, database, port, smtp_ca_file=str(certificates["ca"])))
    with pytest.raises(ConfigurationError, match=r"could not be verified.*SMTP_CA_FILE"):
        mail.check_at_start(_mail_settings(fake, database, port))


def test_a_plain_smtp_server_is_refused_at_start(plain_server, fake, database, tmp_path):
    inbox, port = plain_server
    environment = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(ROOT),
        "SLACK_BOT_TOKEN": TOKEN,
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": fake.api_url,
        "DATABASE_URL": database.url,
        "SMTP_URL": f"smtp://127.0.0.1:{port}",
        "LOG_LEVEL": "WARNING",
        **KEY_ENV,
    }
    started = subprocess.run(
        [sys.executable, "-m", "bot", "scheduler"],
        cwd=tmp_path,  # no .env here
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert started.returncode == 2
    [line] = [line for line in started.stderr.splitlines() if "SMTP" in line]
    assert line.startswith("casehub cannot start:") and "SMTP_ALLOW_PLAINTEXT=true" in line
    # Nothing goes in clear either when a page is e-mailed; allowed explicitly, it does.
    refused = _mail_settings(fake, database, port)
    with pytest.raises(mail.PlaintextRefused):
        mail.send(refused, "someone@example.org", "subject", "body")
    allowed = _mail_settings(fake, database, port, smtp_allow_plaintext=True)
    mail.check_at_start(allowed)
    mail.send(allowed, "someone@example.org", "subject", "body")
    assert inbox.encrypted == [False]


def test_smtp_urls_of_another_scheme_are_refused():
    base = {"slack_bot_token": "x", "slack_signing_secret": "y", "_env_file": None}
    with pytest.raises(ConfigurationError, match=r"SMTP_URL is invalid: .*smtps://"):
        load_settings(**base, smtp_url="http://mail.example.org")
