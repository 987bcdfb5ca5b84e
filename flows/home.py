"""Publishing a person's App Home."""

from __future__ import annotations

from slack_sdk import WebClient

from blocks import crisis as crisis_blocks
from blocks import home as home_blocks
from blocks import referrals as referral_blocks
from blocks import transfers as transfer_blocks
from bot.db import Database
from bot.settings import Settings
from flows import transfers
from flows.crisis import who_lines
from models import utcnow
from services import access, agencies, home, referrals


def publish(db: Database, client: WebClient, settings: Settings, user: str, *, ref: str) -> None:
    """The person's Home, its cases recorded in the access log before it is shown."""
    now = utcnow()
    with db.reader() as session:
        data = home.gather(session, user)
        mine = [m.agency for m in agencies.memberships_of(session, user)]
        incoming, outgoing, offered = transfers.home_offers(session, user, settings)
        queue = referrals.hub_queue(session, user, limit=referral_blocks.QUEUE_SHOWN)
        own = referrals.of_referrer(session, user, limit=referral_blocks.MINE_SHOWN)
    extra = crisis_blocks.who(who_lines(db, settings, mine, now), now) if mine else []
    top = [
        *(referral_blocks.hub_queue(queue, now) if data.is_coordinator else []),
        *transfer_blocks.home_rows(incoming, outgoing),
    ]
    view = home_blocks.home(data, extra=[*referral_blocks.own_referrals(own), *extra], top=top)
    with db.session() as session:
        access.viewed(
            session, user=user, case_ids=sorted({*data.case_ids(), *offered}), view="home", request_ref=ref
        )
    client.views_publish(user_id=user, view=view)
