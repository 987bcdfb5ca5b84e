"""Repeat referrals among referrals: the person of a referral recorded on the record desk,
matched against earlier cases and referrals, linked or dismissed by the area's coordinators;
the referrer records whom they referred and sees nothing else. Services first, then the desk's
pages over HTTP through its real sign-in."""

from __future__ import annotations

import json
import re
from datetime import date, timedelta

import pytest
from sqlalchemy import select, text

from models import (
    AccessRecord,
    Agency,
    AgencyKind,
    AuditEvent,
    Awareness,
    Case,
    LinkDecision,
    Person,
    Referral,
    ReferralConsent,
    ReferralLink,
    ReferralState,
    Risk,
    Role,
    Stage,
    Urgency,
    utcnow,
)
from services import agencies, areas, identity, referral_matching
from services.errors import Conflict, NotAllowed
from services.identity import Identity
from tests.conftest import COORD, COORD2, POLICE, SCHOOL
from tests.desk_helpers import csrf, desk_settings, sign_in

NORTH_COORD = "UNORTH1"
CONCERN = "Pupil has been sharing extremist videos with classmates and talks of travelling abroad."
KHAN = Identity(given_names="Mohammed", family_names="Khan", date_of_birth=date(2009, 4, 7))
KHAN_AGAIN = Identity(given_names="Mohamed", family_names="Khan", date_of_birth=date(2009, 4, 7))
NOWAK = Identity(given_names="Zuzanna", family_names="Nowak", date_of_birth=date(2011, 11, 23))


@pytest.fixture
def settings_overrides(fake) -> dict[str, object]:
    return desk_settings(fake)


def new_referral(
    session, number: int, *, referrer: str = POLICE, area_id: int = 1, days_ago: int = 0
) -> Referral:
    agency = session.scalar(select(Agency).where(Agency.slug == "police"))
    received = utcnow() - timedelta(days=days_ago)
    referral = Referral(
        reference=f"Q{number:05d}",
        area_id=area_id,
        referrer=referrer,
        agency_id=agency.id,
        submitted_via=f"test:refer:{number}",
        concern=CONCERN,
        why_now="Seen this week.",
        risk=Risk.MODERATE,
        awareness=Awareness.UNKNOWN,
        consent=ReferralConsent.NOT_ASKED,
        urgency=Urgency.ROUTINE,
        received_at=received,
        ack_due_at=received + timedelta(days=1),
        decision_due_at=received + timedelta(days=5),
    )
    session.add(referral)
    session.flush()
    return referral


def new_case(session, number: int) -> Case:
    case = Case(
        reference=f"T{number:05d}",
        area_id=1,
        risk=Risk.MODERATE,
        summary="A case for the tests.",
        lead_user_id=COORD,
        opened_by=COORD,
        opened_via=f"test:{number}",
    )
    session.add(case)
    session.flush()
    return case


@pytest.fixture
def north(database, registry) -> int:
    """A second area, with a coordinator of its own (who coordinates nothing in `main`)."""
    with database.session() as session:
        area = areas.add(session, slug="north", name="North", actor="setup", request_ref="test")
        hub = agencies.add(
            session, slug="northhub", name="North Hub", kind=AgencyKind.LOCAL_AUTHORITY, actor="setup",
            request_ref="test",
        )  # fmt: skip
        areas.join(session, area=area, agency=hub, actor="setup", request_ref="test")
        agencies.set_member(
            session, agency=hub, user_id=NORTH_COORD, role=Role.COORDINATOR, actor="setup", request_ref="test"
        )
        return area.id


@pytest.fixture
def on_file(database, registry) -> dict[str, int]:
    """A case about Mohammed Khan, an earlier referral about Zuzanna Nowak, and a new referral."""
    with database.session() as session:
        case = new_case(session, 1)
        identity.save_identity(session, case, KHAN, COORD, "test:case")
        earlier = new_referral(session, 1, days_ago=30)
        referral_matching.save_identity(session, earlier, NOWAK, COORD, "test:earlier")
        later = new_referral(session, 2, referrer=SCHOOL)
        return {"case": case.id, "earlier": earlier.id, "later": later.id}


