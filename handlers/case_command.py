"""`/case`: open, inspect, move and close cases."""

from __future__ import annotations

from typing import Any

from slack_bolt import App, BoltContext, Respond
from slack_sdk import WebClient

from blocks import messages, modals
from blocks import updates as update_blocks
from blocks.kit import escape
from flows import case_channel, exporting
from flows import retention as retention_flow
from handlers import case_modals, transfers
from handlers.commands import Call, Subcommand, dispatch
from handlers.common import date_arg, deferred, first_word, record_shown
from models import Case, Disclosure, clock, utcnow
from services import access, agencies, areas, cases, deliveries, export, export_record, holds, outbox, updates
from services.errors import InvalidInput, NotAllowed
from services.timeline import history, page

HELP = messages.usage(
    "/case — cases and their channels",
    [
        "/case open — open a case (a form; coordinators)",
        "/case status — the case card (in a case channel)",
        "/case list — the cases you lead",
        "/case stage <stage> — move the case on (lead coordinator)",
        "/case consent given|withdrawn|not-required [YYYY-MM-DD] — record consent (lead)",
        "/case agencies add|remove <slug> — change who takes part (lead)",
        "/case timeline [agency] [since YYYY-MM-DD] — the case history in order (participants)",
        "/case sharing — who shared what with whom, when and why (lead)",
        "/case access [REF] — who has been shown the case, what and when (lead; a data protection "
        "officer for any case)",
        "/case hold|release REF <reason> — keep a case from deletion, or end that (data protection officers)",
        "/case export [REF] subject|agency|court — the case as a PDF chronology and a JSON file, redacted "
        "for whom it is for, by direct message (lead)",
        "/case transfer <area> <reason> — offer the case to another area; `cancel` withdraws the offer, "
        "alone it shows where the offer stands (lead)",
        "/case close — record the outcome and archive the channel (lead)",
        "/case retry <REF> — finish setting up a case whose channel failed (lead)",
        "/case help — this help",
    ],
    "/case stage assessment",
    "coordinators open cases; the lead coordinator changes them; participants see the card.",
)


def register(app: App) -> None:
    app.command("/case")(**deferred(handle_case, urgent=lambda body: first_word(body) in FORMS))


def handle_case(body: dict[str, Any], client: WebClient, respond: Respond, context: BoltContext) -> None:
    dispatch(SUBCOMMANDS, show_help, body, client, respond, context)


def show_help(call: Call) -> None:
    call.say(HELP)


def open_form(call: Call) -> None:
    view = case_modals.case_form(call.deps, call.user, call.channel)
    call.client.views_open(trigger_id=call.body["trigger_id"], view=view)


def status(call: Call) -> None:
    with call.deps.db.reader() as session:
        case = cases.for_channel(session, call.channel, "/case status")
        cases.require_participant(session, case, call.user)
        picture = update_blocks.picture_section(updates.picture(session, case))
        blocks = messages.case_card(case, case.agencies, extra=picture)
        text, case_id = messages.case_header_text(case), case.id
    record_shown(call.deps.db, user=call.user, case_ids=[case_id], view="status", ref=call.ref)
    call.say(text, blocks)


def show_timeline(call: Call) -> None:
    agency, since, args = None, None, list(call.args)
    if len(args) >= 2 and args[-2].lower() == "since":
        since = date_arg(args[-1])
        args = args[:-2]
    if len(args) > 1:
        raise InvalidInput(
            "Give at most an agency and a date.", hint="For example `/case timeline police since 2026-11-01`."
        )
    with call.deps.db.reader() as session:
        case = cases.for_channel(session, call.channel, "/case timeline")
        if args:
            agency = agencies.get(session, args[0]).slug
        entries = history(session, case, call.user, agency_slug=agency, since=since)
        shown, pages = page(entries, 1)
        query = {"case": case.reference, "agency": agency, "since": since.isoformat() if since else None}
        blocks = update_blocks.timeline(case, shown, 1, pages, query)
        reference, case_id = case.reference, case.id
    record_shown(call.deps.db, user=call.user, case_ids=[case_id], view="timeline", ref=call.ref)
    call.say(f"Case {reference}: timeline", blocks)


def show_sharing(call: Call) -> None:
    with call.deps.db.reader() as session:
        case = cases.for_channel(session, call.channel, "/case sharing")
        cases.require_lead(case, call.user, "see the sharing log")
        by_id = {a.id: a for a in agencies.all_agencies(session)}
        shown, pages = page(updates.sharing_log(session, case), 1)
        blocks = update_blocks.sharing(case, shown, by_id, 1, pages, bases=call.deps.settings.sharing_bases)
        reference, case_id = case.reference, case.id
    record_shown(call.deps.db, user=call.user, case_ids=[case_id], view="sharing", ref=call.ref)
    call.say(f"Case {reference}: sharing log", blocks)


