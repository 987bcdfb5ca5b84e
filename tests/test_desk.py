"""The record desk over HTTP: Sign in with Slack, who is let in, sessions, CSRF, headers, and
what each person sees of a case (recorded in the access log)."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from sqlalchemy import select

from models import AccessRecord
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
