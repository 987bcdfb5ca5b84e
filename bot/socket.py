"""Socket Mode: casehub opens connections to Slack instead of serving a public HTTPS address.

`SocketLinks` holds `SOCKET_CONNECTIONS` connections (Slack allows up to 10 and spreads the
envelopes over them, so that one lost connection does not stop delivery). Each is opened again
and again until Slack answers: a process started before the network is up, or while Slack is
unreachable, keeps trying with a growing pause instead of stopping with a traceback, and each
failed attempt is one line in the log.

Once connected, slack-sdk's client moves to a new connection by itself when Slack asks
(`disconnect`: `warning`, `refresh_requested`) and when a connection closes. A connection that
stays down for three of slack-sdk's checks (slack-sdk could not reopen it: Slack unreachable,
Socket Mode turned off) is given up and opened again here, with the growing pause.

Each envelope is acknowledged by bolt's Socket Mode adapter only after the app has dispatched it,
and casehub's app records the work of every request in the durable job queue before it returns
(`bot.jobs`): an acknowledgement means the work is on record. An envelope delivered again (its
acknowledgement was lost with a connection, or came late) has the same payload and so the same
job, done once.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol

from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

log = logging.getLogger(__name__)

FIRST_DELAY = 1.0
MAX_DELAY = 60.0
PING_INTERVAL = 10.0  # how often slack-sdk checks a connection (and reopens a closed one)
MAX_CONNECTIONS = 10  # Slack's limit per app
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
# Why Slack closes a connection, as its `disconnect` message says.
_DISCONNECT_LINES = {
    "warning": "Slack will move connection %d to a new one shortly",
    "refresh_requested": "Slack asked for connection %d to move to a new one; moving",
    "too_many_websockets": "Slack refused connection %d: the app has 10 connections already "
    "(lower SOCKET_CONNECTIONS, or stop other Socket Mode processes)",
}


class TokenState(Protocol):
    def state(self) -> str: ...


class OneLine(logging.Filter):
    """slack-sdk logs some failures with their traceback, which can span dozens of lines, and
    quotes Slack's answer on a line of its own: what failed is kept, on one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        message = record.getMessage()
        if "\n" in message:
            record.msg, record.args = " ".join(message.split()), None
        return True


@dataclass
class Link:
    """One connection casehub keeps to Slack: its state, and the handler serving it."""

    number: int
    state: str = "connecting"  # "connecting", "open", "lost", "disabled"
    handler: SocketModeHandler | None = None
    changed_at: float = 0.0


