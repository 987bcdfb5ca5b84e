"""What acknowledging costs in the web process: casehub's bolt dispatch against a bare app's.

    python -m benchmarks.ack_cost [--requests 3000]

Dispatches signed `/case status` commands and `/case open` submissions straight into each
bolt app, in this process, with no HTTP server or other load around, and prints the
average time per request. casehub's work after the acknowledgement is handed to a stand-in
that only takes it, so what is measured is what happens before Slack gets its answer.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from slack_bolt import App  # noqa: E402
from slack_bolt.request import BoltRequest  # noqa: E402

from benchmarks.ack_latency import SECRET, USERS, command_body, seed, submission_body  # noqa: E402
from benchmarks.bare_app import bare_bolt_app  # noqa: E402
from bot.app import create_app  # noqa: E402
from bot.db import Database  # noqa: E402
from bot.settings import Settings  # noqa: E402
from tests.driver import sign  # noqa: E402
from tests.fakeslack.server import TOKEN, FakeSlack  # noqa: E402


class TakeWork:
    """Stands in for the worker processes: takes the hand-off, as the real runner does."""

    def __init__(self) -> None:
        self.taken: list[tuple[str, dict]] = []

    def start(self, function: Callable[..., None], request: BoltRequest) -> None:
        self.taken.append((request.raw_body, request.headers))


def signed(body: bytes) -> dict:
    ts = str(int(time.time()))
    headers = {
        "content-type": "application/x-www-form-urlencoded",
        "x-slack-request-timestamp": ts,
        "x-slack-signature": sign(SECRET, ts, body),
    }
    return {"body": body.decode(), "headers": headers}


def per_request(app: App, requests: list[dict]) -> float:
    for request in requests[:100]:  # warm
        app.dispatch(BoltRequest(**request))
    started = time.perf_counter()
    for request in requests:
        response = app.dispatch(BoltRequest(**request))
        assert response.status == 200, response.body
    return (time.perf_counter() - started) / len(requests) * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    args = parser.parse_args()
    fake = FakeSlack(enforce_rate_limits=False, open_workspace=True).start()
    for user in USERS:
        fake.add_user(user)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/cost.db"
        db = Database(url)
        db.migrate()
        channel, registry = seed(db, fake.api_url)
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            slack_bot_token=TOKEN,
            slack_signing_secret=SECRET,
            database_url=url,
            slack_api_url=fake.api_url,
            work_processes=1,
        )
        casehub = create_app(settings, db)
        taken = TakeWork()
        casehub.listener_runner.lazy_listener_runner = taken  # type: ignore[assignment]
        bare = bare_bolt_app(SECRET, TOKEN, fake.api_url)
        print(f"{args.requests} requests each; microseconds per request, in one process")
        print(f"{'request':<22}{'casehub':>10}{'bare':>10}{'ratio':>9}")
        for name, make in (
            ("/case status", lambda: command_body(channel, fake.url)[0]),
            ("/case open submit", lambda: submission_body(registry)[0]),
        ):
            requests = [signed(make()) for _ in range(args.requests)]
            ours, theirs = per_request(casehub, requests), per_request(bare, requests)
            print(f"{name:<22}{ours:>10.0f}{theirs:>10.0f}{ours / theirs:>8.2f}x")
        assert len(taken.taken) == 2 * (args.requests + 100), "the work was not handed over"
    fake.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
