"""Slack's Socket Mode, emulated: the WebSocket side of `apps.connections.open`.

An app calls `apps.connections.open` with its app-level token (`xapp-…`) and gets a `ws://`
URL on loopback with a ticket that opens one connection. Slack then says `hello` and delivers
slash commands, interactions and events in envelopes:

    {"envelope_id": "…", "type": "slash_commands" | "interactive" | "events_api",
     "payload": {…}, "accepts_response_payload": true | false,
     "retry_attempt": 0, "retry_reason": ""}

and the app acknowledges each with `{"envelope_id": "…", "payload": {…}}` (the payload only where
one is accepted: a command's reply, a form's `response_action`). An envelope not acknowledged
within 3 seconds is late. An event is then delivered again, on another connection when there is
one, with `retry_attempt` one higher and `retry_reason` "timeout", up to three times, as the
Events API retries; a slash command or an interaction is not: the person sees that the app did
not answer (`timed_out`). Every few hours Slack
asks an app to move to a new connection (`disconnect` with `warning`, then `refresh_requested`),
and a connection may also be dropped outright; an app may hold up to 10 connections, and Slack
spreads the envelopes over them. Turning Socket Mode off sends `link_disabled`, and
`apps.connections.open` is refused until it is turned on again.

Where Slack documents nothing, the emulator's choice is noted beside it.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlparse

from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.sync.server import ServerConnection, serve

APP_ID = "ACASEHUB"
ACK_SECONDS = 3.0
RETRIES = 3  # deliveries after the first, as for the Events API over HTTP
MAX_CONNECTIONS = 10
DEBUG_INFO = {"host": "applink-1"}
TICKET_SECONDS = 30.0  # the emulator's choice: how long an unused URL stays good


class NotAcknowledged(Exception):
    """An envelope nobody acknowledged, after every delivery Slack makes."""


@dataclass
class Link:
    """One open WebSocket connection of the app."""

    id: int
    websocket: ServerConnection
    opened: float
    open: bool = True
    accepting: bool = True  # False once Slack asked the app to move off it: nothing more is sent on it


@dataclass
class Envelope:
    id: str
    type: str
    payload: dict[str, Any]
    accepts_response_payload: bool
    attempt: int = 0  # the latest delivery's retry_attempt
    sent_at: float | None = None  # monotonic time of the latest delivery, None while waiting for a link
    link: int | None = None  # the connection of the latest delivery
    acknowledged: threading.Event = field(default_factory=threading.Event)
    response: dict[str, Any] | None = None
    acknowledged_after: float | None = None  # seconds from the first delivery to the acknowledgement
    first_sent: float | None = None
    given_up: bool = False  # no acknowledgement came, and Slack delivers it no more
    settled: threading.Event = field(default_factory=threading.Event)  # acknowledged or given up

    @property
    def retried(self) -> bool:
        """Slack delivers an event again when it is late; nothing else (the Events API's rule)."""
        return self.type == "events_api"


@dataclass
class Delivery:
    envelope_id: str
    link: int
    attempt: int
    reason: str


class SocketModeSlack:
    """The WebSocket server of an emulated Slack, holding the app's connections."""

    def __init__(
        self,
        *,
        ack_seconds: float = ACK_SECONDS,
        retries: int = RETRIES,
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        self.ack_seconds, self.retries, self.max_connections = ack_seconds, retries, max_connections
        self.lock = threading.Condition()
        self.enabled = True  # False after `disable`: apps.connections.open is refused
        self.links: dict[int, Link] = {}
        self.envelopes: dict[str, Envelope] = {}
        self.deliveries: list[Delivery] = []
        self.connections_opened = 0
        self.duplicate_acks = 0  # acknowledgements of an envelope acknowledged already
        self.refusals: list[str] = []  # what the app sent that Slack would not take, by kind
        self._tickets: dict[str, float] = {}
        self._acks_to_lose = 0
        self._link_ids = itertools.count(1)
        self._envelope_ids = itertools.count(1)
        self._turn = itertools.count()
        self._stopped = threading.Event()
        self._server = serve(
            self._serve,
            "127.0.0.1",
            0,
            process_request=self._check_ticket,
            compression=None,
            ping_interval=None,  # the app pings, and Slack answers
        )
        self._threads = [
            threading.Thread(target=self._server.serve_forever, daemon=True),
            threading.Thread(target=self._watch, daemon=True),
        ]

    # ---- running ----------------------------------------------------------------------------
    @property
    def port(self) -> int:
        return int(self._server.socket.getsockname()[1])

    def start(self) -> SocketModeSlack:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        self._server.shutdown()

    def issue_url(self) -> str:
        """A new connection's URL, as `apps.connections.open` answers it: good for one connection."""
        ticket = secrets.token_urlsafe(12)
        with self.lock:
            self._tickets[ticket] = time.monotonic()
        return f"ws://127.0.0.1:{self.port}/link/?ticket={ticket}&app_id={APP_ID}"

    # ---- what Slack sends ---------------------------------------------------------------------
    def deliver(self, kind: str, payload: dict[str, Any], *, accepts_response_payload: bool) -> Envelope:
        """Send an envelope on one of the app's connections (the next one in turn), or as soon as
        there is one: Slack holds what it has to deliver while the app reconnects."""
        envelope = Envelope(
            f"env-{next(self._envelope_ids):06d}-{secrets.token_hex(4)}",
            kind,
            payload,
            accepts_response_payload,
        )
        with self.lock:
            self.envelopes[envelope.id] = envelope
            self._send(envelope, "")
        return envelope

    def wait(self, envelope: Envelope, timeout: float = 20.0) -> dict[str, Any] | None:
        """The acknowledgement's payload (None when it carried none), once it has come; raises
        NotAcknowledged when Slack gave up waiting for it (or after `timeout`)."""
        envelope.settled.wait(timeout)
        if not envelope.acknowledged.is_set():
            raise NotAcknowledged(envelope.id)
        return envelope.response

    def late(self) -> list[Envelope]:
        """The events delivered more than once because an acknowledgement did not come in time."""
        with self.lock:
            return [envelope for envelope in self.envelopes.values() if envelope.attempt > 0]

    def timed_out(self) -> list[Envelope]:
        """The envelopes never acknowledged in time: commands and interactions whose person saw
        that the app did not answer, and events delivered their last time."""
        with self.lock:
            return [envelope for envelope in self.envelopes.values() if envelope.given_up]

    def open_links(self) -> list[int]:
        """The connections Slack delivers on."""
        with self.lock:
            return [link.id for link in self.links.values() if link.open and link.accepting]

    def wait_for_links(
        self, count: int, timeout: float = 20.0, *, besides: set[int] | None = None
    ) -> list[int]:
        """Wait until the app holds `count` connections (other than `besides`)."""
        deadline = time.monotonic() + timeout
        with self.lock:
            while True:
                links = [i for i in self.open_links() if i not in (besides or set())]
                if len(links) >= count:
                    return links
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{len(links)} of {count} connections after {timeout} s")
                self.lock.wait(left)

    def refresh(self, link_id: int, *, warn_seconds: float = 5.0) -> None:
        """Ask the app to move to a new connection, as Slack does every few hours: a `warning`
        first and, if the connection is still open `warn_seconds` later (Slack waits about 10;
        slack-sdk takes up to 3 to close a connection it has left), `refresh_requested`."""
        with self.lock:
            link = self.links[link_id]
        self._say(link, {"type": "disconnect", "reason": "warning", "debug_info": DEBUG_INFO})

        def then() -> None:
            if not self._stopped.wait(warn_seconds) and link.open:
                self.request_refresh(link_id)

        threading.Thread(target=then, daemon=True).start()

    def request_refresh(self, link_id: int) -> None:
        """`refresh_requested`: nothing more is delivered on the connection, and it closes a
        moment later (the emulator's choice: long enough for acknowledgements on their way)."""
        with self.lock:
            link = self.links[link_id]
            link.accepting = False
        self._say(link, {"type": "disconnect", "reason": "refresh_requested", "debug_info": DEBUG_INFO})
        threading.Timer(1.0, self._close, args=(link,)).start()

    def drop(self, link_id: int) -> None:
        """The connection is lost outright: no close frame, as when a network goes down."""
        with self.lock:
            link = self.links[link_id]
            link.open = False
            self.lock.notify_all()
        with contextlib.suppress(OSError):
            link.websocket.socket.shutdown(socket.SHUT_RDWR)

    def disable(self) -> None:
        """Socket Mode turned off in the app's settings: `link_disabled` on every connection."""
        with self.lock:
            self.enabled = False
            links = [link for link in self.links.values() if link.open]
        for link in links:
            self._say(link, {"type": "disconnect", "reason": "link_disabled", "debug_info": DEBUG_INFO})
            self._close(link)

    def lose_acknowledgements(self, count: int = 1) -> None:
        """The next `count` acknowledgements never reach Slack (lost with their connection):
        their envelopes come again when their 3 seconds are up."""
        with self.lock:
            self._acks_to_lose += count

    def enable(self) -> None:
        with self.lock:
            self.enabled = True

    # ---- the connections ----------------------------------------------------------------------
    def _check_ticket(self, connection: ServerConnection, request: Request) -> Response | None:
        query = parse_qs(urlparse(request.path).query)
        ticket = (query.get("ticket") or [""])[0]
        with self.lock:
            issued = self._tickets.pop(ticket, None)
            fresh = issued is not None and time.monotonic() - issued < TICKET_SECONDS
            if not fresh:
                self.refusals.append("invalid_ticket")
                return connection.respond(HTTPStatus.UNAUTHORIZED, "invalid or used ticket\n")
        return None

    def _serve(self, websocket: ServerConnection) -> None:
        with self.lock:
            link = Link(next(self._link_ids), websocket, time.monotonic())
            count = sum(1 for other in self.links.values() if other.open) + 1
            crowded = count > self.max_connections
            if crowded:
                self.refusals.append("too_many_websockets")
        if crowded:
            self._say(link, {"type": "disconnect", "reason": "too_many_websockets", "debug_info": DEBUG_INFO})
            return
        # hello first: nothing is delivered on a connection before it
        self._say(
            link,
            {
                "type": "hello",
                "num_connections": count,
                "debug_info": {"host": "applink-1", "build_number": 1, "approximate_connection_time": 18060},
                "connection_info": {"app_id": APP_ID},
            },
        )
        with self.lock:
            self.links[link.id] = link
            self.connections_opened += 1
            self.lock.notify_all()
            # Whatever waited for a connection goes out on this one.
            for envelope in self.envelopes.values():
                if envelope.sent_at is None and not envelope.acknowledged.is_set():
                    self._send(envelope, "timeout" if envelope.attempt else "")
        try:
            for message in websocket:
                self._received(link, message)
        except ConnectionClosed:
            pass
        finally:
            with self.lock:
                link.open = False
                self.lock.notify_all()

    def _received(self, link: Link, message: str | bytes) -> None:
        try:
            answer = json.loads(message)
        except ValueError:
            answer = None
        if not isinstance(answer, dict) or not isinstance(answer.get("envelope_id"), str):
            with self.lock:
                self.refusals.append("not_an_acknowledgement")
            return
        with self.lock:
            envelope = self.envelopes.get(answer["envelope_id"])
            if envelope is not None and self._acks_to_lose > 0 and not envelope.acknowledged.is_set():
                self._acks_to_lose -= 1
                return
            if envelope is None:
                self.refusals.append("unknown_envelope")
                return
            if envelope.acknowledged.is_set():
                self.duplicate_acks += 1
                return
            payload = answer.get("payload")
            if payload is not None and not isinstance(payload, dict):
                self.refusals.append("payload_not_an_object")
                return
            if payload and not envelope.accepts_response_payload:
                # Slack ignores it; the emulator records it, since it is a mistake of the app's.
                self.refusals.append("payload_not_accepted")
            if envelope.given_up:  # too late: Slack had told the person, or stopped delivering it
                self.refusals.append("acknowledged_too_late")
                return
            envelope.response = payload or None
            if envelope.first_sent is not None:
                envelope.acknowledged_after = time.monotonic() - envelope.first_sent
            envelope.acknowledged.set()
            envelope.settled.set()
            self.lock.notify_all()

    def _send(self, envelope: Envelope, reason: str) -> None:
        """Called holding the lock: deliver `envelope` on the next open connection, preferring
        one other than its last; with none open, it waits for the next connection."""
        links = [link for link in self.links.values() if link.open and link.accepting]
        if not links:
            envelope.sent_at = None
            return
        others = [link for link in links if link.id != envelope.link] or links
        link = others[next(self._turn) % len(others)]
        envelope.link, envelope.sent_at = link.id, time.monotonic()
        if envelope.first_sent is None:
            envelope.first_sent = envelope.sent_at
        self.deliveries.append(Delivery(envelope.id, link.id, envelope.attempt, reason))
        message = {
            "envelope_id": envelope.id,
            "type": envelope.type,
            "payload": envelope.payload,
            "accepts_response_payload": envelope.accepts_response_payload,
            "retry_attempt": envelope.attempt,
            "retry_reason": reason,
        }
        self._say(link, message)

    def _watch(self) -> None:
        """Deliver again what was not acknowledged in time, up to `retries` times."""
        while not self._stopped.wait(0.05):
            now = time.monotonic()
            with self.lock:
                for envelope in self.envelopes.values():
                    if envelope.acknowledged.is_set() or envelope.given_up or envelope.sent_at is None:
                        continue
                    if now - envelope.sent_at < self.ack_seconds:
                        continue
                    if not envelope.retried or envelope.attempt >= self.retries:
                        envelope.given_up = True
                        envelope.settled.set()
                        self.lock.notify_all()
                        continue
                    envelope.attempt += 1
                    self._send(envelope, "timeout")

    def _say(self, link: Link, message: dict[str, Any]) -> None:
        try:
            link.websocket.send(json.dumps(message))
        except (ConnectionClosed, OSError):
            link.open = False

    def _close(self, link: Link) -> None:
        with contextlib.suppress(ConnectionClosed, OSError):
            link.websocket.close()
        with self.lock:
            link.open = False
            self.lock.notify_all()
