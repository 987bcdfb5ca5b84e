"""Putting a stored update in front of the case channel, and keeping the message current."""

from __future__ import annotations

import logging

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from blocks import updates as update_blocks
from bot.db import Database
from bot.slack import describe_error
from models import Case, Risk, Update

log = logging.getLogger(__name__)


def post(db: Database, client: WebClient, *, update_id: int, filer: str) -> None:
    """Post (once) the channel message for a stored update; offer a crisis on a critical risk."""
    with db.reader() as session:
        update = session.get_one(Update, update_id)
        case = session.get_one(Case, update.case_id)
        if update.channel_ts is not None:
            return
        channel = case.channel_id
        text, blocks = update_blocks.update_message(update, case)
        critical = update.risk is Risk.CRITICAL
        prompt = update_blocks.critical_prompt(update, case) if critical else None
    try:
        ts = client.chat_postMessage(channel=channel, text=text, blocks=blocks)["ts"]
    except SlackApiError as error:
        # The update is on record; tell the filer it is not yet in the channel.
        client.chat_postMessage(
            channel=filer,
            text=f"Your update is recorded, but posting it to the case channel failed "
            f"({describe_error(error)}). Partners see it in `/case timeline`.",
        )
        return
    with db.session() as session:
        session.get_one(Update, update_id).channel_ts = ts
    if prompt:
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
        channel, ts, restricted = case.channel_id, update.channel_ts, update.restricted
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
