"""`/agency` over HTTP, and the registry import."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.__main__ import import_agencies
from models import Agency, AgencyKind, AuditEvent, Membership, Role
from services import agencies
from services.errors import InvalidInput
from tests.conftest import ADMIN, COORD, HOUSING, KEY_ENV, OUTSIDER, POLICE
from tests.helpers import open_case

ROOT = Path(__file__).resolve().parent.parent


def test_admin_registers_an_agency(slack, database):
    reply = slack.command("/agency", 'add met-police "Metropolitan Police" police', user=ADMIN)
    assert "is registered" in slack.ephemeral(reply)
    with database.reader() as session:
        agency = session.scalars(select(Agency)).one()
        assert (agency.slug, agency.name, agency.kind) == (
            "met-police",
            "Metropolitan Police",
            AgencyKind.POLICE,
        )
        event = session.scalars(select(AuditEvent)).one()
        assert (event.actor, event.action) == (ADMIN, "agency.added")
        assert event.request_ref.startswith("command:/agency:")


def test_registry_changes_are_for_admins(slack, database):
    for text in ('add x "X"', "member add hub <@UX|x>"):
        said = slack.ephemeral(slack.command("/agency", text, user=OUTSIDER))
        assert "Only casehub admins" in said
    with database.reader() as session:
        assert session.scalars(select(Agency)).all() == []


def test_bad_agency_arguments_say_how(slack, database, registry):
    cases = {
        'add Bad_Slug "X"': "not a valid agency slug",
        'add ok-slug "X" spaceship': "is not an agency kind",
        'add police "Again"': "exists already",
        "add only-slug": "Give a slug, a display name",
        'add x "unclosed': "quotes do not match",
        "member add police nobody": "is not a person",
        "member add police <@UX|x> boss": "is not a role",
        "member add ghosts <@UX|x>": "no agency `ghosts`",
        "member remove police <@UX|x>": "is not in `police`",
        "member add police": "Say add or remove",
    }
    for text, expected in cases.items():
        said = slack.ephemeral(slack.command("/agency", text, user=ADMIN))
        assert expected in said, (text, said)
    with database.reader() as session:
        assert len(session.scalars(select(Agency)).all()) == 5


def test_list_shows_agencies_and_roles(slack, registry):
    said = slack.ephemeral(slack.command("/agency", "list", user=OUTSIDER))
    assert "County Police" in said and f"<@{POLICE}> (member)" in said


def test_new_member_joins_the_agency_case_channels_and_leaves_them(slack, fake, database, registry):
    opened = open_case(slack, database, agencies=("police",))
    slack.command("/agency", f"member add police <@{HOUSING}|h> observer", user=ADMIN)
    assert HOUSING in fake.channels[opened.channel].members
    with database.reader() as session:
        membership = session.scalars(
            select(Membership).where(Membership.user_id == HOUSING, Membership.role == Role.OBSERVER)
        ).one()
        assert membership is not None
    slack.command("/agency", f"member remove police <@{HOUSING}|h>", user=ADMIN)
    assert HOUSING not in fake.channels[opened.channel].members
    # Someone entitled through another agency stays.
    slack.command("/agency", f"member add police <@{COORD}>", user=ADMIN)
    slack.command("/agency", f"member remove police <@{COORD}>", user=ADMIN)
    assert COORD in fake.channels[opened.channel].members


def test_role_change_is_recorded(slack, database, registry):
    slack.command("/agency", f"member add police <@{POLICE}> coordinator", user=ADMIN)
    said = slack.ephemeral(slack.command("/agency", f"member add police <@{POLICE}> coordinator", user=ADMIN))
    assert "already a coordinator" in said
    with database.reader() as session:
        event = session.scalars(select(AuditEvent).where(AuditEvent.actor == ADMIN)).one()
        assert event.details == {"user": POLICE, "role": "coordinator", "previous": "member"}


def test_agency_help(slack):
    said = slack.ephemeral(slack.command("/agency", "", user=OUTSIDER))
    assert "/agency member add" in said and "*Example:*" in said and "police, education" in said


def test_import_is_repeatable(database):
    data = {
        "agencies": [
            {
                "slug": "police",
                "name": "County Police",
                "kind": "police",
                "members": {"U111": "member", "U222": "coordinator"},
            },
            {"slug": "school", "name": "Academy", "kind": "school"},
        ]
    }
    with database.session() as session:
        first = agencies.import_registry(session, data, actor="cli", request_ref="t")
        assert first == agencies.ImportSummary(added=2, updated=0, roles_set=2)
    with database.session() as session:
        again = agencies.import_registry(session, data, actor="cli", request_ref="t")
        assert again == agencies.ImportSummary(added=0, updated=0, roles_set=0)
    data["agencies"][0]["members"]["U111"] = "observer"
    with database.session() as session:
        changed = agencies.import_registry(session, data, actor="cli", request_ref="t")
        assert changed == agencies.ImportSummary(added=0, updated=0, roles_set=1)


def test_import_command_line(database, tmp_path):
    env = {"DATABASE_URL": database.url, "PATH": "/usr/bin:/bin", **KEY_ENV}
    result = subprocess.run(
        [sys.executable, "-m", "bot", "agencies", "import", str(ROOT / "examples" / "agencies.yaml")],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "new agencies" in result.stdout
    with database.reader() as session:
        assert len(session.scalars(select(Agency)).all()) >= 5
    broken = tmp_path / "broken.yaml"
    broken.write_text("agencies: [{slug: 'Bad Slug', name: x}]")
    result = subprocess.run(
        [sys.executable, "-m", "bot", "agencies", "import", str(broken)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
    )
    assert result.returncode == 2 and "not a valid agency slug" in result.stderr


def run_import(registry_file: Path, database, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", "agencies", "import", str(registry_file)],
        capture_output=True,
        text=True,
        env={"DATABASE_URL": database.url, "PATH": "/usr/bin:/bin", **KEY_ENV},
        cwd=cwd,
        timeout=60,
    )


TWO_AGENCIES = """
agencies:
  - slug: hub
    name: Safeguarding Hub
    kind: local-authority
    timezone: Europe/London
    members:
      U0HUB01: coordinator
  - slug: mentors
    name: Youth Mentoring Project
    kind: ngo
    members:
      W0MENT1: member
