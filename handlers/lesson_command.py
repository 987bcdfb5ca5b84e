"""`/lesson`: the area's lessons register — add (a form), list, move a lesson on; and the
prompt's button that opens the form with what a closed case or a review recorded."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, BoltContext, Respond
from slack_sdk import WebClient
from sqlalchemy.orm import Session

from blocks import findings, messages, modals
from blocks import lessons as lesson_blocks
from flows import notify
from handlers import payload
from handlers.commands import Call, Subcommand, dispatch
from handlers.common import answer_form, deferred, deps, reported, request_ref, typed_text
from models import Area, Case, Review, clock
from services import areas, cases, deliveries, inputs, lessons, outbox
from services.errors import CasehubError, InvalidInput, NotAllowed, NotFound

HELP = messages.usage(
    "/lesson — the area's lessons register",
    [
        "/lesson add — the form: the lesson, the protocol or procedure it affects, the owning agency, "
        "a due date",
        "/lesson list [open|all|mine] [area] — the register; in a case channel, that case's area",
        "/lesson update [area] <N> agreed | integrated <protocol> <version> | checked | dropped <reason> "
        "| due YYYY-MM-DD",
        "/lesson help — this help",
    ],
    '/lesson update 4 integrated "Referral protocol" v3.2',
    "the area's coordinators add, agree, check and drop lessons and move their due dates; the owning "
    "agency or a coordinator marks a lesson integrated; every agency of the area lists them.",
)


def register(app: App) -> None:
    app.command("/lesson")(**deferred(handle_lesson, urgent=_opens_form))
    app.view(lesson_blocks.ADD_FORM)(ack=reported(check_add), lazy=[reported(record_add)])
    app.action(lesson_blocks.CAPTURE)(**deferred(open_capture, urgent=True))


def _opens_form(body: dict[str, Any]) -> bool:
    return (body.get("text") or "").strip().lower().split()[:1] == ["add"]


def handle_lesson(body: dict[str, Any], client: WebClient, respond: Respond, context: BoltContext) -> None:
    dispatch(SUBCOMMANDS, show_help, body, client, respond, context)


def show_help(call: Call) -> None:
    call.say(HELP)


def _form_for(
    session: Session, user: str, *, case: Case | None, slug: str | None, text: str | None = None
) -> dict[str, Any]:
    """The add form for the case's area, the one named, or the areas the person coordinates."""
    if case is not None or slug:
        named = lessons.area_for(session, user, slug, case=case)
        lessons.require_coordinator(session, named, user, "add lessons to its register")
        area: Area | None = named
        choices = [named]
    else:
        choices = areas.coordinated_by(session, user)
        if not choices:
            raise NotAllowed(
                "Only an area's coordinators add lessons to its register.", hint=lessons.HOW_TO_ADD
            )
        area = choices[0] if len(choices) == 1 else None
    agencies = {a.slug: a for choice in choices for a in areas.agencies_in(session, choice.id)}
    return lesson_blocks.add_form(
        sorted(agencies.values(), key=lambda a: a.slug),
        today=clock.today(),
        area=area,
        choices=choices,
        case_id=case.id if case is not None else None,
        text=text,
    )


def add(call: Call) -> None:
    d, user = call.deps, call.user
    with d.db.reader() as session:
        case = cases.in_channel(session, call.channel)
        view = _form_for(session, user, case=case, slug=call.args[0] if call.args else None)
    call.client.views_open(trigger_id=call.body["trigger_id"], view=view)


def _area_and_words(session: Session, call: Call, words: list[str], *, user: str) -> tuple[Area, list[str]]:
    case = cases.in_channel(session, call.channel)
    if case is not None:
        return lessons.area_for(session, user, None, case=case), words
    slugs = {a.slug for a in areas.all_areas(session)}
    named = [w for w in words if w.lower() in slugs]
    rest = [w for w in words if w.lower() not in slugs]
    return lessons.area_for(session, user, named[0] if named else None), rest


def show(call: Call) -> None:
    d, user = call.deps, call.user
    with d.db.reader() as session:
        area, rest = _area_and_words(session, call, call.args, user=user)
        which = rest[0].lower() if rest else "open"
        rows = lessons.listing(session, area, user, which)
        title = f"Lessons of {area.name}: {which}"
        blocks = lesson_blocks.lesson_list(title, rows, today=clock.today())
    call.say(title, blocks)


