"""Transfers between areas: `/case transfer` (the sending lead), and the receiving hub's Accept
and Reject buttons with their forms."""

from __future__ import annotations

import re
from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient

from blocks import findings, modals
from blocks import transfers as transfer_blocks
from blocks.kit import escape
from flows import transfers as transfer_flow
from flows.rules import reminder_rules
from handlers import payload
from handlers.commands import Call
from handlers.common import Deps, answer_form, deferred, deps, reported, request_ref, typed_text
from models import Area, Case, Delivery, Disclosure
from services import agencies, areas, cases, deliveries, inputs, transfers
from services.errors import CasehubError


def register(app: App) -> None:
    app.action(re.compile(rf"^{transfer_blocks.ACCEPT}(:\d+)?$"))(**deferred(open_accept, urgent=True))
    app.action(re.compile(rf"^{transfer_blocks.REJECT}(:\d+)?$"))(**deferred(open_reject, urgent=True))
    app.view(transfer_blocks.ACCEPT_FORM)(ack=reported(check_accept), lazy=[reported(record_accept)])
    app.view(transfer_blocks.REJECT_FORM)(ack=reported(check_reject), lazy=[reported(record_reject)])


# `/case transfer`: in the case's channel, by its lead.


def case_transfer(call: Call) -> None:
    """`/case transfer <area> <reason>` offers; `cancel` withdraws; alone, where it stands."""
    words = call.rest.split(maxsplit=1)
    if not words:
        show_offer(call)
    elif words[0].lower() == "cancel" and len(words) == 1:
        revoke_offer(call)
    else:
        make_offer(call, words[0], typed_text(words[1]) if len(words) == 2 else "")


def make_offer(call: Call, slug: str, reason: str) -> None:
    d = call.deps
    with d.db.session() as session:
        case = cases.for_channel(session, call.channel, "/case transfer")
        transfer, created = transfers.offer(
            session,
            case=case,
            to_slug=slug,
            reason=reason,
            actor=call.user,
            offered_via=call.ref,
            request_ref=call.ref,
            rules=reminder_rules(d.settings, session),
            basis=d.settings.sharing_basis(Disclosure.TRANSFER),
        )
        if created:
            transfer_flow.owe_offer(session, transfer, d.settings)
        offer = transfer_flow.offer_of(session, transfer, d.settings)
        transfer_id, told = transfer.id, len(areas.coordinators(session, transfer.to_area_id))
    problem = transfer_flow.send_offer(d.db, call.client, transfer_id)
    call.say(
        f"Case {offer.reference} is offered to *{escape(offer.to_area)}*: its {told} coordinator(s) have "
        f"been told, and must answer by {offer.deadline}. Until they accept, nothing changes: the case, "
        "its channel and your rights stay as they are. `/case transfer cancel` withdraws the offer."
        + (f"\n:warning: {problem}" if problem else "")
    )


def show_offer(call: Call) -> None:
    d = call.deps
    with d.db.reader() as session:
        case = cases.for_channel(session, call.channel, "/case transfer")
        cases.require_participant(session, case, call.user)
        pending = transfers.open_offer(session, case.id)
        if pending is None:
            call.say(f"Case {case.reference} is not offered to another area. Offer it with {transfers.USAGE}")
            return
        offer = transfer_flow.offer_of(session, pending, d.settings)
        blocks = transfer_blocks.status(offer, pending.state)
    call.say(f"Case {offer.reference} is offered to {escape(offer.to_area)}.", blocks)


def revoke_offer(call: Call) -> None:
    d = call.deps
    with d.db.session() as session:
        case = cases.for_channel(session, call.channel, "/case transfer cancel")
        if deliveries.claim(session, call.ref):
            transfer = transfers.revoke(session, case=case, actor=call.user, request_ref=call.ref)
            transfer_flow.owe_revoked(session, transfer)
        else:
            transfer = transfers.latest(session, case.id)
        transfer_id, reference = transfer.id, case.reference
        to_area = session.get_one(Area, transfer.to_area_id).name
    transfer_flow.send(d.db, call.client, transfer_id, "revoked")
    transfer_flow.close_cards(d.db, call.client, d.settings, transfer_id)
    call.say(f"The offer of case {reference} to {escape(to_area)} is withdrawn; its coordinators are told.")


# The receiving hub's buttons and forms.


def _offer_for(d: Deps, transfer_id: int, user: str) -> tuple[transfer_blocks.Offer, Any, Any]:
    with d.db.reader() as session:
        transfer = transfers.get(session, transfer_id)
        transfers.require_may_answer(session, transfer, user)
        case = session.get_one(Case, transfer.case_id)
        cases.require_open(case)
        offer = transfer_flow.offer_of(session, transfer, d.settings)
        in_area = areas.agencies_in(session, transfer.to_area_id)
        chosen = transfers.default_agencies(session, case, transfer.to_area_id)
    return offer, in_area, chosen


