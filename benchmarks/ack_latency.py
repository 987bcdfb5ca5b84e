"""Acknowledgement latency of casehub against a bare bolt app, both under gunicorn.

    python -m benchmarks.ack_latency [--requests 2000] [--rounds 4] [--database-url URL]

Sends signed requests at 1, 10 and 50 concurrent clients for `/case status` and for
the `/case open` form submission, and prints p50 and p99 acknowledgement times for
casehub next to a bolt app that only acknowledges, served the same way in the same run;
the two take turns, a quarter of the requests at a time. A third column measures the bare
app again while another process keeps the second core busy at the lowest priority, as
casehub's worker processes do with the work that follows each acknowledgement: how much of
casehub's difference a busy neighbour alone makes on this machine.
Slack is the fake Web API from the test suite (rate limits off), on loopback. casehub's
work after acknowledging is left to finish before the bare app is measured, so that it
does not slow the bare app down.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from slack_sdk import WebClient  # noqa: E402

from blocks import modals  # noqa: E402
from bot.db import Database  # noqa: E402
from bot.work import run_at_lowest_priority  # noqa: E402
from flows import case_channel  # noqa: E402
from models import AgencyKind, Risk, Role  # noqa: E402
from services import agencies, cases  # noqa: E402
from tests.driver import sign  # noqa: E402
from tests.fakeslack.server import BOT_USER, TOKEN, FakeSlack  # noqa: E402

SECRET = "bench-secret"
COORD = "UCOORD"
LEVELS = (1, 10, 50)


USERS = (COORD, "UPOL", "USCH")


def run_fake_slack(connection) -> None:  # type: ignore[no-untyped-def]
    """The fake Slack in a process of its own, so that it does not slow the clients down."""
    # Real Slack does not run on casehub's CPU: keep the fake from competing with what is measured.
    run_at_lowest_priority()
    fake = FakeSlack(enforce_rate_limits=False, open_workspace=True).start()
    for user in USERS:
        fake.add_user(user)
    connection.send(fake.url)
    connection.recv()  # until the benchmark is done
    fake.stop()


def seed(db: Database, api_url: str) -> tuple[str, list]:
    with db.session() as session:
        for slug, kind, user, role in (
            ("hub", AgencyKind.LOCAL_AUTHORITY, COORD, Role.COORDINATOR),
            ("police", AgencyKind.POLICE, "UPOL", Role.MEMBER),
            ("school", AgencyKind.EDUCATION, "USCH", Role.MEMBER),
        ):
            agency = agencies.add(
                session, slug=slug, name=slug.title(), kind=kind, actor="b", request_ref="b"
            )
            agencies.set_member(session, agency=agency, user_id=user, role=role, actor="b", request_ref="b")
        draft = cases.CaseDraft("A benchmark concern, no names.", Risk.LOW, COORD, ("police", "school"))
        case, _ = cases.open_case(session, draft=draft, opener=COORD, opened_via="bench", request_ref="b")
        case_id = case.id
        registry = agencies.all_agencies(session)
    client = WebClient(token=TOKEN, base_url=api_url)
    result = case_channel.provision(
        db, client, case_id=case_id, prefix="case", bot_user_id=BOT_USER, actor=COORD, request_ref="b"
    )
    assert result.ok, result.error
    return result.channel_id or "", registry


def serve(app_spec: str, port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
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
            "1",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env={**os.environ, **env},
    )
    deadline = time.time() + 30
    while time.time() < deadline:  # until it is up, with its worker processes ready
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"{app_spec} did not start")


def burn() -> None:
    run_at_lowest_priority()
    while True:
        pass


def start_burner(spawn):  # type: ignore[no-untyped-def]
    """A process that keeps a core busy at the lowest priority, as casehub's workers do."""
    process = spawn.Process(target=burn, daemon=True)
    process.start()
    time.sleep(0.5)  # started and busy
    return process


def wait_until_done(port: int) -> None:
    """Until the app's worker processes have nothing queued or running (as /healthz says)."""
    while True:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
            workers = json.loads(response.read()).get("workers")
        if not workers or workers["queued"] + workers["running"] == 0:
            return
        time.sleep(0.2)


def command_body(channel: str, slack_url: str) -> tuple[bytes, str]:
    fields = {
        "command": "/case",
        "text": "status",
        "user_id": COORD,
        "channel_id": channel,
        "team_id": "T0CASEHUB",
        "response_url": f"{slack_url}/response/bench",
        "trigger_id": "1.2.bench",
        "api_app_id": "A1",
    }
    return urlencode(fields).encode(), "application/x-www-form-urlencoded"


_view_ids = iter(range(10**9))


