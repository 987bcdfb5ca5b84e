"""What a transfer owes Slack: the offer to the receiving hub, the answers to the sending lead,
and after an acceptance, the case channel's members and header.

Every message goes through the outbox under a key beginning `transfer:<id>:`, recorded in the
change's own transaction, so a repeated request or a retried job sends nothing twice and a
Slack outage loses nothing (the scheduler's sweep sends what the request's job could not).
"""

from __future__ import annotations

import logging

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import select
from sqlalchemy.orm import Session

from blocks import transfers as transfer_blocks
from blocks.kit import escape
from bot.db import Database
from bot.settings import Settings
from bot.slack import describe_error
from flows import case_channel, notify
from models import Area, Case, CaseAgency, Membership, Notice, Transfer
from services import areas, cases, outbox, transfers

log = logging.getLogger(__name__)


def prefix(transfer_id: int, step: str) -> str:
    return f"transfer:{transfer_id}:{step}:"


def offer_of(session: Session, transfer: Transfer, settings: Settings) -> transfer_blocks.Offer:
    """The offer as the receiving hub sees it, its deadline in the receiving area's zone."""
    case = session.get_one(Case, transfer.case_id)
    from_area = session.get_one(Area, transfer.from_area_id)
    to_area = session.get_one(Area, transfer.to_area_id)
    tz = areas.calendar(to_area, settings).timezone
    return transfer_blocks.offer_of(
        transfer,
        case,
        from_area,
        to_area,
        transfers.agency_kinds(case),
        transfers.deadline_text(transfer, tz),
    )


def owe_offer(session: Session, transfer: Transfer, settings: Settings) -> None:
    """The offer's card to each receiving coordinator and to the hub's channel, and a note in
    the case channel: recorded with the offer."""
    offer = offer_of(session, transfer, settings)
    text, blocks = transfer_blocks.offer_text(offer), transfer_blocks.offer_card(offer)
    start = prefix(transfer.id, "offer")
    for user in sorted(areas.coordinators(session, transfer.to_area_id)):
        outbox.owe(session, f"{start}dm:{user}", text=text, recipient=user, blocks=blocks)
    if transfer.hub_channel_id:
        outbox.owe(
            session,
            f"{start}hub",
            text=text,
            recipient=transfer.offered_by,
            channel=transfer.hub_channel_id,
            blocks=blocks,
        )
    case = session.get_one(Case, transfer.case_id)
    if case.channel_id:
        outbox.owe(
            session,
            f"{start}case",
            text=f":outbox_tray: <@{transfer.offered_by}> has offered this case to {escape(offer.to_area)} "
            f"(answer due by {offer.deadline}). Nothing changes until that area accepts it.",
            recipient=transfer.offered_by,
            channel=case.channel_id,
        )


def send(db: Database, client: WebClient, transfer_id: int, step: str) -> None:
    """Send what a step of the transfer owes, those messages not sent yet."""
    with db.reader() as session:
        keys = outbox.keys_under(session, prefix(transfer_id, step))
    notify.send_owed(db, client, keys)


def send_offer(db: Database, client: WebClient, transfer_id: int) -> str | None:
    """The offer's messages sent; returns a problem to tell the lead. The coordinators' own
    messages come first: a hub channel casehub cannot post in (not invited, archived) does not
    hold them up, and its card is left to the sweep, which tries again."""
    hub_key = f"{prefix(transfer_id, 'offer')}hub"
    with db.reader() as session:
        keys = outbox.keys_under(session, prefix(transfer_id, "offer"))
    notify.send_owed(db, client, [key for key in keys if key != hub_key])
    problem = None
    if hub_key in keys:
        try:
            notify.send_owed(db, client, [hub_key])
        except SlackApiError as error:
            log.warning("transfer card not posted in the hub's channel: %s", describe_error(error))
            problem = (
                f"The receiving hub's channel could not be reached ({describe_error(error)}); its "
                "coordinators were told directly, and casehub keeps trying the channel."
            )
    with db.session() as session:  # where the hub's card is, to close it once answered
        transfer = session.get_one(Transfer, transfer_id)
        hub = session.get(Notice, f"{prefix(transfer_id, 'offer')}hub")
        if hub is not None and hub.ts and transfer.hub_ts is None:
            transfer.hub_ts = hub.ts
    return problem


def close_cards(db: Database, client: WebClient, settings: Settings, transfer_id: int) -> None:
    """The offer's cards (the hub's and each coordinator's) shown answered, without buttons.
    A card that cannot be changed keeps its buttons, which refuse an answer that is too late."""
    with db.reader() as session:
        transfer = session.get_one(Transfer, transfer_id)
        offer = offer_of(session, transfer, settings)
        blocks = transfer_blocks.answered_card(offer, transfer_blocks.outcome_line(transfer))
        text = f"Transfer offer of case {offer.reference}: {transfer.state.value}."
        cards = [
            (n.channel, n.ts)
            for n in session.scalars(
                select(Notice).where(
                    Notice.key.startswith(prefix(transfer_id, "offer"), autoescape=True),
                    Notice.state == "sent",
                )
            )
            if n.channel and n.ts and not n.key.endswith(":case")
        ]
    for channel, ts in cards:
        try:
            client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks)
        except SlackApiError as error:
            log.info("transfer card not closed: %s", describe_error(error))


