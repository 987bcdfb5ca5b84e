"""Submissions of the `/case open` and `/case close` forms."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from blocks import findings, modals
from flows import case_channel, notify
from flows import lessons as lesson_flows
from flows.rules import reminder_rules
from handlers import payload
from handlers.common import Deps, answer_form, deps, reported, request_ref
from models import Risk, SetupState
from services import agencies, areas, cases, deliveries, inputs, reviews
from services.errors import CasehubError, InvalidInput

log = logging.getLogger(__name__)


def register(app: App) -> None:
    app.view(modals.OPEN_CASE)(ack=reported(check_open), lazy=[reported(record_open)])
    app.view(modals.CLOSE_CASE)(ack=reported(check_close), lazy=[reported(record_close)])
    app.options({"action_id": "value", "block_id": "agencies"})(reported(suggest_agencies))


def case_form(d: Deps, user: str, origin_channel: str) -> dict[str, Any]:
    """The `/case open` form for this person: the areas they coordinate and their agencies, the
    review cadence of their area (when they have one)."""
    with d.db.reader() as session:
        mine = cases.require_may_open(session, user)
        registry = sorted(
            {a.id: a for area in mine for a in areas.agencies_in(session, area.id)}.values(),
            key=lambda a: a.slug,
        )
        weeks = areas.calendar(mine[0], d.settings).review_every_weeks if len(mine) == 1 else None
    if not registry:
        raise InvalidInput(
            "No agency takes part in your area yet.", hint="An admin adds them with `/area agency add`."
        )
    return modals.open_case(
        registry,
        opener=user,
        origin_channel=origin_channel,
        review_weeks=weeks or d.settings.review_every_weeks,
        areas=mine,
    )


def _draft(view: dict[str, Any], user: str) -> cases.CaseDraft:
    """The form's values, typed; one the form never offered is refused on its field."""
    form = modals.values(view)
    weeks = form.get("review_weeks")
    return cases.CaseDraft(
        summary=inputs.text(form.get("summary"), field="summary"),
        risk=inputs.parse_choice(Risk, form.get("risk") or Risk.MODERATE, field="risk", what="a risk level"),
        lead_user_id=inputs.parse_person(form.get("lead") or user, field="lead", what="a lead coordinator"),
        agency_slugs=tuple(
            agencies.chosen_slug(slug, field="agencies")
            for slug in inputs.strings(form.get("agencies"), field="agencies", what="the agencies")
        ),
        agency_reference=inputs.text(form.get("agency_reference"), field="agency_reference") or None,
        review_every_weeks=4 if weeks is None else cases.parse_review_weeks(weeks, field="review_weeks"),
        confirmed=findings.ticked_in(form),
        area_slug=areas.chosen_slug(form["area"], field="area") if form.get("area") is not None else None,
    )


def check_open(ack: Ack, body: dict[str, Any], view: dict[str, Any], context: BoltContext) -> None:
    """Answer at once, without the database: what the form alone shows wrong goes on its field;
    what needs the database is checked after, and the form opens again if something is wrong."""
    try:
        cases.check_draft(_draft(view, body["user"]["id"]))
    except CasehubError as error:
        answer_form(ack, view, error, field="summary")
        return
    ack()


def record_open(body: dict[str, Any], view: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    d, user, ref = deps(context), body["user"]["id"], request_ref(body)
    try:
        draft = _draft(view, user)
        cases.check_draft(draft)
    except CasehubError:
        return  # shown on the form already
    try:
        with d.db.session() as session:
            case, created = cases.open_case(
                session, draft=draft, opener=user, opened_via=ref, request_ref=ref
            )
            if created:
                reviews.schedule_first(case, reminder_rules(d.settings, session))
            unfinished = case.setup_state is SetupState.PENDING
    except CasehubError as error:
        # The form again (its trigger is still fresh), with everything typed and what to change.
        # Failing that, the refusal reaches them as a direct message.
        try:
            client.views_open(trigger_id=body["trigger_id"], view=modals.form_again(view, error.message))
        except SlackApiError as failed:
            log.info("form not reopened: %s", failed.response.get("error"))
            raise error from None
        return
    if created or unfinished:  # a repeat resumes a setup its first attempt left part-way
        case_channel.set_up_and_report(
            d.db,
            client,
            case_id=case.id,
            prefix=d.settings.case_channel_prefix,
            user=user,
            request_ref=ref,
            bot_user_id=context.bot_user_id or "",
        )


def _closing(view: dict[str, Any]) -> tuple[str, str, bool, frozenset[str]]:
    """The close form's outcome, lessons, whether to schedule the follow-up reviews, and the
    findings of the identifier check the lead confirmed."""
    form = modals.values(view)
    outcome = inputs.text(form.get("outcome"), field="outcome")
    lessons = inputs.text(form.get("lessons"), field="lessons")
    confirmed = findings.ticked_in(form)
    cases.check_closing(outcome, lessons, confirmed)
    follow_ups = inputs.ticked(form.get("follow_ups"), modals.FOLLOW_UPS, field="follow_ups")
    return outcome, lessons, follow_ups, confirmed


def check_close(ack: Ack, view: dict[str, Any], context: BoltContext) -> None:
    try:
        _closing(view)
    except CasehubError as error:
        answer_form(ack, view, error, field="outcome")
        return
    ack()


def record_close(body: dict[str, Any], view: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    try:
        outcome, lessons, follow_ups, confirmed = _closing(view)
    except CasehubError:
        return  # sent back to the form by `check_close`
    d, user, ref = deps(context), body["user"]["id"], request_ref(body)
    reference = payload.reference(payload.metadata(view))
    with d.db.session() as session:
        case = cases.get_by_reference(session, reference)
        if not deliveries.claim(session, ref):
            return
        cases.close(
            session,
            case=case,
            outcome=outcome,
            lessons=lessons,
            actor=user,
            request_ref=ref,
            confirmed=confirmed,
        )
        if follow_ups:
            reviews.schedule_follow_ups(session, case)
        case_id = case.id
        prompt = (
            lesson_flows.owe_prompt(session, case=case, source="close", ident=case.id)
            if lessons.strip()
            else None
        )
    case_channel.archive_and_report(d.db, client, case_id=case_id, user=user)
    if prompt is not None:
        notify.send_owed(d.db, client, [prompt])


def suggest_agencies(ack: Ack, payload: dict[str, Any], context: BoltContext) -> None:
    typed = payload.get("value")
    query = typed.lower()[:100] if isinstance(typed, str) else ""
    user = payload.get("user", {}).get("id", "")
    with deps(context).db.reader() as session:
        mine = {
            a.id for area in areas.coordinated_by(session, user) for a in areas.agencies_in(session, area.id)
        }
        matches = [
            a
            for a in agencies.all_agencies(session)
            if a.id in mine and (query in a.slug or query in a.name.lower())
        ]
    ack(options=modals.agency_options(matches[:100]))
