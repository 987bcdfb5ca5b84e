"""The demo partnership's last six weeks, made through casehub's HTTP interface.

Its people act as they would in Slack — slash commands, forms, buttons — with casehub's clock
set back to each moment, so that the record, the channels and the messages agree as they do
in life: three cases at different stages, updates from several agencies, actions (one done,
one overdue, one due soon), a review coming up, a crisis raised, acknowledged and resolved.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from flows.rules import working_hours
from models.clock import clock
from sandbox.driver import Reply, SlackDriver
from sandbox.partnership import as_slack_sends

if TYPE_CHECKING:
    from sandbox.runtime import Sandbox

SAM, AISHA, TOM, PRIYA, MARK = "USAM", "UAISHA", "UTOM", "UPRIYA", "UMARK"
GRACE, LEILA, DAN, JO = "UGRACE", "ULEILA", "UDAN", "UJO"


class SeedFailed(RuntimeError):
    """casehub refused a step of the demo history: the sandbox would show a broken story."""


class Story:
    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.slack = sandbox.slack
        self.driver = SlackDriver(sandbox.web.url, sandbox.secret, sandbox.slack)
        today = clock.now().date()
        monday = today - timedelta(days=42 + (today - timedelta(days=42)).weekday())
        self.start = datetime.combine(monday, time(9, 0), UTC)
        self.today = (today - monday).days  # the day number of today

    def at(self, day: int, hour: int = 10, minute: int = 0) -> None:
        """The clock at that moment, and what fell due by then sent, as the scheduler would."""
        clock.move_to(self.start + timedelta(days=day, hours=hour - 9, minutes=minute), running=False)
        self.sandbox.sweep()
        self.settle("the sweep")

    def settle(self, what: str) -> None:
        """casehub's work on a step done (its answers posted) before the story goes on."""
        if not self.sandbox.wait_idle():
            raise SeedFailed(f"casehub's work on {what} did not finish within 30 s")

    def day(self, number: int) -> date:
        return (self.start + timedelta(days=number)).date()

    def say(self, user: str, channel: str, line: str) -> Reply:
        """A slash command typed in a channel, as Slack sends it."""
        command, _, rest = line.partition(" ")
        reply = self.driver.command(
            command, as_slack_sends(rest, self.sandbox.partnership), user=user, channel=channel
        )
        if reply.status != 200:
            raise SeedFailed(f"{line!r} was answered with HTTP {reply.status}")
        self.settle(repr(line))
        return reply

    def fill(self, user: str, channel: str, line: str, values: dict[str, Any]) -> None:
        """A command that opens a form, and the form filled in and submitted."""
        self.say(user, channel, line)
        modal = self.slack.modal_of(user)
        if modal is None:
            raise SeedFailed(f"{line!r} did not open its form")
        reply = self.driver.submit(modal["view"], values, user=user)
        if reply.status != 200 or reply.body:
            raise SeedFailed(f"the form of {line!r} was refused: {reply.body[:300]}")
        self.settle(f"the form of {line!r}")

    def open_case(self, user: str, *, summary: str, risk: str, agencies: list[str], weeks: int) -> str:
        before = set(self.slack.channels)
        values = {
            "summary": summary,
            "risk": risk,
            "lead": user,
            "agencies": agencies,
            "review_weeks": str(weeks),
        }
        self.fill(user, self.sandbox.general, "/case open", values)
        created = [c for c in self.slack.channels if c not in before and not c.startswith("D")]
        if len(created) != 1:
            raise SeedFailed("opening a case did not make its channel")
        return created[0]

    def click(self, user: str, channel: str, action_id: str, *, which: int = -1) -> None:
        """A button with this action in a channel (a DM: D + the person's ID), the newest unless
        told which (0: the oldest)."""
        with self.slack.lock:
            found = [
                (m["ts"], block.get("block_id", ""), element)
                for m in self.slack.messages
                if m["channel"] == channel and m.get("blocks")
                for block in m["blocks"]
                if block.get("type") == "actions"
                for element in block["elements"]
                if element.get("action_id") == action_id
            ]
        if not found:
            raise SeedFailed(f"no {action_id} button in {channel}")
        ts, block_id, button = found[which]
        reply = self.driver.act(
            {"type": "button", "action_id": action_id, "value": button.get("value", "")},
            user=user,
            block_id=block_id,
            channel=channel,
            message_ts=ts,
        )
        if reply.status != 200:
            raise SeedFailed(f"{action_id} was answered with HTTP {reply.status}")
        self.settle(action_id)


def run(sandbox: Sandbox) -> None:
    story = Story(sandbox)
    general = sandbox.general
    try:
        cover(story, general)
        case_at_support(story)
        case_in_assessment(story)
        case_just_referred(story)
    finally:
        clock.reset()


