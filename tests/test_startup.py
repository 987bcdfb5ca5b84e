"""Start-up: a setting that cannot work stops `python -m bot` with one line and exit status 2,
and Socket Mode waits for a Slack it cannot reach instead of failing."""

from __future__ import annotations

import logging
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from slack_bolt import App
from slack_sdk import WebClient

from bot.settings import ConfigurationError, load_settings
from bot.socket import SocketLinks
from sandbox.slack import APP_TOKEN, EmulatedSlack
from tests.conftest import KEY_ENV
from tests.helpers import wait_for

ROOT = Path(__file__).resolve().parent.parent
REGISTRY = str(ROOT / "examples" / "agencies.yaml")
SECRET = "s3cret-pw"
# What a URL with an unencoded @ in its password would leave in the host name.
SECRET_TAIL = SECRET[3:]
VALID = {
    "SLACK_BOT_TOKEN": "xoxb-1-test",
    "SLACK_SIGNING_SECRET": "test-signing-secret",
    "SLACK_APP_TOKEN": "xapp-1-test",
    **KEY_ENV,
}
COMMANDS = {
    "migrate": ["migrate"],
    "web": ["web"],
    "scheduler": ["scheduler"],
    "socket": ["socket"],
    "agencies import": ["agencies", "import", REGISTRY],
}


def run_bot(command: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """`python -m bot` with only `env`, in a folder without a `.env`."""
    # libpq fills what a URL leaves out from PG* variables and a local socket: pointed nowhere,
    # a URL that should have been refused can never reach a real database.
    clean = {"PATH": "/usr/bin:/bin", "PGHOST": "127.0.0.1", "PGPORT": "1", **env}
    return subprocess.run(
        [sys.executable, "-m", "bot", *COMMANDS[command]],
        capture_output=True,
        text=True,
        env=clean,
        cwd=cwd,
        timeout=60,
    )


def refused_in_one_line(result: subprocess.CompletedProcess[str], *said: str) -> str:
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    for words in said:
        assert words in lines[0], (words, lines[0])
    assert SECRET_TAIL not in result.stderr + result.stdout
    return lines[0]


def database_in(folder: Path) -> str:
    return f"sqlite:///{folder / 'casehub.db'}"


@pytest.mark.parametrize("command", list(COMMANDS))
def test_valid_settings_pass_the_checks(command, tmp_path):
    """The control for every refusal below: the same commands get past the settings."""
    env = {**VALID, "DATABASE_URL": database_in(tmp_path)}
    if command == "migrate":
        result = run_bot(command, env, tmp_path)
        assert result.returncode == 0 and "up to date" in result.stdout, result.stderr
        return
    refused_in_one_line(run_bot(command, env, tmp_path), "run `python -m bot migrate` first")


@pytest.mark.parametrize(
    ("command", "url", "said"),
    [
        ("migrate", "postgresql+psycopg://", ["DATABASE_URL is invalid", "name the database"]),
        ("web", "not a url", ["DATABASE_URL is invalid", "not a database URL"]),
        ("scheduler", "sqlite:///{tmp}/missing/casehub.db", ["DATABASE_URL is invalid", "does not exist"]),
        (
            "socket",
            f"mysql://casehub:{SECRET}@db.example.org/casehub",
            ["DATABASE_URL is invalid", "mysql is not supported", "sqlite", "postgresql"],
        ),
        (
            "agencies import",
            f"mongodb://casehub:{SECRET}@db.example.org/casehub",
            ["DATABASE_URL is invalid", "mongodb is not supported", "sqlite", "postgresql"],
        ),
    ],
    ids=["no-database", "not-a-url", "no-folder", "mysql", "mongodb"],
)
def test_a_malformed_database_url_is_refused(command, url, said, tmp_path):
    env = {**VALID, "DATABASE_URL": url.format(tmp=tmp_path)}
    refused_in_one_line(run_bot(command, env, tmp_path), *said)


@pytest.mark.parametrize("command", ["migrate", "web", "agencies import"])
def test_an_unreachable_database_is_named_without_its_password(command, tmp_path):
    env = {**VALID, "DATABASE_URL": f"postgresql+psycopg://postgres:{SECRET}@127.0.0.1:1/casehub"}
    refused_in_one_line(
        run_bot(command, env, tmp_path), "DATABASE_URL", "postgres:***@127.0.0.1:1/casehub", "cannot be used"
    )


def test_a_file_that_is_no_database_is_refused(tmp_path):
    (tmp_path / "casehub.db").write_text("not a database")
    env = {**VALID, "DATABASE_URL": database_in(tmp_path)}
    refused_in_one_line(run_bot("scheduler", env, tmp_path), "DATABASE_URL", "file is not a database")


@pytest.mark.parametrize(
    ("command", "setting", "token", "said"),
    [
        ("web", "SLACK_BOT_TOKEN", "xapp-1-A0-" + SECRET, ["an app-level token (xapp-…)", "xoxb-"]),
        ("scheduler", "SLACK_BOT_TOKEN", "xoxp-1-" + SECRET, ["a user token (xoxp-…)", "xoxb-"]),
        ("socket", "SLACK_APP_TOKEN", "xoxb-1-" + SECRET, ["a bot token (xoxb-…)", "xapp-"]),
    ],
)
def test_a_slack_token_of_the_wrong_kind_is_named(command, setting, token, said, tmp_path):
    env = {**VALID, "DATABASE_URL": database_in(tmp_path), setting: token}
    refused_in_one_line(run_bot(command, env, tmp_path), f"{setting} is invalid", *said)


def test_http_needs_the_signing_secret_and_socket_mode_does_not(tmp_path):
    env = {key: value for key, value in VALID.items() if key != "SLACK_SIGNING_SECRET"}
    env["DATABASE_URL"] = database_in(tmp_path)
    assert run_bot("migrate", env, tmp_path).returncode == 0
    refused_in_one_line(
        run_bot("web", env, tmp_path), "SLACK_SIGNING_SECRET is not set", "serving HTTP needs it", "socket"
    )
    without_either = {key: value for key, value in env.items() if key != "SLACK_APP_TOKEN"}
    refused_in_one_line(
        run_bot("scheduler", without_either, tmp_path), "SLACK_SIGNING_SECRET is not set", "SLACK_APP_TOKEN"
    )


def test_an_unknown_default_time_zone_is_refused(tmp_path):
    env = {**VALID, "DATABASE_URL": database_in(tmp_path), "DEFAULT_TIMEZONE": "Mars/Olympus_Mons"}
    refused_in_one_line(
        run_bot("web", env, tmp_path), "DEFAULT_TIMEZONE is invalid", "Mars/Olympus_Mons", "Europe/London"
    )


def test_a_mail_url_without_a_server_is_refused_without_its_password(tmp_path):
    env = {**VALID, "DATABASE_URL": database_in(tmp_path), "SMTP_URL": f"smtp://casehub:{SECRET}@:587"}
    refused_in_one_line(run_bot("scheduler", env, tmp_path), "SMTP_URL is invalid", "name the mail server")


# The same checks in the process, for the variants of each mistake.


def settings_refusal(monkeypatch: pytest.MonkeyPatch, **env: str) -> str:
    for name, value in {**VALID, **env}.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError) as refused:
        load_settings(_env_file=None)
    said = str(refused.value)
    assert "\n" not in said and SECRET_TAIL not in said
    return said


