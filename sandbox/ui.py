"""The sandbox's web UI: a page, and a small JSON API through which people act.

GET `/ui/state?as=U&channel=C|home&since=N` is the workspace as one person sees it — their
channels and direct messages, the messages of one of them they may see (ephemeral ones only
if theirs), their Home tab, the modal on top of their stack with its inline errors, the calls
the emulated Slack refused, their first-steps checklist and the clock — held back until the
workspace moves on from version N (a long poll). The POST endpoints are what a person does in
Slack, turned into the request Slack would send casehub (`sandbox.driver`): `/ui/send` (a
slash command or a message), `/ui/action`, `/ui/submit`, `/ui/close`, `/ui/options`,
`/ui/home`; and the sandbox's own `/ui/clock` and `/ui/reset`.
"""

from __future__ import annotations

import json
import logging
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlparse

import yaml

from models.clock import clock
from sandbox.driver import Reply
from sandbox.partnership import as_slack_sends
from sandbox.runtime import Sandbox, now_label
from sandbox.slack import BOT_USER, Origin, SlackError
from sandbox.training import Deed

log = logging.getLogger("casehub.sandbox")
LONG_POLL_SECONDS = 20.0
MAX_BODY = 1_000_000
JSON = "application/json"
STATIC = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/static/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/static/app.css": ("app.css", "text/css; charset=utf-8"),
}
ADVANCES = {"1h": timedelta(hours=1), "1d": timedelta(days=1), "7d": timedelta(days=7)}
MANIFEST = Path(__file__).resolve().parent.parent / "manifest.yml"


class Refused(Exception):
    """A request the UI cannot act on; its message is shown to the person."""


class Unavailable(Exception):
    """The sandbox cannot run here (what it reads is missing)."""


def slash_commands() -> list[dict[str, str]]:
    """The commands the app offers, as its manifest declares them (what Slack suggests)."""
    try:
        manifest = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))
    except OSError:
        raise Unavailable(
            "it reads the app's commands from manifest.yml, which is not beside the installed "
            "packages: run it from a checkout of casehub"
        ) from None
    return [
        {
            "command": c["command"],
            "description": c.get("description", ""),
            "usage_hint": c.get("usage_hint", ""),
        }
        for c in manifest["features"]["slash_commands"]
    ]


