"""An action's message in the case channel: posted once, then kept in step with the record."""

from __future__ import annotations

import logging

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from blocks import actions as action_blocks
from bot import jobs
from bot.db import Database
from bot.slack import describe_error
from flows import notify
from models import Action, Case, utcnow
from services import outbox

log = logging.getLogger(__name__)


def post_or_refresh(db: Database, client: WebClient, *, action_id: int) -> str | None:
    """Returns a problem to tell the user about, or None.

    The first message goes through the outbox (see `update_posting.post`): posted once, and
    posted later if Slack cannot take it now.
    """
    with db.reader() as session:
        action = session.get_one(Action, action_id)
        case = session.get_one(Case, action.case_id)
        text, blocks = action_blocks.action_message(action, case)
        channel, ts, lead = case.channel(), action.channel_ts, case.lead_user_id
    try:
        if ts is None:
            notify.post_once(
                db,
                client,
                key=outbox.post_key(outbox.ACTION_POST, action_id),
                channel=channel,
                recipient=lead,
                text=text,
                blocks=blocks,
                now=utcnow(),
            )
        else:
            client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks)
    except (SlackApiError, OSError) as error:
        if jobs.will_retry(error):
            raise
        log.warning("could not show action %s in its channel: %s", action_id, describe_error(error))
        if ts is None:
            return (
                f"the action is recorded, but its channel message could not be posted yet "
                f"({describe_error(error)}); casehub will post it as soon as Slack takes it"
            )
        return (
            f"the change is recorded, but the channel message could not be updated ({describe_error(error)})"
        )
    return None