def show_access(call: Call) -> None:
    """`/case access` in a case channel (the lead), `/case access REF` anywhere (a DPO, or the lead)."""
    officers = call.deps.settings.casehub_dpos
    with call.deps.db.reader() as session:
        if call.args:
            if call.user not in officers and not areas.is_coordinator(session, call.user):
                # Refused before the reference is looked up: nobody learns which exist.
                raise NotAllowed(
                    "Only the lead coordinator of the case, or a data protection officer, may see who has "
                    "read it."
                )
            case = cases.get_by_reference(session, call.args[0])
        else:
            case = cases.for_channel(session, call.channel, "/case access")
        access.require_may_read(case, call.user, officers)
        reference, case_id = case.reference, case.id
    record_shown(call.deps.db, user=call.user, case_ids=[case_id], view="access", ref=call.ref)
    with call.deps.db.reader() as session:
        seen = access.of_case(session, session.get_one(Case, case_id))
        blocks = messages.access_log(reference, seen)
    call.say(f"Case {reference}: who has read it", blocks)


def place_hold(call: Call) -> None:
    """`/case hold REF <reason>`: a data protection officer keeps the case from deletion."""
    _change_hold(call, holds.place, "held")


def release_hold(call: Call) -> None:
    """`/case release REF <reason>`: the hold ends; retention applies again."""
    _change_hold(call, holds.release, "released")


def _change_hold(call: Call, change: Any, done: str) -> None:
    holds.require_officer(call.user, call.deps.settings.casehub_dpos)
    reference, _, reason = call.rest.partition(" ")
    if not reference:
        raise InvalidInput(
            f"Name the case and give the reason: `/case {call.name} REF <reason>`.",
            hint="For example `/case hold K7Q2M9 inquiry by the county council, ref IR-22`.",
        )
    with call.deps.db.session() as session:
        case = cases.get_by_reference(session, reference)
        repeat = not deliveries.claim(session, call.ref)
        if not repeat:
            change(session, case, officer=call.user, reason=reason, request_ref=call.ref)
        shown = case.reference
        due = retention_flow.schedule_of(call.deps.settings).kept_until(case)
    if done == "held":
        call.say(
            f":lock: Case {shown} is held: nothing of it is deleted until a data protection officer "
            "releases it."
        )
    elif due is not None and due <= utcnow():
        call.say(
            f"Case {shown} is released from its hold. Its record was due for deletion on "
            f"{due:%Y-%m-%d}: it will be deleted in the next nightly pass, unless it is held again."
        )
    else:
        when = f" (its record is kept until {due:%Y-%m-%d})" if due is not None else ""
        call.say(f"Case {shown} is released from its hold: its retention applies again{when}.")


EXPORT_USAGE = (
    "Say who the export is for: `/case export subject`, `agency` or `court` in the case's channel, or "
    "`/case export REF court` anywhere."
)
EXPORT_HINT = (
    "`subject`: for the person's subject access request (third parties and restricted updates "
    "removed); `agency`: what the agencies were shared; `court`: the full record. Only the case's "
    "lead coordinator may export it; it arrives by direct message."
)


def export_case(call: Call) -> None:
    """`/case export [REF] subject|agency|court`: the case's export, to its lead by direct message.

    Refused before anything is looked up to anyone who leads no case; built and sent in this
    request's job (never within Slack's 3 seconds), and sent once however often it is delivered.
    """
    if not call.args or len(call.args) > 2:
        raise InvalidInput(EXPORT_USAGE, hint=EXPORT_HINT)
    reference = call.args[0] if len(call.args) == 2 else None
    with call.deps.db.reader() as session:
        if not areas.is_coordinator(session, call.user):
            raise NotAllowed(export_record.ONLY_THE_LEAD, hint="Ask the case's lead coordinator for it.")
        purpose = export.parse_purpose(call.args[-1])
        case = export_record.case_to_export(session, call.user, reference=reference, channel=call.channel)
        asked = exporting.Asked(call.user, case.id, case.reference, purpose, call.ref)
    call.say(exporting.deliver(call.deps.db, call.client, call.deps.settings, asked))


def list_cases(call: Call) -> None:
    with call.deps.db.reader() as session:
        led = cases.led_by(session, call.user)
    record_shown(call.deps.db, user=call.user, case_ids=[c.id for c in led], view="cases", ref=call.ref)
    call.say(f"You lead {len(led)} open case(s).", messages.case_list(led))


def stage(call: Call) -> None:
    if len(call.args) != 1:
        raise InvalidInput("Say which stage.", hint="For example `/case stage assessment`.")
    target = cases.parse_stage(call.args[0])
    said = f"said:{call.ref}"
    with call.deps.db.session() as session:
        case = cases.for_channel(session, call.channel, "/case stage")
        if deliveries.claim(session, call.ref):  # a repeated request finishes what the first began
            previous = cases.move_stage(session, case=case, to=target, actor=call.user, request_ref=call.ref)
            notice = messages.stage_notice(case, previous)
            outbox.owe(session, said, text=notice, recipient=call.user, channel=call.channel)
        case_id = case.id
    case_channel.show_change(call.deps.db, call.client, case_id, [said])


