"""The record desk over HTTP: Sign in with Slack, who is let in, sessions, CSRF, headers, and
what each person sees of a case (recorded in the access log)."""

from __future__ import annotations

import json
import re
import time
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from sqlalchemy import select

from models import AccessRecord, AuditEvent, Case
from tests.conftest import ADMIN, COORD, COORD2, POLICE
from tests.desk_helpers import DPO, csrf, desk_settings, sign_in
from tests.helpers import SUMMARY, open_case


@pytest.fixture
def settings_overrides(fake) -> dict[str, object]:
    return desk_settings(fake)


def test_a_coordinator_signs_in_with_slack_and_sees_the_cases_they_lead(slack, fake, database, desk):
    case = open_case(slack, database)
    browser, answer = sign_in(desk, fake, COORD)
    assert answer.status_code == 200 and answer.url == f"{desk}/"
    assert case.reference in answer.text and "Signed in as" in answer.text and COORD in answer.text
    assert [c.method for c in fake.calls if c.method.startswith("openid")] == [
        "openid.connect.authorize",
        "openid.connect.token",
    ]
    record = browser.get(f"{desk}/cases/{case.reference}", timeout=10)
    assert record.status_code == 200 and SUMMARY in record.text and "Chronology" in record.text
    with database.reader() as session:
        views = [(a.user_id, a.view) for a in session.scalars(select(AccessRecord).order_by(AccessRecord.id))]
    assert (COORD, "desk-cases") in views and (COORD, "desk-case") in views


@pytest.mark.parametrize(
    ("user", "said"),
    [
        (POLICE, "The desk is for coordinators and data protection officers"),  # an agency member
        ("UNOBODY", "The desk is for coordinators and data protection officers"),  # no role at all
        (None, "Slack did not sign you in"),  # not signed in to Slack in this browser
    ],
)
def test_only_coordinators_and_officers_are_let_in(slack, fake, desk, user, said):
    if user == "UNOBODY":
        fake.add_user(user)
    browser, answer = sign_in(desk, fake, user)
    assert answer.status_code == 403 and said in answer.text
    assert "Sign in with Slack" in browser.get(f"{desk}/", timeout=10).text  # still signed out


def test_an_officer_sees_every_case_but_not_its_content(slack, fake, database, desk):
    case = open_case(slack, database, user=COORD2)
    browser, answer = sign_in(desk, fake, DPO)
    assert case.reference in answer.text and "without its content" in answer.text
    record = browser.get(f"{desk}/cases/{case.reference}", timeout=10)
    assert record.status_code == 200 and "Retention" in record.text and "Who has read it" in record.text
    assert SUMMARY not in record.text and "Chronology" not in record.text


def test_a_coordinator_cannot_read_a_case_they_do_not_lead(slack, fake, database, desk):
    case = open_case(slack, database, user=COORD2)
    browser, _ = sign_in(desk, fake, COORD)
    for reference in (case.reference, "ZZZZZZ"):  # the same answer whether or not it exists
        answer = browser.get(f"{desk}/cases/{reference}", timeout=10)
        assert answer.status_code == 404 and "You lead no case with that reference" in answer.text
    assert SUMMARY not in answer.text


def test_a_tampered_state_or_a_replayed_code_signs_nobody_in(slack, fake, desk):
    browser = requests.Session()
    fake.openid.signed_in = COORD
    to_slack = browser.get(f"{desk}/signin", allow_redirects=False, timeout=10)
    authorize = browser.get(to_slack.headers["Location"], allow_redirects=False, timeout=10)
    back = urlsplit(authorize.headers["Location"])
    code = parse_qs(back.query)["code"][0]
    forged = browser.get(f"{desk}/auth?code={code}&state=forged", timeout=10)
    assert forged.status_code == 400 and "could not be verified" in forged.text
    assert "Sign in with Slack" in browser.get(f"{desk}/", timeout=10).text
    other = requests.Session()  # someone else's browser, with a stolen code: no state at all
    assert other.get(authorize.headers["Location"], timeout=10).status_code == 400


