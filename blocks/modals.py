"""Modals: the forms behind `/case open` and `/case close`."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from blocks.kit import (
    OPTIONS_MAX,
    PRIVATE_METADATA_MAX,
    Block,
    checkbox_input,
    clip,
    form,
    input_block,
    multi_static_select,
    option,
    plain,
    section,
    static_select,
    text_input,
    users_select,
)
from models import Agency, Area, Case, Risk
from services.cases import AGENCY_REFERENCE_MAX, LESSONS_MAX, OUTCOME_MAX, SUMMARY_MAX

OPEN_CASE = "case_open"
CLOSE_CASE = "case_close"
FOLLOW_UPS = "6,12"  # the close form's one checkbox: reviews 6 and 12 months on


def metadata(**values: Any) -> str:
    text = json.dumps(values, separators=(",", ":"))
    if len(text) > PRIVATE_METADATA_MAX:
        raise ValueError("private_metadata would exceed Slack's 3,000 characters")
    return text


def agency_options(agencies: Sequence[Agency]) -> list[Block]:
    return [option(f"{a.name} ({a.slug})", a.slug) for a in agencies]


REVIEW_WEEKS = (1, 2, 3, 4, 6, 8, 12)


def open_case(
    agencies: Sequence[Agency],
    *,
    opener: str,
    origin_channel: str,
    review_weeks: int = 4,
    areas: Sequence[Area] = (),
) -> dict[str, Any]:
    """The case form; with `areas` (more than one: those the opener coordinates), a choice of
    the area the case belongs to."""
    if len(agencies) <= OPTIONS_MAX:
        agency_element = multi_static_select(agency_options(agencies), placeholder="Choose agencies")
    else:  # a large registry is searched as the coordinator types
        agency_element = {
            "type": "multi_external_select",
            "action_id": "value",
            "min_query_length": 1,
            "placeholder": plain("Type to search agencies", 150),
        }
    risk_options = [option(r.value.capitalize(), r.value) for r in Risk]
    return form(
        OPEN_CASE,
        title="Open a case",
        submit="Open case",
        metadata=metadata(channel=origin_channel),
        blocks=[
            section(
                ":lock: *Do not enter the person's name, date of birth, address or any other "
                "identifier.* casehub gives the case a reference; Slack only ever sees that."
            ),
            input_block(
                "summary",
                "Concern summary",
                text_input(
                    multiline=True,
                    max_length=SUMMARY_MAX,
                    placeholder="What is the concern? Describe behaviour, not identity.",
                ),
                hint="No names or identifiers. At least 10 characters.",
            ),
            *area_choice(areas),
            input_block("risk", "Initial risk level", static_select(risk_options, Risk.MODERATE.value)),
            input_block("lead", "Lead coordinator", users_select(opener)),
            input_block(
                "agencies",
                "Participating agencies",
                agency_element,
                hint="Need to know: only the agencies that must take part.",
            ),
            input_block(
                "review_weeks",
                "Review every",
                static_select(
                    [
                        option(f"{w} week{'s' if w > 1 else ''}", str(w))
                        for w in sorted({*REVIEW_WEEKS, review_weeks})
                    ],
                    str(review_weeks),
                ),
            ),
            input_block(
                "agency_reference",
                "Your agency's own reference",
                text_input(max_length=AGENCY_REFERENCE_MAX),
                hint="Kept in casehub's record only; never posted to Slack.",
                optional=True,
            ),
        ],
    )


def area_choice(areas: Sequence[Area]) -> list[Block]:
    """The choice of an area, for someone working in more than one (none otherwise)."""
    if len(areas) < 2:
        return []
    options = [option(f"{a.name} ({a.slug})", a.slug) for a in areas[:OPTIONS_MAX]]
    return [input_block("area", "Area", static_select(options), hint="The local partnership it belongs to.")]


def close_case(case: Case) -> dict[str, Any]:
    return form(
        CLOSE_CASE,
        title=clip(f"Close case {case.reference}", 24),
        submit="Close case",
        metadata=metadata(case=case.reference, channel=case.channel_id),
        blocks=[
            section(
                "Closing records the outcome, posts a closing message and archives the channel. "
                "The case stays in casehub's record."
            ),
            input_block(
                "outcome",
                "Outcome",
                text_input(
                    multiline=True, max_length=OUTCOME_MAX, placeholder="e.g. support completed, signposted"
                ),
            ),
            input_block(
                "lessons",
                "Lessons learned",
                text_input(multiline=True, max_length=LESSONS_MAX),
                hint="What should partners do differently next time?",
                optional=True,
            ),
            checkbox_input(
                "follow_ups",
                "Follow-up reviews",
                "Schedule reviews at 6 and 12 months",
                value=FOLLOW_UPS,
                ticked=True,
            ),
        ],
    )


class Unreadable:
    """A value in a form's state that is not what Slack sends for its element."""

    def __repr__(self) -> str:
        return "unreadable"


