"""`/agency`: the registry of agencies and the people in them."""

from __future__ import annotations

from typing import Any

from slack_bolt import App, BoltContext, Respond
from slack_sdk import WebClient

from blocks import messages
from blocks.kit import escape
from flows import case_channel
from flows import handover as flows_handover
from handlers.commands import Call, Subcommand, dispatch
from handlers.common import deferred, typed_text, user_arg
from models import AgencyKind, Disclosure, Role
from services import agencies, areas, cases, deliveries, handover
from services.errors import InvalidInput

HELP = messages.usage(
    "/agency — the agency registry",
    [
        '/agency add <slug> "<Display name>" [kind] — register an agency (admins)',
        "/agency list — the agencies and their people",
        "/agency member add <slug> @user [coordinator|member|observer] — give someone a role (admins)",
        "/agency member remove <slug> @user — take their role away (admins)",
        "/agency timezone <slug> <Area/City> — the zone of the agency's on-call times (admins)",
        "/agency handover @from @to [slug] — the successor takes over role, cases and actions "
        "(admins, the agency's coordinators)",
        "/agency help — this help",
    ],
    '/agency add met-police "Metropolitan Police" police',
    "anyone may list; casehub admins (CASEHUB_ADMINS) change the registry. Kinds: "
    + ", ".join(k.value for k in AgencyKind)
    + ".",
)


def register(app: App) -> None:
    app.command("/agency")(**deferred(handle_agency))


def handle_agency(body: dict[str, Any], client: WebClient, respond: Respond, context: BoltContext) -> None:
    dispatch(SUBCOMMANDS, show_help, body, client, respond, context)


def show_help(call: Call) -> None:
    call.say(HELP)


def show_list(call: Call) -> None:
    with call.deps.db.reader() as session:
        registry = agencies.all_agencies(session)
        roster = {a.id: list(a.memberships) for a in registry}
        blocks = messages.agency_list(registry, roster)
    call.say(f"{len(registry)} agencies.", blocks)


def set_timezone(call: Call) -> None:
    d, args, user, ref = call.deps, call.args, call.user, call.ref
    agencies.require_admin(user, d.settings.casehub_admins)
    if len(args) != 2:
        raise InvalidInput(
            "Give the agency and a time zone.", hint="For example `/agency timezone police Europe/Paris`."
        )
    with d.db.session() as session:
        agency = agencies.get(session, args[0])
        if not deliveries.claim(session, ref):
            text = "Already done."
        else:
            agencies.set_timezone(session, agency=agency, timezone=args[1], actor=user, request_ref=ref)
            text = f"{escape(agency.name)} keeps its on-call times in {agency.timezone}."
    call.say(text)


def add_agency(call: Call) -> None:
    d, args, user, ref = call.deps, call.args, call.user, call.ref
    agencies.require_admin(user, d.settings.casehub_admins)
    if len(args) not in (2, 3):
        raise InvalidInput(
            "Give a slug, a display name in quotes and optionally a kind.",
            hint='For example `/agency add met-police "Metropolitan Police" police`.',
        )
    slug = agencies.check_slug(args[0])
    kind = agencies.parse_kind(args[2]) if len(args) == 3 else AgencyKind.OTHER
    with d.db.session() as session:
        if not deliveries.claim(session, ref):
            text = "Already done."
        else:
            name = typed_text(args[1])
            agency = agencies.add(session, slug=slug, name=name, kind=kind, actor=user, request_ref=ref)
            text = f"Agency *{escape(agency.name)}* (`{agency.slug}`, {agency.kind.value}) is registered."
            if areas.only_area(session) is None:  # several areas: the admin says which it works in
                text += f" It takes part in no area yet: `/area agency add <area> {agency.slug}`."
    call.say(text)


