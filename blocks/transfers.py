"""Block Kit for transfers between areas: the offer card, its forms, its answers, its Home rows.

The receiving hub sees what it needs to decide, and no more: the reference, the sending area,
stage, risk, the kinds of agencies involved, the reason and the deadline — never the concern
summary or the updates, which it sees once it has accepted the case.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from blocks.kit import (
    Block,
    actions,
    button,
    checkbox_input,
    context,
    escape,
    form,
    header,
    input_block,
    multi_static_select,
    option,
    section,
    text_input,
    users_select,
)
from blocks.messages import risk_label
from blocks.modals import agency_options, metadata
from models import Action, Agency, Area, Case, Transfer, TransferState
from services.transfers import NOTE_MAX, REASON_MAX

ACCEPT = "transfer_accept"  # the button's action_id is `transfer_accept:<id>`
REJECT = "transfer_reject"
ACCEPT_FORM = "transfer_accept_form"
REJECT_FORM = "transfer_reject_form"
OVERRIDE = "without-consent"
HOME_SHOWN = 5


@dataclass(frozen=True)
class Offer:
    """An offer as the receiving hub is shown it (read from the database by the caller)."""

    transfer_id: int
    reference: str
    from_area: str
    to_area: str
    stage: str
    risk: str
    kinds: Sequence[str]
    reason: str
    deadline: str  # the deadline in the receiving area's time zone, written out
    consent: str
    consented: bool


def offer_of(
    transfer: Transfer, case: Case, from_area: Area, to_area: Area, kinds: Sequence[str], deadline: str
) -> Offer:
    return Offer(
        transfer.id,
        case.reference,
        from_area.name,
        to_area.name,
        case.stage.value,
        case.risk.value,
        kinds,
        transfer.reason,
        deadline,
        case.consent.value,
        case.consent.value in ("given", "not-required"),
    )


def offer_text(offer: Offer) -> str:
    return (
        f"{escape(offer.from_area)} offers case {offer.reference} to {escape(offer.to_area)}: "
        f"accept or reject it by {offer.deadline}."
    )


def _buttons(transfer_id: int) -> Block:
    return actions(
        button("Accept…", f"{ACCEPT}:{transfer_id}", str(transfer_id), style="primary"),
        button("Reject…", f"{REJECT}:{transfer_id}", str(transfer_id), style="danger"),
        block_id=f"transfer_answer:{transfer_id}",
    )


def _facts(offer: Offer) -> list[str]:
    kinds = ", ".join(offer.kinds) or "none"
    consent = offer.consent if offer.consented else f":warning: {offer.consent} (no consent on record)"
    return [
        f"*From*\n{escape(offer.from_area)}",
        f"*Stage*\n{offer.stage}",
        f"*Risk*\n{risk_label(offer.risk)}",
        f"*Agencies involved*\n{kinds}",
        f"*Answer by*\n{offer.deadline}",
        f"*Consent*\n{consent}",
    ]


def offer_card(offer: Offer, *, answerable: bool = True) -> list[Block]:
    """The card in the receiving hub's channel and in each of its coordinators' messages."""
    blocks: list[Block] = [
        header(f"Transfer offer: case {offer.reference}"),
        section(
            f"{escape(offer.from_area)} offers this case to *{escape(offer.to_area)}*.", fields=_facts(offer)
        ),
        section(f"*Why it should move*\n{escape(offer.reason)}"),
    ]
    if not offer.consented:
        blocks.append(
            context(
                ":warning: The person's consent is not on record: whoever accepts records that they "
                "proceed without it."
            )
        )
    blocks.append(
        context(
            "The sending area stays responsible until your area accepts. The summary and the updates "
            "are shared once it is accepted."
        )
    )
    if answerable:
        blocks.append(_buttons(offer.transfer_id))
    return blocks


def answered_card(offer: Offer, outcome: str) -> list[Block]:
    """The hub's card once the offer is answered, withdrawn or expired: no buttons left."""
    return [*offer_card(offer, answerable=False), section(outcome)]


def outcome_line(transfer: Transfer) -> str:
    by = f" by <@{transfer.decided_by}>" if transfer.decided_by else ""
    return {
        TransferState.ACCEPTED: f":white_check_mark: Accepted{by}; <@{transfer.new_lead}> leads the case.",
        TransferState.REJECTED: f":x: Rejected{by}.",
        TransferState.REVOKED: f":leftwards_arrow_with_hook: Withdrawn{by}.",
        TransferState.EXPIRED: ":hourglass_flowing_sand: Expired with no answer.",
    }.get(transfer.state, "")