def test_settings_from_the_environment_load(monkeypatch, tmp_path):
    for name, value in {**VALID, "DATABASE_URL": database_in(tmp_path)}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SMTP_URL", f"smtps://casehub:{SECRET}@mail.example.org:465")
    monkeypatch.setenv("DEFAULT_TIMEZONE", "Europe/Paris")
    settings = load_settings(_env_file=None)
    assert (settings.default_timezone, settings.slack_app_token is not None) == ("Europe/Paris", True)


@pytest.mark.parametrize(
    ("url", "said"),
    [
        (f"postgresql://casehub:{SECRET[:3]}@{SECRET_TAIL}@db.example.org/casehub", "percent-encode @"),
        ("postgresql://casehub@db.example.org:port/casehub", "the port must be a number"),
        ("postgresql://casehub@db.example.org:70000/casehub", "the port must be a number"),
        ("postgresql+psycopg2://casehub@db.example.org/casehub", "casehub has no psycopg2 driver"),
        ("sqlite://", "name the database file"),
    ],
    # Not the URLs: the PostgreSQL leg is told apart by "postgresql" in a test's id.
    ids=["unencoded-at", "port-name", "port-too-high", "other-driver", "in-memory"],
)
def test_database_url_mistakes_are_explained(url, said, monkeypatch):
    assert f"DATABASE_URL is invalid: {said}" in settings_refusal(monkeypatch, DATABASE_URL=url)


@pytest.mark.parametrize(
    ("setting", "token", "said"),
    [
        ("SLACK_BOT_TOKEN", SECRET, "this is not a Slack token"),
        ("SLACK_BOT_TOKEN", "xoxe.xoxb-1-" + SECRET, "this is an expiring token"),
        ("SLACK_APP_TOKEN", "xoxp-1-" + SECRET, "this is a user token (xoxp-…)"),
    ],
)
def test_slack_token_mistakes_are_explained(setting, token, said, monkeypatch):
    assert f"{setting} is invalid: {said}" in settings_refusal(monkeypatch, **{setting: token})