def test_a_referral_s_person_is_stored_like_a_case_s_and_matched_across_cases_and_referrals(
    database, on_file
):
    with database.session() as session:
        later = session.get_one(Referral, on_file["later"])
        referral_matching.save_identity(session, later, KHAN_AGAIN, SCHOOL, "test:later")  # the referrer
        person = session.scalar(select(Person).where(Person.referral_id == later.id))
        assert person.case_id is None and person.created_by == SCHOOL
        found = referral_matching.candidates(session, later, user=COORD, request_ref="desk:1")
        assert [(c.kind, c.id) for c in found] == [("case", on_file["case"])]  # Mohamed for Mohammed
        assert "given name a known variant (transliteration or nickname)" in found[0].reasons
        assert found[0].likely and found[0].identity.family_names == "Khan"
        # A third referral about Zuzanna finds the earlier referral, which never became a case.
        third = new_referral(session, 3, referrer=POLICE)
        spelt = Identity(given_names="Zusanna", family_names="Nowak", date_of_birth=date(2011, 11, 23))
        referral_matching.save_identity(session, third, spelt, POLICE, "test:third")
        found = referral_matching.candidates(session, third, user=COORD2, request_ref="desk:2")
        assert [(c.kind, c.reference) for c in found] == [("referral", "R-Q00001")]
        assert referral_matching.possible_matches(session, third) == 1
        # The earlier referral does not propose the later one: the later one proposes it.
        earlier = session.get_one(Referral, on_file["earlier"])
        assert referral_matching.candidates(session, earlier, user=COORD, request_ref="desk:3") == []
        # The case-to-case search skips referrals' persons; the case's page shows them apart.
        case = session.get_one(Case, on_file["case"])
        assert identity.candidates_for(session, case) == []
        assert [c.reference for c in referral_matching.referrals_for_case(
            session, case, user=COORD, request_ref="desk:4"
        )] == ["R-Q00002"]  # fmt: skip
    with database.reader() as session:
        views = {(a.case_id, a.view) for a in session.scalars(select(AccessRecord))}
        seen = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "referral.identity.viewed")
        ).all()
        recorded = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "referral.identity.recorded")
        ).all()
    assert (on_file["case"], "candidate") in views  # a case's person seen: its access log
    assert {e.details["referral"] for e in seen} == {"R-Q00001", "R-Q00002"}
    assert {(e.details["referral"], e.details["by"]) for e in recorded} >= {("R-Q00002", "referrer")}
    said = " ".join(json.dumps(e.details) for e in [*seen, *recorded])
    assert not any(word in said for word in ("Khan", "Mohamed", "Zuzanna", "Nowak", "2009-04-07"))


def test_decisions_replace_one_another_and_leave_the_pair_out(database, on_file):
    with database.session() as session:
        later = session.get_one(Referral, on_file["later"])
        referral_matching.save_identity(session, later, KHAN_AGAIN, COORD, "test:later")
        case = session.get_one(Case, on_file["case"])
        referral_matching.decide(
            session,
            later,
            LinkDecision.DISMISSED,
            case=case,
            actor=COORD,
            request_ref="test:d1",
            reason="Another boy",
            score=90,
        )
        assert referral_matching.candidates(session, later, user=COORD, request_ref="desk:1") == []
        assert referral_matching.possible_matches(session, later) == 0
        again = dict(case=case, actor=COORD2, request_ref="test:d2", reason="Same school")
        referral_matching.decide(session, later, LinkDecision.LINKED, **again)
        referral_matching.decide(session, later, LinkDecision.LINKED, **again)  # again: once
        [decided] = referral_matching.links(session, later)
        assert (decided.other, decided.decision, decided.decided_by) == (
            "Case T00001",
            LinkDecision.LINKED,
            COORD2,
        )
        assert decided.reason == "Same school"
        assert referral_matching.referral_links_of_case(session, case)[0][:2] == (
            "R-Q00002",
            LinkDecision.LINKED,
        )
        # Two referrals: one row whichever side it is decided from.
        earlier = session.get_one(Referral, on_file["earlier"])
        referral_matching.decide(
            session, earlier, LinkDecision.DISMISSED, other=later, actor=COORD, request_ref="test:d3"
        )
        referral_matching.decide(
            session, later, LinkDecision.LINKED, other=earlier, actor=COORD, request_ref="test:d4"
        )
        assert [d.other for d in referral_matching.links(session, earlier)] == ["Referral R-Q00002"]
    with database.reader() as session:
        assert (
            session.scalar(select(ReferralLink.id).where(ReferralLink.other_referral_id.is_not(None)))
            is not None
        )
        rows = session.scalars(select(ReferralLink)).all()
        entries = session.scalars(select(AuditEvent).where(AuditEvent.action.like("referral.%ed"))).all()
    assert len(rows) == 2
    decisions = [e for e in entries if e.action in ("referral.linked", "referral.dismissed")]
    assert len(decisions) == 8  # four decisions, each on both sides; the repeated delivery none
    assert {(e.case_id, e.details["referral"]) for e in decisions if e.case_id} == {
        (on_file["case"], "R-Q00002")
    }
    with database.engine.connect() as connection:
        stored = connection.execute(
            text("SELECT reason FROM referral_links WHERE reason IS NOT NULL")
        ).scalar()
    assert stored.startswith("v1:test:")  # the reason is encrypted


