"""What an attacker can send: forged requests, oversized bodies, ids from other cases, lost rights."""

from __future__ import annotations

import http.client
import json
import logging
import time
import urllib.error
import urllib.request
from urllib.parse import urlencode

import pytest

from bot.signature import MAX_BODY_BYTES, verify
from sandbox.driver import sign
from sandbox.slack import TEAM
from tests.conftest import COORD, COORD2, OUTSIDER, SECRET


def raw_post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    request = urllib.request.Request(url + "/slack/events", data=body, method="POST")
    request.add_header("Content-Type", "application/x-www-form-urlencoded")
    for key, value in headers.items():
        request.add_header(key, value)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def forged_command(fake, user: str = COORD) -> bytes:
    """A slash command naming a response_url and a user, as an attacker would write it."""
    fields = {
        "team_id": TEAM,
        "channel_id": "CGENERAL",
        "user_id": user,
        "command": "/case",
        "text": "status",
        "response_url": fake.issue_response_url(),
        "trigger_id": fake.issue_trigger(user),
    }
    return urlencode(fields).encode()


# Timestamps that are not a whole number of seconds: each made verification raise, once.
MALFORMED_TIMESTAMPS = ["x", "", "1796073518.696", "-1", "1e9", "0x6B0E4C2E", "1_796_073_518", "9" * 40]


@pytest.fixture
def slack(slack, fake):
    """The driver, with the fake's count starting after casehub's token check at start (its
    only Slack call before a request): from then on, any call is one a request caused."""
    fake.requests_received = 0
    return slack


@pytest.mark.parametrize("timestamp", MALFORMED_TIMESTAMPS)
def test_a_malformed_timestamp_is_refused_and_causes_nothing(slack, fake, caplog, timestamp):
    caplog.set_level(logging.DEBUG)
    body = forged_command(fake)
    # Signed with the real secret over the malformed timestamp: only the timestamp is wrong.
    headers = {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": sign(SECRET, timestamp, body)}
    status, answer = raw_post(slack.url, body, headers)
    slack.settle()
    assert status == 401 and "invalid request" in answer
    assert fake.requests_received == 0  # no response_url post, no DM, no API call at all
    assert not any(record.exc_info for record in caplog.records)
    assert "Traceback" not in caplog.text and "status" not in caplog.text


def test_the_same_request_with_a_whole_timestamp_is_answered(slack, fake):
    """The positive control: the forged body, properly signed, does reach casehub."""
    body = forged_command(fake)
    ts = str(int(time.time()))
    status, _ = raw_post(
        slack.url, body, {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": sign(SECRET, ts, body)}
    )
    slack.settle()
    assert status == 200 and fake.requests_received > 0


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Slack-Request-Timestamp": "NOW"},
        {"X-Slack-Signature": "v0=" + "0" * 64},
        {"X-Slack-Request-Timestamp": "NOW", "X-Slack-Signature": "v0=nothex"},
        {"X-Slack-Request-Timestamp": "NOW", "X-Slack-Signature": "v1=SIGNED"},
        {"X-Slack-Request-Timestamp": "FUTURE", "X-Slack-Signature": "SIGNED"},
        {"X-Slack-Request-Timestamp": "STALE", "X-Slack-Signature": "SIGNED"},
    ],
    ids=["none", "no-signature", "no-timestamp", "not-hex", "other-version", "future", "stale"],
)
def test_missing_malformed_stale_or_future_signatures_are_refused(slack, fake, caplog, headers):
    body = forged_command(fake)
    now = int(time.time())
    moments = {"NOW": str(now), "FUTURE": str(now + 600), "STALE": str(now - 600)}
    ts = moments.get(headers.get("X-Slack-Request-Timestamp", ""), "")
    sent = {}
    for key, value in headers.items():
        value = moments.get(value, value)
        sent[key] = (
            sign(SECRET, ts, body)
            if value == "SIGNED"
            else value.replace("SIGNED", sign(SECRET, ts, body)[3:])
        )
    status, _ = raw_post(slack.url, body, sent)
    slack.settle()
    assert status == 401
    assert fake.requests_received == 0
    assert not any(record.exc_info for record in caplog.records)


def test_a_body_that_is_not_utf8_is_refused_without_error(slack, fake, caplog):
    body = b"payload=\xff\xfe" + b"\x80" * 10
    ts = str(int(time.time()))
    status, _ = raw_post(
        slack.url, body, {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": "v0=" + "a" * 64}
    )
    assert status == 401 and fake.requests_received == 0
    assert not any(record.exc_info for record in caplog.records)


def test_an_oversized_body_is_refused_before_it_is_read(slack, fake):
    """The length is refused from the header alone: the body is never read, so never sent here."""
    host, port = slack.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    connection.putrequest("POST", "/slack/events")
    ts = str(int(time.time()))
    connection.putheader("Content-Type", "application/x-www-form-urlencoded")
    connection.putheader("Content-Length", str(MAX_BODY_BYTES + 1))
    connection.putheader("X-Slack-Request-Timestamp", ts)
    connection.putheader("X-Slack-Signature", "v0=" + "a" * 64)
    connection.endheaders()
    status = connection.getresponse().status
    connection.close()
    assert status == 413 and fake.requests_received == 0


def test_only_post_is_accepted_on_the_events_path(running):
    request = urllib.request.Request(running.url + "/slack/events", method="GET")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=5)
    assert refused.value.code == 405


