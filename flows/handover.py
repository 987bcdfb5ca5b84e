"""After a hand-over: channel memberships, lead duties shown in headers, and the briefing DM."""

from __future__ import annotations

from slack_sdk import WebClient
from sqlalchemy.orm import Session

from blocks import messages
from blocks.kit import escape
from bot.db import Database
from flows import action_posting, case_channel, notify
from models import Case
from services import cases, handover, outbox


def owe_messages(session: Session, result: handover.Handover, prefix: str) -> None:
    """Record, in the hand-over's own transaction, what it owes Slack: a note in each case
    channel that changes and the successor's briefing. Their keys begin with `prefix`, and
    each channel's ends with its case's id, for a repeated request to find them."""
    note = (
        f"Hand-over: <@{result.successor}> takes over from <@{result.predecessor}> "
        f"({result.role.value}, {escape(result.agency.name)})."
    )
    for case_id in result.before:
        case = session.get_one(Case, case_id)
        outbox.owe(
            session, f"{prefix}:case:{case_id}", text=note, recipient=result.successor, channel=case.channel()
        )
    session.flush()
    briefing = handover.cases_in_care(
        session, result.successor, sorted(set(result.before) | set(result.lead_cases))
    )
    outbox.owe(
        session,
        f"{prefix}:briefing",
        text="You have taken over a role in casehub.",
        recipient=result.successor,
        blocks=messages.handover_briefing(result, briefing),
    )


def apply_in_slack(
    db: Database, client: WebClient, result: handover.Handover, bot_user_id: str, prefix: str
) -> list[str]:
    """Channel memberships, headers, the actions' messages and what the hand-over owes (see
    `owe_messages`); returns problems to report. The record is already complete."""
    problems: list[str] = []
    with db.reader() as session:
        changes = []
        for case_id, before in result.before.items():
            case = session.get_one(Case, case_id)
            changes.append((case.id, case.channel(), before, cases.entitled_users(session, case)))
    for case_id, channel, before, after in changes:
        *_, failed = case_channel.sync_members(
            client, channel, before=before, after=after, bot_user_id=bot_user_id
        )
        if failed:
            problems.append(f"channel <#{channel}>: could not change " + ", ".join(f"<@{u}>" for u in failed))
        if case_id in result.lead_cases:
            case_channel.refresh_header(db, client, case_id)
    for action_id in result.actions:
        problem = action_posting.post_or_refresh(db, client, action_id=action_id)
        if problem:
            problems.append(problem)
    send_owed(db, client, prefix)
    return problems


def send_owed(db: Database, client: WebClient, prefix: str) -> list[str]:
    """What the hand-over owes Slack (`owe_messages`), sent; returns its keys."""
    with db.reader() as session:
        keys = outbox.keys_under(session, f"{prefix}:")
    notify.send_owed(db, client, keys)
    return keys


def finish_repeat(db: Database, client: WebClient, prefix: str, people: set[str], bot_user_id: str) -> None:
    """For a hand-over whose first attempt stopped part-way: the channels it changed follow
    `people` (who handed over and who took over) as their need to know now says, their
    headers are refreshed, and what it owes is sent."""
    with db.reader() as session:
        keys = outbox.keys_under(session, f"{prefix}:")
    for case_id in (int(key.rsplit(":", 1)[1]) for key in keys if ":case:" in key):
        case_channel.resync_members(db, client, case_id, people, bot_user_id)
        case_channel.refresh_header(db, client, case_id)
    send_owed(db, client, prefix)