def test_only_the_area_s_coordinators_and_the_referrer_of_an_open_referral_may(database, on_file, north):
    with database.session() as session:
        later = session.get_one(Referral, on_file["later"])
        referral_matching.save_identity(session, later, KHAN_AGAIN, SCHOOL, "test:later")
        case = session.get_one(Case, on_file["case"])
        for outsider in (NORTH_COORD, POLICE):  # another area's coordinator; someone else's referral
            with pytest.raises(NotAllowed):
                referral_matching.show_identity(session, later, user=outsider, request_ref="x")
            with pytest.raises(NotAllowed):
                referral_matching.save_identity(session, later, KHAN, outsider, "x")
            with pytest.raises(NotAllowed):
                referral_matching.candidates(session, later, user=outsider, request_ref="x")
            with pytest.raises(NotAllowed):
                referral_matching.decide(
                    session, later, LinkDecision.LINKED, case=case, actor=outsider, request_ref="x"
                )
        # The referrer records and reads back whom they referred, and sees no candidate.
        assert referral_matching.show_identity(session, later, user=SCHOOL, request_ref="y") == KHAN_AGAIN
        with pytest.raises(NotAllowed):
            referral_matching.candidates(session, later, user=SCHOOL, request_ref="y")
        with pytest.raises(NotAllowed):
            dismiss = LinkDecision.DISMISSED
            referral_matching.decide(session, later, dismiss, case=case, actor=SCHOOL, request_ref="y")
        # Decided, the referral is no longer the referrer's to touch.
        later.state = ReferralState.SIGNPOSTED
        session.flush()
        with pytest.raises(NotAllowed):
            referral_matching.save_identity(session, later, KHAN, SCHOOL, "z")
        # A coordinator of another area whose area the referral is in may.
        north_referral = new_referral(session, 9, area_id=north)
        referral_matching.save_identity(session, north_referral, KHAN, NORTH_COORD, "test:north")
        with pytest.raises(NotAllowed):
            referral_matching.candidates(session, north_referral, user=COORD, request_ref="x")
        found = referral_matching.candidates(session, north_referral, user=NORTH_COORD, request_ref="x")
        assert {c.reference for c in found} >= {"T00001", "R-Q00002"}


def test_a_referral_that_became_a_case_is_treated_as_the_case(database, on_file):
    with database.session() as session:
        later = session.get_one(Referral, on_file["later"])
        referral_matching.save_identity(session, later, KHAN_AGAIN, COORD, "test:later")
        accepted = new_case(session, 2)
        person = session.scalar(select(Person).where(Person.referral_id == later.id))
        person.case_id, later.case_id, later.state = accepted.id, accepted.id, ReferralState.ACCEPTED
        session.flush()
        # It is proposed as the case it became, to the case on file as to anyone.
        case = session.get_one(Case, on_file["case"])
        assert [c.case_id for c in identity.candidates_for(session, case)] == [accepted.id]
        assert referral_matching.referrals_for_case(session, case, user=COORD, request_ref="x") == []
        found = referral_matching.candidates(session, later, user=COORD, request_ref="desk:1")
        assert [c.reference for c in found] == ["T00001"]  # not itself
        assert referral_matching.show_identity(session, later, user=COORD, request_ref="desk:2") == KHAN_AGAIN
        with pytest.raises(Conflict):
            referral_matching.save_identity(session, later, KHAN, COORD, "test:again")
    with database.reader() as session:
        views = {(a.case_id, a.view) for a in session.scalars(select(AccessRecord))}
    assert (accepted.id, "identity") in views  # its view is in the case's access log


