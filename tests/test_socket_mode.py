"""casehub in Socket Mode: the main flows, delivered as envelopes over WebSocket connections to the
emulated Slack, on SQLite and PostgreSQL; acknowledgements after the work is on record; lost
connections, refreshes and redeliveries with nothing lost and nothing done twice."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from bot import metrics
from bot.app import Casehub, assemble
from bot.jobs import NotRecorded
from bot.serving import BackgroundServer
from bot.socket import SocketLinks, SocketStatus
from bot.web import wsgi_app
from models import Action, Page, Risk, Update
from models.clock import clock as casehub_clock
from sandbox.driver import SocketDriver
from sandbox.slack import APP_TOKEN, TOKEN, EmulatedSlack
from sandbox.socket_mode import SocketModeSlack
from services import cases
from tests.conftest import ADMIN, COORD, POLICE, SCHOOL, SECRET
from tests.helpers import SUMMARY, open_case, wait_for

TUESDAY = datetime(2026, 12, 8, 11, 0, tzinfo=UTC)


@dataclass
class SocketRunning:
    casehub: Casehub
    links: SocketLinks
    socket: SocketModeSlack

    def wait_idle(self, timeout: float = 30.0) -> bool:
        assert self.casehub.workers is not None
        return self.casehub.workers.wait_idle(timeout)


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    """Socket Mode needs no signing secret: these tests run without one."""
    return {"slack_signing_secret": None, "slack_app_token": APP_TOKEN}


@pytest.fixture
def clock():
    with casehub_clock.set_to(TUESDAY, running=True) as moved:
        yield moved


@pytest.fixture
def running(settings, database, fake: EmulatedSlack) -> Iterator[SocketRunning]:
    socket = fake.socket_mode()
    casehub = assemble(settings, database).start()
    assert casehub.identity.wait(10)
    links = quick_links(casehub, connections=2).start()
    assert links.wait_open(timeout=10), links.report()
    yield SocketRunning(casehub, links, socket)
    links.stop()
    casehub.stop(timeout=10)


def quick_links(casehub: Casehub, connections: int = 1) -> SocketLinks:
    """casehub's connections, with the pauses and checks of a test rather than of a deployment."""
    return SocketLinks(
        casehub.app,
        APP_TOKEN,
        connections=connections,
        first_delay=0.05,
        max_delay=0.2,
        # slack-sdk calls a connection stale after four pings without a pong, and reads no pong
        # for up to 3 s while it moves to a new connection: four pings must outlast that.
        ping_interval=1.0,
        reconnect_grace=0.3,
    )


@pytest.fixture
def slack(running: SocketRunning, fake: EmulatedSlack) -> SocketDriver:
    return SocketDriver(fake, running)


def updates(database) -> list[Update]:
    with database.reader() as session:
        return session.scalars(select(Update).order_by(Update.id)).all()


def test_the_main_flows_over_socket_mode(slack, fake, database, registry, running, clock):
    # A case opened through its form: the command's envelope opens the form, the form's
    # envelope is answered in its acknowledgement.
    case = open_case(slack, database, agencies=("police", "school"))
    assert fake.channels[case.channel].members >= {COORD, POLICE, SCHOOL}

    # An update in one line, posted to the case channel, and counted as a request.
    counted = {"kind": "command:/update", "outcome": "2xx"}
    before = metrics.EVENTS.get_sample_value("casehub_requests_total", counted) or 0
    reply = slack.command("/update", "Attended mentoring and engaged well", user=SCHOOL, channel=case.channel)
    assert reply.status == 200
    assert [u.agency.slug for u in updates(database)] == ["school"]
    assert "Attended mentoring" in json.dumps(fake.posts(case.channel)[-1]["blocks"])
    assert metrics.EVENTS.get_sample_value("casehub_requests_total", counted) == before + 1

    # An action, then its button.
    slack.command(
        "/action",
        f"add Share attendance records <@{SCHOOL}> due:2026-12-15",
        user=COORD,
        channel=case.channel,
    )
    with database.reader() as session:
        action = session.scalars(select(Action)).one()
        assert action.agency.slug == "school"
        action_id, action_ts = action.id, action.channel_ts
    posted = next(m for m in fake.posts(case.channel) if m["ts"] == action_ts)
    assert next(e["action_id"] for e in posted["blocks"][-1]["elements"]) == "action_done"
    slack.click("action_done", str(action_id), user=SCHOOL, channel=case.channel, message_ts=action_ts)
    with database.reader() as session:
        assert session.get(Action, action_id).status.value == "done"

    # The Home tab.
    slack.home_opened(COORD)
    assert case.reference in json.dumps(fake.published[COORD])

    # A crisis: pages, and the acknowledgement of one.
    slack.command("/oncall", f"set police <@{POLICE}>", user=ADMIN)
    said = slack.ephemeral(
        slack.command("/crisis", "Threats made online tonight", user=SCHOOL, channel=case.channel)
    )
    assert said.startswith("Immediate danger to life?")
    with database.reader() as session:
        page = session.scalars(select(Page).where(Page.user_id == POLICE)).one()
    slack.click("crisis_ack", str(page.id), user=POLICE)
    with database.reader() as session:
        assert session.get(Page, page.id).acknowledged_at is not None

    # Everything came over the connections, each acknowledged in time and once.
    assert running.socket.late() == [] and running.socket.timed_out() == []
    assert running.socket.refusals == []
    assert len({d.link for d in running.socket.deliveries}) == 2  # spread over both connections
    assert not fake.calls_to("auth.test", ok=False)


