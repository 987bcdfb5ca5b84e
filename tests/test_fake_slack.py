"""The fake Slack must refuse what real Slack refuses, or the suite proves nothing."""

from __future__ import annotations

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from sandbox.slack import TOKEN, EmulatedSlack


@pytest.fixture
def api():
    fake = EmulatedSlack().start()
    fake.add_user("U1")
    yield fake, WebClient(token=TOKEN, base_url=fake.api_url)
    fake.stop()


def error_of(call) -> str:
    with pytest.raises(SlackApiError) as failed:
        call()
    return failed.value.response["error"]


def test_channel_names_follow_slacks_rules(api):
    _fake, client = api
    assert error_of(lambda: client.conversations_create(name="Case K7")) == "invalid_name_specials"
    assert error_of(lambda: client.conversations_create(name="x" * 81)) == "invalid_name_maxlength"
    client.conversations_create(name="case-k7q2m9", is_private=True)
    assert error_of(lambda: client.conversations_create(name="case-k7q2m9")) == "name_taken"


def test_bot_outside_a_channel_cannot_post_or_invite(api):
    fake, client = api
    private = fake.add_channel("elsewhere", private=True)
    public = fake.add_channel("general")
    assert error_of(lambda: client.chat_postMessage(channel=private, text="x")) == "channel_not_found"
    assert error_of(lambda: client.chat_postMessage(channel=public, text="x")) == "not_in_channel"
    assert error_of(lambda: client.conversations_invite(channel=public, users="U1")) == "not_in_channel"


def test_invites_report_per_user_errors(api):
    _fake, client = api
    channel = client.conversations_create(name="c", is_private=True)["channel"]["id"]
    assert error_of(lambda: client.conversations_invite(channel=channel, users="UNOBODY")) == "user_not_found"
    response = client.conversations_invite(channel=channel, users="U1,UNOBODY", force=True)
    assert response["errors"][0]["error"] == "user_not_found"
    assert error_of(lambda: client.conversations_invite(channel=channel, users="U1")) == "already_in_channel"
    many = ",".join(f"U{i}" for i in range(101))
    assert error_of(lambda: client.conversations_invite(channel=channel, users=many)) == "too_many_users"


def test_block_kit_limits_are_enforced(api):
    _fake, client = api
    channel = client.conversations_create(name="c", is_private=True)["channel"]["id"]
    too_long = [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}]
    with pytest.raises(SlackApiError) as failed:
        client.chat_postMessage(channel=channel, text="x", blocks=too_long)
    assert failed.value.response["error"] == "invalid_blocks"
    assert "[json-pointer:/blocks/0/text/text]" in failed.value.response["errors"][0]
    many = [{"type": "divider"}] * 51
    assert (
        error_of(lambda: client.chat_postMessage(channel=channel, text="x", blocks=many)) == "invalid_blocks"
    )
    assert error_of(lambda: client.conversations_setTopic(channel=channel, topic="x" * 251)) == "too_long"
    with pytest.warns(UserWarning, match="text"):
        assert error_of(lambda: client.chat_postMessage(channel=channel)) == "no_text"


def test_triggers_are_single_use(api):
    fake, client = api
    trigger = fake.issue_trigger("U1")
    view = {"type": "modal", "title": {"type": "plain_text", "text": "T"}, "blocks": []}
    client.views_open(trigger_id=trigger, view=view)
    assert error_of(lambda: client.views_open(trigger_id=trigger, view=view)) == "invalid_trigger_id"
    long_title = {**view, "title": {"type": "plain_text", "text": "x" * 25}}
    assert (
        error_of(lambda: client.views_open(trigger_id=fake.issue_trigger("U1"), view=long_title))
        == "invalid_arguments"
    )


def test_rate_limit_tiers_answer_429_with_retry_after(api):
    _fake, client = api
    client.retry_handlers = []
    for i in range(20):
        client.conversations_create(name=f"c{i}")
    with pytest.raises(SlackApiError) as limited:
        client.conversations_create(name="c21")
    assert limited.value.response.status_code == 429
    assert int(limited.value.response.headers["Retry-After"]) >= 1


def test_wrong_token_is_refused(api):
    fake, _ = api
    stranger = WebClient(token="xoxb-wrong", base_url=fake.api_url)
    assert error_of(lambda: stranger.auth_test()) == "invalid_auth"
