"""What people type reaches Slack escaped: `<!channel>`, `<!here>`, `<!everyone>` and
`<!subteam^…>` in any free-text input never become a broadcast in what casehub posts."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from slack_sdk import WebClient
from slack_sdk.webhook import WebhookClient
from sqlalchemy import select

from blocks import updates as update_blocks
from blocks.kit import escape
from flows import crisis as crisis_flow
from flows.sweep import sweep
from handlers.common import typed_text
from models import Action, AuditEvent, Case, Crisis, Update
from models.clock import clock as casehub_clock
from sandbox.slack import BROADCAST, TOKEN
from services import agencies
from tests.conftest import ADMIN, COORD, POLICE, SCHOOL
from tests.helpers import open_case

TUESDAY = datetime(2026, 12, 8, 11, 0, tzinfo=UTC)
TODAY, IN_A_WEEK = "2026-12-08", "2026-12-15"

# Typed into a form, character for character.
TYPED = "Seen at the gate <!channel> <!everyone> <!here> <!subteam^S0TEAM|@everyone-team> & <b>"
TYPED_SHOWN = (
    "Seen at the gate &lt;!channel&gt; &lt;!everyone&gt; &lt;!here&gt; "
    "&lt;!subteam^S0TEAM|@everyone-team&gt; &amp; &lt;b&gt;"
)
# Typed into a slash command, as Slack sends it with `should_escape`: what was picked from
# Slack's menu is markup, what was typed literally arrives entity-escaped.
COMMANDED = (
    "Seen at the gate <!channel> <!everyone> <!here|here> <!subteam^S0TEAM|@everyone-team> "
    "&lt;!channel&gt; &amp; &lt;b&gt;"
)
COMMANDED_STORED = "Seen at the gate @channel @everyone @here @everyone-team <!channel> & <b>"
COMMANDED_SHOWN = "Seen at the gate @channel @everyone @here @everyone-team &lt;!channel&gt; &amp; &lt;b&gt;"


@pytest.fixture
def clock():
    with casehub_clock.set_to(TUESDAY, running=True) as moved:
        yield moved


@pytest.fixture
def case(clock, slack, database, registry):
    return open_case(slack, database, agencies=("police", "school"))


@pytest.fixture
def api(fake):
    return WebClient(token=TOKEN, base_url=fake.api_url)


def unwanted_broadcasts(fake):
    """Broadcasts Slack would read in what casehub sent, but for the crisis banner's own `<!here>`."""
    return [(method, text) for method, text in fake.broadcasts() if not _banner_here(method, text)]


def _banner_here(method, text):
    own = "<!here> "  # the crisis banner alerts the case channel on purpose, and only that
    return (
        method in ("chat.postMessage", "chat.update")
        and text.startswith(own)
        and not BROADCAST.search(text[len(own) :])
    )


def assert_shown_and_harmless(fake, shown):
    """No broadcast anywhere; the text was shown, escaped once (never `&amp;lt;`)."""
    texts = [text for _, text in fake.read_texts()]
    assert unwanted_broadcasts(fake) == []
    assert any(shown in text for text in texts), f"never reached Slack: {shown}"
    assert not [text for text in texts if "&amp;lt;" in text or "&amp;amp;" in text]


def open_home(slack, user):
    slack.event({"type": "app_home_opened", "user": user, "channel": f"D{user}", "tab": "home"})


def file_update(slack, case, values, user=POLICE):
    slack.command("/update", "", user=user, channel=case.channel)
    values = {"contact_date": TODAY, "kind": "meeting", "observed": "Met at the hub", **values}
    return slack.submit(slack.fake.last_view(), values, user=user)


def add_action_by_form(slack, case, text):
    slack.command("/action", "add", user=COORD, channel=case.channel)
    values = {"text": text, "agency": "school", "owner": SCHOOL, "due": TODAY, "priority": "high"}
    slack.submit(slack.fake.last_view(), values, user=COORD)


def stored(database, model):
    with database.reader() as session:
        return session.scalars(select(model).order_by(model.id)).all()


