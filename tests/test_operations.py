"""Operations over HTTP: liveness, readiness, Prometheus metrics and JSON logs."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from bot import logs, metrics, scheduler
from bot.app import assemble
from bot.db import Database
from bot.identity import SlackIdentity
from bot.serving import BackgroundServer
from bot.settings import Settings
from bot.slack import make_client
from bot.web import WSGIApp, request_kind, wsgi_app
from models import Page, clock
from services import cases
from tests.conftest import ADMIN, COORD, POLICE, SCHOOL, SECRET, make_settings
from tests.helpers import logging_as_configured, open_case, wait_for

TYPED = "Jamie Example born 12/03/2011 at 4 Elm Row"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


# ---- serving wsgi_app with stand-ins for the queue and Slack ---------------------------------------
@contextmanager
def serving(application: WSGIApp) -> Iterator[str]:
    server = BackgroundServer(application).start()
    try:
        yield server.url
    finally:
        server.stop()


class Queue:
    def __init__(self, alive: int = 2, expected: int = 2, **stats: float) -> None:
        self.figures: dict[str, float | int] = {
            "queued": 0,
            "running": 0,
            "parked": 0,
            "oldest_age_seconds": 0.0,
            "workers_alive": alive,
            "workers_expected": expected,
            **stats,
        }

    def stats(self) -> dict[str, float | int]:
        return dict(self.figures)


class Slack:
    def __init__(self, state: str = "ok") -> None:
        self.answer = state

    def state(self) -> str:
        return self.answer


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def readiness(url: str) -> tuple[int, dict[str, Any]]:
    status, body = get(url + "/readyz")
    return status, json.loads(body)


@contextmanager
def served(settings: Settings, db: Database, **status: Any) -> Iterator[str]:
    with serving(wsgi_app(assemble(settings, db, threads=0).app, db, SECRET, **status)) as url:
        yield url


# ---- liveness and readiness ----------------------------------------------------------------------
def test_ready_when_the_database_the_workers_and_slack_are(settings, database):
    with served(settings, database, queue=Queue(alive=2, expected=2), slack=Slack("ok")) as url:
        assert get(url + "/healthz") == (200, '{"ok": true}')
        status, report = readiness(url)
    assert status == 200 and report["ok"] is True
    assert report["checks"]["database"] == {"ok": True}
    assert report["checks"]["queue"]["ok"] is True and report["checks"]["queue"]["workers_alive"] == 2
    assert report["checks"]["slack"] == {"ok": True, "state": "ok"}


def test_not_ready_with_the_database_down_yet_alive(settings, database, tmp_path):
    folder = tmp_path / "gone"
    folder.mkdir()
    gone = Database(f"sqlite:///{folder / 'casehub.db'}")
    folder.rmdir()
    with served(settings, gone, queue=Queue(), slack=Slack("ok")) as url:
        status, report = readiness(url)
        alive = get(url + "/healthz")
    assert status == 503 and report["ok"] is False
    assert report["checks"]["database"] == {"ok": False}
    assert report["checks"]["slack"]["ok"] and report["checks"]["queue"]["ok"]
    assert alive == (200, '{"ok": true}')


@pytest.mark.parametrize("state", ["unreachable", "invalid", "checking"])
def test_not_ready_unless_slack_answers_the_token(settings, database, state):
    slack = Slack(state)
    with served(settings, database, queue=Queue(), slack=slack) as url:
        status, report = readiness(url)
        slack.answer = "ok"
        again, _ = readiness(url)
    assert status == 503 and report["checks"]["slack"] == {"ok": False, "state": state}
    assert again == 200


def test_not_ready_with_a_worker_missing(settings, database):
    queue = Queue(alive=1, expected=2)
    with served(settings, database, queue=queue) as url:
        status, report = readiness(url)
        queue.figures["workers_alive"] = 2
        again, _ = readiness(url)
    assert status == 503 and report["checks"]["queue"]["ok"] is False
    assert report["checks"]["queue"]["workers_expected"] == 2
    assert again == 200


def test_the_token_check_tells_a_refused_token_from_an_unreachable_slack(fake, database):
    refused = SlackIdentity(make_client(make_settings(fake, database)), first_wait=0.05)
    assert refused.state() == "checking"  # until Slack has answered
    fake.fail("auth.test", "invalid_auth")
    refused.start()
    assert wait_for(lambda: refused.state() == "invalid")
    accepted = SlackIdentity(make_client(make_settings(fake, database)), first_wait=0.05).start()
    assert accepted.wait(5) and accepted.state() == "ok" and accepted.bot_user_id
    nowhere = make_settings(fake, database, slack_api_url="http://127.0.0.1:1/api/")
    unreachable = SlackIdentity(make_client(nowhere, timeout=1), first_wait=0.05).start()
    assert wait_for(lambda: unreachable.state() == "unreachable")
    unreachable.stop()


# ---- metrics --------------------------------------------------------------------------------------
def scrape(url: str) -> tuple[Samples, str]:
    status, text = get(url + "/metrics")
    assert status == 200
    samples = {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    return samples, text


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_requests_are_counted_and_timed_by_kind_without_what_was_typed(slack, running):
    before, _ = scrape(running.url)
    for _ in range(3):
        assert slack.command("/case", f"help {TYPED}", user=COORD).status == 200
    assert slack.event({"type": "app_home_opened", "user": COORD, "tab": "home"}).status == 200
    assert slack.command("/case", TYPED, user=COORD, secret="not-the-secret").status == 401
    after, text = scrape(running.url)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("casehub_requests_total", kind="command:/case", outcome="2xx") == 3
    assert grew("casehub_ack_seconds_count", kind="command:/case") == 3
    assert grew("casehub_ack_seconds_bucket", kind="command:/case", le="3.0") == 3
    assert grew("casehub_requests_total", kind="event:app_home_opened", outcome="2xx") == 1
    # An unsigned request is counted, but nothing it says becomes a label.
    assert grew("casehub_requests_total", kind="unverified", outcome="4xx") == 1
    assert "Jamie" not in text


def test_slack_api_calls_are_counted_by_method_with_their_errors(slack, fake, running, registry):
    before, _ = scrape(running.url)
    slack.command("/case", "open", user=COORD)  # a form opened: a call that succeeds
    fake.fail("views.open", "expired_trigger_id")
    failed = slack.command("/case", "open", user=COORD)
    assert "expired_trigger_id" in slack.ephemeral(failed)
    fake.server_error("views.open", times=3)  # as many as the client tries
    slack.command("/case", "open", user=COORD)
    after, _ = scrape(running.url)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    # The server errors were retried within one call; that call's job was tried again, once:
    # whether its trigger was still good by then (3 s) depends on the machine's load.
    assert grew("casehub_slack_api_calls_total", method="views.open") == 4
    assert grew("casehub_slack_api_seconds_count", method="views.open") == 4
    assert grew("casehub_slack_api_errors_total", method="views.open", error="expired_trigger_id") in (1, 2)
    assert grew("casehub_slack_api_errors_total", method="views.open", error="http_5xx") == 1
    assert len(fake.calls_to("views.open")) == 6


@pytest.fixture
def case(slack, database, registry):
    # In working hours: a crisis raised at night waits for the morning's hand-over.
    with clock.set_to(datetime(2026, 12, 8, 11, 0, tzinfo=UTC), running=True):
        yield open_case(slack, database, agencies=("police", "school"))


def test_pages_waiting_for_acknowledgement_are_counted(slack, fake, database, running, case):
    assert value(scrape(running.url)[0], "casehub_pages_unacknowledged") == 0
    slack.command("/oncall", f"set police <@{POLICE}>", user=ADMIN)
    slack.command("/crisis", "Threats made online tonight", user=SCHOOL, channel=case.channel)
    with database.reader() as session:
        paged = session.scalar(select(func.count()).select_from(Page))
        police_page = session.scalar(select(Page).where(Page.user_id == POLICE))
    assert paged >= 2
    assert value(scrape(running.url)[0], "casehub_pages_unacknowledged") == paged
    slack.click("crisis_ack", str(police_page.id), user=POLICE)
    assert value(scrape(running.url)[0], "casehub_pages_unacknowledged") == paged - 1
    slack.command("/crisis", "resolve Police attended; safe", user=COORD, channel=case.channel)
    assert value(scrape(running.url)[0], "casehub_pages_unacknowledged") == 0


def test_a_sweep_is_timed_and_the_apps_own_client_counted(settings, database, running):
    before, _ = scrape(running.url)
    client = make_client(settings)
    scheduler.run_sweep(database, client, settings)
    client.auth_test()
    after, _ = scrape(running.url)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("casehub_sweep_seconds_count", sweep="due") == 1
    assert grew("casehub_slack_api_calls_total", method="auth.test") == 1


def test_the_queue_is_read_at_each_scrape_and_its_jobs_counted(settings, database):
    queue = Queue(queued=3, parked=1, oldest_age_seconds=12.5)
    with served(settings, database, queue=queue) as url:
        before, _ = scrape(url)
        metrics.job_finished("done", 0.3)
        metrics.job_finished("parked", 4.0)
        queue.figures["queued"] = 2
        after, _ = scrape(url)
    assert value(before, "casehub_jobs_queued") == 3 and value(after, "casehub_jobs_queued") == 2
    assert value(after, "casehub_jobs_oldest_age_seconds") == 12.5
    assert value(after, "casehub_jobs_parked") == 1
    for outcome in ("done", "parked"):
        grew = value(after, "casehub_jobs_total", outcome=outcome) - value(
            before, "casehub_jobs_total", outcome=outcome
        )
        assert grew == 1
    assert value(after, "casehub_job_seconds_count") - value(before, "casehub_job_seconds_count") == 2
    assert ("casehub_jobs_total", frozenset({("outcome", "retried")})) in after  # there before any
    with pytest.raises(ValueError):
        metrics.job_finished("finished", 1.0)


def test_without_a_queue_no_queue_figures_are_made_up(running):
    samples, _ = scrape(running.url)
    assert ("casehub_pages_unacknowledged", frozenset()) in samples
    assert not [name for name, _ in samples if name.startswith("casehub_jobs_queued")]


def test_counts_of_every_process_on_the_host_are_added_up(database, tmp_path, monkeypatch):
    """With PROMETHEUS_MULTIPROC_DIR, counts made in another process reach this one's /metrics."""
    shared = tmp_path / "metrics"
    shared.mkdir()
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(shared))
    registry = metrics.make_registry(database)
    metrics.job_finished("parked", 1.0)  # this process was not started in that mode: not shared
    assert registry.get_sample_value("casehub_jobs_total", {"outcome": "parked"}) is None
    work = "from bot import metrics; metrics.job_finished('parked', 2.0); metrics.job_finished('parked', 1.0)"
    subprocess.run([sys.executable, "-c", work], env=dict(os.environ), check=True, timeout=60)
    assert registry.get_sample_value("casehub_jobs_total", {"outcome": "parked"}) == 2
    assert registry.get_sample_value("casehub_job_seconds_count") == 2


