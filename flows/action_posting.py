"""An action's message in the case channel: posted once, then kept in step with the record."""

from __future__ import annotations

import logging

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from blocks import actions as action_blocks
from bot.db import Database
from bot.slack import describe_error
from models import Action, Case

log = logging.getLogger(__name__)


def post_or_refresh(db: Database, client: WebClient, *, action_id: int) -> str | None:
    """Returns a problem to tell the user about, or None."""
    with db.reader() as session:
        action = session.get_one(Action, action_id)
        case = session.get_one(Case, action.case_id)
        text, blocks = action_blocks.action_message(action, case)
        channel, ts = case.channel_id, action.channel_ts
    try:
        if ts is None:
            ts = client.chat_postMessage(channel=channel, text=text, blocks=blocks)["ts"]
            with db.session() as session:
                session.get_one(Action, action_id).channel_ts = ts
        else:
            client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks)
    except SlackApiError as error:
        log.warning("could not show action %s in its channel: %s", action_id, describe_error(error))
        return (
            f"the change is recorded, but the channel message could not be updated ({describe_error(error)})"
        )
    return None
