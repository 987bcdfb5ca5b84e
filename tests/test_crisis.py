"""On-call cover and crises over HTTP, with controlled time and a real SMTP server on loopback."""

from __future__ import annotations

import json
import socket
from datetime import UTC, date, datetime, timedelta

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from flows import crisis as crisis_flow
from models import Agency, Case, Crisis, Page
from models.clock import clock as casehub_clock
from services import oncall
from tests.conftest import ADMIN, COORD, COORD2, OUTSIDER, POLICE, POLICE_OBSERVER, SCHOOL
from tests.helpers import open_case

TUESDAY = datetime(2026, 12, 8, 11, 0, tzinfo=UTC)


@pytest.fixture
def clock():
    with casehub_clock.set_to(TUESDAY, running=True) as moved:
        yield moved


@pytest.fixture
def case(clock, slack, database, registry):
    return open_case(slack, database, agencies=("police", "school"))


def banner_of(fake, case):
    return next(m for m in fake.posts(case.channel) if m["text"].startswith("<!here>"))


def pages(database):
    with database.reader() as session:
        return session.scalars(select(Page).order_by(Page.id)).all()


def page_dms(fake, user):
    return [m for m in fake.dms(user) if m.get("blocks") and "crisis_ack" in json.dumps(m["blocks"])]


def test_rota_turns_at_the_hand_over_in_the_agencys_time_zone(database, registry, fake):
    with database.session() as session:
        agency = session.scalar(select(Agency).where(Agency.slug == "police"))
        agency.timezone = "America/New_York"
    with casehub_clock.set_to(datetime(2026, 12, 9, 12, 0, tzinfo=UTC)), database.session() as session:
        agency = session.scalar(select(Agency).where(Agency.slug == "police"))
        oncall.set_rota(
            session,
            agency=agency,
            users=["UA", "UB", "UC"],
            weekday=0,
            at=datetime.strptime("09:00", "%H:%M").time(),
            tz="America/New_York",
            actor=ADMIN,
            is_admin=True,
            request_ref="t",
        )
    with database.reader() as session:
        agency = session.scalar(select(Agency).where(Agency.slug == "police"))

        def who(at):
            return oncall.on_call(session, agency, at, "Europe/London").user

        assert who(datetime(2026, 12, 9, 12, 0, tzinfo=UTC)) == "UA"
        assert who(datetime(2026, 12, 14, 13, 59, tzinfo=UTC)) == "UA"  # Monday 08:59 in New York
        assert who(datetime(2026, 12, 14, 14, 0, tzinfo=UTC)) == "UB"  # Monday 09:00 in New York
        assert who(datetime(2026, 12, 21, 14, 0, tzinfo=UTC)) == "UC"
        assert who(datetime(2026, 12, 28, 14, 0, tzinfo=UTC)) == "UA"
        upcoming = oncall.next_cover(
            session, agency, datetime(2026, 12, 9, 12, 0, tzinfo=UTC), "Europe/London"
        )
        assert upcoming.user == "UB"


def test_oncall_commands(slack, fake, database, registry, clock):
    for user in ("UA", "UB"):
        fake.add_user(user)
    slack.command("/oncall", "rota police <@UA> <@UB> weekly monday 09:00", user=ADMIN)
    said = slack.ephemeral(slack.command("/oncall", "who police", user=POLICE))
    assert "<@UA> (rota)" in said and "next: <@UB>" in said
    slack.command("/oncall", "set police <@UB> from 2026-12-08 10:00 to 2026-12-09 10:00", user=ADMIN)
    said = slack.ephemeral(slack.command("/oncall", "who police", user=POLICE))
    assert "<@UB> (override)" in said and "next: <@UA>" in said
    said = slack.ephemeral(slack.command("/oncall", "escalation police <@UA> <@UB>", user=ADMIN))
    assert "escalates to: <@UA> → <@UB>" in said
    said = slack.ephemeral(slack.command("/oncall", "who", user=POLICE))
    assert "County Police" in said


@pytest.mark.parametrize(
    ("user", "text", "expected"),
    [
        (ADMIN, "set ghosts <@UPOL1>", "no agency `ghosts`"),
        (ADMIN, "set police <@UNOBODY>", "Slack knows no user"),
        (
            ADMIN,
            "set police <@UPOL1> from 2026-12-10 10:00 to 2026-12-09 10:00",
            "end of the cover is before",
        ),
        (ADMIN, "set police <@UPOL1> from tomorrow 10:00", "not a date and time"),
        (ADMIN, "set police <@UPOL1> from tomorrow", "After the person"),
        (ADMIN, "rota police <@UPOL1> daily 09:00", "weekly <weekday> <HH:MM>"),
        (POLICE, "set police <@UPOL1>", "Only casehub admins and coordinators"),
        (ADMIN, "escalation police", "Name at least one person"),
    ],
)
def test_oncall_refusals(slack, database, registry, clock, user, text, expected):
    said = slack.ephemeral(slack.command("/oncall", text, user=user))
    assert expected in said
    with database.reader() as session:
        assert session.scalars(select(oncall.OnCallOverride)).all() == []