def form(**fields: str) -> bytes:
    return urlencode(fields).encode()


@pytest.mark.parametrize(
    ("body", "content_type", "kind"),
    [
        (form(command="/case", text=TYPED), "application/x-www-form-urlencoded", "command:/case"),
        (
            form(payload=json.dumps({"type": "view_submission"})),
            "application/x-www-form-urlencoded",
            "view_submission",
        ),
        (
            form(payload=json.dumps({"type": "block_actions"})),
            "application/x-www-form-urlencoded",
            "block_actions",
        ),
        (
            json.dumps({"type": "event_callback", "event": {"type": "member_joined_channel"}}).encode(),
            "application/json",
            "event:member_joined_channel",
        ),
        (json.dumps({"type": "url_verification"}).encode(), "application/json", "url_verification"),
        # Whatever is not a plain name of Slack's is "other": never a label made of what was sent.
        (form(command=TYPED), "application/x-www-form-urlencoded", "other"),
        (form(payload=json.dumps({"type": TYPED})), "application/x-www-form-urlencoded", "other"),
        (form(payload="{not json"), "application/x-www-form-urlencoded", "other"),
        (b"[1, 2]", "application/json", "other"),
    ],
)
def test_request_kinds_name_only_the_command_payload_or_event_type(body, content_type, kind):
    assert request_kind(body, content_type) == kind


