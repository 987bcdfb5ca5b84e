"""Submissions of the update form: a new update, or the correction of one."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient

from blocks import findings, modals
from blocks import updates as update_blocks
from flows import notify, update_posting
from handlers import payload
from handlers.common import answer_form, deps, reported, request_ref
from models import Disclosure, Risk, UpdateKind
from services import agencies, cases, deliveries, inputs, outbox, updates
from services.errors import CasehubError


def register(app: App) -> None:
    app.view(update_blocks.UPDATE_FORM)(ack=reported(check_update), lazy=[reported(record_update)])


def draft_from(view: dict[str, Any]) -> updates.UpdateDraft:
    """The form's values, typed; one the form never offered is refused on its field."""
    form = modals.values(view)
    agency, risk = form.get("agency"), form.get("risk")
    return updates.UpdateDraft(
        agency_slug=None if agency is None else agencies.chosen_slug(agency, field="agency"),
        contact_date=inputs.parse_date(
            form.get("contact_date"), field="contact_date", what="date of contact"
        ),
        kind=inputs.parse_choice(
            UpdateKind, form.get("kind") or UpdateKind.OTHER, field="kind", what="a kind of update"
        ),
        observed=inputs.text(form.get("observed"), field="observed"),
        risk=None
        if risk in (None, update_blocks.NO_CHANGE)
        else inputs.parse_choice(Risk, risk, field="risk", what="a risk level"),
        protective_factors=inputs.text(form.get("protective_factors"), field="protective_factors") or None,
        concerns=inputs.text(form.get("concerns"), field="concerns") or None,
        asks=inputs.text(form.get("asks"), field="asks") or None,
        restricted=inputs.ticked(form.get("restricted"), field="restricted"),
        confirmed=findings.confirmed(view),
    )


def _problem(session: Any, view: dict[str, Any], user: str, window: int, ref: str) -> CasehubError | None:
    try:
        meta = payload.metadata(view)
        reference, update_id = payload.reference(meta), payload.optional_identifier(meta, "update")
        draft = draft_from(view)
        case = cases.get_by_reference(session, reference)
        cases.require_open(case)
        updates.check_draft(draft)
        if update_id is not None and meta.get("rectify"):
            update = updates.in_case(session, case, update_id)
            updates.require_may_rectify(session, case, update, user)
            updates.require_none_pending(session, update, unless_via=ref)  # a repeat is not a second
            reason = inputs.text(modals.values(view).get("correction_reason"), field="correction_reason")
            updates.check_reason(reason, draft.confirmed)
        elif update_id is not None:
            update = updates.in_case(session, case, update_id)
            updates.require_may_correct(session, case, update, user, window)
        else:
            updates.choose_agency(session, case, user, draft.agency_slug)
    except CasehubError as error:
        return error
    return None


def check_update(ack: Ack, body: dict[str, Any], view: dict[str, Any], context: BoltContext) -> None:
    d = deps(context)
    with d.db.reader() as session:
        problem = _problem(
            session, view, body["user"]["id"], d.settings.update_edit_minutes, request_ref(body)
        )
    # Not about one field (a closed case, a lapsed edit window): said at the top of the form.
    answer_form(ack, view, problem, field="observed")


def record_update(
    body: dict[str, Any], view: dict[str, Any], client: WebClient, context: BoltContext
) -> None:
    d, user, ref = deps(context), body["user"]["id"], request_ref(body)
    with d.db.reader() as session:
        if _problem(session, view, user, d.settings.update_edit_minutes, ref) is not None:
            return  # the form was sent back with the reason
    meta = payload.metadata(view)
    update_id = payload.optional_identifier(meta, "update")
    draft = draft_from(view)
    if update_id is not None and meta.get("rectify"):
        ask_for_correction(d, client, user, ref, meta, update_id, draft, modals.values(view))
        return
    with d.db.session() as session:
        case = cases.get_by_reference(session, payload.reference(meta))
        if update_id is not None:
            update = updates.in_case(session, case, update_id)
            if deliveries.claim(session, ref):  # a repeat only finishes the refresh below
                updates.correct(
                    session,
                    update=update,
                    case=case,
                    draft=draft,
                    editor=user,
                    window_minutes=d.settings.update_edit_minutes,
                    request_ref=ref,
                    basis=d.settings.sharing_basis(Disclosure.CORRECTION),
                )
            update_id, corrected = update.id, True
        else:
            update, _ = updates.file(
                session,
                case=case,
                draft=draft,
                filer=user,
                filed_via=ref,
                request_ref=ref,
                basis=d.settings.sharing_basis(Disclosure.UPDATE),
            )
            update_id, corrected = update.id, False
    if not corrected:  # once however often this runs: a repeat finishes the first attempt's post
        update_posting.post(d.db, client, update_id=update_id, filer=user)
    else:
        update_posting.refresh(d.db, client, update_id=update_id)


def ask_for_correction(
    d: Any,
    client: WebClient,
    user: str,
    ref: str,
    meta: dict[str, Any],
    update_id: int,
    draft: updates.UpdateDraft,
    form: dict[str, Any],
) -> None:
    """Past the edit window: the correction waits for the lead, who is sent it to decide."""
    with d.db.session() as session:
        case = cases.get_by_reference(session, payload.reference(meta))
        update = updates.in_case(session, case, update_id)
        correction = updates.propose_correction(
            session,
            update=update,
            case=case,
            draft=draft,
            proposer=user,
            reason=inputs.text(form.get("correction_reason"), field="correction_reason"),
            proposed_via=ref,
            request_ref=ref,
        )
        text, blocks = update_blocks.correction_request(update, case, correction)
        keys = [f"correction:{correction.id}:lead"]
        outbox.owe(session, keys[0], text=text, blocks=blocks, recipient=case.lead_user_id)
        if correction.proposed_by == user and case.lead_user_id != user:
            keys.append(f"correction:{correction.id}:asked")
            outbox.owe(
                session,
                keys[1],
                text=f"Your correction of an update on case {case.reference} is with the lead "
                f"(<@{case.lead_user_id}>) to approve; the update stays as it is until then.",
                recipient=user,
            )
    notify.send_owed(d.db, client, keys)