def test_crisis_pages_every_agency_and_the_lead(slack, fake, database, case):
    slack.command("/oncall", f"set police <@{POLICE}>", user=ADMIN)
    reply = slack.command("/crisis", "Threats made online tonight", user=SCHOOL, channel=case.channel)
    said = slack.ephemeral(reply)
    assert said.startswith("Immediate danger to life?")
    banner = banner_of(fake, case)
    assert banner["blocks"][0]["text"]["text"].startswith(
        "<!here> :rotating_light: *Immediate danger to life?"
    )
    assert banner["ts"] in fake.channels[case.channel].pins
    assert len(page_dms(fake, POLICE)) == 1  # police: on call by override
    assert len(page_dms(fake, COORD)) == 1  # the lead
    assert len(page_dms(fake, ADMIN)) == 1  # school has nobody on call: its chain (the admins)
    status = json.dumps(banner["blocks"][3])
    assert "County Police" in status and f"paged <@{POLICE}>" in status


def test_acknowledgement_updates_the_status_and_only_the_paged_person_may(slack, fake, database, case):
    slack.command("/oncall", f"set police <@{POLICE}>", user=ADMIN)
    slack.command("/crisis", "Threats made online tonight", user=SCHOOL, channel=case.channel)
    police_page = next(p for p in pages(database) if p.user_id == POLICE)
    reply = slack.click("crisis_ack", str(police_page.id), user=POLICE_OBSERVER)
    assert f"This page is for <@{POLICE}>" in slack.ephemeral(reply)
    slack.click("crisis_ack", str(police_page.id), user=POLICE)
    status = json.dumps(banner_of(fake, case)["blocks"][3])
    assert f"<@{POLICE}> acknowledged" in status
    # The page itself now says so, and its button is gone.
    assert page_dms(fake, POLICE) == []
    assert any("You acknowledged" in json.dumps(m["blocks"]) for m in fake.dms(POLICE) if m.get("blocks"))
    again = slack.click("crisis_ack", str(police_page.id), user=POLICE)
    assert "You acknowledged this page" in slack.ephemeral(again)


def test_escalation_through_the_chain_then_the_lead_and_admins(slack, fake, database, settings, case):
    slack.command("/oncall", f"set police <@{POLICE}>", user=ADMIN)
    slack.command("/oncall", f"escalation police <@{POLICE_OBSERVER}> <@{COORD2}>", user=ADMIN)
    slack.command("/crisis", "Threats made online tonight", user=SCHOOL, channel=case.channel)
    api = crisis_flow_client(fake)
    crisis_flow.escalate(database, api, settings, TUESDAY + timedelta(minutes=5))
    assert not page_dms(fake, POLICE_OBSERVER)  # not yet: 10 minutes
    crisis_flow.escalate(database, api, settings, TUESDAY + timedelta(minutes=11))
    assert len(page_dms(fake, POLICE_OBSERVER)) == 1
    crisis_flow.escalate(database, api, settings, TUESDAY + timedelta(minutes=22))
    assert len(page_dms(fake, COORD2)) == 1
    crisis_flow.escalate(database, api, settings, TUESDAY + timedelta(minutes=33))
    unanswered = [m["text"] for m in fake.dms(COORD) if "Nobody at *County Police*" in m["text"]]
    assert len(unanswered) == 1
    assert [m["text"] for m in fake.dms(ADMIN) if "Nobody at *County Police*" in m["text"]]
    # A restart (a fresh sweep, again and again) pages nobody twice.
    for minutes in (34, 50, 90):
        crisis_flow.escalate(database, api, settings, TUESDAY + timedelta(minutes=minutes))
    assert len(page_dms(fake, POLICE_OBSERVER)) == 1 and len(page_dms(fake, COORD2)) == 1
    assert len([m for m in fake.dms(COORD) if "Nobody at *County Police*" in m["text"]]) == 1
    status = json.dumps(banner_of(fake, case)["blocks"][3])
    assert "did not answer (escalated)" in status


def crisis_flow_client(fake):
    from slack_sdk import WebClient

    from sandbox.slack import TOKEN

    return WebClient(token=TOKEN, base_url=fake.api_url)


