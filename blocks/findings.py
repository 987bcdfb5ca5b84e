"""A submitted form again with what the identifier check found, to confirm finding by finding.

Slack's inline errors (`response_action: errors`) can only mark fields that exist, so the first
time a form's text holds findings that may be false alarms (names, nicknames, a school with a
person), the form comes back (`response_action: update`) with everything typed kept, each
finding noted under its field, and one box per such finding. Structured identifiers get no box:
they are shown on their field and must be removed.
"""

from __future__ import annotations

from typing import Any

from blocks.kit import OPTION_TEXT_MAX, Block, plain
from blocks.modals import FormValue, Unreadable, form_again, values
from services.identifiers import Finding
from services.sharing_gate import CONFIRM_FIELD, CONFIRMABLE_MAX, key

NOTE_PREFIX = "finding:"


def confirmed(view: dict[str, Any]) -> frozenset[str]:
    """The findings ticked in the form's confirmation box (none when it has none)."""
    return ticked_in(values(view))


def ticked_in(form: dict[str, FormValue]) -> frozenset[str]:
    """`confirmed`, from a form's values already read (`modals.values`)."""
    ticked = form.get(CONFIRM_FIELD)
    if ticked is None or isinstance(ticked, Unreadable | str):
        return frozenset()
    return frozenset(ticked)


def offered(view: dict[str, Any]) -> frozenset[str]:
    """The findings the form already offers to confirm."""
    for block in view.get("blocks", []):
        if block.get("block_id") == CONFIRM_FIELD:
            return frozenset(o.get("value") for o in block.get("element", {}).get("options", []))
    return frozenset()


def needs_confirming(view: dict[str, Any], findings: list[Finding]) -> bool:
    """Whether the form must come back with boxes: a finding that may be confirmed is not offered
    yet (and all fit in one element)."""
    confirmable = [f for f in findings if f.overridable]
    if not confirmable or len(confirmable) > CONFIRMABLE_MAX:
        return False
    return any(key(f) not in offered(view) for f in confirmable)


def with_findings(view: dict[str, Any], findings: list[Finding]) -> dict[str, Any]:
    """The form again: typed values kept, each finding noted under its field (quoted, in plain
    text: it is shown to the person who typed it, nowhere else), and a box per finding that
    may be confirmed, ticked already if it was."""
    again = form_again(view, "Check what may identify the person, below its field.")
    ticked = confirmed(view)
    labels = {
        b.get("block_id"): b.get("label", {}).get("text", "")
        for b in again["blocks"]
        if b.get("type") == "input"
    }
    by_field: dict[str, list[Finding]] = {}
    for finding in findings:
        by_field.setdefault(finding.field, []).append(finding)
    blocks: list[Block] = []
    for block in again["blocks"]:
        block_id = str(block.get("block_id", ""))
        if block_id == CONFIRM_FIELD or block_id.startswith(NOTE_PREFIX):
            continue
        blocks.append(block)
        if block_id in by_field:
            blocks.append(
                {
                    "type": "context",
                    "block_id": NOTE_PREFIX + block_id,
                    "elements": [
                        plain(f"⚠️ {finding.message()}", 2000) for finding in by_field[block_id][:10]
                    ],
                }
            )
    options = [
        {
            "text": plain(f"{f.label.capitalize()}: “{f.excerpt}”", OPTION_TEXT_MAX),
            "description": plain(
                f"In “{labels.get(f.field, f.field)}”: it does not identify the person", OPTION_TEXT_MAX
            ),
            "value": key(f),
        }
        for f in findings
        if f.overridable
    ][:CONFIRMABLE_MAX]
    if options:
        element: Block = {"type": "checkboxes", "action_id": "value", "options": options}
        kept = [o for o in options if o["value"] in ticked]
        if kept:
            element["initial_options"] = kept
        # Right under the last field with a finding (and its note).
        noted = [i for i, b in enumerate(blocks) if str(b.get("block_id", "")).startswith(NOTE_PREFIX)]
        blocks.insert(
            noted[-1] + 1 if noted else len(blocks),
            {
                "type": "input",
                "block_id": CONFIRM_FIELD,
                "label": plain("Possible identifiers", 2000),
                "element": element,
                "optional": True,
                "hint": plain(
                    "Tick each one you have checked: it does not identify the person. "
                    "Your confirmation is recorded (never the text).",
                    2000,
                ),
            },
        )
    again["blocks"] = blocks
    return again