# ---- the two functions ---------------------------------------------------------------------------


def test_escape_makes_every_control_character_an_entity():
    assert (
        escape("<!channel> & <@U1> <https://x|y>") == "&lt;!channel&gt; &amp; &lt;@U1&gt; &lt;https://x|y&gt;"
    )
    assert escape("nothing to do") == "nothing to do"


@pytest.mark.parametrize(
    ("sent", "stored_as"),
    [
        ("<!channel> <!everyone> <!here>", "@channel @everyone @here"),
        ("<!here|here> <!channel|@channel>", "@here @channel"),
        ("<!subteam^S0TEAM|@everyone-team> <!subteam^S0TEAM>", "@everyone-team @S0TEAM"),
        ("ask <@U123|sam> or <@U456>", "ask @sam or @U456"),
        ("in <#C123|case-room> and <#C456|>", "in #case-room and #C456"),
        (
            "<https://x.org/a?b=1&amp;c=2|the page> <https://y.org>",
            "the page (https://x.org/a?b=1&c=2) https://y.org",
        ),
        ("<mailto:a@b.org|a@b.org>", "a@b.org"),
        ("<!date^1392734382^{date}|Feb 18, 2014>", "Feb 18, 2014"),
        ("&lt;!channel&gt; &amp;lt; &amp; &gt;", "<!channel> &lt; & >"),
        (COMMANDED, COMMANDED_STORED),
        ("plain words", "plain words"),
    ],
)
def test_command_text_is_stored_as_the_person_read_it(sent, stored_as):
    assert typed_text(sent) == stored_as


# ---- the check itself ----------------------------------------------------------------------------


def test_the_check_finds_a_raw_broadcast_wherever_slack_reads_one(fake, api):
    fake.add_user(COORD)
    api.chat_postMessage(
        channel=COORD,
        text="plain &lt;!here&gt;",
        blocks=[
            {"type": "header", "text": {"type": "plain_text", "text": "<!everyone> is shown as typed"}},
            {"type": "section", "text": {"type": "mrkdwn", "text": "hello <!subteam^S1|@team>"}},
        ],
    )
    api.chat_postMessage(channel=COORD, text="<!channel> raw")
    WebhookClient(fake.issue_response_url()).send(  # a reply through a command's response_url
        text="all fine",
        blocks=[{"type": "context", "elements": [{"type": "mrkdwn", "text": "<!everyone> raw"}]}],
    )
    assert sorted(fake.broadcasts()) == [
        ("chat.postMessage", "<!channel> raw"),
        ("chat.postMessage", "hello <!subteam^S1|@team>"),
        ("response_url", "<!everyone> raw"),
    ]


def test_the_check_catches_casehub_posting_what_was_typed_unescaped(slack, fake, case, monkeypatch):
    monkeypatch.setattr(update_blocks, "escape", lambda text: text)
    file_update(slack, case, {"observed": TYPED})
    assert any(TYPED in text for _, text in unwanted_broadcasts(fake))


# ---- every free-text input -------------------------------------------------------------------------


def test_quick_note(slack, fake, database, case):
    slack.command("/update", COMMANDED, user=SCHOOL, channel=case.channel)
    assert [u.observed for u in stored(database, Update)] == [COMMANDED_STORED]
    slack.command("/case", "timeline", user=COORD, channel=case.channel)
    assert_shown_and_harmless(fake, COMMANDED_SHOWN)


@pytest.mark.parametrize("field", ["observed", "protective_factors", "concerns", "asks"])
def test_update_form_fields(slack, fake, database, case, field):
    file_update(slack, case, {field: TYPED})
    [update] = stored(database, Update)
    assert getattr(update, field) == TYPED
    slack.click("update_edit", str(update.id), user=POLICE, channel=case.channel)
    slack.submit(
        fake.last_view(),
        {"contact_date": TODAY, "kind": "meeting", field: TYPED, "observed": TYPED},
        user=POLICE,
    )
    slack.command("/case", "timeline", user=COORD, channel=case.channel)
    slack.command("/case", "status", user=COORD, channel=case.channel)
    assert_shown_and_harmless(fake, TYPED_SHOWN)