def test_the_list_shows_the_open_referrals_of_one_s_areas_with_their_matches(database, on_file, north):
    with database.session() as session:
        later = session.get_one(Referral, on_file["later"])
        referral_matching.save_identity(session, later, KHAN_AGAIN, SCHOOL, "test:later")
        new_referral(session, 9, area_id=north)
        listed = referral_matching.open_referrals(session, COORD)
        assert [(r.reference, r.identity_recorded, r.possible_matches) for r in listed] == [
            ("R-Q00001", True, 0), ("R-Q00002", True, 1)
        ]  # fmt: skip
        assert [
            (r.reference, r.possible_matches) for r in referral_matching.open_referrals(session, SCHOOL)
        ] == [("R-Q00002", None)]
        assert [r.reference for r in referral_matching.open_referrals(session, NORTH_COORD)] == ["R-Q00009"]
        assert referral_matching.find(session, "r-q00002") is later
        assert referral_matching.find(session, "Q00002") is later


# ---- the desk ----------------------------------------------------------------------------------
PERSON = {
    "given_names": "Mohamed",
    "family_names": "Khan",
    "date_of_birth": "2009-04-07",
    "contacts": "07700 900123",
}


def test_a_coordinator_lists_the_referrals_records_the_person_and_links_an_earlier_case(
    slack, fake, database, desk, on_file
):
    browser, _ = sign_in(desk, fake, COORD)
    listed = browser.get(f"{desk}/referrals", timeout=10)
    assert listed.status_code == 200 and "R-Q00002" in listed.text and "R-Q00001" in listed.text
    page = browser.get(f"{desk}/referrals/R-Q00002", timeout=10)
    assert page.status_code == 200 and CONCERN in page.text and "Not recorded yet" in page.text
    form = browser.get(f"{desk}/referrals/R-Q00002/person", timeout=10)
    saved = browser.post(
        f"{desk}/referrals/R-Q00002/person", data={"csrf_token": csrf(form.text), **PERSON}, timeout=10
    )
    assert saved.status_code == 200 and "Mohamed Khan" in saved.text
    assert "Case T00001" in saved.text and "may be about the same person" in saved.text
    case_page = browser.get(f"{desk}/cases/T00001", timeout=10)  # the case sees the referral too
    assert "Referrals not opened as cases" in case_page.text and "Referral R-Q00002" in case_page.text
    forged = {"csrf_token": csrf(saved.text), "kind": "case", "other": "T00099", "decision": "link"}
    refused = browser.post(f"{desk}/referrals/R-Q00002/match", data=forged, timeout=10)
    assert refused.status_code == 400 and "is not proposed" in refused.text
    token = re.search(r'name="token" value="([^"]+)"', saved.text).group(1)
    decision = {**forged, "other": "T00001", "token": token, "reason": "Same date of birth and school"}
    browser.post(f"{desk}/referrals/R-Q00002/match", data=decision, timeout=10)  # a double click: one
    linked = browser.post(f"{desk}/referrals/R-Q00002/match", data=decision, timeout=10)
    assert "Case T00001: linked, the same person" in linked.text
    assert "may be about the same person" not in linked.text
    with database.reader() as session:
        assert len(session.scalars(select(ReferralLink)).all()) == 1
        entries = session.scalars(select(AuditEvent).where(AuditEvent.action.like("referral.%"))).all()
    said = json.dumps([e.details for e in entries]) + json.dumps([e.request_ref for e in entries])
    assert not any(word in said for word in ("Mohamed", "Khan", "2009-04-07", "900123", "school"))
    slack_saw = fake.all_text() + json.dumps([c.args for c in fake.calls])
    assert not any(word in slack_saw for word in ("Mohamed", "Khan", "2009-04-07", "900123"))
    case_page = browser.get(f"{desk}/cases/T00001", timeout=10)
    assert "R-Q00002: linked, the same person" in case_page.text
    assert "Referrals not opened as cases" not in case_page.text  # decided: not proposed again


