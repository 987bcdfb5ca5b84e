"""Socket Mode: one connection to Slack, opened again and again until Slack answers.

A process started before the network is up, or while Slack is unreachable, keeps trying with a
growing pause instead of stopping with a traceback; each failed attempt is one line in the log.
Once connected, slack-sdk reconnects by itself when the connection drops.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

log = logging.getLogger(__name__)

FIRST_DELAY = 1.0
MAX_DELAY = 60.0
# slack-sdk's Socket Mode client logs under this name; a name under slack_sdk keeps the bodies it
# logs at DEBUG behind LOG_SLACK_REQUESTS like the rest of Slack's traffic.
LIBRARY_LOG = "slack_sdk.socket_mode"
_ERROR_CODE = re.compile(r"[a-z_.]{1,64}")
_TOKEN_REFUSALS = (
    "invalid_auth",
    "not_authed",
    "not_allowed_token_type",
    "token_revoked",
    "account_inactive",
)


def run_socket_mode(
    app: App,
    app_token: str,
    *,
    stop: threading.Event | None = None,
    first_delay: float = FIRST_DELAY,
    max_delay: float = MAX_DELAY,
) -> None:
    """Serve `app` over Socket Mode until `stop` is set (for ever without one)."""
    stop = stop or threading.Event()
    handler = _connect(app, app_token, stop, first_delay, max_delay)
    if handler is None:
        return
    try:
        stop.wait()
    finally:
        handler.close()


def _connect(
    app: App, app_token: str, stop: threading.Event, first_delay: float, max_delay: float
) -> SocketModeHandler | None:
    """A connected handler, or None when `stop` was set first."""
    delay = first_delay
    while not stop.is_set():
        library_log = logging.getLogger(LIBRARY_LOG)
        handler = SocketModeHandler(
            app, app_token, logger=library_log, web_client=_web_client(app, library_log)
        )
        try:
            with _withheld(library_log):
                handler.connect()
            problem = None if handler.client.is_connected() else "Slack did not accept the connection"
        except SlackApiError as error:
            problem = _refusal(error)
        except (SlackClientError, OSError) as error:
            problem = f"Slack could not be reached: {_reason(error)}"
        if problem is None:
            log.info("connected to Slack in Socket Mode")
            return handler
        handler.close()
        log.warning("cannot connect to Slack in Socket Mode (%s); trying again in %g s", problem, delay)
        stop.wait(delay)
        delay = min(delay * 2, max_delay)
    return None


def _web_client(app: App, logger: logging.Logger) -> WebClient:
    """The app's client without retries, for apps.connections.open: this loop tries again itself,
    and says so each time."""
    client = app.client
    return WebClient(
        base_url=client.base_url,
        timeout=client.timeout,
        ssl=client.ssl,
        proxy=client.proxy,
        logger=logger,
        retry_handlers=[],
    )


def _refusal(error: SlackApiError) -> str:
    code = error.response.get("error")
    if code in _TOKEN_REFUSALS:
        return f"Slack answered {code}: check SLACK_APP_TOKEN"
    if isinstance(code, str) and _ERROR_CODE.fullmatch(code):
        return f"Slack answered {code}"
    # slack-sdk puts the start of any other answer in its place: an HTML page, say.
    return f"HTTP {error.response.status_code} without an answer of Slack's Web API: check SLACK_API_URL"


def _reason(error: Exception) -> str:
    """The cause of a failed connection, without the request's details."""
    cause = getattr(error, "reason", error)
    if isinstance(cause, OSError) and cause.strerror:
        return cause.strerror
    return cause if isinstance(cause, str) else type(cause).__name__


@contextmanager
def _withheld(logger: logging.Logger) -> Iterator[None]:
    """slack-sdk's own account of a failed attempt spans lines and quotes Slack's whole answer;
    the line this module logs replaces it."""

    def drop(record: logging.LogRecord) -> bool:
        return False

    logger.addFilter(drop)
    try:
        yield
    finally:
        logger.removeFilter(drop)