def cover(story: Story, general: str) -> None:
    """On-call cover for every agency, and the coordinators' digests."""
    story.at(0, 9, 0)
    story.say(SAM, general, "/oncall rota police @mark @priya weekly monday 09:00")
    for slug, person in (
        ("hub", "sam"),
        ("school", "tom"),
        ("social-care", "grace"),
        ("health", "leila"),
        ("housing", "dan"),
        ("mentors", "jo"),
    ):
        story.say(SAM, general, f"/oncall set {slug} @{person}")
    story.say(SAM, general, "/digest daily 08:30")
    story.say(AISHA, general, "/digest weekly 08:30")


def case_at_support(story: Story) -> str:
    story.at(0, 10, 0)
    channel = story.open_case(
        SAM,
        summary="Tutor reports a pupil sharing extremist videos in class and voicing support for "
        "violence against a minority group; attendance is falling.",
        risk="moderate",
        agencies=["police", "school", "social-care", "mentors"],
        weeks=4,
    )
    story.at(1, 11, 15)
    story.say(
        TOM, channel, "/update Attendance down to 72% this half-term; withdrawn in lessons, tutor keeps a log"
    )
    story.at(2, 14, 40)
    story.say(PRIYA, channel, "/update Online referral assessed: no known contact with organised groups")
    story.at(3, 9, 30)
    story.say(SAM, channel, "/case stage screening")
    story.say(SAM, channel, "/case consent given")
    story.at(7, 16, 5)
    story.say(
        GRACE,
        channel,
        "/update Home visit with a parent present; family supportive, worried about online use",
    )
    story.at(8, 10, 0)
    story.say(SAM, channel, "/case stage assessment")
    story.at(10, 15, 0)
    story.say(SAM, channel, "/case stage panel-decision")
    story.say(SAM, channel, "/case stage support")
    due = story.day
    story.say(SAM, channel, f"/action add Start weekly mentoring sessions @jo due:{due(17).isoformat()}")
    story.say(
        SAM,
        channel,
        f"/action add Share attendance figures for the half-term @tom due:{due(story.today - 3).isoformat()}",
    )
    story.say(
        SAM,
        channel,
        f"/action add Check online safety settings with the family @grace due:{due(story.today + 2)}",
    )
    story.at(16, 12, 0)
    story.click(JO, channel, "action_done", which=0)  # Jo's was the first action added
    story.at(20, 18, 30)
    story.say(
        TOM, channel, "/crisis Threatening post shared online this evening naming a teacher; police informed"
    )
    for minute, person in enumerate((MARK, SAM, GRACE, TOM, JO), start=36):
        story.at(20, 18, minute)
        story.click(person, f"D{person}", "crisis_ack")
    story.at(20, 19, 45)
    story.say(SAM, channel, "/crisis resolve Police visited the family; post removed; safety plan agreed")
    story.at(22, 13, 0)
    story.say(JO, channel, "/update Three mentoring sessions attended; engaging well, talking about college")
    story.at(23, 15, 0)
    # The next review: its nudge to agencies silent since this one falls due on the next working day.
    settings = story.sandbox.settings()
    ahead = 1 + settings.review_nudge_working_days
    next_review = working_hours(settings).add_working_days(story.day(story.today), ahead)
    story.fill(
        SAM,
        channel,
        "/review record",
        {
            "held_on": story.day(23).isoformat(),
            "present": ["police", "school", "social-care", "mentors"],
            "decisions": "Mentoring continues weekly; school monitors online behaviour; family offered "
            "parenting support.",
            "risk_after": "moderate",
            "next_review": next_review.isoformat(),
        },
    )
    return channel


def case_in_assessment(story: Story) -> str:
    story.at(30, 11, 0)
    channel = story.open_case(
        AISHA,
        summary="Housing officer reports a tenant in their late teens displaying extremist symbols "
        "and asking neighbours about weapons, after a recent mental health crisis.",
        risk="high",
        agencies=["police", "health", "housing"],
        weeks=2,
    )
    story.at(31, 15, 20)
    story.say(
        DAN,
        channel,
        "/update Flat visited: symbols removed at our request; tenant calm, rent arrears building",
    )
    story.at(32, 10, 10)
    story.say(LEILA, channel, "/update Known to the crisis team; agreed to a follow-up appointment next week")
    story.at(35, 9, 0)
    story.say(AISHA, channel, "/case stage screening")
    story.at(36, 9, 30)
    story.say(AISHA, channel, "/case stage assessment")
    story.say(
        AISHA,
        channel,
        f"/action add Joint visit by police and housing @priya due:{story.day(story.today + 1).isoformat()}",
    )
    return channel


def case_just_referred(story: Story) -> str:
    story.at(story.today - 1, 11, 0)
    return story.open_case(
        SAM,
        summary="A youth worker heard a young person repeat conspiracy content about a local place "
        "of worship; first concern, no earlier contact with services.",
        risk="low",
        agencies=["mentors", "school"],
        weeks=4,
    )