class SocketLinks:
    """`connections` Socket Mode connections for `app`, each kept open by a thread of its own."""

    def __init__(
        self,
        app: App,
        app_token: str,
        *,
        connections: int = 1,
        first_delay: float = FIRST_DELAY,
        max_delay: float = MAX_DELAY,
        ping_interval: float = PING_INTERVAL,
        reconnect_grace: float | None = None,
        concurrency: int = 10,
    ) -> None:
        if not 1 <= connections <= MAX_CONNECTIONS:
            raise ValueError(f"Slack allows 1 to {MAX_CONNECTIONS} connections, not {connections}")
        self.app, self.app_token = app, app_token
        self.first_delay, self.max_delay = first_delay, max_delay
        self.ping_interval = ping_interval
        # Down this long, a connection is opened again here (slack-sdk tries first).
        self.reconnect_grace = 3 * ping_interval if reconnect_grace is None else reconnect_grace
        self.concurrency = concurrency
        self.links = [Link(number) for number in range(1, connections + 1)]
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._keep, args=(link,), name=f"socket-link-{link.number}", daemon=True)
            for link in self.links
        ]
        library_log = logging.getLogger(LIBRARY_LOG)
        if not any(isinstance(each, OneLine) for each in library_log.filters):
            library_log.addFilter(OneLine())

    def start(self) -> SocketLinks:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self.stopping.set()
        for thread in self._threads:
            thread.join(timeout)

    def wait_open(self, count: int | None = None, timeout: float = 10.0) -> bool:
        """Whether `count` connections (all by default) are open within `timeout` seconds."""
        wanted = len(self.links) if count is None else count
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.states().count("open") >= wanted:
                return True
            time.sleep(0.02)
        return self.states().count("open") >= wanted

    # ---- what health checks read --------------------------------------------------------------
    def states(self) -> list[str]:
        """Each connection's state: `open`, `connecting`, `lost` or `disabled`."""
        with self._lock:
            return [self._state(link) for link in self.links]

    def report(self) -> dict[str, int | list[str]]:
        states = self.states()
        return {"open": states.count("open"), "wanted": len(states), "links": states}

    def state(self) -> str:
        """`ok` while at least one connection is open (Slack delivers on those), `disabled`
        when Slack turned Socket Mode off for the app, else `connecting`."""
        states = self.states()
        if "open" in states:
            return "ok"
        return "disabled" if "disabled" in states else "connecting"

    def _state(self, link: Link) -> str:
        if link.state == "open" and (link.handler is None or not link.handler.client.is_connected()):
            return "lost"
        return link.state

    def _set(self, link: Link, state: str, handler: SocketModeHandler | None = None) -> None:
        with self._lock:
            link.state, link.changed_at = state, time.monotonic()
            if handler is not None:
                link.handler = handler

    # ---- keeping each connection open ---------------------------------------------------------
    def _keep(self, link: Link) -> None:
        while not self.stopping.is_set():
            handler = self._connect(link)
            if handler is None:
                break
            self._set(link, "open", handler)
            self._watch(link, handler)
            handler.close()
            if not self.stopping.is_set():
                log.warning(
                    "Socket Mode connection %d stayed down for %g s; connecting again",
                    link.number,
                    self.reconnect_grace,
                )
                self._set(link, "disabled" if link.state == "disabled" else "connecting")

    def _watch(self, link: Link, handler: SocketModeHandler) -> None:
        """Until stopped, or until the connection has been down for `reconnect_grace` seconds."""
        down_since: float | None = None
        step = min(0.2, self.ping_interval / 2)
        while not self.stopping.wait(step):
            if handler.client.is_connected():
                down_since = None
                if link.state != "open":
                    self._set(link, "open")
                continue
            now = time.monotonic()
            if down_since is None:
                down_since = now
            elif now - down_since >= self.reconnect_grace:
                return

    def _connect(self, link: Link) -> SocketModeHandler | None:
        """A connected handler, or None when stopping first."""
        delay = self.first_delay
        while not self.stopping.is_set():
            library_log = logging.getLogger(LIBRARY_LOG)
            handler = SocketModeHandler(
                self.app,
                self.app_token,
                logger=library_log,
                web_client=_web_client(self.app, library_log),
                ping_interval=self.ping_interval,
                concurrency=self.concurrency,
            )
            handler.client.on_message_listeners.append(self._listener(link))
            try:
                with _withheld(library_log):
                    handler.connect()
                problem = None if handler.client.is_connected() else "Slack did not accept the connection"
            except SlackApiError as error:
                problem = _refusal(error)
            except (SlackClientError, OSError) as error:
                problem = f"Slack could not be reached: {_reason(error)}"
            if problem is None:
                log.info("Socket Mode connection %d open", link.number)
                return handler
            handler.close()
            log.warning(
                "cannot open Socket Mode connection %d (%s); trying again in %g s",
                link.number,
                problem,
                delay,
            )
            self.stopping.wait(delay)
            delay = min(delay * 2, self.max_delay)
        return None

    def _listener(self, link: Link) -> Callable[[str], None]:
        """Reads Slack's `disconnect` messages, for the log and the health check: the type and
        reason only, never an envelope's payload."""

        def heard(message: str) -> None:
            if '"disconnect"' not in message:
                return
            try:
                said = json.loads(message)
            except ValueError:
                return
            if not isinstance(said, dict) or said.get("type") != "disconnect":
                return
            reason = said.get("reason")
            if reason == "link_disabled":
                log.error(
                    "Slack turned Socket Mode off for this app (link_disabled): turn it on again under "
                    "Socket Mode in the app's settings, or serve HTTP instead; trying again meanwhile"
                )
                self._set(link, "disabled")
            elif reason in _DISCONNECT_LINES:
                log.info(_DISCONNECT_LINES[str(reason)], link.number)
            else:
                log.info("Slack closed Socket Mode connection %d; moving to a new one", link.number)

        return heard


class SocketStatus:
    """Slack as a Socket Mode process's readiness sees it: the bot token checked, and at least
    one connection open."""

    def __init__(self, identity: TokenState, links: SocketLinks) -> None:
        self.identity, self.links = identity, links

    def state(self) -> str:
        token = self.identity.state()
        return token if token != "ok" else self.links.state()

    def connections(self) -> dict[str, int | list[str]]:
        return self.links.report()


def run_socket_mode(
    app: App,
    app_token: str,
    *,
    stop: threading.Event | None = None,
    first_delay: float = FIRST_DELAY,
    max_delay: float = MAX_DELAY,
    connections: int = 1,
) -> None:
    """Serve `app` over Socket Mode until `stop` is set (for ever without one)."""
    stop = stop or threading.Event()
    links = SocketLinks(
        app, app_token, connections=connections, first_delay=first_delay, max_delay=max_delay
    ).start()
    try:
        stop.wait()
    finally:
        links.stop()


def _web_client(app: App, logger: logging.Logger) -> WebClient:
    """The app's client without retries, for apps.connections.open: this module tries again
    itself, and says so each time."""
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
