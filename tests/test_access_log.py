"""The access log: every view of a case's content is recorded before it is shown, and the lead
(or a data protection officer) can see who was shown what."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import SQLAlchemyError

from models import AccessRecord
from tests.conftest import COORD, COORD2, OUTSIDER, POLICE, SCHOOL
from tests.helpers import open_case

DPO = "UDPO1"


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {"casehub_dpos": [DPO]}


@pytest.fixture
def case(slack, fake, database, registry):
    fake.add_user(DPO)
    return open_case(slack, database)


def views(database) -> list[tuple[str, str]]:
    with database.reader() as session:
        return [(r.user_id, r.view) for r in session.scalars(select(AccessRecord).order_by(AccessRecord.id))]


def test_each_view_of_a_case_is_recorded_once_per_request(slack, database, case):
    status = slack.command("/case", "status", user=SCHOOL, channel=case.channel)
    slack.command("/case", "timeline", user=POLICE, channel=case.channel)
    slack.command("/case", "sharing", user=COORD, channel=case.channel)
    assert views(database) == [(SCHOOL, "status"), (POLICE, "timeline"), (COORD, "sharing")]
    slack.replay(status)  # Slack delivering the same request again records nothing more
    assert views(database).count((SCHOOL, "status")) == 1


def test_a_refused_view_is_not_recorded(slack, database, case):
    reply = slack.command("/case", "sharing", user=SCHOOL, channel=case.channel)
    assert "Only the lead coordinator" in slack.ephemeral(reply)
    assert views(database) == []


def test_the_home_tab_records_the_cases_it_shows(slack, database, case):
    slack.home_opened(COORD)
    slack.home_opened(OUTSIDER)
    assert views(database) == [(COORD, "home")]  # the outsider was shown no case


def test_the_lead_sees_who_was_shown_what(slack, database, case):
    slack.command("/case", "timeline", user=SCHOOL, channel=case.channel)
    reply = slack.command("/case", "access", user=COORD, channel=case.channel)
    shown = slack.ephemeral(reply)
    assert f"Who has read case {case.reference}" in shown
    assert f"<@{SCHOOL}> · the timeline" in shown
    assert (COORD, "access") in views(database)  # reading the access log is a view too


def test_only_the_lead_or_a_data_protection_officer_may_see_it(slack, database, case):
    for user in (SCHOOL, COORD2):
        reply = slack.command("/case", "access", user=user, channel=case.channel)
        assert "data protection officer, may see who has read it" in slack.ephemeral(reply)
    reply = slack.command("/case", f"access {case.reference}", user=DPO, channel="CGENERAL")
    assert f"Who has read case {case.reference}" in slack.ephemeral(reply)
    assert [v for v in views(database) if v[1] == "access"] == [(DPO, "access")]


def test_the_access_log_is_append_only(slack, database, case):
    slack.command("/case", "status", user=SCHOOL, channel=case.channel)
    for statement in ("UPDATE access_log SET user_id = 'UX'", "DELETE FROM access_log"):
        with pytest.raises(SQLAlchemyError, match="append-only"), database.engine.begin() as connection:
            connection.execute(text(statement))
    assert views(database) == [(SCHOOL, "status")]


def test_a_view_recorded_twice_by_one_request_is_one_entry(slack, database, case):
    from services import access

    for _ in range(2):  # the same request's work done again (a retried job)
        with database.session() as session:
            access.viewed(session, user=SCHOOL, case_ids=[case.id], view="timeline", request_ref="command:x")
    assert views(database) == [(SCHOOL, "timeline")]


def test_asking_for_another_cases_access_log_reveals_nothing(slack, database, case):
    for reference in (case.reference, "ZZZZZZ"):  # a real case and none: the same answer
        reply = slack.command("/case", f"access {reference}", user=SCHOOL, channel="CGENERAL")
        assert "data protection officer, may see who has read it" in slack.ephemeral(reply)


def test_action_and_case_lists_and_the_crisis_status_are_recorded(slack, database, case):
    slack.command(
        "/action",
        f"add Share attendance figures <@{SCHOOL}> due:2027-01-11",
        user=COORD,
        channel=case.channel,
    )
    slack.command("/action", "list", user=SCHOOL, channel=case.channel)
    slack.command("/case", "list", user=COORD, channel="CGENERAL")
    slack.command("/crisis", "status", user=POLICE, channel=case.channel)
    slack.command("/case", "list", user=COORD2, channel="CGENERAL")  # leads none: nothing shown
    assert views(database) == [(SCHOOL, "actions"), (COORD, "cases"), (POLICE, "crisis")]
