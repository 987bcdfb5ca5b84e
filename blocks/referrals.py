"""Referrals in Block Kit: the `/refer` form, the hub's card, the content (for its coordinators
only), the decide form, the Home queue and what the referrer is told.

The card in the hub channel, the nudges and the referrer's messages carry no typed text: only
the reference, the referring agency, urgency, risk, times and state.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from blocks.kit import (
    Block,
    actions,
    button,
    clip,
    context,
    divider,
    escape,
    form,
    header,
    input_block,
    multi_static_select,
    option,
    plain,
    section,
    static_select,
    text_input,
    users_select,
)
from blocks.messages import risk_label
from blocks.modals import agency_options, area_choice, metadata
from models import Agency, Area, Risk
from models.referral import Awareness, Referral, ReferralConsent, ReferralState, Urgency
from services.referrals import SERVICE_MAX, TEXT_MAX, Queue, outcome_words

REFER = "referral_submit"
DECIDE = "referral_decide"
ACKNOWLEDGE_ACTION, VIEW_ACTION, DECIDE_ACTION = "referral_ack", "referral_view", "referral_decide"
QUEUE_SHOWN = 20
MINE_SHOWN = 10

AWARENESS = {
    Awareness.PERSON_KNOWS: "The person knows",
    Awareness.PARENT_KNOWS: "A parent knows (a child)",
    Awareness.NOT_TOLD: "Not told",
    Awareness.UNKNOWN: "Not known",
}
CONSENT = {
    ReferralConsent.GIVEN: "Consent given",
    ReferralConsent.REFUSED: "Consent refused",
    ReferralConsent.NOT_ASKED: "Not asked",
}
URGENCY = {Urgency.ROUTINE: "Routine", Urgency.URGENT: "Urgent"}
OUTCOMES = {
    ReferralState.ACCEPTED: "Accept: open a case",
    ReferralState.SIGNPOSTED: "Signpost to another service",
    ReferralState.CLOSED: "Close: no further action",
}
STATE = {
    ReferralState.RECEIVED: "received, not yet acknowledged",
    ReferralState.ACKNOWLEDGED: "acknowledged, awaiting a decision",
    ReferralState.ACCEPTED: "accepted",
    ReferralState.SIGNPOSTED: "signposted",
    ReferralState.CLOSED: "closed with no further action",
}


def _when(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC"


def refer_form(agencies: Sequence[Agency], areas: Sequence[Area]) -> dict[str, Any]:
    """The `/refer` form: an area only for someone whose agencies take part in several, an
    agency only for someone in several."""
    agency_choice = []
    if len(agencies) > 1:
        agency_choice = [input_block("agency", "Referring agency", static_select(agency_options(agencies)))]
    risk_options = [option(r.value.capitalize(), r.value) for r in Risk]
    return form(
        REFER,
        title="Make a referral",
        submit="Refer",
        blocks=[
            section(
                ":lock: *No names or identifiers*: no name, date of birth, address, school or contact "
                "details. The hub gives the referral a reference.\n"
                ":rotating_light: *Immediate danger?* Call the police now: 999 / 112 / 17.\n"
                ":file_folder: For a case that is already open, use `/crisis` in its channel."
            ),
            *area_choice(areas),
            *agency_choice,
            input_block(
                "concern",
                "The concern",
                text_input(
                    multiline=True, max_length=TEXT_MAX, placeholder="Behaviour seen or heard, not identity."
                ),
                hint="No names or identifiers. At least 10 characters.",
            ),
            input_block("why_now", "Why now", text_input(multiline=True, max_length=TEXT_MAX)),
            input_block("risk", "Risk", static_select(risk_options, Risk.MODERATE.value)),
            input_block(
                "done_so_far",
                "What has been done so far",
                text_input(multiline=True, max_length=TEXT_MAX),
                optional=True,
            ),
            input_block(
                "awareness",
                "Does the person (or a parent, for a child) know?",
                static_select([option(text, value.value) for value, text in AWARENESS.items()]),
            ),
            input_block(
                "consent",
                "Do they consent to the referral?",
                static_select([option(text, value.value) for value, text in CONSENT.items()]),
            ),
            input_block(
                "urgency",
                "Urgency",
                static_select(
                    [option(text, value.value) for value, text in URGENCY.items()], Urgency.ROUTINE.value
                ),
                hint="Urgent: the hub's coordinators are told at once.",
            ),
        ],
    )


def _facts(referral: Referral, agency: Agency) -> list[str]:
    due = (
        [f"*Acknowledge by*\n{_when(referral.ack_due_at)}"]
        if referral.state is ReferralState.RECEIVED
        else []
    )
    if referral.state.is_open:
        due.append(f"*Decide by*\n{_when(referral.decision_due_at)}")
    return [
        f"*From*\n{escape(agency.name)} ({agency.kind.value})",
        f"*Urgency*\n{URGENCY[referral.urgency]}",
        f"*Risk*\n{risk_label(referral.risk.value)}",
        f"*Received*\n{_when(referral.received_at)}",
        *due,
        f"*State*\n{STATE[referral.state]}",
    ]


def _buttons(referral: Referral, *, suffix: bool) -> list[Block]:
    """Acknowledge, View, Decide; on the Home tab each action id is made unique per referral."""
    end = f":{referral.reference}" if suffix else ""
    shown = [button("View", VIEW_ACTION + end, referral.reference)]
    if referral.state is ReferralState.RECEIVED:
        shown.insert(0, button("Acknowledge", ACKNOWLEDGE_ACTION + end, referral.reference))
    if referral.state.is_open:
        shown.append(button("Decide", DECIDE_ACTION + end, referral.reference, style="primary"))
    return shown


def card_text(referral: Referral, agency: Agency) -> str:
    return f"Referral {referral.label} from {agency.name}: {STATE[referral.state]}"


def card(referral: Referral, agency: Agency) -> list[Block]:
    """The hub channel's card: no typed text at all, the content is behind View."""
    icon = ":red_circle: Urgent referral" if referral.urgency is Urgency.URGENT else "Referral"
    blocks = [
        section(f"*{icon} {referral.label}*", fields=_facts(referral, agency)),
    ]
    if referral.decided_by and referral.decided_at:
        blocks.append(
            context(
                f"{outcome_words(referral.state).capitalize()} by <@{referral.decided_by}>, "
                f"{_when(referral.decided_at)}."
            )
        )
    elif referral.acknowledged_by and referral.acknowledged_at:
        blocks.append(
            context(f"Acknowledged by <@{referral.acknowledged_by}>, {_when(referral.acknowledged_at)}.")
        )
    blocks.append(actions(*_buttons(referral, suffix=False), block_id=f"referral:{referral.reference}"))
    return blocks


