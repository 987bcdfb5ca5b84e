"""Logging that never carries what people typed.

casehub's own log lines name events, ids and kinds of error, never free text. An exception's
message can quote content, though: a database error's DETAIL repeats the row it refused, a
parsing error the value it could not read. So a traceback names the code path and the type
of the error, and leaves its message out.

`LOG_FORMAT=json` writes one JSON object a line (for a log collector) with the same
guarantees. Each line carries the id of the request (or job, or sweep) it was written for,
so that one request's lines can be found together.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import traceback
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from types import TracebackType
from typing import Literal

FORMAT = "%(asctime)s %(levelname)s %(name)s %(request_id)s: %(message)s"
LogFormat = Literal["text", "json"]
# The libraries that log Slack's request and response bodies (at DEBUG).
SLACK_LOGGERS = ("slack_bolt", "slack_sdk")

log = logging.getLogger("casehub")

ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None] | tuple[None, None, None]

# What the lines written for one request, job or sweep share; None outside any.
request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
_SLACK_TIMESTAMP = re.compile(r"[0-9]{1,12}")


def new_request_id(slack_timestamp: str | None = None) -> str:
    """An id for one request: Slack's timestamp (when it is one) and a few random characters."""
    if slack_timestamp is not None and _SLACK_TIMESTAMP.fullmatch(slack_timestamp):
        return f"{slack_timestamp}-{secrets.token_hex(3)}"
    return uuid.uuid4().hex


@contextmanager
def request_scope(rid: str) -> Iterator[str]:
    """Lines logged in this block, on this thread, carry `rid`."""
    token = request_id.set(rid)
    try:
        yield rid
    finally:
        request_id.reset(token)


def _error_name(kind: type[BaseException] | None) -> str:
    return f"{kind.__module__}.{kind.__qualname__}" if kind is not None else "unknown error"


def _frames(trace: TracebackType | None) -> str:
    return "".join(traceback.format_tb(trace)) if trace is not None else ""


class ContentFreeFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        if not hasattr(record, "request_id"):
            record.request_id = request_id.get() or "-"
        return super().format(record)

    def formatException(self, ei: ExcInfo) -> str:
        kind, _error, trace = ei
        return (
            f"Traceback (most recent call last):\n{_frames(trace)}{_error_name(kind)} "
            "(message withheld: it may quote content)"
        )


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC), level, logger, message, request_id, and for an
    error its class and traceback, without its message."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": request_id.get(),
        }
        if record.exc_info and record.exc_info[0] is not None:
            kind, _error, trace = record.exc_info
            line["error"] = _error_name(kind)
            line["traceback"] = _frames(trace)
        if record.stack_info:
            line["stack"] = record.stack_info
        return json.dumps(line, ensure_ascii=False)


class SlackBodies(logging.Filter):
    """Drops what bolt and slack-sdk log below INFO (request and response bodies, with what
    people typed) unless `LOG_SLACK_REQUESTS` asks for it. A filter on the handler, because
    bolt sets its own loggers' levels."""

    enabled = False

    def filter(self, record: logging.LogRecord) -> bool:
        return self.enabled or record.levelno >= logging.INFO or not record.name.startswith(SLACK_LOGGERS)


SLACK_BODIES = SlackBodies()


def configure(level: str | int = "INFO", fmt: LogFormat | None = None) -> None:
    """Route every log line of this process through a content-free formatter.

    Without `fmt`, `LOG_FORMAT` decides: every process (web, workers, scheduler) configures
    its logging before its settings are read, and all of them should write alike.
    """
    chosen = fmt or os.environ.get("LOG_FORMAT", "text")
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if chosen == "json" else ContentFreeFormatter(FORMAT))
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
