"""`member_joined_channel`: someone without a need to know joined a case channel."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import App, BoltContext
from slack_sdk import WebClient

from blocks import messages
from flows import case_channel
from handlers.common import deferred, deps
from services import audit, cases, deliveries

log = logging.getLogger(__name__)


def register(app: App) -> None:
    app.event("member_joined_channel")(**deferred(member_joined))


def member_joined(
    body: dict[str, Any], event: dict[str, Any], client: WebClient, context: BoltContext
) -> None:
    d = deps(context)
    user, channel = event["user"], event["channel"]
    if user == context.bot_user_id:
        return
    with d.db.session() as session:
        # Slack retries unacknowledged events; bolt does not deduplicate, so the event_id does.
        if not deliveries.claim(session, f"event:{body['event_id']}"):
            return
        case = cases.in_channel(session, channel)
        if case is None or user in cases.entitled_users(session, case):
            return
        strict = d.settings.strict_membership
        audit.record(
            session,
            actor=user,
            action="case.stranger_joined",
            request_ref=f"event:{body['event_id']}",
            case=case,
            user=user,
            removed=strict,
        )
        lead, notice = case.lead_user_id, messages.stranger_joined(case, user, removed=strict)
    if strict:
        failed = case_channel.remove(client, channel, [user])
        if failed:
            notice = messages.stranger_joined_not_removed(notice)
    client.chat_postMessage(channel=lead, text=notice)
