"""The record desk served with the app for the tests: Sign in with Slack registered with the
emulated Slack, and a browser (an HTTP session) signing in through it.

A test module that uses the desk defines `settings_overrides` returning `desk_settings(fake)`.
"""

from __future__ import annotations

import re

import pytest
import requests

CLIENT_ID, CLIENT_SECRET = "1234.5678", "desk-client-secret"
DPO = "UDPO1"


def desk_settings(fake) -> dict[str, object]:
    return {
        "slack_client_id": CLIENT_ID,
        "slack_client_secret": CLIENT_SECRET,
        "slack_openid_url": fake.url,
        "slack_team_id": "T0CASEHUB",
        "desk_secret_key": "s" * 48,
        "casehub_dpos": [DPO],
    }


@pytest.fixture
def desk(running, fake, registry) -> str:
    fake.add_user(DPO)
    fake.openid.register_client(CLIENT_ID, CLIENT_SECRET, (f"{running.url}/desk/auth",))
    return f"{running.url}/desk"


def sign_in(desk: str, fake, user: str | None) -> tuple[requests.Session, requests.Response]:
    """A browser signed in to Slack as `user` (None: not signed in) going through the desk's sign-in."""
    browser = requests.Session()
    fake.openid.signed_in = user
    answer = browser.get(f"{desk}/signin", timeout=10)
    return browser, answer


def csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, "the page has no CSRF token"
    return found.group(1)
