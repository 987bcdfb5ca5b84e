"""`/review`: the case's review cadence, its next review, and recording one."""

from __future__ import annotations

import re
from typing import Any

from slack_bolt import Ack, App, BoltContext, Respond
from slack_sdk import WebClient

from blocks import findings, messages, modals
from blocks import reviews as review_blocks
from flows import action_posting, case_channel, notify
from flows import lessons as lesson_flows
from flows.rules import reminder_rules
from handlers import payload
from handlers.commands import Call, Subcommand, dispatch
from handlers.common import (
    answer_form,
    date_arg,
    deferred,
    deps,
    first_word,
    reported,
    request_ref,
    typed_text,
)
from models import Risk, clock
from services import cases, deliveries, inputs, outbox, reviews
from services.errors import CasehubError, InvalidInput

HELP = messages.usage(
    "/review — the case's review cycle",
    [
        "/review — when the next review is, and the cadence",
        "/review every <N> weeks [weekday] [HH:MM] — set the cadence (1-52 weeks; lead)",
        "/review next <YYYY-MM-DD> [HH:MM] — set the next review (lead)",
        "/review record — record a review held: decisions, risk, next date, actions agreed (lead)",
        "/review followup <REF> [YYYY-MM-DD] [note] — record a follow-up review after closing (lead)",
        "/review help — this help",
    ],
    "/review every 2 weeks tuesday 10:00",
    "participants see the schedule; the lead coordinator changes it and records reviews. "
    "Times are in the default time zone of casehub.",
)
# A word after the case reference that is meant as a date (and is refused if it is not one),
# rather than the start of the note.
_DATE_SHAPED = re.compile(r"[0-9]{1,4}[-/.][0-9]{1,2}[-/.][0-9]{1,4}")


def register(app: App) -> None:
    app.command("/review")(**deferred(handle_review, urgent=lambda body: first_word(body) == "record"))
    app.view(review_blocks.RECORD_FORM)(ack=reported(check_record), lazy=[reported(save_record)])


def handle_review(body: dict[str, Any], client: WebClient, respond: Respond, context: BoltContext) -> None:
    dispatch(SUBCOMMANDS, show_help, body, client, respond, context)


def show_help(call: Call) -> None:
    call.say(HELP)


def show_status(call: Call) -> None:
    with call.deps.db.reader() as session:
        case = cases.for_channel(session, call.channel, "/review")
        cases.require_participant(session, case, call.user)
        when = f"{case.next_review_at:%A %d %B %Y, %H:%M} UTC" if case.next_review_at else "not scheduled"
        text = f"Case {case.reference}: next review {when}; every {case.review_every_weeks} week(s)."
    call.say(text)


def record_form(call: Call) -> None:
    with call.deps.db.reader() as session:
        case = cases.for_channel(session, call.channel, "/review record")
        cases.require_open(case)
        cases.require_lead(case, call.user, "record reviews")
        today = clock.today()
        view = review_blocks.record_form(case, today=today, next_review=reviews.default_next(case, today))
    call.client.views_open(trigger_id=call.body["trigger_id"], view=view)


def change_schedule(call: Call) -> None:
    """`every` or `next`; the notice goes to the channel, once however often Slack delivers."""
    d, channel, name, args, user, ref = call.deps, call.channel, call.name, call.args, call.user, call.ref
    if name == "every":
        weeks, weekday, at = parse_every(args)
    elif not args or len(args) > 2:
        raise InvalidInput("Give the date.", hint="For example `/review next 2026-12-08 14:00`.")
    else:
        day, at = date_arg(args[0]), inputs.parse_time(args[1]) if len(args) == 2 else None
    said = f"said:{ref}"
    with d.db.session() as session:
        case = cases.for_channel(session, channel, f"/review {name}")
        rules = reminder_rules(d.settings, session)
        first = deliveries.claim(session, ref)  # a repeated request sends what the first owes
        if first and name == "every":
            moment = reviews.set_cadence(
                session,
                case=case,
                weeks=weeks,
                weekday=weekday,
                at=at,
                rules=rules,
                actor=user,
                request_ref=ref,
            )
            notice = (
                f"Reviews of case {case.reference} are now every {weeks} week(s); "
                f"next: {moment:%Y-%m-%d %H:%M} UTC."
            )
        elif first:
            moment = reviews.set_next(
                session, case=case, day=day, at=at, rules=rules, actor=user, request_ref=ref
            )
            notice = f"The next review of case {case.reference} is {moment:%Y-%m-%d %H:%M} UTC."
        if first:
            outbox.owe(session, said, text=notice, recipient=user, channel=channel)
    notify.send_owed(d.db, call.client, [said])  # the header does not show the schedule


