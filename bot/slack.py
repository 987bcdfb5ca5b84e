"""The one configured Slack Web API client: retries on rate limits, server errors and drops."""

from __future__ import annotations

from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)

from bot.settings import Settings


def make_client(settings: Settings, *, timeout: int = 10) -> WebClient:
    # bolt copies these handlers into the client it builds for every request.
    return WebClient(
        token=settings.slack_bot_token.get_secret_value(),
        base_url=settings.slack_api_url,
        timeout=timeout,
        retry_handlers=[
            ConnectionErrorRetryHandler(max_retry_count=2),
            RateLimitErrorRetryHandler(max_retry_count=3),
            ServerErrorRetryHandler(max_retry_count=2),
        ],
    )


def describe_error(error: Exception) -> str:
    """A short, user-fit account of a failed Slack call."""
    response = getattr(error, "response", None)
    if response is not None:
        code = response.get("error") if hasattr(response, "get") else None
        return f"Slack answered `{code}`" if code else f"Slack answered HTTP {response.status_code}"
    return f"Slack could not be reached ({type(error).__name__})"
