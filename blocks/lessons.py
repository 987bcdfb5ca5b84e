"""Block Kit for the lessons register: the form, the list, and the prompt to add a lesson."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

from blocks.kit import (
    Block,
    actions,
    button,
    clip,
    context,
    datepicker,
    escape,
    fit_message,
    form,
    header,
    input_block,
    option,
    section,
    static_select,
    text_input,
)
from blocks.modals import area_choice, metadata
from models import Agency, Area, Lesson, LessonStatus

ADD_FORM = "lesson_add"
CAPTURE = "lesson_capture"
TEXT_MAX = 1000
PROTOCOL_MAX = 200
STATUS_ICON = {
    LessonStatus.PROPOSED: "📝",
    LessonStatus.AGREED: "🤝",
    LessonStatus.INTEGRATED: "📘",
    LessonStatus.CHECKED: "✅",
    LessonStatus.DROPPED: "✖️",
}


def add_form(
    agencies: Sequence[Agency],
    *,
    today: date,
    area: Area | None,
    choices: Sequence[Area] = (),
    case_id: int | None = None,
    text: str | None = None,
) -> dict[str, Any]:
    """The `/lesson add` form: for `area`, or with a choice of `choices` when it is not known."""
    agency_options = [option(f"{a.name} ({a.slug})", a.slug) for a in agencies]
    return form(
        ADD_FORM,
        title="Add a lesson",
        submit="Add lesson",
        metadata=metadata(area=area.slug if area else None, case=case_id),
        blocks=[
            *([] if area else area_choice(choices)),
            input_block(
                "lesson",
                "The lesson",
                text_input(multiline=True, max_length=TEXT_MAX, initial=text),
                hint="What the partnership learnt about its practice, not who the person was.",
            ),
            input_block(
                "protocol",
                "Protocol or procedure it affects",
                text_input(max_length=PROTOCOL_MAX),
            ),
            input_block("agency", "Owning agency", static_select(agency_options)),
            input_block("due", "Due date", datepicker((today + timedelta(weeks=6)).isoformat())),
        ],
    )


def state(lesson: Lesson, today: date) -> str:
    if lesson.status is LessonStatus.INTEGRATED:
        named = f"{lesson.integrated_protocol or ''} {lesson.integrated_version or ''}"
        return f"integrated in {escape(named)}"
    if lesson.status is LessonStatus.DROPPED:
        return f"dropped: {escape(clip(lesson.drop_reason or '', 200))}"
    if lesson.is_open and lesson.due < today:
        return f"{lesson.status.value}, ⚠️ overdue since {lesson.due.isoformat()}"
    if lesson.is_open:
        return f"{lesson.status.value}, due {lesson.due.isoformat()}"
    return lesson.status.value


def line(lesson: Lesson, today: date) -> str:
    return (
        f"*#{lesson.number}* {STATUS_ICON[lesson.status]} {escape(clip(lesson.text, 300))}\n"
        f"_{escape(clip(lesson.protocol, 100))}_ · {escape(lesson.agency.name)} · {state(lesson, today)}"
    )


def lesson_list(title: str, lessons: Sequence[Lesson], *, today: date) -> list[Block]:
    blocks: list[Block] = [header(title)]
    if not lessons:
        blocks.append(context("No lessons here."))
    blocks += [section(line(lesson, today)) for lesson in lessons]
    return fit_message(blocks, more="…and more: `/lesson list` with fewer shown, or see the Home tab.")


def capture_prompt(reference: str, source: str, value: str) -> list[Block]:
    """The lead's prompt to put what a case taught into the register (`source`: where it was said)."""
    return [
        section(
            f"The {source} of case *{escape(reference)}* recorded lessons. Lessons learnt go into "
            "practice, not onto paper: add them to the area's register to follow them up."
        ),
        actions(button("Add to the lessons register", CAPTURE, value, style="primary")),
    ]


def added(lesson: Lesson, area: Area) -> str:
    return (
        f"Lesson *#{lesson.number}* added to the register of {escape(area.name)}, proposed; "
        f"due {lesson.due.isoformat()}."
    )