def test_an_event_whose_acknowledgement_was_lost_comes_again_and_is_done_once(
    slack, fake, database, registry, running
):
    published = len(fake.calls_to("views.publish", ok=True))
    running.socket.lose_acknowledgements(1)
    reply = slack.home_opened(COORD)
    assert reply.status == 200  # acknowledged the second time
    [late] = running.socket.late()
    assert [(d.attempt, d.reason) for d in running.socket.deliveries if d.envelope_id == late.id] == [
        (0, ""),
        (1, "timeout"),
    ]
    assert len(fake.calls_to("views.publish", ok=True)) == published + 1  # the Home tab, once


def test_a_command_whose_acknowledgement_was_lost_is_still_done_once(
    slack, fake, database, registry, running
):
    """Slack does not deliver a command again: the person sees that casehub did not answer in
    time, but what they sent was on record before the acknowledgement, and is done."""
    case = open_case(slack, database)
    running.socket.lose_acknowledgements(1)
    reply = slack.command("/update", "Attended mentoring and engaged well", user=SCHOOL, channel=case.channel)
    assert reply.status == 408
    assert len(running.socket.timed_out()) == 1 and running.socket.late() == []
    assert len(updates(database)) == 1
    assert sum("Attended mentoring" in json.dumps(m["blocks"]) for m in fake.posts(case.channel)) == 1


def test_a_connection_dropped_in_the_middle_of_a_burst_loses_and_doubles_nothing(
    slack, fake, database, registry, running
):
    case = open_case(slack, database)
    notes = [f"Attended session {n} and engaged well" for n in range(1, 21)]
    replies: dict[str, int] = {}

    def send(note: str) -> None:
        replies[note] = slack.command("/update", note, user=SCHOOL, channel=case.channel, settle=False).status

    threads = [threading.Thread(target=send, args=(note,)) for note in notes]
    for number, thread in enumerate(threads):
        thread.start()
        if number == 8:  # mid-burst: acknowledgements lost with a connection lost outright
            running.socket.lose_acknowledgements(3)
            running.socket.drop(running.socket.open_links()[0])
    for thread in threads:
        thread.join(30)
    slack.settle()
    answered = [note for note in notes if replies[note] == 200]
    unanswered = [note for note in notes if replies[note] != 200]
    # Those whose acknowledgement was lost, or who sent theirs on the lost connection, saw no
    # answer in time (Slack does not deliver a command again); everyone else had theirs.
    assert set(replies.values()) <= {200, 408} and len(unanswered) >= 3
    assert len(running.socket.timed_out()) == len(unanswered)
    saved = Counter(u.observed for u in updates(database))
    assert all(saved[note] == 1 for note in answered)  # acknowledged: saved, once
    assert all(saved[note] <= 1 for note in unanswered)  # on record before the connection was lost, or not
    for note in notes:
        assert sum(note in json.dumps(m["blocks"]) for m in fake.posts(case.channel)) == saved[note]
    # casehub opened a connection in place of the lost one (once slack-sdk's pings found it gone).
    assert len(running.socket.wait_for_links(2, timeout=30)) == 2
    assert running.links.wait_open(timeout=10), running.links.report()