def test_a_session_ends_after_thirty_idle_minutes(slack, fake, desk, monkeypatch):
    browser, answer = sign_in(desk, fake, COORD)
    assert "Signed in as" in answer.text
    later = time.time() + 31 * 60
    monkeypatch.setattr(time, "time", lambda: later)
    answer = browser.get(f"{desk}/", timeout=10)
    assert "Your session ended" in answer.text and "Signed in as" not in answer.text


def test_a_form_without_its_csrf_token_is_refused(slack, fake, desk):
    browser, answer = sign_in(desk, fake, COORD)
    refused = browser.post(f"{desk}/signout", data={"csrf_token": "forged"}, timeout=10)
    assert refused.status_code == 400 and "This form cannot be accepted" in refused.text
    assert "Signed in as" in browser.get(f"{desk}/", timeout=10).text  # still signed in
    out = browser.post(f"{desk}/signout", data={"csrf_token": csrf(answer.text)}, timeout=10)
    assert "Sign in with Slack" in out.text


def test_every_page_carries_the_security_headers_and_a_locked_cookie(slack, fake, desk):
    browser, answer = sign_in(desk, fake, COORD)
    headers = answer.headers
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert headers["X-Frame-Options"] == "DENY" and headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Cache-Control"] == "no-store"
    cookie = next(c for c in browser.cookies if c.name == "casehub_desk")
    assert cookie.has_nonstandard_attr("HttpOnly") and cookie.path == "/desk"


def test_the_desk_is_not_served_without_sign_in_with_slack(slack, fake, database, registry):
    from bot.web import desk_for
    from tests.conftest import make_settings

    assert desk_for(database, make_settings(fake, database)) is None
    assert ADMIN  # the admin has no way in either: the desk is off


def test_only_the_lead_downloads_an_export_and_only_with_the_form_s_token(slack, fake, database, desk):
    case = open_case(slack, database, user=COORD2)
    browser, answer = sign_in(desk, fake, COORD)
    token = csrf(answer.text)
    form = {"csrf_token": token, "purpose": "court", "format": "pdf"}
    refused = browser.post(f"{desk}/cases/{case.reference}/export", data=form, timeout=30)
    assert refused.status_code == 404 and "You lead no case" in refused.text
    lead, page = sign_in(desk, fake, COORD2)
    forged = lead.post(f"{desk}/cases/{case.reference}/export", data=form, timeout=30)  # another's token
    assert forged.status_code == 400
    form["csrf_token"] = csrf(page.text)
    made = lead.post(f"{desk}/cases/{case.reference}/export", data={**form, "format": "json"}, timeout=30)
    assert made.status_code == 200 and made.headers["Content-Type"].startswith("application/json")
    assert made.json()["reference"] == case.reference
    wrong = lead.post(f"{desk}/cases/{case.reference}/export", data={**form, "purpose": "press"}, timeout=30)
    assert wrong.status_code == 400 and "Choose subject, agency or court" in wrong.text


def intake(browser: requests.Session, desk: str, **values: object) -> requests.Response:
    form = browser.get(f"{desk}/intake", timeout=10)
    assert form.status_code == 200
    token = re.search(r'name="token" value="([^"]+)"', form.text)
    assert token
    data = {
        "csrf_token": csrf(form.text),
        "token": token.group(1),
        "summary": "A pupil has been sharing extremist videos in class; attendance is falling.",
        "risk": "high",
        "lead": COORD,
        "agencies": ["police", "school"],
        "review_weeks": "4",
        **values,
    }
    return browser.post(f"{desk}/intake", data=data, timeout=30)


