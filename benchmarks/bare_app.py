"""A bolt app that only acknowledges: the baseline casehub's acknowledgements are compared with."""

import os
from concurrent.futures import ThreadPoolExecutor

from slack_bolt import App
from slack_sdk import WebClient

from bot.web import wsgi_app


class _NoDatabase:
    def is_reachable(self) -> bool:
        return True


def _build():  # type: ignore[no-untyped-def]
    app = App(
        signing_secret=os.environ["SLACK_SIGNING_SECRET"],
        client=WebClient(token=os.environ["SLACK_BOT_TOKEN"], base_url=os.environ["BENCH_SLACK_API_URL"]),
        token_verification_enabled=False,
        process_before_response=True,  # acknowledged on the request thread, as casehub does
        listener_executor=ThreadPoolExecutor(max_workers=32),
    )
    app.command("/case")(lambda ack: ack())
    app.view("case_open")(lambda ack: ack())
    return wsgi_app(app, _NoDatabase())  # type: ignore[arg-type]


application = _build()
