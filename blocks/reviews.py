"""Block Kit for reviews: the record form."""

from __future__ import annotations

from datetime import date
from typing import Any

from blocks.kit import form, input_block, option, section
from blocks.modals import metadata
from models import Case, Risk

RECORD_FORM = "review_record"


def record_form(case: Case, *, today: date, next_review: date) -> dict[str, Any]:
    agencies = [option(a.name, a.slug) for a in case.agencies][:100]
    risks = [option(r.value.capitalize(), r.value) for r in Risk]
    current = next(o for o in risks if o["value"] == case.risk.value)
    return form(
        RECORD_FORM,
        title="Record a review",
        submit="Record",
        metadata=metadata(case=case.reference),
        blocks=[
            section(f"Review of case *{case.reference}*. Record decisions, not identities."),
            input_block(
                "held_on",
                "Date held",
                {"type": "datepicker", "action_id": "value", "initial_date": today.isoformat()},
            ),
            input_block(
                "present",
                "Agencies present",
                {
                    "type": "multi_static_select",
                    "action_id": "value",
                    "options": agencies,
                    "initial_options": agencies,
                },
            ),
            input_block(
                "decisions",
                "Decisions",
                {"type": "plain_text_input", "action_id": "value", "multiline": True, "max_length": 3000},
            ),
            input_block(
                "risk_after",
                "Case risk after the review",
                {"type": "static_select", "action_id": "value", "options": risks, "initial_option": current},
            ),
            input_block(
                "next_review",
                "Next review",
                {"type": "datepicker", "action_id": "value", "initial_date": next_review.isoformat()},
            ),
            input_block(
                "actions",
                "Actions agreed",
                {"type": "plain_text_input", "action_id": "value", "multiline": True, "max_length": 3000},
                optional=True,
                hint="One a line: what | agency slug | YYYY-MM-DD, "
                "e.g. Share attendance | school | 2026-12-05",
            ),
        ],
    )
