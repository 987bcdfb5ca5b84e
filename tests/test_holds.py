"""Legal holds: a data protection officer holds and releases a case, with reasons, audited."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from models import AuditEvent, CaseHold, utcnow
from services import chain
from tests.conftest import ADMIN, COORD, KEY_ENV
from tests.helpers import open_case

ROOT = Path(__file__).resolve().parent.parent
DPO = "UDPO1"


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {"casehub_dpos": [DPO]}


@pytest.fixture
def case(slack, fake, database, registry):
    fake.add_user(DPO)
    return open_case(slack, database)


def holds(database) -> list[CaseHold]:
    with database.reader() as session:
        return list(session.scalars(select(CaseHold).order_by(CaseHold.id)))


def audited(database, action: str) -> list[AuditEvent]:
    with database.reader() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def test_an_officer_holds_and_releases_a_case_with_reasons(slack, database, case):
    reply = slack.command(
        "/case", f"hold {case.reference} Inquiry by the county council, ref IR-22", user=DPO
    )
    assert f"Case {case.reference} is held" in slack.ephemeral(reply)
    [held] = holds(database)
    assert held.placed_by == DPO and held.reason == "Inquiry by the county council, ref IR-22"
    assert held.lifted_at is None
    reply = slack.command("/case", f"release {case.reference} Inquiry closed in November", user=DPO)
    assert "released from its hold" in slack.ephemeral(reply)
    [released] = holds(database)
    assert released.lifted_by == DPO and released.lift_reason == "Inquiry closed in November"
    assert [e.details["reason"] for e in audited(database, "case.hold_placed")] == [held.reason]
    assert [e.details["reason"] for e in audited(database, "case.hold_lifted")] == [released.lift_reason]
    with database.engine.connect() as connection:
        assert chain.verify(connection).intact  # the entries are sealed like every other


def test_only_an_officer_may_hold_and_nobody_else_learns_which_cases_exist(slack, database, case):
    for user in (COORD, ADMIN):
        for reference in (case.reference, "ZZZZZZ"):
            reply = slack.command("/case", f"hold {reference} Inquiry by the council", user=user)
            assert "Only a data protection officer may hold or release a case" in slack.ephemeral(reply)
    assert holds(database) == []


@pytest.mark.parametrize(
    ("words", "said"),
    [
        ("hold", "Name the case and give the reason"),
        ("hold {ref}", "Give the reason to hold the case"),
        ("hold {ref} x", "Give the reason to hold the case"),
        ("hold ZZZZZZ An inquiry", "There is no case `ZZZZZZ`"),
        ("release {ref} Inquiry closed", "is not held"),
    ],
)
def test_mistakes_are_answered_and_change_nothing(slack, database, case, words, said):
    reply = slack.command("/case", words.format(ref=case.reference), user=DPO)
    assert said in slack.ephemeral(reply)
    assert holds(database) == []


def test_a_second_hold_is_refused_and_a_repeated_delivery_changes_nothing(slack, database, case):
    first = slack.command("/case", f"hold {case.reference} Inquiry by the council", user=DPO)
    slack.replay(first)
    again = slack.command("/case", f"hold {case.reference} Another inquiry", user=DPO)
    assert "is held already" in slack.ephemeral(again)
    assert len(holds(database)) == 1 and len(audited(database, "case.hold_placed")) == 1


def test_the_database_keeps_one_hold_in_force_per_case(database, case):
    with pytest.raises(IntegrityError), database.session() as session:
        for _ in range(2):
            session.add(CaseHold(case_id=case.id, placed_by=DPO, reason="Inquiry", placed_at=utcnow()))
            session.flush()


def test_holds_are_listed_from_the_command_line(slack, database, case, tmp_path):
    slack.command("/case", f"hold {case.reference} Inquiry by the county council", user=DPO)
    done = subprocess.run(
        [sys.executable, "-m", "bot", "holds"],
        capture_output=True,
        text=True,
        env={"DATABASE_URL": database.url, "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), **KEY_ENV},
        cwd=tmp_path,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "1 case(s) held" in done.stdout
    assert f"{case.reference}: since" in done.stdout and "Inquiry by the county council" in done.stdout