def open_accept(
    body: dict[str, Any], action: dict[str, Any], client: WebClient, context: BoltContext
) -> None:
    user = body["user"]["id"]
    offer, in_area, chosen = _offer_for(deps(context), payload.button_id(action), user)
    view = transfer_blocks.accept_form(offer, area_agencies=in_area, chosen=chosen, lead=user)
    client.views_open(trigger_id=body["trigger_id"], view=view)


def open_reject(
    body: dict[str, Any], action: dict[str, Any], client: WebClient, context: BoltContext
) -> None:
    offer, _, _ = _offer_for(deps(context), payload.button_id(action), body["user"]["id"])
    client.views_open(trigger_id=body["trigger_id"], view=transfer_blocks.reject_form(offer))


def _transfer_id(view: dict[str, Any]) -> int:
    return payload.identifier(payload.metadata(view).get("transfer"))


def _acceptance(view: dict[str, Any]) -> transfers.Acceptance:
    """The accept form's values, typed; one the form never offered is refused on its field."""
    form = modals.values(view)
    slugs = inputs.strings(form.get("agencies"), field="agencies", what="the agencies")
    return transfers.Acceptance(
        new_lead=inputs.parse_person(form.get("lead"), field="lead", what="a lead coordinator"),
        agency_slugs=tuple(agencies.chosen_slug(slug, field="agencies") for slug in slugs),
        note=inputs.text(form.get("note"), field="note").strip(),
        without_consent=inputs.ticked(
            form.get("consent_override"), transfer_blocks.OVERRIDE, field="consent_override"
        ),
        confirmed=findings.ticked_in(form),
    )


def _accept_problem(d: Deps, view: dict[str, Any], user: str) -> CasehubError | None:
    try:
        choice = _acceptance(view)
        with d.db.reader() as session:
            transfer = transfers.get(session, _transfer_id(view))
            transfers.check_acceptance(session, transfer, choice, user)
    except CasehubError as error:
        return error
    return None


def check_accept(ack: Ack, body: dict[str, Any], view: dict[str, Any], context: BoltContext) -> None:
    answer_form(ack, view, _accept_problem(deps(context), view, body["user"]["id"]), field="note")


def record_accept(
    body: dict[str, Any], view: dict[str, Any], client: WebClient, context: BoltContext
) -> None:
    d, user, ref = deps(context), body["user"]["id"], request_ref(body)
    transfer_id = _transfer_id(view)
    before = after = None
    if not _recorded(d, ref):  # a repeat (or a retried job) only finishes what the first began
        if _accept_problem(d, view, user) is not None:
            return  # shown on the form
        with d.db.session() as session:
            if deliveries.claim(session, ref):
                result = transfers.accept(
                    session,
                    transfer_id=transfer_id,
                    choice=_acceptance(view),
                    actor=user,
                    request_ref=ref,
                    rules=reminder_rules(d.settings, session),
                    basis=d.settings.sharing_basis(Disclosure.TRANSFER),
                )
                transfer_flow.owe_accepted(session, result)
                before, after = result.before, result.after
    transfer_flow.apply_acceptance(
        d.db,
        client,
        d.settings,
        transfer_id=transfer_id,
        before=before,
        after=after,
        bot_user_id=context.bot_user_id or "",
    )


def _recorded(d: Deps, ref: str) -> bool:
    """Whether this very submission was recorded already."""
    with d.db.reader() as session:
        return session.get(Delivery, ref) is not None


def _rejection(view: dict[str, Any]) -> tuple[str, frozenset[str]]:
    form = modals.values(view)
    return inputs.text(form.get("reason"), field="reason"), findings.ticked_in(form)


def _reject_problem(d: Deps, view: dict[str, Any], user: str) -> CasehubError | None:
    try:
        reason, confirmed = _rejection(view)
        with d.db.reader() as session:
            transfer = transfers.get(session, _transfer_id(view))
            transfers.check_rejection(session, transfer, reason, user, confirmed)
    except CasehubError as error:
        return error
    return None


def check_reject(ack: Ack, body: dict[str, Any], view: dict[str, Any], context: BoltContext) -> None:
    answer_form(ack, view, _reject_problem(deps(context), view, body["user"]["id"]), field="reason")


def record_reject(
    body: dict[str, Any], view: dict[str, Any], client: WebClient, context: BoltContext
) -> None:
    d, user, ref = deps(context), body["user"]["id"], request_ref(body)
    transfer_id = _transfer_id(view)
    if not _recorded(d, ref):  # a repeat (or a retried job) only finishes what the first began
        if _reject_problem(d, view, user) is not None:
            return  # shown on the form
        reason, confirmed = _rejection(view)
        with d.db.session() as session:
            if deliveries.claim(session, ref):
                transfer = transfers.reject(
                    session,
                    transfer_id=transfer_id,
                    reason=reason,
                    actor=user,
                    request_ref=ref,
                    confirmed=confirmed,
                )
                transfer_flow.owe_rejected(session, transfer)
    transfer_flow.send(d.db, client, transfer_id, "rejected")
    transfer_flow.close_cards(d.db, client, d.settings, transfer_id)
