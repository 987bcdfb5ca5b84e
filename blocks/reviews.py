"""Block Kit for reviews: the record form."""

from __future__ import annotations

from datetime import date
from typing import Any

from blocks.kit import (
    datepicker,
    form,
    input_block,
    multi_static_select,
    option,
    section,
    static_select,
    text_input,
)
from blocks.modals import metadata
from models import Case, Risk

RECORD_FORM = "review_record"


def record_form(case: Case, *, today: date, next_review: date) -> dict[str, Any]:
    agencies = [option(a.name, a.slug) for a in case.agencies][:100]
    risks = [option(r.value.capitalize(), r.value) for r in Risk]
    return form(
        RECORD_FORM,
        title="Record a review",
        submit="Record",
        metadata=metadata(case=case.reference),
        blocks=[
            section(f"Review of case *{case.reference}*. Record decisions, not identities."),
            input_block("held_on", "Date held", datepicker(today.isoformat())),
            input_block("present", "Agencies present", multi_static_select(agencies, initial=agencies)),
            input_block("decisions", "Decisions", text_input(multiline=True)),
            input_block("risk_after", "Case risk after the review", static_select(risks, case.risk.value)),
            input_block("next_review", "Next review", datepicker(next_review.isoformat())),
            input_block(
                "actions",
                "Actions agreed",
                text_input(multiline=True),
                optional=True,
                hint="One a line: what | agency slug | YYYY-MM-DD, "
                "e.g. Share attendance | school | 2026-12-05",
            ),
        ],
    )