def test_a_coordinator_opens_a_case_from_the_desk_and_its_channel_is_made_by_reference(
    slack, fake, database, desk
):
    browser, _ = sign_in(desk, fake, COORD)
    answer = intake(browser, desk, agency_reference="PC-2026-77")
    assert answer.status_code == 200 and "is open" in answer.text and "ready in" in answer.text
    with database.reader() as session:
        [case] = session.scalars(select(Case)).all()
        assert (case.lead_user_id, case.opened_via.startswith("desk:intake:")) == (COORD, True)
        assert case.agency_reference == "PC-2026-77"
    channel = fake.channels[case.channel_id]
    assert POLICE in channel.members and case.reference.lower() in channel.name
    assert "PC-2026-77" not in fake.all_text()  # the agency's reference stays in the record


def test_the_same_intake_form_sent_twice_opens_one_case(slack, fake, database, desk):
    browser, _ = sign_in(desk, fake, COORD)
    form = browser.get(f"{desk}/intake", timeout=10)
    token = re.search(r'name="token" value="([^"]+)"', form.text).group(1)
    data = {
        "csrf_token": csrf(form.text), "token": token, "summary": "Concerning posts online, shared in class.",
        "risk": "moderate", "lead": COORD, "agencies": ["school"], "review_weeks": "4",
    }  # fmt: skip
    first = browser.post(f"{desk}/intake", data=data, timeout=30)
    again = browser.post(f"{desk}/intake", data=data, timeout=30)
    assert first.url == again.url  # the same case's page
    with database.reader() as session:
        assert len(session.scalars(select(Case)).all()) == 1
    assert len([c for c in fake.calls if c.method == "conversations.create"]) == 1


def test_a_mistake_in_the_intake_form_is_shown_and_keeps_what_was_typed(slack, fake, database, desk):
    browser, _ = sign_in(desk, fake, COORD)
    answer = intake(browser, desk, summary="Too short", agencies=["police"])
    assert answer.status_code == 400 and "Nothing was saved" in answer.text
    assert "at least 10 characters" in answer.text and ">Too short</textarea>" in answer.text
    answer = intake(browser, desk, agencies=[])
    assert answer.status_code == 400 and "Choose at least one participating agency" in answer.text
    with database.reader() as session:
        assert session.scalars(select(Case)).all() == []


def test_a_name_in_the_concern_must_be_confirmed_before_the_case_is_opened(slack, fake, database, desk):
    browser, _ = sign_in(desk, fake, COORD)
    summary = "Tutor reports that Jamie Thornton shares extremist videos in class."
    answer = intake(browser, desk, summary=summary)
    assert answer.status_code == 400 and "does not" in answer.text and "identify the person" in answer.text
    key = re.search(r'name="confirmed" value="([^"]+)"', answer.text)
    assert key, "a name may be confirmed as not identifying the person"
    answer = intake(browser, desk, summary=summary, confirmed=[key.group(1)])
    assert answer.status_code == 200 and "is open" in answer.text


def test_an_officer_does_not_open_cases(slack, fake, desk):
    browser, _ = sign_in(desk, fake, DPO)
    answer = browser.get(f"{desk}/intake", timeout=10)
    assert answer.status_code == 403 and "Only coordinators open cases" in answer.text


def test_behind_tls_the_desk_sends_hsts_and_secure_cookies(fake, database, registry):
    from bot.web import desk_for
    from tests.conftest import make_settings

    settings = make_settings(
        fake, database, **desk_settings(fake), desk_url="https://casehub.example.org/desk"
    )
    desk_app = desk_for(database, settings)
    assert desk_app is not None
    from werkzeug.middleware.dispatcher import DispatcherMiddleware
    from werkzeug.test import Client

    mounted = DispatcherMiddleware(lambda environ, start: [], {"/desk": desk_app})  # as it is served
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "casehub.example.org"}
    answer = Client(mounted).get("/desk/signin", headers=forwarded)
    assert answer.status_code == 302 and answer.headers["Location"].startswith(fake.url)
    assert "redirect_uri=https%3A%2F%2Fcasehub.example.org%2Fdesk%2Fauth" in answer.headers["Location"]
    assert answer.headers["Strict-Transport-Security"].startswith("max-age=")
    cookie = answer.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