def change(call: Call) -> None:
    d, user, ref = call.deps, call.user, call.ref
    args = call.args
    with d.db.session() as session:
        case = cases.in_channel(session, call.channel)
        slug = None
        if case is None and args and not args[0].isdigit() and args[0].lower() not in lessons.UPDATES:
            slug, args = args[0], args[1:]
        if len(args) < 2 or not args[0].isdigit():
            raise InvalidInput(
                "Say which lesson, and what changes.",
                hint="For example `/lesson update 4 agreed`; `/lesson help` lists the changes.",
            )
        area = lessons.area_for(session, user, slug, case=case)
        first = deliveries.claim(session, ref)
        words = [typed_text(w) for w in args[2:]]
        lesson = lessons.update(
            session,
            area=area,
            number=int(args[0]),
            change=args[1].lower(),
            args=words,
            actor=user,
            request_ref=ref,
            delivery_new=first,
        )
        told = (
            f"Lesson #{lesson.number} of {area.name} is {lesson.status.value}, due {lesson.due.isoformat()}."
        )
    call.say(told)


SUBCOMMANDS: dict[str, Subcommand] = {"add": add, "list": show, "update": change, "help": show_help}


# ---- the form -------------------------------------------------------------------------------------


def draft_of(view: dict[str, Any]) -> tuple[str | None, int | None, lessons.LessonDraft]:
    form = modals.values(view)
    meta = payload.metadata(view)
    chosen = form.get("area")
    slug = areas.chosen_slug(chosen, field="area") if chosen is not None else meta.get("area")
    case_id = meta.get("case")
    agency = form.get("agency")
    draft = lessons.LessonDraft(
        text=inputs.text(form.get("lesson"), field="lesson").strip(),
        protocol=inputs.text(form.get("protocol"), field="protocol").strip(),
        agency_slug=None if agency is None else areas.chosen_slug(agency, field="agency"),
        due=inputs.parse_date(form.get("due"), field="due", what="due date"),
        confirmed=findings.confirmed(view),
    )
    return (
        slug if isinstance(slug, str) else None,
        case_id if isinstance(case_id, int) else None,
        draft,
    )


def _problem(d: Any, view: dict[str, Any], user: str) -> CasehubError | None:
    try:
        slug, _, draft = draft_of(view)
        if slug is None:
            raise InvalidInput("Choose the area.", field="area")
        with d.db.reader() as session:
            lessons.check_new(session, areas.get(session, slug), draft, user)
    except CasehubError as error:
        return error
    return None


def check_add(ack: Ack, body: dict[str, Any], view: dict[str, Any], context: BoltContext) -> None:
    answer_form(ack, view, _problem(deps(context), view, body["user"]["id"]), field="lesson")


def record_add(body: dict[str, Any], view: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    d, user, ref = deps(context), body["user"]["id"], request_ref(body)
    if _problem(d, view, user) is not None:
        return  # sent back to the form
    slug, case_id, draft = draft_of(view)
    assert slug is not None
    said = f"said:{ref}"
    with d.db.session() as session:
        area = areas.get(session, slug)
        lesson, created = lessons.add(
            session, area=area, draft=draft, actor=user, created_via=ref, request_ref=ref, case_id=case_id
        )
        if created:
            outbox.owe(session, said, text=lesson_blocks.added(lesson, area), recipient=user)
    notify.send_owed(d.db, client, [said])


# ---- the prompt's button (flows.lessons) ----------------------------------------------------------


def _captured(session: Session, value: object) -> tuple[Case, str]:
    """The case and the text a prompt's button stands for."""
    source, _, ident = str(value or "").partition(":")
    if source not in ("close", "review") or not ident.isdigit():
        raise payload.unreadable()
    if source == "close":
        case = session.get(Case, int(ident))
        if case is None:
            raise NotFound("That case no longer exists.")
        return case, case.lessons or ""
    review = session.get(Review, int(ident))
    if review is None:
        raise NotFound("That review no longer exists.")
    return session.get_one(Case, review.case_id), review.decisions


def open_capture(
    body: dict[str, Any], action: dict[str, Any], client: WebClient, context: BoltContext
) -> None:
    d, user = deps(context), body["user"]["id"]
    with d.db.reader() as session:
        case, text = _captured(session, action.get("value"))
        cases.require_lead(case, user, "turn what it recorded into a lesson")  # the prompt was theirs
        view = _form_for(session, user, case=case, slug=None, text=text)
    client.views_open(trigger_id=body["trigger_id"], view=view)