def test_action_text_by_form(slack, fake, database, settings, api, case):
    add_action_by_form(slack, case, TYPED)
    [action] = stored(database, Action)
    assert action.text == TYPED
    slack.click("action_extend", str(action.id), user=SCHOOL, channel=case.channel)
    slack.click("action_reassign", str(action.id), user=COORD, channel=case.channel)
    slack.command("/action", "list all", user=COORD, channel=case.channel)
    slack.command("/action", "list mine", user=SCHOOL)
    open_home(slack, COORD)
    open_home(slack, SCHOOL)
    for day in (8, 10, 17):  # due today, overdue, and escalated to the lead
        sweep(database, api, settings, now=datetime(2026, 12, day, 10, 0, tzinfo=UTC))
    slack.command("/case", "timeline", user=COORD, channel=case.channel)
    assert_shown_and_harmless(fake, TYPED_SHOWN)
    assert any(TYPED_SHOWN in m["text"] for m in fake.dms(SCHOOL))  # the nudge


def test_action_text_in_one_line_and_its_duplicate_prompt(slack, fake, database, case):
    line = f"add {COMMANDED} <@{SCHOOL}|s> due:{IN_A_WEEK}"
    slack.command("/action", line, user=COORD, channel=case.channel)
    assert [(a.text, a.owner) for a in stored(database, Action)] == [(COMMANDED_STORED, SCHOOL)]
    reply = slack.command("/action", line, user=COORD, channel=case.channel)
    prompt = fake.replies(reply.response_url)[-1]
    assert COMMANDED_SHOWN in prompt["text"]
    save = prompt["blocks"][-1]["elements"][0]
    slack.click(save["action_id"], save["value"], user=COORD, channel=case.channel)
    assert [a.text for a in stored(database, Action)] == [COMMANDED_STORED] * 2
    assert_shown_and_harmless(fake, COMMANDED_SHOWN)


def test_extension_reason(slack, fake, database, case):
    add_action_by_form(slack, case, "Share attendance")
    [action] = stored(database, Action)
    slack.click("action_extend", str(action.id), user=SCHOOL, channel=case.channel)
    slack.submit(fake.last_view(), {"due": IN_A_WEEK, "reason": TYPED}, user=SCHOOL)
    assert stored(database, Action)[0].due.isoformat() == IN_A_WEEK
    slack.command("/case", "timeline", user=COORD, channel=case.channel)
    assert_shown_and_harmless(fake, TYPED_SHOWN)


def test_review_decisions_and_agreed_actions(slack, fake, database, case):
    agreed = TYPED.replace("|@everyone-team", "")  # a `|` would split the line
    slack.command("/review", "record", user=COORD, channel=case.channel)
    values = {
        "held_on": TODAY,
        "present": ["police", "school"],
        "decisions": TYPED,
        "risk_after": "low",
        "next_review": "2027-01-05",
        "actions": f"{agreed} | school | {IN_A_WEEK}",
    }
    slack.submit(fake.last_view(), values, user=COORD)
    assert [a.text for a in stored(database, Action)] == [agreed]
    slack.command("/case", "timeline", user=COORD, channel=case.channel)
    assert_shown_and_harmless(fake, TYPED_SHOWN)
    assert_shown_and_harmless(fake, TYPED_SHOWN.replace("|@everyone-team", ""))


def test_crisis_summary_by_command(slack, fake, database, settings, api, case):
    slack.command("/oncall", f"set police <@{POLICE}>", user=ADMIN)
    slack.command("/crisis", COMMANDED, user=SCHOOL, channel=case.channel)
    [crisis] = stored(database, Crisis)
    assert crisis.summary == COMMANDED_STORED
    slack.command("/crisis", "status", user=SCHOOL, channel=case.channel)
    slack.command("/crisis", "Again, louder", user=SCHOOL, channel=case.channel)  # refused: one is open
    page = next(m for m in fake.dms(POLICE) if "crisis_ack" in json.dumps(m["blocks"]))
    slack.click("crisis_ack", page["blocks"][-1]["elements"][0]["value"], user=POLICE)
    for minutes in (11, 22, 33):  # the school's page escalates through its chain
        crisis_flow.escalate(database, api, settings, TUESDAY + timedelta(minutes=minutes))
    slack.command("/case", "timeline", user=COORD, channel=case.channel)
    assert_shown_and_harmless(fake, COMMANDED_SHOWN)


