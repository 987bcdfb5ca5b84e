"""A referral's messages: what its recording owes (the referrer's receipt, the hub's card, the
urgent alerts), what its decision owes (the referrer's outcome), and the card kept current."""

from __future__ import annotations

import logging

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import update
from sqlalchemy.orm import Session

from blocks import referrals as referral_blocks
from bot.db import Database
from bot.slack import describe_error
from flows import notify
from models import Agency, Area, Notice
from models.referral import Referral, Urgency
from services import areas, outbox

log = logging.getLogger(__name__)


def key(referral: Referral, what: str) -> str:
    return f"referral:{referral.id}:{what}"


def owe_on_receipt(session: Session, referral: Referral, *, desk_url: str | None = None) -> None:
    """In the transaction that records the referral: the referrer's receipt (with where to record
    who it is about, when the record desk is served), the card in the area's hub channel (when it
    has one), and for an urgent one a message to each coordinator."""
    area = session.get_one(Area, referral.area_id)
    agency = session.get_one(Agency, referral.agency_id)
    coordinators = sorted(areas.coordinators(session, area.id))
    outbox.owe(
        session,
        key(referral, "received"),
        text=referral_blocks.received_text(referral, area, desk_url=desk_url),
        recipient=referral.referrer,
    )
    if area.hub_channel_id:
        outbox.owe(
            session,
            key(referral, "card"),
            text=referral_blocks.card_text(referral, agency),
            recipient=coordinators[0] if coordinators else referral.referrer,
            channel=area.hub_channel_id,
            blocks=referral_blocks.card(referral, agency),
        )
    if referral.urgency is Urgency.URGENT:
        for user in coordinators:
            outbox.owe(
                session,
                key(referral, f"urgent:{user}"),
                text=referral_blocks.urgent_text(referral, agency),
                recipient=user,
            )


def owe_outcome(session: Session, referral: Referral) -> None:
    """In the transaction that records the decision: the referrer is told the outcome, once."""
    area = session.get_one(Area, referral.area_id)
    outbox.owe(
        session,
        key(referral, "outcome"),
        text=referral_blocks.outcome_text(referral, area),
        recipient=referral.referrer,
    )


def send(db: Database, client: WebClient, referral_id: int) -> None:
    """Send what the referral owes and not yet sent; remember where its card was posted."""
    with db.reader() as session:
        keys = outbox.keys_under(session, f"referral:{referral_id}:")
    notify.send_owed(db, client, keys)
    with db.session() as session:
        referral = session.get_one(Referral, referral_id)
        card = session.get(Notice, key(referral, "card"))
        if referral.hub_ts is None and card is not None and card.state == "sent" and card.ts:
            referral.hub_channel_id, referral.hub_ts = card.channel, card.ts


def refresh_card(db: Database, client: WebClient, referral_id: int) -> None:
    """The hub's card as the referral now stands: edited where it was posted, or changed in the
    outbox before it is."""
    with db.session() as session:
        referral = session.get_one(Referral, referral_id)
        agency = session.get_one(Agency, referral.agency_id)
        text, blocks = referral_blocks.card_text(referral, agency), referral_blocks.card(referral, agency)
        card_key = key(referral, "card")
        card = session.get(Notice, card_key)
        if card is None:
            return
        if card.state != "sent":
            session.execute(
                update(Notice)
                .where(Notice.key == card_key, Notice.state.in_(("pending", "failed")))
                .values(text=text, blocks=blocks)
            )
        posted = card.state == "sent"
        channel, ts = referral.hub_channel_id or card.channel, referral.hub_ts or card.ts
    if not posted or not channel or not ts:
        return
    try:
        client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks)
    except SlackApiError as error:  # the decision stands; the card shows it at the next change
        log.warning("referral card not updated: %s", describe_error(error))
