"""`/refer`: any agency member raises a concern with their area's hub, through a form."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App, BoltContext, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from blocks import findings, messages, modals
from blocks import referrals as referral_blocks
from flows import referrals as referral_flow
from handlers.commands import Call, Subcommand, dispatch
from handlers.common import answer_form, deferred, deps, reported, request_ref
from models import Risk
from models.referral import Awareness, ReferralConsent, Urgency
from services import areas, inputs, referrals
from services.errors import CasehubError

log = logging.getLogger(__name__)

HELP = messages.usage(
    "/refer — raise a concern with your area's safeguarding hub",
    [
        "/refer — a form: the concern, why now, risk, what has been done, awareness, consent, urgency",
        "/refer help — this help",
    ],
    "/refer",
    "any member of an agency taking part in an area. No names or identifiers: the hub gives the "
    "referral a reference (R-XXXXXX). In immediate danger, call the police first (999 / 112 / 17); "
    "for a case already open, use `/crisis` in its channel.",
)


def register(app: App) -> None:
    app.command("/refer")(**deferred(handle_refer, urgent=lambda body: not (body.get("text") or "").strip()))
    app.view(referral_blocks.REFER)(ack=reported(check_referral), lazy=[reported(record_referral)])


def handle_refer(body: dict[str, Any], client: WebClient, respond: Respond, context: BoltContext) -> None:
    dispatch(SUBCOMMANDS, show_help, body, client, respond, context)


def show_help(call: Call) -> None:
    call.say(HELP)


def open_form(call: Call) -> None:
    """Refused before any form for someone in no agency, or whose agencies are in no area."""
    with call.deps.db.reader() as session:
        mine = referrals.referring_agencies(session, call.user)
        view = referral_blocks.refer_form(mine, referrals.referral_areas(session, mine))
    call.client.views_open(trigger_id=call.body["trigger_id"], view=view)


SUBCOMMANDS: dict[str, Subcommand] = {"": open_form, "help": show_help}


def _draft(view: dict[str, Any]) -> referrals.ReferralDraft:
    """The form's values, typed; one the form never offered is refused on its field."""
    form = modals.values(view)
    return referrals.ReferralDraft(
        concern=inputs.text(form.get("concern"), field="concern"),
        why_now=inputs.text(form.get("why_now"), field="why_now"),
        done_so_far=inputs.text(form.get("done_so_far"), field="done_so_far") or None,
        risk=inputs.parse_choice(Risk, form.get("risk"), field="risk", what="a risk level"),
        awareness=inputs.parse_choice(Awareness, form.get("awareness"), field="awareness", what="an answer"),
        consent=inputs.parse_choice(ReferralConsent, form.get("consent"), field="consent", what="an answer"),
        urgency=inputs.parse_choice(Urgency, form.get("urgency"), field="urgency", what="an urgency"),
        area_slug=areas.chosen_slug(form["area"], field="area") if form.get("area") is not None else None,
        agency_slug=areas.chosen_slug(form["agency"], field="agency")
        if form.get("agency") is not None
        else None,
        confirmed=findings.ticked_in(form),
    )


def check_referral(ack: Ack, view: dict[str, Any], context: BoltContext) -> None:
    """At once, without the database: what the form shows wrong goes on its field, names
    found in the texts come back with boxes to confirm them."""
    try:
        referrals.check_draft(_draft(view))
    except CasehubError as error:
        answer_form(ack, view, error, field="concern")
        return
    ack()


def record_referral(
    body: dict[str, Any], view: dict[str, Any], client: WebClient, context: BoltContext
) -> None:
    d, user, ref = deps(context), body["user"]["id"], request_ref(body)
    try:
        draft = _draft(view)
        referrals.check_draft(draft)
    except CasehubError:
        return  # shown on the form already
    try:
        with d.db.session() as session:
            referral, created = referrals.submit(
                session, draft=draft, referrer=user, submitted_via=ref, request_ref=ref, settings=d.settings
            )
            if created:
                referral_flow.owe_on_receipt(session, referral, desk_url=d.settings.desk_url)
            referral_id = referral.id
    except CasehubError as error:
        # The form again, with everything typed and what to change; failing that, a message.
        try:
            client.views_open(trigger_id=body["trigger_id"], view=modals.form_again(view, error.message))
        except SlackApiError as failed:
            log.info("form not reopened: %s", failed.response.get("error"))
            raise error from None
        return
    referral_flow.send(d.db, client, referral_id)