# Read as no value of any kind, so that whoever reads the field refuses it on that field.
UNREADABLE = Unreadable()
FormValue = str | list[str] | Unreadable | None


def values(view: dict[str, Any]) -> dict[str, FormValue]:
    """Flatten a submitted view's state to {block_id: value}: a string, a list of strings, None
    for nothing chosen, or UNREADABLE for what Slack would never send (a value of the wrong type).
    """
    state = _mapping(_mapping(view).get("state"))
    out: dict[str, FormValue] = {}
    for block_id, inputs in _mapping(state.get("values")).items():
        inputs = _mapping(inputs)
        element = inputs.get("value", next(iter(inputs.values()), None))
        out[block_id] = _value_of(element) if isinstance(element, dict) else UNREADABLE
    return out


def _mapping(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _string(value: object) -> str | Unreadable | None:
    return value if value is None or isinstance(value, str) else UNREADABLE


def _option_value(option: object) -> str | Unreadable:
    value = option.get("value") if isinstance(option, dict) else None
    return value if isinstance(value, str) else UNREADABLE


def _strings(items: list[object]) -> list[str] | Unreadable:
    chosen = [item for item in items if isinstance(item, str)]
    return chosen if len(chosen) == len(items) else UNREADABLE


def _value_of(element: dict[str, Any]) -> FormValue:
    kind = element.get("type")
    if kind in ("static_select", "external_select"):
        selected = element.get("selected_option")
        return None if selected is None else _option_value(selected)
    if kind in ("multi_static_select", "multi_external_select", "checkboxes", "multi_users_select"):
        key = "selected_users" if kind == "multi_users_select" else "selected_options"
        chosen = element.get(key)
        if chosen is None:
            return []
        if not isinstance(chosen, list):
            return UNREADABLE
        return _strings([_string(c) if key == "selected_users" else _option_value(c) for c in chosen])
    key = {"users_select": "selected_user", "datepicker": "selected_date"}.get(str(kind), "value")
    return _string(element.get(key))


_VIEW_KEYS = ("type", "callback_id", "title", "submit", "close", "private_metadata", "blocks")


def _with_typed_values(blocks: list[Block], state: dict[str, Any]) -> list[Block]:
    """The same inputs, prefilled with what was typed, so a second try loses nothing."""
    values = state.get("values", {})
    out = []
    for block in blocks:
        block = json.loads(json.dumps(block))
        entered = values.get(block.get("block_id"), {}).get("value") if block.get("type") == "input" else None
        if entered:
            element = block["element"]
            kind = element["type"]
            if kind == "plain_text_input" and entered.get("value"):
                element["initial_value"] = entered["value"]
            elif kind == "static_select" and entered.get("selected_option"):
                chosen = entered["selected_option"]["value"]
                element["initial_option"] = next(
                    (o for o in element.get("options", []) if o["value"] == chosen),
                    entered["selected_option"],
                )
            elif (
                kind in ("multi_static_select", "checkboxes") and entered.get("selected_options") is not None
            ):
                chosen = {o["value"] for o in entered["selected_options"]}
                picked = [o for o in element.get("options", []) if o["value"] in chosen]
                if picked:
                    element["initial_options"] = picked
                else:
                    element.pop("initial_options", None)
            elif kind == "users_select" and entered.get("selected_user"):
                element["initial_user"] = entered["selected_user"]
            elif kind == "datepicker" and entered.get("selected_date"):
                element["initial_date"] = entered["selected_date"]
        out.append(block)
    return out


def form_again(view: dict[str, Any], problem: str) -> dict[str, Any]:
    """A submitted form back again, with what was typed and what is wrong at the top."""
    again = {key: view[key] for key in _VIEW_KEYS if key in view}
    blocks = [b for b in view["blocks"] if b.get("block_id") != "problem"]
    again["blocks"] = [
        {
            "type": "section",
            "block_id": "problem",
            "text": {"type": "mrkdwn", "text": clip(f":warning: *{problem}*", 3000)},
        },
        *_with_typed_values(blocks, view.get("state", {})),
    ]
    return again
