"""The sandbox: an emulated Slack workspace with casehub behind it, on this machine.

Three parts run in one process, each reached only through HTTP on loopback as in life:
the emulated Slack Web API (casehub's `SLACK_API_URL`), casehub's own web process with its
job workers and scheduler (receiving requests signed with its signing secret), and the web
UI (`sandbox.ui`) through which people act. casehub's clock is the one the sandbox moves
forward; its scheduler sweeps at once when it moves, so what falls due shows without waiting.

The demo partnership is seeded through casehub's HTTP interface, as its people would make
it; the seeded database and workspace are kept, and Reset goes back to them.

What people type is encrypted at rest as in production: with DATA_KEYS from the environment
if it is set, or else with a key the sandbox makes and keeps in its data folder (`data-key`,
readable by its owner only). The blind index of identities is keyed the same way: MATCHING_KEY
from the environment, or the sandbox's own (`matching-key`).
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import queue
import secrets
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler

from bot import scheduler
from bot.app import Casehub, assemble, prepare_identifier_check
from bot.db import Database
from bot.jobs import jobs_url
from bot.keys import encrypt_with, new_key
from bot.serving import BackgroundServer
from bot.settings import Settings
from bot.slack import make_client
from bot.web import DESK_PATH, desk_for, wsgi_app
from models.clock import clock
from models.encryption import KEY_BYTES
from sandbox import partnership as demo
from sandbox import training
from sandbox.driver import SlackDriver
from sandbox.slack import BOT_USER, TOKEN, EmulatedSlack

log = logging.getLogger("casehub.sandbox")
GENERAL = "general"
KEY_ID = "sandbox"
DESK_CLIENT_ID = "sandbox.desk"
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class Switch:
    """casehub's web application, swapped when the sandbox resets; 503 in between."""

    def __init__(self) -> None:
        self.app: WSGIApp | None = None

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        app = self.app
        if app is None:
            body = b"casehub is restarting"
            start_response("503 Service Unavailable", [("Content-Length", str(len(body)))])
            return [body]
        return app(environ, start_response)


