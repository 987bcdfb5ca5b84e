"""Putting a stored update in front of the case channel, and keeping the message current."""

from __future__ import annotations

import logging

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from blocks import updates as update_blocks
from bot import jobs
from bot.db import Database
from bot.slack import describe_error
from flows import notify
from models import Case, Risk, Update, utcnow
from services import outbox

log = logging.getLogger(__name__)


def post(db: Database, client: WebClient, *, update_id: int, filer: str) -> None:
    """Post (once) the channel message for a stored update; offer a crisis on a critical risk.

    The message goes through the outbox: if Slack cannot take it now, the job is tried again,
    and after its last attempt the filer is told it will appear once Slack answers.
    """
    with db.reader() as session:
        update = session.get_one(Update, update_id)
        case = session.get_one(Case, update.case_id)
        if update.channel_ts is not None:
            return
        channel = case.channel()
        text, blocks = update_blocks.update_message(update, case)
        critical = update.risk is Risk.CRITICAL
        prompt = update_blocks.critical_prompt(update, case) if critical else None
    try:
        ts = notify.post_once(
            db,
            client,
            key=outbox.post_key(outbox.UPDATE_POST, update_id),
            channel=channel,
            recipient=filer,
            text=text,
            blocks=blocks,
            now=utcnow(),
        )
    except (SlackApiError, OSError) as error:
        if jobs.will_retry(error):
            raise
        # The update is on record, and its message waits in the outbox for Slack to answer.
        log.warning("update %s not yet in its channel: %s", update_id, describe_error(error))
        try:
            client.chat_postMessage(
                channel=filer,
                text=f"Your update is recorded, but posting it to the case channel failed "
                f"({describe_error(error)}). casehub will post it as soon as Slack takes it; "
                "partners see it in `/case timeline` meanwhile.",
            )
        except (SlackApiError, OSError) as again:  # Slack is down for this too; the post still waits
            log.warning("could not tell the filer of update %s: %s", update_id, describe_error(again))
        return
    if ts is not None and prompt:
        client.chat_postEphemeral(channel=channel, user=filer, text="Raise a crisis?", blocks=prompt)


def refresh(db: Database, client: WebClient, *, update_id: int) -> None:
    """Show a corrected update. The channel message is the only place casehub posts an update's
    text, so an update restricted after filing is taken back there: the message becomes the
    restricted notice, or is deleted if Slack refuses the edit."""
    with db.reader() as session:
        update = session.get_one(Update, update_id)
        case = session.get_one(Case, update.case_id)
        if update.channel_ts is None:
            return
        text, blocks = update_blocks.update_message(update, case)
        channel, ts, restricted = case.channel(), update.channel_ts, update.restricted
    try:
        client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks)
    except SlackApiError as error:
        log.warning("could not refresh update %s: %s", update_id, describe_error(error))
        if restricted:
            try:
                client.chat_delete(channel=channel, ts=ts)
            except SlackApiError as again:
                log.error(
                    "restricted update %s is still shown in full in its channel: %s",
                    update_id,
                    describe_error(again),
                )
