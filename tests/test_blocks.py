"""Block Kit builders as data: input in, dict out, Slack's limits respected."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from blocks import kit, messages, modals
from models import Agency, AgencyKind, Case, Consent, Risk, Stage
from sandbox import blockkit


def make_case(**overrides) -> Case:
    values = dict(
        reference="K7Q2M9",
        stage=Stage.REFERRAL,
        risk=Risk.HIGH,
        summary="x" * 2000,
        lead_user_id="UCOORD",
        opened_by="UCOORD",
        opened_at=datetime(2026, 11, 1, tzinfo=UTC),
        consent=Consent.NOT_RECORDED,
        agency_reference="SECRET-REF",
        channel_id="C1",
    )
    values.update(overrides)
    return Case(**values)


def agencies(n: int) -> list[Agency]:
    return [
        Agency(id=i, slug=f"agency-{i}", name=f"Agency number {i}" * 3, kind=AgencyKind.OTHER)
        for i in range(n)
    ]


def test_case_header_is_valid_and_never_carries_the_agency_reference_or_summary():
    blocks = messages.case_header(make_case(), agencies(3))
    assert blockkit.validate(blocks, "message") == []
    text = json.dumps(blocks)
    assert "SECRET-REF" not in text and "xxxx" not in text
    assert "Do not name the person" in text


def test_header_with_many_agencies_stays_within_field_limits():
    blocks = messages.case_header(make_case(), agencies(200))
    assert blockkit.validate(blocks, "message") == []


def test_topic_fits_slacks_250_characters():
    topic = messages.case_topic(make_case())
    assert len(topic) <= 250 and "K7Q2M9" in topic


def test_case_card_shows_the_summary_escaped():
    card = messages.case_card(make_case(summary="<!channel> & <@U1>"), agencies(2))
    assert blockkit.validate(card, "message") == []
    assert "&lt;!channel&gt; &amp; &lt;@U1&gt;" in json.dumps(card)


def test_long_case_list_is_cut_to_fifty_blocks_with_a_note():
    many = [make_case(reference=f"REF{i:03d}", channel_id=f"C{i}") for i in range(300)]
    blocks = messages.case_list(many)
    assert len(blocks) == 50 and blockkit.validate(blocks, "message") == []
    assert "more" in blocks[-1]["elements"][0]["text"]


def test_open_case_modal_is_valid_with_few_or_many_agencies():
    small = modals.open_case(agencies(5), opener="U1", origin_channel="C1")
    assert blockkit.validate_view(small) == []
    agency_input = next(b for b in small["blocks"] if b.get("block_id") == "agencies")
    assert agency_input["element"]["type"] == "multi_static_select"
    large = modals.open_case(agencies(150), opener="U1", origin_channel="C1")
    assert blockkit.validate_view(large) == []
    agency_input = next(b for b in large["blocks"] if b.get("block_id") == "agencies")
    assert agency_input["element"]["type"] == "multi_external_select"


def test_close_modal_title_fits():
    view = modals.close_case(make_case())
    assert blockkit.validate_view(view) == []
    assert len(view["title"]["text"]) <= 24


def test_values_flattens_every_input_kind():
    state = {
        "values": {
            "a": {"value": {"type": "plain_text_input", "value": "hi"}},
            "b": {"value": {"type": "static_select", "selected_option": {"value": "low"}}},
            "c": {"value": {"type": "multi_static_select", "selected_options": [{"value": "x"}]}},
            "d": {"value": {"type": "users_select", "selected_user": "U1"}},
            "e": {"value": {"type": "datepicker", "selected_date": "2026-01-02"}},
            "f": {"value": {"type": "static_select", "selected_option": None}},
        }
    }
    assert modals.values({"state": state}) == {
        "a": "hi",
        "b": "low",
        "c": ["x"],
        "d": "U1",
        "e": "2026-01-02",
        "f": None,
    }


def test_clip_and_fit_message():
    assert kit.clip("abcdef", 4) == "abc…"
    assert len(kit.fit_message([kit.divider()] * 80)) == 50


def test_refusal_carries_message_and_hint():
    from services.errors import NotAllowed

    assert messages.refusal(NotAllowed("No.", hint="Ask.")) == ":warning: No.\nAsk."


def test_update_form_is_valid_and_offers_a_choice_of_agency_only_when_needed():
    from datetime import date

    from blocks import updates as update_blocks
    from models import Membership, Role

    case = make_case()
    one = [Membership(agency=agencies(1)[0], user_id="U1", role=Role.MEMBER)]
    two = [*one, Membership(agency=agencies(2)[1], user_id="U1", role=Role.MEMBER)]
    single = update_blocks.update_form(case, one, today=date(2026, 11, 29))
    double = update_blocks.update_form(case, two, today=date(2026, 11, 29))
    assert blockkit.validate_view(single) == [] and blockkit.validate_view(double) == []
    assert "agency" not in [b.get("block_id") for b in single["blocks"]]
    assert "agency" in [b.get("block_id") for b in double["blocks"]]


def test_long_update_message_stays_within_limits():
    from datetime import date

    from blocks import updates as update_blocks
    from models import Update, UpdateKind

    update = Update(
        id=1,
        agency=agencies(1)[0],
        filer="U1",
        filer_role="member",
        contact_date=date(2026, 1, 1),
        kind=UpdateKind.MEETING,
        observed="<x>" * 1000,
        risk=Risk.LOW,
        concerns="c" * 1500,
        asks="a" * 1500,
        protective_factors="p" * 1500,
        restricted=False,
    )
    _, blocks = update_blocks.update_message(update, make_case())
    assert blockkit.validate(blocks, "message") == []