def test_restart_mid_crisis_sends_pending_pages_once(slack, fake, database, settings, case):
    slack.command("/oncall", f"set police <@{POLICE}>", user=ADMIN)
    fake.fail("chat.postMessage", "internal_error", times=1)  # the first page fails to go
    slack.command("/crisis", "Threats made online tonight", user=SCHOOL, channel=case.channel)
    sent_before = sum(len(page_dms(fake, u)) for u in (POLICE, COORD, ADMIN))
    assert sent_before == 2
    api = crisis_flow_client(fake)
    for minutes in (3, 4):  # the next sweeps, as from a restarted process
        from flows.sweep import sweep

        sweep(database, api, settings, now=TUESDAY + timedelta(minutes=minutes))
    assert sum(len(page_dms(fake, u)) for u in (POLICE, COORD, ADMIN)) == 3


def test_refusals(slack, fake, database, case):
    said = slack.ephemeral(slack.command("/crisis", "status", user=SCHOOL, channel="CGENERAL"))
    assert "works only in a case channel" in said
    said = slack.ephemeral(
        slack.command("/crisis", "Call 07700 900123 now", user=SCHOOL, channel=case.channel)
    )
    assert "looks like a phone number in the summary" in said and "07700" not in said
    said = slack.ephemeral(
        slack.command("/crisis", "Something happening", user=OUTSIDER, channel=case.channel)
    )
    assert "not in an agency taking part" in said
    said = slack.ephemeral(
        slack.command("/crisis", "Something happening", user=POLICE_OBSERVER, channel=case.channel)
    )
    assert "Observers read the case but do not raise a crisis" in said
    slack.command("/crisis", "Threats made online tonight", user=SCHOOL, channel=case.channel)
    said = slack.ephemeral(slack.command("/crisis", "Another one", user=POLICE, channel=case.channel))
    assert "A crisis is already open" in said and "Threats made online tonight" in said
    with database.reader() as session:
        assert len(session.scalars(select(Crisis)).all()) == 1
    said = slack.ephemeral(slack.command("/crisis", "resolve All calm", user=POLICE, channel=case.channel))
    assert "Only the lead coordinator or whoever raised" in said
    said = slack.ephemeral(slack.command("/crisis", "resolve", user=COORD, channel=case.channel))
    assert "Say how it ended" in said


def test_empty_crisis_shows_help_with_the_emergency_notice_first(slack, case):
    said = slack.ephemeral(slack.command("/crisis", "", user=SCHOOL, channel=case.channel))
    assert said.startswith("Immediate danger to life?") and "/crisis resolve" in said


@pytest.mark.parametrize(
    "summary", ["help needed at the school now", "status of the pupil is worsening fast"]
)
def test_a_summary_starting_with_a_subcommand_word_still_pages(slack, fake, database, case, summary):
    slack.command("/oncall", f"set police <@{POLICE}>", user=ADMIN)
    said = slack.ephemeral(slack.command("/crisis", summary, user=SCHOOL, channel=case.channel))
    assert "Partners are being paged" in said
    assert len(page_dms(fake, POLICE)) == 1
    with database.reader() as session:
        assert session.scalars(select(Crisis.summary)).all() == [summary]
    # The words alone still do what they say.
    said = slack.ephemeral(slack.command("/crisis", "status", user=SCHOOL, channel=case.channel))
    assert said.startswith("A crisis is already open on this case")


def test_closed_case_takes_no_crisis(slack, fake, database, case):
    slack.command("/case", "close", user=COORD, channel=case.channel)
    slack.submit(fake.last_view(), {"outcome": "Signposted"}, user=COORD)
    said = slack.ephemeral(slack.command("/crisis", "Something happening", user=SCHOOL, channel=case.channel))
    assert "is closed" in said


def test_resolve_records_outcome_and_brings_the_review_forward(slack, fake, database, case):
    slack.command("/crisis", "Threats made online tonight", user=SCHOOL, channel=case.channel)
    police_page = next(p for p in pages(database) if p.agency_id is not None)
    slack.click("crisis_ack", str(police_page.id), user=police_page.user_id)
    slack.command("/crisis", "resolve Police attended; young person safe", user=COORD, channel=case.channel)
    with database.reader() as session:
        crisis = session.scalars(select(Crisis)).one()
        stored = session.get_one(Case, case.id)
    assert crisis.state == "resolved" and crisis.outcome == "Police attended; young person safe"
    assert stored.next_review_at.date() == date(2026, 12, 10)  # two working days on
    assert "early review" in fake.posts(case.channel)[-1]["text"]
    assert "RESOLVED" in json.dumps(banner_of(fake, case)["blocks"])
    timeline = slack.ephemeral(slack.command("/case", "timeline", user=COORD, channel=case.channel))
    assert "crisis raised" in timeline and "acknowledged" in timeline and "crisis resolved" in timeline


