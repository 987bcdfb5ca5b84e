"""The hub's buttons on a referral (in its channel card and on the Home tab): Acknowledge, View,
Decide; and the decide form's submission. Only the area's coordinators may use them, checked
at every click and submission."""

from __future__ import annotations

import logging
import re
from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from blocks import findings, modals
from blocks import referrals as referral_blocks
from flows import case_channel, home
from flows import referrals as referral_flow
from flows.rules import reminder_rules
from handlers import payload
from handlers.common import answer_form, deferred, deps, reported, request_ref
from models import Agency, Area, Case, Disclosure, Risk, SetupState
from models.referral import ReferralState
from services import agencies, areas, deliveries, inputs, referral_matching, referrals, reviews
from services.errors import CasehubError, InvalidInput

log = logging.getLogger(__name__)


def _buttons(name: str) -> re.Pattern[str]:
    # On the Home tab each referral's buttons carry its reference: `referral_ack:<ref>`.
    return re.compile(rf"^{name}(:[0-9A-Z]+)?$")


def register(app: App) -> None:
    app.action(_buttons(referral_blocks.ACKNOWLEDGE_ACTION))(**deferred(acknowledge))
    app.action(_buttons(referral_blocks.VIEW_ACTION))(**deferred(view_referral, urgent=True))
    app.action(_buttons(referral_blocks.DECIDE_ACTION))(**deferred(open_decide_form, urgent=True))
    app.view(referral_blocks.DECIDE)(ack=reported(check_decision), lazy=[reported(record_decision)])


def _from_home(body: dict[str, Any]) -> bool:
    return (body.get("view") or {}).get("type") == "home"


def _after(
    body: dict[str, Any], client: WebClient, context: BoltContext, referral_id: int, said: str
) -> None:
    """The card shows the change; a click on the Home tab refreshes it; a click on the card is
    answered to the person alone."""
    d, user = deps(context), body["user"]["id"]
    referral_flow.refresh_card(d.db, client, referral_id)
    if _from_home(body):
        home.publish(d.db, client, d.settings, user, ref=request_ref(body))
    elif context.respond is not None and body.get("response_url"):
        context.respond(text=said, response_type="ephemeral", replace_original=False)


def acknowledge(
    body: dict[str, Any], action: dict[str, Any], client: WebClient, context: BoltContext
) -> None:
    d, user, ref = deps(context), body["user"]["id"], request_ref(body)
    with d.db.session() as session:
        referral = referrals.get_by_reference(session, action.get("value") or "")
        done = deliveries.claim(session, ref) and referrals.acknowledge(
            session, referral, user=user, request_ref=ref, rules=reminder_rules(d.settings, session)
        )
        referral_id, label = referral.id, referral.label
        by = referral.acknowledged_by
    said = f"You acknowledged referral {label}." if done else f"Referral {label} was acknowledged by <@{by}>."
    _after(body, client, context, referral_id, said)


def view_referral(
    body: dict[str, Any], action: dict[str, Any], client: WebClient, context: BoltContext
) -> None:
    """The content, for the area's coordinators only; each reading recorded in the audit trail."""
    d, user, ref = deps(context), body["user"]["id"], request_ref(body)
    with d.db.session() as session:
        referral = referrals.get_by_reference(session, action.get("value") or "")
        referrals.require_coordinator(session, referral, user, "read")
        referrals.record_viewed(session, referral, user=user, request_ref=ref)
        recorded = referral_matching.person_of(session, referral) is not None
        matches = referral_matching.possible_matches(session, referral) if recorded else None
        view = referral_blocks.detail(
            referral,
            session.get_one(Agency, referral.agency_id),
            session.get_one(Area, referral.area_id),
            desk=referral_blocks.desk_line(matches, referral_blocks.desk_link(d.settings.desk_url, referral)),
        )
    client.views_open(trigger_id=body["trigger_id"], view=view)


def open_decide_form(
    body: dict[str, Any], action: dict[str, Any], client: WebClient, context: BoltContext
) -> None:
    d, user = deps(context), body["user"]["id"]
    with d.db.reader() as session:
        referral = referrals.get_by_reference(session, action.get("value") or "")
        referrals.require_coordinator(session, referral, user, "decide")
        if not referral.state.is_open:
            raise referrals.decided_already(referral)
        view = referral_blocks.decide_form(
            referral, areas.agencies_in(session, referral.area_id), decider=user
        )
    client.views_open(trigger_id=body["trigger_id"], view=view)


def _decision(view: dict[str, Any]) -> referrals.Decision:
    form = modals.values(view)
    risk = form.get("risk")
    return referrals.Decision(
        outcome=inputs.parse_choice(ReferralState, form.get("outcome"), field="outcome", what="a decision"),
        reason=inputs.text(form.get("reason"), field="reason"),
        signposted_to=inputs.text(form.get("signposted_to"), field="signposted_to") or None,
        lead=inputs.parse_person(form["lead"], field="lead", what="a lead coordinator")
        if form.get("lead")
        else None,
        agency_slugs=tuple(
            agencies.chosen_slug(slug, field="agencies")
            for slug in inputs.strings(form.get("agencies"), field="agencies", what="the agencies")
        ),
        risk=inputs.parse_choice(Risk, risk, field="risk", what="a risk level") if risk is not None else None,
        confirmed=findings.ticked_in(form),
    )


def check_decision(ack: Ack, view: dict[str, Any], context: BoltContext) -> None:
    try:
        referrals.check_decision(_decision(view))
    except CasehubError as error:
        answer_form(ack, view, error, field="reason")
        return
    ack()


def record_decision(
    body: dict[str, Any], view: dict[str, Any], client: WebClient, context: BoltContext
) -> None:
    try:
        decision = _decision(view)
        referrals.check_decision(decision)
    except CasehubError:
        return  # shown on the form already
    d, user, ref = deps(context), body["user"]["id"], request_ref(body)
    reference = payload.reference(payload.metadata(view), "reference")
    try:
        with d.db.session() as session:
            referral = referrals.get_by_reference(session, reference)
            if deliveries.claim(session, ref):  # a repeated delivery decides nothing again
                area = session.get_one(Area, referral.area_id)
                case = referrals.decide(
                    session,
                    referral,
                    decision=decision,
                    decider=user,
                    request_ref=ref,
                    basis=d.settings.sharing_basis(Disclosure.REFERRAL),
                    review_weeks=areas.calendar(area, d.settings).review_every_weeks,
                )
                if case is not None:
                    reviews.schedule_first(case, reminder_rules(d.settings, session))
                referral_flow.owe_outcome(session, referral)
            referral_id = referral.id
            case = session.get(Case, referral.case_id) if referral.case_id is not None else None
            unfinished = case is not None and case.setup_state is SetupState.PENDING
            case_id = case.id if case is not None else None
    except InvalidInput as error:
        # What only the database shows wrong (a lead who is not a coordinator of the area, an
        # agency that left it): the form again, with what was chosen and what to change.
        try:
            client.views_open(trigger_id=body["trigger_id"], view=modals.form_again(view, error.message))
        except SlackApiError as failed:
            log.info("form not reopened: %s", failed.response.get("error"))
            raise error from None
        return
    referral_flow.send(d.db, client, referral_id)
    referral_flow.refresh_card(d.db, client, referral_id)
    if case_id is not None and unfinished:
        case_channel.set_up_and_report(
            d.db,
            client,
            case_id=case_id,
            prefix=d.settings.case_channel_prefix,
            user=user,
            request_ref=ref,
            bot_user_id=context.bot_user_id or "",
        )
