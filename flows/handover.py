"""After a hand-over: channel memberships, lead duties shown in headers, and the briefing DM."""

from __future__ import annotations

from slack_sdk import WebClient

from blocks import messages
from blocks.kit import escape
from bot.db import Database
from flows import action_posting, case_channel
from models import Case
from services import cases, handover


def apply_in_slack(db: Database, client: WebClient, result: handover.Handover, bot_user_id: str) -> list[str]:
    """Returns problems to report; the record is already complete."""
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
        client.chat_postMessage(
            channel=channel,
            text=f"Hand-over: <@{result.successor}> takes over from <@{result.predecessor}> "
            f"({result.role.value}, {escape(result.agency.name)}).",
        )
        if case_id in result.lead_cases:
            case_channel.refresh_header(db, client, case_id)
    for action_id in result.actions:
        problem = action_posting.post_or_refresh(db, client, action_id=action_id)
        if problem:
            problems.append(problem)
    with db.reader() as session:
        briefing = handover.cases_in_care(
            session, result.successor, sorted(set(result.before) | set(result.lead_cases))
        )
        blocks = messages.handover_briefing(result, briefing)
    client.chat_postMessage(
        channel=result.successor, text="You have taken over a role in casehub.", blocks=blocks
    )
    return problems
