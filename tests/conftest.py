"""Fixtures: every test runs on SQLite and, when TEST_DATABASE_URL is set, on PostgreSQL."""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest
from slack_bolt import App
from sqlalchemy import text

from bot.app import create_app
from bot.db import Database
from bot.executor import ListenerExecutor
from bot.settings import Settings
from bot.web import wsgi_app
from bot.work import ProcessLazyListenerRunner
from models import AgencyKind, Role
from services import agencies
from tests.driver import SlackDriver
from tests.fakeslack.server import TOKEN, FakeSlack

SECRET = "test-signing-secret"
PG_URL = os.environ.get("TEST_DATABASE_URL")

ADMIN = "UADMIN"
COORD = "UCOORD"
COORD2 = "UCOORD2"
POLICE = "UPOL1"
POLICE_OBSERVER = "UPOL2"
SCHOOL = "USCH1"
HEALTH = "UHEA1"
HOUSING = "UHOU1"
OUTSIDER = "UOUT"
PEOPLE = [ADMIN, COORD, COORD2, POLICE, POLICE_OBSERVER, SCHOOL, HEALTH, HOUSING, OUTSIDER]


def pytest_report_header(config: pytest.Config) -> str:
    if PG_URL:
        return f"databases: sqlite, postgresql ({PG_URL.rsplit('@', 1)[-1]})"
    return "databases: sqlite only (set TEST_DATABASE_URL to run every test on PostgreSQL too)"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not PG_URL:
        skip = pytest.mark.skip(reason="PostgreSQL leg skipped: TEST_DATABASE_URL is not set")
        for item in items:
            if "[postgresql" in item.nodeid:
                item.add_marker(skip)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("template") / "casehub.db"
    db = Database(f"sqlite:///{path}")
    db.migrate()
    db.dispose()
    return str(path)


@pytest.fixture(scope="session")
def postgres_ready() -> str:
    assert PG_URL, "TEST_DATABASE_URL is not set"
    db = Database(PG_URL)
    with db.engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    db.migrate()
    db.dispose()
    return PG_URL


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path, sqlite_template: str) -> Iterator[Database]:
    if request.param == "sqlite":
        path = tmp_path / "casehub.db"
        shutil.copy(sqlite_template, path)
        db = Database(f"sqlite:///{path}")
    else:
        db = Database(request.getfixturevalue("postgres_ready"))
        with db.engine.begin() as connection:
            tables = connection.execute(
                text(
                    "SELECT string_agg(quote_ident(tablename), ', ') FROM pg_tables "
                    "WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
                )
            ).scalar_one()
            # TRUNCATE bypasses the audit trail's row triggers, which is what a clean slate needs.
            connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    yield db
    db.dispose()


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    slack = FakeSlack().start()
    for person in PEOPLE:
        slack.add_user(person)
    yield slack
    slack.stop()


def make_settings(fake: FakeSlack, database: Database, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "slack_bot_token": TOKEN,
        "slack_signing_secret": SECRET,
        "database_url": database.url,
        "slack_api_url": fake.api_url,
        "casehub_admins": [ADMIN],
        "listener_workers": 8,
        "work_processes": 0,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {}


@pytest.fixture
def settings(fake: FakeSlack, database: Database, settings_overrides: dict[str, object]) -> Settings:
    return make_settings(fake, database, **settings_overrides)


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@dataclass
class Running:
    url: str
    executor: ListenerExecutor
    server: _ThreadingServer
    app: App


def serve(settings: Settings, database: Database) -> Running:
    executor = ListenerExecutor(settings.listener_workers)
    app = create_app(settings, database, executor=executor)
    lazy = app.listener_runner.lazy_listener_runner
    if isinstance(lazy, ProcessLazyListenerRunner):
        # As the web process does: workers start (and load the identifier check) before the
        # first request, which would otherwise outlive its trigger waiting for them.
        lazy.start_workers()
        deadline = time.monotonic() + 120
        while lazy.status()["ready"] < lazy.status()["expected"] and time.monotonic() < deadline:
            time.sleep(0.05)
    application = wsgi_app(app, database, settings.slack_signing_secret.get_secret_value())
    server = make_server(
        "127.0.0.1", 0, application, server_class=_ThreadingServer, handler_class=_QuietHandler
    )
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return Running(f"http://127.0.0.1:{server.server_port}", executor, server, app)


@pytest.fixture
def running(settings: Settings, database: Database) -> Iterator[Running]:
    app = serve(settings, database)
    yield app
    app.executor.wait_idle(timeout=30)
    app.server.shutdown()
    app.server.server_close()
    app.executor.shutdown(wait=True)


@pytest.fixture
def slack(running: Running, fake: FakeSlack) -> SlackDriver:
    return SlackDriver(running.url, SECRET, fake, running.executor)


@pytest.fixture
def registry(database: Database) -> None:
    """A hub with two coordinators and four partner agencies."""
    layout = {
        "hub": (
            "Safeguarding Hub",
            AgencyKind.LOCAL_AUTHORITY,
            {COORD: Role.COORDINATOR, COORD2: Role.COORDINATOR},
        ),
        "police": ("County Police", AgencyKind.POLICE, {POLICE: Role.MEMBER, POLICE_OBSERVER: Role.OBSERVER}),
        "school": ("Northfield Academy", AgencyKind.EDUCATION, {SCHOOL: Role.MEMBER}),
        "health": ("Community Health", AgencyKind.HEALTH, {HEALTH: Role.MEMBER}),
        "housing": ("City Housing", AgencyKind.HOUSING, {HOUSING: Role.MEMBER}),
    }
    with database.session() as session:
        for slug, (name, kind, members) in layout.items():
            agency = agencies.add(session, slug=slug, name=name, kind=kind, actor="setup", request_ref="test")
            for user, role in members.items():
                agencies.set_member(
                    session, agency=agency, user_id=user, role=role, actor="setup", request_ref="test"
                )
