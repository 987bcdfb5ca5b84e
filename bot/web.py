"""The WSGI application served in production (gunicorn) and in the tests."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler

from bot.db import Database
from bot.work import ProcessLazyListenerRunner

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def wsgi_app(app: App, db: Database) -> WSGIApp:
    slack = SlackRequestHandler(app, path="/slack/events")
    lazy = app.listener_runner.lazy_listener_runner
    workers = lazy if isinstance(lazy, ProcessLazyListenerRunner) else None

    def health() -> dict[str, Any]:
        database = db.is_reachable()
        report: dict[str, Any] = {"ok": database, "database": "up" if database else "down"}
        if workers is not None:  # acknowledged work is done there: without them it would wait
            report["workers"] = status = workers.status()
            report["ok"] = database and status["ready"] == status["expected"]
        return report

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
        return slack(environ, start_response)

    return application


def application_from_environment() -> WSGIApp:
    """gunicorn's entry point: `gunicorn 'bot.web:application_from_environment()'`."""
    from bot.app import create_app
    from bot.settings import load_settings

    settings = load_settings()
    db = Database(settings.database_url)
    db.check_migrated()
    app = create_app(settings, db)
    lazy = app.listener_runner.lazy_listener_runner
    if isinstance(lazy, ProcessLazyListenerRunner):
        lazy.start_workers()  # now, in the serving process, rather than on the first request
    return wsgi_app(app, db)
