"""An emulated Slack workspace: the Web API on loopback, checking what real Slack checks and
recording every call.

It keeps a workspace (people, channels, messages, pins, views and each person's modal
stack), answers errors the way Slack does (HTTP 200 with ok=false; HTTP 429 with
Retry-After), applies rate-limit tiers, and lets a test inject failures. It also serves the
response_url endpoints that slash commands and interactions carry, and shows their replies
where Slack would: in the channel, or to the one person. The test suite runs casehub against
it, and the sandbox (`python -m bot sandbox`) shows it in a browser.

Files travel as they do in Slack since `files.upload` was retired: `files.getUploadURLExternal`
(a filename and the length in bytes, both required) gives a file id and an upload URL; the bytes
are POSTed to that URL (raw, or as a multipart form), once, and must be as long as announced;
`files.completeUploadExternal` then finishes the upload and shares the files in `channel_id` (a
conversation the bot can post in) as one message, with `initial_comment` as its text. Slack does
not document every refusal of these; where it does not, the emulator's choice is noted beside it.
"""

from __future__ import annotations

import copy
import email.parser
import email.policy
import itertools
import json
import re
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlparse

from models.clock import clock
from sandbox import blockkit
from sandbox.openid import OpenIDProvider

if TYPE_CHECKING:
    from sandbox.socket_mode import SocketModeSlack

TOKEN = "xoxb-test-token"
# The app-level token that opens Socket Mode connections (`socket_mode`), and only that.
APP_TOKEN = "xapp-emulated-app-token"
APP_TOKEN_METHODS = {"apps.connections.open"}
BOT_USER = "UBOT"
TEAM = "T0CASEHUB"
_NAME = re.compile(r"^[a-z0-9_-]+$")
# What Slack turns into a notification for many people when it reads it unescaped in mrkdwn.
BROADCAST = re.compile(r"<!(?:channel|here|everyone|subteam\^)")
# The calls whose text Slack shows people (response_url replies are recorded apart).
SHOWN = {
    "chat.postMessage",
    "chat.update",
    "chat.postEphemeral",
    "views.open",
    "views.push",
    "views.update",
    "views.publish",
    "files.completeUploadExternal",
}
# Rate-limit tiers per method (calls a minute), as Slack documents them.
TIERS = {
    "conversations.create": 20,
    "conversations.invite": 50,
    "conversations.kick": 50,
    "conversations.setTopic": 20,
    "conversations.archive": 20,
    "pins.add": 20,
    "views.open": 100,
    "views.update": 100,
    "views.publish": 100,
    "views.push": 100,
    "users.info": 100,
    "conversations.open": 50,
    "chat.update": 50,
    "chat.delete": 50,
    "chat.postEphemeral": 100,
    "conversations.members": 100,
    "conversations.history": 50,
    "conversations.info": 100,
    "users.conversations": 50,
    "auth.test": 100,
    "chat.postMessage": 600,
    "files.getUploadURLExternal": 100,
    "files.completeUploadExternal": 100,
}
# The calls that change nothing anyone sees.
READS = {
    "auth.test",
    "users.info",
    "conversations.info",
    "conversations.members",
    "conversations.history",
    "users.conversations",
}
PER_CHANNEL_POSTS = 60  # about one a second per channel, with Slack's short bursts allowed
# What an upload URL's failures are injected under (`fail_upload`): it is no Web API method.
UPLOAD = "upload"
ALT_TEXT_MAX = 1000


class SlackError(Exception):
    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error, self.extra = error, extra


@dataclass
class Channel:
    id: str
    name: str
    is_private: bool
    members: set[str]
    creator: str
    topic: str = ""
    archived: bool = False
    pins: list[str] = field(default_factory=list)
    is_im: bool = False


@dataclass
class Call:
    method: str
    args: dict[str, Any]
    ok: bool
    error: str | None
    at: float
    detail: dict[str, Any] = field(default_factory=dict)  # what Slack said beside the error


@dataclass
class Injection:
    error: str | None
    status: int
    retry_after: int
    times: int


@dataclass(frozen=True)
class Origin:
    """Where a request came from: a response_url's replies go there."""

    user: str | None = None
    channel: str | None = None
    message_ts: str | None = None  # the message whose button or menu was used


EventSink = Callable[[dict[str, Any]], None]


