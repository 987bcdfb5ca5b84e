"""`/agency`: the registry of agencies and the people in them."""

from __future__ import annotations

from typing import Any

from slack_bolt import App, BoltContext, Respond
from slack_sdk import WebClient

from blocks import messages
from blocks.kit import escape
from flows import case_channel
from flows import handover as flows_handover
from handlers.common import deferred, deps, request_ref, split_args, typed_text, user_arg
from models import AgencyKind, Disclosure, Role
from services import agencies, cases, deliveries, handover
from services.errors import InvalidInput, NotAllowed

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
    args = split_args(body.get("text"))
    name = args.pop(0).lower() if args else "help"
    d, user = deps(context), body["user_id"]

    def say(text: str, blocks: list[dict[str, Any]] | None = None) -> None:
        respond(text=text, blocks=blocks, response_type="ephemeral", replace_original=False)

    if name == "list":
        with d.db.reader() as session:
            registry = agencies.all_agencies(session)
            roster = {a.id: list(a.memberships) for a in registry}
            blocks = messages.agency_list(registry, roster)
        say(f"{len(registry)} agencies.", blocks)
        return
    if name == "handover":
        say(hand_over(d, client, args, user, request_ref(body), context.bot_user_id or ""))
        return
    if name not in ("add", "member", "timezone"):
        say(HELP)
        return
    if not d.settings.is_admin(user):
        raise NotAllowed(
            "Only casehub admins may change the agency registry.",
            hint="Admins are listed in the CASEHUB_ADMINS setting; ask one of them.",
        )
    ref = request_ref(body)
    if name == "add":
        say(add_agency(d, args, user, ref))
    elif name == "timezone":
        say(set_timezone(d, args, user, ref))
    else:
        say(change_member(d, client, args, user, ref, context.bot_user_id or ""))


def set_timezone(d: Any, args: list[str], user: str, ref: str) -> str:
    if len(args) != 2:
        raise InvalidInput(
            "Give the agency and a time zone.", hint="For example `/agency timezone police Europe/Paris`."
        )
    with d.db.session() as session:
        agency = agencies.get(session, args[0])
        if not deliveries.claim(session, ref):
            return "Already done."
        agencies.set_timezone(session, agency=agency, timezone=args[1], actor=user, request_ref=ref)
        return f"{escape(agency.name)} keeps its on-call times in {agency.timezone}."


def add_agency(d: Any, args: list[str], user: str, ref: str) -> str:
    if len(args) not in (2, 3):
        raise InvalidInput(
            "Give a slug, a display name in quotes and optionally a kind.",
            hint='For example `/agency add met-police "Metropolitan Police" police`.',
        )
    slug = agencies.check_slug(args[0])
    kind = agencies.parse_kind(args[2]) if len(args) == 3 else AgencyKind.OTHER
    with d.db.session() as session:
        if not deliveries.claim(session, ref):
            return "Already done."
        name = typed_text(args[1])
        agency = agencies.add(session, slug=slug, name=name, kind=kind, actor=user, request_ref=ref)
        return f"Agency *{escape(agency.name)}* (`{agency.slug}`, {agency.kind.value}) is registered."


def change_member(d: Any, client: WebClient, args: list[str], user: str, ref: str, bot_user_id: str) -> str:
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
    with d.db.session() as session:
        agency = agencies.get(session, slug)
        if not deliveries.claim(session, ref):
            return "Already done."
        affected = cases.open_cases_of_agency(session, agency)
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
        channels = {c.id: c.channel() for c in affected}
    # Responsibilities follow the role: case channels of the agency gain or lose the person.
    failed: list[str] = []
    for case_id, channel in channels.items():
        *_, problems = case_channel.sync_members(
            client, channel, before=before[case_id], after=after[case_id], bot_user_id=bot_user_id
        )
        failed += problems
    if channels:
        done += f" Case channels updated: {len(channels)}."
    if failed:
        done += " Some channel changes failed; the lead coordinators may need to adjust by hand."
    return done


def hand_over(d: Any, client: WebClient, args: list[str], user: str, ref: str, bot_user_id: str) -> str:
    if len(args) not in (2, 3):
        raise InvalidInput(
            "Name who hands over and who takes over.",
            hint="For example `/agency handover @sam @alex police`.",
        )
    predecessor, successor = user_arg(args[0]), user_arg(args[1])
    with d.db.session() as session:
        if not deliveries.claim(session, ref):
            return "Already done."
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
    problems = flows_handover.apply_in_slack(d.db, client, result, bot_user_id)
    text = (
        f"<@{successor}> has taken over from <@{predecessor}> in {escape(result.agency.name)}: "
        f"{len(result.before)} case channel(s), {len(result.actions)} open action(s), "
        f"{len(result.lead_cases)} case(s) as lead. They have been sent a briefing."
    )
    if problems:
        text += "\nTo finish by hand: " + "; ".join(problems)
    return text
