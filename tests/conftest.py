"""Fixtures: every test runs on SQLite and, when TEST_DATABASE_URL is set, on PostgreSQL."""

from __future__ import annotations

import base64
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from slack_bolt import App
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.exc import SQLAlchemyError

from bot.app import Casehub, assemble
from bot.db import Database
from bot.keys import encrypt_with
from bot.serving import BackgroundServer
from bot.settings import Settings
from bot.web import desk_for, wsgi_app
from models import AgencyKind, Role
from sandbox.driver import SlackDriver
from sandbox.slack import TOKEN, EmulatedSlack
from services import agencies, encryption

# The sandbox's fixtures (a sandbox seeded once per module, reset for each test).
pytest_plugins = ["tests.sandbox_helpers", "tests.desk_helpers"]

SECRET = "test-signing-secret"
PG_URL = os.environ.get("TEST_DATABASE_URL")
# What people type is encrypted under this key in every test: set in the environment, so that
# the settings of each test (and each `python -m bot` a test starts) carry it, and configured
# here for the services tests call directly.
TEST_KEY_ID = "test"
TEST_KEY = base64.b64encode(bytes(range(32))).decode()
DATA_KEYS = json.dumps({TEST_KEY_ID: TEST_KEY})
# The blind index of identities is keyed with a fixed test key likewise.
MATCHING_KEY = base64.b64encode(bytes(range(100, 132))).decode()
os.environ["DATA_KEYS"] = DATA_KEYS
os.environ["MATCHING_KEY"] = MATCHING_KEY
os.environ.pop("DATA_KEY_ID", None)
KEY_ENV = {"DATA_KEYS": DATA_KEYS, "MATCHING_KEY": MATCHING_KEY}


def use_test_key() -> None:
    encrypt_with(Settings(_env_file=None, slack_bot_token="x", slack_signing_secret="x"))  # type: ignore[call-arg, arg-type]


use_test_key()

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


@pytest.fixture(autouse=True)
def data_keys() -> None:
    """Each test begins with the test key alone (a test may have configured others)."""
    use_test_key()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("template") / "casehub.db"
    db = Database(f"sqlite:///{path}")
    db.migrate()
    db.dispose()
    return str(path)


def own_database(url: str) -> str:
    """The PostgreSQL database of this test process.

    Run in several processes (pytest-xdist), each has a database of its own beside the one
    named, e.g. `test_gw0` beside `test`, made on first use: every test empties the tables of
    its database first, which must not happen under another process's test.
    """
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker:
        return url
    parsed = make_url(url)
    name = f"{parsed.database}_{worker}"
    server = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with server.connect() as connection:
            exists = text("SELECT 1 FROM pg_database WHERE datname = :name")
            if connection.execute(exists, {"name": name}).first() is None:
                connection.execute(text(f'CREATE DATABASE "{name}"'))
    except SQLAlchemyError as error:
        pytest.fail(
            f"cannot make the test database {name} ({type(error).__name__}): give the role of "
            "TEST_DATABASE_URL the right to create databases, or run in one process (TEST_PROCESSES=1)"
        )
    finally:
        server.dispose()
    return parsed.set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def postgres_ready() -> str:
    assert PG_URL, "TEST_DATABASE_URL is not set"
    url = own_database(PG_URL)
    db = Database(url)
    with db.engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
        # A scratch database: its commits need not wait for the disk (a crash of casehub's own
        # processes, which the durability tests make, loses nothing either way).
        name = connection.execute(text("SELECT quote_ident(current_database())")).scalar_one()
        connection.execute(text(f"ALTER DATABASE {name} SET synchronous_commit = off"))
    db.migrate()
    db.dispose()
    return url