class EmulatedSlack:
    def __init__(
        self,
        *,
        enforce_rate_limits: bool = True,
        open_workspace: bool = False,
        events: EventSink | None = None,
    ) -> None:
        # open_workspace: any user ID exists (for benchmarks with thousands of synthetic staff).
        self.open_workspace = open_workspace
        # events: told of what Slack would send the app as an event (people joining channels);
        # called holding the workspace's lock, so it must only hand the event on.
        self.events = events
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.version = 0  # moves on with every change and refused call: whoever watches looks again
        self.users: dict[str, dict[str, Any]] = {}
        self.channels: dict[str, Channel] = {}
        self.messages: list[dict[str, Any]] = []
        self.views: dict[str, dict[str, Any]] = {}
        self.opened_views: list[dict[str, Any]] = []
        self.published: dict[str, dict[str, Any]] = {}
        self.modals: dict[str, list[str]] = defaultdict(list)  # person -> view ids, the top last
        self.view_errors: dict[str, dict[str, str]] = {}
        self.calls: list[Call] = []
        # Files by id: name, title, announced length, bytes once uploaded, where they are shared.
        self.files: dict[str, dict[str, Any]] = {}
        self._uploads: dict[str, str] = {}  # upload URL key -> file id, until the URL is used
        self.requests_received = 0  # every HTTP request, to any path, answered or not
        self.responses: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self._response_issued: dict[str, float] = {}
        self._origins: dict[str, Origin] = {}
        self._triggers: dict[str, tuple[float, str]] = {}
        self._injections: dict[str, deque[Injection]] = defaultdict(deque)
        self._delays: dict[str, float] = {}
        self._lost_answers: dict[str, int] = defaultdict(int)
        self._window: dict[str, deque[float]] = defaultdict(deque)
        self.enforce_rate_limits = enforce_rate_limits
        self._ids = itertools.count(1000)
        self._ts = itertools.count(1)
        self.add_user(BOT_USER, is_bot=True)
        self.openid = OpenIDProvider(TEAM)  # Sign in with Slack
        self.socket: SocketModeSlack | None = None  # Socket Mode, once `socket_mode` turns it on
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    # ---- running ----------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def api_url(self) -> str:
        return self.url + "/api/"

    def start(self) -> EmulatedSlack:
        self.openid.base_url = self.url
        self._thread.start()
        return self

    def stop(self) -> None:
        if self.socket is not None:
            self.socket.stop()
        self._server.shutdown()
        self._server.server_close()

    def socket_mode(self, **options: Any) -> SocketModeSlack:
        """Turn Socket Mode on: `apps.connections.open` answers with a WebSocket URL of the
        emulator's (`sandbox.socket_mode`), over which Slack then delivers what the app is sent."""
        from sandbox.socket_mode import SocketModeSlack

        if self.socket is None:
            self.socket = SocketModeSlack(**options).start()
        return self.socket

    # ---- setting up the workspace and injecting trouble ----------------------------------------
    def add_user(
        self,
        user_id: str,
        *,
        tz: str = "Europe/London",
        is_bot: bool = False,
        email: str | None = None,
        name: str | None = None,
        title: str = "",
        handle: str | None = None,
    ) -> None:
        with self.lock:
            self.users[user_id] = {
                "id": user_id,
                "name": handle or user_id.lower(),
                "real_name": name or user_id,
                "tz": tz,
                "is_bot": is_bot,
                "deleted": False,
                "profile": {
                    "email": email or f"{user_id.lower()}@example.org",
                    "real_name": name or user_id,
                    "title": title,
                },
            }

    def add_channel(self, name: str, *, members: set[str] | None = None, private: bool = False) -> str:
        with self.lock:
            channel_id = f"C{next(self._ids)}"
            self.channels[channel_id] = Channel(channel_id, name, private, set(members or ()), "UOTHER")
            self._changed()
            return channel_id

    def fail(self, method: str, error: str, *, times: int = 1) -> None:
        """The next `times` calls of `method` answer ok=false with `error`."""
        self._injections[method].append(Injection(error, 200, 0, times))

    def rate_limit(self, method: str, *, times: int = 1, retry_after: int = 0) -> None:
        self._injections[method].append(Injection(None, 429, retry_after, times))

    def server_error(self, method: str, *, times: int = 1) -> None:
        self._injections[method].append(Injection(None, 503, 0, times))

    def fail_upload(self, *, status: int = 500, times: int = 1) -> None:
        """The next `times` uploads to an upload URL answer HTTP `status` and store nothing."""
        self._injections[UPLOAD].append(Injection(None, status, 0, times))

    def lose_answer(self, method: str, *, times: int = 1) -> None:
        """The next `times` calls of `method` take effect, but their answer is a 503, as when
        a gateway times out after Slack did the work."""
        self._lost_answers[method] += times

    def heal(self, method: str) -> None:
        """Forget the failures still to come for `method`: Slack answers again."""
        self._injections.pop(method, None)

    def delay(self, method: str, seconds: float) -> None:
        self._delays[method] = seconds

    def issue_trigger(self, user: str) -> str:
        trigger = f"{next(self._ids)}.{next(self._ids)}.trigger"
        with self.lock:
            self._triggers[trigger] = (time.monotonic(), user)
        return trigger

    def issue_response_url(self, origin: Origin | None = None) -> str:
        """A response_url for a request; with its origin, its replies are shown where Slack
        shows them (the person's screen, or the channel)."""
        key = f"R{next(self._ids)}"
        with self.lock:
            self._response_issued[key] = time.monotonic()
            if origin is not None:
                self._origins[key] = origin
        return f"{self.url}/response/{key}"

    # ---- what people do, as Slack records it ---------------------------------------------------
    def post_as(self, user: str, channel_id: str, text: str) -> str:
        """A person's own message in a channel they are in."""
        with self.lock:
            channel = self.channels.get(channel_id)
            if channel is None or user not in channel.members:
                raise SlackError("not_in_channel")
            if channel.archived:
                raise SlackError("is_archived")
            ts = self._ts_now()
            self.messages.append(_message(channel.id, ts, user, text, None))
            self._changed()
            return ts

    def echo(self, user: str, channel_id: str, text: str) -> None:
        """What a person typed as a slash command: shown to them only, as Slack does."""
        with self.lock:
            entry = _message(channel_id, self._ts_now(), user, text, None, ephemeral_to=user)
            self.messages.append({**entry, "via": "typed"})
            self._changed()

    def show_reply(self, origin: Origin, payload: dict[str, Any]) -> None:
        """An app's answer to a request (an acknowledgement's body or a response_url reply)
        shown as Slack shows it: replacing or deleting the message acted on, in the channel
        for everyone (`in_channel`), or to the person alone."""
        with self.lock:
            if origin.channel is None:
                return
            acted_on = next(
                (
                    m
                    for m in self.messages
                    if origin.message_ts is not None
                    and m["channel"] == origin.channel
                    and m["ts"] == origin.message_ts
                ),
                None,
            )
            if acted_on is not None and _truthy(payload.get("delete_original")):
                self.messages.remove(acted_on)
            elif acted_on is not None and _truthy(payload.get("replace_original")):
                acted_on.update(
                    text=payload.get("text") or acted_on["text"],
                    blocks=_decode(payload.get("blocks")),
                    edits=acted_on.get("edits", 0) + 1,
                )
            elif (payload.get("text") or payload.get("blocks")) and (
                payload.get("response_type") == "in_channel" or origin.user is not None
            ):
                public = payload.get("response_type") == "in_channel"
                entry = _message(
                    origin.channel,
                    self._ts_now(),
                    BOT_USER,
                    payload.get("text") or "",
                    _decode(payload.get("blocks")),
                    ephemeral_to=None if public else origin.user,
                )
                self.messages.append({**entry, "via": "response"})
            self._changed()

    def answer_submission(self, user: str, view_id: str, answer: dict[str, Any] | None) -> None:
        """The app's answer to a view submission, applied as Slack applies it before anything
        the app does next: errors shown inline, the view updated or pushed, the stack cleared,
        or (no answer) the submitted view closed. An answer Slack would not take is kept with
        the refused calls, and the form stays as it was."""
        with self.lock:
            action = (answer or {}).get("response_action")
            stack = self.modals[user]
            try:
                if action == "errors":
                    self.view_errors[view_id] = dict((answer or {}).get("errors") or {})
                elif action == "update":
                    self.view_errors.pop(view_id, None)
                    self._store_view((answer or {}).get("view"), user, view_id)
                elif action == "push":
                    if len(stack) >= 3:
                        raise SlackError("push_limit_reached")
                    stack.append(self._store_view((answer or {}).get("view"), user)["id"])
                elif action == "clear":
                    self._close(user, stack[0] if stack else view_id)
                else:
                    self._close(user, view_id)
            except SlackError as error:
                refused = Call(f"response_action:{action}", answer or {}, False, error.error, time.time())
                refused.detail = error.extra
                self.calls.append(refused)
            self._changed()

    def close_view(self, user: str, view_id: str) -> None:
        with self.lock:
            self._close(user, view_id)
            self._changed()

    def _close(self, user: str, view_id: str) -> None:
        """The view and those pushed over it closed, their inline errors forgotten."""
        stack = self.modals[user]
        if view_id in stack:
            for closed in stack[stack.index(view_id) :]:
                self.view_errors.pop(closed, None)
            del stack[stack.index(view_id) :]

    def modal_of(self, user: str) -> dict[str, Any] | None:
        """The view on top of a person's modal stack, with its inline errors."""
        with self.lock:
            stack = self.modals.get(user) or []
            if not stack:
                return None
            view = self.views[stack[-1]]
            return {"view": view, "errors": self.view_errors.get(view["id"], {}), "depth": len(stack)}

    def refusals(self) -> list[Call]:
        """Every Web API call Slack refused, oldest first."""
        with self.lock:
            return [c for c in self.calls if not c.ok]

    def wait_for_change(self, since: int, timeout: float) -> int:
        """The workspace's version once it differs from `since`, or after `timeout` seconds."""
        with self.changed:
            self.changed.wait_for(lambda: self.version != since, timeout)
            return self.version

    def snapshot(self) -> dict[str, Any]:
        """The whole workspace, to go back to with `restore`."""
        with self.lock:
            return copy.deepcopy(
                {
                    "users": self.users,
                    "channels": self.channels,
                    "messages": self.messages,
                    "views": self.views,
                    "published": self.published,
                    "files": self.files,
                }
            )

    def restore(self, saved: dict[str, Any]) -> None:
        with self.lock:
            saved = copy.deepcopy(saved)
            self.users, self.channels, self.messages = saved["users"], saved["channels"], saved["messages"]
            self.views, self.published = saved["views"], saved["published"]
            self.files = saved.get("files", {})
            self._uploads.clear()
            self.modals.clear()
            self.view_errors.clear()
            self.opened_views.clear()
            self.calls.clear()
            self.responses.clear()
            for kept in (
                self._response_issued,
                self._origins,
                self._triggers,
                self._injections,
                self._delays,
                self._lost_answers,
                self._window,
            ):
                kept.clear()
            self._changed()

    def touch(self) -> None:
        """Something beside the workspace changed (the clock): whoever watches looks again."""
        with self.lock:
            self._changed()

    def _changed(self) -> None:
        """Called holding the lock: wakes whoever waits for the workspace to change."""
        self.version += 1
        self.changed.notify_all()

    def _emit(self, event: dict[str, Any]) -> None:
        if self.events is not None:
            self.events({**event, "event_ts": self._ts_now()})

    # ---- what tests read ----------------------------------------------------------------------
    def calls_to(self, method: str, *, ok: bool | None = None) -> list[Call]:
        with self.lock:
            return [c for c in self.calls if c.method == method and (ok is None or c.ok == ok)]

    def posts(self, channel: str | None = None) -> list[dict[str, Any]]:
        """The messages casehub posted through the Web API (not its replies to requests)."""
        with self.lock:
            return [
                m
                for m in self.messages
                if (channel is None or m["channel"] == channel) and m["user"] == BOT_USER and "via" not in m
            ]

    def dms(self, user: str) -> list[dict[str, Any]]:
        return self.posts(f"D{user}")

    def files_in(self, channel: str) -> list[dict[str, Any]]:
        """The files shared in a channel, oldest first, each with its bytes (`data`)."""
        with self.lock:
            return [dict(f) for f in self.files.values() if channel in f["channels"]]

    def channel_named(self, name: str) -> Channel:
        with self.lock:
            return next(c for c in self.channels.values() if c.name == name)

    def all_text(self) -> str:
        """Everything casehub sent to Slack, for checks that nothing personal leaked."""
        with self.lock:
            return json.dumps([c.args for c in self.calls]) + json.dumps(self.responses)

    def read_texts(self) -> list[tuple[str, str]]:
        """(method, text) for every text casehub sent that Slack reads as mrkdwn.

        That is a message's `text` and every text object but plain_text ones, in messages,
        response_url replies and views. plain_text objects, input values, button values and
        metadata are shown, or kept, as they are.
        """
        with self.lock:
            sent = [(c.method, c.args) for c in self.calls if c.method in SHOWN]
            sent += [("response_url", reply) for replies in self.responses.values() for reply in replies]
        return [(method, text) for method, args in sent for text in _read_as_mrkdwn(args)]

    def broadcasts(self) -> list[tuple[str, str]]:
        """(method, text) for every text casehub sent where Slack would read a broadcast.

        The fake refuses none (Slack would not): a test says which, if any, it expects.
        """
        return [(method, text) for method, text in self.read_texts() if BROADCAST.search(text)]

    def replies(self, response_url: str) -> list[dict[str, Any]]:
        return self.responses[response_url.rsplit("/", 1)[-1]]

    def last_view(self) -> dict[str, Any]:
        with self.lock:
            return self.opened_views[-1]

    # ---- the HTTP side ------------------------------------------------------------------------
    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                self.do_POST()

            def do_POST(self) -> None:
                with fake.lock:
                    fake.requests_received += 1
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                path = urlparse(self.path)
                if fake._openid(self, path.path, path.query, raw):
                    return
                if path.path.startswith("/upload/"):
                    status, said = fake._receive_upload(
                        path.path.rsplit("/", 1)[-1], raw, self.headers.get("Content-Type", "")
                    )
                    self._reply_text(status, said)
                    return
                args: dict[str, Any] = dict(parse_qsl(path.query))
                ctype = self.headers.get("Content-Type", "")
                try:
                    if raw and "json" in ctype:
                        decoded = json.loads(raw)
                        if not isinstance(decoded, dict):
                            raise ValueError("not an object")
                        args.update(decoded)
                    elif raw:
                        args.update(dict(parse_qsl(raw.decode())))
                except ValueError:  # UnicodeDecodeError included
                    self._reply(200, {"ok": False, "error": "invalid_json"}, {})
                    return
                if path.path.startswith("/response/"):
                    status, body, headers = fake._response_url(path.path.rsplit("/", 1)[-1], args)
                else:
                    method = path.path.removeprefix("/api/")
                    status, body, headers = fake._dispatch(method, args, self.headers)
                self._reply(status, body, headers)

            def _reply_text(self, status: int, text: str) -> None:
                data = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _reply(self, status: int, body: Any, headers: dict[str, str]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

        return Handler

    def _openid(self, handler: BaseHTTPRequestHandler, path: str, query: str, raw: bytes) -> bool:
        """Sign in with Slack's endpoints (`sandbox.openid`); False for any other path."""
        provider = self.openid
        if path == "/.well-known/openid-configuration":
            _send(handler, 200, provider.configuration())
        elif path == "/openid/connect/keys":
            _send(handler, 200, provider.keys())
        elif path == "/openid/connect/authorize":
            status, location, said = provider.authorize(dict(parse_qsl(query)))
            with self.lock:
                self.calls.append(
                    Call("openid.connect.authorize", {}, location is not None, said or None, time.time())
                )
            handler.send_response(status)
            if location is not None:
                handler.send_header("Location", location)
            handler.send_header("Content-Length", str(len(said)))
            handler.end_headers()
            handler.wfile.write(said.encode())
        elif path == "/api/openid.connect.token":
            args = dict(parse_qsl(raw.decode(errors="replace")))
            answer = provider.token(args, handler.headers.get("Authorization"))
            with self.lock:  # recorded without the app's secret or the code
                self.calls.append(
                    Call("openid.connect.token", {}, answer["ok"], answer.get("error"), time.time())
                )
            _send(handler, 200, answer)
        else:
            return False
        return True

    def _record(self, method: str, ok: bool, error: str | None) -> None:
        with self.lock:
            self.calls.append(Call(method, {}, ok, error, time.time()))
            self._changed()

    def _receive_upload(self, key: str, raw: bytes, content_type: str) -> tuple[int, str]:
        """A file's bytes POSTed to its upload URL: once, and exactly as long as announced."""
        with self.lock:
            record = Call(UPLOAD, {"url_key": key, "bytes": len(raw)}, False, None, time.time())
            self.calls.append(record)
            queue = self._injections.get(UPLOAD)
            if queue:
                injection = queue[0]
                injection.times -= 1
                if injection.times <= 0:
                    queue.popleft()
                record.error = f"http_{injection.status}"
                self._changed()
                return injection.status, "upload failed"
            file_id = self._uploads.get(key)
            if file_id is None:  # never issued, or used already
                record.error = "http_404"
                self._changed()
                return 404, "unknown or used upload URL"
            data = _uploaded_bytes(raw, content_type)
            stored = self.files[file_id]
            if len(data) != stored["length"]:
                # The emulator's choice: Slack's answer to a length that does not match is not
                # documented; the upload is refused, and the file stays without its bytes.
                record.error = "http_400"
                self._changed()
                return 400, f"length mismatch: {len(data)} bytes, {stored['length']} announced"
            del self._uploads[key]
            stored["data"] = data
            record.ok = True
            self._changed()
            return 200, f"OK - {len(data)}"

    def _response_url(self, key: str, args: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
        with self.lock:
            issued = self._response_issued.get(key)
            if issued is None or time.monotonic() - issued > 1800 or len(self.responses[key]) >= 5:
                return 404, {"ok": False, "error": "expired_url"}, {}
            if "blocks" in args:
                problems = blockkit.validate(_decode(args["blocks"]), "message")
                if problems:
                    return 400, {"ok": False, "error": "invalid_blocks", "errors": problems}, {}
            self.responses[key].append(args)
            origin = self._origins.get(key)
            if origin is not None:
                self.show_reply(origin, args)
        return 200, {"ok": True}, {}

    def _dispatch(self, method: str, args: dict[str, Any], headers: Any) -> tuple[int, Any, dict]:
        record = Call(method, args, False, None, time.time())
        with self.lock:
            self.calls.append(record)
        if method in self._delays:  # a slow Slack: the call is seen at once, answered later
            time.sleep(self._delays[method])
        with self.lock:
            try:
                return self._answer(method, args, headers, record)
            finally:
                if method not in READS or not record.ok:  # a change, or a refusal to show
                    self._changed()

    def _answer(self, method: str, args: dict[str, Any], headers: Any, record: Call) -> tuple[int, Any, dict]:
        """Called holding the lock."""
        wanted, other = (APP_TOKEN, TOKEN) if method in APP_TOKEN_METHODS else (TOKEN, APP_TOKEN)
        given = headers.get("Authorization")
        if given != f"Bearer {wanted}":
            # A token of the other kind is a real token, used where it may not be.
            record.error = "not_allowed_token_type" if given == f"Bearer {other}" else "invalid_auth"
            return 200, {"ok": False, "error": record.error}, {}
        queue = self._injections.get(method)
        if queue:
            injection = queue[0]
            injection.times -= 1
            if injection.times <= 0:
                queue.popleft()
            if injection.status != 200:
                record.error = f"http_{injection.status}"
                return (
                    injection.status,
                    {"ok": False, "error": "ratelimited"},
                    {"Retry-After": str(injection.retry_after)},
                )
            record.error = injection.error
            return 200, {"ok": False, "error": injection.error}, {}
        limited = self._rate_limited(method, args)
        if limited is not None:
            record.error = "ratelimited"
            return 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(limited)}
        handler = getattr(self, "_" + method.replace(".", "_"), None)
        if handler is None:
            record.error = "unknown_method"
            return 200, {"ok": False, "error": "unknown_method"}, {}
        try:
            try:
                result = handler(args)
            except (ValueError, TypeError, KeyError, AttributeError):
                raise SlackError("invalid_arguments") from None  # what Slack says of a malformed call
        except SlackError as error:
            record.error, record.detail = error.error, error.extra
            return 200, {"ok": False, "error": error.error, **error.extra}, {}
        record.ok = True
        if self._lost_answers[method] > 0:
            self._lost_answers[method] -= 1
            return 503, {"ok": False, "error": "service_unavailable"}, {}
        return 200, {"ok": True, **result}, {}

    def _rate_limited(self, method: str, args: dict[str, Any]) -> int | None:
        if not self.enforce_rate_limits:
            return None
        now = time.monotonic()
        keys = [(method, TIERS.get(method, 50))]
        if method == "chat.postMessage":
            keys.append((f"{method}:{args.get('channel')}", PER_CHANNEL_POSTS))
        for key, limit in keys:
            window = self._window[key]
            while window and now - window[0] > 60:
                window.popleft()
            if len(window) >= limit:
                return max(1, int(60 - (now - window[0])) + 1)
        for key, _limit in keys:
            self._window[key].append(now)
        return None

    # ---- helpers ------------------------------------------------------------------------------
    def _channel(self, channel_id: str | None, *, member: bool = True) -> Channel:
        if not channel_id:
            raise SlackError("channel_not_found")
        if self.open_workspace and channel_id.startswith(("U", "W")):
            self._user(channel_id)
        if channel_id.startswith(("U", "W")) and channel_id in self.users:
            channel_id = f"D{channel_id}"
        if channel_id.startswith("D") and channel_id[1:] in self.users and channel_id not in self.channels:
            self.channels[channel_id] = Channel(
                channel_id, channel_id, True, {BOT_USER, channel_id[1:]}, BOT_USER, is_im=True
            )
        channel = self.channels.get(channel_id)
        if channel is None and self.open_workspace and channel_id.startswith("C"):
            channel = self.channels[channel_id] = Channel(
                channel_id, channel_id.lower(), True, {BOT_USER}, BOT_USER
            )
        if channel is None:
            raise SlackError("channel_not_found")
        if member and BOT_USER not in channel.members:
            # A private channel the bot is not in does not exist as far as the bot can see.
            raise SlackError("channel_not_found" if channel.is_private else "not_in_channel")
        return channel

    def _user(self, user_id: str | None) -> dict[str, Any]:
        if self.open_workspace and user_id and user_id not in self.users:
            self.add_user(user_id)
        user = self.users.get(user_id or "")
        if user is None or user["deleted"]:
            raise SlackError("user_not_found")
        return user

    def _check_blocks(self, args: dict[str, Any], surface: str = "message") -> Any:
        if "blocks" not in args or args["blocks"] in (None, ""):
            return None
        blocks = _decode(args["blocks"])
        problems = blockkit.validate(blocks, surface)
        if problems:
            raise SlackError("invalid_blocks", errors=problems)
        return blocks

    def _ts_now(self) -> str:
        # Slack's clock and casehub's agree, as they do in life: a test that sets casehub's
        # clock sets the time of the messages too.
        return f"{int(clock.now().timestamp())}.{next(self._ts):06d}"

    # ---- methods ------------------------------------------------------------------------------
    def _auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "user_id": BOT_USER,
            "bot_id": "BCASEHUB",
            "team_id": TEAM,
            "team": "casehub test",
            "url": "https://casehub-test.slack.com/",
        }

    def _apps_connections_open(self, args: dict[str, Any]) -> dict[str, Any]:
        if self.socket is None or not self.socket.enabled:
            # The emulator's choice of error: Slack documents none for an app whose Socket Mode
            # is off.
            raise SlackError("access_denied")
        return {"url": self.socket.issue_url()}

    def _users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user = self._user(args.get("user"))
        shown = {key: user[key] for key in ("id", "name", "real_name", "tz", "is_bot", "profile")}
        if _truthy(args.get("include_locale")):
            shown["locale"] = "en-GB"
        return {"user": shown}

    def _conversations_create(self, args: dict[str, Any]) -> dict[str, Any]:
        name = args.get("name") or ""
        if len(name) > 80:
            raise SlackError("invalid_name_maxlength")
        if not name or not _NAME.match(name):
            raise SlackError("invalid_name_specials")
        if any(c.name == name for c in self.channels.values()):
            raise SlackError("name_taken")
        channel_id = f"C{next(self._ids)}"
        private = _truthy(args.get("is_private"))
        self.channels[channel_id] = Channel(channel_id, name, private, {BOT_USER}, BOT_USER)
        return {"channel": {"id": channel_id, "name": name, "is_private": private}}

    def _conversations_invite(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args.get("channel"))
        if channel.archived:
            raise SlackError("is_archived")
        users = [u for u in str(args.get("users", "")).split(",") if u]
        if not users:
            raise SlackError("no_user")
        if len(users) > 100:
            raise SlackError("too_many_users")
        problems = []
        for user_id in users:
            if user_id == BOT_USER:
                problems.append({"user": user_id, "ok": False, "error": "cant_invite_self"})
            elif user_id not in self.users or self.users[user_id]["deleted"]:
                problems.append({"user": user_id, "ok": False, "error": "user_not_found"})
            elif user_id in channel.members:
                problems.append({"user": user_id, "ok": False, "error": "already_in_channel"})
        if problems and not (_truthy(args.get("force")) and len(problems) < len(users)):
            raise SlackError(str(problems[0]["error"]), errors=problems)
        bad = {p["user"] for p in problems}
        for user_id in users:
            if user_id not in bad:
                channel.members.add(user_id)
                self._emit(
                    {
                        "type": "member_joined_channel",
                        "user": user_id,
                        "channel": channel.id,
                        "channel_type": "G" if channel.is_private else "C",
                        "team": TEAM,
                        "inviter": BOT_USER,
                    }
                )
        result: dict[str, Any] = {"channel": {"id": channel.id}}
        if problems:
            result["errors"] = problems
        return result

    def _conversations_kick(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args.get("channel"))
        user = args.get("user")
        if user == BOT_USER:
            raise SlackError("cant_kick_self")
        self._user(user)
        if user not in channel.members:
            raise SlackError("not_in_channel")
        channel.members.discard(user)
        return {}

    def _conversations_setTopic(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args.get("channel"))
        topic = args.get("topic", "")
        if len(topic) > 250:
            raise SlackError("too_long")
        if channel.archived:
            raise SlackError("is_archived")
        channel.topic = topic
        return {"channel": {"id": channel.id, "topic": {"value": topic}}}

    def _conversations_archive(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args.get("channel"))
        if channel.archived:
            raise SlackError("already_archived")
        channel.archived = True
        return {}

    def _conversations_members(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args.get("channel"))
        return {"members": sorted(channel.members), "response_metadata": {"next_cursor": ""}}

    def _users_conversations(self, args: dict[str, Any]) -> dict[str, Any]:
        """The conversations the caller (the bot) is in, a page at a time, as Slack pages them."""
        types = set(str(args.get("types") or "public_channel").split(","))
        if not types <= {"public_channel", "private_channel", "mpim", "im"}:
            raise SlackError("invalid_types")
        limit = int(args.get("limit") or 100)
        if not 1 <= limit <= 1000:
            raise SlackError("invalid_limit")
        wanted = sorted(
            (
                c
                for c in self.channels.values()
                if BOT_USER in c.members
                and not c.is_im
                and ("private_channel" if c.is_private else "public_channel") in types
                and not (c.archived and _truthy(args.get("exclude_archived")))
            ),
            key=lambda c: c.id,
        )
        start = int(args.get("cursor") or 0)
        page = wanted[start : start + limit]
        following = str(start + limit) if start + limit < len(wanted) else ""
        return {
            "channels": [{"id": c.id, "name": c.name, "is_private": c.is_private} for c in page],
            "response_metadata": {"next_cursor": following},
        }

    def _conversations_info(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args.get("channel"), member=False)
        return {
            "channel": {
                "id": channel.id,
                "name": channel.name,
                "is_private": channel.is_private,
                "is_archived": channel.archived,
                "topic": {"value": channel.topic},
            }
        }

    def _conversations_open(self, args: dict[str, Any]) -> dict[str, Any]:
        users = [u for u in str(args.get("users", "")).split(",") if u]
        if not users or len(users) > 8:
            raise SlackError("too_many_users" if users else "users_list_not_supplied")
        for user in users:
            self._user(user)
        channel = self._channel(f"D{users[0]}") if len(users) == 1 else None
        return {"channel": {"id": channel.id if channel else f"G{'-'.join(users)}"}}

    def _chat_postMessage(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args.get("channel"))
        if channel.archived:
            raise SlackError("is_archived")
        blocks = self._check_blocks(args)
        text = args.get("text") or ""
        if not text and not blocks:
            raise SlackError("no_text")
        ts = self._ts_now()
        message = _message(channel.id, ts, BOT_USER, text[:40000], blocks, thread_ts=args.get("thread_ts"))
        message["metadata"] = _decode(args.get("metadata"))
        self.messages.append(message)
        return {"channel": channel.id, "ts": ts, "message": {"text": text, "ts": ts}}

    def _conversations_history(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args.get("channel"))
        oldest = float(args.get("oldest") or 0)
        with_metadata = _truthy(args.get("include_all_metadata"))
        found = []
        for message in reversed(self.messages):
            if (
                message["channel"] != channel.id
                or message.get("ephemeral_to")
                or float(message["ts"]) < oldest
            ):
                continue
            shown = {"type": "message", "ts": message["ts"], "text": message["text"], "user": message["user"]}
            if message.get("files"):
                shown["files"] = message["files"]
            if with_metadata and message.get("metadata"):
                shown["metadata"] = message["metadata"]
            found.append(shown)
        # Newest first, a page at a time: the cursor says where the next page starts.
        limit = min(max(int(args.get("limit") or 100), 1), 999)
        start = int(str(args.get("cursor") or "0").removeprefix("page-") or 0)
        page, rest = found[start : start + limit], found[start + limit :]
        more = {"response_metadata": {"next_cursor": f"page-{start + limit}"}} if rest else {}
        return {"messages": page, "has_more": bool(rest), **more}

    def _files_getUploadURLExternal(self, args: dict[str, Any]) -> dict[str, Any]:
        problems = []
        filename = str(args.get("filename") or "")
        if not filename.strip():
            problems.append("[ERROR] missing required field: filename")
        length = str(args.get("length") or "")
        if not length:
            problems.append("[ERROR] missing required field: length")
        elif not length.isdigit() or int(length) < 1:
            problems.append("[ERROR] invalid value for length: a positive number of bytes")
        if problems:
            raise SlackError("invalid_arguments", response_metadata={"messages": problems})
        if len(str(args.get("alt_txt") or "")) > ALT_TEXT_MAX:
            raise SlackError("alt_txt_too_large")
        file_id, key = f"F{next(self._ids)}", f"U{next(self._ids)}"
        self.files[file_id] = {
            "id": file_id,
            "name": filename,
            "title": filename,
            "length": int(length),
            "data": None,
            "channels": [],
            "completed": False,
            "user": BOT_USER,
        }
        self._uploads[key] = file_id
        return {"upload_url": f"{self.url}/upload/{key}", "file_id": file_id}

    def _files_completeUploadExternal(self, args: dict[str, Any]) -> dict[str, Any]:
        wanted = _decode(args.get("files"))
        if (
            not isinstance(wanted, list)
            or not wanted
            or not all(isinstance(f, dict) and isinstance(f.get("id"), str) for f in wanted)
        ):
            raise SlackError(
                "invalid_arguments",
                response_metadata={"messages": ["[ERROR] files: an array of {id, title}"]},
            )
        targets = [c for c in [args.get("channel_id"), *str(args.get("channels") or "").split(",")] if c]
        channels = [self._channel(c) for c in dict.fromkeys(targets)]
        if any(channel.archived for channel in channels):
            raise SlackError("is_archived")
        stored = []
        for item in wanted:
            found = self.files.get(item["id"])
            # The emulator's choice: a file whose bytes never arrived, or that was completed
            # already, is no upload to complete, as an id never issued is not.
            if found is None or found["data"] is None or found["completed"]:
                raise SlackError("file_not_found")
            stored.append((found, item))
        for found, item in stored:
            found.update(completed=True, title=str(item.get("title") or found["name"]))
            found["channels"].extend(c.id for c in channels)
        summaries = [_file_summary(found) for found, _ in stored]
        comment = str(args.get("initial_comment") or "")
        for channel in channels:
            message = _message(
                channel.id, self._ts_now(), BOT_USER, comment, None, thread_ts=args.get("thread_ts")
            )
            message["files"] = summaries
            self.messages.append(message)
        return {"files": summaries}

    def _chat_postEphemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args.get("channel"))
        user = self._user(args.get("user"))
        if user["id"] not in channel.members:
            raise SlackError("user_not_in_channel")
        blocks = self._check_blocks(args)
        ts = self._ts_now()
        self.messages.append(
            _message(channel.id, ts, BOT_USER, args.get("text") or "", blocks, ephemeral_to=user["id"])
        )
        return {"message_ts": ts}

    def _chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args.get("channel"))
        message = self._own_message(channel, args.get("ts"), "cant_update_message")
        if len(args.get("text") or "") > 4000:
            raise SlackError("msg_too_long")
        blocks = self._check_blocks(args)
        message.update(text=args.get("text") or message["text"], edits=message["edits"] + 1)
        if blocks is not None:
            message["blocks"] = blocks
        return {"channel": channel.id, "ts": message["ts"]}

    def _chat_delete(self, args: dict[str, Any]) -> dict[str, Any]:
        """A bot token deletes the bot's own messages only."""
        channel = self._channel(args.get("channel"))
        message = self._own_message(channel, args.get("ts"), "cant_delete_message")
        self.messages.remove(message)
        return {"channel": channel.id, "ts": message["ts"]}

    def _own_message(self, channel: Channel, ts: Any, refusal: str) -> dict[str, Any]:
        """A message of the channel by its ts, which must be the bot's own (`refusal` if not)."""
        message = next((m for m in self.messages if m["channel"] == channel.id and m["ts"] == ts), None)
        if message is None:
            raise SlackError("message_not_found")
        if message["user"] != BOT_USER:
            raise SlackError(refusal)
        return message

    def _pins_add(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args.get("channel"))
        ts = str(args.get("timestamp") or "")
        if not any(m["channel"] == channel.id and m["ts"] == ts for m in self.messages):
            raise SlackError("message_not_found")
        if ts in channel.pins:
            raise SlackError("already_pinned")
        channel.pins.append(ts)
        return {}

    def _use_trigger(self, trigger: str | None) -> str:
        issued = self._triggers.pop(trigger or "", None)
        if issued is None:
            raise SlackError("invalid_trigger_id")
        if time.monotonic() - issued[0] > 3:
            raise SlackError("expired_trigger_id")
        return issued[1]

    def _store_view(self, view: Any, user: str, view_id: str | None = None) -> dict[str, Any]:
        view = _decode(view)
        problems = blockkit.validate_view(view)
        if problems:
            raise SlackError("invalid_arguments", response_metadata={"messages": problems})
        if len(json.dumps(view)) > 250_000:
            raise SlackError("view_too_large")
        stored = {**view, "id": view_id or f"V{next(self._ids)}", "hash": f"h{next(self._ids)}", "user": user}
        self.views[stored["id"]] = stored
        return stored

    def _views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        user = self._use_trigger(args.get("trigger_id"))
        view = self._store_view(args.get("view"), user)
        self.opened_views.append(view)
        self.modals[user] = [view["id"]]
        return {"view": view}

    def _views_push(self, args: dict[str, Any]) -> dict[str, Any]:
        user = self._use_trigger(args.get("trigger_id"))
        if len(self.modals[user]) >= 3:
            raise SlackError("push_limit_reached")
        view = self._store_view(args.get("view"), user)
        self.opened_views.append(view)
        self.modals[user].append(view["id"])
        return {"view": view}

    def _views_update(self, args: dict[str, Any]) -> dict[str, Any]:
        current = self.views.get(args.get("view_id") or "")
        if current is None or current["id"] not in self.modals.get(current["user"], []):
            raise SlackError("not_found")  # never opened, or closed since
        if args.get("hash") and args["hash"] != current["hash"]:
            raise SlackError("hash_conflict")
        view = self._store_view(args.get("view"), current["user"], current["id"])
        return {"view": view}

    def _views_publish(self, args: dict[str, Any]) -> dict[str, Any]:
        user = self._user(args.get("user_id"))
        view = _decode(args.get("view"))
        if not isinstance(view, dict) or view.get("type") != "home":
            raise SlackError("invalid_arguments")
        stored = self._store_view(view, user["id"])
        self.published[user["id"]] = stored
        return {"view": stored}


