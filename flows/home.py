"""Publishing a person's App Home."""

from __future__ import annotations

from slack_sdk import WebClient

from blocks import home as home_blocks
from bot.db import Database
from services import home


def publish(db: Database, client: WebClient, user: str) -> None:
    with db.reader() as session:
        view = home_blocks.home(home.gather(session, user))
    client.views_publish(user_id=user, view=view)