# ---- logs -----------------------------------------------------------------------------------------
def test_request_ids_come_from_slacks_timestamp_or_are_random():
    assert re.fullmatch(r"1712345678-[0-9a-f]{6}", logs.new_request_id("1712345678"))
    assert re.fullmatch(r"[0-9a-f]{32}", logs.new_request_id("<b>1712345678</b>"))
    assert logs.new_request_id() != logs.new_request_id()
    with logs.request_scope("r-1"):
        assert logs.request_id.get() == "r-1"
    assert logs.request_id.get() is None


def test_json_logs_carry_the_error_and_the_request_but_nothing_typed(
    slack, fake, registry, monkeypatch, capsys
):
    def check_draft(draft: cases.CaseDraft) -> None:
        raise RuntimeError(f"could not check {draft.summary}")

    slack.command("/case", "open", user=COORD)
    view = fake.last_view()
    monkeypatch.setattr(cases, "check_draft", check_draft)
    monkeypatch.setenv("LOG_FORMAT", "json")
    with logging_as_configured():
        logs.configure("INFO")
        reply = slack.submit(view, {"summary": TYPED, "risk": "moderate", "lead": COORD}, user=COORD)
        logging.getLogger("casehub").info("after the failure")
    written = capsys.readouterr().err
    assert reply.status == 200
    lines = [json.loads(line) for line in written.splitlines()]
    assert lines and all({"time", "level", "logger", "message", "request_id"} <= set(line) for line in lines)
    # Once as the form is checked (on the request's thread), once in the work after it.
    errors = [line for line in lines if "error" in line]
    assert len(errors) == 2, written
    failure = next(line for line in errors if line["request_id"])
    assert failure["level"] == "ERROR" and failure["logger"] == "casehub"
    assert failure["error"] == "builtins.RuntimeError"
    assert "check_draft" in failure["traceback"]
    assert re.fullmatch(r"\d+-[0-9a-f]{6}", failure["request_id"])  # the request it failed in
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", failure["time"])
    assert lines[-1]["message"] == "after the failure" and lines[-1]["request_id"] is None
    assert "Jamie" not in written and "Elm Row" not in written


def test_text_logs_keep_their_format_and_add_the_request_id(monkeypatch, capsys):
    monkeypatch.delenv("LOG_FORMAT", raising=False)
    with logging_as_configured():
        logs.configure("INFO")
        with logs.request_scope("1712345678-abcdef"):
            logging.getLogger("casehub").warning("in a request")
    written = capsys.readouterr().err
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} WARNING casehub 1712345678-abcdef: in a request\n", written
    )


def test_log_format_setting_accepts_only_text_or_json(fake, database):
    assert make_settings(fake, database, log_format="json").log_format == "json"
    with pytest.raises(ValueError):
        make_settings(fake, database, log_format="xml")
