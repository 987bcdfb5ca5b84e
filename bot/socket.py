"""Socket Mode: casehub opens connections to Slack instead of serving a public HTTPS address.

`SocketLinks` holds `SOCKET_CONNECTIONS` connections (Slack allows up to 10 an app and spreads
the envelopes over them, so that one lost connection does not stop delivery), each kept by a
thread of its own, and is the one thing that opens them again:

- A connection that cannot be opened (Slack unreachable, the token refused, Socket Mode turned
  off) is tried again after a pause that doubles from `FIRST_DELAY` up to `MAX_DELAY`; each
  failed attempt is one line in the log, never a traceback.
- A connection that closes or goes quiet (slack-sdk pings it and closes it when the pongs stop)
  is opened again after the same pause. The pause starts again from the beginning only once a
  connection has stayed up `STABLE_SECONDS`, so a connection that keeps failing as soon as it
  opens (too many connections, a proxy cutting it) is not reopened in a tight loop.
- When Slack asks the app to move (`disconnect`: `warning`, `refresh_requested`), slack-sdk's
  client opens the new connection before it closes the old, and that is left to it.

Each envelope is dispatched to the bolt app as a verified request would be; casehub's app
records the work of every request in the durable job queue before the dispatch returns
(`bot.jobs`), and only then is the envelope acknowledged: an acknowledgement means the work is
on record. When it could not be recorded, a command or form is acknowledged with "nothing was
saved" and an event is not acknowledged, so that Slack delivers it again. An event Slack delivers
again (its acknowledgement was lost with a connection, or came late) has the same payload, so the
same job, done once. Each envelope is counted and timed as a request is over HTTP (`/metrics`).
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol

from slack_bolt import App, BoltRequest, BoltResponse
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.socket_mode.builtin import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse

from bot import logs, metrics
from bot.web import payload_kind

log = logging.getLogger(__name__)

FIRST_DELAY = 1.0
MAX_DELAY = 60.0
STABLE_SECONDS = 60.0  # up this long, a connection that then drops is reopened after FIRST_DELAY
PING_INTERVAL = 10.0  # how often slack-sdk pings a connection; quiet for four of them, it is closed
RECONNECT_GRACE = 2.0  # down this long (not a move slack-sdk is making), a connection is reopened
DRAIN_SECONDS = 2.0  # on closing, how long what was received may take to be dispatched
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
    "warning": "Slack warned that connection %d will be closed soon; moving to a new one",
    "refresh_requested": "Slack asked for connection %d to move to a new one; moving",
}
# slack-sdk logs a WebSocket frame it does not handle with its payload, which may be what someone
# typed: the line is kept, the payload is not.
_UNSUPPORTED_FRAME = "Received an unsupported data frame"


class TokenState(Protocol):
    def state(self) -> str: ...


class OneLine(logging.Filter):
    """slack-sdk logs some failures with their traceback, which can span dozens of lines, and
    quotes Slack's answer on a line of its own: what failed is kept, on one line, and a frame's
    payload is never kept."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        message = record.getMessage()
        if message.startswith(_UNSUPPORTED_FRAME):
            record.msg, record.args = f"{_UNSUPPORTED_FRAME} (payload withheld)", None
        elif "\n" in message:
            record.msg, record.args = " ".join(message.split()), None
        return True


class CasehubSocketHandler(SocketModeHandler):
    """bolt's Socket Mode handler, with each envelope dispatched, acknowledged and counted here:
    acknowledged only when the app answered 200 (an event whose work could not be recorded is
    left for Slack to deliver again), counted and timed by kind like HTTP requests, and logged
    under a request id of its own."""

    def handle(self, client: SocketModeClient, req: SocketModeRequest) -> None:  # type: ignore[override]
        started = time.perf_counter()
        payload = req.payload if isinstance(req.payload, dict) else {}
        status = 500
        with logs.request_scope(logs.new_request_id()):
            try:
                headers: dict[str, str | Sequence[str]] = {}
                if req.retry_attempt is not None:
                    headers["x-slack-retry-num"] = str(req.retry_attempt)
                if req.retry_reason is not None:
                    headers["x-slack-retry-reason"] = req.retry_reason
                response = self.app.dispatch(BoltRequest(mode="socket_mode", body=payload, headers=headers))
                status = response.status
                if status == 200:
                    client.send_socket_mode_response(
                        SocketModeResponse(envelope_id=req.envelope_id, payload=_answer_payload(response))
                    )
            finally:
                metrics.request_answered(payload_kind(payload), status, time.perf_counter() - started)


def _answer_payload(response: BoltResponse) -> dict[str, object] | None:
    """What an acknowledgement carries: a JSON answer as it is, text as `{"text": …}`."""
    if not response.body:
        return None
    kind = (response.headers.get("content-type") or [""])[0]
    if kind.startswith("application/json"):
        answer = json.loads(response.body)
        return answer if isinstance(answer, dict) else None
    return {"text": response.body}


