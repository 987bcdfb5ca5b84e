"""Submissions of the `/case open` and `/case close` forms."""

from __future__ import annotations

import json
from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient

from blocks import modals
from flows import case_channel
from handlers.common import deps, reported, request_ref
from models import Risk
from services import agencies, cases, deliveries
from services.errors import CasehubError


def register(app: App) -> None:
    app.view(modals.OPEN_CASE)(reported(submit_open))
    app.view(modals.CLOSE_CASE)(reported(submit_close))
    app.options({"action_id": "value", "block_id": "agencies"})(reported(suggest_agencies))


def _inline(ack: Ack, error: CasehubError, default_field: str) -> None:
    ack(response_action="errors", errors={error.field or default_field: error.message})


def submit_open(
    ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient, context: BoltContext
) -> None:
    form = modals.values(view)
    user = body["user"]["id"]
    draft = cases.CaseDraft(
        summary=form.get("summary") or "",
        risk=Risk(form.get("risk") or Risk.MODERATE.value),
        lead_user_id=form.get("lead") or user,
        agency_slugs=tuple(form.get("agencies") or ()),
        agency_reference=form.get("agency_reference"),
    )
    d = deps(context)
    try:
        # Checked before the acknowledgement so that a mistake is shown on the form,
        # and nothing the coordinator typed is lost.
        with d.db.reader() as session:
            cases.check_open_allowed(session, draft=draft, opener=user)
    except CasehubError as error:
        _inline(ack, error, "summary")
        return
    ack()
    ref = request_ref(body)
    with d.db.session() as session:
        case, created = cases.open_case(session, draft=draft, opener=user, opened_via=ref, request_ref=ref)
    if created:
        case_channel.set_up_and_report(
            d.db,
            client,
            case_id=case.id,
            prefix=d.settings.case_channel_prefix,
            user=user,
            request_ref=ref,
            bot_user_id=context.bot_user_id or "",
        )


def submit_close(
    ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient, context: BoltContext
) -> None:
    form = modals.values(view)
    outcome, lessons = (form.get("outcome") or "").strip(), form.get("lessons") or ""
    if not outcome:
        ack(response_action="errors", errors={"outcome": "Say what the outcome was."})
        return
    ack()
    d = deps(context)
    user, ref = body["user"]["id"], request_ref(body)
    reference = json.loads(view["private_metadata"])["case"]
    with d.db.session() as session:
        case = cases.get_by_reference(session, reference)
        if not deliveries.claim(session, ref):
            return
        cases.close(session, case=case, outcome=outcome, lessons=lessons, actor=user, request_ref=ref)
        case_id = case.id
    case_channel.archive_and_report(d.db, client, case_id=case_id, user=user)


def suggest_agencies(ack: Ack, payload: dict[str, Any], context: BoltContext) -> None:
    query = (payload.get("value") or "").lower()
    with deps(context).db.reader() as session:
        matches = [a for a in agencies.all_agencies(session) if query in a.slug or query in a.name.lower()]
    ack(options=modals.agency_options(matches[:100]))
