"""The sandbox served on loopback for the tests, and its JSON API as the browser calls it."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import select

from bot.db import Database
from models import Case
from sandbox.runtime import Sandbox
from sandbox.ui import UI, serve

COORDINATOR, DEPUTY, TEACHER, POLICE, ON_CALL = "USAM", "UAISHA", "UTOM", "UPRIYA", "UMARK"
NURSE, OUTSIDER = "ULEILA", "UCHRIS"


@dataclass
class Served:
    sandbox: Sandbox
    url: str

    def state(self, user: str, channel: str = "home", since: int = -1) -> dict[str, Any]:
        query = urlencode({"as": user, "channel": channel, "since": since})
        with urllib.request.urlopen(f"{self.url}/ui/state?{query}", timeout=30) as response:
            return json.loads(response.read())

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        request = urllib.request.Request(
            self.url + path,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    def send(self, user: str, channel: str, text: str) -> dict[str, Any]:
        answer = self.post("/ui/send", {"as": user, "channel": channel, "text": text})
        self.sandbox.wait_idle()
        return answer

    def cases(self) -> list[Case]:
        db = Database(self.sandbox.database_url)
        try:
            with db.reader() as session:
                return list(session.scalars(select(Case).order_by(Case.id)))
        finally:
            db.dispose()

    def case_channel(self, reference: str) -> str:
        return next(c.channel_id for c in self.cases() if c.reference == reference) or ""

    def seen(self, user: str, channel: str) -> str:
        """Everything the person is shown in a channel, as one text."""
        state = self.state(user, channel)
        return json.dumps(state["messages"], ensure_ascii=False)

    def wait_until(self, condition: Callable[[], Any], timeout: float = 15.0) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            result = condition()
            if result:
                return result
            time.sleep(0.05)
        return condition()


@contextmanager
def served_sandbox(data: Path) -> Iterator[Served]:
    sandbox = Sandbox(data).start()
    server = serve(UI(sandbox))
    try:
        yield Served(sandbox, f"http://127.0.0.1:{server.server_address[1]}")
    finally:
        server.shutdown()
        server.server_close()
        sandbox.stop()
