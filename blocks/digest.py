"""The coordinator's digest as a direct message."""

from __future__ import annotations

from blocks.kit import Block, context, escape, fit_message, header, section
from services.digests import Digest


def digest(data: Digest, *, title: str) -> list[Block]:
    channel = {c.reference: c.channel_id for c in data.cases}

    def link(reference: str) -> str:
        return f"<#{channel[reference]}>" if channel.get(reference) else f"*{reference}*"

    blocks: list[Block] = [header(title)]

    def listed(heading: str, lines: list[str]) -> None:
        if lines:
            blocks.append(section(f"*{heading}*\n" + "\n".join(lines)))

    listed(
        "Reviews overdue",
        [f"• {link(c.reference)} was due {c.next_review_at:%Y-%m-%d}" for c in data.reviews_overdue[:20]],
    )
    listed(
        "Reviews this week",
        [
            f"• {link(c.reference)} on {c.next_review_at:%a %d %b %H:%M} UTC"
            for c in data.reviews_this_week[:20]
        ],
    )
    by_agency = []
    for agency, rows in list(data.overdue_by_agency.items())[:10]:
        items = ", ".join(f"{link(ref)} #{a.number} (due {a.due:%d %b})" for ref, a in rows[:6])
        more = f" and {len(rows) - 6} more" if len(rows) > 6 else ""
        by_agency.append(f"• *{escape(agency)}* — {len(rows)}: {items}{more}")
    listed("Overdue actions by agency", by_agency)
    listed(
        "Agencies silent for longer than the review cadence",
        [
            f"• {link(ref)}: {escape(agency)} — "
            + (f"{days} days since their last update" if days is not None else "nothing filed yet")
            for ref, agency, days in data.silent[:20]
        ],
    )
    listed(
        "Risk assessments since your last digest",
        [f"• {link(ref)}: {escape(agency)} → {risk}" for ref, agency, risk in data.risk_changes[-20:]],
    )
    for line in data.extra:
        blocks.append(section(line))
    blocks.append(context("`/digest daily|weekly|off [HH:MM]` changes how often this comes."))
    return fit_message(blocks)