"""


def test_import_again_updates_names_kinds_and_zones(database, tmp_path, monkeypatch, capsys):
    # What `python -m bot agencies import` runs, in this process (the command line itself is
    # tested above): its identifier check is loaded here already.
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", database.url)
    registry_file = tmp_path / "agencies.yaml"
    registry_file.write_text(TWO_AGENCIES)
    assert import_agencies(registry_file) == 0, capsys.readouterr().err
    assert "2 new agencies, 0 updated, 2 roles set" in capsys.readouterr().out
    registry_file.write_text(
        TWO_AGENCIES.replace("Youth Mentoring Project", "Mentoring Partnership")
        .replace("kind: ngo", "kind: youth-work")
        .replace("Europe/London", "Europe/Paris")
    )
    assert import_agencies(registry_file) == 0, capsys.readouterr().err
    assert "0 new agencies, 2 updated, 0 roles set" in capsys.readouterr().out
    with database.reader() as session:
        mentors, hub = agencies.get(session, "mentors"), agencies.get(session, "hub")
        assert (mentors.name, mentors.kind) == ("Mentoring Partnership", AgencyKind.YOUTH_WORK)
        assert (hub.name, hub.timezone) == ("Safeguarding Hub", "Europe/Paris")
        changes = session.scalars(
            select(AuditEvent).where(AuditEvent.action.in_(["agency.updated", "agency.timezone"]))
        ).all()
        trail = {(event.action, event.agency_id): event.details for event in changes}
    assert trail[("agency.updated", mentors.id)] == {
        "name": "Mentoring Partnership",
        "kind": "youth-work",
        "previous_name": "Youth Mentoring Project",
        "previous_kind": "ngo",
    }
    assert trail[("agency.timezone", hub.id)] == {"timezone": "Europe/Paris", "previous": "Europe/London"}


def test_an_entry_that_leaves_the_kind_out_keeps_it(database, registry):
    data = {"agencies": [{"slug": "police", "name": "County Police Prevent Team"}]}
    with database.session() as session:
        summary = agencies.import_registry(session, data, actor="cli", request_ref="t")
    assert summary == agencies.ImportSummary(added=0, updated=1, roles_set=0)
    with database.reader() as session:
        police = agencies.get(session, "police")
        assert (police.name, police.kind) == ("County Police Prevent Team", AgencyKind.POLICE)


@pytest.mark.parametrize(
    ("members", "timezone", "said"),
    [
        ({"u0abc12": "member"}, None, "`u0abc12` is not a Slack user ID"),
        ({12345: "member"}, None, "`12345` is not a Slack user ID"),
        ({"C0CHANNEL": "member"}, None, "`C0CHANNEL` is not a Slack user ID"),
        ({"<@U0ABC12>": "member"}, None, "`<@U0ABC12>` is not a Slack user ID"),
        ({"U0ABC12": "boss"}, None, "`boss` is not a role"),
        ({}, "Mars/Olympus_Mons", "`Mars/Olympus_Mons` is not a time zone"),
        ({}, "Europe", "`Europe` is not a time zone"),
    ],
)
def test_a_bad_entry_refuses_the_whole_import(members, timezone, said, database, registry):
    bad = {"slug": "mentors", "name": "Youth Mentoring Project", "members": members}
    if timezone:
        bad["timezone"] = timezone
    data = {
        "agencies": [
            {"slug": "police", "name": "Renamed Police", "kind": "other"},
            {"slug": "youth", "name": "Youth Service", "members": {"U0YOUTH": "member"}},
            bad,
        ]
    }
    with pytest.raises(InvalidInput) as refused, database.session() as session:
        agencies.import_registry(session, data, actor="cli", request_ref="t")
    assert str(refused.value).startswith(f"Entry 3 (`mentors`): {said}")
    with database.reader() as session:
        assert {a.slug for a in agencies.all_agencies(session)} == {
            "hub",
            "police",
            "school",
            "health",
            "housing",
        }
        assert agencies.get(session, "police").name == "County Police"
        assert session.scalars(select(Membership).where(Membership.user_id == "U0YOUTH")).all() == []


def test_a_misspelt_key_is_refused(database):
    data = {"agencies": [{"slug": "hub", "name": "Hub", "tz": "Europe/Paris"}]}
    refusal = r"Entry 1 \(`hub`\): `tz` is not a key of an agency entry"
    with pytest.raises(InvalidInput, match=refusal), database.session() as session:
        agencies.import_registry(session, data, actor="cli", request_ref="t")
    with database.reader() as session:
        assert agencies.all_agencies(session) == []


@pytest.mark.parametrize(
    ("mistake", "said"),
    [
        (
            ("U0HUB01: coordinator", "u0hub01: coordinator"),
            "Entry 1 (`hub`): `u0hub01` is not a Slack user ID",
        ),
        (("Europe/London", "Europe/Londres"), "Entry 1 (`hub`): `Europe/Londres` is not a time zone"),
    ],
    ids=["member", "zone"],
)
def test_the_import_command_refuses_in_one_line_and_imports_nothing(mistake, said, database, tmp_path):
    registry_file = tmp_path / "agencies.yaml"
    registry_file.write_text(TWO_AGENCIES.replace(*mistake))
    result = run_import(registry_file, database, tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    [line] = result.stderr.splitlines()
    assert said in line and "Nothing was imported." in line
    with database.reader() as session:
        assert agencies.all_agencies(session) == []


def test_the_import_command_explains_a_yaml_mistake_in_one_line(database, tmp_path):
    registry_file = tmp_path / "agencies.yaml"
    registry_file.write_text("agencies:\n  - slug: hub\n   name: [Hub\n")
    result = run_import(registry_file, database, tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    [line] = result.stderr.splitlines()
    assert "is not valid YAML at line" in line


def test_agency_time_zone(slack, database, registry):
    said = slack.ephemeral(slack.command("/agency", "timezone police Europe/Paris", user=ADMIN))
    assert "Europe/Paris" in said
    assert "not a time zone" in slack.ephemeral(
        slack.command("/agency", "timezone police Mars/Base", user=ADMIN)
    )
    assert "Only casehub admins" in slack.ephemeral(
        slack.command("/agency", "timezone police UTC", user=POLICE)
    )
    with database.reader() as session:
        assert agencies.get(session, "police").timezone == "Europe/Paris"
