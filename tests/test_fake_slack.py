"""The emulated Slack must refuse what real Slack refuses, or the suite proves nothing; and it
must show what Slack shows, where Slack shows it, or the sandbox misleads."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from sandbox.slack import TOKEN, EmulatedSlack, Origin, SlackError


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


# ---- what Slack shows, and where ---------------------------------------------------------------
MODAL = {"type": "modal", "title": {"type": "plain_text", "text": "Form"}, "blocks": []}


def opened(fake: EmulatedSlack, client: WebClient, user: str = "U1") -> str:
    return client.views_open(trigger_id=fake.issue_trigger(user), view=MODAL)["view"]["id"]


def test_a_submission_answer_is_applied_to_the_persons_modal_stack(api):
    fake, client = api
    first = opened(fake, client)
    pushed = client.views_push(trigger_id=fake.issue_trigger("U1"), view=MODAL)["view"]["id"]
    assert fake.modals["U1"] == [first, pushed]
    fake.answer_submission("U1", pushed, {"response_action": "errors", "errors": {"b": "Say more."}})
    assert fake.modal_of("U1")["errors"] == {"b": "Say more."}
    fake.answer_submission("U1", pushed, {"response_action": "update", "view": {**MODAL, "callback_id": "x"}})
    assert fake.modal_of("U1")["view"]["callback_id"] == "x" and fake.modal_of("U1")["errors"] == {}
    fake.answer_submission("U1", pushed, None)  # no answer: the submitted view closes
    assert fake.modal_of("U1")["view"]["id"] == first
    opened(fake, client)
    fake.answer_submission("U1", fake.modals["U1"][-1], {"response_action": "clear"})
    assert fake.modal_of("U1") is None


def test_at_most_three_views_are_stacked(api):
    fake, client = api
    opened(fake, client)
    for _ in range(2):
        client.views_push(trigger_id=fake.issue_trigger("U1"), view=MODAL)
    trigger = fake.issue_trigger("U1")
    assert error_of(lambda: client.views_push(trigger_id=trigger, view=MODAL)) == "push_limit_reached"


def test_replies_go_to_the_person_the_channel_or_the_message_acted_on(api):
    fake, client = api
    fake.add_user("U2")
    channel = fake.add_channel("room", members={"U1", "U2", "UBOT"})
    posted = client.chat_postMessage(channel=channel, text="Original")["ts"]
    fake.show_reply(Origin("U1", channel), {"text": "Only for U1"})
    fake.show_reply(Origin("U1", channel), {"text": "For all", "response_type": "in_channel"})
    shown = {m["text"]: m.get("ephemeral_to") for m in fake.messages if m["channel"] == channel}
    assert shown == {"Original": None, "Only for U1": "U1", "For all": None}
    fake.show_reply(Origin("U2", channel, posted), {"text": "Replaced", "replace_original": True})
    replaced = next(m for m in fake.messages if m["ts"] == posted)
    assert replaced["text"] == "Replaced" and replaced["edits"] == 1
    fake.show_reply(Origin("U2", channel, posted), {"delete_original": True})
    assert not [m for m in fake.messages if m["ts"] == posted]
    assert [m["text"] for m in fake.posts(channel)] == []  # replies are not the app's posts


def test_an_invitation_is_told_to_the_app_as_slack_tells_it():
    told: list[dict] = []
    fake = EmulatedSlack(events=told.append).start()
    try:
        fake.add_user("U1")
        client = WebClient(token=TOKEN, base_url=fake.api_url)
        channel = client.conversations_create(name="case-x", is_private=True)["channel"]["id"]
        client.conversations_invite(channel=channel, users="U1")
        assert [(e["type"], e["user"], e["channel"], e["channel_type"]) for e in told] == [
            ("member_joined_channel", "U1", channel, "G")
        ]
    finally:
        fake.stop()


def test_people_post_only_where_they_are_and_the_workspace_version_moves(api):
    fake, _client = api
    channel = fake.add_channel("room", members={"U1"})
    version = fake.version
    fake.post_as("U1", channel, "Hello")
    assert fake.version > version
    assert fake.wait_for_change(version, timeout=0.01) == fake.version
    fake.add_user("U2")
    with pytest.raises(SlackError) as refused:
        fake.post_as("U2", channel, "Hi")
    assert refused.value.error == "not_in_channel"


def test_refused_calls_are_kept_with_what_slack_said(api):
    fake, client = api
    bad = [{"type": "section", "text": {"type": "mrkdwn", "text": ""}}]
    channel = fake.add_channel("room", members={"UBOT"})
    assert (
        error_of(lambda: client.chat_postMessage(channel=channel, text="x", blocks=bad)) == "invalid_blocks"
    )
    refused = fake.refusals()[-1]
    assert refused.method == "chat.postMessage" and refused.error == "invalid_blocks"
    assert refused.detail["errors"]


def test_a_closed_view_cannot_be_updated(api):
    fake, client = api
    view = opened(fake, client)
    client.views_update(view_id=view, view={**MODAL, "callback_id": "again"})  # open: fine
    fake.close_view("U1", view)
    assert error_of(lambda: client.views_update(view_id=view, view=MODAL)) == "not_found"


def test_an_answer_slack_would_not_take_is_kept_with_the_refusals(api):
    fake, client = api
    first = opened(fake, client)
    for _ in range(2):
        fake.answer_submission("U1", first, {"response_action": "push", "view": MODAL})
    fake.answer_submission("U1", first, {"response_action": "push", "view": MODAL})
    assert len(fake.modals["U1"]) == 3
    assert fake.refusals()[-1].error == "push_limit_reached"
    fake.answer_submission("U1", first, {"response_action": "update", "view": {"type": "modal"}})
    assert fake.refusals()[-1].method == "response_action:update"
    assert fake.modal_of("U1")["view"]["title"]["text"] == "Form"  # left as it was


def test_malformed_calls_are_answered_as_slack_answers_them(api):
    fake, _client = api
    request = urllib.request.Request(
        fake.api_url + "chat.postMessage",
        data=b"{oops",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"},
    )
    with urllib.request.urlopen(request, timeout=5) as answer:
        assert json.loads(answer.read()) == {"ok": False, "error": "invalid_json"}
    client = WebClient(token=TOKEN, base_url=fake.api_url)
    assert (
        error_of(lambda: client.api_call("users.conversations", params={"limit": "many"}))
        == "invalid_arguments"
    )


# ---- files, as files_upload_v2 sends them ----------------------------------------------------------


def test_a_file_is_uploaded_in_three_steps_and_shared_as_one_message(api):
    fake, client = api
    dm = client.conversations_open(users="U1")["channel"]["id"]
    response = client.files_upload_v2(
        file_uploads=[
            {"file": b"%PDF-1.4 a", "filename": "a.pdf", "title": "A"},
            {"content": '{"b": 1}', "filename": "b.json", "title": "B"},
        ],
        channel=dm,
        initial_comment="Two files",
    )
    assert [f["title"] for f in response["files"]] == ["A", "B"]
    assert [f["data"] for f in fake.files_in(dm)] == [b"%PDF-1.4 a", b'{"b": 1}']
    [message] = fake.dms("U1")
    assert message["text"] == "Two files" and [f["name"] for f in message["files"]] == ["a.pdf", "b.json"]
    history = client.conversations_history(channel=dm)["messages"]
    assert [f["title"] for f in history[0]["files"]] == ["A", "B"]
    assert [c.method for c in fake.calls if c.method.startswith(("files.", "upload"))] == [
        "files.getUploadURLExternal",
        "files.getUploadURLExternal",
        "upload",
        "upload",
        "files.completeUploadExternal",
    ]


def test_an_upload_needs_its_name_and_length_and_exactly_those_bytes(api):
    _fake, client = api
    for missing in ({"length": 3}, {"filename": "a.pdf"}, {"filename": "a.pdf", "length": 0}):
        with pytest.raises(SlackApiError) as refused:
            client.api_call("files.getUploadURLExternal", params=missing)
        assert refused.value.response["error"] == "invalid_arguments"
    issued = client.files_getUploadURLExternal(filename="a.pdf", length=3)
    wrong = urllib.request.Request(issued["upload_url"], data=b"four", method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused_bytes:
        urllib.request.urlopen(wrong, timeout=5)
    assert refused_bytes.value.code == 400
    files = [{"id": issued["file_id"], "title": "a"}]
    dm = client.conversations_open(users="U1")["channel"]["id"]
    # Nothing arrived at the URL: there is no file to complete.
    assert (
        error_of(lambda: client.files_completeUploadExternal(files=files, channel_id=dm)) == "file_not_found"
    )
    right = urllib.request.Request(issued["upload_url"], data=b"abc", method="POST")
    assert urllib.request.urlopen(right, timeout=5).status == 200
    with pytest.raises(urllib.error.HTTPError) as used:  # an upload URL is used once
        urllib.request.urlopen(right, timeout=5)
    assert used.value.code == 404
    client.files_completeUploadExternal(files=files, channel_id=dm)
    assert (
        error_of(lambda: client.files_completeUploadExternal(files=files, channel_id=dm)) == "file_not_found"
    )
    assert error_of(lambda: client.files_completeUploadExternal(files=[{"id": "FNONE"}])) == "file_not_found"
    assert error_of(lambda: client.files_completeUploadExternal(files=[])) == "invalid_arguments"


def test_files_are_shared_only_where_the_bot_may_post(api):
    fake, client = api
    private = fake.add_channel("elsewhere", private=True)
    public = fake.add_channel("general")
    for channel, error in (
        (private, "channel_not_found"),
        (public, "not_in_channel"),
        ("CNONE", "channel_not_found"),
    ):
        with pytest.raises(SlackApiError) as refused:
            client.files_upload_v2(content=b"x", filename="x.txt", channel=channel)
        assert refused.value.response["error"] == error
    assert all(not f["channels"] for f in fake.files.values())


def test_a_multipart_upload_is_read_as_its_file_part(api):
    fake, client = api
    issued = client.files_getUploadURLExternal(filename="a.json", length=2)
    boundary = "b0undary"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.json"\r\n'
        f"Content-Type: application/octet-stream\r\n\r\n{{}}\r\n--{boundary}--\r\n"
    ).encode()
    request = urllib.request.Request(issued["upload_url"], data=body, method="POST")
    request.add_header("Content-Type", f"multipart/form-data; boundary={boundary}")
    assert urllib.request.urlopen(request, timeout=5).status == 200
    assert fake.files[issued["file_id"]]["data"] == b"{}"


def test_an_upload_url_can_be_made_to_fail(api):
    fake, client = api
    fake.fail_upload(status=503)
    with pytest.raises(urllib.error.HTTPError) as failed:
        client.files_upload_v2(content=b"x", filename="x.txt", channel="U1")
    assert failed.value.code == 503
    client.files_upload_v2(content=b"x", filename="x.txt", channel="U1")
    assert [f["data"] for f in fake.files_in("DU1")] == [b"x"]