def parse_every(args: list[str]) -> tuple[int, int | None, Any]:
    if len(args) < 2 or args[1].lower() not in ("week", "weeks"):
        raise InvalidInput("Say how many weeks.", hint="For example `/review every 4 weeks monday 10:00`.")
    weeks = cases.parse_review_weeks(args[0])
    weekday = at = None
    for extra in args[2:]:
        if ":" in extra:
            at = inputs.parse_time(extra)
        else:
            weekday = reviews.parse_weekday(extra)
    return weeks, weekday, at


def _draft(view: dict[str, Any]) -> reviews.ReviewDraft:
    """The form's values, typed; one the form never offered is refused on its field."""
    form = modals.values(view)
    return reviews.ReviewDraft(
        held_on=inputs.parse_date(form.get("held_on"), field="held_on", what="date held"),
        agencies_present=inputs.strings(form.get("present"), field="present", what="the agencies present"),
        decisions=inputs.text(form.get("decisions"), field="decisions"),
        risk_after=inputs.parse_choice(
            Risk, form.get("risk_after") or Risk.MODERATE, field="risk_after", what="a risk level"
        ),
        next_review=inputs.parse_date(form.get("next_review"), field="next_review", what="next review date"),
        agreed=reviews.parse_agreed(inputs.text(form.get("actions"), field="actions")),
        confirmed=findings.ticked_in(form),
    )


def _problem(d: Any, view: dict[str, Any], user: str) -> CasehubError | None:
    try:
        with d.db.reader() as session:
            case = cases.get_by_reference(session, payload.reference(payload.metadata(view)))
            reviews.check_record(session, case, _draft(view), user)
    except CasehubError as error:
        return error
    return None


def check_record(ack: Ack, body: dict[str, Any], view: dict[str, Any], context: BoltContext) -> None:
    answer_form(ack, view, _problem(deps(context), view, body["user"]["id"]), field="decisions")


def save_record(body: dict[str, Any], view: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    d, user, ref = deps(context), body["user"]["id"], request_ref(body)
    if _problem(d, view, user) is not None:
        return
    said = f"said:{ref}"
    with d.db.session() as session:
        case = cases.get_by_reference(session, payload.reference(payload.metadata(view)))
        review, created, action_ids = reviews.record(
            session,
            case=case,
            draft=_draft(view),
            rules=reminder_rules(d.settings, session),
            actor=user,
            recorded_via=ref,
            request_ref=ref,
        )
        case_id, channel, reference = case.id, case.channel(), case.reference
        summary = (
            f":memo: Review of case *{reference}* recorded (held {review.held_on.isoformat()}). "
            f"Risk after review: *{review.risk_after.value}*. Next review: {review.next_review_at:%Y-%m-%d}. "
            f"Actions agreed: {len(action_ids)}."
        )
        if created:
            outbox.owe(session, said, text=summary, recipient=user, channel=channel)
            lesson_flows.owe_prompt(session, case=case, source="review", ident=review.id)
        prompt = lesson_flows.prompt_key("review", review.id)
    # A repeated submission finishes what the first began: the header, the summary, the actions.
    case_channel.show_change(d.db, client, case_id, [said])
    notify.send_owed(d.db, client, [prompt])
    for action_id in action_ids:
        action_posting.post_or_refresh(d.db, client, action_id=action_id)


def record_follow_up(call: Call) -> None:
    """The case channel is archived by then, so this names the case instead of running in it."""
    d, user, ref = call.deps, call.user, call.ref
    # The note is free text, kept as typed (an apostrophe in it is no quote).
    words = call.rest.split(maxsplit=1)
    if not words:
        raise InvalidInput("Say which case.", hint="For example `/review followup K7Q2M9 2027-06-01`.")
    reference, note = words[0], words[1] if len(words) == 2 else ""
    held_on, after = clock.today(), note.split(maxsplit=1)
    if after and _DATE_SHAPED.fullmatch(after[0]):
        held_on, note = date_arg(after[0]), after[1] if len(after) == 2 else ""
    with d.db.session() as session:
        case = cases.get_by_reference(session, reference)
        if not deliveries.claim(session, ref):
            text = "Already recorded."
        else:
            follow_up = reviews.record_follow_up(
                session,
                case=case,
                held_on=held_on,
                note=typed_text(note.strip()),
                actor=user,
                request_ref=ref,
            )
            held = held_on.isoformat()
            text = f"The {follow_up.label} of case {case.reference} is recorded as held on {held}."
    call.say(text)


SUBCOMMANDS: dict[str, Subcommand] = {
    "": show_status,
    "status": show_status,
    "every": change_schedule,
    "next": change_schedule,
    "record": record_form,
    "followup": record_follow_up,
    "help": show_help,
}
