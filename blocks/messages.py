"""Messages casehub posts: case headers, status cards, lists, notices and refusals.

Nothing here may carry the person's identity: only the pseudonymous reference, roles,
agencies and the coordinator-written summary (which the forms tell people to keep nameless).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from blocks.kit import (
    Block,
    actions,
    button,
    clip,
    context,
    escape,
    fit_message,
    header,
    section,
)
from models import AccessRecord, Agency, Case, Consent, Membership, Stage
from services.errors import CasehubError

TOPIC_MAX = 250

NEXT_STEPS: dict[Stage, str] = {
    Stage.REFERRAL: "Police screening and deconfliction.",
    Stage.SCREENING: "Partners share what they hold; information-sharing requests go out.",
    Stage.ASSESSMENT: "Multi-agency assessment: engagement, intent, capability.",
    Stage.PANEL_DECISION: "Panel decides: adopt with a lead, signpost, or leave to police.",
    Stage.SUPPORT: "Deliver the support plan and review it regularly.",
    Stage.EXIT: "Closing report; plan follow-up reviews at 6 and 12 months.",
    Stage.FOLLOW_UP: "Hold the follow-up reviews, then close the case.",
    Stage.CLOSED: "Closed. Kept for the record only.",
}

RISK_ICON = {"low": "🟢", "moderate": "🟡", "high": "🟠", "critical": "🔴"}


# Broadcasts as Slack sends them in a command's text. casehub never writes one in a refusal, so
# any a refusal carries was echoed from what the person typed ("`<!channel>` is not a person").
_BROADCAST = re.compile(r"<!(?:channel|here|everyone|subteam\^)[^>]*>")


def refusal(error: CasehubError) -> str:
    text = f":warning: {error.message}" + (f"\n{error.hint}" if error.hint else "")
    return _BROADCAST.sub(lambda match: escape(match.group(0)), text)


def usage(title: str, lines: Sequence[str], example: str, who: str) -> str:
    body = "\n".join(f"• `{line}`" for line in lines)
    return f"*{title}*\n{body}\n*Example:* `{example}`\n*Who:* {who}"


def risk_label(risk: str) -> str:
    return f"{RISK_ICON.get(risk, '')} {risk}".strip()


def agency_names(agencies: Sequence[Agency]) -> str:
    return ", ".join(a.name for a in agencies) or "none"


def case_topic(case: Case) -> str:
    text = (
        f"Case {case.reference} · stage: {case.stage.value} · risk: {case.risk.value} · "
        "need-to-know: do not name the person here"
    )
    return clip(text, TOPIC_MAX)


def case_header(case: Case, agencies: Sequence[Agency]) -> list[Block]:
    return [
        header(f"Case {case.reference}"),
        section(
            "This private channel is for the agencies working on this case. "
            "*Do not name the person concerned here* — use the reference. "
            "casehub keeps the record; Slack is the working space.",
            fields=[
                f"*Lead coordinator*\n<@{case.lead_user_id}>",
                f"*Stage*\n{case.stage.value}",
                f"*Risk*\n{risk_label(case.risk.value)}",
                f"*Agencies*\n{escape(agency_names(agencies))}",
            ],
        ),
        section(f"*Next steps*\n{NEXT_STEPS[case.stage]}"),
        context("`/case status` shows the case card · `/case help` lists what you can do"),
    ]


def case_header_text(case: Case) -> str:
    return f"Case {case.reference}: stage {case.stage.value}, risk {case.risk.value}"


def case_card(case: Case, agencies: Sequence[Agency], *, extra: Sequence[Block] = ()) -> list[Block]:
    consent = case.consent.value
    if case.consent is not Consent.NOT_RECORDED and case.consent_date:
        consent += f" ({case.consent_date.isoformat()})"
    blocks = [
        header(f"Case {case.reference}"),
        section(f"*Concern*\n{escape(case.summary)}"),
        section(
            "",
            fields=[
                f"*Lead coordinator*\n<@{case.lead_user_id}>",
                f"*Stage*\n{case.stage.value}",
                f"*Risk*\n{risk_label(case.risk.value)}",
                f"*Consent*\n{consent}",
                f"*Opened*\n{case.opened_at:%Y-%m-%d}",
                f"*Agencies*\n{escape(agency_names(agencies))}",
            ],
        ),
        *extra,
        context(f"Next steps: {NEXT_STEPS[case.stage]}"),
    ]
    return fit_message(blocks)


def case_list(cases: Sequence[Case]) -> list[Block]:
    if not cases:
        return [section("You lead no open cases. `/case open` opens one.")]
    blocks: list[Block] = [header(f"Your open cases ({len(cases)})")]
    for case in cases:
        where = f"<#{case.channel_id}>" if case.channel_id else "_channel not set up yet_"
        blocks.append(
            section(f"*{case.reference}* · {case.stage.value} · {risk_label(case.risk.value)} · {where}")
        )
    return fit_message(blocks, more=f"…{len(cases) - 48} more; narrow the list in the Home tab")


def access_log(reference: str, seen: Sequence[AccessRecord]) -> list[Block]:
    """Who was shown what of a case, newest first (the last 50)."""
    from services.access import SHOWN, VIEWS

    blocks: list[Block] = [header(f"Who has read case {reference}")]
    if not seen:
        return [*blocks, section("Nobody has been shown this case's content yet.")]
    lines = [
        f"{record.at:%Y-%m-%d %H:%M} UTC · {_viewer(record.user_id)} · {VIEWS[record.view]}"
        for record in seen
    ]
    for start in range(0, len(lines), 10):
        blocks.append(section("\n".join(lines[start : start + 10])))
    more = " (the newest 50)" if len(seen) >= SHOWN else ""
    blocks.append(
        context(
            f"Every view of the case card, timeline, sharing log, access log, Home and every export is "
            f"recorded{more}."
        )
    )
    return fit_message(blocks, more="…")


def _viewer(user_id: str) -> str:
    """A person in Slack, or an operator on the command line (`cli:<login>`)."""
    if user_id.startswith("cli:"):
        return f"`{escape(user_id[4:])}` on the command line"
    return f"<@{user_id}>"


def agency_list(agencies: Sequence[Agency], members: Mapping[int, Sequence[Membership]]) -> list[Block]:
    if not agencies:
        return [section("No agencies yet. An admin adds them with `/agency add`.")]
    blocks: list[Block] = [header(f"Agencies ({len(agencies)})")]
    for agency in agencies:
        people = members.get(agency.id, ())
        roster = ", ".join(f"<@{m.user_id}> ({m.role.value})" for m in people) or "no members yet"
        blocks.append(section(f"*{escape(agency.name)}* `{agency.slug}` · {agency.kind.value}\n{roster}"))
    return fit_message(blocks, more="…more agencies not shown")


def case_ready(case: Case, *, unreachable: Sequence[str] = ()) -> str:
    text = f":white_check_mark: Case *{case.reference}* is open in <#{case.channel_id}>."
    if unreachable:
        people = ", ".join(f"<@{u}>" for u in unreachable)
        text += f"\nThese people could not be invited and need adding by hand: {people}."
    return text


def case_setup_failed(case: Case, problem: str) -> list[Block]:
    return [
        section(
            f":warning: Case *{case.reference}* is recorded, but its Slack channel is not "
            f"finished: {escape(problem)}.\nNothing is lost: retry to complete it."
        ),
        actions(button("Retry setup", "case_setup_retry", case.reference, style="primary")),
    ]


def closing_message(case: Case) -> list[Block]:
    return [
        section(
            f":lock: Case *{case.reference}* is closed by <@{case.lead_user_id}>. "
            "This channel will be archived; the case record is kept by casehub."
        )
    ]


def archive_failed(case: Case, problem: str) -> list[Block]:
    return [
        section(
            f":warning: Case *{case.reference}* is closed, but its channel could not be "
            f"archived: {escape(problem)}."
        ),
        actions(button("Retry archiving", "case_archive_retry", case.reference)),
    ]


def stranger_joined(case: Case, user_id: str, *, removed: bool) -> str:
    action = "They have been removed." if removed else "Remove them if they have no need to know."
    return (
        f":eyes: <@{user_id}> joined the channel of case *{case.reference}* (<#{case.channel_id}>) "
        f"but is not in a participating agency. {action}"
    )


def membership_notice(added: Sequence[str], removed: Sequence[str]) -> str | None:
    parts = []
    if added:
        parts.append("joined: " + ", ".join(f"<@{u}>" for u in added))
    if removed:
        parts.append("left (no longer need to know): " + ", ".join(f"<@{u}>" for u in removed))
    return "Channel membership updated — " + "; ".join(parts) if parts else None


def stage_notice(case: Case, previous: Stage, reason: str | None = None) -> str:
    text = f"Case *{case.reference}* moved from {previous.value} to *{case.stage.value}*."
    if reason:
        text += f" ({reason})"
    return text + f"\nNext: {NEXT_STEPS[case.stage]}"


def stranger_joined_not_removed(notice: str) -> str:
    return notice.replace("They have been removed.", "Removing them failed: please remove them by hand.")


def handover_briefing(result: Any, briefing: Sequence[tuple[Case, Sequence[Any]]]) -> list[Block]:
    blocks: list[Block] = [
        header("Your hand-over briefing"),
        section(
            f"You now hold <@{result.predecessor}>'s role as *{result.role.value}* of "
            f"*{escape(result.agency.name)}*. {len(briefing)} case(s) are now in your care."
        ),
    ]
    for case, open_actions in briefing[:40]:
        lead = " · *you are the lead coordinator*" if case.lead_user_id == result.successor else ""
        review = getattr(case, "next_review_at", None)
        review_text = f" · next review {review:%Y-%m-%d}" if review else ""
        items = (
            "\n".join(
                f"  • #{a.number} {escape(clip(a.text, 120))} (due {a.due.isoformat()})"
                for a in open_actions[:5]
            )
            or "  • no open actions of yours"
        )
        where = f"<#{case.channel_id}>" if case.channel_id else ""
        blocks.append(
            section(
                f"*{case.reference}* {where} · risk {risk_label(case.risk.value)}{lead}{review_text}\n{items}"
            )
        )
    return fit_message(blocks)
