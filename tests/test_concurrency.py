"""Many people acting at once in one case: every request is saved once and posted once.

Twenty people, each the coordinator of a small agency taking part in one case, send their
requests at the same moment (threads released together by a barrier). casehub works on one
person's requests in order, so the race is between people; the same request delivered twice
is raced directly against the services too, where nothing orders it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from functools import partial
from typing import TypeVar

import pytest
from alembic import command
from sqlalchemy import inspect, select

from bot.db import alembic_config
from flows.rules import reminder_rules
from handlers.common import UNEXPECTED
from models import (
    Action,
    AgencyKind,
    AuditEvent,
    Case,
    Crisis,
    Disclosure,
    Page,
    Preference,
    Review,
    Risk,
    Role,
    Update,
    UpdateKind,
)
from services import agencies, cases, digests, reviews, updates
from services.errors import Conflict
from tests.conftest import ADMIN, COORD, OUTSIDER
from tests.helpers import open_case

CROWD = [f"UCROWD{n:02d}" for n in range(1, 21)]
SLUGS = [f"crowd-{n:02d}" for n in range(1, 21)]
IN_A_WEEK = date.today() + timedelta(days=7)
T = TypeVar("T")


def at_once(requests: list[Callable[[], T]]) -> list[T]:
    """Run every request on its own thread, all released at the same moment."""
    barrier = threading.Barrier(len(requests))

    def run(request: Callable[[], T]) -> T:
        barrier.wait()
        return request()

    with ThreadPoolExecutor(len(requests)) as pool:
        return list(pool.map(run, requests))


@pytest.fixture
def backlog_for_the_crowd(running):
    """The test server listens with socketserver's backlog of 5 connections; on loopback, the
    connections beyond it are reset. Slack's deliveries meet a production server's longer one."""
    running.server.server.socket.listen(4 * len(CROWD))


@pytest.fixture
def crowd(backlog_for_the_crowd, slack, fake, database, registry):
    """A case led by the hub's coordinator, with twenty agencies of one coordinator each."""
    with database.session() as session:
        for slug, user in zip(SLUGS, CROWD, strict=True):
            agency = agencies.add(
                session, slug=slug, name=f"Team {slug}", kind=AgencyKind.OTHER, actor="setup", request_ref="t"
            )
            agencies.set_member(
                session, agency=agency, user_id=user, role=Role.COORDINATOR, actor="setup", request_ref="t"
            )
    for user in CROWD:
        fake.add_user(user)
    return open_case(slack, database, agencies=tuple(SLUGS))


def stored(database, model):
    with database.reader() as session:
        return session.scalars(select(model).order_by(model.id)).all()


def posted(fake, channel, rows):
    """The channel's messages that show these rows, each found by the ts the row keeps."""
    shown = {row.channel_ts for row in rows}
    return [m for m in fake.posts(channel) if m["ts"] in shown]


def action_posts(fake, channel):
    return [m for m in fake.posts(channel) if m["text"].startswith("Action #")]


def update_posts(fake, channel):
    return [m for m in fake.posts(channel) if '"update_edit"' in json.dumps(m.get("blocks"))]


def add_action(slack, case, user):
    # The same words from every agency: the duplicate check compares one agency's actions only.
    return slack.command(
        "/action",
        f"add Arrange a planning meeting <@{user}> due:{IN_A_WEEK.isoformat()}",
        user=user,
        channel=case.channel,
        settle=False,
    )


def test_simultaneous_actions_get_the_numbers_one_to_twenty(slack, fake, database, crowd):
    replies = at_once([partial(add_action, slack, crowd, user) for user in CROWD])
    slack.settle()
    saved = stored(database, Action)
    assert sorted(a.number for a in saved) == list(range(1, 21))
    assert sorted(a.created_by for a in saved) == CROWD
    assert len(posted(fake, crowd.channel, saved)) == len(action_posts(fake, crowd.channel)) == 20
    assert all("Action added." in slack.ephemeral(reply) for reply in replies)
    assert UNEXPECTED not in fake.all_text()


def test_simultaneous_quick_notes_are_each_filed_and_posted_once(slack, fake, database, crowd):
    replies = at_once(
        [
            partial(
                slack.command,
                "/update",
                "Attended the session and engaged well",
                user=user,
                channel=crowd.channel,
                settle=False,
            )
            for user in CROWD
        ]
    )
    slack.settle()
    saved = stored(database, Update)
    assert sorted(u.filer for u in saved) == CROWD
    assert len(posted(fake, crowd.channel, saved)) == len(update_posts(fake, crowd.channel)) == 20
    assert all("Your note is filed" in slack.ephemeral(reply) for reply in replies)
    assert UNEXPECTED not in fake.all_text()


