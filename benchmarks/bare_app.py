"""A bolt app that only acknowledges: the baseline casehub's acknowledgements are compared with."""

import os
from concurrent.futures import ThreadPoolExecutor

from slack_bolt import App
from slack_sdk import WebClient

from bot.web import wsgi_app


class _NoDatabase:
    def is_reachable(self) -> bool:
        return True


def bare_bolt_app(signing_secret: str, token: str, api_url: str) -> App:
    app = App(
        signing_secret=signing_secret,
        client=WebClient(token=token, base_url=api_url),
        token_verification_enabled=False,
        process_before_response=True,  # acknowledged on the request thread, as casehub does
        listener_executor=ThreadPoolExecutor(max_workers=32),
    )
    app.command("/case")(lambda ack: ack())
    app.view("case_open")(lambda ack: ack())
    return app


def application_from_environment():  # type: ignore[no-untyped-def]
    """gunicorn's entry point, as casehub's: `benchmarks.bare_app:application_from_environment()`."""
    secret = os.environ["SLACK_SIGNING_SECRET"]
    app = bare_bolt_app(secret, os.environ["SLACK_BOT_TOKEN"], os.environ["BENCH_SLACK_API_URL"])
    return wsgi_app(app, _NoDatabase(), secret)  # type: ignore[arg-type]
