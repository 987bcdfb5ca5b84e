"""What a change owes the case channel is posted once, even when Slack fails the first time.

Each change records its message in the outbox in its own transaction; the request's job
posts it and, when Slack fails for every try of the client, is tried again: the change is
not made twice, and the message, which the first attempt could not post, is posted then.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from slack_sdk import WebClient
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from bot.jobs import Claimed, running_job
from flows import action_posting, notify, update_posting
from models import Action, AuditEvent, Case, Stage, Update, clock, utcnow
from sandbox.slack import TOKEN
from services import outbox
from tests.conftest import ADMIN, COORD, HOUSING, POLICE, SCHOOL
from tests.helpers import open_case

CLIENT_TRIES = 3  # a failure the Slack client's own retries do not get past
IN_A_WEEK = (clock.today() + timedelta(days=7)).isoformat()


def channel_texts(fake, channel: str, part: str) -> list[str]:
    """The messages in a channel that show `part`, in their text or their blocks."""
    return [m["text"] for m in fake.posts(channel) if part in json.dumps([m.get("text"), m.get("blocks")])]


def audited(database, action: str) -> int:
    with database.reader() as session:
        return len(session.scalars(select(AuditEvent).where(AuditEvent.action == action)).all())


def test_a_stage_move_is_made_once_and_announced_once_after_slack_failed(slack, fake, database, registry):
    case = open_case(slack, database)
    fake.server_error("chat.postMessage", times=CLIENT_TRIES)
    reply = slack.command("/case", "stage screening", user=COORD, channel=case.channel)
    assert reply.status == 200
    assert len(channel_texts(fake, case.channel, "moved from referral to *screening*")) == 1
    with database.reader() as session:
        assert session.get_one(Case, case.id).stage is Stage.SCREENING
    assert audited(database, "case.stage") == 1


def test_the_positive_control_a_stage_move_with_slack_answering(slack, fake, database, registry):
    case = open_case(slack, database)
    slack.command("/case", "stage screening", user=COORD, channel=case.channel)
    assert len(channel_texts(fake, case.channel, "moved from referral to *screening*")) == 1


def test_an_agency_added_while_invitations_failed_joins_once_slack_answers(slack, fake, database, registry):
    case = open_case(slack, database)
    fake.server_error("conversations.invite", times=CLIENT_TRIES)
    slack.command("/case", "agencies add housing", user=COORD, channel=case.channel)
    assert HOUSING in fake.channels[case.channel].members
    assert len(channel_texts(fake, case.channel, "has joined this case")) == 1
    assert audited(database, "case.agency.added") == 1


def test_a_review_schedule_change_is_announced_once_after_slack_failed(slack, fake, database, registry):
    case = open_case(slack, database)
    fake.server_error("chat.postMessage", times=CLIENT_TRIES)
    slack.command("/review", "every 3 weeks", user=COORD, channel=case.channel)
    assert len(channel_texts(fake, case.channel, "are now every 3 week(s)")) == 1


def test_a_resolved_crisis_is_announced_once_after_slack_failed(slack, fake, database, registry):
    case = open_case(slack, database)
    slack.command("/crisis", "Threats made online tonight", user=COORD, channel=case.channel)
    fake.server_error("chat.postMessage", times=CLIENT_TRIES)
    slack.command("/crisis", "resolve Police attended; family safe", user=COORD, channel=case.channel)
    assert len(channel_texts(fake, case.channel, "is resolved: Police attended; family safe")) == 1
    assert audited(database, "crisis.resolved") == 1


@pytest.mark.parametrize("command", ["/update", "/action"])
def test_a_request_whose_first_attempt_stopped_after_saving_is_posted_by_the_next(
    slack, fake, database, registry, monkeypatch, command
):
    """As when the process dies between saving and posting: the job is taken again, finds what
    was saved, and posts it, once."""
    case = open_case(slack, database)
    flow = update_posting if command == "/update" else action_posting
    name = "post" if command == "/update" else "post_or_refresh"
    real = getattr(flow, name)
    stops = iter([True])

    def stop_once(*args, **kwargs):
        if next(stops, False):
            raise OperationalError("the next statement", {}, ConnectionError("the database went away"))
        return real(*args, **kwargs)

    monkeypatch.setattr(flow, name, stop_once)
    text = (
        "Attended the mentoring session"
        if command == "/update"
        else f"add Share attendance <@{SCHOOL}> due:{IN_A_WEEK}"
    )
    said = slack.ephemeral(
        slack.command(command, text, user=COORD if command == "/action" else SCHOOL, channel=case.channel)
    )
    assert "filed" in said or "Action added" in said
    assert next(stops, None) is None  # the first attempt did stop
    posted = channel_texts(
        fake, case.channel, "mentoring session" if command == "/update" else "Share attendance"
    )
    assert len(posted) == 1
    with database.reader() as session:
        saved = session.scalars(select(Update if command == "/update" else Action)).all()
    assert len(saved) == 1 and saved[0].channel_ts is not None


def test_a_role_given_while_invitations_failed_opens_the_case_channels_once_slack_answers(
    slack, fake, database, registry
):
    case = open_case(slack, database)
    assert HOUSING not in fake.channels[case.channel].members  # the positive control
    roles_given = audited(database, "agency.member.set")
    fake.server_error("conversations.invite", times=CLIENT_TRIES)
    said = slack.ephemeral(slack.command("/agency", f"member add school <@{HOUSING}>", user=ADMIN))
    assert "Already done" in said or "is now a member" in said
    assert HOUSING in fake.channels[case.channel].members
    assert audited(database, "agency.member.set") == roles_given + 1


def test_a_hand_over_cut_off_in_slack_is_finished_by_its_next_attempt(slack, fake, database, registry):
    case = open_case(slack, database, agencies=("police", "school"))
    fake.add_user("UPOLNEW")
    fake.server_error("conversations.invite", times=CLIENT_TRIES)
    slack.command("/agency", f"handover <@{POLICE}> <@UPOLNEW> police", user=ADMIN)
    members = fake.channels[case.channel].members
    assert "UPOLNEW" in members and POLICE not in members
    assert len(channel_texts(fake, case.channel, "takes over from")) == 1
    assert len([m for m in fake.dms("UPOLNEW") if m["text"] == "You have taken over a role in casehub."]) == 1
    assert audited(database, "agency.handover") == 1


def test_a_post_another_sender_has_just_claimed_is_left_to_it_but_a_retry_takes_it_over(
    fake, database, settings
):
    client = WebClient(token=TOKEN, base_url=settings.slack_api_url)
    channel = client.conversations_create(name="case-owed", is_private=True)["channel"]["id"]
    now = utcnow()
    with database.session() as session:
        outbox.owe(session, "said:test", text="A stage moved", recipient=COORD, channel=channel)
        assert outbox.claim(session, "said:test", now)  # the sweep, or the same request elsewhere
    post = dict(key="said:test", channel=channel, recipient=COORD, text="A stage moved", blocks=None, now=now)
    assert notify.post_once(database, client, **post) is None  # a first attempt leaves it
    assert channel_texts(fake, channel, "A stage moved") == []
    retry = Claimed(1, "handle_case", "form", "", COORD, attempts=2, max_attempts=4)
    with running_job(retry):  # a later attempt: its own earlier attempt may have claimed it
        assert notify.post_once(database, client, **post) is not None
    assert len(channel_texts(fake, channel, "A stage moved")) == 1