def review_values(slug: str) -> dict[str, object]:
    today = date.today()
    return {
        "held_on": today.isoformat(),
        "present": [slug],
        "decisions": "Continue support; mentoring to start",
        "risk_after": "low",
        "next_review": (today + timedelta(weeks=4)).isoformat(),
        "actions": f"Share attendance | {slug} | {IN_A_WEEK.isoformat()}",
    }


def test_simultaneous_reviews_and_actions_share_one_numbering(slack, fake, database, crowd):
    forms = []
    for _ in CROWD:
        slack.command("/review", "record", user=COORD, channel=crowd.channel)
        forms.append(fake.last_view())
    # Each record refreshes the channel's topic: twenty in a minute are more than Slack's tier
    # for it, and casehub would rightly wait out the limit (tested on its own elsewhere).
    fake.enforce_rate_limits = False
    # The lead's twenty records, each agreeing an action, race twenty partners adding theirs.
    records = [
        partial(slack.submit, view, review_values(slug), user=COORD, settle=False)
        for view, slug in zip(forms, SLUGS, strict=True)
    ]
    at_once(records + [partial(add_action, slack, crowd, user) for user in CROWD])
    slack.settle()
    assert len({r.recorded_via for r in stored(database, Review)}) == len(stored(database, Review)) == 20
    saved = stored(database, Action)
    assert sorted(a.number for a in saved) == list(range(1, 41))
    assert len(posted(fake, crowd.channel, saved)) == len(action_posts(fake, crowd.channel)) == 40
    summaries = [m for m in fake.posts(crowd.channel) if m["text"].startswith(":memo: Review of case")]
    assert len(summaries) == 20
    assert UNEXPECTED not in fake.all_text()


def test_simultaneous_acknowledgements_of_a_crisis_are_each_recorded_once(slack, fake, database, crowd):
    slack.command("/crisis", "Threats made online tonight", user=CROWD[0], channel=crowd.channel)
    paged = {p.user_id: p.id for p in stored(database, Page) if p.agency_id is not None}
    assert sorted(paged) == CROWD
    clicks = [
        partial(slack.click, "crisis_ack", str(paged[user]), user=user, channel=f"D{user}", settle=False)
        for user in CROWD
    ]
    at_once(clicks)
    slack.settle()
    acknowledged = {p.user_id: p.acknowledged_by for p in stored(database, Page) if p.agency_id}
    assert acknowledged == {user: user for user in CROWD}
    recorded = [e for e in stored(database, AuditEvent) if e.action == "crisis.acknowledged"]
    assert sorted(e.details["page"] for e in recorded) == sorted(paged.values())
    banners = [m for m in fake.posts(crowd.channel) if m["text"].startswith("<!here>")]
    assert len(banners) == 1
    for user in CROWD:  # each page's own message now says it was acknowledged, once
        updated = [c for c in fake.calls_to("chat.update", ok=True) if c.args.get("channel") == f"D{user}"]
        assert len(updated) == 1, user
    assert UNEXPECTED not in fake.all_text()


def test_the_same_submission_delivered_twice_at_once_is_filed_and_posted_once(slack, fake, database, crowd):
    slack.command("/update", "", user=CROWD[0], channel=crowd.channel)
    view = fake.last_view()
    values = {
        "contact_date": date.today().isoformat(),
        "kind": "home-visit",
        "observed": "Visited the family home; engaged well with the plan.",
        "risk": "high",
    }
    # The exact bytes Slack would send, taken from a delivery refused for its signature, which
    # changes nothing; the two deliveries that count carry these bytes, as a retry does.
    refused = slack.submit(view, values, user=CROWD[0], secret="not-the-secret", settle=False)
    assert refused.status == 401 and stored(database, Update) == []
    deliver = partial(slack.post, refused.request_body, refused.content_type, settle=False)
    replies = at_once([deliver, deliver])
    slack.settle()
    assert [r.status for r in replies] == [200, 200]
    [update] = stored(database, Update)
    assert len(posted(fake, crowd.channel, [update])) == len(update_posts(fake, crowd.channel)) == 1
    assert UNEXPECTED not in fake.all_text()


# ---- the services raced directly, with nothing ordering the requests -------------------------


def test_a_duplicate_update_racing_its_original_finds_it(database, settings, crowd):
    draft = updates.UpdateDraft(None, date.today(), UpdateKind.NOTE, "Attended and engaged well")

    def file() -> tuple[int, bool]:
        with database.session() as session:
            case = session.get_one(Case, crowd.id)
            update, created = updates.file(
                session,
                case=case,
                draft=draft,
                filer=CROWD[0],
                filed_via="view:V1",
                request_ref="view:V1",
                basis=settings.sharing_basis(Disclosure.UPDATE),
            )
            return update.id, created

    outcomes = at_once([file] * 10)
    assert sorted(created for _, created in outcomes) == [False] * 9 + [True]
    assert len({update_id for update_id, _ in outcomes}) == 1
    assert len(stored(database, Update)) == 1


