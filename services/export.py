"""A case's record as one bundle, redacted for whom it is for: a person's subject access request,
a partner agency, or a court.

The bundle is plain data (dicts of strings, numbers and lists), the same whatever it becomes:
the JSON file is the bundle as it is, and the PDF (`services.export_pdf`) is drawn from it, so
the two never say different things. Everything is read through the ORM, so the bundle reads
what the models read (decrypted, one day).

The rules, by purpose (README, docs/export.md):

- `court`: the full record. Restricted updates are included and marked restricted; staff are
  named by their Slack member ID; the referring agency's own reference is included when the
  export is written on the command line (casehub never sends that reference to Slack).
- `agency`: what was shared with the case's agencies. A restricted update (shared with the lead
  alone) is withheld: only its date and agency are shown, marked "withheld: restricted"; so is
  an earlier version that was restricted, and the kind of update in the sharing log's entries
  about it.
- `subject`: for the person the case is about. Restricted updates are removed, with their
  earlier versions and their entries in the sharing log; staff are named by their agency and
  role, never by name or ID; crisis pages are shown by agency, not person; free text passes the
  identifier check and every name or identifier it finds is replaced by "[redacted: third
  party]" (the person's own identity is kept apart, on the record desk, never in free text,
  so a name in the text is someone else's). The sharing log keeps every recipient, as an agency.

Every redaction is counted (`redactions`), so that whoever reviews an export before it goes out
knows what was taken out and how much.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from models import (
    Action,
    Agency,
    AuditEvent,
    Case,
    Crisis,
    Disclosure,
    FollowUp,
    Membership,
    Page,
    Review,
    Role,
    SharingRecord,
    Update,
    UpdateCorrection,
)
from services import identifiers, identity, sharing
from services.errors import InvalidInput

FORMAT = "casehub-export/1"
REDACTED = "[redacted: third party]"
WITHHELD = "withheld: restricted"
# A chronology line quotes at most this much of a text; the text in full is in its section.
CHRONOLOGY_QUOTE = 300
# Who acts for casehub itself in the record, rather than a member of staff.
SYSTEM_ACTORS = frozenset({"casehub", "setup", "scheduler"})
CLI_ACTOR = "cli:"


class Purpose(StrEnum):
    SUBJECT = "subject"
    AGENCY = "agency"
    COURT = "court"


LABELS: dict[Purpose, str] = {
    Purpose.SUBJECT: "a subject access request",
    Purpose.AGENCY: "a partner agency",
    Purpose.COURT: "a court",
}

RULES: dict[Purpose, str] = {
    Purpose.COURT: (
        "The full record. Restricted updates are included and marked as restricted; staff are named "
        "by their Slack member ID."
    ),
    Purpose.AGENCY: (
        "What was shared with the case's agencies. Restricted updates, which only the lead "
        "coordinator and the filing agency saw, are withheld: their date and agency are shown, not "
        "their content. Staff are named by their Slack member ID."
    ),
    Purpose.SUBJECT: (
        "For the person the case is about. Restricted updates of every agency are removed. Staff are "
        "named only by their agency and role, and crisis pages by agency. Names and other "
        f"identifiers found in free text are someone else's and are replaced by {REDACTED}. Every "
        "disclosure is listed with the agency it went to."
    ),
}

# What each count of `redactions` stands for (the PDF's last section, and docs/export.md).
REDACTION_LABELS: dict[str, str] = {
    "restricted_updates": "restricted updates withheld or removed",
    "restricted_versions": "earlier versions of updates that were restricted, withheld or removed",
    "restricted_sharing_entries": "sharing-log entries about restricted updates removed",
    "restricted_sharing_details": "sharing-log entries about restricted updates without their kind",
    "staff_identities": "mentions of staff replaced by their agency and role",
    "third_party_identifiers": f"names or identifiers in free text replaced by {REDACTED}",
    "agency_reference": "the referring agency's own reference left out",
    "person": "the person's identity left out (it never goes to Slack, nor to a partner agency)",
    "person_contacts": "the person's contacts (third parties) left out",
}


def parse_purpose(value: str) -> Purpose:
    try:
        return Purpose(value.strip().lower())
    except ValueError:
        raise InvalidInput(
            f"`{value}` is not a purpose of export.",
            hint="Say who it is for: `subject` (a subject access request), `agency` or `court`.",
        ) from None


def file_name(reference: str, purpose: Purpose, on: date, suffix: str) -> str:
    """`casehub-K7Q2M9-court-20261120.pdf`: what the files are called wherever they go."""
    return f"casehub-{reference}-{purpose.value}-{on:%Y%m%d}.{suffix}"


@dataclass
class Bundle:
    """The export as data: its sections in the order the PDF shows them."""

    format: str
    reference: str
    purpose: str
    purpose_label: str
    rules: str
    export_number: int | None
    made_at: str
    made_by: str
    made_via: str
    case: dict[str, Any]
    agencies: list[dict[str, Any]]
    stages: list[dict[str, Any]]
    consent: list[dict[str, Any]]
    updates: list[dict[str, Any]]
    actions: list[dict[str, Any]]
    reviews: list[dict[str, Any]]
    follow_ups: list[dict[str, Any]]
    crises: list[dict[str, Any]]
    sharing_log: list[dict[str, Any]]
    chronology: list[dict[str, Any]]
    redactions: dict[str, int] = field(default_factory=dict)
    # Who the case is about, from the record desk: in a court's or a subject's export made
    # outside Slack only.
    person: dict[str, Any] | None = None

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), ensure_ascii=False, indent=2).encode("utf-8")


def build(
    session: Session,
    case: Case,
    purpose: Purpose,
    *,
    made_by: str,
    made_at: datetime,
    via_slack: bool,
    bases: dict[str, str],
    number: int | None = None,
) -> Bundle:
    """The case's record for `purpose`. Raises `identifiers.DetectorUnavailable` when a subject's
    export cannot be checked for third parties: nothing goes out unchecked."""
    redact = Redactor(session, case, purpose)
    agencies_by_id = {a.id: a for a in session.scalars(select(Agency))}
    events = list(
        session.scalars(select(AuditEvent).where(AuditEvent.case_id == case.id).order_by(AuditEvent.id))
    )
    updates = list(
        session.scalars(
            select(Update)
            .where(Update.case_id == case.id)
            .order_by(Update.created_at, Update.id)
            .options(selectinload(Update.revisions))
        )
    )
    restricted = {u.id for u in updates if u.restricted}
    asked: dict[int, list[UpdateCorrection]] = {}
    corrections = select(UpdateCorrection).where(UpdateCorrection.case_id == case.id)
    for correction in session.scalars(corrections.order_by(UpdateCorrection.id)):
        asked.setdefault(correction.update_id, []).append(correction)
    sections: dict[str, Any] = {
        "case": _case(case, redact, purpose, via_slack=via_slack),
        "agencies": _agencies(case, redact),
        "stages": _stages(case, events, redact),
        "consent": _consent(events, redact),
        "updates": [entry for u in updates for entry in _update(u, redact, asked.get(u.id, []))],
        "actions": _actions(session, case, agencies_by_id, redact),
        "reviews": _reviews(session, case, agencies_by_id, redact),
        "follow_ups": _follow_ups(session, case, events, redact),
        "crises": _crises(session, case, agencies_by_id, redact),
        "sharing_log": _sharing(session, case, agencies_by_id, restricted, bases, redact),
    }
    return Bundle(
        format=FORMAT,
        reference=case.reference,
        purpose=purpose.value,
        purpose_label=LABELS[purpose],
        rules=RULES[purpose],
        export_number=number,
        made_at=made_at.isoformat(),
        made_by=redact.person(made_by) or made_by,
        made_via="Slack (by direct message to the lead coordinator)" if via_slack else "the command line",
        chronology=_chronology(sections, events, redact),
        person=_person(session, case, purpose, redact, via_slack=via_slack),
        redactions={key: redact.counts[key] for key in REDACTION_LABELS},
        **sections,
    )


def _person(
    session: Session, case: Case, purpose: Purpose, redact: Redactor, *, via_slack: bool
) -> dict[str, Any] | None:
    """The identity recorded on the desk: for a court, whole; for the person, without their
    contacts (other people); never in an export that goes through Slack, nor to an agency."""
    known = identity.identity_of(session, case)
    if known is None:
        return None
    if via_slack or purpose is Purpose.AGENCY:
        redact.counts["person"] += 1
        return None
    out: dict[str, Any] = {
        "given_names": known.given_names,
        "family_names": known.family_names,
        "aliases": list(known.aliases),
        "date_of_birth": _day(known.date_of_birth),
        "gender": known.gender,
        "address": known.address,
        "school_or_employer": known.school_or_employer,
        "agency_references": list(known.agency_references),
    }
    if purpose is Purpose.COURT:
        out["contacts"] = list(known.contacts)
    else:
        redact.counts["person_contacts"] += len(known.contacts)
    return out


class Redactor:
    """What the purpose lets through: people as IDs or as agency and role, text as stored or with
    third parties' names and identifiers replaced. Counts each redaction it makes."""

    def __init__(self, session: Session, case: Case, purpose: Purpose) -> None:
        self.session, self.case, self.purpose = session, case, purpose
        self.counts: Counter[str] = Counter()
        self._labels: dict[tuple[str, int | None], str] = {}

    @property
    def for_subject(self) -> bool:
        return self.purpose is Purpose.SUBJECT

    @property
    def shows_restricted(self) -> bool:
        return self.purpose is Purpose.COURT

    def person(self, user_id: str | None, *, agency_id: int | None = None) -> str | None:
        """A member of staff: their Slack ID, or for a subject their agency and role."""
        if user_id is None:
            return None
        if user_id in SYSTEM_ACTORS:
            return "casehub"
        if user_id.startswith(CLI_ACTOR):
            return "casehub (command line)" if self.for_subject else user_id
        if not self.for_subject:
            return user_id
        self.counts["staff_identities"] += 1
        key = (user_id, agency_id)
        if key not in self._labels:
            self._labels[key] = self._label(user_id, agency_id)
        return self._labels[key]

    def _label(self, user_id: str, agency_id: int | None) -> str:
        memberships = list(
            self.session.scalars(
                select(Membership).where(Membership.user_id == user_id).order_by(Membership.id)
            )
        )
        if user_id == self.case.lead_user_id:
            hub = next((m.agency.name for m in memberships if m.role is Role.COORDINATOR), None)
            return f"the lead coordinator ({hub})" if hub else "the lead coordinator"
        in_case = {p.agency_id for p in self.case.participations}
        chosen = (
            next((m for m in memberships if m.agency_id == agency_id), None)
            or next((m for m in memberships if m.agency_id in in_case), None)
            or next(iter(memberships), None)
        )
        return f"{chosen.agency.name} ({chosen.role.value})" if chosen else "a member of staff"

    def text(self, value: str | None) -> str | None:
        """Free text; for a subject, with every name and identifier found replaced."""
        if not value or not self.for_subject:
            return value
        findings = identifiers.scan(value, "export")
        for finding in sorted(findings, key=lambda f: f.start, reverse=True):
            value = value[: finding.start] + REDACTED + value[finding.end :]
        self.counts["third_party_identifiers"] += len(findings)
        return value


