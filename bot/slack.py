"""The one configured Slack Web API client: retries on rate limits, server errors and drops,
and every call counted for `/metrics`."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

from slack_bolt import App, BoltRequest, BoltResponse
from slack_bolt.middleware import Middleware
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.web import SlackResponse

from bot import metrics
from bot.settings import Settings

# Slack's error codes are lowercase words joined by underscores; anything else is not a label.
_ERROR_CODE = re.compile(r"[a-z0-9_]{1,64}")
# auth.test's answers that mean the token itself is wrong, not that Slack is away.
INVALID_TOKEN = frozenset(
    {"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired"}
)


class MeteredWebClient(WebClient):
    """A `WebClient` that counts and times each Web API call, retries included.

    Every method of the client (`chat_postMessage`, `views_open`, …) goes through the public
    `api_call`, so overriding it sees them all.
    """

    @classmethod
    def like(cls, client: WebClient) -> MeteredWebClient:
        """A metered client with the same token, address, retries and team as `client`."""
        return cls(
            token=client.token,
            base_url=client.base_url,
            timeout=client.timeout,
            ssl=client.ssl,
            proxy=client.proxy,
            headers=client.headers,
            team_id=client.default_params.get("team_id"),
            logger=client.logger,
            retry_handlers=list(client.retry_handlers),
        )

    def api_call(self, api_method: str, **kwargs: Any) -> SlackResponse:
        started = time.perf_counter()
        error: str | None = None
        try:
            return super().api_call(api_method, **kwargs)
        except SlackApiError as failed:
            error = error_code(failed)
            raise
        except OSError:  # refused, reset, timed out: after the client's own retries
            error = "connection"
            raise
        except Exception:
            error = "other"
            raise
        finally:
            metrics.slack_call(api_method, time.perf_counter() - started, error)


def error_code(error: SlackApiError) -> str:
    """Slack's error code for a failed call, as a metric label."""
    status = error.response.status_code
    if status >= 500:
        return "http_5xx"
    code = error.response.get("error")
    if isinstance(code, str) and _ERROR_CODE.fullmatch(code):
        return code
    return f"http_{metrics.status_class(status)}"


def make_client(settings: Settings, *, timeout: int = 10) -> WebClient:
    # bolt copies these handlers into the client it builds for every request.
    return MeteredWebClient(
        token=settings.slack_bot_token.get_secret_value(),
        base_url=settings.slack_api_url,
        timeout=timeout,
        retry_handlers=[
            ConnectionErrorRetryHandler(max_retry_count=2),
            RateLimitErrorRetryHandler(max_retry_count=3),
            ServerErrorRetryHandler(max_retry_count=2),
        ],
    )


class MeteredClients(Middleware):
    """Gives each request's listeners a metered client.

    bolt builds a plain `WebClient` for every request, copying the app client's settings
    but not its class, so metering the app's own client alone would miss every call made
    while handling a request. A middleware runs before the listeners, and lazy listeners
    get a copy of the request's context, this client included.
    """

    def process(
        self, *, req: BoltRequest, resp: BoltResponse, next: Callable[[], BoltResponse]
    ) -> BoltResponse | None:
        client = req.context.client
        if not isinstance(client, MeteredWebClient):
            req.context["client"] = MeteredWebClient.like(client)
        return next()


def meter_requests(app: App) -> None:
    """Count the Web API calls `app`'s listeners make (its own client is counted already when
    it comes from `make_client`)."""
    app.use(MeteredClients())


def describe_error(error: Exception) -> str:
    """A short, user-fit account of a failed Slack call."""
    response = getattr(error, "response", None)
    if response is not None:
        code = response.get("error") if hasattr(response, "get") else None
        return f"Slack answered `{code}`" if code else f"Slack answered HTTP {response.status_code}"
    return f"Slack could not be reached ({type(error).__name__})"
