"""The App Home tab: a coordinator's tracker, or a member's own actions; never over 100 blocks."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from blocks.actions import line
from blocks.areas import figures_text
from blocks.kit import MAX_VIEW_BLOCKS, Block, actions, button, context, divider, escape, header, section
from blocks.messages import risk_label
from models import Action, clock
from services import oversight
from services.home import CaseRow, HomeData

CASES_SHOWN = 15
ACTIONS_SHOWN = 8


def _action_rows(rows: Sequence[Action], references: dict[int, str], limit: int) -> list[Block]:
    blocks = []
    for action in rows[:limit]:
        done = button("Done", f"action_done:{action.id}", str(action.id))
        blocks.append(section(line(action, reference=references.get(action.case_id)), accessory=done))
    if len(rows) > limit:
        blocks.append(
            context(f"…and {len(rows) - limit} more: `/action list overdue` or `/action list mine`.")
        )
    return blocks


def _case_row(row: CaseRow, now: datetime) -> Block:
    case = row.case
    parts = []
    for state in row.agencies:
        if state.last_update is None:
            parts.append(f"{escape(state.agency.name)}: nothing yet")
        else:
            parts.append(f"{escape(state.agency.name)}: {(now - state.last_update).days}d")
    review = getattr(case, "next_review_at", None)
    review_text = f" · review {review:%Y-%m-%d}" if review else ""
    where = f"<#{case.channel_id}>" if case.channel_id else case.reference
    return section(
        f"*{case.reference}* {risk_label(case.risk.value)} · {case.stage.value}{review_text} · {where}\n"
        f"_Since last update:_ " + "; ".join(parts)
    )


AREAS_SHOWN = 8


def _overseen(data: HomeData) -> list[Block]:
    """A regional or national coordinator's areas: counts only, the busiest first."""
    if not data.overseen:
        return []
    rows = sorted(data.overseen, key=lambda row: (-row.open_cases, row.area.slug))
    blocks: list[Block] = [divider(), header(f"Areas you oversee ({len(rows)})")]
    if len(rows) > 1:
        blocks.append(section(f"*All {len(rows)} areas*\n{figures_text(oversight.totals(rows))}"))
    for row in rows[:AREAS_SHOWN]:
        blocks.append(section(f"*{escape(row.area.name)}* `{row.area.slug}`\n{figures_text(row)}"))
    blocks.append(
        context(
            "Counts only. `/area figures [area|region]` for the rest, `/area cases <area>` for references."
        )
    )
    return blocks


def home(
    data: HomeData, *, now: datetime | None = None, extra: Sequence[Block] = (), top: Sequence[Block] = ()
) -> dict[str, Any]:
    """`top`: what needs an answer first (the hub's referrals, transfer offers), above a
    coordinator's cases; `extra` at the end."""
    now = now or clock.now()
    blocks: list[Block] = [header("casehub")]
    if data.is_coordinator:
        blocks.append(
            actions(
                button("Open a case", "home_open_case", "open", style="primary"),
                button("Refresh", "home_refresh", "refresh"),
            )
        )
        blocks.extend(top)
        blocks.append(header(f"Your open cases ({len(data.led)})"))
        if not data.led:
            blocks.append(section("You lead no open cases."))
        for row in data.led[:CASES_SHOWN]:
            blocks.append(_case_row(row, now))
        if len(data.led) > CASES_SHOWN:
            blocks.append(
                context(f"…and {len(data.led) - CASES_SHOWN} more, lower risk first hidden: `/case list`.")
            )
        silent = [(row.case.reference, row.silent) for row in data.led if row.silent]
        if silent:
            text = "\n".join(
                f"• *{ref}*: " + escape(", ".join(a.name for a in agencies)) for ref, agencies in silent[:20]
            )
            blocks.append(section("*Agencies that have filed nothing*\n" + text))
        blocks.append(divider())
        blocks.append(header(f"Overdue actions ({len(data.overdue)})"))
        if not data.overdue:
            blocks.append(section("Nothing overdue."))
        for agency, rows in list(data.overdue_by_agency().items())[:6]:
            blocks.append(section(f"*{escape(agency)}* — {len(rows)} overdue"))
            blocks.extend(_action_rows(rows, data.references, 4))
        blocks.append(header(f"Due this week ({len(data.due_this_week)})"))
        blocks.extend(
            _action_rows(data.due_this_week, data.references, ACTIONS_SHOWN)
            or [section("Nothing due this week.")]
        )
        blocks.append(divider())
    if not data.is_coordinator:
        blocks.extend(top)
    blocks.append(header(f"Your and your agencies' open actions ({len(data.member_actions)})"))
    blocks.extend(
        _action_rows(data.member_actions, data.references, ACTIONS_SHOWN) or [section("No open actions.")]
    )
    blocks.extend(_overseen(data))
    blocks.extend(extra)
    if len(blocks) > MAX_VIEW_BLOCKS:
        blocks = [*blocks[: MAX_VIEW_BLOCKS - 1], context("More is in `/action list` and `/case list`.")]
    return {"type": "home", "blocks": blocks}