def test_verify_accepts_only_whole_recent_timestamps_and_well_formed_signatures():
    body, now = b"a=1", 1_800_000_000
    good = {"x-slack-request-timestamp": str(now), "x-slack-signature": sign(SECRET, str(now), body)}
    assert verify(SECRET, body, good, now=lambda: now)
    assert not verify("another-secret", body, good, now=lambda: now)
    assert not verify(SECRET, body + b"2", good, now=lambda: now)
    assert not verify(SECRET, body, good, now=lambda: now + 301)
    assert verify(SECRET, body, good, now=lambda: now + 299)
    for timestamp in ("1800000000.0", "", "x", "+1800000000", "1800000000 "):
        forged = {"x-slack-request-timestamp": timestamp, "x-slack-signature": sign(SECRET, timestamp, body)}
        assert not verify(SECRET, body, forged, now=lambda: now), timestamp


def test_the_error_handler_writes_nowhere_for_an_unverified_request(fake):
    """bolt's last-resort handler, reached without casehub's dependencies (an unverified request)."""
    from slack_bolt import BoltContext
    from slack_sdk import WebClient

    from bot.app import report_error

    context = BoltContext(
        {"user_id": OUTSIDER, "response_url": fake.issue_response_url(), "channel_id": "CGENERAL"}
    )
    context["client"] = WebClient(token="xoxb-test-token", base_url=fake.api_url)
    answer = report_error(ValueError("boom"), {}, context, logging.getLogger("test"))
    assert answer is not None and answer.status == 401
    assert fake.requests_received == 0


def test_health_reveals_nothing_about_cases(slack, fake, database, registry, running):
    from tests.helpers import open_case

    case = open_case(slack, database)
    with urllib.request.urlopen(running.url + "/healthz", timeout=5) as response:
        body = response.read().decode()
    assert set(json.loads(body)) <= {"ok", "database", "workers"}
    assert case.reference not in body and case.channel not in body


# ---- refusals store nothing ------------------------------------------------------------------


def _deliveries(database) -> int:
    from sqlalchemy import func, select

    from models import Delivery

    with database.reader() as session:
        return session.scalar(select(func.count()).select_from(Delivery)) or 0


@pytest.mark.parametrize(
    ("command", "text", "user", "refusal"),
    [
        ("/case", "stage screening", COORD2, "Only the lead coordinator"),
        ("/review", "every 2 weeks", COORD2, "Only the lead coordinator"),
        ("/oncall", "set police <@UPOL1>", OUTSIDER, "Only casehub admins and coordinators"),
        ("/crisis", "resolve nothing happened", OUTSIDER, "no open crisis"),
    ],
)
def test_a_refused_command_records_no_delivery(slack, database, registry, command, text, user, refusal):
    from tests.helpers import open_case

    case = open_case(slack, database)
    before = _deliveries(database)
    said = slack.ephemeral(slack.command(command, text, user=user, channel=case.channel))
    assert refusal in said
    assert _deliveries(database) == before


def test_the_same_command_by_the_lead_records_its_delivery(slack, database, registry):
    """The positive control: an accepted change does record its delivery, once."""
    from tests.helpers import open_case

    case = open_case(slack, database)
    before = _deliveries(database)
    reply = slack.command("/case", "stage screening", user=COORD, channel=case.channel)
    assert _deliveries(database) == before + 1
    slack.replay(reply)
    assert _deliveries(database) == before + 1


def test_a_unit_of_work_that_fails_after_a_savepoint_keeps_nothing(database):
    """On SQLite a savepoint opened before the first write used to commit on release."""
    from sqlalchemy import select

    from models import Delivery
    from services import deliveries

    with pytest.raises(RuntimeError), database.session() as session:
        session.scalars(select(Delivery)).all()  # a read first, as handlers do
        assert deliveries.claim(session, "test:refused")
        raise RuntimeError("refused after the claim")
    with database.reader() as session:
        assert session.get(Delivery, "test:refused") is None
    with database.session() as session:
        assert deliveries.claim(session, "test:kept")
    with database.reader() as session:
        assert session.get(Delivery, "test:kept") is not None


def test_a_failed_insert_logs_nothing_that_was_typed(database):
    """SQL parameters are hidden; a database's own message (PostgreSQL's DETAIL repeats the row)
    is left out of every logged traceback."""
    import io

    from sqlalchemy.exc import IntegrityError

    from bot.logs import ContentFreeFormatter
    from models import Delivery

    typed = "Jamie Example born 12/03/2011"
    with database.session() as session:
        session.add(Delivery(key=typed))
    with pytest.raises(IntegrityError) as failed, database.session() as session:
        session.add(Delivery(key=typed))
    assert "hidden due to hide_parameters" in str(failed.value)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(ContentFreeFormatter("%(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("test.content-free")
    logger.addHandler(handler)
    try:
        logger.error("unexpected error in a listener", exc_info=failed.value)
    finally:
        logger.removeHandler(handler)
    logged = stream.getvalue()
    assert "IntegrityError" in logged and "Traceback" in logged
    assert typed not in logged and "Jamie" not in logged


def test_slack_request_bodies_stay_out_of_the_log_unless_asked_for(caplog):
    import io

    from bot import logs

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(logs.SLACK_BODIES)  # as on the handler `logs.configure` installs
    try:
        for name in ("slack_bolt.App", "slack_sdk.web.base_client"):
            record = logging.LogRecord(name, logging.DEBUG, __file__, 1, "body: text=typed", None, None)
            handler.handle(record)
        handler.handle(logging.LogRecord("casehub", logging.DEBUG, __file__, 1, "casehub's own", None, None))
        assert "typed" not in stream.getvalue() and "casehub's own" in stream.getvalue()
        with caplog.at_level(logging.WARNING, logger="casehub"):
            logs.log_slack_requests(True)
        handler.handle(
            logging.LogRecord("slack_bolt.App", logging.DEBUG, __file__, 1, "now typed", None, None)
        )
        assert "now typed" in stream.getvalue()
        assert "LOG_SLACK_REQUESTS is on" in caplog.text
    finally:
        logs.log_slack_requests(False)
