"""Block Kit for the action tracker: forms, the channel message with its buttons, lists."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

from blocks.kit import (
    Block,
    actions,
    button,
    checkbox_input,
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
    users_select,
)
from blocks.modals import metadata
from models import Action, Agency, Case, Priority, clock

ADD_FORM = "action_add"
EXTEND_FORM = "action_extend"
REASSIGN_FORM = "action_reassign"
PRIORITY_ICON = {"low": "▫️", "normal": "🔹", "high": "🔸", "urgent": "❗"}


def _agency_select(agencies: Sequence[Agency], initial: str | None) -> Block:
    return static_select([option(a.name, a.slug) for a in agencies], initial)


def add_form(case: Case, agencies: Sequence[Agency], *, today: date) -> dict[str, Any]:
    priorities = [option(p.value.capitalize(), p.value) for p in Priority]
    return form(
        ADD_FORM,
        title="Add an action",
        submit="Add action",
        metadata=metadata(case=case.reference),
        blocks=[
            input_block(
                "text",
                "What is to be done",
                text_input(multiline=True, max_length=500),
            ),
            input_block("agency", "Owning agency", _agency_select(agencies, None)),
            input_block("owner", "Owner (a person of that agency)", users_select(), optional=True),
            input_block("due", "Due date", datepicker((today + timedelta(days=7)).isoformat())),
            input_block("priority", "Priority", static_select(priorities, Priority.NORMAL.value)),
            checkbox_input(
                "confirm_duplicate", "Similar actions", "Save even if it looks like an open action"
            ),
        ],
    )


def extend_form(action: Action, case: Case) -> dict[str, Any]:
    return form(
        EXTEND_FORM,
        title=clip(f"Extend #{action.number}", 24),
        submit="Extend",
        metadata=metadata(case=case.reference, action=action.id),
        blocks=[
            section(f"*#{action.number}* {escape(clip(action.text, 2000))}\nDue {action.due.isoformat()}"),
            input_block("due", "New due date", datepicker((action.due + timedelta(days=7)).isoformat())),
            input_block("reason", "Why the date moves", text_input(max_length=500)),
        ],
    )


def reassign_form(action: Action, case: Case, agencies: Sequence[Agency]) -> dict[str, Any]:
    return form(
        REASSIGN_FORM,
        title=clip(f"Reassign #{action.number}", 24),
        submit="Reassign",
        metadata=metadata(case=case.reference, action=action.id),
        blocks=[
            section(f"*#{action.number}* {escape(clip(action.text, 2000))}"),
            input_block("agency", "Owning agency", _agency_select(agencies, action.agency.slug)),
            input_block("owner", "Owner", users_select(), optional=True),
        ],
    )


def line(action: Action, *, reference: str | None = None, today: date | None = None) -> str:
    today = today or clock.today()
    owner = f"<@{action.owner}>" if action.owner else "_no owner_"
    where = f"`{reference}` " if reference else ""
    if not action.is_open:
        state = "✅ done"
    elif action.due < today:
        state = f"⚠️ overdue since {action.due.isoformat()}"
    else:
        state = f"due {action.due.isoformat()}"
    icon = PRIORITY_ICON[action.priority.value]
    text = escape(clip(action.text, 300))
    return f"{where}*#{action.number}* {icon} {text} · {escape(action.agency.name)} · {owner} · {state}"


def action_message(action: Action, case: Case) -> tuple[str, list[Block]]:
    blocks = [section(line(action))]
    last = action.history[-1] if action.history else None
    if last is not None and last.kind != "created":
        note = {
            "done": "completed",
            "extended": "extended",
            "reassigned": "reassigned",
            "handed-over": "handed over",
        }.get(last.kind, last.kind)
        reason = f": {escape(last.details.get('reason', ''))}" if last.details.get("reason") else ""
        blocks.append(context(f"{note} by <@{last.actor}> on {last.at:%Y-%m-%d}{reason}"))
    if action.is_open:
        value = str(action.id)
        blocks.append(
            actions(
                button("Done", "action_done", value, style="primary"),
                button("Extend due date", "action_extend", value),
                button("Reassign", "action_reassign", value),
            )
        )
    return f"Action #{action.number}: {escape(clip(action.text, 200))}", blocks


def action_list(title: str, rows: Sequence[Action], references: dict[int, str] | None = None) -> list[Block]:
    if not rows:
        return [section(f"*{title}*\nNothing here.")]
    blocks: list[Block] = [header(title)]
    for action in rows[:45]:
        blocks.append(section(line(action, reference=(references or {}).get(action.case_id))))
    if len(rows) > 45:
        blocks.append(context(f"…and {len(rows) - 45} more. Narrow the list (mine, overdue) to see them."))
    return fit_message(blocks)


def duplicate_prompt(message: str, draft: dict[str, Any]) -> list[Block]:
    """`message` is the refusal's, mrkdwn already (`LooksDuplicate` escapes the action it quotes)."""
    value = json.dumps(draft, separators=(",", ":"))
    return [
        section(f":warning: {message}"),
        actions(
            button("Save anyway", "action_save_anyway", value, style="primary"),
            button("Cancel", "action_cancel", "cancel"),
        ),
    ]
