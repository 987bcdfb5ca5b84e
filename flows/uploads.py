"""Files sent to someone by direct message, found again: an attempt cut off after Slack took
them (its answer lost, the process killed) asks Slack before sending them a second time."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.slack import describe_error

log = logging.getLogger(__name__)


def arrived(client: WebClient, user: str, title: str, since: datetime | None) -> tuple[str, list[str]] | None:
    """Whether files, one of them titled `title`, are in the person's direct messages with casehub
    since about `since`: the channel and the files' ids, or None (also when Slack cannot say)."""
    oldest = (since - timedelta(minutes=1)).timestamp() if since is not None else 0
    try:
        channel = client.conversations_open(users=user)["channel"]["id"]
        history = client.conversations_history(channel=channel, oldest=str(oldest), limit=200)
    except (SlackApiError, OSError) as error:
        log.warning("cannot check whether files arrived: %s", describe_error(error))
        return None
    messages: list[dict[str, Any]] = history.get("messages") or []
    for message in messages:
        files = message.get("files") or []
        if any(f.get("title") == title for f in files):
            return channel, [str(f.get("id")) for f in files]
    return None
