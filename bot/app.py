"""Builds the bolt app: settings, database, Slack client, listeners and one error handler."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import App, BoltContext, BoltResponse
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from blocks import messages
from bot.db import Database
from bot.executor import ListenerExecutor
from bot.settings import Settings
from bot.slack import describe_error, make_client
from handlers import register_listeners
from handlers.common import Deps
from services.errors import CasehubError

log = logging.getLogger("casehub")

UNEXPECTED = (
    ":x: Something went wrong on casehub's side and your request was not completed. "
    "Please try again in a minute; if it keeps happening, tell your casehub admin."
)


def create_app(
    settings: Settings,
    db: Database,
    *,
    client: WebClient | None = None,
    executor: ListenerExecutor | None = None,
) -> App:
    app = App(
        signing_secret=settings.slack_signing_secret.get_secret_value(),
        client=client or make_client(settings),
        listener_executor=executor or ListenerExecutor(settings.listener_workers),
        # auth.test runs on the first request instead of at import, so a process can
        # start (and report its health) while Slack is briefly unreachable.
        token_verification_enabled=False,
    )
    deps = Deps(settings=settings, db=db)

    @app.middleware
    def provide_deps(context: BoltContext, next: Any) -> None:
        context["deps"] = deps
        next()

    app.error(report_error)
    register_listeners(app)
    return app


def report_error(
    error: Exception, body: dict[str, Any], context: BoltContext, logger: logging.Logger
) -> BoltResponse | None:
    """Every refusal and failure is told to the person who asked, in one place."""
    if isinstance(error, CasehubError):
        text = messages.refusal(error)
    elif isinstance(error, SlackApiError):
        logger.warning("Slack API error: %s", describe_error(error))
        text = (
            f":x: {describe_error(error)}, so your request could not be completed. "
            "Nothing half-done was kept; please try again."
        )
    else:
        logger.exception("unexpected error in a listener", exc_info=error)
        text = UNEXPECTED
    user = body.get("user_id") or (body.get("user") or {}).get("id")
    try:
        if context.respond is not None and (body.get("response_url") or body.get("response_urls")):
            context.respond(text=text, response_type="ephemeral", replace_original=False)
        elif user and context.client is not None:
            context.client.chat_postMessage(channel=user, text=text)
    except Exception:  # the person cannot be told; the log has it
        logger.exception("could not report an error to %s", user)
    if context.ack is not None and context.ack.response is None:
        return BoltResponse(status=200, body="")
    return None