def detail(referral: Referral, agency: Agency, area: Area, *, desk: str | None = None) -> dict[str, Any]:
    """What was referred, for the area's coordinators (a modal, never a message); `desk`: what
    the record desk knows of its person (`desk_line`)."""
    blocks: list[Block] = [
        section(f"*{referral.label}* · {escape(area.name)}", fields=_facts(referral, agency)),
        section(f"*Referred by* <@{referral.referrer}>"),
        divider(),
        section("*The concern*\n" + escape(referral.concern)),
        section("*Why now*\n" + escape(referral.why_now)),
        section("*What has been done*\n" + escape(referral.done_so_far or "Nothing said.")),
        section(f"*Awareness*: {AWARENESS[referral.awareness]} · *Consent*: {CONSENT[referral.consent]}"),
        *([context(desk)] if desk else []),
    ]
    if referral.decided_by:
        line = f"*Decision*: {outcome_words(referral.state)} by <@{referral.decided_by}>"
        if referral.signposted_to:
            line += f" — to {escape(referral.signposted_to)}"
        blocks.append(section(line + "\n" + escape(referral.decision_reason or "")))
    return {
        "type": "modal",
        "title": plain(clip(f"Referral {referral.label}", 24), 24),
        "close": plain("Close", 24),
        "blocks": blocks,
    }


def decide_form(referral: Referral, partners: Sequence[Agency], *, decider: str) -> dict[str, Any]:
    """The hub's decision, always with a reason; the case's lead, agencies and risk for an
    acceptance."""
    others = [a for a in partners if a.id != referral.agency_id]
    extra = []
    if others:
        extra = [
            input_block(
                "agencies",
                "If accepted: more agencies taking part",
                multi_static_select(agency_options(others), placeholder="Choose agencies"),
                optional=True,
                hint="The referring agency takes part already.",
            )
        ]
    risk_options = [option(r.value.capitalize(), r.value) for r in Risk]
    return form(
        DECIDE,
        title=clip(f"Decide {referral.label}", 24),
        submit="Decide",
        metadata=metadata(reference=referral.reference),
        blocks=[
            section(
                f"*{referral.label}*: the referrer is told the outcome (and, for a signpost or a "
                "closure, your reason) — never a case's details."
            ),
            input_block(
                "outcome",
                "Decision",
                static_select([option(text, value.value) for value, text in OUTCOMES.items()]),
            ),
            input_block(
                "reason",
                "Reason",
                text_input(multiline=True, max_length=TEXT_MAX),
                hint="No names or identifiers.",
            ),
            input_block(
                "signposted_to",
                "Signposted to (which service)",
                text_input(max_length=SERVICE_MAX),
                optional=True,
                hint="Required for a signpost.",
            ),
            input_block("lead", "If accepted: lead coordinator", users_select(decider)),
            *extra,
            input_block("risk", "If accepted: risk", static_select(risk_options, referral.risk.value)),
        ],
    )


