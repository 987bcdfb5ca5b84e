"""With WORK_PROCESSES > 0 the slow part of each request runs in a worker process."""

from __future__ import annotations

import json
import os
import threading
import urllib.error
import urllib.request

import pytest
from sqlalchemy import select

from models import Case, SetupState
from tests.conftest import COORD, POLICE
from tests.helpers import open_case, wait_for


@pytest.fixture
def settings_overrides():
    return {"work_processes": 1}


def test_case_opens_through_a_worker_process(slack, fake, database, registry):
    opened = open_case(slack, database)
    assert POLICE in fake.channels[opened.channel].members
    with database.reader() as session:
        assert session.scalars(select(Case)).one().setup_state is SetupState.READY
    said = slack.ephemeral(slack.command("/case", "stage screening", user=POLICE, channel=opened.channel))
    assert "Only the lead coordinator" in said
    assert fake.dms(COORD)


def test_handing_work_over_never_blocks_the_acknowledging_thread(settings):
    """Even with the workers stalled and their pipe full, queuing returns at once."""
    import threading

    from slack_bolt.request import BoltRequest

    from bot.work import ProcessLazyListenerRunner

    runner = ProcessLazyListenerRunner(settings, processes=1)
    runner._started_in = os.getpid()  # no worker reads: the pipe to them fills and stays full
    threading.Thread(target=runner._dispatch, daemon=True).start()
    request = BoltRequest(body="x" * 1000, headers={})

    def listener() -> None:
        pass

    def flood() -> None:
        for _ in range(5000):  # about 5 MB: far beyond what a pipe holds
            runner.start(listener, request)

    flooding = threading.Thread(target=flood, daemon=True)
    flooding.start()
    flooding.join(timeout=20)
    assert not flooding.is_alive()


def health(url: str) -> dict:
    try:
        with urllib.request.urlopen(url + "/readyz", timeout=5) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as error:
        assert error.code == 503
        return json.loads(error.read())


def test_health_waits_for_the_workers_and_a_dead_worker_is_replaced(running, slack, fake, registry):
    runner = running.app.listener_runner.lazy_listener_runner
    runner.start_workers()
    assert wait_for(lambda: health(running.url)["ok"], timeout=30)
    assert health(running.url)["checks"] == {
        "database": {"ok": True},
        "queue": {"ok": True, "workers_alive": 1, "workers_expected": 1, "queued": 0, "running": 0},
    }

    (dead,) = [worker.process for worker in runner._workers.values()]
    dead.kill()
    dead.join(timeout=10)
    report = health(running.url)
    assert report["ok"] is False and report["checks"]["queue"]["workers_alive"] == 0

    # The next piece of work starts a new worker, which does it.
    said = slack.ephemeral(slack.command("/case", "list", user=COORD))
    assert "You lead no open cases" in said
    assert [worker.process.pid for worker in runner._workers.values()] != [dead.pid]
    assert wait_for(lambda: health(running.url)["ok"], timeout=30)


def test_a_worker_killed_mid_request_is_replaced_and_the_rest_carries_on(
    running, slack, fake, database, registry, caplog
):
    running.app.listener_runner.lazy_listener_runner.start_workers()
    fake.delay("conversations.create", 30)  # the worker is stuck in the middle of setting up a case
    runner = running.app.listener_runner.lazy_listener_runner

    def kill_the_busy_worker() -> None:
        assert wait_for(lambda: fake.calls_to("conversations.create"), timeout=30)
        (busy,) = [worker.process for worker in runner._workers.values()]
        busy.kill()

    killer = threading.Thread(target=kill_the_busy_worker)
    killer.start()
    slack.command("/case", "open", user=COORD)
    values = {
        "summary": "A concern raised by the school.",
        "risk": "low",
        "lead": COORD,
        "agencies": ["police"],
    }
    reply = slack.submit(fake.last_view(), values, user=COORD)  # returns once the work is over
    assert reply.status == 200 and not reply.body, reply.body
    killer.join()
    assert "while running record_open" in caplog.text
    assert "that request's work is lost" in caplog.text

    with database.reader() as session:
        case = session.scalars(select(Case)).one()  # recorded before the channel was asked for
    assert case.setup_state is SetupState.PENDING
    said = slack.ephemeral(slack.command("/case", "list", user=COORD))  # a new worker answers
    assert case.reference in said


def test_stopping_finishes_what_was_acknowledged(settings, fake, registry):
    """At exit (a deploy, a restart) queued work is still done before the workers stop."""
    from urllib.parse import urlencode

    from slack_bolt.request import BoltRequest

    from bot.work import ProcessLazyListenerRunner
    from handlers.case_command import handle_case

    runner = ProcessLazyListenerRunner(settings, processes=1)
    urls = [fake.issue_response_url() for _ in range(5)]
    for url in urls:  # queued while the worker is still starting
        body = urlencode(
            {
                "command": "/case",
                "text": "help",
                "user_id": COORD,
                "channel_id": "CGENERAL",
                "response_url": url,
            }
        )
        runner.start(
            handle_case,
            BoltRequest(body=body, headers={"content-type": ["application/x-www-form-urlencoded"]}),
        )
    (worker,) = [worker.process for worker in runner._workers.values()]
    runner.shutdown()
    assert not worker.is_alive() and worker.exitcode == 0
    assert all("/case open" in fake.replies(url)[0]["text"] for url in urls)
