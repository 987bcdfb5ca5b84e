"""The sandbox in a real browser: Debian's Chromium, headless, driven by Playwright.

Each test acts as the people of the demo partnership would, through the page only: typing
commands, filling forms, clicking buttons, switching who they act as, moving the clock.
With SANDBOX_SCREENSHOTS set to a folder, the tests save the main screens there (the README
shows them).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from models.clock import clock
from tests.sandbox_helpers import (
    COORDINATOR,
    DEPUTY,
    ON_CALL,
    OUTSIDER,
    POLICE,
    TEACHER,
    Served,
)

SHOTS = os.environ.get("SANDBOX_SCREENSHOTS")
WAIT_MS = 15_000


@pytest.fixture
def page(browser: Any, served: Served) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    opened = context.new_page()
    opened.set_default_timeout(WAIT_MS)
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    yield opened
    context.close()
    assert not errors, errors  # the page's own script never failed


def visit(page: Any, served: Served, user: str, channel: str = "home") -> None:
    page.goto(f"{served.url}/#as={user}&channel={channel}")
    page.wait_for_selector("[data-testid=persona] >> nth=0")
    expect(page.locator("[data-testid=persona]")).to_have_value(user)


def act_as(page: Any, user: str) -> None:
    page.select_option("[data-testid=persona]", user)


def open_channel(page: Any, channel: str) -> None:
    page.click(f"button[data-channel='{channel}']")
    expect(page.locator(f"button[data-channel='{channel}']")).to_have_attribute("aria-current", "page")


def type_command(page: Any, text: str) -> None:
    composer = page.locator("[data-testid=composer]")
    composer.fill(text)
    page.keyboard.press("Escape")  # the command menu closes; Enter then sends
    composer.press("Enter")


def messages(page: Any) -> Any:
    return page.locator("[data-testid=messages] .message")


def shot(page: Any, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"))


def expect(locator: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


# ---- the scenarios ----------------------------------------------------------------------------------
def test_the_coordinator_opens_a_case_through_the_form(page: Any, served: Served) -> None:
    visit(page, served, COORDINATOR, served.sandbox.general)
    composer = page.locator("[data-testid=composer]")
    composer.fill("/ca")
    menu = page.locator("[data-testid=command-menu]")
    expect(menu).to_contain_text("/case")
    expect(menu).to_contain_text("Open, inspect, move and close cases")
    shot(page, "command-menu")
    type_command(page, "/case open")
    modal = page.locator("[data-testid=modal]")
    expect(modal).to_contain_text("Open a case")
    page.get_by_label("Concern summary").fill(
        "Youth club staff report a young person praising an attack online and asking others to join "
        "a chat group."
    )
    page.get_by_label("Initial risk level").select_option("high")
    page.get_by_label("County Police Prevent Team (police)").check()
    page.get_by_label("Youth Mentoring Project (mentors)").check()
    shot(page, "open-case-form")
    page.click("[data-testid=modal-submit]")
    expect(modal).to_have_count(0)
    before = {c.reference for c in served.cases()[:3]}
    served.sandbox.wait_idle()
    opened = [c for c in served.cases() if c.reference not in before]
    assert len(opened) == 1 and opened[0].risk.value == "high"
    channel = page.locator(f"button[data-channel='{opened[0].channel_id}']")
    expect(channel).to_contain_text(opened[0].reference.lower())
    channel.click()
    expect(page.locator("[data-testid=messages]")).to_contain_text(opened[0].reference)
    expect(page.locator("[data-testid=pins]")).to_contain_text("1 pinned")
    shot(page, "case-channel")
    expect(page.locator("[data-testid=training] li.step[data-step=open-case]")).to_have_class(
        re.compile("done")
    )


def test_the_form_shows_casehubs_inline_errors(page: Any, served: Served) -> None:
    visit(page, served, COORDINATOR, served.sandbox.general)
    type_command(page, "/case open")
    page.get_by_label("Concern summary").fill("Too short")
    page.get_by_label("Northfield Academy (school)").check()
    page.click("[data-testid=modal-submit]")
    expect(page.locator("[data-testid=modal] .bk-error:visible")).to_contain_text("10 characters")
    page.click("[data-testid=modal-close]")
    expect(page.locator("[data-testid=modal]")).to_have_count(0)
    assert len(served.cases()) == 3


def test_a_teacher_files_an_update_and_the_police_member_sees_it_and_adds_an_action(
    page: Any, served: Served
) -> None:
    case = served.cases()[0]
    visit(page, served, TEACHER, case.channel_id or "")
    type_command(page, "/update Pupil asked the tutor for help leaving an online group chat")
    expect(messages(page).last).to_contain_text("Only visible to you")
    update = page.locator("[data-testid=messages] .message:not(.ephemeral):not(.typed)").last
    expect(update).to_contain_text("Pupil asked the tutor for help leaving an online group chat")
    expect(update).to_contain_text("Northfield Academy")
    shot(page, "update")

    act_as(page, POLICE)
    expect(page.locator(f"button[data-channel='{case.channel_id}']")).to_have_attribute(
        "aria-current", "page"
    )
    expect(page.locator("[data-testid=messages]")).to_contain_text("help leaving an online group chat")
    # What Tom saw alone (his command, casehub's answer to him) is not Priya's to see.
    expect(page.locator("[data-testid=messages] .message.typed")).to_have_count(0)
    due = (clock.now() + timedelta(days=7)).date().isoformat()
    type_command(page, f"/action add Talk to the platform about the group chat @priya due:{due}")
    action = page.locator("[data-testid=messages] .message:not(.ephemeral):not(.typed)").last
    expect(action).to_contain_text("Talk to the platform about the group chat")
    done = action.get_by_role("button", name="Done")
    expect(done).to_be_visible()
    done.click()
    expect(page.locator("[data-testid=messages]")).to_contain_text("done", ignore_case=True)


def test_someone_outside_the_case_finds_no_trace_of_it(page: Any, served: Served) -> None:
    cases = served.cases()
    visit(page, served, OUTSIDER)
    sidebar = page.locator("button[data-channel]")
    expect(sidebar).to_have_count(2)  # #general and the casehub direct message
    expect(page.locator("[data-testid=home]")).to_be_visible()
    shot(page, "outsider-home")
    page.goto(f"{served.url}/#as={OUTSIDER}&channel={cases[0].channel_id}")
    page.reload()
    expect(page.locator(f"button[data-channel='{served.sandbox.general}']")).to_have_attribute(
        "aria-current", "page"
    )
    html = page.content()
    for case in cases:
        assert case.reference not in html and case.reference.lower() not in html
        assert case.summary[:25] not in html
    type_command(page, "/case status")
    expect(messages(page).last).to_contain_text("case channel")


def test_time_passes_and_the_review_nudge_and_the_digest_come(page: Any, served: Served) -> None:
    case = served.cases()[0]
    served.to_a_working_morning()
    visit(page, served, COORDINATOR, f"D{COORDINATOR}")
    digests = page.locator("[data-testid=messages] .message", has_text="Your casehub digest")
    # Counted from what the sandbox has sent, and shown: the page may still be drawing.
    sent = served.state(COORDINATOR, f"D{COORDINATOR}")["messages"]
    before = sum("Your casehub digest" in json.dumps(message) for message in sent)
    expect(digests).to_have_count(before)
    page.get_by_role("button", name="+1 day").click()
    expect(digests).to_have_count(before + 1)
    shot(page, "digest")
    open_channel(page, case.channel_id or "")
    nudge = page.locator("[data-testid=messages]", has_text="No update since the last review")
    for _ in range(3):  # a weekend may come first
        if nudge.count():
            break
        page.get_by_role("button", name="+1 day").click()
        page.wait_for_timeout(1500)
    expect(nudge).to_have_count(1)
    shot(page, "review-nudge")


def test_a_crisis_is_raised_and_the_on_call_partner_acknowledges_it(page: Any, served: Served) -> None:
    case = served.cases()[0]
    visit(page, served, TEACHER, case.channel_id or "")
    type_command(page, "/crisis Pupil posted a threat against the school tonight; police called")
    expect(page.locator("[data-testid=messages]")).to_contain_text("Crisis on case")
    act_as(page, ON_CALL)
    open_channel(page, f"D{ON_CALL}")
    acknowledge = page.get_by_role("button", name="Acknowledge").last
    expect(acknowledge).to_be_visible()
    shot(page, "crisis-page")
    buttons = page.get_by_role("button", name="Acknowledge").count()
    acknowledge.click()
    expect(page.get_by_role("button", name="Acknowledge")).to_have_count(buttons - 1)
    expect(page.locator("[data-testid=training] li.step[data-step=ack]")).to_have_class(re.compile("done"))
    act_as(page, TEACHER)
    open_channel(page, case.channel_id or "")
    status = messages(page).filter(has_text="Crisis on case").filter(has_text="— open")
    expect(status).to_contain_text("Mark Evans acknowledged")  # the pinned status, kept current
    type_command(page, "/crisis status")
    expect(messages(page).last).to_contain_text("A crisis is already open on this case")


def test_the_home_tab_of_a_coordinator_and_of_a_member(page: Any, served: Served) -> None:
    cases = served.cases()
    visit(page, served, DEPUTY)
    home = page.locator("[data-testid=home]")
    expect(home).to_contain_text(cases[1].reference)
    expect(home.get_by_role("button", name="Open a case")).to_be_visible()
    shot(page, "home-coordinator")
    act_as(page, POLICE)
    page.click("[data-testid=nav-home]")
    expect(home).to_contain_text("Joint visit by police and housing")
    expect(home).not_to_contain_text(cases[2].reference)  # a case the police take no part in
    shot(page, "home-member")


def test_the_coordinator_opens_the_record_desk_from_the_sandbox(page: Any, served: Served) -> None:
    cases = [c for c in served.cases() if c.lead_user_id == COORDINATOR]
    visit(page, served, COORDINATOR)
    with page.context.expect_page() as opening:
        page.click("[data-testid=desk]")
    desk = opening.value
    desk.wait_for_selector("text=Signed in as")
    assert COORDINATOR in desk.inner_text("header")
    for case in cases:
        expect(desk.locator("main")).to_contain_text(case.reference)
    desk.click(f"text={cases[0].reference}")
    desk.wait_for_selector("h2:has-text('Chronology')")
    shot(desk, "desk-case")
    desk.close()
    act_as(page, TEACHER)  # an agency member is not let in
    # The link names the person acting once the page has drawn the change.
    expect(page.locator("[data-testid=desk]")).to_have_attribute("href", f"/ui/desk?as={TEACHER}")
    with page.context.expect_page() as opening:
        page.click("[data-testid=desk]")
    opening.value.wait_for_selector("role=alert")
    expect(opening.value.locator("role=alert")).to_contain_text("Agency staff work in the case channels")


def test_a_refused_call_is_shown_in_the_page(page: Any, served: Served) -> None:
    served.sandbox.slack.fail("views.open", "expired_trigger_id")
    visit(page, served, COORDINATOR, served.sandbox.general)
    type_command(page, "/case open")
    refusal = page.locator("[data-testid=refusals] li.refusal").first
    expect(refusal).to_contain_text("views.open")
    expect(refusal).to_contain_text("expired_trigger_id")


def test_reset_brings_back_the_seeded_partnership(page: Any, served: Served) -> None:
    case = served.cases()[0]
    visit(page, served, TEACHER, case.channel_id or "")
    type_command(page, "/update A line typed while training")
    expect(page.locator("[data-testid=messages]")).to_contain_text("A line typed while training")
    page.click("[data-testid=reset]")
    page.click("[data-testid=confirm-ok]")
    expect(page.locator("[data-testid=messages]")).not_to_contain_text("A line typed while training")
