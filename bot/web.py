"""The WSGI application served in production (gunicorn) and in the tests."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler

from bot.db import Database

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def wsgi_app(app: App, db: Database) -> WSGIApp:
    slack = SlackRequestHandler(app, path="/slack/events")

    def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == "/healthz":
            healthy = db.is_reachable()
            body = json.dumps({"ok": healthy, "database": "up" if healthy else "down"}).encode()
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
    return wsgi_app(create_app(settings, db), db)