def consent(call: Call) -> None:
    if not call.args or len(call.args) > 2:
        raise InvalidInput("Say what was decided.", hint="For example `/case consent given 2026-11-20`.")
    decision = cases.parse_consent(call.args[0])
    on = date_arg(call.args[1]) if len(call.args) == 2 else clock.today()
    said, told = f"said:{call.ref}", f"told:{call.ref}"
    with call.deps.db.session() as session:
        case = cases.for_channel(session, call.channel, "/case consent")
        first = deliveries.claim(session, call.ref)
        if first:
            moved_back = cases.record_consent(
                session, case=case, consent=decision, on=on, actor=call.user, request_ref=call.ref
            )
            if moved_back:
                reference = case.reference
                outbox.owe(
                    session,
                    said,
                    text=f"Consent was withdrawn: case {reference} is back at panel decision.",
                    recipient=call.user,
                    channel=call.channel,
                )
                outbox.owe(
                    session,
                    told,
                    text=f":warning: Consent for case {reference} was withdrawn, so the case has moved "
                    "back to *panel decision*. Support can resume only with consent on record.",
                    recipient=call.user,
                )
        reference, case_id = case.reference, case.id
    if first:
        call.say(f"Consent for case {reference} recorded: {decision.value} on {on.isoformat()}.")
    case_channel.show_change(call.deps.db, call.client, case_id, [said, told])


def change_agencies(call: Call) -> None:
    if len(call.args) != 2 or call.args[0] not in ("add", "remove"):
        raise InvalidInput(
            "Say add or remove, and the agency.", hint="For example `/case agencies add housing`."
        )
    verb, slug = call.args
    db, said, bot = call.deps.db, f"said:{call.ref}", call.context.bot_user_id or ""
    verb_text = "joined" if verb == "add" else "left"
    with db.session() as session:
        case = cases.for_channel(session, call.channel, "/case agencies")
        agency = agencies.get(session, slug)
        first = deliveries.claim(session, call.ref)
        case_id, name, roster = case.id, escape(agency.name), agencies.member_ids(agency)
        if first:
            before = cases.entitled_users(session, case)
            earlier = 0
            if verb == "add":
                earlier = cases.add_agency(
                    session,
                    case=case,
                    agency=agency,
                    actor=call.user,
                    request_ref=call.ref,
                    basis=call.deps.settings.sharing_basis(Disclosure.EARLIER_UPDATE),
                )
            else:
                cases.remove_agency(session, case=case, agency=agency, actor=call.user, request_ref=call.ref)
            session.flush()
            session.expire(case, ["participations"])
            after = cases.entitled_users(session, case)
            outbox.owe(
                session,
                said,
                text=f"{name} has {verb_text} this case.",
                recipient=call.user,
                channel=call.channel,
            )
    if not first:  # a repeated request finishes what the first began: channel, header, notice
        case_channel.resync_members(db, call.client, case_id, roster, bot)
        case_channel.show_change(db, call.client, case_id, [said])
        return
    added, removed, failed = case_channel.sync_members(
        call.client, call.channel, before=before, after=after, bot_user_id=bot
    )
    case_channel.show_change(db, call.client, case_id, [said])
    note = messages.membership_notice(added, removed)
    if earlier:
        # Slack shows a private channel's history to whoever joins: the lead is told what that is.
        note = (note or f"{name} has joined the case.") + (
            f"\n{name} sees the channel's history: {earlier} earlier update(s), recorded in "
            "`/case sharing` as shared with it."
        )
    if failed:
        note = (note or "") + "\nCould not change: " + ", ".join(f"<@{u}>" for u in failed)
    call.say(note or f"{name} has {verb_text} the case.")


def close_form(call: Call) -> None:
    with call.deps.db.reader() as session:
        case = cases.for_channel(session, call.channel, "/case close")
        cases.require_open(case)
        cases.require_lead(case, call.user, "close the case")
        view = modals.close_case(case)
    call.client.views_open(trigger_id=call.body["trigger_id"], view=view)


def retry_setup(call: Call) -> None:
    if len(call.args) != 1:
        raise InvalidInput("Say which case.", hint="For example `/case retry K7Q2M9`.")
    case_channel.finish_setup(
        call.deps.db,
        call.client,
        reference=call.args[0],
        prefix=call.deps.settings.case_channel_prefix,
        user=call.user,
        request_ref=call.ref,
        bot_user_id=call.context.bot_user_id or "",
    )


# Subcommands that open a form with the command's trigger.
FORMS = {"open", "close"}

SUBCOMMANDS: dict[str, Subcommand] = {
    "help": show_help,
    "open": open_form,
    "status": status,
    "list": list_cases,
    "stage": stage,
    "consent": consent,
    "agencies": change_agencies,
    "close": close_form,
    "timeline": show_timeline,
    "sharing": show_sharing,
    "access": show_access,
    "hold": place_hold,
    "release": release_hold,
    "export": export_case,
    "retry": retry_setup,
    "transfer": transfers.case_transfer,
}
