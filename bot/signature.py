"""Checking that a request comes from Slack, before anything reads what it says.

Slack signs `v0:{timestamp}:{body}` with the app's signing secret (HMAC-SHA256). The
timestamp must be a whole number of seconds within five minutes of now and the signature
`v0=` followed by 64 hex digits; anything else is refused outright rather than handed to a
parser that might raise. The HMAC is taken over the raw bytes, so a body that is not valid
UTF-8 is simply a mismatch (slack-sdk's verifier decodes the body first, and would raise).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Callable, Mapping

# Slack's own payloads are far smaller: a modal is at most 250 kB, and casehub's are a few.
MAX_BODY_BYTES = 1024 * 1024
MAX_AGE_SECONDS = 5 * 60

_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")


def signature_of(secret: str, timestamp: str, body: bytes) -> str:
    base = b"v0:" + timestamp.encode("ascii") + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def verify(
    secret: str, body: bytes, headers: Mapping[str, str], *, now: Callable[[], float] = time.time
) -> bool:
    """True only for a request signed with `secret` within the last five minutes."""
    timestamp = headers.get("x-slack-request-timestamp") or ""
    signature = headers.get("x-slack-signature") or ""
    if not _TIMESTAMP.fullmatch(timestamp) or not _SIGNATURE.fullmatch(signature):
        return False
    if abs(now() - int(timestamp)) > MAX_AGE_SECONDS:
        return False
    return hmac.compare_digest(signature_of(secret, timestamp, body), signature)