@dataclass
class Link:
    """One connection casehub keeps to Slack: its state, and the handler serving it."""

    number: int
    state: str = "connecting"  # "connecting", "open", "lost", "refused", "disabled"
    handler: SocketModeHandler | None = None
    refused: str | None = None  # why Slack turned the current connection away, until it is closed


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
        reconnect_grace: float = RECONNECT_GRACE,
        stable_seconds: float = STABLE_SECONDS,
        concurrency: int = 10,
    ) -> None:
        if not 1 <= connections <= MAX_CONNECTIONS:
            raise ValueError(f"Slack allows 1 to {MAX_CONNECTIONS} connections, not {connections}")
        self.app, self.app_token = app, app_token
        self.first_delay, self.max_delay = first_delay, max_delay
        self.ping_interval, self.reconnect_grace = ping_interval, reconnect_grace
        self.stable_seconds, self.concurrency = stable_seconds, concurrency
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
        """Close every connection (each drains what it received first), within `timeout` in all."""
        self.stopping.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

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
        """Each connection's state: `open`, `connecting`, `lost`, `refused` or `disabled`."""
        with self._lock:
            return [self._state(link) for link in self.links]

    def sessions(self) -> list[str | None]:
        """Each connection's current session (slack-sdk's id), None while it has no open one."""
        with self._lock:
            return [
                link.handler.client.session_id()
                if link.handler is not None and link.handler.client.is_connected()
                else None
                for link in self.links
            ]

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
            link.state = state
            if handler is not None:
                link.handler = handler

    # ---- keeping each connection open ---------------------------------------------------------
    def _keep(self, link: Link) -> None:
        delay = self.first_delay
        while not self.stopping.is_set():
            handler, problem = self._open(link)
            if handler is None:
                if problem is not None:
                    log.warning(
                        "cannot open Socket Mode connection %d (%s); trying again in %g s",
                        link.number,
                        problem,
                        delay,
                    )
                    self.stopping.wait(delay)
                    delay = min(delay * 2, self.max_delay)
                continue
            opened = time.monotonic()
            self._set(link, "open", handler)
            ended = self._watch(link, handler)
            self._close(handler)
            if self.stopping.is_set():
                break
            if time.monotonic() - opened >= self.stable_seconds:
                delay = self.first_delay
            if link.state not in ("disabled", "refused"):
                self._set(link, "connecting")
            log.warning("Socket Mode connection %d %s; opening it again in %g s", link.number, ended, delay)
            self.stopping.wait(delay)
            delay = min(delay * 2, self.max_delay)

    def _watch(self, link: Link, handler: SocketModeHandler) -> str:
        """Until stopped, Slack turns the connection away, or it has been down for
        `reconnect_grace` seconds: what ended it."""
        down_since: float | None = None
        step = min(0.2, self.ping_interval / 2)
        while not self.stopping.wait(step):
            if link.refused is not None:
                return f"was refused by Slack ({link.refused})"
            if handler.client.is_connected():
                down_since = None
                if link.state not in ("open", "disabled"):
                    self._set(link, "open")
                continue
            now = time.monotonic()
            if down_since is None:
                down_since = now
            elif now - down_since >= self.reconnect_grace:
                return "was lost"
        return "was closed"

    def _open(self, link: Link) -> tuple[SocketModeHandler | None, str | None]:
        """One attempt: a connected handler, or the problem (None when stopping first)."""
        if self.stopping.is_set():
            return None, None
        library_log = logging.getLogger(LIBRARY_LOG)
        link.refused = None
        handler = CasehubSocketHandler(
            self.app,
            self.app_token,
            logger=library_log,
            web_client=_web_client(self.app, library_log),
            # casehub opens lost connections again itself, with its pause (`_keep`); slack-sdk
            # still moves to a new connection when Slack asks it to.
            auto_reconnect_enabled=False,
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
        except Exception as error:  # an answer slack-sdk did not expect: said, and tried again
            problem = f"unexpected {type(error).__name__}"
        if problem is None:
            log.info("Socket Mode connection %d open", link.number)
            return handler, None
        self._close(handler)
        return None, problem

    def _close(self, handler: SocketModeHandler) -> None:
        """Close a handler: what it received is dispatched first (within `DRAIN_SECONDS`), and a
        connection slack-sdk was opening while it closed is closed too."""
        client = handler.client
        deadline = time.monotonic() + DRAIN_SECONDS
        while not client.message_queue.empty() and time.monotonic() < deadline:
            time.sleep(0.02)
        handler.close()
        client.disconnect()

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
            elif reason == "too_many_websockets":
                log.warning(
                    "Slack refused connection %d: the app has %d connections already (lower "
                    "SOCKET_CONNECTIONS, or run fewer Socket Mode processes)",
                    link.number,
                    MAX_CONNECTIONS,
                )
                self._set(link, "refused")
                link.refused = "too many connections"
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
    the line this module logs replaces it. Only this thread's lines are left out: the other
    connections' go on being logged."""
    thread = threading.get_ident()

    def drop(record: logging.LogRecord) -> bool:
        return record.thread != thread

    logger.addFilter(drop)
    try:
        yield
    finally:
        logger.removeFilter(drop)
