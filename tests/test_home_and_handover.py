"""App Home for coordinators and members, and hand-over between people in a role."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select

from models import Action, ActionEvent, Case, Priority, Risk, clock
from sandbox import blockkit
from services import actions, cases
from tests.conftest import ADMIN, COORD, COORD2, HOUSING, OUTSIDER, POLICE, SCHOOL
from tests.helpers import open_case

IN_A_WEEK = (date.today() + timedelta(days=7)).isoformat()


def open_home(slack, user):
    slack.event({"type": "app_home_opened", "user": user, "channel": f"D{user}", "tab": "home"})
    return slack.fake.published[user]


def test_coordinator_home_shows_cases_overdue_and_silent_agencies(slack, fake, database, registry):
    case = open_case(slack, database, agencies=("police", "school"), risk="high")
    slack.command("/update", "Attended the first meeting", user=POLICE, channel=case.channel)
    slack.command(
        "/action", f"add Share attendance <@{SCHOOL}> due:{IN_A_WEEK}", user=COORD, channel=case.channel
    )
    slack.command(
        "/action",
        f"add Police check <@{POLICE}> due:{date.today().isoformat()}",
        user=COORD,
        channel=case.channel,
    )
    with clock.set_to(datetime.now(UTC) + timedelta(days=3, minutes=1)):
        home = open_home(slack, COORD)
    text = json.dumps(home["blocks"], ensure_ascii=False)
    assert case.reference in text and "🟠 high" in text
    assert "Overdue actions (1)" in text and "*County Police* — 1 overdue" in text
    assert "Police check" in text
    assert "Agencies that have filed nothing" in text and "Northfield Academy" in text
    assert "County Police: 3d" in text
    assert home["blocks"][1]["elements"][0]["action_id"] == "home_open_case"


def test_member_home_shows_own_and_agency_actions(slack, fake, database, registry):
    case = open_case(slack, database, agencies=("police", "school"))
    slack.command(
        "/action", f"add Share attendance <@{SCHOOL}> due:{IN_A_WEEK}", user=COORD, channel=case.channel
    )
    slack.command(
        "/action", f"add Police check <@{POLICE}> due:{IN_A_WEEK}", user=COORD, channel=case.channel
    )
    home = open_home(slack, SCHOOL)
    text = json.dumps(home["blocks"])
    assert "Share attendance" in text and "Police check" not in text
    assert "Your open cases" not in text
    assert "Share attendance" not in json.dumps(open_home(slack, OUTSIDER)["blocks"])


def test_done_from_home_updates_the_channel_and_home(slack, fake, database, registry):
    case = open_case(slack, database, agencies=("school",))
    slack.command(
        "/action", f"add Share attendance <@{SCHOOL}> due:{IN_A_WEEK}", user=COORD, channel=case.channel
    )
    home = open_home(slack, SCHOOL)
    button = next(
        b["accessory"] for b in home["blocks"] if b.get("accessory", {}).get("text", {}).get("text") == "Done"
    )
    assert button["action_id"].startswith("action_done:")
    payload_container = {"type": "view"}
    slack.click(button["action_id"], button["value"], user=SCHOOL, container=payload_container)
    with database.reader() as session:
        assert not session.scalars(select(Action)).one().is_open
    assert "No open actions." in json.dumps(fake.published[SCHOOL]["blocks"])


def test_home_open_case_button_opens_the_case_form(slack, fake, database, registry):
    slack.click("home_open_case", "open", user=COORD)
    assert fake.last_view()["callback_id"] == "case_open"
    reply = slack.click("home_open_case", "open", user=POLICE)
    assert "Only coordinators" in slack.ephemeral(reply)


def test_home_stays_valid_with_hundreds_of_actions(slack, fake, database, registry):
    with database.session() as session:
        for n in range(12):
            draft = cases.CaseDraft(
                "A concern without names.", Risk.HIGH if n % 2 else Risk.LOW, COORD, ("police", "school")
            )
            case, _ = cases.open_case(
                session, draft=draft, opener=COORD, opened_via=f"seed-{n}", request_ref="t"
            )
            for i in range(30):
                session.add(
                    Action(
                        case_id=case.id,
                        number=i + 1,
                        text=f"Task {i} for case {n}",
                        agency_id=case.participations[i % 2].agency_id,
                        owner=POLICE if i % 2 == 0 else SCHOOL,
                        priority=Priority.NORMAL,
                        due=date.today() + timedelta(days=(i % 10) - 5),
                        created_by=COORD,
                        created_via=f"seed-{n}-{i}",
                    )
                )
    home = open_home(slack, COORD)
    assert blockkit.validate_view(home) == []
    assert len(home["blocks"]) <= 100
    text = json.dumps(home["blocks"], ensure_ascii=False)
    assert "Your open cases (12)" in text and "…and" in text
    # The most urgent first: high-risk cases lead the list.
    first_case = next(b for b in home["blocks"] if b["type"] == "section" and "·" in b["text"]["text"])
    assert "high" in first_case["text"]["text"]
    assert blockkit.validate_view(open_home(slack, POLICE)) == []


def test_handover_moves_role_channels_actions_and_lead_duties(slack, fake, database, registry):
    case = open_case(slack, database, agencies=("police", "school"))
    slack.command(
        "/action", f"add Police check <@{POLICE}> due:{IN_A_WEEK}", user=COORD, channel=case.channel
    )
    fake.add_user("UPOLNEW")
    reply = slack.command("/agency", f"handover <@{POLICE}> <@UPOLNEW> police", user=ADMIN)
    said = slack.ephemeral(reply)
    assert "has taken over" in said and "1 open action(s)" in said
    members = fake.channels[case.channel].members
    assert "UPOLNEW" in members and POLICE not in members
    with database.reader() as session:
        action = session.scalars(select(Action)).one()
        assert action.owner == "UPOLNEW"
        kinds = session.scalars(select(ActionEvent.kind).where(ActionEvent.action_id == action.id)).all()
    assert kinds == ["created", "handed-over"]
    briefing = json.dumps(fake.dms("UPOLNEW")[-1]["blocks"])
    assert case.reference in briefing and "Police check" in briefing
    assert any("Hand-over" in m["text"] for m in fake.posts(case.channel))


def test_coordinator_handover_moves_lead_duties(slack, fake, database, registry):
    case = open_case(slack, database, agencies=("police",))
    slack.command("/agency", f"handover <@{COORD}> <@{HOUSING}> hub", user=COORD2)  # a coordinator of hub
    with database.reader() as session:
        assert session.get_one(Case, case.id).lead_user_id == HOUSING
    members = fake.channels[case.channel].members
    assert HOUSING in members and COORD not in members
    assert f"<@{HOUSING}>" in json.dumps(fake.posts(case.channel)[0]["blocks"])
    assert "you are the lead coordinator" in json.dumps(fake.dms(HOUSING)[-1]["blocks"])


def test_handover_refusals(slack, database, registry):
    checks = {
        (SCHOOL, f"handover <@{POLICE}> <@{HOUSING}> police"): "Only casehub admins and coordinators",
        (ADMIN, f"handover <@{POLICE}> <@{POLICE}> police"): "cannot hand over to themselves",
        (ADMIN, f"handover <@{OUTSIDER}> <@{HOUSING}>"): "has no role in any agency",
        (ADMIN, f"handover <@{SCHOOL}> <@{HOUSING}> police"): "is not in `police`",
        (ADMIN, f"handover <@{POLICE}>"): "Name who hands over",
        (ADMIN, f"handover <@{POLICE}> <@{HOUSING}> ghosts"): "no agency `ghosts`",
    }
    for (user, text), expected in checks.items():
        said = slack.ephemeral(slack.command("/agency", text, user=user))
        assert expected in said, (text, said)


def test_action_service_similarity_is_agency_scoped(database, registry):
    with database.session() as session:
        draft = cases.CaseDraft("A concern without names.", Risk.LOW, COORD, ("police", "school"))
        case, _ = cases.open_case(session, draft=draft, opener=COORD, opened_via="x", request_ref="t")
        first = actions.ActionDraft("Share attendance records", "school", None, date.today())
        actions.add(session, case=case, draft=first, actor=COORD, created_via="a1", request_ref="t")
        police = actions.ActionDraft("Share attendance records", "police", None, date.today())
        actions.add(session, case=case, draft=police, actor=COORD, created_via="a2", request_ref="t")
        again = actions.ActionDraft("share the attendance records", "school", None, date.today())
        try:
            actions.add(session, case=case, draft=again, actor=COORD, created_via="a3", request_ref="t")
        except actions.LooksDuplicate as duplicate:
            assert duplicate.existing.number == 1
        else:
            raise AssertionError("a near-copy was not flagged")
