"""Referrals on the desk: who a referral is about, and the earlier cases and referrals that may
be about the same person (`services.referral_matching`).

A coordinator sees the open referrals of the areas they coordinate, each referral's concern,
its person, the candidates with their evidence and score, and links or dismisses each with a
reason. The referrer of an open referral records whom they referred, and sees nothing else.
Who may is asked of the service at every request, from the referral's area; anyone else gets
the same answer whether or not the referral exists. The identity never goes into a URL: the
pages are addressed by the referral's reference, and the forms are posted.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

from flask import Flask, abort, g, redirect, request, url_for
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.db import Database
from desk import intake
from desk import person as person_fields
from models import Agency, Case, LinkDecision, Referral
from services import identity, referral_matching
from services.cases import normalise_reference
from services.errors import CasehubError, NotAllowed

Page = Callable[..., tuple[str, int]]
NOT_YOURS = "No referral of yours, or of an area you coordinate, has that reference."


def register(app: Flask, db: Database, page: Page) -> None:
    """The referral pages, on the desk's application."""

    def signed_in() -> Any:
        if g.person is None:
            abort(redirect(url_for("index")))
        return g.person

    def not_yours() -> tuple[str, int]:
        return page("refused.html", 404, title="Not found", reason=NOT_YOURS)

    def load(s: Session, reference: str, user: str) -> tuple[Referral, referral_matching.Standing] | None:
        try:
            referral = referral_matching.find(s, reference)
        except ValueError:
            return None
        if referral is None:
            return None
        try:
            return referral, referral_matching.standing(s, referral, user)
        except NotAllowed:
            return None

    @app.get("/referrals")
    def referrals_list() -> Any:
        """The open referrals of the areas one coordinates (and one's own), with whether their
        person is recorded and how many earlier cases or referrals may be about them."""
        person = signed_in()
        with db.reader() as s:
            listed = referral_matching.open_referrals(s, person.user_id)
        return page("referrals.html", title="Referrals", referrals=listed)

    @app.get("/referrals/<reference>")
    def referral_page(reference: str) -> Any:
        person = signed_in()
        ref = _ref()
        with db.session() as s:
            found = load(s, reference, person.user_id)
            if found is None:
                return not_yours()
            referral, standing = found
            values: dict[str, Any] = {
                "referral": referral,
                "standing": standing,
                "token": secrets.token_urlsafe(12),
            }
            if standing.coordinator:
                values["known"] = referral_matching.show_identity(
                    s, referral, user=person.user_id, request_ref=ref
                )
                values["agency"] = s.get_one(Agency, referral.agency_id).name
                values["candidates"] = referral_matching.candidates(
                    s, referral, user=person.user_id, request_ref=ref
                )
                values["decided"] = referral_matching.links(s, referral)
                became = referral_matching.case_of(s, referral)
                values["became"] = became.reference if became is not None else None
                values["lead"] = became is not None and became.lead_user_id == person.user_id
            else:  # the referrer: whether whom they referred is recorded, nothing more
                values["recorded"] = referral_matching.identity_of(s, referral) is not None
            return page("referral.html", title=f"Referral {referral.label}", **values)

    @app.get("/referrals/<reference>/person")
    def referral_person_form(reference: str) -> Any:
        person = signed_in()
        with db.session() as s:
            found = load(s, reference, person.user_id)
            if found is None:
                return not_yours()
            referral, _standing = found
            known = referral_matching.show_identity(s, referral, user=person.user_id, request_ref=_ref())
            label = referral.label
        values = person_fields.as_typed(known)
        return page("referral_person.html", title=f"Referral {label}: the person", label=label, values=values)

    @app.post("/referrals/<reference>/person")
    def referral_person_save(reference: str) -> Any:
        """The person recorded or corrected, and indexed; audited by the names of the fields
        changed, never their content."""
        person = signed_in()
        values = person_fields.typed(request.form)
        with db.session() as s:
            found = load(s, reference, person.user_id)
            if found is None:
                return not_yours()
            referral, _standing = found
            label = referral.label
            try:
                referral_matching.save_identity(
                    s, referral, person_fields.read(values), person.user_id, _ref()
                )
            except CasehubError as error:
                s.rollback()
                refused = intake.Refused(error.message, on=error.field)
                return page("referral_person.html", 400, title=f"Referral {label}: the person", label=label,
                            values=values, refused=refused)  # fmt: skip
        return redirect(url_for("referral_page", reference=label) + "#person-heading")

    @app.post("/referrals/<reference>/match")
    def referral_decide(reference: str) -> Any:
        """A coordinator of the referral's area says whether a candidate is the same person."""
        person = signed_in()
        decision = {"link": LinkDecision.LINKED, "dismiss": LinkDecision.DISMISSED}.get(
            request.form.get("decision", "")
        )
        kind = request.form.get("kind", "")
        if decision is None or kind not in (referral_matching.CASE, referral_matching.REFERRAL):
            return page("refused.html", 400, title="Choose a decision", reason="Link or dismiss.")
        with db.session() as s:
            found = load(s, reference, person.user_id)
            if found is None or not found[1].coordinator:
                return not_yours()
            referral = found[0]
            typed = request.form.get("other", "")
            case, other = None, None
            if kind == referral_matching.CASE:
                case = s.scalar(select(Case).where(Case.reference == _case_reference(typed)))
                other_id = case.id if case is not None else None
            else:
                other = referral_matching.find(s, typed) if typed.strip() else None
                other_id = other.id if other is not None else None
            allowed = referral_matching.decidable(s, referral)
            if other_id is None or (kind, other_id) not in allowed:
                why = "That is not proposed as about the same person as this referral."
                return page("refused.html", 400, title="Not recorded", reason=why)
            # The form's one-time token: sent twice (a double click), it is one decision.
            token = request.form.get("token", "")[:64] or secrets.token_urlsafe(12)
            ref = f"desk:referral-match:{referral.id}:{kind}:{other_id}:{token}"
            try:
                referral_matching.decide(
                    s, referral, decision, actor=person.user_id, request_ref=ref, case=case, other=other,
                    reason=request.form.get("reason"), score=allowed[(kind, other_id)],
                )  # fmt: skip
            except CasehubError as error:
                s.rollback()
                return page("refused.html", 400, title="Not recorded", reason=error.message)
            label = referral.label
        return redirect(url_for("referral_page", reference=label) + "#matches-heading")


def _case_reference(typed: str) -> str:
    try:
        return normalise_reference(typed)
    except ValueError:
        return ""


def case_referrals(s: Session, case: Case, *, user: str, ref: str) -> dict[str, Any]:
    """For a case's page: the referrals that never became a case whose person may be the same,
    and the referrals decided on with the case."""
    if identity.identity_of(s, case) is None:
        found = []
    else:
        found = referral_matching.referrals_for_case(s, case, user=user, request_ref=ref)
    return {
        "referral_candidates": found,
        "referral_decided": referral_matching.referral_links_of_case(s, case),
    }


def _ref() -> str:
    return f"desk:{request.method} {request.path}:{secrets.token_hex(6)}"
