"""Spotting what looks like a personal identifier in free text, before it reaches Slack.

The patterns are deliberately broad: a false alarm costs the filer one tick of a
box, a missed date of birth puts special-category data into a chat tool. Every
pattern lives in `PATTERNS`, so adding one is a one-line change with a test.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_MONTHS = (
    "jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|jun(?:e)?|jul(?:y)?|aug(?:ust)?|"
    "sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?"
)
_NAME = r"[A-Z][a-z'’-]+(?:\s+[A-Z][a-z'’-]+)+"

PATTERNS: dict[str, re.Pattern[str]] = {
    "an e-mail address": re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b"),
    "a date of birth": re.compile(
        rf"\b(?:born|dob|d\.o\.b\.?|date of birth|birthday)\b[:\s]*(?:on\s+)?"
        rf"(?:\d{{1,2}}[/.\-\s]\d{{1,2}}[/.\-\s]\d{{2,4}}|\d{{1,2}}(?:st|nd|rd|th)?\s+(?:{_MONTHS})\w*"
        rf"(?:\s+\d{{2,4}})?|\d{{4}}-\d{{2}}-\d{{2}}|(?:{_MONTHS})\w*\s+\d{{1,2}}(?:,?\s+\d{{4}})?)",
        re.IGNORECASE,
    ),
    "a phone number": re.compile(
        r"(?<![\w-])(?:\+\d{1,3}[\s-]?(?:\(0\)\s?)?\d{1,4}|\(?0\d{2,4}\)?)[\s-]?\d{3,4}[\s-]?\d{3,4}\b"
    ),
    "a UK postcode": re.compile(r"\b[A-Z]{1,2}\d[A-Z\d]?\s*\d[A-Z]{2}\b"),
    "a national insurance number": re.compile(r"\b[A-CEGHJ-PR-TW-Z]{2}\s?\d{2}\s?\d{2}\s?\d{2}\s?[A-D]\b"),
    "an NHS number": re.compile(r"\b\d{3}[\s-]\d{3}[\s-]\d{4}\b"),
    "a national ID number": re.compile(r"\b[12]\s?\d{2}\s?\d{2}\s?\d{2}\s?\d{3}\s?\d{3}(?:\s?\d{2})?\b"),
    "a full name": re.compile(
        rf"\b(?:named|called|name is|known as|born as|aka)\s+({_NAME})"
        rf"|({_NAME}),?\s+(?:was\s+)?born\b"
    ),
}


@dataclass(frozen=True)
class Finding:
    field: str
    label: str
    excerpt: str

    def message(self) -> str:
        return (
            f"This looks like {self.label} (“{self.excerpt}”). Remove it, or tick the confirmation "
            "below if it does not identify the person."
        )


def scan(text: str, field: str) -> list[Finding]:
    findings = []
    for label, pattern in PATTERNS.items():
        match = pattern.search(text or "")
        if match:
            findings.append(Finding(field, label, match.group(0).strip()[:60]))
    return findings


def scan_fields(fields: dict[str, str | None]) -> list[Finding]:
    return [finding for name, text in fields.items() if text for finding in scan(text, name)]