def clear_postgres(db: Database) -> None:
    """Every table emptied, every sequence back at 1, the audit chains at their start and the
    test key the one recorded, in a few milliseconds.

    TRUNCATE takes a third of a second for casehub's tables; DELETE is quick on a test's few
    rows. The replica role turns off the row triggers for this one transaction: the foreign
    keys, and the audit trail's refusal to lose a row, which is what a clean slate needs.
    """
    with db.engine.begin() as connection:
        tables = (
            connection.execute(
                text(
                    "SELECT quote_ident(tablename) FROM pg_tables WHERE schemaname = 'public' "
                    "AND tablename NOT IN ('alembic_version', 'audit_chains')"
                )
            )
            .scalars()
            .all()
        )
        sequences = (
            connection.execute(
                text("SELECT quote_ident(sequencename) FROM pg_sequences WHERE schemaname = 'public'")
            )
            .scalars()
            .all()
        )
        connection.execute(text("SET LOCAL session_replication_role = replica"))
        connection.exec_driver_sql("; ".join(f"DELETE FROM {table}" for table in tables))
        connection.exec_driver_sql(
            "SELECT " + ", ".join(f"setval('{sequence}', 1, false)" for sequence in sequences)
        )
        # The one area a migrated database starts with (migration 0019), as in the SQLite template.
        connection.execute(
            text(
                "INSERT INTO areas (id, slug, name, referral_ack_days, referral_decision_days, "
                "transfer_days, created_at) VALUES (1, 'main', 'Main partnership', 1, 5, 5, now())"
            )
        )
        connection.execute(text("SELECT setval(pg_get_serial_sequence('areas', 'id'), 1)"))
        # The chains start again: their ends back at the beginning.
        connection.execute(text("UPDATE audit_chains SET seq = 0, chain_hash = :start"), {"start": "0" * 64})
        # The test key is the one key recorded, as in the SQLite template after its migration.
        use_test_key()
        encryption.record_current(connection)


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path, sqlite_template: str) -> Iterator[Database]:
    if request.param == "sqlite":
        path = tmp_path / "casehub.db"
        shutil.copy(sqlite_template, path)
        db = Database(f"sqlite:///{path}")
    else:
        db = Database(request.getfixturevalue("postgres_ready"))
        clear_postgres(db)
    yield db
    db.dispose()


@pytest.fixture
def fake() -> Iterator[EmulatedSlack]:
    slack = EmulatedSlack().start()
    for person in PEOPLE:
        slack.add_user(person)
    yield slack
    slack.stop()


def make_settings(fake: EmulatedSlack, database: Database, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "slack_bot_token": TOKEN,
        "slack_signing_secret": SECRET,
        "database_url": database.url,
        "slack_api_url": fake.api_url,
        "casehub_admins": [ADMIN],
        "job_threads": 4,
        "job_lease_seconds": 5,
        "job_retry_seconds": 0.05,
        "job_max_attempts": 4,
        "report_monthly": False,  # on in the tests of the monthly reports
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {}


@pytest.fixture
def settings(fake: EmulatedSlack, database: Database, settings_overrides: dict[str, object]) -> Settings:
    return make_settings(fake, database, **settings_overrides)


@dataclass
class Running:
    url: str
    casehub: Casehub
    server: BackgroundServer

    @property
    def app(self) -> App:
        return self.casehub.app

    def wait_idle(self, timeout: float = 30.0) -> bool:
        assert self.casehub.workers is not None
        return self.casehub.workers.wait_idle(timeout)

    def stop(self) -> None:
        self.server.stop()
        self.casehub.stop(timeout=10)


def serve(
    settings: Settings, database: Database, *, threads: int | None = None, wait_for_slack: bool = True
) -> Running:
    """casehub as its web process runs it, on a loopback port: the app, its workers, and the
    token checked before the first request (the workers wait for it)."""
    casehub = assemble(settings, database, threads=threads).start()
    if wait_for_slack:
        assert casehub.identity.wait(10), "the fake Slack did not answer auth.test"
    application = wsgi_app(
        casehub.app,
        database,
        settings.slack_signing_secret.get_secret_value(),
        desk=desk_for(database, settings),
    )
    server = BackgroundServer(application).start()
    return Running(server.url, casehub, server)


@pytest.fixture
def running(settings: Settings, database: Database) -> Iterator[Running]:
    app = serve(settings, database)
    yield app
    app.wait_idle(timeout=30)
    app.stop()


@pytest.fixture
def slack(running: Running, fake: EmulatedSlack) -> SlackDriver:
    return SlackDriver(running.url, SECRET, fake, running)


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
