"""Block Kit for agency updates: the form, the channel message, the timeline and the sharing log."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date
from typing import Any

from blocks.kit import (
    Block,
    actions,
    button,
    checkbox_input,
    clip,
    context,
    datepicker,
    escape,
    fit_message,
    form,
    header,
    input_block,
    option,
    section,
    static_select,
    text_input,
)
from blocks.messages import risk_label
from blocks.modals import metadata
from models import (
    Agency,
    Case,
    Disclosure,
    Membership,
    Risk,
    SharingRecord,
    Update,
    UpdateCorrection,
    UpdateKind,
)
from services.sharing import PAGE_WITH_SUMMARY, TRANSFER_OFFER
from services.timeline import Entry
from services.updates import LIMITS, AgencyPicture

UPDATE_FORM = "update_form"
KIND_LABELS = {
    UpdateKind.MEETING: "Meeting",
    UpdateKind.HOME_VISIT: "Home visit",
    UpdateKind.OBSERVATION: "Observation",
    UpdateKind.INFORMATION_RECEIVED: "Information received",
    UpdateKind.REFERRAL: "Referral",
    UpdateKind.NOTE: "Note",
    UpdateKind.OTHER: "Other",
}
NO_CHANGE = "unchanged"


def update_form(
    case: Case,
    memberships: Sequence[Membership],
    *,
    today: date,
    existing: Update | None = None,
    rectify: bool = False,
) -> dict[str, Any]:
    """The `/update` form; with `existing`, the same form to correct an update; with `rectify`
    too, to ask the lead to approve a correction once the edit window has passed."""
    blocks: list[Block] = [
        section(
            f":lock: Update on case *{case.reference}*. Describe what happened, never who: "
            "no names, dates of birth, addresses or contact details."
        )
    ]
    if rectify:
        blocks.append(
            context(
                "The time to correct it yourself has passed: the lead coordinator approves the correction "
                "before it replaces the update. What it says now stays in the case's history."
            )
        )
    if existing is None and len(memberships) > 1:
        agency_options = [option(m.agency.name, m.agency.slug) for m in memberships]
        blocks.append(
            input_block("agency", "On behalf of", static_select(agency_options, agency_options[0]["value"]))
        )
    kinds = [option(label, kind.value) for kind, label in KIND_LABELS.items() if kind is not UpdateKind.NOTE]
    risks = [option("No change", NO_CHANGE)] + [option(r.value.capitalize(), r.value) for r in Risk]
    initial_date = (existing.contact_date if existing else today).isoformat()

    def narrative(field: str, label: str, *, optional: bool = True) -> Block:
        initial = getattr(existing, field) if existing else None
        element = text_input(initial=initial, max_length=LIMITS[field], multiline=True)
        return input_block(field, label, element, optional=optional)

    blocks += [
        input_block("contact_date", "Date of contact", datepicker(initial_date)),
        input_block(
            "kind",
            "Kind",
            static_select(kinds, existing.kind.value if existing else UpdateKind.MEETING.value),
        ),
        narrative("observed", "What was observed or done", optional=False),
        input_block(
            "risk",
            "Your agency's risk assessment",
            static_select(risks, existing.risk.value if existing and existing.risk else NO_CHANGE),
        ),
        narrative("protective_factors", "Protective factors"),
        narrative("concerns", "Concerns"),
        narrative("asks", "What you ask of partners"),
        checkbox_input(
            "restricted",
            "Restricted",
            "Only the lead coordinator and my agency see it in full",
            ticked=bool(existing and existing.restricted),
        ),
    ]
    if rectify:
        blocks.append(
            input_block(
                "correction_reason",
                "Why it needs correcting",
                text_input(max_length=500, multiline=True),
                hint="The lead reads this with the correction.",
            )
        )
    return form(
        UPDATE_FORM,
        title="Ask to correct" if rectify else "Correct update" if existing else "Case update",
        submit="Ask the lead" if rectify else "Save" if existing else "File update",
        metadata=metadata(
            case=case.reference,
            channel=case.channel_id,
            update=existing.id if existing else None,
            rectify=1 if rectify else None,
        ),
        blocks=blocks,
    )


CORRECTION_APPROVE = "correction_approve"
CORRECTION_REFUSE = "correction_refuse"
_FIELD_LABELS = {
    "observed": "What was observed or done",
    "protective_factors": "Protective factors",
    "concerns": "Concerns",
    "asks": "What is asked of partners",
}


def correction_request(update: Update, case: Case, correction: UpdateCorrection) -> tuple[str, list[Block]]:
    """What the lead is sent: who asks to correct which update, why, what would change, and
    the buttons to decide."""
    intro = (
        f"<@{correction.proposed_by}> asks to correct their {escape(update.agency.name)} update of "
        f"{update.contact_date.isoformat()} on case *{case.reference}*, filed {update.created_at:%Y-%m-%d}."
    )
    blocks: list[Block] = [section(intro), section(f"*Why:* {escape(correction.reason)}")]
    now = correction.content
    for field, label in _FIELD_LABELS.items():
        before, after = getattr(update, field) or "", now.get(field) or ""
        if before != after:
            blocks.append(section(f"*{label}*, corrected:\n{escape(str(after)) or '_(empty)_'}"))
    changes = []
    if now.get("contact_date") != update.contact_date.isoformat():
        changes.append(f"date of contact {now.get('contact_date')}")
    if now.get("kind") != update.kind.value:
        changes.append(f"kind {now.get('kind')}")
    if now.get("risk") != (update.risk.value if update.risk else None):
        changes.append(f"risk {now.get('risk') or 'no change'}")
    if bool(now.get("restricted")) != update.restricted:
        changes.append("restricted" if now.get("restricted") else "no longer restricted")
    if changes:
        blocks.append(section("*Also:* " + ", ".join(changes)))
    blocks.append(
        actions(
            button("Approve", CORRECTION_APPROVE, str(correction.id), style="primary"),
            button("Refuse", CORRECTION_REFUSE, str(correction.id), style="danger"),
        )
    )
    blocks.append(context("Approved, it replaces the update and is shared again; the original stays."))
    return f"Correction of an update on case {case.reference} to approve", fit_message(blocks)


def correction_decided(correction: UpdateCorrection, case: Case) -> str:
    verb = "approved" if correction.state == "approved" else "refused"
    return f"The correction of an update on case {case.reference} was {verb} by <@{correction.decided_by}>."


def update_message(update: Update, case: Case) -> tuple[str, list[Block]]:
    """What the channel sees: the update in full, or a notice of a restricted one."""
    agency = update.agency.name
    risk = f" · risk {risk_label(update.risk.value)}" if update.risk else ""
    if update.restricted:
        text = f"🔒 Restricted update filed by {escape(agency)}{risk}."
        blocks = [
            section(f"🔒 *Restricted update* filed by *{escape(agency)}*{risk}"),
            context(f"Visible in full to the lead coordinator and {escape(agency)}: `/case timeline`"),
        ]
        return text, blocks
    label = KIND_LABELS[update.kind]
    edited = " · _edited_" if update.edited_at else ""
    blocks = [
        section(
            f"*{escape(agency)}* ({update.filer_role}) · {label} on {update.contact_date.isoformat()}{risk}"
        ),
        section(clip(escape(update.observed), 3000)),
    ]
    for title, value in (
        ("Protective factors", update.protective_factors),
        ("Concerns", update.concerns),
        ("Asks of partners", update.asks),
    ):
        if value:
            blocks.append(section(f"*{title}*\n{clip(escape(value), 2900)}"))
    blocks.append(context(f"Filed by <@{update.filer}>{edited}"))
    blocks.append(actions(button("Edit", "update_edit", str(update.id))))
    return f"{escape(agency)}: {label.lower()} update{risk}", blocks


def critical_prompt(update: Update, case: Case) -> list[Block]:
    return [
        section(
            f":rotating_light: You assessed case *{case.reference}* as *critical*. "
            "Do partners need to meet now? In immediate danger, call the police first."
        ),
        actions(button("Raise a crisis", "crisis_from_update", str(update.id), style="danger")),
    ]


def picture_section(pictures: Sequence[AgencyPicture]) -> list[Block]:
    lines, silent = [], []
    for item in pictures:
        if item.last_update is None:
            silent.append(item.agency.name)
            continue
        risk = risk_label(item.risk.value) if item.risk else "no assessment"
        lines.append(f"• *{escape(item.agency.name)}*: {risk} · last update {item.last_update:%Y-%m-%d}")
    blocks = [section("*Agencies' picture*\n" + ("\n".join(lines) or "_No updates yet._"))]
    if silent:
        blocks.append(context("Nothing filed yet: " + escape(", ".join(silent))))
    return blocks


def timeline(
    case: Case, entries: Sequence[Entry], number: int, pages: int, query: dict[str, Any]
) -> list[Block]:
    blocks: list[Block] = [header(f"Case {case.reference}: timeline")]
    if not entries:
        return [*blocks, section("Nothing to show for this selection.")]
    for entry in entries:
        who = f"*{escape(entry.agency)}* · " if entry.agency else ""
        blocks.append(section(clip(f"`{entry.at:%Y-%m-%d %H:%M}` {who}{entry.text}", 3000)))
    blocks.append(context(f"Page {number} of {pages} (page 1 is the most recent)"))
    blocks.extend(_pager("timeline", query, number, pages))
    return fit_message(blocks)


def sharing(
    case: Case,
    records: Sequence[SharingRecord],
    agencies_by_id: dict[int, Agency],
    number: int,
    pages: int,
    *,
    bases: dict[str, str],
) -> list[Block]:
    """The log: what was disclosed to whom, and its purpose and lawful basis, shown by its label."""
    blocks: list[Block] = [header(f"Case {case.reference}: sharing log")]
    if not records:
        return [*blocks, section("Nothing has been shared yet.")]
    for record in records:
        blocks.append(
            section(
                f"`{record.at:%Y-%m-%d %H:%M}` {_disclosed(record, agencies_by_id)}\n"
                f"_Purpose and lawful basis:_ {escape(_basis_label(record.basis, bases))}"
            )
        )
    blocks.append(context(f"Page {number} of {pages} (page 1 is the most recent)"))
    blocks.extend(_pager("sharing", {"case": case.reference}, number, pages))
    return fit_message(blocks)


def _disclosed(record: SharingRecord, agencies_by_id: dict[int, Agency]) -> str:
    def agency(agency_id: int | None) -> str:
        return escape(agencies_by_id[agency_id].name) if agency_id in agencies_by_id else "an agency"

    person = f"<@{record.to_user}>" if record.to_user else ""
    target = f"<@{record.to_user}>" if record.to_user else f"*{agency(record.to_agency_id)}*"
    by = f"<@{record.shared_by}>"
    match record.disclosure:
        case Disclosure.UPDATE:
            return f"*{agency(record.from_agency_id)}* ({by}) shared a *{record.kind}* update with {target}"
        case Disclosure.CORRECTION:
            return (
                f"*{agency(record.from_agency_id)}* ({by}) shared a correction of a *{record.kind}* "
                f"update with {target}"
            )
        case Disclosure.EARLIER_UPDATE:
            return (
                f"{by} added *{agency(record.to_agency_id)}*, which sees an earlier *{record.kind}* "
                f"update of *{agency(record.from_agency_id)}* in the channel"
            )
        case Disclosure.CRISIS_PAGE | Disclosure.CRISIS_EMAIL:
            email = record.disclosure == Disclosure.CRISIS_EMAIL
            how = "an e-mail copy of a crisis page" if email else "a crisis page"
            what = "with the summary" if record.kind == PAGE_WITH_SUMMARY else "with the reference and notice"
            return f"{by} raised a crisis: {how} {what} went to {person}"
        case Disclosure.HANDOVER:
            return (
                f"{by} handed over a role in *{agency(record.from_agency_id)}*: {person} receives "
                f"the case's information"
            )
        case Disclosure.EXPORT:
            return (
                f"{by} exported the case for *{escape(record.kind)}*: the files went to {person} by "
                "direct message"
            )
        case Disclosure.TRANSFER if record.kind == TRANSFER_OFFER:
            return f"{by} offered the case to another area: its reference and facts went to {target}"
        case Disclosure.TRANSFER:
            return f"{by} transferred the case to another area: {target} receives the case's information"
        case Disclosure.REFERRAL:
            return (
                f"{by} accepted a referral of *{agency(record.from_agency_id)}* as this case: its concern "
                f"went to {target}"
            )
    return f"{by} shared *{escape(record.kind)}* with {target}"


def _basis_label(key: str | None, bases: dict[str, str]) -> str:
    if key is None:
        return "not recorded (shared before purposes were recorded)"
    return bases.get(key, f"{key} (no longer configured)")


def _pager(kind: str, query: dict[str, Any], number: int, pages: int) -> list[Block]:
    """Earlier / Later buttons (distinct action IDs: Slack refuses duplicates in one message)."""
    buttons = []
    if number < pages:
        buttons.append(button("◀ Earlier", f"{kind}_earlier", json.dumps({**query, "page": number + 1})))
    if number > 1:
        buttons.append(button("Later ▶", f"{kind}_later", json.dumps({**query, "page": number - 1})))
    return [actions(*buttons)] if buttons else []