@pytest.fixture
def answering_only(settings, database, fake, registry) -> Iterator[tuple[Casehub, SocketLinks, str]]:
    """A socket process that only answers (no workers), and a case channel to work in."""
    fake.socket_mode()
    answering = assemble(settings, database, threads=0).start()
    links = quick_links(answering).start()
    assert answering.identity.wait(10) and links.wait_open(timeout=10)
    with database.session() as session:
        draft = cases.CaseDraft(SUMMARY, Risk.LOW, COORD, ("police", "school"))
        case, _ = cases.open_case(session, draft=draft, opener=COORD, opened_via="t", request_ref="t")
        case.channel_id = fake.add_channel("case-t", members={COORD, SCHOOL, "UBOT"}, private=True)
        channel = case.channel_id
    yield answering, links, channel
    links.stop()
    answering.stop(timeout=10)


def test_an_envelope_is_acknowledged_only_once_its_work_is_on_record(
    settings, database, fake, answering_only, monkeypatch
):
    answering, _links, channel = answering_only
    release = threading.Event()
    recording = answering.queue.record

    def held(**job: object) -> bool:
        assert release.wait(10)
        return recording(**job)  # type: ignore[arg-type]

    monkeypatch.setattr(answering.queue, "record", held)
    replies: list[int] = []
    sender = threading.Thread(
        target=lambda: replies.append(
            SocketDriver(fake).command("/update", "Attended mentoring", user=SCHOOL, channel=channel).status
        )
    )
    sender.start()
    assert wait_for(lambda: fake.socket is not None and fake.socket.deliveries)
    time.sleep(0.5)
    assert replies == [] and not any(e.acknowledged.is_set() for e in fake.socket.envelopes.values())
    release.set()  # recorded: acknowledged then
    sender.join(10)
    assert replies == [200] and answering.queue.stats().queued == 1
    assert updates(database) == []
    working = assemble(settings, database, threads=2).start()  # another process's workers
    try:
        assert working.workers is not None and working.workers.wait_idle(30)
    finally:
        working.stop(timeout=10)
    assert [u.observed for u in updates(database)] == ["Attended mentoring"]


def test_work_that_cannot_be_recorded_is_answered_not_saved_or_left_to_come_again(
    database, fake, answering_only, monkeypatch
):
    answering, _links, channel = answering_only
    recording = answering.queue.record
    failing = threading.Event()
    failing.set()

    def broken(**job: object) -> bool:
        if failing.is_set():
            raise NotRecorded("OperationalError")
        return recording(**job)  # type: ignore[arg-type]

    monkeypatch.setattr(answering.queue, "record", broken)
    driver = SocketDriver(fake)
    # A command: answered at once that nothing was saved.
    reply = driver.command("/update", "Attended mentoring", user=SCHOOL, channel=channel)
    assert reply.status == 200 and "could not save this" in driver.ephemeral(reply)
    # An event: not acknowledged, so Slack delivers it again, and then it is recorded.
    assert fake.socket is not None
    threading.Timer(1.0, failing.clear).start()
    assert driver.home_opened(COORD).status == 200
    [again] = fake.socket.late()
    assert again.attempt == 1 and again.type == "events_api"
    assert answering.queue.stats().queued == 1  # the event's work, once


def test_refresh_with_and_without_warning_moves_to_new_connections_and_loses_nothing(
    slack, fake, database, registry, running, caplog
):
    caplog.set_level(logging.INFO, logger="bot.socket")
    socket = running.socket
    before = set(socket.open_links())
    first, second = sorted(before)
    # One at a time, as Slack does (each connection has its own age): slack-sdk takes up to 3 s
    # to let go of the old one, and dispatches nothing of that connection's meanwhile.
    sessions = running.links.sessions()
    socket.refresh(first)  # warned first: slack-sdk moves at the warning
    assert wait_for(lambda: not socket.links[first].open)
    socket.request_refresh(second)  # asked at once
    assert wait_for(lambda: not socket.links[second].open)
    socket.wait_for_links(2, besides=before)
    # Both moves over on casehub's side too: each connection on a session of its own, new.
    assert wait_for(lambda: all(s is not None for s in running.links.sessions()))
    assert wait_for(lambda: set(running.links.sessions()).isdisjoint(sessions))
    case = open_case(slack, database)
    slack.command("/update", "Attended mentoring and engaged well", user=SCHOOL, channel=case.channel)
    assert len(updates(database)) == 1
    assert sum("Attended mentoring" in json.dumps(m["blocks"]) for m in fake.posts(case.channel)) == 1
    assert set(socket.open_links()).isdisjoint(before)
    assert socket.late() == [] and socket.timed_out() == []
    lines = [r.getMessage() for r in caplog.records if r.name == "bot.socket"]
    assert any(line.startswith("Slack warned that connection") for line in lines)
    assert any("asked for connection" in line and "move to a new one" in line for line in lines)
    assert socket.connections_opened >= 4


