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


def test_handing_work_over_never_blocks_the_acknowledging_thread(settings):
    """Even with the workers stalled and their pipe full, queuing returns at once."""
    import threading

    from slack_bolt.request import BoltRequest

    from bot.work import ProcessLazyListenerRunner

    runner = ProcessLazyListenerRunner(settings, processes=1)
    runner._workers = ["stalled"]  # no worker reads: the pipe to them fills and stays full
    threading.Thread(target=runner._dispatch, daemon=True).start()
    request = BoltRequest(body="x" * 1000, headers={})

    def listener() -> None:
        pass

    def flood() -> None:
        for _ in range(5000):  # about 5 MB: far beyond what a pipe holds
            runner.start(listener, request)

    flooding = threading.Thread(target=flood, daemon=True)
    flooding.start()
    flooding.join(timeout=20)
    assert not flooding.is_alive()