def owe_revoked(session: Session, transfer: Transfer) -> None:
    case = session.get_one(Case, transfer.case_id)
    to_area = session.get_one(Area, transfer.to_area_id)
    start = prefix(transfer.id, "revoked")
    text = (
        f":leftwards_arrow_with_hook: <@{transfer.decided_by}> has withdrawn the offer of case "
        f"*{case.reference}* to {escape(to_area.name)}; there is nothing to answer."
    )
    for user in sorted(areas.coordinators(session, to_area.id)):
        outbox.owe(session, f"{start}{user}", text=text, recipient=user)
    if case.channel_id:
        outbox.owe(
            session,
            f"{start}case",
            text=f"The offer of this case to {escape(to_area.name)} is withdrawn; it stays in this area.",
            recipient=transfer.offered_by,
            channel=case.channel_id,
        )


def owe_rejected(session: Session, transfer: Transfer) -> None:
    case = session.get_one(Case, transfer.case_id)
    to_area = session.get_one(Area, transfer.to_area_id)
    outbox.owe(
        session,
        f"{prefix(transfer.id, 'rejected')}lead",
        text=f":x: {escape(to_area.name)} (<@{transfer.decided_by}>) rejected the transfer of case "
        f"*{case.reference}*: {escape(transfer.decision_reason or '')}\nThe case stays with you.",
        recipient=case.lead_user_id,
    )


def owe_accepted(session: Session, result: transfers.Accepted) -> None:
    transfer, case = result.transfer, result.case
    from_area = session.get_one(Area, transfer.from_area_id)
    to_area = session.get_one(Area, transfer.to_area_id)
    start = prefix(transfer.id, "accepted")
    note = f"\n_Note:_ {escape(transfer.decision_reason)}" if transfer.decision_reason else ""
    outbox.owe(
        session,
        f"{start}lead",
        text=f":white_check_mark: {escape(to_area.name)} accepted case *{case.reference}*: "
        f"<@{transfer.new_lead}> now leads it, and you and {escape(from_area.name)} are no longer "
        f"responsible for it.{note}",
        recipient=result.previous_lead,
    )
    if case.channel_id:
        joined = ", ".join(a.name for a in result.joined)
        left = ", ".join(a.name for a in result.left)
        changes = (f" Joined: {escape(joined)}." if joined else "") + (
            f" Left: {escape(left)}." if left else ""
        )
        outbox.owe(
            session,
            f"{start}case",
            text=f":inbox_tray: This case has moved from {escape(from_area.name)} to {escape(to_area.name)}: "
            f"<@{transfer.new_lead}> is its lead coordinator.{changes}",
            recipient=transfer.new_lead or "",
            channel=case.channel_id,
        )
    blocks = transfer_blocks.accepted_for_lead(
        case.reference,
        from_area.name,
        [a.name for a in result.joined],
        [a.name for a in result.left],
        result.orphaned,
    )
    outbox.owe(
        session,
        f"{start}new-lead",
        text=f"Case {case.reference} has moved to your area: you are its lead coordinator.",
        recipient=transfer.new_lead or "",
        blocks=blocks,
    )
    if transfer.decided_by and transfer.decided_by != transfer.new_lead:
        outbox.owe(
            session,
            f"{start}by",
            text=f"You accepted case {case.reference} for {escape(to_area.name)}; "
            f"<@{transfer.new_lead}> leads it.",
            recipient=transfer.decided_by,
        )


def people_touched(session: Session, transfer: Transfer) -> set[str]:
    """Everyone whose need to know an accepted transfer may have changed: who is entitled now,
    the previous lead and the members of the agencies that left with it."""
    case = session.get_one(Case, transfer.case_id)
    left = session.scalars(
        select(CaseAgency.agency_id).where(
            CaseAgency.case_id == case.id, CaseAgency.left_at == transfer.decided_at
        )
    ).all()
    users = set(session.scalars(select(Membership.user_id).where(Membership.agency_id.in_(left))))
    return users | cases.entitled_users(session, case) | {transfer.offered_by}


def apply_acceptance(
    db: Database,
    client: WebClient,
    settings: Settings,
    *,
    transfer_id: int,
    before: set[str] | None,
    after: set[str] | None,
    bot_user_id: str,
) -> list[str]:
    """After an acceptance is committed: the channel's members follow the need to know, its
    header shows the new lead and agencies, and what the acceptance owes is sent. With no
    `before` (a repeated request), everyone it may have touched is brought in line."""
    with db.reader() as session:
        transfer = session.get_one(Transfer, transfer_id)
        case = session.get_one(Case, transfer.case_id)
        case_id, channel = case.id, case.channel_id
        touched = people_touched(session, transfer) if before is None else set()
    failed: list[str] = []
    if channel:
        if before is not None and after is not None:
            *_, failed = case_channel.sync_members(
                client, channel, before=before, after=after, bot_user_id=bot_user_id
            )
        else:
            *_, failed = case_channel.resync_members(db, client, case_id, touched, bot_user_id)
    with db.reader() as session:
        keys = outbox.keys_under(session, prefix(transfer_id, "accepted"))
    case_channel.show_change(db, client, case_id, keys)
    close_cards(db, client, settings, transfer_id)
    return failed


def home_offers(
    session: Session, user: str, settings: Settings
) -> tuple[list[transfer_blocks.Offer], list[transfer_blocks.Offer], list[int]]:
    """For the Home tab: open offers to the areas a person coordinates, their own open offers,
    and the cases these show (for the access log)."""
    incoming = transfers.offers_to(session, [area.id for area in areas.coordinated_by(session, user)])
    outgoing = transfers.offers_by(session, user)
    shown = sorted({t.case_id for t in [*incoming, *outgoing]})
    return (
        [offer_of(session, t, settings) for t in incoming],
        [offer_of(session, t, settings) for t in outgoing],
        shown,
    )
