"""A case's private Slack channel: set up, kept to need-to-know, refreshed and archived."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from blocks import messages
from bot.db import Database
from bot.slack import describe_error
from flows import notify
from models import Area, Case
from services import audit, cases

log = logging.getLogger(__name__)

INVITE_BATCH = 100  # conversations.invite takes at most 100 users a call
# Per-user invite failures that leave the rest of the channel sound.
_PER_USER_INVITE_ERRORS = {
    "user_not_found",
    "user_is_restricted",
    "user_is_ultra_restricted",
    "cant_invite",
    "user_disabled",
    "ura_max_channels",
}


@dataclass
class SetupResult:
    reference: str
    channel_id: str | None = None
    error: str | None = None
    unreachable: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None


def channel_name(prefix: str, reference: str) -> str:
    return f"{prefix}-{reference.lower()}"


def provision(
    db: Database,
    client: WebClient,
    *,
    case_id: int,
    prefix: str,
    bot_user_id: str,
    actor: str,
    request_ref: str,
) -> SetupResult:
    """Take a recorded case as far as a ready channel; safe to call again after a failure."""
    with db.session() as session:
        case = session.get_one(Case, case_id)
        result = SetupResult(reference=case.reference, channel_id=case.channel_id)
    try:
        _create_channel(db, client, case_id, prefix, actor, request_ref, result)
        _invite_members(db, client, case_id, bot_user_id, result)
        _publish_header(db, client, case_id)
    except SlackApiError as error:
        result.error = describe_error(error)
    except OSError as error:  # network failures that outlived the client's retries
        result.error = describe_error(error)
    with db.session() as session:
        case = session.get_one(Case, case_id)
        cases.mark_setup(session, case, error=result.error)
        if result.error:
            audit.record(
                session,
                actor=actor,
                action="case.setup_failed",
                request_ref=request_ref,
                case=case,
                error=result.error,
            )
        else:
            audit.record(
                session,
                actor=actor,
                action="case.setup_ready",
                request_ref=request_ref,
                case=case,
                channel=case.channel_id,
            )
        result.reference = case.reference
    return result


def _create_channel(
    db: Database,
    client: WebClient,
    case_id: int,
    prefix: str,
    actor: str,
    request_ref: str,
    result: SetupResult,
) -> None:
    with db.reader() as session:
        case = session.get_one(Case, case_id)
        if case.channel_id:
            return
        reference = case.reference
        prefix = session.get_one(Area, case.area_id).channel_prefix or prefix  # the area's own
    for _attempt in range(5):
        name = channel_name(prefix, reference)
        try:
            channel_id = client.conversations_create(name=name, is_private=True)["channel"]["id"]
        except SlackApiError as error:
            if error.response.get("error") != "name_taken":
                raise
            # casehub may have made it already: a create whose answer was lost (a retried call,
            # a process stopped before it stored the ID). Then it is this case's channel.
            channel_id = own_private_channel(client, name)
        if channel_id is None:
            # Someone else's channel has this name: draw a new reference before anyone saw it.
            with db.session() as session:
                case = session.get_one(Case, case_id)
                old, case.reference = case.reference, cases.new_reference()
                reference = case.reference
                audit.record(
                    session,
                    actor=actor,
                    action="case.reference_redrawn",
                    request_ref=request_ref,
                    case=case,
                    previous=old,
                    reason="name_taken",
                )
            continue
        with db.session() as session:
            case = session.get_one(Case, case_id)
            case.channel_id, case.channel_name = channel_id, name
        result.channel_id = channel_id
        return
    raise SlackApiError("no free channel name", {"ok": False, "error": "name_taken"})


def own_private_channel(client: WebClient, name: str) -> str | None:
    """The private channel called `name` that casehub's bot is in, if there is one.

    Case channels are private and only their members (the bot among them) see them, so a
    channel of that name the bot is not in belongs to someone else.
    """
    for page in client.users_conversations(types="private_channel", exclude_archived=True, limit=999):
        for channel in page["channels"]:
            if channel["name"] == name:
                return channel["id"]
    return None


def _invite_members(
    db: Database, client: WebClient, case_id: int, bot_user_id: str, result: SetupResult
) -> None:
    with db.reader() as session:
        case = session.get_one(Case, case_id)
        if case.members_invited:
            return
        channel = case.channel()
        wanted = sorted(cases.entitled_users(session, case) - {bot_user_id})
    result.unreachable = invite(client, channel, wanted)
    with db.session() as session:
        session.get_one(Case, case_id).members_invited = True


def invite(client: WebClient, channel: str, users: Iterable[str]) -> list[str]:
    """Invite users in batches; returns those Slack would not let in (and why is logged)."""
    users = list(users)
    unreachable: list[str] = []
    for start in range(0, len(users), INVITE_BATCH):
        batch = users[start : start + INVITE_BATCH]
        try:
            response = client.conversations_invite(channel=channel, users=",".join(batch), force=True)
        except SlackApiError as error:
            code = error.response.get("error")
            if code == "already_in_channel":
                continue
            if code in _PER_USER_INVITE_ERRORS and len(batch) == 1:
                unreachable.extend(batch)
                continue
            raise
        problems: list[dict[str, Any]] = response.get("errors", []) or []
        for problem in problems:
            if problem.get("error") not in ("already_in_channel", "cant_invite_self"):
                log.warning("could not invite %s: %s", problem.get("user"), problem.get("error"))
                unreachable.append(problem["user"])
    return unreachable


def remove(client: WebClient, channel: str, users: Iterable[str]) -> list[str]:
    failed = []
    for user in users:
        try:
            client.conversations_kick(channel=channel, user=user)
        except SlackApiError as error:
            if error.response.get("error") in ("not_in_channel", "user_not_found"):
                continue
            if error.response.get("error") == "cant_kick_self":
                continue
            failed.append(user)
    return failed


def _publish_header(db: Database, client: WebClient, case_id: int) -> None:
    with db.reader() as session:
        case = session.get_one(Case, case_id)
        channel, header_ts = case.channel(), case.header_ts
        topic_set, pinned = case.topic_set, case.header_pinned
        topic = messages.case_topic(case)
        blocks = messages.case_header(case, case.agencies)
        text = messages.case_header_text(case)
    if not topic_set:
        client.conversations_setTopic(channel=channel, topic=topic)
        with db.session() as session:
            session.get_one(Case, case_id).topic_set = True
    if header_ts is None:
        header_ts = client.chat_postMessage(channel=channel, text=text, blocks=blocks)["ts"]
        with db.session() as session:
            session.get_one(Case, case_id).header_ts = header_ts
    if not pinned:
        try:
            client.pins_add(channel=channel, timestamp=header_ts)
        except SlackApiError as error:
            if error.response.get("error") != "already_pinned":
                raise
        with db.session() as session:
            session.get_one(Case, case_id).header_pinned = True


def refresh_header(db: Database, client: WebClient, case_id: int) -> None:
    """Bring the pinned header and topic up to date after a change to the case."""
    with db.reader() as session:
        case = session.get_one(Case, case_id)
        if not case.channel_id or not case.header_ts or case.channel_archived:
            return
        channel, ts = case.channel_id, case.header_ts
        blocks = messages.case_header(case, case.agencies)
        text, topic = messages.case_header_text(case), messages.case_topic(case)
    try:
        client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks)
        client.conversations_setTopic(channel=channel, topic=topic)
    except SlackApiError as error:
        # The record is already right; a stale header is mended by the next change.
        log.warning("could not refresh the header of case %s: %s", case_id, describe_error(error))


def show_change(db: Database, client: WebClient, case_id: int, owed: list[str]) -> None:
    """After a change to a case: its header and topic brought up to date, and the messages the
    change owes (recorded with it in the outbox) sent, those not sent yet. Run again for a
    repeated request, it finishes what the first could not."""
    refresh_header(db, client, case_id)
    notify.send_owed(db, client, owed)


def sync_members(
    client: WebClient, channel: str, *, before: set[str], after: set[str], bot_user_id: str
) -> tuple[list[str], list[str], list[str]]:
    """Invite who now needs to know and remove who no longer does: (added, removed, failed)."""
    joining = sorted(after - before - {bot_user_id})
    leaving = sorted(before - after - {bot_user_id})
    failed = invite(client, channel, joining) if joining else []
    failed += remove(client, channel, leaving)
    added = [u for u in joining if u not in failed]
    removed = [u for u in leaving if u not in failed]
    return added, removed, failed


def resync_members(
    db: Database, client: WebClient, case_id: int, users: set[str], bot_user_id: str
) -> tuple[list[str], list[str], list[str]]:
    """For a change of who needs to know that may have been cut off part-way: each of `users`
    is invited or removed as their need to know now says, nobody else is touched. Slack's
    "already in" and "not in" answers make doing it again harmless. (added, removed, failed)"""
    with db.reader() as session:
        case = session.get_one(Case, case_id)
        channel, wanted = case.channel(), cases.entitled_users(session, case)
    return sync_members(client, channel, before=wanted ^ users, after=wanted, bot_user_id=bot_user_id)


def archive(db: Database, client: WebClient, case_id: int) -> str | None:
    """Post the closing message and archive; returns a problem to report, or None."""
    with db.reader() as session:
        case = session.get_one(Case, case_id)
        if case.channel_archived or not case.channel_id:
            return None
        channel, closing_ts = case.channel_id, case.closing_ts
        blocks = messages.closing_message(case)
    try:
        if closing_ts is None:  # a retry after a failed archive must not post it twice
            closing_ts = client.chat_postMessage(channel=channel, text="This case is closed.", blocks=blocks)[
                "ts"
            ]
            with db.session() as session:
                session.get_one(Case, case_id).closing_ts = closing_ts
        try:
            client.conversations_archive(channel=channel)
        except SlackApiError as error:
            if error.response.get("error") != "already_archived":
                raise
    except SlackApiError as error:
        return describe_error(error)
    with db.session() as session:
        session.get_one(Case, case_id).channel_archived = True
    return None


def set_up_and_report(
    db: Database,
    client: WebClient,
    *,
    case_id: int,
    prefix: str,
    user: str,
    request_ref: str,
    bot_user_id: str,
) -> SetupResult:
    """Run (or resume) a case's channel setup and tell the coordinator how it went, by DM."""
    result = provision(
        db,
        client,
        case_id=case_id,
        prefix=prefix,
        bot_user_id=bot_user_id,
        actor=user,
        request_ref=request_ref,
    )
    with db.reader() as session:
        case = session.get_one(Case, case_id)
        if result.ok:
            text, blocks = messages.case_ready(case, unreachable=result.unreachable), None
        else:
            blocks = messages.case_setup_failed(case, result.error or "unknown")
            text = f"Case {case.reference} is recorded but its channel is not finished."
    client.chat_postMessage(channel=user, text=text, blocks=blocks)
    return result


def archive_and_report(db: Database, client: WebClient, *, case_id: int, user: str) -> None:
    problem = archive(db, client, case_id)
    with db.reader() as session:
        case = session.get_one(Case, case_id)
        if problem:
            client.chat_postMessage(
                channel=user,
                text=f"Case {case.reference} is closed; archiving its channel failed.",
                blocks=messages.archive_failed(case, problem),
            )
        else:
            client.chat_postMessage(
                channel=user, text=f":lock: Case {case.reference} is closed and its channel archived."
            )


def finish_setup(
    db: Database,
    client: WebClient,
    *,
    reference: str,
    prefix: str,
    user: str,
    request_ref: str,
    bot_user_id: str,
) -> SetupResult:
    """The lead's retry of a case whose channel setup stopped part-way (command or button)."""
    with db.reader() as session:
        case = cases.get_by_reference(session, reference)
        cases.require_lead(case, user, "finish setting up this case")
        case_id = case.id
    return set_up_and_report(
        db,
        client,
        case_id=case_id,
        prefix=prefix,
        user=user,
        request_ref=request_ref,
        bot_user_id=bot_user_id,
    )