PERSON = {
    "given_names": "Mohammed",
    "family_names": "Khan",
    "date_of_birth": "2009-04-07",
    "address": "14 Larch Road, Northfield",
    "school_or_employer": "Northfield Academy",
    "contacts": "Mother: 07700 900123",
}


def test_the_person_is_recorded_on_intake_and_a_misspelt_repeat_referral_is_found(
    slack, fake, database, desk
):
    browser, _ = sign_in(desk, fake, COORD)
    first = intake(browser, desk, **PERSON)
    assert first.status_code == 200 and "Mohammed Khan" in first.text
    earlier = re.search(r"<h1>Case (\w+)</h1>", first.text).group(1)
    # Referred again months later, by another agency, spelt otherwise, day and month swapped.
    again = intake(
        browser, desk, given_names="Muhammad", family_names="Kahn", date_of_birth="2009-07-04",
        agencies=["school"], summary="Teacher reports a pupil voicing support for violent extremism.",
    )  # fmt: skip
    assert again.status_code == 200 and f"Case {earlier}" in again.text
    assert "may be about the same person" in again.text
    later = re.search(r"<h1>Case (\w+)</h1>", again.text).group(1)
    unrelated = open_case(slack, database)  # no identity: not proposed, so not to be linked
    forged = {"csrf_token": csrf(again.text), "other": unrelated.reference, "decision": "link"}
    refused = browser.post(f"{desk}/cases/{later}/match", data=forged, timeout=10)
    assert refused.status_code == 400 and "is not proposed as about the same person" in refused.text
    token = re.search(r'name="token" value="([^"]+)"', again.text).group(1)
    form = {"csrf_token": csrf(again.text), "other": earlier, "decision": "link", "token": token}
    browser.post(f"{desk}/cases/{later}/match", data=form, timeout=10)  # a double click: one decision
    linked = browser.post(f"{desk}/cases/{later}/match", data=form, timeout=10)
    assert f"Case {earlier}: linked, the same person" in linked.text
    assert "may be about the same person" not in linked.text  # decided: not proposed again
    with database.reader() as session:
        audited = session.scalars(select(AuditEvent).where(AuditEvent.action == "identity.linked")).all()
        views = {a.view for a in session.scalars(select(AccessRecord))}
    assert len(audited) == 2 and all("Khan" not in str(e.details) for e in audited)
    assert {e.details["score"] for e in audited} != {None}  # casehub's score, not the form's
    assert {"identity", "candidate"} <= views
    slack_saw = fake.all_text() + json.dumps([c.args for c in fake.calls])
    for typed in ("Mohammed", "Muhammad", "Khan", "Kahn", "2009-04-07", "Larch Road", "07700 900123"):
        assert typed not in slack_saw  # the identity never reaches Slack


def test_a_dismissed_candidate_is_not_proposed_again(slack, fake, database, desk):
    browser, _ = sign_in(desk, fake, COORD)
    first = intake(browser, desk, **PERSON)
    earlier = re.search(r"<h1>Case (\w+)</h1>", first.text).group(1)
    again = intake(browser, desk, **{**PERSON, "given_names": "Mohamed"})
    later = re.search(r"<h1>Case (\w+)</h1>", again.text).group(1)
    form = {"csrf_token": csrf(again.text), "other": earlier, "decision": "dismiss"}
    dismissed = browser.post(f"{desk}/cases/{later}/match", data=form, timeout=10)
    assert f"Case {earlier}: dismissed, not the same person" in dismissed.text
    assert "may be about the same person" not in dismissed.text