def test_the_referrer_records_the_person_of_their_own_referral_and_sees_nothing_else(
    slack, fake, database, desk, on_file
):
    with database.session() as session:
        referral_matching.save_identity(
            session, session.get_one(Referral, on_file["earlier"]), KHAN, COORD, "t"
        )
    browser, answer = sign_in(desk, fake, SCHOOL)  # an agency member, referrer of R-Q00002
    assert answer.status_code == 200 and "R-Q00002" in answer.text and "R-Q00001" not in answer.text
    page = browser.get(f"{desk}/referrals/R-Q00002", timeout=10)
    assert page.status_code == 200 and CONCERN not in page.text
    form = browser.get(f"{desk}/referrals/R-Q00002/person", timeout=10)
    saved = browser.post(
        f"{desk}/referrals/R-Q00002/person", data={"csrf_token": csrf(form.text), **PERSON}, timeout=10
    )
    assert saved.status_code == 200 and "Who it is about is recorded" in saved.text
    assert "T00001" not in saved.text and "Mohammed" not in saved.text  # no candidate, no other record
    again = browser.get(f"{desk}/referrals/R-Q00002/person", timeout=10)  # to correct it
    assert 'value="Mohamed"' in again.text and "T00001" not in again.text
    for elsewhere in (
        "/referrals/R-Q00001",
        "/referrals/R-Q00001/person",
        "/cases/T00001",
        "/search?family_names=Khan",
    ):
        refused = browser.get(f"{desk}{elsewhere}", timeout=10)
        assert refused.status_code in (403, 404) and "Mohammed" not in refused.text
    decide = {"csrf_token": csrf(saved.text), "kind": "case", "other": "T00001", "decision": "link"}
    refused = browser.post(f"{desk}/referrals/R-Q00002/match", data=decide, timeout=10)
    assert refused.status_code == 404
    with database.reader() as session:
        assert session.scalars(select(ReferralLink)).all() == []


def test_another_area_s_coordinator_is_refused_a_referral(slack, fake, database, desk, on_file, north):
    fake.add_user(NORTH_COORD)
    browser, _ = sign_in(desk, fake, NORTH_COORD)
    for path in ("/referrals/R-Q00002", "/referrals/R-Q00002/person", "/referrals/ZZZZZZ"):
        refused = browser.get(f"{desk}{path}", timeout=10)
        assert refused.status_code == 404 and "No referral of yours" in refused.text
        assert CONCERN not in refused.text
    assert "R-Q00002" not in browser.get(f"{desk}/referrals", timeout=10).text


def test_a_case_deleted_under_retention_takes_its_referral_links_and_is_not_proposed(database, on_file):
    from services import retention

    now = utcnow()
    with database.session() as session:
        later = session.get_one(Referral, on_file["later"])
        referral_matching.save_identity(session, later, KHAN_AGAIN, COORD, "test:later")
        case = session.get_one(Case, on_file["case"])
        referral_matching.decide(
            session,
            later,
            LinkDecision.LINKED,
            case=case,
            actor=COORD,
            request_ref="test:link",
            reason="Same",
        )
        case.stage, case.closed_at = Stage.CLOSED, now - timedelta(days=8 * 366)
        case.retention_from = now - timedelta(days=7 * 366)
        case.retention_warned_at = now - timedelta(days=40)
    with database.session() as session:
        assert retention.purge_case(session, on_file["case"], now, retention.Schedule()) is not None
    with database.reader() as session:
        assert session.scalars(select(ReferralLink)).all() == []
        [entry] = session.scalars(select(AuditEvent).where(AuditEvent.action == "case.purged")).all()
        assert entry.details["removed"]["referral links"] == 1
        later = session.get_one(Referral, on_file["later"])
        assert referral_matching.possible_matches(session, later) == 0
        assert referral_matching.links(session, later) == []
