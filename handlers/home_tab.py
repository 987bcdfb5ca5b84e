"""The App Home tab: published when opened, refreshed by its buttons."""

from __future__ import annotations

from typing import Any

from slack_bolt import App, BoltContext
from slack_sdk import WebClient

from flows import home
from handlers import case_modals
from handlers.common import deferred, deps, request_ref


def register(app: App) -> None:
    app.event("app_home_opened")(**deferred(home_opened))
    app.action("home_refresh")(**deferred(refresh))
    app.action("home_open_case")(**deferred(open_case_form, urgent=True))


def home_opened(event: dict[str, Any], body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    if event.get("tab", "home") == "home":
        home.publish(deps(context).db, client, deps(context).settings, event["user"], ref=request_ref(body))


def refresh(body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    home.publish(deps(context).db, client, deps(context).settings, body["user"]["id"], ref=request_ref(body))


def open_case_form(body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    """The same form as `/case open`."""
    user = body["user"]["id"]
    client.views_open(trigger_id=body["trigger_id"], view=case_modals.case_form(deps(context), user, user))