def _at(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _day(day: date | None) -> str | None:
    return day.isoformat() if day else None


def _case(case: Case, redact: Redactor, purpose: Purpose, *, via_slack: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "reference": case.reference,
        "opened_at": _at(case.opened_at),
        "opened_by": redact.person(case.opened_by),
        "lead": redact.person(case.lead_user_id),
        "stage": case.stage.value,
        "risk": case.risk.value,
        "consent": case.consent.value,
        "consent_date": _day(case.consent_date),
        "review_every_weeks": case.review_every_weeks,
        "next_review_at": _at(case.next_review_at),
        "closed_at": _at(case.closed_at),
        "summary": redact.text(case.summary),
        "outcome": redact.text(case.outcome),
        "lessons": redact.text(case.lessons),
    }
    if case.purged_at is not None:  # only the marker is left: say so, and what it holds
        out["deleted_under_retention"] = {
            "at": _at(case.purged_at),
            "stage_reached": case.stage_reached,
            "outcome_category": case.outcome_category,
            "agency_kinds": list(case.agency_kinds or []),
            "exited_at": _at(case.exited_at),
        }
    if case.agency_reference:
        if purpose is Purpose.COURT and not via_slack:
            out["agency_reference"] = case.agency_reference
        else:
            redact.counts["agency_reference"] += 1
    return out


def _agencies(case: Case, redact: Redactor) -> list[dict[str, Any]]:
    return [
        {
            "agency": p.agency.name,
            "slug": p.agency.slug,
            "kind": p.agency.kind.value,
            "joined_at": _at(p.joined_at),
            "added_by": redact.person(p.added_by),
            "left_at": _at(p.left_at),
            "removed_by": redact.person(p.removed_by),
        }
        for p in sorted(case.participations, key=lambda p: (p.joined_at, p.id))
    ]


def _stages(case: Case, events: list[AuditEvent], redact: Redactor) -> list[dict[str, Any]]:
    out = []
    for event in events:
        if event.action == "case.opened":
            out.append(
                {"at": _at(event.at), "from": None, "to": "referral", "by": redact.person(event.actor)}
            )
        elif event.action == "case.stage":
            out.append(
                {
                    "at": _at(event.at),
                    "from": event.details.get("previous"),
                    "to": event.details.get("stage"),
                    "by": redact.person(event.actor),
                    "reason": event.details.get("reason"),
                }
            )
        elif event.action == "case.closed":
            out.append({"at": _at(event.at), "from": None, "to": "closed", "by": redact.person(event.actor)})
    return out


def _consent(events: list[AuditEvent], redact: Redactor) -> list[dict[str, Any]]:
    return [
        {
            "at": _at(event.at),
            "decision": event.details.get("consent"),
            "date": event.details.get("date"),
            "by": redact.person(event.actor),
        }
        for event in events
        if event.action == "case.consent"
    ]


_UPDATE_TEXTS = ("observed", "protective_factors", "concerns", "asks")


def _update(update: Update, redact: Redactor, asked: list[UpdateCorrection]) -> list[dict[str, Any]]:
    """An update as the purpose lets it be seen: whole, withheld (date and agency), or not at all."""
    if update.restricted and not redact.shows_restricted:
        redact.counts["restricted_updates"] += 1
        redact.counts["restricted_versions"] += len(update.revisions)
        if redact.for_subject:
            return []
        return [{"at": _at(update.created_at), "agency": update.agency.name, "withheld": WITHHELD}]
    out: dict[str, Any] = {
        "at": _at(update.created_at),
        "agency": update.agency.name,
        "filed_by": redact.person(update.filer, agency_id=update.agency_id),
        "filer_role": update.filer_role,
        "contact_date": _day(update.contact_date),
        "kind": update.kind.value,
        "risk": update.risk.value if update.risk else None,
        "restricted": update.restricted,
    }
    out.update({name: redact.text(getattr(update, name)) for name in _UPDATE_TEXTS})
    out["corrected_at"] = _at(update.edited_at)
    versions: list[dict[str, Any]] = []
    for revision in update.revisions:
        content = revision.content
        if content.get("restricted") and not redact.shows_restricted:
            redact.counts["restricted_versions"] += 1
            if not redact.for_subject:
                versions.append({"replaced_at": _at(revision.replaced_at), "withheld": WITHHELD})
            continue
        version: dict[str, Any] = {
            "replaced_at": _at(revision.replaced_at),
            "replaced_by": redact.person(revision.replaced_by, agency_id=update.agency_id),
            "contact_date": content.get("contact_date"),
            "kind": content.get("kind"),
            "risk": content.get("risk"),
            "restricted": bool(content.get("restricted")),
        }
        version.update({name: redact.text(content.get(name)) for name in _UPDATE_TEXTS})
        versions.append(version)
    out["earlier_versions"] = versions
    out["corrections_asked"] = [_correction(c, update, redact) for c in asked]
    return [out]


def _correction(correction: UpdateCorrection, update: Update, redact: Redactor) -> dict[str, Any]:
    """A correction asked for after the edit window: who asked, why, and what the lead decided;
    what it would have said, for a court only (an approved one is the update's text now)."""
    out: dict[str, Any] = {
        "asked_at": _at(correction.proposed_at),
        "asked_by": redact.person(correction.proposed_by, agency_id=update.agency_id),
        "reason": redact.text(correction.reason),
        "state": correction.state,
        "decided_by": redact.person(correction.decided_by) if correction.decided_by else None,
        "decided_at": _at(correction.decided_at),
    }
    if redact.shows_restricted and not redact.for_subject and correction.state != "approved":
        out["proposed"] = {name: correction.content.get(name) for name in _UPDATE_TEXTS}
    return out


# Keys of an action's history whose values are people, or free text.
_PEOPLE_KEYS = frozenset({"owner", "from", "to"})
_TEXT_KEYS = frozenset({"reason"})


def _details(
    details: dict[str, Any], redact: Redactor, agency_id: int, names: dict[str, str]
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in details.items():
        if isinstance(value, dict):
            out[key] = _details(value, redact, agency_id, names)
        elif key == "agency" and isinstance(value, str):  # stored by slug: shown by name
            out[key] = names.get(value, value)
        elif key in _PEOPLE_KEYS and isinstance(value, str):
            out[key] = redact.person(value, agency_id=agency_id)
        elif key in _TEXT_KEYS and isinstance(value, str):
            out[key] = redact.text(value)
        else:
            out[key] = value
    return out


def _actions(
    session: Session, case: Case, agencies_by_id: dict[int, Agency], redact: Redactor
) -> list[dict[str, Any]]:
    names = {a.slug: a.name for a in agencies_by_id.values()}
    rows = session.scalars(
        select(Action)
        .where(Action.case_id == case.id)
        .order_by(Action.number)
        .options(selectinload(Action.history))
    )
    out = []
    for action in rows:
        out.append(
            {
                "number": action.number,
                "text": redact.text(action.text),
                "agency": action.agency.name,
                "owner": redact.person(action.owner, agency_id=action.agency_id),
                "due": _day(action.due),
                "priority": action.priority.value,
                "status": action.status.value,
                "created_at": _at(action.created_at),
                "created_by": redact.person(action.created_by, agency_id=action.agency_id),
                "done_at": _at(action.done_at),
                "done_by": redact.person(action.done_by, agency_id=action.agency_id),
                "history": [
                    {
                        "at": _at(event.at),
                        "what": event.kind,
                        "by": redact.person(event.actor, agency_id=action.agency_id),
                        "details": _details(event.details, redact, action.agency_id, names),
                    }
                    for event in action.history
                ],
            }
        )
    return out


def _reviews(
    session: Session, case: Case, agencies_by_id: dict[int, Agency], redact: Redactor
) -> list[dict[str, Any]]:
    names = {a.slug: a.name for a in agencies_by_id.values()}
    rows = session.scalars(
        select(Review).where(Review.case_id == case.id).order_by(Review.held_on, Review.id)
    )
    return [
        {
            "held_on": _day(review.held_on),
            "recorded_at": _at(review.recorded_at),
            "recorded_by": redact.person(review.recorded_by),
            "agencies_present": [names.get(slug, slug) for slug in review.agencies_present],
            "decisions": redact.text(review.decisions),
            "risk_after": review.risk_after.value,
            "next_review_at": _at(review.next_review_at),
        }
        for review in rows
    ]


def _follow_ups(
    session: Session, case: Case, events: list[AuditEvent], redact: Redactor
) -> list[dict[str, Any]]:
    held = {e.details.get("label"): e for e in events if e.action == "review.follow_up"}
    out = []
    for follow_up in session.scalars(
        select(FollowUp).where(FollowUp.case_id == case.id).order_by(FollowUp.due_on, FollowUp.id)
    ):
        recorded = held.get(follow_up.label) if follow_up.held_on else None
        out.append(
            {
                "label": follow_up.label,
                "due_on": _day(follow_up.due_on),
                "held_on": _day(follow_up.held_on),
                "recorded_at": _at(recorded.at) if recorded else None,
                "recorded_by": redact.person(recorded.actor) if recorded else None,
                "note": redact.text(recorded.details.get("note")) if recorded else None,
            }
        )
    return out


def _crises(
    session: Session, case: Case, agencies_by_id: dict[int, Agency], redact: Redactor
) -> list[dict[str, Any]]:
    out = []
    for crisis in session.scalars(
        select(Crisis).where(Crisis.case_id == case.id).order_by(Crisis.raised_at, Crisis.id)
    ):
        pages = session.scalars(select(Page).where(Page.crisis_id == crisis.id).order_by(Page.id))
        out.append(
            {
                "raised_at": _at(crisis.raised_at),
                "raised_by": redact.person(crisis.raised_by),
                "summary": redact.text(crisis.summary),
                "state": crisis.state,
                "resolved_at": _at(crisis.resolved_at),
                "resolved_by": redact.person(crisis.resolved_by),
                "outcome": redact.text(crisis.outcome),
                "pages": [_page(page, agencies_by_id, redact) for page in pages],
            }
        )
    return out


def _page(page: Page, agencies_by_id: dict[int, Agency], redact: Redactor) -> dict[str, Any]:
    agency = (
        agencies_by_id[page.agency_id].name if page.agency_id in agencies_by_id else "the lead coordinator"
    )
    out: dict[str, Any] = {
        "at": _at(page.created_at),
        "agency": agency,
        "level": page.level,
        "acknowledged_at": _at(page.acknowledged_at),
    }
    if redact.for_subject:  # a page is shown by the agency paged, never by the person
        redact.counts["staff_identities"] += 1 + (page.acknowledged_by is not None)
    else:
        out["person"] = page.user_id
        out["acknowledged_by"] = page.acknowledged_by
    return out


def _sharing(
    session: Session,
    case: Case,
    agencies_by_id: dict[int, Agency],
    restricted: set[int],
    bases: dict[str, str],
    redact: Redactor,
) -> list[dict[str, Any]]:
    def agency(agency_id: int | None) -> str | None:
        return agencies_by_id[agency_id].name if agency_id in agencies_by_id else None

    out = []
    for record in sharing.log(session, case):
        about_restricted = record.update_id in restricted
        if about_restricted and redact.for_subject:
            redact.counts["restricted_sharing_entries"] += 1
            continue
        entry: dict[str, Any] = {
            "at": _at(record.at),
            "disclosure": record.disclosure,
            "kind": record.kind,
            "from_agency": agency(record.from_agency_id),
            "to_agency": agency(record.to_agency_id),
            "to_person": redact.person(record.to_user, agency_id=record.to_agency_id),
            "shared_by": redact.person(record.shared_by, agency_id=record.from_agency_id),
            "basis": record.basis,
            "basis_label": _basis_label(record.basis, bases),
            "what": _what(record, agency),
        }
        if about_restricted and not redact.shows_restricted:
            entry["kind"] = "restricted"
            entry["what"] = "a restricted update, for the lead coordinator only"
            redact.counts["restricted_sharing_details"] += 1
        if not redact.for_subject:  # the stored sentence names staff by their IDs
            entry["reason"] = record.reason
        out.append(entry)
    return out


def _basis_label(key: str | None, bases: dict[str, str]) -> str:
    if key is None:
        return "not recorded (shared before purposes were recorded)"
    return bases.get(key, f"{key} (no longer configured)")


def _a(word: str) -> str:
    return f"{'an' if word[:1].lower() in 'aeiou' else 'a'} {word}"


def _what(record: SharingRecord, agency: Any) -> str:
    """What was disclosed, from the entry's own fields (no stored sentence, no person)."""
    source = agency(record.from_agency_id) or "an agency"
    match record.disclosure:
        case Disclosure.UPDATE:
            return f"{_a(record.kind)} update of {source}"
        case Disclosure.CORRECTION:
            return f"a correction of a {record.kind} update of {source}"
        case Disclosure.EARLIER_UPDATE:
            return f"an earlier {record.kind} update of {source}, seen on joining the case"
        case Disclosure.CRISIS_PAGE:
            return "a crisis page" + (" with the summary" if record.kind == sharing.PAGE_WITH_SUMMARY else "")
        case Disclosure.CRISIS_EMAIL:
            return "an e-mail copy of a crisis page" + (
                " with the summary" if record.kind == sharing.PAGE_WITH_SUMMARY else ""
            )
        case Disclosure.HANDOVER:
            return f"the case, to a successor in {source}"
        case Disclosure.EXPORT:
            return f"an export of the case ({record.kind})"
        case Disclosure.TRANSFER if record.kind == sharing.TRANSFER_OFFER:
            return "the offer of the case to another area (its reference and facts)"
        case Disclosure.TRANSFER:
            return "the case, transferred to another area"
        case Disclosure.REFERRAL:
            return f"the referral of {source} the case was opened from"
    return record.kind


# ---- the chronology: every section's events in one order ------------------------------------


def _quote(text: str | None) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= CHRONOLOGY_QUOTE else text[: CHRONOLOGY_QUOTE - 1] + "…"


def _line(at: str | None, what: str, agency: str | None, text: str) -> dict[str, Any]:
    return {"at": at, "what": what, "agency": agency, "text": text}


def _chronology(sections: dict[str, Any], events: list[AuditEvent], redact: Redactor) -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = []
    case = sections["case"]
    for agency in sections["agencies"]:
        lines.append(_line(agency["joined_at"], "agency", agency["agency"], "joined the case"))
        if agency["left_at"]:
            lines.append(_line(agency["left_at"], "agency", agency["agency"], "left the case"))
    for stage in sections["stages"]:
        if stage["from"] is None and stage["to"] == "referral":
            text = f"case {case['reference']} opened at referral"
        elif stage["to"] == "closed":
            text = "case closed" + (f": {_quote(case['outcome'])}" if case["outcome"] else "")
        else:
            text = f"stage moved from {stage['from']} to {stage['to']}" + (
                f" ({stage['reason']})" if stage.get("reason") else ""
            )
        lines.append(_line(stage["at"], "stage", None, text))
    for decision in sections["consent"]:
        lines.append(
            _line(decision["at"], "consent", None, f"consent {decision['decision']} ({decision['date']})")
        )
    for event in events:
        if event.action == "case.lead_handed_over":
            lines.append(_line(_at(event.at), "lead", None, "the lead coordinator changed (hand-over)"))
    lines += _update_lines(sections["updates"])
    lines += _action_lines(sections["actions"])
    for review in sections["reviews"]:
        text = f"review held {review['held_on']}; risk after: {review['risk_after']}. " + _quote(
            review["decisions"]
        )
        lines.append(_line(review["recorded_at"], "review", None, text))
    for follow_up in sections["follow_ups"]:
        if follow_up["recorded_at"]:
            text = f"{follow_up['label']} held {follow_up['held_on']}" + (
                f": {_quote(follow_up['note'])}" if follow_up["note"] else ""
            )
            lines.append(_line(follow_up["recorded_at"], "follow-up", None, text))
    lines += _crisis_lines(sections["crises"])
    return sorted(lines, key=lambda line: line["at"] or "")


def _update_lines(updates: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    lines = []
    for update in updates:
        if "withheld" in update:
            lines.append(_line(update["at"], "update", update["agency"], "update " + WITHHELD))
            continue
        risk = f", risk {update['risk']}" if update["risk"] else ""
        flag = "restricted " if update["restricted"] else ""
        text = f"{flag}{update['kind']} update (contact {update['contact_date']}{risk}): " + _quote(
            update["observed"]
        )
        lines.append(_line(update["at"], "update", update["agency"], text))
        if update["corrected_at"]:
            lines.append(_line(update["corrected_at"], "correction", update["agency"], "corrected an update"))
    return lines


_ACTION_WORDS = {
    "created": "action added",
    "done": "action completed",
    "extended": "due date moved",
    "reassigned": "action reassigned",
    "handed-over": "action handed over",
}


def _action_lines(actions: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    lines = []
    for action in actions:
        for event in action["history"]:
            text = f"{_ACTION_WORDS.get(event['what'], event['what'])}: #{action['number']} " + _quote(
                action["text"]
            )
            if event["what"] == "extended":
                text += f" (to {event['details'].get('due')}: {_quote(event['details'].get('reason'))})"
            lines.append(_line(event["at"], "action", action["agency"], text))
    return lines


def _crisis_lines(crises: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    lines = []
    for crisis in crises:
        lines.append(
            _line(crisis["raised_at"], "crisis", None, "crisis raised: " + _quote(crisis["summary"]))
        )
        for page in crisis["pages"]:
            whom = page.get("person") or page["agency"]
            what = "paged" if page["level"] == 0 else f"escalated (level {page['level']}) to"
            lines.append(_line(page["at"], "page", page["agency"], f"{what} {whom}"))
            if page["acknowledged_at"]:
                lines.append(_line(page["acknowledged_at"], "page", page["agency"], "page acknowledged"))
        if crisis["resolved_at"]:
            lines.append(
                _line(crisis["resolved_at"], "crisis", None, "crisis resolved: " + _quote(crisis["outcome"]))
            )
    return lines
