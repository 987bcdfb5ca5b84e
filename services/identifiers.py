"""Spotting what identifies the person concerned in free text, before it is shared.

Every free text casehub may post to Slack or e-mail goes through `scan` (or `scan_fields`)
first. A finding names its kind, where it is and what it quotes; kinds that are often false
alarms (names, places) may be overridden one finding at a time, structured identifiers never.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from services.errors import CasehubError


class Kind(StrEnum):
    NAME = "name"
    NICKNAME = "nickname"
    DATE_OF_BIRTH = "date_of_birth"
    AGE_WITH_SCHOOL = "age_with_school"
    SCHOOL_WITH_PERSON = "school_with_person"
    ADDRESS = "address"
    POSTCODE = "postcode"
    PHONE = "phone"
    EMAIL = "email"
    HANDLE = "handle"
    VEHICLE_PLATE = "vehicle_plate"
    NI_NUMBER = "ni_number"
    NHS_NUMBER = "nhs_number"
    NIR = "nir"
    INE = "ine"
    PASSPORT = "passport"
    ID_CARD = "id_card"
    IP_ADDRESS = "ip_address"
    BANK_ACCOUNT = "bank_account"
    IBAN = "iban"


LABELS: dict[Kind, str] = {
    Kind.NAME: "a name",
    Kind.NICKNAME: "a nickname",
    Kind.DATE_OF_BIRTH: "a date of birth",
    Kind.AGE_WITH_SCHOOL: "an age with a school or class",
    Kind.SCHOOL_WITH_PERSON: "a school, club or employer",
    Kind.ADDRESS: "a street address",
    Kind.POSTCODE: "a postcode",
    Kind.PHONE: "a phone number",
    Kind.EMAIL: "an e-mail address",
    Kind.HANDLE: "a social-media handle or profile",
    Kind.VEHICLE_PLATE: "a vehicle registration",
    Kind.NI_NUMBER: "a National Insurance number",
    Kind.NHS_NUMBER: "an NHS number",
    Kind.NIR: "a French social security number (NIR)",
    Kind.INE: "a French student number (INE)",
    Kind.PASSPORT: "a passport number",
    Kind.ID_CARD: "an identity card number",
    Kind.IP_ADDRESS: "an IP address",
    Kind.BANK_ACCOUNT: "a bank account number",
    Kind.IBAN: "an IBAN",
}

# Kinds that ordinary words, staff, agencies and places can look like: a person who knows the
# text is safe may override such a finding. A number, a date of birth or an address line is
# what it is, and is never shared.
OVERRIDABLE: frozenset[Kind] = frozenset(
    {Kind.NAME, Kind.NICKNAME, Kind.SCHOOL_WITH_PERSON, Kind.AGE_WITH_SCHOOL}
)
EXCERPT_MAX = 60


class DetectorUnavailable(CasehubError):
    """The check could not run: nothing is shared rather than something unchecked."""

    def __init__(self) -> None:
        super().__init__(
            "casehub cannot check this text for identifiers right now, so nothing was shared.",
            hint="Please try again in a few minutes; if it keeps happening, tell your casehub admin.",
        )


@dataclass(frozen=True)
class Finding:
    field: str
    kind: Kind
    start: int
    end: int
    excerpt: str

    @property
    def label(self) -> str:
        return LABELS[self.kind]

    @property
    def overridable(self) -> bool:
        return self.kind in OVERRIDABLE

    def message(self) -> str:
        if self.overridable:
            return (
                f"This looks like {self.label} (“{self.excerpt}”). Remove it, or confirm below that "
                "it does not identify the person."
            )
        return f"This looks like {self.label} (“{self.excerpt}”). Remove it: it cannot be shared."


_MONTHS = (
    "jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|jun(?:e)?|jul(?:y)?|aug(?:ust)?|"
    "sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?"
)
_NAME = r"[A-Z][a-z'’-]+(?:\s+[A-Z][a-z'’-]+)+"

PATTERNS: dict[Kind, re.Pattern[str]] = {
    Kind.EMAIL: re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b"),
    Kind.DATE_OF_BIRTH: re.compile(
        rf"\b(?:born|dob|d\.o\.b\.?|date of birth|birthday)\b[:\s]*(?:on\s+)?"
        rf"(?:\d{{1,2}}[/.\-\s]\d{{1,2}}[/.\-\s]\d{{2,4}}|\d{{1,2}}(?:st|nd|rd|th)?\s+(?:{_MONTHS})\w*"
        rf"(?:\s+\d{{2,4}})?|\d{{4}}-\d{{2}}-\d{{2}}|(?:{_MONTHS})\w*\s+\d{{1,2}}(?:,?\s+\d{{4}})?)",
        re.IGNORECASE,
    ),
    Kind.PHONE: re.compile(
        r"(?<![\w-])(?:\+\d{1,3}[\s-]?(?:\(0\)\s?)?\d{1,4}|\(?0\d{2,4}\)?)[\s-]?\d{3,4}[\s-]?\d{3,4}\b"
    ),
    Kind.POSTCODE: re.compile(r"\b[A-Z]{1,2}\d[A-Z\d]?\s*\d[A-Z]{2}\b"),
    Kind.NI_NUMBER: re.compile(r"\b[A-CEGHJ-PR-TW-Z]{2}\s?\d{2}\s?\d{2}\s?\d{2}\s?[A-D]\b"),
    Kind.NHS_NUMBER: re.compile(r"\b\d{3}[\s-]\d{3}[\s-]\d{4}\b"),
    Kind.NIR: re.compile(r"\b[12]\s?\d{2}\s?\d{2}\s?\d{2}\s?\d{3}\s?\d{3}(?:\s?\d{2})?\b"),
    Kind.NAME: re.compile(
        rf"\b(?:named|called|name is|known as|born as|aka)\s+({_NAME})"
        rf"|({_NAME}),?\s+(?:was\s+)?born\b"
    ),
}


def scan(text: str | None, field: str) -> list[Finding]:
    """Every identifier found in `text`, in order; `field` names where it was typed."""
    findings = []
    for kind, pattern in PATTERNS.items():
        match = pattern.search(text or "")
        if match:
            excerpt = match.group(0).strip()[:EXCERPT_MAX]
            findings.append(Finding(field, kind, match.start(), match.end(), excerpt))
    return sorted(findings, key=lambda finding: finding.start)


def scan_fields(fields: dict[str, str | None]) -> list[Finding]:
    return [finding for name, text in fields.items() if text for finding in scan(text, name)]