def test_reviews_recorded_at_once_number_their_actions_in_turn(database, settings, crowd):
    today = date.today()

    def record(index: int) -> bool:
        draft = reviews.ReviewDraft(
            held_on=today,
            agencies_present=[SLUGS[index]],
            decisions="Continue support",
            risk_after=Risk.LOW,
            next_review=today + timedelta(weeks=4),
            agreed=[reviews.AgreedAction("Share attendance", SLUGS[index], IN_A_WEEK)],
        )
        with database.session() as session:
            case = session.get_one(Case, crowd.id)
            _, created, _ = reviews.record(
                session,
                case=case,
                draft=draft,
                rules=reminder_rules(settings),
                actor=COORD,
                recorded_via=f"view:R{index % 10}",
                request_ref=f"view:R{index % 10}",
            )
            return created

    # Ten reviews, each delivered twice: every pair races itself and the other nine.
    outcomes = at_once([partial(record, index) for index in range(20)])
    assert sorted(outcomes) == [False] * 10 + [True] * 10
    assert len(stored(database, Review)) == 10
    assert sorted(a.number for a in stored(database, Action)) == list(range(1, 11))


def test_one_crisis_at_a_time_whoever_raises_it(slack, database, crowd):
    replies = at_once(
        [
            partial(
                slack.command,
                "/crisis",
                "Threats made online tonight",
                user=user,
                channel=crowd.channel,
                settle=False,
            )
            for user in CROWD[:5]
        ]
    )
    slack.settle()
    assert len(stored(database, Crisis)) == 1
    told = [slack.ephemeral(reply) for reply in replies]
    assert len([said for said in told if "A crisis is already open on this case" in said]) == 4


def migrate(database, direction, revision):
    with database.engine.begin() as connection:
        config = alembic_config(database.url)
        config.attributes["connection"] = connection
        direction(config, revision)


def test_the_counter_starts_from_the_numbers_cases_have_given(slack, database, crowd):
    for user in CROWD[:3]:
        add_action(slack, crowd, user)
    slack.settle()
    with database.session() as session:
        quiet, _ = cases.open_case(
            session,
            draft=cases.CaseDraft("A concern with no actions yet.", Risk.LOW, COORD, (SLUGS[0],)),
            opener=COORD,
            opened_via="seed",
            request_ref="seed",
        )
        quiet_id = quiet.id
    migrate(database, command.downgrade, "0008")
    try:
        with database.engine.connect() as connection:
            columns = {c["name"] for c in inspect(connection).get_columns("cases")}
        assert "actions_numbered" not in columns
    finally:
        migrate(database, command.upgrade, "head")
    with database.reader() as session:
        assert session.get_one(Case, crowd.id).actions_numbered == 3
        assert session.get_one(Case, quiet_id).actions_numbered == 0
    add_action(slack, crowd, CROWD[3])
    slack.settle()
    assert sorted(a.number for a in stored(database, Action)) == [1, 2, 3, 4]


def test_an_agency_registered_twice_at_once_is_registered_once(database):
    def register() -> str:
        try:
            with database.session() as session:
                agencies.add(
                    session,
                    slug="youth",
                    name="Youth Service",
                    kind=AgencyKind.YOUTH_WORK,
                    actor=ADMIN,
                    request_ref="t",
                )
        except Conflict as refused:
            return refused.message
        return "registered"

    outcomes = at_once([register] * 10)
    assert sorted(outcomes) == ["Agency `youth` exists already."] * 9 + ["registered"]


def test_a_person_added_twice_at_once_joins_once(database, crowd):
    def join() -> str:
        try:
            with database.session() as session:
                agency = agencies.get(session, SLUGS[0])
                agencies.set_member(
                    session, agency=agency, user_id=OUTSIDER, role=Role.MEMBER, actor=ADMIN, request_ref="t"
                )
        except Conflict as refused:
            return refused.message
        return "joined"

    outcomes = at_once([join] * 10)
    assert sorted(outcomes) == [f"<@{OUTSIDER}> is already a member of `{SLUGS[0]}`."] * 9 + ["joined"]


def test_a_preference_made_by_two_at_once_is_made_once(database):
    def choose(digest: str) -> None:
        with database.session() as session:
            digests.preference(session, COORD).digest = digest

    at_once([partial(choose, "weekly")] * 20)
    with database.reader() as session:
        assert session.get_one(Preference, COORD).digest == "weekly"
