"""`/crisis`: alert every agency's on-call partner; acknowledgements; resolution."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, BoltContext, Respond
from slack_sdk import WebClient

from blocks import crisis as crisis_blocks
from blocks import findings, messages, modals
from blocks.kit import escape
from flows import case_channel, crisis
from flows.rules import crisis_rules
from handlers import payload
from handlers.commands import Call, Subcommand, dispatch
from handlers.common import answer_form, deferred, deps, record_shown, reported, request_ref, typed_text
from models import utcnow
from services import cases, crises, deliveries, inputs, outbox, updates
from services.errors import CasehubError

HELP = messages.usage(
    "/crisis — partners must meet now",
    [
        "/crisis <what is happening> — pages the on-call person of every agency on the case and the lead",
        "/crisis status — the open crisis, if any",
        "/crisis resolve <outcome> — end it and bring the next review forward (lead, or who raised it)",
    ],
    "/crisis Threats made online tonight; police informed",
    "anyone taking part in the case, in its channel. In immediate danger, call the police first: "
    "casehub is not an emergency service.",
)


def register(app: App) -> None:
    app.command("/crisis")(**deferred(handle_crisis, urgent=_pages))
    app.action("crisis_ack")(**deferred(acknowledge))
    app.action("crisis_from_update")(**deferred(open_raise_form, urgent=True))
    app.view(crisis_blocks.RAISE_FORM)(ack=reported(check_raise), lazy=[reported(raise_from_form)])


def _pages(body: dict[str, Any]) -> bool:
    """`/crisis <what is happening>` pages people: it goes before other work. A subcommand's
    word followed by more text is a summary too, but for `resolve`, which takes the outcome."""
    words = (body.get("text") or "").split(maxsplit=1)
    if not words or words[0].lower() == "resolve":
        return False
    return words[0].lower() not in SUBCOMMANDS or len(words) > 1


def handle_crisis(body: dict[str, Any], client: WebClient, respond: Respond, context: BoltContext) -> None:
    dispatch(SUBCOMMANDS, raise_and_page, body, client, respond, context)


def show_help(call: Call) -> None:
    if call.rest:  # "help needed at the school now" is a crisis, not a question
        raise_and_page(call)
        return
    call.say(f"{call.deps.settings.emergency_notice}\n\n{HELP}")


def status(call: Call) -> None:
    if call.rest:  # "status of the young person worsening…" likewise
        raise_and_page(call)
        return
    with call.deps.db.reader() as session:
        case = cases.for_channel(session, call.channel, "/crisis status")
        cases.require_participant(session, case, call.user)
        current = crises.open_crisis(session, case)
        text = crises.CrisisOpen(current).message if current else "No crisis is open on this case."
        case_id = case.id
    record_shown(call.deps.db, user=call.user, case_ids=[case_id], view="crisis", ref=call.ref)
    call.say(text)


def raise_and_page(call: Call) -> None:
    """`/crisis <what is happening>`: everything typed is the summary."""
    d = call.deps
    with d.db.reader() as session:
        case_id = cases.for_channel(session, call.channel, "/crisis").id
    raised = crisis.raise_and_page(
        d.db,
        call.client,
        d.settings,
        case_id=case_id,
        summary=typed_text(call.text),
        user=call.user,
        raised_via=call.ref,
        request_ref=call.ref,
        now=utcnow(),
    )
    if raised.created:
        call.say(f"{d.settings.emergency_notice}\nPartners are being paged; the status is in the channel.")


def resolve(call: Call) -> None:
    d, outcome, ref, said = call.deps, typed_text(call.rest), call.ref, f"said:{call.ref}"
    with d.db.session() as session:
        case = cases.for_channel(session, call.channel, "/crisis resolve")
        if deliveries.claim(session, ref):  # a repeated request finishes what the first began
            _, early = crises.resolve(
                session,
                case=case,
                outcome=outcome,
                actor=call.user,
                now=utcnow(),
                rules=crisis_rules(d.settings, session),
                request_ref=ref,
            )
            review = f" An early review is set for {early:%A %d %B, %H:%M} UTC." if early else ""
            outbox.owe(
                session,
                said,
                text=f":white_check_mark: The crisis on case {case.reference} is resolved: "
                f"{escape(outcome)}.{review}",
                recipient=call.user,
                channel=call.channel,
            )
        last = crises.latest(session, case)
        crisis_id, case_id = (last.id if last else None), case.id
    if crisis_id is not None:
        crisis.refresh_banner(d.db, call.client, d.settings, crisis_id)
    case_channel.show_change(d.db, call.client, case_id, [said])


SUBCOMMANDS: dict[str, Subcommand] = {"": show_help, "help": show_help, "status": status, "resolve": resolve}


def acknowledge(
    body: dict[str, Any], action: dict[str, Any], client: WebClient, context: BoltContext
) -> None:
    d = deps(context)
    crisis.acknowledge(
        d.db,
        client,
        d.settings,
        page_id=payload.button_id(action),
        user=body["user"]["id"],
        now=utcnow(),
        request_ref=request_ref(body),
    )


def open_raise_form(
    body: dict[str, Any], action: dict[str, Any], client: WebClient, context: BoltContext
) -> None:
    """The button offered after a critical risk: the same flow as `/crisis`, confirmed in a form."""
    d, user = deps(context), body["user"]["id"]
    with d.db.reader() as session:
        update = updates.get(session, payload.button_id(action))
        case = update.case
        crises.check_may_raise(session, case, user)
        summary = f"{update.agency.name} assessed the risk as critical ({update.created_at:%Y-%m-%d %H:%M})."
        view = crisis_blocks.raise_form(case, summary)
    client.views_open(trigger_id=body["trigger_id"], view=view)


def _form(view: dict[str, Any]) -> tuple[str, str]:
    """The case the raise form is about (its metadata is the reference alone) and the summary."""
    reference = view.get("private_metadata")
    if not isinstance(reference, str) or not 1 <= len(reference) <= 20:
        raise payload.unreadable()
    return reference, inputs.text(modals.values(view).get("summary"), field="summary")


def _problem(d: Any, view: dict[str, Any], user: str) -> CasehubError | None:
    try:
        reference, summary = _form(view)
        crises.check_summary(summary, findings.confirmed(view))
        with d.db.reader() as session:
            crises.check_may_raise(session, cases.get_by_reference(session, reference), user)
    except CasehubError as error:
        return error
    return None


def check_raise(ack: Ack, body: dict[str, Any], view: dict[str, Any], context: BoltContext) -> None:
    answer_form(ack, view, _problem(deps(context), view, body["user"]["id"]), field="summary")


def raise_from_form(
    body: dict[str, Any], view: dict[str, Any], client: WebClient, context: BoltContext
) -> None:
    d, user, ref = deps(context), body["user"]["id"], request_ref(body)
    if _problem(d, view, user) is not None:
        return
    reference, summary = _form(view)
    with d.db.reader() as session:
        case_id = cases.get_by_reference(session, reference).id
    crisis.raise_and_page(
        d.db,
        client,
        d.settings,
        case_id=case_id,
        summary=summary,
        user=user,
        raised_via=ref,
        request_ref=ref,
        now=utcnow(),
        confirmed=findings.confirmed(view),
    )
