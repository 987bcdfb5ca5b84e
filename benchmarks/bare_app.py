"""A bolt app that only acknowledges: the baseline casehub's acknowledgements are compared with.

Served by bolt's own WSGI adapter under gunicorn, as casehub is served, it does what any bolt
app does before answering (checks the signature, parses the request, finds the listener) and
nothing else: no database, no work after the answer.
"""

from __future__ import annotations

import os

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient


def bare_bolt_app(signing_secret: str, token: str, api_url: str) -> App:
    app = App(
        signing_secret=signing_secret,
        client=WebClient(token=token, base_url=api_url),
        token_verification_enabled=False,
        process_before_response=True,  # acknowledged on the request thread, as casehub does
    )
    app.command("/case")(lambda ack: ack())
    app.view("case_open")(lambda ack: ack())
    return app


def application_from_environment() -> SlackRequestHandler:
    """gunicorn's entry point: `benchmarks.bare_app:application_from_environment()`."""
    return SlackRequestHandler(
        bare_bolt_app(
            os.environ["SLACK_SIGNING_SECRET"], os.environ["SLACK_BOT_TOKEN"], os.environ["SLACK_API_URL"]
        )
    )
