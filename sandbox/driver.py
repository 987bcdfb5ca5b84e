"""Drives casehub the way Slack does: signed HTTP requests to /slack/events on loopback, or
envelopes over Socket Mode (`SocketDriver`).

What a person does in Slack (a slash command, a click, a form submitted or closed, the Home
tab opened) becomes the request Slack would send, signed with the app's signing secret. The
test suite drives casehub with it, and so does the sandbox for whoever uses its web UI.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import parse_qsl, urlencode

from sandbox.slack import BOT_USER, TEAM, EmulatedSlack, Origin

if TYPE_CHECKING:  # the emulated Socket Mode needs `websockets`, a tool of the tests only
    from sandbox.socket_mode import SocketModeSlack


class Settles(Protocol):
    def wait_idle(self, timeout: float = 30.0) -> bool: ...


_ids = itertools.count(1)


@dataclass
class Reply:
    status: int
    body: str
    response_url: str | None = None
    request_body: bytes = b""
    content_type: str = ""

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


def sign(secret: str, timestamp: str, body: bytes) -> str:
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


class SlackDriver:
    """Sends casehub what Slack would. With `work`, each request waits until the work it
    made is done (tests read the outcome at once); without, it returns on the answer."""

    def __init__(self, url: str, secret: str, fake: EmulatedSlack, work: Settles | None = None) -> None:
        self.url, self.secret, self.fake, self.work = url, secret, fake, work

    # ---- transport ------------------------------------------------------------------------------
    def post(
        self,
        body: bytes,
        content_type: str,
        *,
        headers: dict[str, str] | None = None,
        timestamp: int | None = None,
        secret: str | None = None,
        settle: bool = True,
    ) -> Reply:
        ts = str(timestamp if timestamp is not None else int(time.time()))
        request = urllib.request.Request(self.url + "/slack/events", data=body, method="POST")
        request.add_header("Content-Type", content_type)
        request.add_header("X-Slack-Request-Timestamp", ts)
        request.add_header("X-Slack-Signature", sign(secret or self.secret, ts, body))
        for key, value in (headers or {}).items():
            request.add_header(key, value)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                reply = Reply(response.status, response.read().decode())
        except urllib.error.HTTPError as error:
            reply = Reply(error.code, error.read().decode())
        reply.request_body, reply.content_type = body, content_type
        if settle and self.work is not None:
            self.settle()
        return reply

    def replay(self, reply: Reply, **kwargs: Any) -> Reply:
        """Deliver exactly the same request again, as Slack does on a retry."""
        again = self.post(reply.request_body, reply.content_type, **kwargs)
        again.response_url = reply.response_url
        return again

    def settle(self) -> None:
        assert self.work is not None, "this driver does not wait for casehub's work"
        assert self.work.wait_idle(timeout=30), "work still queued or running after 30 s"

    def post_payload(self, payload: dict[str, Any], **kwargs: Any) -> Reply:
        """An interactive payload (a click, a submission, a menu's options request), as Slack posts it."""
        body = urlencode({"payload": json.dumps(payload)}).encode()
        return self.post(body, "application/x-www-form-urlencoded", **kwargs)

    # ---- what people do ------------------------------------------------------------------------
    def command(
        self, command: str, text: str = "", *, user: str, channel: str = "CGENERAL", **kwargs: Any
    ) -> Reply:
        response_url = self.fake.issue_response_url(Origin(user, channel))
        known = self.fake.channels.get(channel)
        fields = {
            "token": "legacy",
            "team_id": TEAM,
            "team_domain": "casehub-test",
            "channel_id": channel,
            "channel_name": known.name if known is not None else "whatever",
            "user_id": user,
            "user_name": user.lower(),
            "command": command,
            "text": text,
            "api_app_id": "ACASEHUB",
            "enterprise_id": "",
            "response_url": response_url,
            "trigger_id": self.fake.issue_trigger(user),
        }
        reply = self.post(urlencode(fields).encode(), "application/x-www-form-urlencoded", **kwargs)
        reply.response_url = response_url
        return reply

    def ephemeral(self, reply: Reply) -> str:
        """Everything the person saw in reply to a command: the ack body and the responses."""
        texts = []
        if reply.body:
            try:
                texts.append(json.loads(reply.body).get("text", ""))
            except ValueError:
                texts.append(reply.body)
        for posted in self.fake.replies(reply.response_url or ""):
            texts.append(posted.get("text") or "")
            texts.append(json.dumps(posted.get("blocks") or "", ensure_ascii=False))
        return "\n".join(texts)

    def submit(self, view: dict[str, Any], values: dict[str, Any], *, user: str, **kwargs: Any) -> Reply:
        state: dict[str, Any] = {"values": {}}
        for block in view["blocks"]:
            if block.get("type") != "input" or block["block_id"] not in values:
                continue
            element = block["element"]
            state["values"][block["block_id"]] = {
                element["action_id"]: _element_state(element, values[block["block_id"]])
            }
        return self.submit_state(view, state, user=user, **kwargs)

    def submit_state(self, view: dict[str, Any], state: dict[str, Any], *, user: str, **kwargs: Any) -> Reply:
        """A form submitted with its state as Slack sends it ({"values": {block: {action: ...}}})."""
        payload = {
            "type": "view_submission",
            "team": {"id": TEAM},
            "user": {"id": user},
            "api_app_id": "ACASEHUB",
            "trigger_id": self.fake.issue_trigger(user),
            "view": {**view, "state": state},
        }
        settle = kwargs.pop("settle", True)
        reply = self.post_payload(payload, settle=False, **kwargs)
        if reply.status == 200:
            # Slack applies the answer (errors, an update, a push, closing) before anything the
            # app does next.
            answer = reply.json() if reply.body else None
            self.fake.answer_submission(user, view["id"], answer if isinstance(answer, dict) else None)
        if settle and self.work is not None:
            self.settle()
        return reply

    def close(self, view: dict[str, Any], *, user: str, **kwargs: Any) -> Reply | None:
        """The person closed a form: Slack tells the app only when the view asked to be told."""
        self.fake.close_view(user, view["id"])
        if not view.get("notify_on_close"):
            return None
        payload = {
            "type": "view_closed",
            "team": {"id": TEAM},
            "user": {"id": user},
            "api_app_id": "ACASEHUB",
            "view": view,
            "is_cleared": False,
        }
        return self.post_payload(payload, **kwargs)

    def act(
        self,
        action: dict[str, Any],
        *,
        user: str,
        block_id: str,
        channel: str | None = None,
        message_ts: str | None = None,
        view: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> Reply:
        """Any interactive element used: in a message (channel and message_ts) or in a view."""
        payload: dict[str, Any] = {
            "type": "block_actions",
            "team": {"id": TEAM},
            "user": {"id": user},
            "api_app_id": "ACASEHUB",
            "trigger_id": self.fake.issue_trigger(user),
            "actions": [{**action, "block_id": block_id, "action_ts": str(time.time())}],
        }
        response_url = None
        if view is not None:
            payload["container"] = {"type": "view", "view_id": view["id"]}
            payload["view"] = view
        else:
            response_url = self.fake.issue_response_url(Origin(user, channel, message_ts))
            payload["response_url"] = response_url
            payload["container"] = {"type": "message", "channel_id": channel, "message_ts": message_ts}
            payload["channel"] = {"id": channel} if channel else None
            payload["message"] = self._message(channel, message_ts)
        reply = self.post_payload(payload, **kwargs)
        reply.response_url = response_url
        return reply

    def suggest(
        self, view: dict[str, Any], *, user: str, block_id: str, action_id: str, value: str, **kwargs: Any
    ) -> Reply:
        """A menu asking for its options as the person types (external selects)."""
        payload = {
            "type": "block_suggestion",
            "team": {"id": TEAM},
            "user": {"id": user},
            "api_app_id": "ACASEHUB",
            "container": {"type": "view", "view_id": view["id"]},
            "view": view,
            "block_id": block_id,
            "action_id": action_id,
            "value": value,
        }
        return self.post_payload(payload, **kwargs)

    def home_opened(self, user: str, **kwargs: Any) -> Reply:
        """The person opened the app's Home tab."""
        event = {"type": "app_home_opened", "user": user, "channel": f"D{user}", "tab": "home"}
        event["event_ts"] = str(time.time())
        return self.event(event, **kwargs)

    def _message(self, channel: str | None, ts: str | None) -> dict[str, Any] | None:
        with self.fake.lock:
            for message in self.fake.messages:
                if message["channel"] == channel and message["ts"] == ts:
                    return {
                        "type": "message",
                        "ts": ts,
                        "user": message["user"],
                        "text": message["text"],
                        "blocks": message.get("blocks") or [],
                    }
        return None

    def click(
        self,
        action_id: str,
        value: str,
        *,
        user: str,
        channel: str | None = None,
        message_ts: str | None = None,
        container: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> Reply:
        """A button clicked, in short: its action and value, where a test says (a message by
        default), with a response_url. `act` sends any element with the message or view."""
        response_url = self.fake.issue_response_url(Origin(user, channel, message_ts))
        payload = {
            "type": "block_actions",
            "team": {"id": TEAM},
            "user": {"id": user},
            "api_app_id": "ACASEHUB",
            "trigger_id": self.fake.issue_trigger(user),
            "response_url": response_url,
            "actions": [
                {
                    "action_id": action_id,
                    "block_id": "b",
                    "value": value,
                    "type": "button",
                    "action_ts": str(time.time()),
                }
            ],
            "container": container or {"type": "message", "channel_id": channel, "message_ts": message_ts},
            "channel": {"id": channel} if channel else None,
        }
        reply = self.post_payload(payload, **kwargs)
        reply.response_url = response_url
        return reply

    def event(
        self,
        event: dict[str, Any],
        *,
        event_id: str | None = None,
        retry_num: int | None = None,
        **kwargs: Any,
    ) -> Reply:
        envelope = {
            "token": "legacy",
            "team_id": TEAM,
            "api_app_id": "ACASEHUB",
            "type": "event_callback",
            "event": event,
            "event_id": event_id or f"Ev{next(_ids):08d}",
            "event_time": int(time.time()),
            "authorizations": [{"team_id": TEAM, "user_id": BOT_USER, "is_bot": True}],
        }
        headers = {}
        if retry_num is not None:
            headers = {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": "http_timeout"}
        return self.post(json.dumps(envelope).encode(), "application/json", headers=headers, **kwargs)


class SocketDriver(SlackDriver):
    """Sends casehub what Slack would over Socket Mode: each request becomes an envelope on one
    of the app's connections, and its acknowledgement is the answer. There is no signature in
    Socket Mode: the connection is the app's own."""

    def __init__(self, fake: EmulatedSlack, work: Settles | None = None, *, timeout: float = 20.0) -> None:
        assert fake.socket is not None, "turn Socket Mode on first: fake.socket_mode()"
        super().__init__("", "", fake, work)
        self.socket: SocketModeSlack = fake.socket
        self.timeout = timeout

    def post(
        self,
        body: bytes,
        content_type: str,
        *,
        headers: dict[str, str] | None = None,
        timestamp: int | None = None,
        secret: str | None = None,
        settle: bool = True,
    ) -> Reply:
        from sandbox.socket_mode import NotAcknowledged

        kind, payload = envelope_of(body, content_type)
        envelope = self.socket.deliver(kind, payload, accepts_response_payload=kind != "events_api")
        try:
            answer = self.socket.wait(envelope, self.timeout)
        except NotAcknowledged:
            # What the person sees in Slack: the app did not answer.
            reply = Reply(408, "")
        else:
            reply = Reply(200, json.dumps(answer) if answer else "")
        reply.request_body, reply.content_type = body, content_type
        if settle and self.work is not None:
            self.settle()
        return reply


def envelope_of(body: bytes, content_type: str) -> tuple[str, dict[str, Any]]:
    """What Slack would POST over HTTP, as the type and payload of a Socket Mode envelope."""
    if content_type.startswith("application/json"):
        return "events_api", json.loads(body)
    fields = dict(parse_qsl(body.decode(), keep_blank_values=True))
    if "payload" in fields:
        return "interactive", json.loads(fields["payload"])
    return "slash_commands", fields


def _element_state(element: dict[str, Any], value: Any) -> dict[str, Any]:
    kind = element["type"]
    if kind in ("static_select", "external_select"):
        return {
            "type": kind,
            "selected_option": {"value": value, "text": {"type": "plain_text", "text": value}},
        }
    if kind in ("multi_static_select", "multi_external_select", "checkboxes"):
        return {"type": kind, "selected_options": [{"value": v} for v in value]}
    if kind == "users_select":
        return {"type": kind, "selected_user": value}
    if kind == "multi_users_select":
        return {"type": kind, "selected_users": value}
    if kind == "datepicker":
        return {"type": kind, "selected_date": value}
    if kind == "timepicker":
        return {"type": kind, "selected_time": value}
    return {"type": kind, "value": value}
