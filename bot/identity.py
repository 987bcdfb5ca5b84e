"""Who casehub is in Slack: learnt once with `auth.test`, at start and never while answering.

bolt's single-workspace setup calls `auth.test` on the first request (and on every request
while it fails), so an unreachable Slack would hold each answer past Slack's 3 seconds.
casehub instead checks the token in the background at start, says in one line what is wrong,
retries with back-off while Slack cannot be reached, and gives bolt what it learnt through
bolt's public `authorize` hook, which needs no network.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from slack_bolt.authorization import AuthorizeResult
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

log = logging.getLogger(__name__)

# Slack's answers that no retry will change: the token itself is wrong.
_REFUSED = {
    "invalid_auth",
    "not_authed",
    "account_inactive",
    "token_revoked",
    "token_expired",
    "not_allowed_token_type",
}


class SlackIdentity:
    """The bot's own IDs, and whether Slack accepts its token: "checking", "ok", "unreachable" or
    "invalid"."""

    def __init__(self, client: WebClient, *, first_wait: float = 1.0, longest_wait: float = 60.0) -> None:
        self.client = client
        self._token = client.token or ""
        self._first_wait, self._longest_wait = first_wait, longest_wait
        self._state = "checking"
        self._result: dict[str, Any] = {}
        self._known = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def state(self) -> str:
        return self._state

    @property
    def bot_user_id(self) -> str | None:
        return self._result.get("user_id")

    def start(self) -> SlackIdentity:
        if self._thread is None:
            self._thread = threading.Thread(target=self._check, name="slack-identity", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def wait(self, timeout: float) -> bool:
        """Whether the identity is known, waiting up to `timeout` seconds for it."""
        return self._known.wait(timeout)

    def _check(self) -> None:
        wait = self._first_wait
        while not self._stop.is_set():
            try:
                result = self.client.auth_test()
            except SlackApiError as error:
                code = error.response.get("error") if hasattr(error.response, "get") else None
                if code in _REFUSED:
                    self._state = "invalid"
                    log.error(
                        "Slack refused SLACK_BOT_TOKEN (%s): copy the Bot User OAuth Token (xoxb-…) "
                        "from the app's OAuth & Permissions page and restart",
                        code,
                    )
                    return
                self._state = "unreachable"
                log.warning(
                    "Slack's API answered %s to auth.test; trying again in %.0f s", code or "an error", wait
                )
            except OSError as error:
                self._state = "unreachable"
                log.warning(
                    "Slack's API cannot be reached (%s); trying again in %.0f s", type(error).__name__, wait
                )
            else:
                self._result = dict(result.data) if isinstance(result.data, dict) else {}
                self._state = "ok"
                self._known.set()
                log.info(
                    "connected to Slack workspace %s as %s", self._result.get("team_id"), self.bot_user_id
                )
                return
            if self._stop.wait(wait):
                return
            wait = min(self._longest_wait, wait * 2)

    def authorize(
        self, enterprise_id: str | None, team_id: str | None, user_id: str | None
    ) -> AuthorizeResult:
        """bolt's `authorize` hook: the token and what `auth.test` said, with no Slack call.

        Until Slack has answered, the bot's own IDs are unknown; only the acknowledgement runs
        then (workers wait for `wait`), and it needs neither.
        """
        return AuthorizeResult(
            enterprise_id=enterprise_id or self._result.get("enterprise_id"),
            team_id=team_id or self._result.get("team_id"),
            bot_user_id=self._result.get("user_id"),
            bot_id=self._result.get("bot_id"),
            bot_token=self._token,
            user_id=user_id,
        )