def change_member(call: Call) -> None:
    d, args, user, ref = call.deps, call.args, call.user, call.ref
    agencies.require_admin(user, d.settings.casehub_admins)
    verb = args[0].lower() if args else ""
    if (
        verb not in ("add", "remove")
        or len(args) < 3
        or (verb == "remove" and len(args) != 3)
        or len(args) > 4
    ):
        raise InvalidInput(
            "Say add or remove, the agency and the person.",
            hint="For example `/agency member add met-police @sam member`.",
        )
    slug, member = args[1], user_arg(args[2])
    role = agencies.parse_role(args[3]) if len(args) == 4 else Role.MEMBER
    bot = call.context.bot_user_id or ""
    with d.db.session() as session:
        agency = agencies.get(session, slug)
        first = deliveries.claim(session, ref)
        affected = cases.open_cases_of_agency(session, agency)
        channels = {c.id: c.channel() for c in affected}
        if first:
            before = {c.id: cases.entitled_users(session, c) for c in affected}
            if verb == "add":
                agencies.set_member(
                    session, agency=agency, user_id=member, role=role, actor=user, request_ref=ref
                )
                done = f"<@{member}> is now a {role.value} of `{agency.slug}`."
            else:
                agencies.remove_member(session, agency=agency, user_id=member, actor=user, request_ref=ref)
                done = f"<@{member}> is no longer in `{agency.slug}`."
            after = {c.id: cases.entitled_users(session, c) for c in affected}
    if not first:  # a repeat: the channels follow the role, whatever the first attempt finished
        for case_id in channels:
            case_channel.resync_members(d.db, call.client, case_id, {member}, bot)
        call.say("Already done.")
        return
    # Responsibilities follow the role: case channels of the agency gain or lose the person.
    failed: list[str] = []
    for case_id, channel in channels.items():
        *_, problems = case_channel.sync_members(
            call.client,
            channel,
            before=before[case_id],
            after=after[case_id],
            bot_user_id=bot,
        )
        failed += problems
    if channels:
        done += f" Case channels updated: {len(channels)}."
    if failed:
        done += " Some channel changes failed; the lead coordinators may need to adjust by hand."
    call.say(done)


def hand_over(call: Call) -> None:
    d, args, user, ref = call.deps, call.args, call.user, call.ref
    if len(args) not in (2, 3):
        raise InvalidInput(
            "Name who hands over and who takes over.",
            hint="For example `/agency handover @sam @alex police`.",
        )
    predecessor, successor = user_arg(args[0]), user_arg(args[1])
    said, bot = f"said:{ref}", call.context.bot_user_id or ""
    with d.db.session() as session:
        first = deliveries.claim(session, ref)
        if first:
            agency = handover.agency_for(session, predecessor, args[2] if len(args) == 3 else None)
            result = handover.hand_over(
                session,
                agency=agency,
                predecessor=predecessor,
                successor=successor,
                actor=user,
                is_admin=d.settings.is_admin(user),
                request_ref=ref,
                basis=d.settings.sharing_basis(Disclosure.HANDOVER),
            )
            flows_handover.owe_messages(session, result, said)
    if not first:  # a repeat finishes what the first attempt began in Slack
        flows_handover.finish_repeat(d.db, call.client, said, {predecessor, successor}, bot)
        call.say("Already done.")
        return
    problems = flows_handover.apply_in_slack(d.db, call.client, result, bot, said)
    text = (
        f"<@{successor}> has taken over from <@{predecessor}> in {escape(result.agency.name)}: "
        f"{len(result.before)} case channel(s), {len(result.actions)} open action(s), "
        f"{len(result.lead_cases)} case(s) as lead. They have been sent a briefing."
    )
    if problems:
        text += "\nTo finish by hand: " + "; ".join(problems)
    call.say(text)


SUBCOMMANDS: dict[str, Subcommand] = {
    "list": show_list,
    "add": add_agency,
    "member": change_member,
    "timezone": set_timezone,
    "handover": hand_over,
    "help": show_help,
}
