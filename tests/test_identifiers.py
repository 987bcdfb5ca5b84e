"""The identifier check: what it catches, and ordinary case notes it leaves alone."""

import pytest

from services.identifiers import PATTERNS, Kind, scan, scan_fields

CAUGHT = {
    "Seen at school, born 12/03/2008": Kind.DATE_OF_BIRTH,
    "DOB: 3 March 2009": Kind.DATE_OF_BIRTH,
    "call on 07700 900123": Kind.PHONE,
    "ring +44 20 7946 0958 tomorrow": Kind.PHONE,
    "mail j.doe@example.org": Kind.EMAIL,
    "lives near SW1A 1AA": Kind.POSTCODE,
    "NI AB 12 34 56 C": Kind.NI_NUMBER,
    "NHS 943 476 5919": Kind.NHS_NUMBER,
    "the young person named John Smith said": Kind.NAME,
    "Amira Hassan was born in": Kind.NAME,
    "NIR 1 85 05 78 006 084 36": Kind.NIR,
}


@pytest.mark.parametrize(("text", "kind"), CAUGHT.items())
def test_identifier_is_caught(text, kind):
    assert kind in [finding.kind for finding in scan(text, "observed")]


@pytest.mark.parametrize(
    "text",
    [
        "Attended the mentoring session on 2026-11-20; engaged well.",
        "Risk reduced after home visit; Year 10 pupil.",
        "Shared 3 videos in class, 14 minutes each.",
        "Meeting at 10:30 with the Youth Offending Team",
        "Referred by School B to Channel panel",
    ],
)
def test_ordinary_notes_pass(text):
    assert scan(text, "observed") == []


def test_every_pattern_is_exercised():
    assert set(CAUGHT.values()) == set(PATTERNS)


def test_findings_name_their_field_and_say_what_to_do():
    [finding] = scan_fields({"observed": "fine", "concerns": "dob 01/02/2010"})
    assert finding.field == "concerns"
    assert "Remove it: it cannot be shared" in finding.message() and not finding.overridable
