"""What the benchmarks share: the fake Slack in a process of its own, a seeded workspace,
servers started as production starts them, signed requests, and percentiles.

The fake Slack runs apart so that its work is not counted as casehub's, and tells the
benchmark the moment a reply reaches a response URL or a case channel's header is pinned.
Both processes read `time.monotonic()`, which on Linux is one clock for the whole machine,
so a time taken in one can be subtracted from a time taken in the other.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from queue import Queue
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from slack_sdk import WebClient  # noqa: E402
from sqlalchemy import make_url, text  # noqa: E402

from blocks import modals  # noqa: E402
from bot.db import Database  # noqa: E402
from bot.jobs import JobQueue  # noqa: E402
from bot.keys import encrypt_with, new_key  # noqa: E402
from bot.settings import Settings  # noqa: E402
from flows import case_channel  # noqa: E402
from models import Agency, AgencyKind, Risk, Role  # noqa: E402
from sandbox.driver import sign  # noqa: E402
from sandbox.slack import BOT_USER, TEAM, TOKEN, EmulatedSlack  # noqa: E402
from services import agencies, cases  # noqa: E402

SECRET = "bench-secret"
COORD = "UCOORD"
SUMMARY = "A benchmark concern, no names."


def with_a_data_key() -> None:
    """What the benchmarks store is encrypted as casehub encrypts it: with DATA_KEYS from the
    environment, or else a key made for the run, put in the environment for the processes
    they start (every benchmark importing this module has one); MATCHING_KEY likewise."""
    if not os.environ.get("DATA_KEYS"):
        os.environ["DATA_KEYS"] = json.dumps({"bench": new_key()})
    if not os.environ.get("MATCHING_KEY"):
        os.environ["MATCHING_KEY"] = new_key()
    encrypt_with(Settings(_env_file=None, slack_bot_token="unused", slack_signing_secret="unused"))  # type: ignore[call-arg, arg-type]


with_a_data_key()


# ---- the fake Slack, in a process of its own -------------------------------------------------------


class ObservedSlack(EmulatedSlack):
    """The test suite's fake Slack, reporting replies and ready channels as they happen.

    It extends the two entry points the fake's HTTP handler calls: this is the project's own
    test double, and it has no hook of its own for this.
    """

    def __init__(self, events: Connection, **options: Any) -> None:
        super().__init__(**options)
        # Not `events`: the fake's own name for the sink of the Events API events it emits.
        self.observers, self.sending = events, threading.Lock()

    def tell(self, kind: str, key: str) -> None:
        with self.sending:
            self.observers.send((kind, key, time.monotonic()))

    def _response_url(self, key: str, args: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
        answer = super()._response_url(key, args)
        if answer[0] == 200:
            self.tell("answer", key)
        return answer

    def _dispatch(self, method: str, args: dict[str, Any], headers: Any) -> tuple[int, Any, dict]:
        answer = super()._dispatch(method, args, headers)
        if method == "pins.add" and answer[1].get("ok"):
            self.tell("pinned", str(args.get("channel")))  # a case channel's last step
        return answer

    # ---- what the benchmark asks, through its pipe
    def response_urls(self, count: int) -> list[str]:
        return [self.issue_response_url() for _ in range(count)]

    def channel_state(self, channel_id: str) -> dict[str, Any]:
        with self.lock:
            channel = self.channels[channel_id]
            return {"members": sorted(channel.members), "topic": channel.topic, "pins": list(channel.pins)}

    def channel_posts(self, channel_id: str) -> list[str]:
        """Each message posted to the channel, as the JSON of its text and blocks."""
        return [json.dumps([m["text"], m["blocks"]]) for m in self.posts(channel_id)]


QUERIES = ("response_urls", "channel_state", "channel_posts")


def _serve_slack(commands: Connection, events: Connection, users: list[str], nice: int) -> None:
    os.nice(nice)
    fake = ObservedSlack(events, enforce_rate_limits=False, open_workspace=True).start()
    for user in users:
        fake.add_user(user)
    commands.send(fake.url)
    while True:
        name, args = commands.recv()
        if name not in QUERIES:
            break
        commands.send(getattr(fake, name)(*args))
    fake.stop()


class SlackProcess:
    """The fake Slack Web API in its own process: what it received, and when."""

    def __init__(self, users: Iterable[str] = (), *, nice: int = 0) -> None:
        spawn = multiprocessing.get_context("spawn")
        self._commands, theirs = spawn.Pipe()
        self._events, their_events = spawn.Pipe(duplex=False)
        self._process = spawn.Process(
            target=_serve_slack, args=(theirs, their_events, list(users), nice), daemon=True
        )
        self._asking = threading.Lock()
        self._answered: dict[str, float] = {}
        self._arrived = threading.Condition()
        self.pinned: Queue[tuple[str, float]] = Queue()
        self.url = ""

    def start(self) -> SlackProcess:
        self._process.start()
        self.url = self._commands.recv()
        threading.Thread(target=self._listen, name="fake-slack-events", daemon=True).start()
        return self

    @property
    def api_url(self) -> str:
        return self.url + "/api/"

    def stop(self) -> None:
        with self._asking:
            self._commands.send(("stop", ()))
        self._process.join(timeout=30)

    def _ask(self, name: str, *args: Any) -> Any:
        with self._asking:
            self._commands.send((name, args))
            return self._commands.recv()

    def response_urls(self, count: int) -> list[str]:
        return self._ask("response_urls", count)

    def channel_state(self, channel_id: str) -> dict[str, Any]:
        return self._ask("channel_state", channel_id)

    def channel_posts(self, channel_id: str) -> list[str]:
        return self._ask("channel_posts", channel_id)

    def _listen(self) -> None:
        while True:
            try:
                kind, key, at = self._events.recv()
            except EOFError:
                return
            if kind == "pinned":
                self.pinned.put((key, at))
                continue
            with self._arrived:
                self._answered.setdefault(key, at)
                self._arrived.notify_all()

    def answered_at(self, response_url: str, timeout: float = 60.0) -> float:
        """When the first reply to this response URL reached the fake (`time.monotonic()`)."""
        key = response_url.rsplit("/", 1)[-1]
        with self._arrived:
            if not self._arrived.wait_for(lambda: key in self._answered, timeout):
                raise TimeoutError(f"no reply on {key} within {timeout:.0f} s")
            return self._answered[key]


# ---- the database and the workspace ----------------------------------------------------------------


def prepare_database(url: str | None, directory: str, *, reset: bool) -> Database:
    """A migrated, empty database: a new SQLite file, or the given database emptied (`--reset`)."""
    if url is None:
        url = f"sqlite:///{directory}/bench.db"
    elif not reset:
        raise SystemExit("--reset is required with --database-url: the benchmark empties that database")
    elif make_url(url).get_backend_name() == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            Path(f"{make_url(url).database}{suffix}").unlink(missing_ok=True)
    db = Database(url)
    if db.engine.dialect.name == "postgresql":
        with db.engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
    db.migrate()
    return db


def people(prefix: str, count: int) -> list[str]:
    return [f"{prefix}{n:04d}" for n in range(1, count + 1)]


def everyone(*, members: int, youth: int) -> list[str]:
    """The Slack users of the workspace `seed` makes, for the fake Slack to know."""
    return [COORD, "USCH", *people("UPOL", members), *people("UYTH", youth)]


@dataclass
class Workspace:
    channel: str  # the case channel, where `/case status` and `/update` are used
    members: list[str]  # police members: they may see the case and file notes in it
    youth: list[str]  # the youth service's members: 29, with the lead 30 people to invite
    registry: list[Agency]


def seed(db: Database, api_url: str, *, members: int = 50, youth: int = 29) -> Workspace:
    """A hub, the police with `members` members, a school and a youth service; one case of the
    police and the school, with its channel made and its members in it."""
    police, young = people("UPOL", members), people("UYTH", youth)
    layout = (
        ("hub", AgencyKind.LOCAL_AUTHORITY, [COORD], Role.COORDINATOR),
        ("police", AgencyKind.POLICE, police, Role.MEMBER),
        ("school", AgencyKind.EDUCATION, ["USCH"], Role.MEMBER),
        ("youth", AgencyKind.OTHER, young, Role.MEMBER),
    )
    with db.session() as session:
        for slug, kind, users, role in layout:
            agency = agencies.add(
                session, slug=slug, name=slug.title(), kind=kind, actor="bench", request_ref="bench"
            )
            for user in users:
                agencies.set_member(
                    session, agency=agency, user_id=user, role=role, actor="bench", request_ref="bench"
                )
        draft = cases.CaseDraft(SUMMARY, Risk.LOW, COORD, ("police", "school"))
        case, _ = cases.open_case(session, draft=draft, opener=COORD, opened_via="bench", request_ref="b")
        case_id = case.id
        registry = agencies.all_agencies(session)
    result = case_channel.provision(
        db,
        WebClient(token=TOKEN, base_url=api_url),
        case_id=case_id,
        prefix="case",
        bot_user_id=BOT_USER,
        actor=COORD,
        request_ref="b",
    )
    assert result.ok, result.error
    return Workspace(result.channel_id or "", police, young, registry)


def wait_for_queue(queue: JobQueue, timeout: float = 600.0) -> None:
    """Until no job is queued or running: every acknowledged request has been dealt with."""
    deadline = time.monotonic() + timeout
    while queue.open_jobs():
        if time.monotonic() > deadline:
            raise TimeoutError(f"jobs still open after {timeout:.0f} s")
        time.sleep(0.05)


# ---- servers ---------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def casehub_environment(db: Database, api_url: str, **settings: object) -> dict[str, str]:
    return {
        **os.environ,
        "SLACK_BOT_TOKEN": TOKEN,
        "SLACK_SIGNING_SECRET": SECRET,
        "DATABASE_URL": db.url,
        "SLACK_API_URL": api_url,
        "LOG_LEVEL": "WARNING",
        **{name.upper(): str(value) for name, value in settings.items()},
    }


def gunicorn(app_spec: str, port: int, env: dict[str, str], processes: int = 1) -> subprocess.Popen[bytes]:
    """An app under gunicorn as `python -m bot web` serves casehub: 64 threads in each of
    `processes` processes (WEB_CONCURRENCY; one by default)."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            app_spec,
            "--bind",
            f"127.0.0.1:{port}",
            "--worker-class",
            "gthread",
            "--threads",
            "64",
            "--workers",
            str(processes),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    wait_until_serving(port, process)
    return process