def submission_body(registry: list) -> tuple[bytes, str]:
    view = modals.open_case(registry, opener=COORD, origin_channel="CGENERAL")
    view["id"] = f"VBENCH{next(_view_ids)}"
    view["state"] = {
        "values": {
            "summary": {"value": {"type": "plain_text_input", "value": "A benchmark concern, no names."}},
            "risk": {"value": {"type": "static_select", "selected_option": {"value": "low"}}},
            "lead": {"value": {"type": "users_select", "selected_user": COORD}},
            "agencies": {
                "value": {
                    "type": "multi_static_select",
                    "selected_options": [{"value": "police"}, {"value": "school"}],
                }
            },
        }
    }
    payload = {
        "type": "view_submission",
        "user": {"id": COORD},
        "team": {"id": "T0CASEHUB"},
        "api_app_id": "A1",
        "view": view,
    }
    return urlencode({"payload": json.dumps(payload)}).encode(), "application/x-www-form-urlencoded"


def send(url: str, body: bytes, content_type: str) -> float:
    ts = str(int(time.time()))
    request = urllib.request.Request(url, data=body, method="POST")
    request.add_header("Content-Type", content_type)
    request.add_header("X-Slack-Request-Timestamp", ts)
    request.add_header("X-Slack-Signature", sign(SECRET, ts, body))
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=30) as response:
        response.read()
        assert response.status == 200
    return time.perf_counter() - started


def measure(url: str, make_body, clients: int, requests: int) -> list[float]:
    bodies = [make_body() for _ in range(requests)]
    with ThreadPoolExecutor(max_workers=clients) as pool:
        return list(pool.map(lambda b: send(url, *b), bodies))


def percentiles(latencies: list[float]) -> tuple[float, float]:
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return statistics.median(ordered) * 1000, p99 * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    spawn = multiprocessing.get_context("spawn")
    ours, theirs = spawn.Pipe()
    slack_process = spawn.Process(target=run_fake_slack, args=(theirs,))
    slack_process.start()
    slack_url = ours.recv()
    api_url = slack_url + "/api/"
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{tmp}/bench.db"
        db = Database(url)
        db.migrate()
        channel, registry = seed(db, api_url)
        env = {
            "SLACK_BOT_TOKEN": TOKEN,
            "SLACK_SIGNING_SECRET": SECRET,
            "DATABASE_URL": url,
            "SLACK_API_URL": api_url,
            "LOG_LEVEL": "WARNING",
            "BENCH_SLACK_API_URL": api_url,
        }
        servers = {
            "casehub": serve("bot.web:application_from_environment()", 3911, env),
            "bare bolt": serve("benchmarks.bare_app:application_from_environment()", 3912, env),
        }
        # (server port, with another process keeping the second core busy at the lowest priority)
        turns = {"casehub": (3911, False), "bare bolt": (3912, False), "bare, busy core": (3912, True)}
        lock = threading.Lock()

        def status_body():
            with lock:
                return command_body(channel, slack_url)

        def open_body():
            with lock:
                return submission_body(registry)

        try:
            print(f"database: {db.engine.dialect.name}; {args.requests} requests per cell; times in ms")
            print(
                f"{'request':<22}{'clients':>8}{'casehub p50':>13}{'p99':>9}"
                f"{'bare p50':>10}{'p99':>9}{'p99 ratio':>11}{'bare p99, busy core':>21}"
            )
            for name, make_body in (("/case status", status_body), ("/case open submit", open_body)):
                for clients in LEVELS:
                    latencies: dict[str, list[float]] = {turn: [] for turn in turns}
                    # Taking turns, so that the machine's own hiccups fall on both alike.
                    for _ in range(args.rounds):
                        for turn, (port, busy) in turns.items():
                            url = f"http://127.0.0.1:{port}/slack/events"
                            burner = start_burner(spawn) if busy else None
                            measure(url, make_body, clients, 20)  # warm
                            latencies[turn] += measure(url, make_body, clients, args.requests // args.rounds)
                            if burner is not None:
                                burner.kill()
                                burner.join()
                            # casehub's work after acknowledging must not run on into the other's turn
                            wait_until_done(port)
                    (c50, c99), (b50, b99), (_, busy99) = (percentiles(latencies[turn]) for turn in turns)
                    print(
                        f"{name:<22}{clients:>8}{c50:>13.1f}{c99:>9.1f}{b50:>10.1f}{b99:>9.1f}"
                        f"{c99 / b99:>10.2f}x{busy99:>21.1f}"
                    )
        finally:
            for process in servers.values():
                process.terminate()
                process.wait(timeout=30)
            ours.send("done")
            slack_process.join(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
