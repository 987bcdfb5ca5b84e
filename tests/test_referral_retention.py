"""Retention of referrals that never became cases: kept the shorter period after the hub's
decision, then their texts, their person and the links decided with them deleted; a marker
stays. A referral accepted as a case goes with the case."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select

from flows import retention as retention_flow
from models import (
    AuditEvent,
    Case,
    LinkDecision,
    Person,
    PersonKey,
    Referral,
    ReferralLink,
    ReferralState,
    Stage,
    utcnow,
)
from services import referral_matching, retention
from services.identity import Identity
from tests.conftest import COORD
from tests.test_referral_matching import new_case, new_referral

KHAN = Identity(given_names="Mohammed", family_names="Khan", date_of_birth=date(2009, 4, 7))


def decided(session, number: int, state: ReferralState, months_ago: int) -> Referral:
    referral = new_referral(session, number, days_ago=months_ago * 31 + 10)
    referral.state = state
    referral.decided_at = utcnow() - timedelta(days=months_ago * 31)
    referral.decided_by = COORD
    referral.decision_reason = "Signposted to Early Help for family support."
    referral.signposted_to = "Early Help"
    return referral


def test_a_referral_decided_long_ago_is_deleted_with_its_person_and_links(database, settings, registry):
    with database.session() as session:
        old = decided(session, 1, ReferralState.SIGNPOSTED, 37)
        recent = decided(session, 2, ReferralState.CLOSED, 35)
        still_open = new_referral(session, 3, days_ago=2000)
        referral_matching.save_identity(session, old, KHAN, COORD, "t:1")
        referral_matching.save_identity(session, recent, KHAN, COORD, "t:2")
        session.flush()
        referral_matching.decide(
            session, recent, LinkDecision.LINKED, actor=COORD, request_ref="t:3", other=old, reason="Same DOB"
        )
        ids = old.id, recent.id, still_open.id
    report = retention_flow.nightly(database, settings)
    assert len(report.referrals) == 1
    with database.reader() as session:
        gone, kept, untouched = (session.get_one(Referral, i) for i in ids)
        assert gone.purged_at is not None and gone.label in report.referrals
        assert (gone.concern, gone.why_now, gone.decision_reason, gone.signposted_to) == ("", "", None, None)
        assert gone.state is ReferralState.SIGNPOSTED and gone.decided_at is not None  # the marker
        assert kept.purged_at is None and kept.concern and untouched.purged_at is None
        people = session.scalars(select(Person.referral_id)).all()
        assert people == [recent.id]  # the deleted referral's person is gone, with its digests
        assert (
            session.scalar(select(PersonKey.person_id).where(PersonKey.person_id.not_in(select(Person.id))))
            is None
        )
        assert session.scalars(select(ReferralLink)).all() == []  # the link went with it
        entry = session.scalars(select(AuditEvent).where(AuditEvent.action == "referral.purged")).one()
        assert entry.details["referral"] == gone.label and "Khan" not in str(entry.details)
    again = retention_flow.nightly(database, settings)
    assert again.referrals == []  # done once


def test_a_referral_accepted_as_a_case_goes_with_the_case(database, registry):
    with database.session() as session:
        case = new_case(session, 1)
        referral = new_referral(session, 1)
        referral.state, referral.case_id = ReferralState.ACCEPTED, case.id
        referral.decided_at = utcnow() - timedelta(days=4000)
        referral_id, case_id = referral.id, case.id
        # Not a referral of its own any more: its schedule is the case's.
        assert retention.referrals_due(session, utcnow(), retention.Schedule()) == []
    with database.session() as session:
        case = session.get_one(Case, case_id)
        case.stage, case.closed_at = Stage.CLOSED, utcnow() - timedelta(days=4000)
        case.retention_from = case.closed_at
        case.retention_warned_at = utcnow() - timedelta(days=60)
    with database.session() as session:
        assert retention.purge_case(session, case_id, utcnow(), retention.Schedule()) is not None
    with database.reader() as session:
        referral = session.get_one(Referral, referral_id)
        assert referral.purged_at is not None and referral.concern == "" and referral.why_now == ""
