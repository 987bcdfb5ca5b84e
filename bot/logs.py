"""Logging that never carries what people typed.

casehub's own log lines name events, ids and kinds of error, never free text. An exception's
message can quote content, though: a database error's DETAIL repeats the row it refused, a
parsing error the value it could not read. So a traceback names the code path and the type
of the error, and leaves its message out.
"""

from __future__ import annotations

import logging
import traceback
from types import TracebackType

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# The libraries that log Slack's request and response bodies (at DEBUG).
SLACK_LOGGERS = ("slack_bolt", "slack_sdk")

log = logging.getLogger("casehub")

ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None] | tuple[None, None, None]


class ContentFreeFormatter(logging.Formatter):
    def formatException(self, ei: ExcInfo) -> str:
        kind, _error, trace = ei
        frames = "".join(traceback.format_tb(trace)) if trace is not None else ""
        name = f"{kind.__module__}.{kind.__qualname__}" if kind is not None else "unknown error"
        return f"Traceback (most recent call last):\n{frames}{name} (message withheld: it may quote content)"


class SlackBodies(logging.Filter):
    """Drops what bolt and slack-sdk log below INFO (request and response bodies, with what
    people typed) unless `LOG_SLACK_REQUESTS` asks for it. A filter on the handler, because
    bolt sets its own loggers' levels."""

    enabled = False

    def filter(self, record: logging.LogRecord) -> bool:
        return self.enabled or record.levelno >= logging.INFO or not record.name.startswith(SLACK_LOGGERS)


SLACK_BODIES = SlackBodies()


def configure(level: str | int = "INFO") -> None:
    """Route every log line of this process through the content-free formatter."""
    handler = logging.StreamHandler()
    handler.setFormatter(ContentFreeFormatter(FORMAT))
    handler.addFilter(SLACK_BODIES)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


def log_slack_requests(enabled: bool) -> None:
    """Let Slack's request and response bodies into the log (for a short diagnosis), and say so."""
    SLACK_BODIES.enabled = enabled
    if enabled:
        log.warning(
            "LOG_SLACK_REQUESTS is on: Slack request and response bodies, with what people typed, "
            "are written to the log at DEBUG. Turn it off when the diagnosis is done."
        )