def test_tokens_a_command_passes_itself_are_not_checked(monkeypatch):
    """Commands without Slack (migrate, the agency import) pass placeholders for its tokens."""
    for name in VALID:
        monkeypatch.delenv(name, raising=False)
    settings = load_settings(_env_file=None, slack_bot_token="unused", slack_signing_secret="unused")
    assert settings.slack_bot_token.get_secret_value() == "unused"


@pytest.mark.parametrize(
    ("url", "said"),
    [
        (f"smtps://casehub:{SECRET}@mail.example.org:tls", "the port must be a number"),
        (f"smtp://casehub:{SECRET}@mail.example.org:70000", "the port must be a number"),
        (f"mailto://casehub:{SECRET}@mail.example.org", "the scheme must be smtp or smtps"),
        (f"smtp://casehub:{SECRET}@[mail.example.org", "it is not a URL"),
    ],
)
def test_mail_url_mistakes_are_explained(url, said, monkeypatch):
    assert f"SMTP_URL is invalid: {said}" in settings_refusal(monkeypatch, SMTP_URL=url)


# ---- Socket Mode without Slack ------------------------------------------------------------------


class StopAfter(logging.Handler):
    """Sets `stop` once `bot.socket` has logged `count` lines: the test waits on attempts, not time."""

    def __init__(self, stop: threading.Event, count: int) -> None:
        super().__init__()
        self.stop, self.count = stop, count

    def emit(self, record: logging.LogRecord) -> None:
        self.count -= 1
        if self.count <= 0:
            self.stop.set()


def serve_socket_mode(app: App, stop: threading.Event, lines: int, **delays: float) -> None:
    counter = StopAfter(stop, lines)
    logging.getLogger("bot.socket").addHandler(counter)
    links = SocketLinks(app, APP_TOKEN, **delays).start()
    try:
        assert stop.wait(timeout=60)
    finally:
        stop.set()
        links.stop()
        logging.getLogger("bot.socket").removeHandler(counter)


def app_on(api_url: str) -> App:
    client = WebClient(token="xoxb-1-test", base_url=api_url)
    return App(client=client, signing_secret="test-signing-secret", token_verification_enabled=False)


def logged(caplog: pytest.LogCaptureFixture, level: int) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.levelno >= level]


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port that refuses connections: bound, never listening."""
    with socket.socket() as bound:
        bound.bind(("127.0.0.1", 0))
        yield bound.getsockname()[1]


def test_socket_mode_keeps_trying_while_slack_is_out_of_reach(closed_port, caplog, capfd):
    caplog.set_level(logging.INFO)
    stop = threading.Event()
    serve_socket_mode(
        app_on(f"http://127.0.0.1:{closed_port}/api/"), stop, 3, first_delay=0.01, max_delay=0.02
    )
    lines = logged(caplog, logging.INFO)
    assert [record.name for record in lines] == ["bot.socket"] * 3
    for record in lines:
        message = record.getMessage()
        assert record.exc_info is None and "\n" not in message
        assert message.startswith("cannot open Socket Mode connection 1 (Slack could not be reached")
    # The pause doubles up to its ceiling.
    delays = [record.getMessage().rsplit("again in ", 1)[1] for record in lines]
    assert delays == ["0.01 s", "0.02 s", "0.02 s"]
    assert "Traceback" not in capfd.readouterr().err


def test_socket_mode_connects_once_slack_answers(caplog):
    caplog.set_level(logging.INFO)
    slack = EmulatedSlack().start()
    socket_mode = slack.socket_mode()
    slack.fail("apps.connections.open", "invalid_auth", times=2)
    try:
        serve_socket_mode(app_on(slack.api_url), threading.Event(), 3, first_delay=0.01)
        # Stopping closes the connection.
        assert wait_for(lambda: socket_mode.connections_opened == 1 and not socket_mode.open_links())
    finally:
        slack.stop()
    ours = [record.getMessage() for record in caplog.records if record.name == "bot.socket"]
    assert ours == [
        "cannot open Socket Mode connection 1 (Slack answered invalid_auth: check SLACK_APP_TOKEN); "
        "trying again in 0.01 s",
        "cannot open Socket Mode connection 1 (Slack answered invalid_auth: check SLACK_APP_TOKEN); "
        "trying again in 0.02 s",
        "Socket Mode connection 1 open",
    ]
    # slack-sdk's own multi-line account of each refusal is left out.
    assert [r.name for r in logged(caplog, logging.WARNING)] == ["bot.socket"] * 2
    assert all(record.exc_info is None for record in caplog.records)