def accept_form(
    offer: Offer,
    *,
    area_agencies: Sequence[Agency],
    chosen: Sequence[Agency],
    lead: str,
) -> dict[str, Any]:
    """Accepting: the new lead, the receiving area's agencies to take part, a note, and when
    consent is not on record, the box that records proceeding without it."""
    options = agency_options(area_agencies)
    initial = [o for o in options if o["value"] in {a.slug for a in chosen}]
    blocks: list[Block] = [
        section(
            f"*Case {offer.reference}* from {escape(offer.from_area)} · {offer.stage} · "
            f"{risk_label(offer.risk)}\n_Why:_ {escape(offer.reason)}"
        ),
        input_block(
            "lead",
            "New lead coordinator",
            users_select(lead),
            hint=f"A coordinator of {offer.to_area}.",
        ),
        input_block(
            "agencies",
            "Agencies of your area to take part",
            multi_static_select(options, initial=initial, placeholder="Choose agencies"),
            hint="Those of the case's agencies that do not take part in your area leave it.",
        ),
        input_block(
            "note",
            "Note to the sending lead",
            text_input(multiline=True, max_length=NOTE_MAX),
            optional=True,
            hint="No names or identifiers.",
        ),
    ]
    if not offer.consented:
        blocks.append(
            checkbox_input(
                "consent_override",
                f"Consent is not on record ({offer.consent})",
                "Accept without consent on record",
                value=OVERRIDE,
            )
        )
    return form(
        ACCEPT_FORM,
        title="Accept the transfer",
        submit="Accept",
        metadata=metadata(transfer=offer.transfer_id, case=offer.reference),
        blocks=blocks,
    )


def reject_form(offer: Offer) -> dict[str, Any]:
    return form(
        REJECT_FORM,
        title="Reject the transfer",
        submit="Reject",
        metadata=metadata(transfer=offer.transfer_id, case=offer.reference),
        blocks=[
            section(
                f"*Case {offer.reference}* from {escape(offer.from_area)}\n_Why:_ {escape(offer.reason)}"
            ),
            input_block(
                "reason",
                "Why your area does not take it",
                text_input(multiline=True, max_length=REASON_MAX),
                hint="The sending lead is told. No names or identifiers.",
            ),
        ],
    )


def status(offer: Offer, state: TransferState, outcome: str = "") -> list[Block]:
    """`/case transfer` alone: the open (or last) offer of the case."""
    if state is TransferState.OFFERED:
        lines = (
            f"Case {offer.reference} is offered to *{escape(offer.to_area)}*, open until {offer.deadline}. "
            "Until it is accepted, the case and its rights stay with you."
        )
        return [
            section(lines),
            section(f"*Reason*\n{escape(offer.reason)}"),
            context("`/case transfer cancel` withdraws it."),
        ]
    return [section(f"The last offer of case {offer.reference} to {escape(offer.to_area)}: {outcome}")]


def accepted_for_lead(
    reference: str, from_area: str, joined: Sequence[str], left: Sequence[str], orphaned: Sequence[Action]
) -> list[Block]:
    """The new lead's briefing: the case is theirs; what changed; actions owned by agencies that left."""
    blocks: list[Block] = [
        section(
            f":inbox_tray: Case *{reference}* has moved to your area from {escape(from_area)}: "
            "you are its lead coordinator. Its channel, history and actions came with it."
        )
    ]
    changes = []
    if joined:
        changes.append("Joined: " + escape(", ".join(joined)))
    if left:
        changes.append("Left: " + escape(", ".join(left)))
    if changes:
        blocks.append(section("\n".join(changes)))
    if orphaned:
        rows = [
            f"• *#{a.number}* {escape(a.text[:150])} — {escape(a.agency.name)}"
            + (f", <@{a.owner}>" if a.owner else "")
            + f", due {a.due.isoformat()}"
            for a in orphaned[:20]
        ]
        more = f"\n…and {len(orphaned) - 20} more." if len(orphaned) > 20 else ""
        blocks.append(
            section(
                "*Open actions owned by agencies that left the case* (their owners keep them until you "
                "reassign or close them):\n" + "\n".join(rows) + more
            )
        )
    return blocks


def home_rows(incoming: Sequence[Offer], outgoing: Sequence[Offer]) -> list[Block]:
    """The Home tab's transfer rows: offers to the person's areas, with their buttons, and their
    own open offers. Nothing when there are none."""
    blocks: list[Block] = []
    if incoming:
        blocks.append(header(f"Transfer offers to your area ({len(incoming)})"))
        for offer in incoming[:HOME_SHOWN]:
            blocks.append(
                section(
                    f"*{offer.reference}* from {escape(offer.from_area)} to {escape(offer.to_area)} · "
                    f"{offer.stage} · {risk_label(offer.risk)} · answer by {offer.deadline}\n"
                    f"_Why:_ {escape(offer.reason[:300])}"
                )
            )
            blocks.append(_buttons(offer.transfer_id))
        if len(incoming) > HOME_SHOWN:
            blocks.append(context(f"…and {len(incoming) - HOME_SHOWN} more in your direct messages."))
    if outgoing:
        blocks.append(header(f"Your open transfer offers ({len(outgoing)})"))
        lines = [
            f"• *{o.reference}* to {escape(o.to_area)}, open until {o.deadline}"
            for o in outgoing[:HOME_SHOWN]
        ]
        blocks.append(section("\n".join(lines)))
    return blocks


def area_option(area: Area) -> Block:
    return option(f"{area.name} ({area.slug})", area.slug)