def test_crisis_summary_by_form(slack, fake, database, case):
    file_update(slack, case, {"risk": "critical"})
    prompt = next(m for m in fake.posts(case.channel) if m.get("ephemeral_to") == POLICE)
    button = prompt["blocks"][-1]["elements"][0]
    slack.click(button["action_id"], button["value"], user=POLICE, channel=case.channel)
    slack.submit(fake.last_view(), {"summary": TYPED}, user=POLICE)
    assert [c.summary for c in stored(database, Crisis)] == [TYPED]
    assert_shown_and_harmless(fake, TYPED_SHOWN)


def test_crisis_outcome(slack, fake, database, settings, api, clock, case):
    clock.move_to(datetime(2026, 12, 8, 22, 30, tzinfo=UTC))  # overnight: handed over in the morning
    slack.command("/crisis", "Threats made online tonight", user=SCHOOL, channel=case.channel)
    slack.command("/crisis", f"resolve {COMMANDED}", user=COORD, channel=case.channel)
    assert [c.outcome for c in stored(database, Crisis)] == [COMMANDED_STORED]
    sweep(database, api, settings, now=datetime(2026, 12, 9, 8, 0, tzinfo=UTC))
    assert any(COMMANDED_SHOWN in m["text"] for m in fake.dms(COORD) if "Overnight hand-over" in m["text"])
    slack.command("/case", "timeline", user=COORD, channel=case.channel)
    assert_shown_and_harmless(fake, COMMANDED_SHOWN)


def test_close_outcome_and_lessons_and_the_follow_up_note(slack, fake, database, case):
    slack.command("/case", "close", user=COORD, channel=case.channel)
    slack.submit(fake.last_view(), {"outcome": TYPED, "lessons": TYPED, "follow_ups": ["6,12"]}, user=COORD)
    with database.reader() as session:
        closed = session.get_one(Case, case.id)
        assert (closed.outcome, closed.lessons) == (TYPED, TYPED)
    reply = slack.command("/review", f"followup {case.reference} {TODAY} {COMMANDED}", user=COORD)
    assert "is recorded as held" in slack.ephemeral(reply)
    [note] = [e.details["note"] for e in stored(database, AuditEvent) if e.action == "review.follow_up"]
    assert note == COMMANDED_STORED
    assert unwanted_broadcasts(fake) == []


def test_case_concern_summary_on_the_status_card(slack, fake, database, clock, registry):
    case = open_case(slack, database, summary=TYPED)
    slack.command("/case", "status", user=COORD, channel=case.channel)
    slack.command("/case", "list", user=COORD)
    assert_shown_and_harmless(fake, TYPED_SHOWN)


MEMBER, QUIET_MEMBER, SUCCESSOR = "UEVIL1", "UQUIET1", "UEVIL2"


@pytest.fixture
def named_agencies(slack, fake, database, case):
    """Two agencies named with every mention on the case: `evil` takes part, `quiet` never files."""
    for user in (MEMBER, QUIET_MEMBER, SUCCESSOR):
        fake.add_user(user)
    for slug, user in (("evil", MEMBER), ("quiet", QUIET_MEMBER)):
        reply = slack.command("/agency", f'add {slug} "{COMMANDED}" police', user=ADMIN)
        assert "is registered" in slack.ephemeral(reply)
        slack.command("/agency", f"member add {slug} <@{user}> member", user=ADMIN)
        slack.command("/case", f"agencies add {slug}", user=COORD, channel=case.channel)
    with database.reader() as session:
        assert agencies.get(session, "evil").name == COMMANDED_STORED


