"""The one gate every free text passes before casehub stores it to post, show or e-mail.

Each service that stores shareable text asks `check` first, with the text under the name of
the field it was typed in: a finding refuses the change (`IdentifierFound`), unless the person
confirmed that very finding (field, kind and quoted span) and its kind may be a false alarm.
Structured identifiers (numbers, dates of birth, addresses, contact details) are never let
through. When the detector cannot run, nothing is stored (`identifiers.DetectorUnavailable`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping

from sqlalchemy.orm import Session

from models import Agency, Case
from services import audit, identifiers
from services.errors import InvalidInput
from services.identifiers import Finding, Kind

# Every field whose text casehub shares, and how a refusal of a command names it.
WHERE: dict[str, str] = {
    "observed": "your note",
    "protective_factors": "the protective factors",
    "concerns": "the concerns",
    "asks": "what you ask of partners",
    "text": "the action",
    "reason": "the reason",
    "decisions": "the decisions",
    "actions": "the actions agreed",
    "summary": "the summary",
    "outcome": "the outcome",
    "lessons": "the lessons learned",
    "name": "the agency's name",
    "area_name": "the area's name",
    "note": "the note",
    "concern": "the concern",
    "why_now": "why now",
    "done_so_far": "what has been done",
    "signposted_to": "the service signposted to",
    "lesson": "the lesson",
    "protocol": "the protocol or procedure",
}
# Typed into a form but kept in casehub's own record, never posted to Slack or e-mailed.
NOT_SHARED = frozenset({"agency_reference"})
# The form input where a person confirms, one by one, findings that may be false alarms.
CONFIRM_FIELD = "confirm_findings"
# An agency is often a school, club or employer itself: in its name that is no finding.
# An area is named after a place, and places after people (Saint-Denis, Kirklees, St Helens): an
# admin's name for it is checked for the identifiers of a person that no place name holds.
NOT_FINDINGS: dict[str, frozenset[Kind]] = {
    "name": frozenset({Kind.SCHOOL_WITH_PERSON, Kind.AGE_WITH_SCHOOL}),
    "area_name": frozenset({Kind.NAME, Kind.NICKNAME, Kind.SCHOOL_WITH_PERSON, Kind.AGE_WITH_SCHOOL}),
}
# Slack shows at most ten checkboxes in one element; more findings than that must be rephrased.
CONFIRMABLE_MAX = 10


def key(finding: Finding) -> str:
    """What a confirmation names: this kind of finding, with this text, in this field."""
    raw = f"{finding.field}\x1f{finding.kind.value}\x1f{finding.excerpt}"
    return hashlib.sha256(raw.encode()).hexdigest()[:24]


class IdentifierFound(InvalidInput):
    """Text that looks like it identifies the person. `message` names the kind and where,
    never the text (a command's refusal); `errors()` quotes each finding on its field (a form)."""

    def __init__(self, findings: list[Finding], *, form: str | None = None) -> None:
        first = findings[0]
        confirmable = all(finding.overridable for finding in findings)
        hint = "Rephrase it without that."
        if confirmable and form:
            hint = (
                f"Rephrase it without that, or use {form}, where you can confirm that it does "
                "not identify the person."
            )
        elif not confirmable:
            hint += " Numbers, dates of birth, addresses and contact details are never shared."
        super().__init__(
            f"This looks like {first.label} in {WHERE.get(first.field, 'what you typed')}, "
            "so nothing was saved.",
            hint=hint,
            field=first.field,
        )
        self.findings = findings

    def errors(self) -> dict[str, str]:
        """One message per field, quoting each finding in it."""
        out: dict[str, list[str]] = {}
        for finding in self.findings:
            out.setdefault(finding.field, []).append(finding.message())
        return {field: " ".join(messages)[:2000] for field, messages in out.items()}


def check(
    fields: Mapping[str, str | None], confirmed: Collection[str] = (), *, form: str | None = None
) -> list[Finding]:
    """The findings the person confirmed (to audit when the change is stored); refuses with
    `IdentifierFound` for any other, and with `DetectorUnavailable` when the check cannot run.
    `form` names where a command's text could be typed instead, with findings to confirm."""
    findings: list[Finding] = []
    for field, text in fields.items():
        if not text:
            continue
        try:
            found = identifiers.scan(text, field)
        except identifiers.DetectorUnavailable as error:
            error.field = field
            raise
        findings += [f for f in found if f.kind not in NOT_FINDINGS.get(field, ())]
    overridden = [f for f in findings if f.overridable and key(f) in confirmed]
    refused = [f for f in findings if f not in overridden]
    if refused:
        raise IdentifierFound(refused, form=form)
    return overridden


def admit(
    session: Session,
    fields: Mapping[str, str | None],
    confirmed: Collection[str] = (),
    *,
    actor: str,
    request_ref: str,
    case: Case | None = None,
    agency: Agency | None = None,
) -> None:
    """`check`, and an audit event for each finding overridden: who, which kind, which field
    (never the text)."""
    record_overrides(
        session, check(fields, confirmed), actor=actor, request_ref=request_ref, case=case, agency=agency
    )


def record_overrides(
    session: Session,
    findings: list[Finding],
    *,
    actor: str,
    request_ref: str,
    case: Case | None = None,
    agency: Agency | None = None,
) -> None:
    for finding in findings:
        audit.record(
            session,
            actor=actor,
            action="identifier.overridden",
            request_ref=request_ref,
            case=case,
            agency=agency,
            field=finding.field,
            kind=finding.kind.value,
        )


def confirmed_as(findings: list[Finding], field: str) -> frozenset[str]:
    """Confirmations of `findings` carried over to the same text stored under another field
    (the actions agreed at a review, each stored as an action's text)."""
    return frozenset(key(Finding(field, f.kind, f.start, f.end, f.excerpt)) for f in findings)
