"""STRICT_MEMBERSHIP=true: strangers are removed from case channels, and the lead is told."""

from __future__ import annotations

import pytest

from tests.conftest import COORD, OUTSIDER
from tests.helpers import open_case


@pytest.fixture
def settings_overrides():
    return {"strict_membership": True}


def test_stranger_is_removed_and_the_lead_told(slack, fake, database, registry):
    opened = open_case(slack, database)
    fake.channels[opened.channel].members.add(OUTSIDER)
    slack.event({"type": "member_joined_channel", "user": OUTSIDER, "channel": opened.channel})
    assert OUTSIDER not in fake.channels[opened.channel].members
    assert "They have been removed." in fake.dms(COORD)[-1]["text"]


def test_failed_removal_is_reported(slack, fake, database, registry):
    opened = open_case(slack, database)
    fake.channels[opened.channel].members.add(OUTSIDER)
    fake.fail("conversations.kick", "restricted_action")
    slack.event({"type": "member_joined_channel", "user": OUTSIDER, "channel": opened.channel})
    assert "please remove them by hand" in fake.dms(COORD)[-1]["text"]