def test_link_disabled_is_said_and_retried_until_socket_mode_is_back(fake, database, settings, caplog):
    caplog.set_level(logging.INFO)
    socket = fake.socket_mode()
    casehub = assemble(settings, database).start()
    links = quick_links(casehub).start()
    status = SocketStatus(casehub.identity, links)
    try:
        assert links.wait_open(timeout=10)
        assert wait_for(lambda: status.state() == "ok")
        socket.disable()
        assert wait_for(lambda: status.state() == "disabled", timeout=10)
        assert any("link_disabled" in r.getMessage() for r in caplog.records if r.name == "bot.socket")
        # casehub's own attempts, with the growing pause
        assert wait_for(lambda: len(retries(caplog)) >= 2, timeout=10)
        assert all("(Slack answered access_denied)" in line for line in retries(caplog))
        socket.enable()
        assert wait_for(lambda: status.state() == "ok", timeout=10)
    finally:
        links.stop()
        casehub.stop(timeout=10)
    # One line each, never a traceback.
    assert all(r.exc_info is None and "\n" not in r.getMessage() for r in caplog.records)


def retries(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "bot.socket" and r.getMessage().startswith("cannot open Socket Mode connection")
    ]


def test_too_many_connections_are_refused_and_tried_again_with_a_pause(fake, database, settings, caplog):
    caplog.set_level(logging.INFO, logger="bot.socket")
    socket = fake.socket_mode(max_connections=1)
    casehub = assemble(settings, database).start()
    links = quick_links(casehub, connections=2).start()
    status = SocketStatus(casehub.identity, links)
    try:
        assert wait_for(lambda: sorted(links.states()) == ["open", "refused"], timeout=10), links.states()
        assert status.state() == "ok"  # one connection is enough to be delivered to
        assert wait_for(lambda: len(reopened(caplog)) >= 3, timeout=10)
    finally:
        links.stop()
        casehub.stop(timeout=10)
    assert any(line.startswith("Slack refused connection") for line in messages(caplog))
    pauses = [float(line.rsplit(" in ", 1)[1].removesuffix(" s")) for line in reopened(caplog)]
    assert pauses[:3] == [0.05, 0.1, 0.2]  # not a tight loop
    assert len(socket.open_links()) <= 1


def messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "bot.socket"]


def reopened(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [line for line in messages(caplog) if "opening it again in" in line]


def test_the_health_endpoint_reports_the_connections(fake, database, settings):
    fake.socket_mode()
    casehub = assemble(settings, database).start()
    links = quick_links(casehub, connections=2)
    server = BackgroundServer(
        wsgi_app(None, database, SECRET, queue=casehub, slack=SocketStatus(casehub.identity, links))
    ).start()
    try:
        import urllib.error
        import urllib.request

        def ready() -> tuple[int, dict]:
            try:
                with urllib.request.urlopen(server.url + "/readyz", timeout=5) as answer:
                    return answer.status, json.loads(answer.read())
            except urllib.error.HTTPError as error:
                return error.code, json.loads(error.read())

        status, report = ready()
        assert status == 503 and report["checks"]["slack"]["connections"]["open"] == 0
        links.start()
        assert links.wait_open(timeout=10)
        status, report = ready()
        assert status == 200
        assert report["checks"]["slack"] == {
            "ok": True,
            "state": "ok",
            "connections": {"open": 2, "wanted": 2, "links": ["open", "open"]},
        }
        # A Socket Mode process serves no Slack endpoint.
        request = urllib.request.Request(server.url + "/slack/events", data=b"{}", method="POST")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=5)
        assert refused.value.code == 404
    finally:
        links.stop()
        server.stop()
        casehub.stop(timeout=10)


def test_tokens_of_the_wrong_kind_are_refused_by_the_emulator(fake):
    """The emulated Slack takes an app-level token only to open connections, and only that."""
    from slack_sdk import WebClient
    from slack_sdk.errors import SlackApiError

    fake.socket_mode()
    with pytest.raises(SlackApiError) as bot_token:
        WebClient(token=TOKEN, base_url=fake.api_url).apps_connections_open(app_token=TOKEN)
    assert bot_token.value.response["error"] == "not_allowed_token_type"
    with pytest.raises(SlackApiError) as app_token:
        WebClient(token=APP_TOKEN, base_url=fake.api_url).auth_test()
    assert app_token.value.response["error"] == "not_allowed_token_type"
    url = WebClient(base_url=fake.api_url).apps_connections_open(app_token=APP_TOKEN)["url"]
    assert url.startswith("ws://127.0.0.1:")