def start_bot(command: Sequence[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    """`python -m bot …` in a process group of its own, so that all of it can be killed at once."""
    return subprocess.Popen(
        [sys.executable, "-m", "bot", *command],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )


def wait_until_serving(port: int, process: subprocess.Popen[bytes], timeout: float = 120.0) -> None:
    """Until the server answers HTTP at all: gunicorn loads the app before it accepts."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server on port {port} exited with {process.returncode}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1).close()
            return
        except urllib.error.HTTPError:
            return  # an answer, whatever it says
        except OSError:
            time.sleep(0.1)
    kill(process)
    raise RuntimeError(f"nothing served on port {port} within {timeout:.0f} s")


def kill(process: subprocess.Popen[bytes]) -> None:
    """kill -9 of the process and its children (gunicorn's workers), as a crash would."""
    with contextlib.suppress(ProcessLookupError):  # it had died already
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            kill(process)


# ---- requests --------------------------------------------------------------------------------------


def post(url: str, body: bytes, *, timeout: float = 30.0) -> tuple[int, bytes]:
    """A request signed as Slack signs it; its status and what it answered."""
    ts = str(int(time.time()))
    request = urllib.request.Request(url, data=body, method="POST")
    request.add_header("Content-Type", "application/x-www-form-urlencoded")
    request.add_header("X-Slack-Request-Timestamp", ts)
    request.add_header("X-Slack-Signature", sign(SECRET, ts, body))
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def command(name: str, words: str, *, user: str, channel: str, response_url: str, trigger: str) -> bytes:
    fields = {
        "command": name,
        "text": words,
        "user_id": user,
        "channel_id": channel,
        "team_id": TEAM,
        "response_url": response_url,
        "trigger_id": trigger,
        "api_app_id": "A1",
    }
    return urlencode(fields).encode()


def case_form(registry: Sequence[Agency], *, view_id: str, chosen: Sequence[str]) -> bytes:
    """The `/case open` form submitted by the coordinator, leading the case themselves."""
    view = modals.open_case(registry, opener=COORD, origin_channel="CGENERAL")
    view["id"] = view_id
    view["state"] = {
        "values": {
            "summary": {"value": {"type": "plain_text_input", "value": SUMMARY}},
            "risk": {"value": {"type": "static_select", "selected_option": {"value": "low"}}},
            "lead": {"value": {"type": "users_select", "selected_user": COORD}},
            "agencies": {
                "value": {
                    "type": "multi_static_select",
                    "selected_options": [{"value": slug} for slug in chosen],
                }
            },
        }
    }
    payload = {
        "type": "view_submission",
        "user": {"id": COORD},
        "team": {"id": TEAM},
        "api_app_id": "A1",
        "trigger_id": f"{view_id}.trigger",
        "view": view,
    }
    return urlencode({"payload": json.dumps(payload)}).encode()


# ---- figures ---------------------------------------------------------------------------------------


def percentiles(seconds: Sequence[float]) -> tuple[float, float]:
    """p50 and p99, in milliseconds."""
    ordered = sorted(seconds)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return statistics.median(ordered) * 1000, p99 * 1000


def database_arguments(parser: argparse.ArgumentParser) -> None:
    """`--database-url` (a database of the benchmark's own) and `--reset` (empty it first)."""
    parser.add_argument("--database-url")
    parser.add_argument("--reset", action="store_true", help="empty that database first")


def serving_arguments(parser: argparse.ArgumentParser) -> None:
    """How casehub is served: its work in a process of its own, and gunicorn's processes."""
    parser.add_argument("--worker-process", action="store_true", help="the work in a process of its own")
    parser.add_argument(
        "--web-processes", type=int, default=1, help="gunicorn processes (WEB_CONCURRENCY) of each app"
    )
