"""The WSGI application served in production (gunicorn) and in the tests.

Nothing reaches bolt before its signature has been checked here: a request that is too
large, unsigned, signed with a malformed or stale timestamp, or signed with another secret
is answered 401 (or 411/413) having caused nothing else: no Slack call, no database query,
no log line carrying what it said.
"""

from __future__ import annotations

import io
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from http import HTTPStatus
from typing import Any, Protocol
from urllib.parse import parse_qs

from prometheus_client import make_wsgi_app
from slack_bolt import App, BoltRequest, BoltResponse
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from bot import logs, metrics
from bot.db import Database
from bot.signature import MAX_BODY_BYTES, verify

log = logging.getLogger("casehub.web")

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
EVENTS_PATH = "/slack/events"
DESK_PATH = "/desk"


def _answer(start_response: Callable[..., Any], status: str, body: bytes, kind: str) -> list[bytes]:
    start_response(status, [("Content-Type", kind), ("Content-Length", str(len(body)))])
    return [body]


def _refuse(start_response: Callable[..., Any], status: str) -> list[bytes]:
    return _answer(start_response, status, b'{"error":"invalid request"}', "application/json")


def _headers(environ: dict[str, Any]) -> dict[str, str]:
    headers = {
        key[5:].replace("_", "-").lower(): value for key, value in environ.items() if key.startswith("HTTP_")
    }
    if environ.get("CONTENT_TYPE"):
        headers["content-type"] = environ["CONTENT_TYPE"]
    return headers