def test_agency_name_in_the_registry_the_case_and_its_actions(slack, fake, database, named_agencies, case):
    slack.command("/agency", "list", user=ADMIN)
    slack.command("/agency", "timezone evil Europe/London", user=ADMIN)
    slack.command("/case", "status", user=COORD, channel=case.channel)  # who has filed nothing yet
    open_home(slack, COORD)
    slack.command("/update", "Met at the hub", user=MEMBER, channel=case.channel)
    file_update(slack, case, {"restricted": ["yes"]}, user=MEMBER)
    slack.command("/update", "Met at the station", user=POLICE, channel=case.channel)  # shared with evil
    line = f"add {COMMANDED} <@{MEMBER}> due:{IN_A_WEEK}"
    slack.command("/action", line, user=COORD, channel=case.channel)
    slack.command("/action", line, user=COORD, channel=case.channel)  # looks like a duplicate
    refused = f"add Check <@{SCHOOL}> due:{IN_A_WEEK} agency:evil"  # not a member of the agency
    slack.command("/action", refused, user=COORD, channel=case.channel)
    [action] = stored(database, Action)
    slack.click("action_done", str(action.id), user=POLICE, channel=case.channel)  # refused
    for text in ("status", "sharing", "timeline"):
        slack.command("/case", text, user=COORD, channel=case.channel)
    slack.command("/action", "list", user=COORD, channel=case.channel)
    open_home(slack, MEMBER)
    slack.command("/agency", f"handover <@{MEMBER}> <@{SUCCESSOR}> evil", user=POLICE)  # refused
    slack.command("/agency", f"handover <@{MEMBER}> <@{SUCCESSOR}> evil", user=ADMIN)
    assert_shown_and_harmless(fake, COMMANDED_SHOWN)


def test_agency_name_in_on_call_crises_reminders_and_digests(
    slack, fake, database, settings, api, clock, named_agencies, case
):
    for text in (f"set evil <@{MEMBER}>", "who evil", f"rota evil <@{MEMBER}> weekly monday 09:00"):
        slack.command("/oncall", text, user=ADMIN)
    slack.command("/oncall", f"escalation quiet <@{QUIET_MEMBER}>", user=ADMIN)  # evil's: the admins
    slack.command("/oncall", f"escalation evil <@{MEMBER}>", user=POLICE)  # refused
    night = datetime(2026, 12, 8, 22, 30, tzinfo=UTC)
    clock.move_to(night)
    slack.command("/crisis", "Threats made online tonight", user=SCHOOL, channel=case.channel)
    for minutes in (11, 22, 33):  # nobody at the agencies answers: the lead and the admins are told
        crisis_flow.escalate(database, api, settings, night + timedelta(minutes=minutes))
    file_update(slack, case, {"risk": "high"}, user=MEMBER)
    slack.command("/action", f"add Call the family <@{MEMBER}> due:{TODAY}", user=COORD, channel=case.channel)
    for day in (datetime(2026, 12, 9, 10, 0), datetime(2026, 12, 17, 10, 0), datetime(2026, 12, 31, 10, 0)):
        # the overnight hand-over and a digest; the overdue action escalated; the review nudge
        clock.move_to(day.replace(tzinfo=UTC))
        open_home(slack, COORD)
        sweep(database, api, settings, now=day.replace(tzinfo=UTC))
    sweep(database, api, settings, now=datetime(2027, 1, 12, 10, 0, tzinfo=UTC))  # silent for too long
    assert_shown_and_harmless(fake, COMMANDED_SHOWN)
    assert any(COMMANDED_SHOWN in m["text"] for m in fake.dms(COORD) if "Nobody at" in m["text"])


def test_a_refusal_that_echoes_a_broadcast_typed_in_a_command_does_not_ping(slack, fake, case):
    reply = slack.command("/agency", "member add police <!channel> member", user=ADMIN)
    said = slack.ephemeral(reply)
    assert "&lt;!channel&gt;" in said and "is not a person" in said
    assert unwanted_broadcasts(fake) == []
