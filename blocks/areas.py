"""Areas as Slack shows them: the list, one area's settings, and what overseers see."""

from __future__ import annotations

from collections.abc import Sequence

from blocks.kit import Block, context, escape, fit_message, header, section
from models import Agency, Area, Stage
from services.areas import Calendar
from services.oversight import AreaFigures, CaseReference

WEEKDAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def area_list(shown: Sequence[Area]) -> list[Block]:
    if not shown:
        return [section('No areas yet. An admin adds them with `/area add <slug> "<Name>"`.')]
    blocks: list[Block] = [header(f"Areas ({len(shown)})")]
    for area in shown:
        region = f" · region `{area.region}`" if area.region else ""
        names = ", ".join(f"`{a.slug}`" for a in area.agencies) or "no agencies yet"
        blocks.append(section(f"*{escape(area.name)}* `{area.slug}`{region}\n{names}"))
    return fit_message(blocks, more="…more areas not shown")


def area_detail(
    area: Area, calendar: Calendar, agencies: Sequence[Agency], coordinators: Sequence[str]
) -> list[Block]:
    days = ", ".join(WEEKDAY_NAMES[d] for d in sorted(calendar.hours.weekdays))
    hub = f"<#{area.hub_channel_id}>" if area.hub_channel_id else "none yet (`/area set … hub-channel #…`)"
    fields = [
        f"*Region*\n{area.region or '—'}",
        f"*Time zone*\n{calendar.timezone}",
        f"*Working days*\n{days}",
        f"*Bank holidays*\n{calendar.holidays or 'none'}",
        f"*Case channels*\n`{calendar.prefix}-…`",
        f"*Reviews*\nevery {calendar.review_every_weeks} week(s)",
        f"*Hub channel*\n{hub}",
        f"*Service levels*\nreferral acknowledged in {area.referral_ack_days}, decided in "
        f"{area.referral_decision_days}; transfer answered in {area.transfer_days} working day(s)",
    ]
    names = ", ".join(f"{escape(a.name)} (`{a.slug}`)" for a in agencies) or "none yet"
    people = ", ".join(f"<@{u}>" for u in coordinators) or "none yet"
    return fit_message(
        [
            header(f"{area.name} ({area.slug})"[:150]),
            section(" ", fields=fields[:10]),
            section(f"*Agencies taking part*\n{names}"),
            section(f"*Coordinators*\n{people}"),
            context("Coordinators are those with the coordinator role in an agency taking part."),
        ]
    )


def _stage_line(row: AreaFigures) -> str:
    parts = [f"{stage.value} {row.by_stage[stage]}" for stage in Stage if row.by_stage.get(stage)]
    return ", ".join(parts) or "none"


def figures_text(row: AreaFigures) -> str:
    lines = [
        f"Open cases: *{row.open_cases}* ({_stage_line(row)})",
        f"Opened in the last 30 days: {row.opened_last_30_days} · closed in the last 12 months: "
        f"{row.closed_last_12_months} · overdue actions: {row.overdue_actions}",
    ]
    if row.extra:
        lines.append(" · ".join(f"{key}: {count}" for key, count in row.extra.items()))
    return "\n".join(lines)


def figures(rows: Sequence[AreaFigures], total: AreaFigures) -> list[Block]:
    blocks: list[Block] = [header("Areas: figures")]
    if len(rows) > 1:
        blocks.append(section(f"*All {len(rows)} areas*\n{figures_text(total)}"))
    for row in rows:
        blocks.append(section(f"*{escape(row.area.name)}* `{row.area.slug}`\n{figures_text(row)}"))
    blocks.append(context("Counts only: no case's content is shown here."))
    return fit_message(blocks, more="…more areas: name a region or an area")


def case_references(name: str, listed: Sequence[CaseReference]) -> list[Block]:
    if not listed:
        return [section("No open cases.")]
    lines = [f"`{c.reference}` · {c.stage.value} · opened {c.opened_on:%Y-%m}" for c in listed]
    blocks: list[Block] = [header(f"Open cases ({len(listed)})")]
    for start in range(0, len(lines), 40):
        blocks.append(section("\n".join(lines[start : start + 40])))
    blocks.append(context("References only: the cases' content is for their agencies."))
    return fit_message(blocks, more="…more cases not shown")
