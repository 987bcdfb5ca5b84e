"""The HTTP surface: signatures, timestamps, health, unknown paths, start-up checks."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from bot.db import Database, UnmigratedDatabase
from sandbox.driver import sign
from tests.conftest import COORD, KEY_ENV


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_bad_signature_is_refused(slack, fake):
    reply = slack.command("/case", "list", user=COORD, secret="not-the-secret")
    assert reply.status == 401
    assert not fake.replies(reply.response_url)


def test_stale_timestamp_is_refused(slack, fake):
    reply = slack.command("/case", "list", user=COORD, timestamp=int(time.time()) - 6 * 60)
    assert reply.status == 401


def test_tampered_body_is_refused(slack):
    body = b"command=%2Fcase&text=list&user_id=UCOORD"
    ts = str(int(time.time()))
    request = urllib.request.Request(slack.url + "/slack/events", data=body + b"x", method="POST")
    request.add_header("Content-Type", "application/x-www-form-urlencoded")
    request.add_header("X-Slack-Request-Timestamp", ts)
    request.add_header("X-Slack-Signature", sign("test-signing-secret", ts, body))
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=5)
    assert refused.value.code == 401


def test_signature_helper_matches_slacks_documented_example():
    # The worked example in Slack's "Verifying requests from Slack" guide.
    body = (
        b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
        b"&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect"
        b"&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554"
        b"%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
    )
    assert sign("8f742231b10e8888abcd99yyyzzz85a5", "1531420618", body) == (
        "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
    )


def test_health_and_readiness_report_the_database(running):
    status, body = get(running.url + "/healthz")
    assert status == 200 and json.loads(body) == {"ok": True}
    status, body = get(running.url + "/readyz")
    assert status == 200 and json.loads(body) == {"ok": True, "checks": {"database": {"ok": True}}}


def test_readiness_reports_a_database_that_is_down_while_the_process_lives(settings, fake, tmp_path):
    from tests.conftest import serve

    down = Database("postgresql+psycopg://nobody@127.0.0.1:1/none")
    app = serve(settings, down, threads=0)
    try:
        ready = get(app.url + "/readyz")
        alive = get(app.url + "/healthz")
    finally:
        app.stop()
    assert ready[0] == 503 and json.loads(ready[1])["checks"]["database"] == {"ok": False}
    assert alive[0] == 200


def test_unknown_paths_are_not_found(running):
    assert get(running.url + "/admin")[0] == 404


def test_events_url_verification(slack):
    body = json.dumps({"type": "url_verification", "challenge": "abc123", "token": "t"}).encode()
    reply = slack.post(body, "application/json")
    assert reply.status == 200 and json.loads(reply.body)["challenge"] == "abc123"


def test_refusals_are_acknowledged_at_once(slack):
    reply = slack.command("/case", "status", user=COORD, channel="CGENERAL")
    assert reply.status == 200 and reply.body == ""
    assert "works only in a case channel" in slack.ephemeral(reply)


def test_unmigrated_database_is_detected(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'empty.db'}")
    with pytest.raises(UnmigratedDatabase) as refused:
        db.check_migrated()
    assert "python -m bot migrate" in str(refused.value)


def run_bot(*args: str, env: dict[str, str], cwd) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", **KEY_ENV, **env},
        cwd=cwd,
        timeout=60,
    )


def test_web_refuses_an_unmigrated_database_then_migrate_fixes_it(tmp_path):
    env = {
        "SLACK_BOT_TOKEN": "xoxb-x",
        "SLACK_SIGNING_SECRET": "s",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'c.db'}",
    }
    refused = run_bot("web", env=env, cwd=tmp_path)
    assert refused.returncode == 2
    assert "run `python -m bot migrate` first" in refused.stderr
    assert "Traceback" not in refused.stderr
    migrated = run_bot("migrate", env=env, cwd=tmp_path)
    assert migrated.returncode == 0 and "up to date" in migrated.stdout


def test_missing_settings_stop_start_up_with_one_clear_message(tmp_path):
    result = run_bot("web", env={"SLACK_SIGNING_SECRET": "s"}, cwd=tmp_path)
    assert result.returncode == 2
    assert "SLACK_BOT_TOKEN is not set" in result.stderr
    assert "Traceback" not in result.stderr
    result = run_bot(
        "web",
        env={"SLACK_BOT_TOKEN": "x", "SLACK_SIGNING_SECRET": "s", "CASE_CHANNEL_PREFIX": "Bad Prefix!"},
        cwd=tmp_path,
    )
    assert "CASE_CHANNEL_PREFIX is invalid" in result.stderr


def test_production_server_serves_signed_requests(fake, database, registry, tmp_path):
    """`python -m bot web`: gunicorn with worker processes, as the Procfile runs it."""
    import socket

    from sandbox.slack import TOKEN

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        "SLACK_BOT_TOKEN": TOKEN,
        "SLACK_SIGNING_SECRET": "test-signing-secret",
        "DATABASE_URL": database.url,
        "SLACK_API_URL": fake.api_url,
        "PORT": str(port),
        "PATH": "/usr/bin:/bin",
        **KEY_ENV,
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "bot", "web"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.time() + 90  # the identifier check's models load before it serves
        status, body = 0, ""
        while time.time() < deadline:  # up, with its workers ready and its token checked
            try:
                status, body = get(url + "/readyz")
                if status == 200:
                    break
            except OSError:
                pass
            time.sleep(0.2)
        assert status == 200, body
        checks = json.loads(body)["checks"]
        assert checks["database"] == {"ok": True} and checks["slack"] == {"ok": True, "state": "ok"}
        queue = checks["queue"]
        assert queue["ok"] and queue["workers_alive"] == queue["workers_expected"] == 5  # 4 + 1 urgent
        assert get(url + "/healthz") == (200, '{"ok": true}')
        from sandbox.driver import SlackDriver

        class Elsewhere:  # the work is done in the server's process: the test polls for its answer
            def wait_idle(self, timeout: float = 0) -> bool:
                return True

        driver = SlackDriver(url, "test-signing-secret", fake, Elsewhere())
        reply = driver.command("/case", "list", user=COORD)
        assert reply.status == 200
        deadline = time.time() + 30
        while not fake.replies(reply.response_url) and time.time() < deadline:
            time.sleep(0.1)
        assert "You lead no open cases" in driver.ephemeral(reply)
        assert driver.command("/case", "list", user=COORD, secret="wrong").status == 401
    finally:
        server.terminate()
        server.wait(timeout=30)
