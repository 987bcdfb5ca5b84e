"""Block Kit for crises: the channel banner with its live status, and the pages."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from blocks.kit import (
    Block,
    actions,
    button,
    context,
    escape,
    form,
    header,
    input_block,
    section,
    text_input,
)
from models import Agency, Case, Crisis, Page

RAISE_FORM = "crisis_raise"


def banner(
    crisis: Crisis,
    case: Case,
    pages: Sequence[Page],
    agencies: dict[int, Agency],
    notice: str,
    unreachable: Sequence[str] = (),
) -> tuple[str, list[Block]]:
    """The emergency notice comes first, always; then the summary and who has answered."""
    lines = []
    for page in pages:
        who = escape(agencies[page.agency_id].name) if page.agency_id else "Lead coordinator"
        if page.acknowledged_at:
            lines.append(
                f"✅ *{who}*: <@{page.acknowledged_by}> acknowledged at {page.acknowledged_at:%H:%M} UTC"
            )
        elif page.escalate_at is None and page.agency_id is not None and crisis.state == "open":
            lines.append(f"⤴️ *{who}*: <@{page.user_id}> did not answer (escalated)")
        else:
            level = f" (escalation {page.level})" if page.level else ""
            lines.append(f"⏳ *{who}*: paged <@{page.user_id}>{level} at {page.created_at:%H:%M} UTC")
    for name in unreachable:
        lines.append(f"⚠️ *{escape(name)}*: nobody on call and no escalation chain")
    state = "OPEN" if crisis.state == "open" else f"RESOLVED — {escape(crisis.outcome or '')}"
    text = f"<!here> {notice} Crisis on case {case.reference}: {escape(crisis.summary[:200])}"
    blocks = [
        section(f"<!here> :rotating_light: *{escape(notice)}*"),
        header(f"Crisis on case {case.reference} — {'open' if crisis.state == 'open' else 'resolved'}"),
        section(
            f"*What is happening*\n{escape(crisis.summary)}\n_Raised by <@{crisis.raised_by}> at "
            f"{crisis.raised_at:%Y-%m-%d %H:%M} UTC_"
        ),
        section("*Status*\n" + ("\n".join(lines) or "Nobody could be paged.")),
        context(f"Crisis {state}. `/crisis resolve <outcome>` ends it."),
    ]
    return text, blocks


def page_message(
    crisis: Crisis, case: Case, page: Page, agency: Agency | None, notice: str, *, insider: bool = True
) -> tuple[str, list[Block]]:
    """A page. Someone outside the case (an admin at the end of a chain, an on-call person who is
    not in a participating agency) gets the reference, the notice and whom to call, not the summary."""
    role = f"on call for *{escape(agency.name)}*" if agency else "the lead coordinator"
    if page.level:
        role = f"next in the escalation chain of *{escape(agency.name if agency else '')}*"
    text = f"Crisis on case {case.reference}: please acknowledge. {notice}"
    if insider:
        body = (
            f"Crisis on case *{case.reference}* (<#{case.channel_id}>). You are paged as {role}.\n"
            f"*What is happening:* {escape(crisis.summary)}"
        )
    else:
        body = (
            f"Crisis on case *{case.reference}*. You are paged as {role}. You do not work on this "
            f"case, so what is happening is not shared here: call the lead coordinator, "
            f"<@{case.lead_user_id}>, or whoever raised it, <@{crisis.raised_by}>."
        )
    blocks = [
        section(f":rotating_light: *{escape(notice)}*"),
        section(body),
        actions(button("Acknowledge", "crisis_ack", str(page.id), style="danger")),
    ]
    return text, blocks


def acknowledged(case: Case, page: Page) -> list[Block]:
    return [
        section(
            f"✅ You acknowledged the crisis on case *{case.reference}* at "
            f"{page.acknowledged_at:%H:%M} UTC. Join partners in <#{case.channel_id}>."
        )
    ]


def email_text(crisis: Crisis, case: Case, notice: str, *, summary: bool, insider: bool) -> str:
    """Plain text that leaves the partnership's systems: the reference, the notice and where to
    look in Slack; the summary only when the settings ask for it and the recipient works on the case."""
    what = f"What is happening: {crisis.summary}\n\n" if summary and insider else ""
    where = (
        f"partners coordinate in the case channel, #{case.channel_name}"
        if insider and case.channel_name
        else "the page names the lead coordinator to call"
    )
    return (
        f"{notice}\n\nCrisis on case {case.reference}.\n{what}"
        f"Open Slack: acknowledge the page casehub sent you as a direct message; {where}.\n"
    )


def raise_form(case: Case, summary: str) -> dict[str, Any]:
    return form(
        RAISE_FORM,
        title="Raise a crisis",
        submit="Alert partners",
        metadata=case.reference,
        blocks=[
            section(
                "This pages the on-call person of every agency on the case, day or night. "
                "*In immediate danger, call the police first.*"
            ),
            input_block(
                "summary", "What is happening", text_input(multiline=True, max_length=1000, initial=summary)
            ),
        ],
    )


def who(lines: Sequence[tuple[str, str, str]], now: datetime) -> list[Block]:
    if not lines:
        return [section("No agencies to show.")]
    body = "\n".join(
        f"• *{escape(agency)}*: {current} · next: {upcoming}" for agency, current, upcoming in lines
    )
    return [section(f"*On call now* ({now:%Y-%m-%d %H:%M} UTC)\n{body}")]