def test_the_identity_form_refuses_a_date_that_is_not_one_and_keeps_what_was_typed(
    slack, fake, database, desk
):
    case = open_case(slack, database)
    browser, _ = sign_in(desk, fake, COORD)
    form = browser.get(f"{desk}/cases/{case.reference}/person", timeout=10)
    data = {"csrf_token": csrf(form.text), **PERSON, "date_of_birth": "17/04/2009"}
    refused = browser.post(f"{desk}/cases/{case.reference}/person", data=data, timeout=10)
    assert (
        refused.status_code == 400 and "is not a date" in refused.text and 'value="Mohammed"' in refused.text
    )
    data["date_of_birth"] = "2009-04-17"
    saved = browser.post(f"{desk}/cases/{case.reference}/person", data=data, timeout=10)
    assert saved.status_code == 200 and "Mohammed Khan" in saved.text and "2009-04-17" in saved.text
    officer, _ = sign_in(desk, fake, DPO)
    assert officer.get(f"{desk}/cases/{case.reference}/person", timeout=10).status_code == 404


def test_an_officer_finds_the_cases_about_a_person_by_name(slack, fake, database, desk):
    browser, _ = sign_in(desk, fake, COORD)
    opened = intake(browser, desk, **PERSON)
    reference = re.search(r"<h1>Case (\w+)</h1>", opened.text).group(1)
    officer, _ = sign_in(desk, fake, DPO)
    assert "Find a person" in officer.get(f"{desk}/search", timeout=10).text
    found = officer.get(
        f"{desk}/search", params={"given_names": "Khan", "family_names": "Mohamed"}, timeout=10
    )  # swapped and spelt otherwise
    assert "1 case found" in found.text and reference in found.text
    refused = officer.get(
        f"{desk}/search", params={"family_names": "Khan", "date_of_birth": "7 April"}, timeout=10
    )
    assert refused.status_code == 400 and "is not a date" in refused.text
    with database.reader() as session:
        seen = session.scalars(select(AccessRecord).where(AccessRecord.user_id == DPO)).all()
    assert [a.view for a in seen] == ["desk-cases", "candidate"]


def test_the_person_goes_into_a_court_s_or_their_own_export_made_outside_slack_only(
    slack, fake, database, desk
):
    from services import export

    browser, _ = sign_in(desk, fake, COORD)
    opened = intake(browser, desk, **PERSON)
    reference = re.search(r"<h1>Case (\w+)</h1>", opened.text).group(1)

    def person_in(purpose: export.Purpose, *, via_slack: bool) -> tuple[dict | None, dict[str, int]]:
        with database.reader() as session:
            case = session.scalar(select(Case).where(Case.reference == reference))
            bundle = export.build(session, case, purpose, made_by=COORD, made_at=case.opened_at,
                                  via_slack=via_slack, bases={"safeguarding": "Safeguarding"})  # fmt: skip
        return bundle.person, bundle.redactions

    court, _ = person_in(export.Purpose.COURT, via_slack=False)
    assert court["family_names"] == "Khan" and court["contacts"] == ["Mother: 07700 900123"]
    subject, counted = person_in(export.Purpose.SUBJECT, via_slack=False)
    assert subject["date_of_birth"] == "2009-04-07" and "contacts" not in subject
    assert counted["person_contacts"] == 1
    for purpose, via_slack in ((export.Purpose.COURT, True), (export.Purpose.AGENCY, False)):
        left_out, counted = person_in(purpose, via_slack=via_slack)
        assert left_out is None and counted["person"] == 1


def test_a_case_deleted_under_retention_shows_its_marker_on_the_desk(slack, fake, database, settings, desk):
    from datetime import timedelta

    from flows import retention as retention_flow
    from services import retention
    from tests.test_case_retention import close

    case = open_case(slack, database)
    close(slack, fake, case)
    with database.reader() as session:
        due = retention.Schedule().kept_until(session.get_one(Case, case.id))
    retention_flow.nightly(database, settings, due - timedelta(days=30))
    assert retention_flow.nightly(database, settings, due).purged == [case.reference]
    browser, _ = sign_in(desk, fake, COORD)
    page = browser.get(f"{desk}/cases/{case.reference}", timeout=10)
    assert "only its marker is left" in page.text and SUMMARY not in page.text
    assert "Record who the case is about" not in page.text