class UI:
    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.slack = sandbox.slack
        self.commands = slash_commands()

    # ---- what a person sees -------------------------------------------------------------------
    def state(self, user: str, channel: str, since: int) -> dict[str, Any]:
        if self.sandbox.partnership.person(user) is None:  # a first visit: the first coordinator
            user = self.sandbox.partnership.people[0].id
        if since >= 0:
            self.slack.wait_for_change(since, LONG_POLL_SECONDS)
        with self.slack.lock:
            version = self.slack.version
            sidebar = self._sidebar(user)
            shown = self._channel(user, channel) if channel != "home" else None
            messages = self._messages(user, shown["id"]) if shown is not None else []
            home = self.slack.published.get(user) if channel == "home" else None
            modal = self.slack.modal_of(user)
            refusals = self._refusals()
            names = {
                "users": {u: self._display_name(u) for u in self.slack.users},
                # Only channels the person is in: another's private channel is not even a name.
                "channels": {c["id"]: c["name"] for c in sidebar["channels"]},
            }
        return {
            "version": version,
            "now": clock.now().isoformat(),
            "now_label": now_label(),
            "me": user,
            "people": self._people(),
            "sidebar": sidebar,
            "channel": shown,
            "messages": messages,
            "home": _home_view(home),
            "modal": _modal(modal),
            "refusals": refusals,
            "training": self.sandbox.progress.checklist(user),
            "commands": self.commands,
            "names": names,
        }

    def _people(self) -> list[dict[str, str]]:
        return [
            {
                "id": p.id,
                "name": p.name,
                "title": p.title,
                "agency": self.sandbox.partnership.agency_of(p.id),
                "role": p.checklist,
                "tz": p.tz,
            }
            for p in self.sandbox.partnership.people
        ]

    def _display_name(self, user: str) -> str:
        if user == BOT_USER:
            return "casehub"
        return str(self.slack.users[user].get("real_name") or user)

    def _sidebar(self, user: str) -> dict[str, Any]:
        channels = sorted(
            (c for c in self.slack.channels.values() if not c.is_im and user in c.members),
            key=lambda c: (c.id != self.sandbox.general, c.archived, c.name),
        )
        return {
            "channels": [
                {"id": c.id, "name": c.name, "private": c.is_private, "archived": c.archived}
                for c in channels
            ],
            "dms": [{"id": f"D{user}", "name": "casehub"}],
        }

    def _channel(self, user: str, channel_id: str) -> dict[str, Any] | None:
        if channel_id == f"D{user}":
            return {
                "id": channel_id,
                "name": "casehub",
                "private": True,
                "archived": False,
                "topic": "casehub's messages to you: digests, nudges, pages",
                "members": 2,
                "is_im": True,
                "pins": [],
            }
        channel = self.slack.channels.get(channel_id)
        if channel is None or channel.is_im or user not in channel.members:
            return None  # a private channel is not there at all for someone outside it
        return {
            "id": channel.id,
            "name": channel.name,
            "private": channel.is_private,
            "archived": channel.archived,
            "topic": channel.topic,
            "members": len(channel.members),
            "is_im": False,
            "pins": list(channel.pins),
        }

    def _messages(self, user: str, channel_id: str) -> list[dict[str, Any]]:
        pins = set(self.slack.channels[channel_id].pins) if channel_id in self.slack.channels else set()
        return [
            {
                "ts": m["ts"],
                "user": m["user"],
                "text": m.get("text") or "",
                "blocks": m.get("blocks"),
                "thread_ts": m.get("thread_ts"),
                "ephemeral": bool(m.get("ephemeral_to")),
                "edited": bool(m.get("edits")),
                "pinned": m["ts"] in pins,
                "typed": m.get("via") == "typed",
                "files": [
                    {"id": f["id"], "name": f["name"], "title": f["title"], "size": f["size"]}
                    for f in m.get("files") or []
                ],
            }
            for m in self.slack.messages
            if m["channel"] == channel_id and m.get("ephemeral_to") in (None, user)
        ]

    def file(self, user: str, file_id: str) -> tuple[bytes, str, str] | None:
        """A file's bytes, name and type, for someone in a conversation it is shared in (as
        Slack lets only them download it); None for anyone else, or for no such file."""
        with self.slack.lock:
            stored = self.slack.files.get(file_id)
            if stored is None or stored["data"] is None:
                return None
            shared = [self.slack.channels.get(c) for c in stored["channels"]]
            if not any(channel is not None and user in channel.members for channel in shared):
                return None
            kind = {"pdf": "application/pdf", "json": "application/json"}.get(
                stored["name"].rsplit(".", 1)[-1].lower(), "application/octet-stream"
            )
            return bytes(stored["data"]), stored["name"], kind

    def _refusals(self) -> list[dict[str, Any]]:
        refused = self.slack.refusals()
        return [
            {
                "n": number,
                "method": call.method,
                "error": call.error or "",
                "at": datetime.fromtimestamp(call.at, UTC).strftime("%H:%M:%S"),
                "detail": json.dumps(call.detail, ensure_ascii=False)[:600] if call.detail else "",
            }
            for number, call in list(enumerate(refused, start=1))[-20:]
        ]

    # ---- what a person does -------------------------------------------------------------------
    def send(self, user: str, channel: str, text: str) -> dict[str, Any]:
        self._person(user)
        text = text.strip()
        if not text:
            raise Refused("Type a message or a slash command first.")
        if not text.startswith("/"):
            try:
                self.slack.post_as(user, channel, text)
            except SlackError as error:
                raise Refused(f"Slack would not post that message here ({error.error}).") from None
            return {"ok": True}
        command, _, rest = text.partition(" ")
        if command not in {c["command"] for c in self.commands}:
            known = ", ".join(c["command"] for c in self.commands)
            raise Refused(f"{command} is not a valid command. The commands here are {known}.")
        if self._channel(user, channel) is None:
            raise Refused("Choose a channel you are in first.")
        self.slack.echo(user, channel, text)
        reply = self.sandbox.driver.command(
            command, as_slack_sends(rest.strip(), self.sandbox.partnership), user=user, channel=channel
        )
        origin = Origin(user, channel)
        if reply.status != 200:
            # Slack shows the person that the app failed, in its own words.
            self.slack.show_reply(origin, {"text": f'{command} failed with the error "http_{reply.status}"'})
            return {"ok": False, "error": f"casehub answered {command} with HTTP {reply.status}."}
        answer = _answer(reply)
        if answer:
            self.slack.show_reply(origin, answer)
        word = rest.strip().split(" ", 1)[0].lower()
        self.sandbox.progress.record(user, Deed("command", command, word))
        return {"ok": True}

    def act(self, user: str, body: dict[str, Any]) -> dict[str, Any]:
        """A button, menu or picker used: in a message of a channel the person is in (one shown to
        them), in their open form, or on their Home tab; the element must be there."""
        self._person(user)
        action = body.get("action")
        if not isinstance(action, dict) or not action.get("action_id"):
            raise Refused("That control sends nothing.")
        action_id = str(action["action_id"])
        view_id = body.get("view_id")
        if view_id:
            view = self._view(user, str(view_id), home=True)
            block_id = _block_with(view.get("blocks") or [], action_id)
            if isinstance(body.get("values"), dict):  # a form's state travels with its actions
                view["state"] = {"values": body["values"]}
            reply = self.sandbox.driver.act(action, user=user, block_id=block_id, view=view)
        else:
            channel, ts = str(body.get("channel") or ""), str(body.get("ts") or "")
            block_id = _block_with(self._message(user, channel, ts).get("blocks") or [], action_id)
            reply = self.sandbox.driver.act(
                action, user=user, block_id=block_id, channel=channel, message_ts=ts
            )
        if reply.status != 200:
            return {"ok": False, "error": f"casehub answered with HTTP {reply.status}."}
        self.sandbox.progress.record(user, Deed("action", action_id))
        return {"ok": True}

    def submit(self, user: str, view_id: str, values: dict[str, Any]) -> dict[str, Any]:
        self._person(user)
        view = self._view(user, view_id)
        reply = self.sandbox.driver.submit_state(view, {"values": values}, user=user)
        if reply.status != 200:
            return {"ok": False, "error": f"casehub answered the form with HTTP {reply.status}."}
        answer = _answer(reply)
        if answer.get("response_action") == "errors":
            return {"ok": False, "errors": answer.get("errors") or {}}
        self.sandbox.progress.record(user, Deed("form", str(view.get("callback_id") or "")))
        return {"ok": True}

    def close(self, user: str, view_id: str) -> dict[str, Any]:
        self._person(user)
        view = self._view(user, view_id)
        reply = self.sandbox.driver.close(view, user=user)
        if reply is not None and reply.status != 200:
            return {"ok": False, "error": f"casehub answered with HTTP {reply.status}."}
        return {"ok": True}

    def options(self, user: str, body: dict[str, Any]) -> dict[str, Any]:
        self._person(user)
        view = self._view(user, str(body.get("view_id") or ""))
        reply = self.sandbox.driver.suggest(
            view,
            user=user,
            block_id=str(body.get("block_id") or ""),
            action_id=str(body.get("action_id") or ""),
            value=str(body.get("value") or ""),
        )
        if reply.status != 200:
            return {"ok": False, "error": f"casehub answered with HTTP {reply.status}.", "options": []}
        answer = _answer(reply)
        options = list(answer.get("options") or [])
        for group in answer.get("option_groups") or []:
            options += group.get("options") or []
        return {"ok": True, "options": options}

    def home(self, user: str) -> dict[str, Any]:
        self._person(user)
        reply = self.sandbox.driver.home_opened(user)
        if reply.status != 200:
            return {"ok": False, "error": f"casehub answered with HTTP {reply.status}."}
        self.sandbox.progress.record(user, Deed("home", "home"))
        return {"ok": True}

    def clock(self, user: str | None, advance: str) -> dict[str, Any]:
        by = ADVANCES.get(advance)
        if by is None:
            raise Refused(f"The clock moves on by {', '.join(ADVANCES)}.")
        self.sandbox.advance(by)
        if user:
            self.sandbox.progress.record(user, Deed("clock", advance))
        return {"ok": True, "now_label": now_label()}

    def reset(self) -> dict[str, Any]:
        self.sandbox.reset()
        return {"ok": True}

    def _person(self, user: str) -> None:
        if self.sandbox.partnership.person(user) is None:
            raise Refused("Choose someone to act as.")

    def _view(self, user: str, view_id: str, *, home: bool = False) -> dict[str, Any]:
        """The person's own view: the form on top of their stack (what Slack lets them use), or
        with `home`, their Home tab."""
        with self.slack.lock:
            stack = self.slack.modals.get(user) or []
            if stack and stack[-1] == view_id:
                return dict(self.slack.views[view_id])
            published = self.slack.published.get(user)
            if home and published is not None and published["id"] == view_id:
                return dict(published)
        raise Refused("That form is no longer open.")

    def _message(self, user: str, channel: str, ts: str) -> dict[str, Any]:
        """A message shown to the person: in a channel they are in, and if ephemeral, theirs."""
        with self.slack.lock:
            if self._channel(user, channel) is not None:
                for message in self.slack.messages:
                    shown = message.get("ephemeral_to") in (None, user)
                    if message["channel"] == channel and message["ts"] == ts and shown:
                        return message
        raise Refused("That message is not there any more.")


