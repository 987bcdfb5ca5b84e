"""`/area`: the local partnerships of the deployment, and what their overseers see."""

from __future__ import annotations

from typing import Any

from slack_bolt import App, BoltContext, Respond
from slack_sdk import WebClient

from blocks import areas as area_blocks
from blocks import messages
from blocks.kit import escape
from handlers.commands import Call, Subcommand, dispatch
from handlers.common import deferred, record_shown, typed_text, user_arg
from services import agencies, areas, deliveries, oversight
from services.errors import InvalidInput

HELP = messages.usage(
    "/area — the areas (local partnerships) of this casehub",
    [
        "/area list — the areas, their regions and agencies",
        "/area show <area> — an area's calendar, hub channel, service levels, agencies and coordinators",
        '/area add <area> "<Name>" — create an area (admins)',
        "/area set <area> <field> <value> — change one of its settings (admins; `/area fields` lists them)",
        "/area agency add|remove <area> <agency> — an agency takes part in the area, or stops (admins)",
        "/area overseer add|remove @user <region>|national — regional and national coordinators (admins)",
        "/area figures [area|region] — the areas' figures (overseers; coordinators for their areas)",
        "/area cases <area> — an area's open cases, by reference only (overseers; its coordinators)",
        "/area help — this help",
    ],
    "/area set north holidays GB-ENG",
    "anyone lists; casehub admins (CASEHUB_ADMINS) change areas. An area's coordinators are the "
    "people with the coordinator role in an agency taking part in it.",
)


def register(app: App) -> None:
    app.command("/area")(**deferred(handle_area))


def handle_area(body: dict[str, Any], client: WebClient, respond: Respond, context: BoltContext) -> None:
    dispatch(SUBCOMMANDS, show_help, body, client, respond, context)


def show_help(call: Call) -> None:
    call.say(HELP)


def show_fields(call: Call) -> None:
    call.say("\n".join(f"• `{name}` — {what}" for name, what in areas.SETTABLE.items()))


def show_list(call: Call) -> None:
    with call.deps.db.reader() as session:
        shown = areas.with_agencies(session)
        blocks = area_blocks.area_list(shown)
    call.say(f"{len(shown)} area(s).", blocks)


def show_area(call: Call) -> None:
    if len(call.args) != 1:
        raise InvalidInput("Name the area.", hint="For example `/area show north`.")
    with call.deps.db.reader() as session:
        area = areas.get(session, call.args[0])
        calendar = areas.calendar(area, call.deps.settings)
        blocks = area_blocks.area_detail(
            area, calendar, areas.agencies_in(session, area.id), sorted(areas.coordinators(session, area.id))
        )
        name = area.name
    call.say(f"Area {escape(name)}", blocks)


def add_area(call: Call) -> None:
    d, args, user, ref = call.deps, call.args, call.user, call.ref
    areas.require_admin(user, d.settings.casehub_admins)
    if len(args) != 2:
        raise InvalidInput(
            "Give a slug and a name in quotes.", hint='For example `/area add north "North Shire"`.'
        )
    slug = areas.check_slug(args[0].lower())
    with d.db.session() as session:
        if not deliveries.claim(session, ref):
            text = "Already done."
        else:
            area = areas.add(session, slug=slug, name=typed_text(args[1]), actor=user, request_ref=ref)
            text = (
                f"Area *{escape(area.name)}* (`{area.slug}`) is created. Next: its agencies "
                f"(`/area agency add {area.slug} <agency>`) and its calendar (`/area set {area.slug} "
                "timezone …`, `holidays …`)."
            )
    call.say(text)


def set_field(call: Call) -> None:
    d, user, ref = call.deps, call.user, call.ref
    areas.require_admin(user, d.settings.casehub_admins)
    words = call.rest.split(maxsplit=2)
    if len(words) != 3:
        raise InvalidInput(
            "Give the area, the field and its value.",
            hint="For example `/area set north timezone Europe/London`; `/area fields` lists the fields.",
        )
    slug, field, value = words
    with d.db.session() as session:
        area = areas.get(session, slug)
        if not deliveries.claim(session, ref):
            call.say("Already done.")
            return
        # A channel picked with # comes as Slack's markup, which carries its ID.
        typed = value if field.lower().replace("_", "-") == "hub-channel" else typed_text(value)
        changed = areas.set_field(session, area=area, field=field, value=typed, actor=user, request_ref=ref)
        name = area.name
    said = "is set" if changed else "was already so"
    call.say(f"{escape(name)}: `{field}` {said}.")