def _queue_row(referral: Referral, agency: Agency | None, now: datetime) -> list[Block]:
    due = referral.ack_due_at if referral.state is ReferralState.RECEIVED else referral.decision_due_at
    what = "acknowledgement" if referral.state is ReferralState.RECEIVED else "decision"
    timing = f"*overdue* since {_when(due)}" if due < now else f"due {_when(due)}"
    urgent = ":red_circle: urgent · " if referral.urgency is Urgency.URGENT else ""
    source = escape(agency.name) if agency else "an agency"
    return [
        section(
            f"*{referral.label}* {urgent}{risk_label(referral.risk.value)} · from {source} · "
            f"{STATE[referral.state]} · {what} {timing}"
        ),
        actions(*_buttons(referral, suffix=True), block_id=f"referral-home:{referral.reference}"),
    ]


def hub_queue(queue: Queue, now: datetime, *, shown: int = QUEUE_SHOWN) -> list[Block]:
    """A coordinator's Home section: their hubs' open referrals, urgent first then oldest."""
    blocks: list[Block] = [header(f"Referrals awaiting your hub ({queue.total})")]
    if not queue.referrals:
        blocks.append(section("No referral awaits your hub."))
    for referral in queue.referrals[:shown]:
        blocks.extend(_queue_row(referral, queue.agencies.get(referral.agency_id), now))
    hidden = queue.total - min(len(queue.referrals), shown)
    if hidden > 0:
        blocks.append(context(f"…and {hidden} more, newer and routine ones last."))
    blocks.append(divider())
    return blocks


def own_referrals(referrals: Sequence[Referral]) -> list[Block]:
    """The referrer's own referrals: reference and state only."""
    if not referrals:
        return []
    lines = [
        f"• *{r.label}* — {STATE[r.state]} (sent {r.received_at:%Y-%m-%d})" for r in referrals[:MINE_SHOWN]
    ]
    return [header("Your referrals"), section("\n".join(lines))]


def desk_link(desk_url: str | None, referral: Referral) -> str | None:
    """The referral's page on the record desk, where who it is about is recorded and matched."""
    return f"{desk_url.rstrip('/')}/referrals/{referral.label}" if desk_url else None


def received_text(referral: Referral, area: Area, *, desk_url: str | None = None) -> str:
    text = (
        f":inbox_tray: Your referral *{referral.label}* reached the hub of {escape(area.name)}. "
        f"It is to be acknowledged by {_when(referral.ack_due_at)} and decided by "
        f"{_when(referral.decision_due_at)}. You will be told the outcome here. "
        "In immediate danger, call the police: 999 / 112 / 17."
    )
    link = desk_link(desk_url, referral)
    if link:  # who it is about never goes into Slack; the desk is where it is kept
        text += (
            f"\nWho it is about goes on the record desk, never in Slack: <{link}|record their identity> "
            "while the referral is open, so the hub can find earlier referrals of the same person."
        )
    return text


def desk_line(matches: int | None, link: str | None) -> str:
    """What the record desk knows of the referral's person, without saying who it is: whether
    an identity is recorded (`matches` None: not yet) and how many earlier cases or referrals
    may be about the same person."""
    where = f"<{link}|the record desk>" if link else "the record desk"
    if matches is None:
        return f"*Record desk*: no identity recorded yet; record it on {where} to find earlier referrals."
    if matches == 0:
        return (
            "*Record desk*: identity recorded; no earlier case or referral looks like the same person "
            f"({where})."
        )
    return (
        f":mag: *Record desk*: {matches} earlier case(s) or referral(s) may be about the same person: "
        f"decide on {where}."
    )


def urgent_text(referral: Referral, agency: Agency) -> str:
    return (
        f":red_circle: Urgent referral *{referral.label}* from {escape(agency.name)} "
        f"({risk_label(referral.risk.value)}). Open casehub's Home tab to view and acknowledge it."
    )


def outcome_text(referral: Referral, area: Area) -> str:
    """What the referrer is told: the outcome, never a case's reference or content."""
    head = f"Your referral *{referral.label}* to the hub of {escape(area.name)}"
    if referral.state is ReferralState.ACCEPTED:
        return (
            f":white_check_mark: {head} was accepted: a case is open, and your agency takes part in it. "
            "Its coordinator will be in touch."
        )
    reason = escape(referral.decision_reason or "")
    if referral.state is ReferralState.SIGNPOSTED:
        return (
            f":arrow_right: {head} was signposted to {escape(referral.signposted_to or 'another service')}. "
            f"Reason: {reason}"
        )
    return f":heavy_minus_sign: {head} was closed with no further action. Reason: {reason}"
