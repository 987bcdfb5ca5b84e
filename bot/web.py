"""The WSGI application served in production (gunicorn) and in the tests.

Nothing reaches bolt before its signature has been checked here: a request that is too
large, unsigned, signed with a malformed or stale timestamp, or signed with another secret
is answered 401 (or 411/413) having caused nothing else: no Slack call, no database query,
no log line carrying what it said.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

from slack_bolt import App, BoltRequest, BoltResponse

from bot.db import Database
from bot.signature import MAX_BODY_BYTES, verify

log = logging.getLogger("casehub.web")

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
EVENTS_PATH = "/slack/events"


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
        query = parse_qs(environ.get("QUERY_STRING") or "")
        response: BoltResponse = app.dispatch(
            BoltRequest(body=body.decode("utf-8", errors="replace"), query=query, headers=headers)
        )
        content = response.body.encode() if isinstance(response.body, str) else response.body
        start_response(
            f"{response.status} {_REASONS.get(response.status, 'OK')}",
            [(name, value) for name, values in response.headers.items() for value in values]
            + [("Content-Length", str(len(content)))],
        )
        return [content]

    return handle


_REASONS = {200: "OK", 401: "Unauthorized", 404: "Not Found", 500: "Internal Server Error"}


def wsgi_app(app: App, db: Database, secret: str) -> WSGIApp:
    slack = slack_events(app, secret)

    def health() -> dict[str, Any]:
        database = db.is_reachable()
        return {"ok": database, "database": "up" if database else "down"}

    def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == "/healthz":
            report = health()
            healthy = report["ok"]
            body = json.dumps(report).encode()
            start_response(
                "200 OK" if healthy else "503 Service Unavailable",
                [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
            )
            return [body]
        if environ.get("PATH_INFO") == EVENTS_PATH:
            return slack(environ, start_response)
        return _answer(start_response, "404 Not Found", b"Not Found", "text/plain")

    return application


def application_from_environment() -> WSGIApp:
    """gunicorn's entry point: `gunicorn 'bot.web:application_from_environment()'`.

    Loaded in each serving process (not before forking): the workers' threads start here.
    """
    import atexit

    from bot.app import assemble, prepare_identifier_check
    from bot.settings import load_settings

    settings = load_settings()
    db = Database(settings.database_url)
    db.check_migrated()
    casehub = assemble(settings, db)
    prepare_identifier_check()
    casehub.start()
    # On a deploy or restart the running jobs get the platform's grace period to finish.
    atexit.register(casehub.stop)
    return wsgi_app(casehub.app, db, settings.slack_signing_secret.get_secret_value())
