"""With WORK_PROCESSES > 0 the slow part of each request runs in a worker process."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from models import Case, SetupState
from tests.conftest import COORD, POLICE
from tests.helpers import open_case


@pytest.fixture
def settings_overrides():
    return {"work_processes": 1}


def test_case_opens_through_a_worker_process(slack, fake, database, registry):
    opened = open_case(slack, database)
    assert POLICE in fake.channels[opened.channel].members
    with database.reader() as session:
        assert session.scalars(select(Case)).one().setup_state is SetupState.READY
    said = slack.ephemeral(slack.command("/case", "stage screening", user=POLICE, channel=opened.channel))
    assert "Only the lead coordinator" in said
    assert fake.dms(COORD)
