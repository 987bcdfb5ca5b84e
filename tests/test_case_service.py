"""The case rules, directly on the service (no Slack)."""

from __future__ import annotations

import pytest

from models import Consent, Risk, Stage
from services import cases
from services.errors import CaseClosed, Conflict, InvalidInput, NotAllowed
from tests.conftest import COORD, POLICE


def draft(**overrides) -> cases.CaseDraft:
    values = dict(
        summary="A concern described without names.",
        risk=Risk.LOW,
        lead_user_id=COORD,
        agency_slugs=("police",),
    )
    values.update(overrides)
    return cases.CaseDraft(**values)


@pytest.fixture
def case(database, registry):
    with database.session() as session:
        opened, created = cases.open_case(
            session, draft=draft(), opener=COORD, opened_via="v1", request_ref="t"
        )
        assert created
        return opened.id


def test_references_use_crockford_letters_and_read_aloud_forgivingly():
    refs = {cases.new_reference() for _ in range(2000)}
    assert len(refs) > 1990
    assert all(len(r) == 6 and set(r) <= set(cases.REFERENCE_ALPHABET) for r in refs)
    assert not set("ILOU") & set(cases.REFERENCE_ALPHABET)
    assert cases.normalise_reference("k7q2mo") == "K7Q2M0"
    assert cases.normalise_reference("il-1234") == "111234"


def test_same_delivery_returns_the_first_case(database, case):
    with database.session() as session:
        again, created = cases.open_case(
            session, draft=draft(), opener=COORD, opened_via="v1", request_ref="t"
        )
    assert not created and again.id == case


def test_every_stage_transition_is_checked(database, case):
    for stage, allowed in cases.TRANSITIONS.items():
        for target in Stage:
            with database.reader() as session:  # never committed: each pair starts afresh
                c = session.get_one(cases.Case, case)
                c.stage, c.consent = stage, Consent.GIVEN
                ok = target in allowed
                if ok:
                    cases.move_stage(session, case=c, to=target, actor=COORD, request_ref="t")
                    assert c.stage is target
                else:
                    with pytest.raises((InvalidInput, CaseClosed, Conflict)):
                        cases.move_stage(session, case=c, to=target, actor=COORD, request_ref="t")


def test_non_lead_cannot_move_stage(database, case):
    with database.session() as session, pytest.raises(NotAllowed):
        cases.move_stage(
            session, case=session.get_one(cases.Case, case), to=Stage.SCREENING, actor=POLICE, request_ref="t"
        )


def test_parse_helpers():
    assert cases.parse_stage("Panel") is Stage.PANEL_DECISION
    assert cases.parse_stage("follow_up") is Stage.FOLLOW_UP
    assert cases.parse_risk("HIGH") is Risk.HIGH
    with pytest.raises(InvalidInput):
        cases.parse_consent("not-recorded")


def test_draft_checks_name_the_field():
    with pytest.raises(InvalidInput) as short:
        cases.check_draft(draft(summary="short"))
    assert short.value.field == "summary"
    with pytest.raises(InvalidInput) as long:
        cases.check_draft(draft(summary="x" * 2001))
    assert "limit is 2000" in long.value.message
