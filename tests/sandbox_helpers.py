"""The sandbox served on loopback for the tests, and its JSON API as the browser calls it."""

from __future__ import annotations

import json
import os
import shutil
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from sqlalchemy import select

from bot.db import Database
from flows.rules import working_hours
from models import Case, clock
from sandbox.runtime import Sandbox
from sandbox.ui import UI, serve
from services.worktime import zone

COORDINATOR, DEPUTY, TEACHER, POLICE, ON_CALL = "USAM", "UAISHA", "UTOM", "UPRIYA", "UMARK"
BROWSER = os.environ.get("CASEHUB_BROWSER") or shutil.which("chromium") or shutil.which("chromium-browser")
NURSE, OUTSIDER = "ULEILA", "UCHRIS"


@dataclass
class Served:
    sandbox: Sandbox
    url: str

    def state(self, user: str, channel: str = "home", since: int = -1) -> dict[str, Any]:
        query = urlencode({"as": user, "channel": channel, "since": since})
        with urllib.request.urlopen(f"{self.url}/ui/state?{query}", timeout=30) as response:
            return json.loads(response.read())

    def to_a_working_morning(self) -> None:
        """casehub's clock moved on to the next 10:00 of a working day followed by another (now,
        if it is one): what waits for working hours goes out then, and a day later too, whatever
        the hour the tests run at."""
        settings = self.sandbox.settings()
        hours, tz = working_hours(settings), settings.default_timezone
        now = clock.now()
        moment = now.astimezone(zone(tz)).replace(hour=10, minute=0, second=0, microsecond=0)
        while moment < now or not (
            hours.is_open(moment, tz) and hours.is_open(moment + timedelta(days=1), tz)
        ):
            moment += timedelta(days=1)
        if moment > now:
            self.sandbox.advance(moment - now)
        assert self.sandbox.wait_idle()

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

    def seen(self, user: str, channel: str) -> str:
        """Everything the person is shown in a channel, as one text."""
        state = self.state(user, channel)
        return json.dumps(state["messages"], ensure_ascii=False)


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


@pytest.fixture(scope="module")
def module_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """A sandbox seeded once for a test module."""
    with served_sandbox(tmp_path_factory.mktemp("sandbox")) as served:
        yield served


@pytest.fixture
def served(module_sandbox: Served) -> Served:
    """The seeded partnership, as it was after seeding, for every test."""
    module_sandbox.sandbox.reset()
    assert module_sandbox.sandbox.wait_idle()  # what the first sweep after the reset sends, sent
    return module_sandbox


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless, driven by Playwright (no browser download)."""
    if not BROWSER:
        message = "Chromium is not installed (Debian: apt install chromium; or set CASEHUB_BROWSER)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=BROWSER)
        yield launched
        launched.close()
