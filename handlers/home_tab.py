"""The App Home tab: published when opened, refreshed by its buttons."""

from __future__ import annotations

from typing import Any

from slack_bolt import App, BoltContext
from slack_sdk import WebClient

from blocks import modals
from flows import home
from handlers.common import deferred, deps, request_ref
from services import agencies, cases
from services.errors import InvalidInput


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
    with deps(context).db.reader() as session:
        cases.require_may_open(session, user)
        registry = agencies.all_agencies(session)
    if not registry:
        raise InvalidInput("There are no agencies yet.", hint="An admin adds them with `/agency add`.")
    client.views_open(
        trigger_id=body["trigger_id"],
        view=modals.open_case(
            registry, opener=user, origin_channel=user, review_weeks=deps(context).settings.review_every_weeks
        ),
    )
