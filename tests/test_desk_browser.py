"""The record desk in a real browser (Debian's Chromium, headless, through Playwright): signing
in with Slack by keyboard alone, the case record, and every page checked against WCAG 2.1 AA
with axe-core."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import COORD
from tests.desk_helpers import DPO, desk_settings
from tests.helpers import SUMMARY, open_case

WAIT_MS = 15_000
WCAG_AA = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}


@pytest.fixture
def settings_overrides(fake) -> dict[str, object]:
    return desk_settings(fake)


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    opened.set_default_timeout(WAIT_MS)
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    opened.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    opened.errors = errors
    yield opened
    context.close()


def accessible(page: Any) -> None:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page, options=WCAG_AA)
    assert results.violations_count == 0, results.generate_report()


def test_a_coordinator_signs_in_and_reads_a_case_by_keyboard_alone(slack, fake, database, desk, page):
    case = open_case(slack, database)
    fake.openid.signed_in = COORD
    page.goto(f"{desk}/")
    accessible(page)
    page.keyboard.press("Tab")  # the skip link comes first
    assert focused(page) == "Skip to the content"
    focus_on(page, "Sign in with Slack")
    page.keyboard.press("Enter")
    page.wait_for_selector("text=Signed in as")
    assert page.url == f"{desk}/"
    accessible(page)
    focus_on(page, case.reference)
    page.keyboard.press("Enter")
    page.wait_for_selector("h2:has-text('Chronology')")
    assert SUMMARY in page.inner_text("main")
    accessible(page)
    focus_on(page, "Sign out")
    page.keyboard.press("Enter")
    page.wait_for_selector("text=Sign in with Slack")
    assert page.errors == []  # no script error, nothing the CSP refused


def test_the_lead_downloads_an_export_from_the_record(slack, fake, database, desk, page):
    from pathlib import Path

    from pypdf import PdfReader
    from sqlalchemy import select

    from models import AccessRecord, Export

    case = open_case(slack, database)
    fake.openid.signed_in = COORD
    page.goto(f"{desk}/signin")
    page.click(f"text={case.reference}")
    page.check("text=A court (everything)")
    with page.expect_download() as downloading:
        page.click("text=Download the PDF")
    download = downloading.value
    assert download.suggested_filename.startswith(f"casehub-{case.reference}-court-")
    text = " ".join(p.extract_text() for p in PdfReader(Path(download.path())).pages)
    assert case.reference in text and " ".join(SUMMARY.split()[:4]) in " ".join(text.split())
    with database.reader() as session:
        [made] = session.scalars(select(Export)).all()
        assert (made.purpose, made.requested_by, made.state) == ("court", COORD, "written")
        views = [a.view for a in session.scalars(select(AccessRecord).where(AccessRecord.user_id == COORD))]
    assert "export" in views


def test_an_officer_sees_the_record_without_content_and_the_page_is_accessible(
    slack, fake, database, desk, page
):
    case = open_case(slack, database)
    fake.openid.signed_in = DPO
    page.goto(f"{desk}/signin")
    page.wait_for_selector("text=Signed in as")
    page.click(f"text={case.reference}")
    page.wait_for_selector("h2:has-text('Who has read it')")
    assert SUMMARY not in page.inner_text("main")
    accessible(page)


def test_a_refusal_is_a_page_that_says_why(slack, fake, desk, page):
    fake.openid.signed_in = "UPOL1"  # an agency member
    page.goto(f"{desk}/signin")
    page.wait_for_selector("role=alert")
    assert "Agency staff work in the case channels" in page.inner_text("role=alert")
    accessible(page)


def focus_on(page: Any, text: str, *, presses: int = 40) -> None:
    """Tab until the focused element shows `text`, as someone without a mouse would."""
    for _ in range(presses):
        if text in focused(page):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"{text!r} cannot be reached with the keyboard")


def focused(page: Any) -> str:
    """The text of the element with the keyboard's focus ("" when nothing has it)."""
    script = "document.activeElement === document.body ? '' : document.activeElement.textContent"
    return str(page.evaluate(script) or "").strip()


def test_the_accessibility_check_finds_what_it_should(page):
    page.set_content('<html><body><img src="data:,"><a href="#"></a><input type="text"></body></html>')
    with pytest.raises(AssertionError, match="image-alt"):
        accessible(page)


def test_a_case_is_opened_from_the_desk_form_by_keyboard_and_its_errors_are_accessible(
    slack, fake, database, desk, page
):
    fake.openid.signed_in = COORD
    page.goto(f"{desk}/signin")
    page.wait_for_selector("text=Signed in as")
    page.click("text=Open a case")
    accessible(page)
    focus_on(page, "Open the case")  # sent empty: the problem is said, linked to its field
    page.keyboard.press("Enter")
    page.wait_for_selector("role=alert")
    assert "Nothing was saved" in page.inner_text("role=alert")
    accessible(page)
    page.fill("#summary", "Concerning posts online, shared in class by a pupil.")
    page.check("text=County Police")
    page.focus("#review_weeks")
    page.keyboard.press("Enter")  # a form is sent with Enter from a text field
    page.wait_for_selector("role=status")
    assert "is open" in page.inner_text("role=status")
    accessible(page)


def test_a_repeat_referral_is_shown_and_linked_and_the_page_is_accessible(slack, fake, database, desk, page):
    fake.openid.signed_in = COORD
    page.goto(f"{desk}/signin")
    page.wait_for_selector("text=Signed in as")
    references = []
    for given, born in (("Aisha", "2010-03-09"), ("Ayesha", "2010-09-03")):
        page.click("text=Open a case")
        page.fill("#given_names", given)
        page.fill("#family_names", "Rahman")
        page.fill("#date_of_birth", born)
        page.fill("#summary", "Concerning posts online, shared with classmates at school.")
        page.check("text=County Police")
        page.click("text=Open the case")
        page.wait_for_selector("role=status")
        references.append(page.inner_text("h1").removeprefix("Case "))
    candidates = page.locator(".candidates > li")
    assert candidates.count() == 1 and references[0] in candidates.first.inner_text()
    accessible(page)
    candidates.first.get_by_role("button", name="Link: the same person").click()
    page.wait_for_selector(f"text=Case {references[0]}: linked, the same person")
    accessible(page)
    page.click("text=Find a person")
    page.fill("#family_names", "Rahman")
    page.fill("#given_names", "Aysha")
    page.keyboard.press("Enter")
    page.wait_for_selector("text=2 cases found")
    accessible(page)
