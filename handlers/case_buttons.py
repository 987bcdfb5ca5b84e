"""Buttons on casehub's case notices: retry a channel setup, retry archiving."""

from __future__ import annotations

from typing import Any

from slack_bolt import App, BoltContext
from slack_sdk import WebClient

from flows import case_channel
from handlers.common import deferred, deps, request_ref
from services import cases


def register(app: App) -> None:
    app.action("case_setup_retry")(**deferred(retry_setup))
    app.action("case_archive_retry")(**deferred(retry_archive))


def retry_setup(
    body: dict[str, Any], action: dict[str, Any], client: WebClient, context: BoltContext
) -> None:

    d = deps(context)
    case_channel.finish_setup(
        d.db,
        client,
        reference=action["value"],
        prefix=d.settings.case_channel_prefix,
        user=body["user"]["id"],
        request_ref=request_ref(body),
        bot_user_id=context.bot_user_id or "",
    )


def retry_archive(
    body: dict[str, Any], action: dict[str, Any], client: WebClient, context: BoltContext
) -> None:

    d, user = deps(context), body["user"]["id"]
    with d.db.reader() as session:
        case = cases.get_by_reference(session, action["value"])
        cases.require_lead(case, user, "archive this case's channel")
    case_channel.archive_and_report(d.db, client, case_id=case.id, user=user)