def slack_events(app: App, secret: str) -> WSGIApp:
    """POST /slack/events: verified here, then dispatched by bolt."""

    def handle(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") != "POST":
            return _answer(start_response, "405 Method Not Allowed", b"", "text/plain")
        try:
            length = int(environ.get("CONTENT_LENGTH") or "")
        except ValueError:
            return _refuse(start_response, "411 Length Required")
        if length < 0 or length > MAX_BODY_BYTES:
            log.warning("refused a request of %d bytes (limit %d)", length, MAX_BODY_BYTES)
            return _refuse(start_response, "413 Content Too Large")
        body = environ["wsgi.input"].read(length) if length else b""
        headers = _headers(environ)
        if len(body) != length or not verify(secret, body, headers):
            log.warning("refused a request whose signature could not be verified")
            return _refuse(start_response, "401 Unauthorized")
        # bolt's request takes invariant dicts of sequences: copies typed as such, not casts.
        query: dict[str, Sequence[str]] = dict(parse_qs(environ.get("QUERY_STRING") or ""))
        bolt_headers: dict[str, str | Sequence[str]] = dict(headers)
        response: BoltResponse = app.dispatch(
            BoltRequest(body=body.decode("utf-8", errors="replace"), query=query, headers=bolt_headers)
        )
        content = response.body.encode() if isinstance(response.body, str) else response.body
        start_response(
            f"{response.status} {HTTPStatus(response.status).phrase}",
            [(name, value) for name, values in response.headers.items() for value in values]
            + [("Content-Length", str(len(content)))],
        )
        return [content]

    return handle


class QueueStatus(Protocol):
    """The queue that runs acknowledged work, as readiness and `/metrics` read it."""

    def stats(self) -> dict[str, float | int]:
        """`queued`, `running`, `parked`, `oldest_age_seconds`, `workers_alive`, `workers_expected`."""
        ...


class SlackStatus(Protocol):
    def state(self) -> str:
        """`ok`, `checking`, `unreachable` or `invalid`: only `ok` is ready."""
        ...


# Longer than a healthy database ever takes, well within a probe's usual timeout.
DATABASE_CHECK_SECONDS = 2.0
_KIND_NAME = re.compile(r"[a-z_]{1,64}")
_COMMAND_NAME = re.compile(r"/[a-z0-9_-]{1,32}")


class DatabaseCheck:
    """`SELECT 1`, answered within `timeout`: a database that hangs is as unready as one that refuses.

    One check runs at a time, on a thread of its own; probes that arrive while it hangs share
    its answer instead of piling up threads waiting for the same database.
    """

    def __init__(self, db: Database, timeout: float = DATABASE_CHECK_SECONDS) -> None:
        self.db, self.timeout = db, timeout
        self._lock = threading.Lock()
        self._pending: Future[bool] | None = None

    def up(self) -> bool:
        with self._lock:
            if self._pending is None or self._pending.done():
                self._pending = Future()
                threading.Thread(target=self._run, args=(self._pending,), daemon=True).start()
            pending = self._pending
        try:
            return pending.result(timeout=self.timeout)
        except TimeoutError:
            return False

    def _run(self, answer: Future[bool]) -> None:
        answer.set_result(self.db.is_reachable())


def request_kind(body: bytes, content_type: str) -> str:
    """What a verified request is, as a metric label: `command:/case`, `view_submission`,
    `event:app_home_opened`, … Only names are read: the command, the payload or event type."""
    if content_type.startswith("application/json"):
        return payload_kind(_json_object(body))
    form = parse_qs(body.decode("utf-8", errors="replace"))
    if "payload" in form:
        return payload_kind(_json_object(form["payload"][0]))
    return payload_kind({"command": form.get("command", [""])[0]})


def payload_kind(payload: dict[str, Any]) -> str:
    """The metric label of what Slack sent, as a payload: a slash command's fields, an
    interaction, or an event's envelope (over HTTP or in a Socket Mode envelope alike)."""
    if payload.get("type") == "event_callback":
        event = payload.get("event")
        return _named("event:", event.get("type") if isinstance(event, dict) else None)
    if "command" in payload:
        command = payload.get("command")
        return (
            f"command:{command}" if isinstance(command, str) and _COMMAND_NAME.fullmatch(command) else "other"
        )
    return _named("", payload.get("type"))


def _json_object(text: str | bytes) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _named(prefix: str, name: object) -> str:
    return prefix + name if isinstance(name, str) and _KIND_NAME.fullmatch(name) else "other"


def _buffered_body(environ: dict[str, Any]) -> bytes | None:
    """The body, read within the size limit and put back for the next reader; None when it is
    left unread (no length, or too long) for the Slack endpoint to refuse."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or "")
    except ValueError:
        return None
    if not 0 <= length <= MAX_BODY_BYTES:
        return None
    body = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def acknowledgements_counted(events: WSGIApp, secret: str) -> WSGIApp:
    """Counts and times each request to the Slack endpoint, by kind and HTTP status.

    The kind is read only from a body whose signature holds: anyone can send a request,
    and an unsigned one could otherwise make up label values without end.
    """

    def handle(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        started = time.perf_counter()
        body = _buffered_body(environ)
        statuses: list[int] = []

        def start(status: str, headers: list[tuple[str, str]], *exc_info: Any) -> Any:
            statuses.append(int(status.split(" ", 1)[0]))
            return start_response(status, headers, *exc_info)

        try:
            answer = events(environ, start)
        finally:
            seconds = time.perf_counter() - started
            kind = "unverified"
            if body is not None and verify(secret, body, _headers(environ)):
                kind = request_kind(body, environ.get("CONTENT_TYPE") or "")
            metrics.request_answered(kind, statuses[-1] if statuses else 500, seconds)
        return answer

    return handle


def _json_answer(start_response: Callable[..., Any], ok: bool, report: dict[str, Any]) -> list[bytes]:
    status = "200 OK" if ok else "503 Service Unavailable"
    return _answer(start_response, status, json.dumps(report).encode(), "application/json")


def wsgi_app(
    app: App | None,
    db: Database,
    secret: str,
    *,
    queue: QueueStatus | None = None,
    slack: SlackStatus | None = None,
    desk: WSGIApp | None = None,
) -> WSGIApp:
    """casehub's HTTP surface: Slack's requests (without `app`, in Socket Mode, none), liveness,
    readiness, metrics and, when given, the record desk under `/desk`.

    `/healthz` answers whenever the process serves; `/readyz` checks the database and, when
    given, the queue's workers and Slack (with its Socket Mode connections, when it has some).
    """
    events = acknowledgements_counted(slack_events(app, secret), secret) if app is not None else None
    database = DatabaseCheck(db)
    metrics_page = make_wsgi_app(metrics.make_registry(db, queue.stats if queue is not None else None))

    def readiness() -> tuple[bool, dict[str, Any]]:
        checks: dict[str, dict[str, Any]] = {"database": {"ok": database.up()}}
        if queue is not None:  # acknowledged work is done there: without its workers it would wait
            try:
                stats = queue.stats()
            except Exception as error:
                log.warning("the queue's status could not be read: %s", type(error).__name__)
                checks["queue"] = {"ok": False}
            else:
                alive = stats.get("workers_alive") == stats.get("workers_expected")
                checks["queue"] = {"ok": alive, **stats}
        if slack is not None:
            state = slack.state()
            checks["slack"] = {"ok": state == "ok", "state": state}
            connections = getattr(slack, "connections", None)
            if callable(connections):
                checks["slack"]["connections"] = connections()
        ready = all(check["ok"] for check in checks.values())
        return ready, {"ok": ready, "checks": checks}

    def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO")
        with logs.request_scope(logs.new_request_id(environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP"))):
            if path == EVENTS_PATH and events is not None:
                return events(environ, start_response)
            if path == "/healthz":  # alive: nothing else is asked, so a busy database cannot fail it
                return _json_answer(start_response, True, {"ok": True})
            if path == "/readyz":
                return _json_answer(start_response, *readiness())
            if path == "/metrics":
                return metrics_page(environ, start_response)
            return _answer(start_response, "404 Not Found", b"Not Found", "text/plain")

    if desk is not None:
        return DispatcherMiddleware(application, {DESK_PATH: desk})
    return application


def application_from_environment() -> WSGIApp:
    """gunicorn's entry point: `gunicorn 'bot.web:application_from_environment()'`.

    Loaded in each serving process (not before forking): the workers' threads start here.
    """
    import atexit

    from bot.app import assemble, prepare_identifier_check
    from bot.keys import check_at_start, check_matching_at_start, encrypt_with
    from bot.settings import load_settings

    settings = load_settings()
    encrypt_with(settings)
    db = Database(settings.database_url)
    db.check_migrated()
    check_at_start(db)
    check_matching_at_start(db)
    casehub = assemble(settings, db)
    prepare_identifier_check()
    casehub.start()
    # On a deploy or restart the running jobs get the platform's grace period to finish.
    atexit.register(casehub.stop)
    return wsgi_app(
        casehub.app,
        db,
        settings.signing_secret(),
        queue=casehub,
        slack=casehub.identity,
        desk=desk_for(db, settings),
    )


def desk_for(db: Database, settings: Any) -> WSGIApp | None:
    """The record desk, when Sign in with Slack is configured (`desk.app.enabled`)."""
    from desk.app import create_desk, enabled

    return create_desk(db, settings) if enabled(settings) else None