def change_agency(call: Call) -> None:
    d, args, user, ref = call.deps, call.args, call.user, call.ref
    areas.require_admin(user, d.settings.casehub_admins)
    if len(args) != 3 or args[0].lower() not in ("add", "remove"):
        raise InvalidInput(
            "Say add or remove, the area and the agency.", hint="For example `/area agency add north police`."
        )
    verb = args[0].lower()
    with d.db.session() as session:
        area = areas.get(session, args[1])
        agency = agencies.get(session, args[2])
        if not deliveries.claim(session, ref):
            call.say("Already done.")
            return
        if verb == "add":
            joined = areas.join(session, area=area, agency=agency, actor=user, request_ref=ref)
            text = (
                f"{escape(agency.name)} takes part in {escape(area.name)}."
                if joined
                else f"{escape(agency.name)} already takes part in {escape(area.name)}."
            )
        else:
            areas.leave(session, area=area, agency=agency, actor=user, request_ref=ref)
            text = f"{escape(agency.name)} no longer takes part in {escape(area.name)}."
    call.say(text)


def change_overseer(call: Call) -> None:
    d, args, user, ref = call.deps, call.args, call.user, call.ref
    areas.require_admin(user, d.settings.casehub_admins)
    if len(args) != 3 or args[0].lower() not in ("add", "remove"):
        raise InvalidInput(
            "Say add or remove, the person and a region (or `national`).",
            hint="For example `/area overseer add @kim north-west` or `/area overseer add @lee national`.",
        )
    verb, person, scope = args[0].lower(), user_arg(args[1]), areas.parse_scope(args[2])
    with d.db.session() as session:
        if not deliveries.claim(session, ref):
            call.say("Already done.")
            return
        if verb == "add":
            added = areas.add_overseer(session, user=person, scope=scope, actor=user, request_ref=ref)
            text = (
                f"<@{person}> oversees {areas.scope_label(scope)}: figures and case references, no content."
                if added
                else f"<@{person}> oversees {areas.scope_label(scope)} already."
            )
        else:
            areas.remove_overseer(session, user=person, scope=scope, actor=user, request_ref=ref)
            text = f"<@{person}> no longer oversees {areas.scope_label(scope)}."
    call.say(text)


def show_figures(call: Call) -> None:
    """`/area figures [area|region]`: each area's counts, and their total."""
    if len(call.args) > 1:
        raise InvalidInput("Name at most one area or region.", hint="For example `/area figures north-west`.")
    with call.deps.db.reader() as session:
        visible = oversight.visible_areas(session, call.user)
        if not visible:
            raise oversight.nothing_to_oversee()
        if call.args:
            wanted = call.args[0].lower()
            shown = [a for a in visible if wanted in (a.slug, a.region)]
            if not shown:
                raise InvalidInput(
                    f"`{escape(call.args[0])}` is none of the areas or regions you see.",
                    hint="Yours: " + ", ".join(f"`{a.slug}`" for a in visible) + ".",
                )
        else:
            shown = visible
        rows = oversight.figures(session, shown)
        blocks = area_blocks.figures(rows, oversight.totals(rows))
    call.say(f"Figures of {len(rows)} area(s).", blocks)


def show_cases(call: Call) -> None:
    """`/area cases <area>`: the open cases by reference, stage and month opened; nothing else."""
    if len(call.args) != 1:
        raise InvalidInput("Name the area.", hint="For example `/area cases north`.")
    with call.deps.db.reader() as session:
        area = areas.get(session, call.args[0])
        oversight.require_sees(session, call.user, area)
        listed = oversight.case_references(session, area)
        name = area.name
    record_shown(
        call.deps.db, user=call.user, case_ids=[c.case_id for c in listed], view="area-cases", ref=call.ref
    )
    call.say(f"{escape(name)}: {len(listed)} open case(s).", area_blocks.case_references(name, listed))


SUBCOMMANDS: dict[str, Subcommand] = {
    "help": show_help,
    "list": show_list,
    "show": show_area,
    "fields": show_fields,
    "add": add_area,
    "set": set_field,
    "agency": change_agency,
    "agencies": change_agency,
    "overseer": change_overseer,
    "figures": show_figures,
    "cases": show_cases,
}
