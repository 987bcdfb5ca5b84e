"""Slack and the record desk about one referral: the referrer is sent where to record who it is
about, and the hub's view says what the desk found — never who."""

from __future__ import annotations

import json
from datetime import date

import pytest
from sqlalchemy import select

from blocks import referrals as referral_blocks
from models.referral import Referral
from services import referral_matching
from services.identity import Identity
from tests.conftest import COORD, SCHOOL
from tests.test_referrals import only, refer

DESK = "https://casehub.example.org/desk"
KHAN = Identity(given_names="Mohammed", family_names="Khan", date_of_birth=date(2009, 4, 7))


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {"desk_url": DESK}


def test_the_receipt_sends_the_referrer_to_the_desk_and_the_hub_sees_what_it_found(
    slack, fake, database, registry
):
    refer(slack)
    referral = only(database)
    link = f"{DESK}/referrals/{referral.label}"
    receipt = fake.dms(SCHOOL)[-1]["text"]
    assert link in receipt and "never in Slack" in receipt
    slack.click(referral_blocks.VIEW_ACTION, referral.reference, user=COORD, channel="CGENERAL")
    assert "no identity recorded yet" in json.dumps(fake.last_view())
    refer(slack, concern="Second concern: talks of joining a group online and of travelling.")
    first, second = sorted(_all(database), key=lambda r: r.id)
    with database.session() as session:  # the referrer records who each is about, on the desk
        for one in (first, second):
            referral_matching.save_identity(session, session.merge(one), KHAN, SCHOOL, f"t:{one.id}")
    slack.click(referral_blocks.VIEW_ACTION, second.reference, user=COORD, channel="CGENERAL")
    shown = json.dumps(fake.last_view())
    assert "1 earlier case(s) or referral(s) may be about the same person" in shown
    assert "Khan" not in shown and "Mohammed" not in shown and "2009" not in shown


def _all(database):
    with database.reader() as session:
        return list(session.scalars(select(Referral)))


def test_the_desk_line_never_names_anyone():
    assert "no identity recorded" in referral_blocks.desk_line(None, None)
    assert "no earlier case" in referral_blocks.desk_line(0, f"{DESK}/referrals/R-ABC123")
    line = referral_blocks.desk_line(3, f"{DESK}/referrals/R-ABC123")
    assert "3 earlier" in line and f"<{DESK}/referrals/R-ABC123|the record desk>" in line