class Sandbox:
    def __init__(self, data: Path) -> None:
        self.data = data
        self.partnership = demo.load()
        self.secret = secrets.token_urlsafe(24)
        # The record desk signs in with the emulated Slack: the app's credentials, and the key
        # of its session cookies (a new one each start: sessions do not outlive the sandbox).
        self._desk_client_secret = secrets.token_urlsafe(24)
        self._desk_cookie_key = secrets.token_urlsafe(48)
        # Events Slack would send casehub, delivered one after another by a thread of their own;
        # `_pending` counts those not yet answered, so that "idle" means delivered too.
        self._events: queue.Queue[dict[str, Any]] = queue.Queue()
        self._pending = 0
        self._delivered = threading.Condition()
        self.slack = EmulatedSlack(events=self._queue_event)
        self.progress = training.Progress(self.partnership)
        self._switch = Switch()
        self.web = BackgroundServer(self._switch)
        self.driver = SlackDriver(self.web.url, self.secret, self.slack)  # people, through the UI
        self._casehub: Casehub | None = None
        self._scheduler: BackgroundScheduler | None = None
        self._db: Database | None = None
        self._saved: dict[str, Any] | None = None
        self._data_key: str | None = None
        self._matching_key: str | None = None
        self._running: list[Callable[[], None]] = []  # what `stop` undoes, newest last
        self._lock = threading.Lock()  # Reset and moves of the clock, one at a time
        # People's actions in flight: Reset waits for them, and new ones wait for Reset.
        self._quiet = threading.Condition()
        self._acting = 0
        self._resetting = False
        self.general = ""

    # ---- paths --------------------------------------------------------------------------------
    @property
    def database_file(self) -> Path:
        return self.data / "casehub.db"

    @property
    def seeded_file(self) -> Path:
        return self.data / "seeded.db"

    @property
    def database_url(self) -> str:
        return f"sqlite:///{self.database_file}"

    @property
    def key_file(self) -> Path:
        return self.data / "data-key"

    @property
    def matching_key_file(self) -> Path:
        return self.data / "matching-key"

    # ---- running ------------------------------------------------------------------------------
    def start(self) -> Sandbox:
        """Everything started from an empty workspace and database, then seeded."""
        from sandbox import seed

        self.data.mkdir(parents=True, exist_ok=True)
        if not os.environ.get("DATA_KEYS"):
            self._data_key = own_data_key(self.key_file)
        if not os.environ.get("MATCHING_KEY"):
            self._matching_key = own_data_key(self.matching_key_file)
        encrypt_with(self.settings())
        self._remove_database()
        self.seeded_file.unlink(missing_ok=True)
        self.slack.start()
        self._running.append(self.slack.stop)
        self.web.start()
        self._running.append(self.web.stop)
        threading.Thread(target=self._deliver_events, name="sandbox-events", daemon=True).start()
        for person in self.partnership.people:
            self.slack.add_user(
                person.id, tz=person.tz, name=person.name, title=person.title, handle=person.handle
            )
        everyone = {p.id for p in self.partnership.people} | {BOT_USER}
        self.general = self.slack.add_channel(GENERAL, members=everyone)
        Database(self.database_url).migrate()
        self._import_registry()
        self._running.append(self._stop_casehub)
        self._start_casehub(scheduled=False)
        seed.run(self)
        if not self.wait_idle():
            raise seed.SeedFailed("casehub's work on the demo history did not finish within 30 s")
        clock.reset()
        self._save()
        self._start_scheduler()
        return self

    def stop(self) -> None:
        """Stops what `start` started, however far it got (after a Reset under way)."""
        with self._lock:
            while self._running:
                self._running.pop()()
            clock.reset()

    @contextmanager
    def acting(self) -> Iterator[None]:
        """A person's action through the UI: Reset waits for it to finish."""
        with self._quiet:
            self._quiet.wait_for(lambda: not self._resetting)
            self._acting += 1
        try:
            yield
        finally:
            with self._quiet:
                self._acting -= 1
                self._quiet.notify_all()

    def reset(self) -> None:
        """Back to the seeded partnership: its database, its workspace, the machine's time."""
        assert self._saved is not None, "the sandbox has not been seeded"
        with self._lock:
            with self._quiet:
                self._resetting = True
                self._quiet.wait_for(lambda: self._acting == 0, timeout=30)
            try:
                self._stop_casehub()
                self._drop_events()
                self._remove_database()
                shutil.copyfile(self.seeded_file, self.database_file)
                self.slack.restore(self._saved)
                self.progress.reset()
                clock.reset()
                self._start_casehub()
            finally:
                with self._quiet:
                    self._resetting = False
                    self._quiet.notify_all()

    def advance(self, by: timedelta) -> None:
        """casehub's clock (and the emulator's) moved on; the scheduler sweeps at once."""
        with self._lock:
            clock.move_to(clock.now() + by, running=True)
            self.slack.touch()
            running = self._scheduler
            if running is not None:
                scheduler.sweep_soon(running)

    def sweep(self) -> None:
        """One sweep now, as the scheduler runs it (the seed's history, moment by moment)."""
        assert self._db is not None
        settings = self.settings()
        scheduler.run_sweep(self._db, make_client(settings), settings)

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """True once every event is delivered and casehub's workers have nothing to do."""
        deadline = time.monotonic() + timeout
        while True:
            with self._delivered:
                if not self._delivered.wait_for(lambda: self._pending == 0, deadline - time.monotonic()):
                    return False
            workers = self._casehub.workers if self._casehub is not None else None
            if workers is not None and not workers.wait_idle(max(0.0, deadline - time.monotonic())):
                return False
            with self._delivered:
                if self._pending == 0:  # the work made no new event (an invitation): idle
                    return True

    def desk_as(self, user: str) -> str:
        """Where to send a browser to open the record desk as `user`, signed in to the emulated
        Slack as them (the desk lets in only coordinators and data protection officers)."""
        self.slack.openid.signed_in = user
        return f"{self.web.url}{DESK_PATH}/signin"

    # ---- inside -------------------------------------------------------------------------------
    def settings(self) -> Settings:
        own: dict[str, Any] = {}
        if self._data_key is not None:
            own = {"data_keys": {KEY_ID: self._data_key}, "data_key_id": KEY_ID}
        if self._matching_key is not None:
            own["matching_key"] = self._matching_key
        return Settings(
            _env_file=None,  # type: ignore[call-arg]
            slack_bot_token=TOKEN,  # type: ignore[arg-type]
            slack_signing_secret=self.secret,  # type: ignore[arg-type]
            database_url=self.database_url,
            slack_api_url=self.slack.api_url,
            casehub_admins=list(self.partnership.admins),
            job_threads=4,
            slack_client_id=DESK_CLIENT_ID,
            slack_client_secret=self._desk_client_secret,  # type: ignore[arg-type]
            desk_secret_key=self._desk_cookie_key,  # type: ignore[arg-type]
            slack_openid_url=self.slack.url,
            **own,
        )

    def _import_registry(self) -> None:
        from services import agencies, areas

        db = Database(self.database_url)
        try:
            with db.session() as session:
                registry = self.partnership.registry
                agencies.import_registry(session, registry, actor="sandbox", request_ref="sandbox:registry")
                areas.import_areas(session, registry, actor="sandbox", request_ref="sandbox:registry")
        finally:
            db.dispose()

    def _start_casehub(self, *, scheduled: bool = True) -> None:
        settings = self.settings()
        db = Database(self.database_url)
        casehub = assemble(settings, db).start()
        prepare_identifier_check()
        casehub.identity.wait(10)
        self._db, self._casehub = db, casehub
        self.slack.openid.register_client(
            DESK_CLIENT_ID, self._desk_client_secret, (f"{self.web.url}{DESK_PATH}/auth",)
        )
        self._switch.app = wsgi_app(
            casehub.app, db, self.secret, queue=casehub, slack=casehub.identity, desk=desk_for(db, settings)
        )
        if scheduled:
            self._start_scheduler()

    def _start_scheduler(self) -> None:
        """A sweep at once, before anyone acts (what is due on arrival is there to see), then the
        scheduler, sweeping every minute."""
        assert self._db is not None
        self.sweep()
        settings = self.settings()
        scheduler.prepare(self._db, make_client(settings), settings)
        started = scheduler.build_scheduler(self._db)
        started.start()
        self._scheduler = started

    def _stop_casehub(self) -> None:
        self._switch.app = None
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=True)
            self._scheduler = None
        if self._casehub is not None:
            self._casehub.stop(timeout=10)
            self._casehub = None
        if self._db is not None:
            self._db.dispose()
            self._db = None

    def _save(self) -> None:
        """What Reset goes back to: the database copied whole, and the workspace."""
        source = sqlite3.connect(self.database_file)
        target = sqlite3.connect(self.seeded_file)
        try:
            source.backup(target)  # a consistent copy, whatever casehub is writing meanwhile
        finally:
            target.close()
            source.close()
        self._saved = self.slack.snapshot()

    def _remove_database(self) -> None:
        queue_file = Path(jobs_url(self.database_url).removeprefix("sqlite:///"))
        for path in (self.database_file, queue_file):
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)

    def _queue_event(self, event: dict[str, Any]) -> None:
        """The emulator's event sink (called holding its lock: it only queues)."""
        with self._delivered:
            self._pending += 1
        self._events.put(event)

    def _deliver_events(self) -> None:
        """What Slack sends the app as events (people joining channels), one after another."""
        while True:
            event = self._events.get()
            try:
                self.driver.event(event)
            except OSError as error:
                log.warning("an event could not be delivered to casehub (%s)", type(error).__name__)
            finally:
                self._done_with_event()

    def _drop_events(self) -> None:
        while True:
            try:
                self._events.get_nowait()
            except queue.Empty:
                return
            self._done_with_event()

    def _done_with_event(self) -> None:
        with self._delivered:
            self._pending -= 1
            self._delivered.notify_all()


def own_data_key(path: Path) -> str:
    """The sandbox's data key (or its matching key: they are made alike), kept in `path` (made
    readable by its owner only, the first time).
    One that cannot be read as a key is replaced: the sandbox makes its database again at each
    start, so nothing is under it yet."""
    try:
        kept = path.read_text(encoding="ascii").strip()
        if len(base64.b64decode(kept, validate=True)) == KEY_BYTES:
            return kept
    except (OSError, UnicodeDecodeError, binascii.Error, ValueError):
        pass
    path.unlink(missing_ok=True)
    key = new_key()
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="ascii") as file:
        file.write(key + "\n")
    return key


def now_label() -> str:
    return clock.now().astimezone(UTC).strftime("%a %-d %b %Y, %H:%M (UTC)")