def _message(
    channel: str,
    ts: str,
    user: str,
    text: str,
    blocks: Any,
    *,
    thread_ts: str | None = None,
    ephemeral_to: str | None = None,
) -> dict[str, Any]:
    message: dict[str, Any] = {
        "channel": channel,
        "ts": ts,
        "text": text,
        "blocks": blocks,
        "user": user,
        "thread_ts": thread_ts,
        "edits": 0,
    }
    if ephemeral_to is not None:
        message["ephemeral_to"] = ephemeral_to
    return message


def _file_summary(stored: dict[str, Any]) -> dict[str, Any]:
    """A file as Slack describes it in answers and in a channel's history (without its bytes)."""
    name = stored["name"]
    kind = name.rsplit(".", 1)[-1].lower() if "." in name else "binary"
    return {
        "id": stored["id"],
        "name": name,
        "title": stored["title"],
        "size": stored["length"],
        "filetype": kind,
        "mimetype": {"pdf": "application/pdf", "json": "application/json"}.get(
            kind, "application/octet-stream"
        ),
        "user": stored["user"],
    }


def _send(handler: BaseHTTPRequestHandler, status: int, body: Any) -> None:
    data = json.dumps(body).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json; charset=utf-8")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


def _uploaded_bytes(raw: bytes, content_type: str) -> bytes:
    """The file's bytes as they came: the body itself, or the file part of a multipart form."""
    if not content_type.lower().startswith("multipart/form-data"):
        return raw
    header = f"Content-Type: {content_type}\r\n\r\n".encode()
    form = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(header + raw)
    for part in form.iter_parts():
        if part.get_filename() is not None or part.get_param("name", header="content-disposition") == "file":
            payload = part.get_payload(decode=True)
            return payload if isinstance(payload, bytes) else b""
    return b""


def _decode(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _read_as_mrkdwn(payload: Any) -> list[str]:
    """Every `text` in a payload, its blocks and views decoded, but for plain_text objects'."""
    if isinstance(payload, list):
        return [text for item in payload for text in _read_as_mrkdwn(item)]
    if not isinstance(payload, dict) or payload.get("type") == "plain_text":
        return []
    found = []
    for key, value in payload.items():
        if key in ("blocks", "view", "attachments"):  # sent as JSON in a form-encoded call
            value = _decode(value)
        if key in ("text", "initial_comment") and isinstance(value, str):
            found.append(value)
        elif isinstance(value, dict | list):
            found += _read_as_mrkdwn(value)
    return found


def _truthy(value: Any) -> bool:
    return str(value).lower() in ("1", "true", "yes")
