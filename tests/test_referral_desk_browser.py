"""A referral on the record desk in a real browser (Chromium through Playwright): its person
recorded, an earlier case proposed and linked, every page checked against WCAG 2.1 AA."""

from __future__ import annotations

from datetime import date

import pytest

from services import identity
from services.identity import Identity
from tests.conftest import COORD, POLICE
from tests.desk_helpers import desk_settings
from tests.test_desk_browser import accessible, page  # noqa: F401 - the page fixture
from tests.test_referral_matching import new_case, new_referral


@pytest.fixture
def settings_overrides(fake) -> dict[str, object]:
    return desk_settings(fake)


def test_a_coordinator_records_a_referral_s_person_and_links_an_earlier_case(
    slack,
    fake,
    database,
    desk,
    page,  # noqa: F811
):
    with database.session() as session:
        case = new_case(session, 1)
        earlier = Identity(given_names="Aisha", family_names="Rahman", date_of_birth=date(2010, 3, 9))
        identity.save_identity(session, case, earlier, COORD, "test:case")
        new_referral(session, 2)
    fake.openid.signed_in = COORD
    page.goto(f"{desk}/signin")
    page.wait_for_selector("text=Signed in as")
    page.click("nav >> text=Referrals")
    page.wait_for_selector("h1:has-text('Referrals')")
    accessible(page)
    page.click("text=R-Q00002")
    page.wait_for_selector("h2:has-text('The person')")
    accessible(page)
    page.click("text=Record who the referral is about")
    page.fill("#given_names", "Ayesha")
    page.fill("#family_names", "Rahman")
    page.fill("#date_of_birth", "2010-09-03")  # day and month swapped
    accessible(page)
    page.click("text=Save")
    candidates = page.locator(".candidates > li")
    candidates.first.wait_for()
    assert candidates.count() == 1 and "Case T00001" in candidates.first.inner_text()
    assert "date of birth with day and month swapped" in candidates.first.inner_text()
    accessible(page)
    candidates.first.get_by_label("Why (optional)").fill("Same school, same family")
    candidates.first.get_by_role("button", name="Link: the same person").click()
    page.wait_for_selector("text=Case T00001: linked, the same person")
    accessible(page)
    # The referrer (an agency member) is let in for their open referral, and sees its form only.
    page.click("text=Sign out")
    fake.openid.signed_in = POLICE
    page.goto(f"{desk}/signin")
    page.wait_for_selector("h1:has-text('Referrals')")
    accessible(page)
    page.click("text=R-Q00002")
    page.wait_for_selector("text=Who it is about is recorded")
    assert "T00001" not in page.inner_text("main") and "Ayesha" not in page.inner_text("main")
    accessible(page)
    assert page.errors == []
