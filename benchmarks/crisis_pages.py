"""How long from `/crisis` to the pages, for a case with 12 agencies.

    python -m benchmarks.crisis_pages [--runs 10] [--database-url URL]

Serves casehub over HTTP on loopback as the tests do (a threaded server, with the job queue's
worker threads in the same process) against the fake Slack, sends a signed `/crisis` in a
case channel with 12 participating agencies, and measures the time until every agency's
on-call person and the lead coordinator has the page. With `--database-url` the agencies
and cases are added to that database under names of their own.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from slack_sdk import WebClient  # noqa: E402

from bot.db import Database  # noqa: E402
from bot.settings import Settings  # noqa: E402
from flows import case_channel  # noqa: E402
from models import AgencyKind, Risk, Role  # noqa: E402
from sandbox.driver import SlackDriver  # noqa: E402
from sandbox.slack import BOT_USER, TOKEN, EmulatedSlack  # noqa: E402
from services import agencies, cases  # noqa: E402
from tests.conftest import serve  # noqa: E402

AGENCIES = 12
SECRET = "bench-secret"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    fake = EmulatedSlack(enforce_rate_limits=False, open_workspace=True).start()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{tmp}/crisis.db"
        db = Database(url)
        db.migrate()
        settings = Settings(
            _env_file=None,
            slack_bot_token=TOKEN,
            slack_signing_secret=SECRET,
            database_url=url,
            slack_api_url=fake.api_url,
            casehub_admins=["UADMIN"],
        )
        client = WebClient(token=TOKEN, base_url=fake.api_url)
        run_id = int(time.time())
        with db.session() as session:
            hub = agencies.add(
                session,
                slug=f"hub-{run_id}",
                name="Hub",
                kind=AgencyKind.LOCAL_AUTHORITY,
                actor="b",
                request_ref="b",
            )
            agencies.set_member(
                session, agency=hub, user_id="ULEAD", role=Role.COORDINATOR, actor="b", request_ref="b"
            )
            slugs = []
            for n in range(AGENCIES):
                agency = agencies.add(
                    session,
                    slug=f"a{n}-{run_id}",
                    name=f"Agency {n}",
                    kind=AgencyKind.OTHER,
                    actor="b",
                    request_ref="b",
                )
                agencies.set_member(
                    session,
                    agency=agency,
                    user_id=f"UONCALL{n}",
                    role=Role.COORDINATOR,
                    actor="b",
                    request_ref="b",
                )
                slugs.append(agency.slug)
        app = serve(settings, db)
        driver = SlackDriver(app.url, SECRET, fake, app)
        timings = []
        for run in range(args.runs):
            with db.session() as session:
                draft = cases.CaseDraft("A benchmark concern, no names.", Risk.HIGH, "ULEAD", tuple(slugs))
                case, _ = cases.open_case(
                    session, draft=draft, opener="ULEAD", opened_via=f"bench-{run_id}-{run}", request_ref="b"
                )
                case_id = case.id
            result = case_channel.provision(
                db,
                client,
                case_id=case_id,
                prefix="case",
                bot_user_id=BOT_USER,
                actor="ULEAD",
                request_ref="b",
            )
            wanted = {f"DUONCALL{n}" for n in range(AGENCIES)} | {"DULEAD"}
            before = len(fake.messages)
            started = time.perf_counter()
            driver.command(
                "/crisis",
                "Benchmark: partners must meet now",
                user="ULEAD",
                channel=result.channel_id,
                settle=False,
            )
            while True:
                with fake.lock:
                    paged = {
                        m["channel"] for m in fake.messages[before:] if "crisis_ack" in str(m.get("blocks"))
                    }
                if wanted <= paged:
                    break
                time.sleep(0.002)
            timings.append(time.perf_counter() - started)
            driver.settle()
            driver.command("/crisis", "resolve Benchmark over", user="ULEAD", channel=result.channel_id)
        app.stop()
        print(f"database: {db.engine.dialect.name}; a case with {AGENCIES} agencies; {args.runs} runs")
        print(
            f"/crisis to the last of {AGENCIES + 1} pages: "
            f"median {statistics.median(timings) * 1000:.0f} ms, "
            f"max {max(timings) * 1000:.0f} ms (target: under 5,000 ms)"
        )
    fake.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