def test_out_of_hours_crisis_is_handed_over_in_the_morning(slack, fake, database, settings, clock, case):
    clock.move_to(datetime(2026, 12, 8, 22, 30, tzinfo=UTC))
    slack.command("/crisis", "Threats made online tonight", user=SCHOOL, channel=case.channel)
    slack.command("/update", "Police visited the address overnight", user=POLICE, channel=case.channel)
    api = crisis_flow_client(fake)
    crisis_flow.escalate(database, api, settings, datetime(2026, 12, 9, 7, 59, tzinfo=UTC))
    assert not [m for m in fake.dms(COORD) if "Overnight hand-over" in m["text"]]
    from flows.sweep import sweep

    sweep(database, api, settings, now=datetime(2026, 12, 9, 8, 0, tzinfo=UTC))
    handover = [m["text"] for m in fake.dms(COORD) if "Overnight hand-over" in m["text"]]
    assert len(handover) == 1 and "County Police: 1" in handover[0]
    assert any("Overnight hand-over" in m["text"] for m in fake.posts(case.channel))


def test_crisis_button_after_a_critical_update(slack, fake, database, case):
    slack.command("/update", "", user=POLICE, channel=case.channel)
    slack.submit(
        fake.last_view(),
        {
            "contact_date": "2026-12-08",
            "kind": "observation",
            "observed": "Escalating threats",
            "risk": "critical",
        },
        user=POLICE,
    )
    prompt = next(m for m in fake.posts(case.channel) if m.get("ephemeral_to") == POLICE)
    button = prompt["blocks"][-1]["elements"][0]
    slack.click(button["action_id"], button["value"], user=POLICE, channel=case.channel)
    form = fake.last_view()
    assert form["callback_id"] == "crisis_raise"
    slack.submit(form, {"summary": "County Police assessed the risk as critical."}, user=POLICE)
    with database.reader() as session:
        assert session.scalars(select(Crisis)).one().raised_by == POLICE


class Inbox:
    def __init__(self) -> None:
        self.messages: list[str] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(envelope.content.decode())
        return "250 OK"


@pytest.fixture
def smtp():
    inbox = Inbox()
    with socket.socket() as probe:  # a free port on loopback for the SMTP server
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


@pytest.fixture
def settings_overrides(request):
    if "smtp" in request.fixturenames:
        port = request.getfixturevalue("smtp")[1]
        # A loopback server without TLS: plaintext allowed explicitly (STARTTLS: test_disclosures.py).
        return {
            "smtp_url": f"smtp://127.0.0.1:{port}",
            "smtp_from": "casehub@hub.example.org",
            "smtp_allow_plaintext": True,
        }
    return {}


def test_pages_are_copied_by_email(smtp, slack, fake, database, case):
    inbox, _port = smtp
    slack.command("/crisis", "Threats made online tonight", user=SCHOOL, channel=case.channel)
    assert len(inbox.messages) == 3  # police's on-call (a coordinator fallback), the admin, the lead
    mail = inbox.messages[0]
    assert f"Crisis on case {case.reference}" in mail and "Threats made online tonight" not in mail
    assert "Immediate danger to life?" in mail
    from flows.sweep import sweep

    sweep(
        database,
        crisis_flow_client(fake),
        slack_settings(database, fake, smtp),
        now=TUESDAY + timedelta(minutes=1),
    )
    assert len(inbox.messages) == 3  # not again


def slack_settings(database, fake, smtp):
    from tests.conftest import make_settings

    return make_settings(fake, database, smtp_url=f"smtp://127.0.0.1:{smtp[1]}", smtp_allow_plaintext=True)


def test_home_shows_who_is_on_call(slack, fake, database, case):
    slack.command("/oncall", f"set police <@{POLICE}>", user=ADMIN)
    slack.event({"type": "app_home_opened", "user": POLICE_OBSERVER, "tab": "home"})
    text = json.dumps(fake.published[POLICE_OBSERVER]["blocks"])
    assert "On call now" in text and f"<@{POLICE}> (override)" in text


def test_a_repeated_acknowledgement_delivery_changes_nothing_more(slack, fake, database, case):
    slack.command("/oncall", f"set police <@{POLICE}>", user=ADMIN)
    slack.command("/crisis", "Threats made online tonight", user=SCHOOL, channel=case.channel)
    police_page = next(p for p in pages(database) if p.user_id == POLICE)
    first = slack.click("crisis_ack", str(police_page.id), user=POLICE)
    again = slack.replay(first)
    assert again.status == 200
    assert slack.ephemeral(again) == ""  # no second answer, not even a refusal
    with database.reader() as session:
        from models import AuditEvent

        acks = session.scalars(select(AuditEvent).where(AuditEvent.action == "crisis.acknowledged")).all()
    assert len(acks) == 1