def _block_with(blocks: list[dict[str, Any]], action_id: str) -> str:
    """The block holding the element with this action_id (in an actions block, as a section's
    accessory, or as an input's element); refused when there is none."""
    for block in blocks:
        elements = list(block.get("elements") or []) if block.get("type") == "actions" else []
        elements += [block[key] for key in ("accessory", "element") if isinstance(block.get(key), dict)]
        if any(element.get("action_id") == action_id for element in elements):
            return str(block.get("block_id") or "")
    raise Refused("That control is not there any more.")


def _answer(reply: Reply) -> dict[str, Any]:
    if not reply.body:
        return {}
    try:
        answer = json.loads(reply.body)
    except ValueError:
        return {"text": reply.body}
    return answer if isinstance(answer, dict) else {}


def _home_view(view: dict[str, Any] | None) -> dict[str, Any] | None:
    if view is None:
        return None
    return {key: view[key] for key in ("id", "type", "blocks") if key in view}


def _modal(modal: dict[str, Any] | None) -> dict[str, Any] | None:
    if modal is None:
        return None
    view = modal["view"]
    return {"id": view["id"], "view": view, "errors": modal["errors"], "depth": modal["depth"]}


def serve(ui: UI, *, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    """The UI's HTTP server, serving in a thread of its own."""
    server = ThreadingHTTPServer((host, port), _handler(ui))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
    return server


def _handler(ui: UI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            path = urlparse(self.path)
            if path.path in STATIC:
                name, kind = STATIC[path.path]
                content = resources.files("sandbox").joinpath("static", name).read_bytes()
                self._send(200, content, kind)
                return
            query = dict(parse_qsl(path.query))
            if path.path == "/ui/desk":  # the record desk, opened as the person acting
                self.send_response(302)
                self.send_header("Location", ui.sandbox.desk_as(query.get("as", "")))
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if path.path == "/ui/file":
                found = ui.file(query.get("as", ""), query.get("id", ""))
                if found is None:
                    self._send(404, b"Not Found", "text/plain")
                    return
                content, name, kind = found
                self._send(200, content, kind, download=name)
                return
            if path.path != "/ui/state":
                self._send(404, b"Not Found", "text/plain")
                return
            try:
                since = int(query.get("since") or -1)
            except ValueError:
                since = -1
            self._json(lambda: ui.state(query.get("as", ""), query.get("channel", ""), since))

        def do_POST(self) -> None:
            path = urlparse(self.path).path
            try:
                length = int(self.headers.get("Content-Length") or 0)
                if not 0 <= length <= MAX_BODY:
                    raise ValueError(length)
                body = json.loads(self.rfile.read(length) or b"{}")
            except ValueError:
                self._send(400, b'{"ok":false,"error":"a JSON body, with its length, is expected"}', JSON)
                return
            if not isinstance(body, dict):
                body = {}
            user = str(body.get("as") or "")
            routes = {
                "/ui/send": lambda: ui.send(
                    user, str(body.get("channel") or ""), str(body.get("text") or "")
                ),
                "/ui/action": lambda: ui.act(user, body),
                "/ui/submit": lambda: ui.submit(
                    user, str(body.get("view_id") or ""), body.get("values") or {}
                ),
                "/ui/close": lambda: ui.close(user, str(body.get("view_id") or "")),
                "/ui/options": lambda: ui.options(user, body),
                "/ui/home": lambda: ui.home(user),
                "/ui/clock": lambda: ui.clock(user or None, str(body.get("advance") or "")),
                "/ui/reset": ui.reset,
            }
            route = routes.get(path)
            if route is None:
                self._send(404, b'{"ok":false,"error":"no such endpoint"}', JSON)
                return
            if path in ("/ui/reset", "/ui/clock"):
                self._json(route)
                return
            with ui.sandbox.acting():  # Reset waits for what people are doing
                self._json(route)

        def _json(self, produce: Any) -> None:
            try:
                answer = produce()
            except Refused as refused:
                answer = {"ok": False, "error": str(refused)}
            except Exception as error:  # shown, never swallowed: the UI says what failed
                log.exception("the sandbox UI could not do that")
                answer = {"ok": False, "error": f"The sandbox failed: {type(error).__name__}."}
            self._send(200, json.dumps(answer).encode(), "application/json")

        def _send(self, status: int, content: bytes, kind: str, *, download: str | None = None) -> None:
            try:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                if download is not None:  # a file shared in Slack: saved, never shown in the page
                    self.send_header("Content-Disposition", f'attachment; filename="{download}"')
                self.send_header("Content-Length", str(len(content)))
                self.send_header("Cache-Control", "no-store")
                self.send_header("X-Content-Type-Options", "nosniff")
                self.end_headers()
                self.wfile.write(content)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the page went away mid-poll (a reload, a switch): nobody is waiting

    return Handler
