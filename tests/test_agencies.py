"""`/agency` over HTTP, and the registry import."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sqlalchemy import select

from models import Agency, AgencyKind, AuditEvent, Membership, Role
from services import agencies
from tests.conftest import ADMIN, COORD, HOUSING, OUTSIDER, POLICE
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
                "members": {"U1": "member", "U2": "coordinator"},
            },
            {"slug": "school", "name": "Academy", "kind": "school"},
        ]
    }
    with database.session() as session:
        assert agencies.import_registry(session, data, actor="cli", request_ref="t") == (2, 2)
    data["agencies"][0]["members"]["U1"] = "observer"
    with database.session() as session:
        assert agencies.import_registry(session, data, actor="cli", request_ref="t") == (0, 1)


def test_import_command_line(database, tmp_path):
    env = {"DATABASE_URL": database.url, "PATH": "/usr/bin:/bin"}
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
