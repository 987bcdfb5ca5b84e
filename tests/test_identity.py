"""The person a case is about: the identity stored encrypted, found again as a repeat referral
through the blind index, linked or dismissed by a coordinator, deleted with the case's record."""

from __future__ import annotations

import base64
import hashlib
import io
import os
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import replace
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select, text

from bot.__main__ import main
from bot.keys import check_matching_at_start
from bot.settings import ConfigurationError, load_settings
from models import AccessRecord, AuditEvent, Case, MatchDecision, Person, PersonKey, Risk, Stage, utcnow
from services import identity, identity_forms, identity_index, retention
from services.errors import Conflict, InvalidInput, NotAllowed
from services.identity import Identity
from services.identity_score import compare, dob_level, token_level
from tests.conftest import COORD, MATCHING_KEY, POLICE
from tests.helpers import logging_as_configured
from tests.test_encryption import postgres_dump, sqlite_dump

KHAN = Identity(
    given_names="Mohammed Bilal",
    family_names="Khan",
    aliases=("Mo",),
    date_of_birth=date(2009, 3, 4),
    gender="male",
    address="14 Corrie Street, Leeds LS6 2AB",
    school_or_employer="Westbrook High School",
    agency_references=("PC-2026-00417",),
    contacts=("07700 900123",),
)
NOWAK = Identity(given_names="Zuzanna", family_names="Kowalska-Nowak", date_of_birth=date(2011, 11, 23))
# Near but not the same: a brother at the same address, another Mohammed Khan born elsewhen.
BROTHER = Identity(
    given_names="Yusuf",
    family_names="Khan",
    date_of_birth=date(2011, 6, 30),
    address="14 Corrie Street, LS6 2AB",
)
NAMESAKE = Identity(given_names="Mohammed", family_names="Khan", date_of_birth=date(2001, 12, 19))
# What must not be found where the identity is encrypted (long enough not to turn up by chance
# in base64).
WORDS = ("Mohammed", "Bilal", "Corrie Street", "LS6 2AB", "Westbrook", "PC-2026", "900123", "2009-03-04")


@pytest.fixture
def record(database, registry):
    """A few people on file, each the person of a case of their own: name to case id."""
    on_file = {}
    with database.session() as session:
        for number, (name, who) in enumerate(
            {"khan": KHAN, "nowak": NOWAK, "brother": BROTHER, "namesake": NAMESAKE}.items(), start=1
        ):
            case = new_case(session, number, closed=name == "khan")
            identity.save_identity(session, case, who, COORD, f"test:save:{number}")
            on_file[name] = case.id
    return on_file


def new_case(session, number: int, *, closed: bool = False) -> Case:
    case = Case(
        area_id=1,  # the area `main` every migrated database has
        reference=f"T{number:05d}",
        risk=Risk.MODERATE,
        summary="A referral for the tests.",
        lead_user_id=COORD,
        opened_by=COORD,
        opened_via=f"test:{number}",
    )
    if closed:
        case.stage, case.closed_at = Stage.CLOSED, utcnow()
    session.add(case)
    session.flush()
    return case


def search(database, who: Identity, *, exclude: int | None = None) -> list[identity.Candidate]:
    with database.reader() as session:
        case = session.get_one(Case, exclude) if exclude is not None else None
        return identity.candidates(session, who, exclude_case=case)


# ---- the forms of a name ----------------------------------------------------------------------
def test_names_are_transliterated_case_folded_and_split():
    assert identity_forms.tokens("Muñoz-O'Brien") == ("munoz", "obrien")
    assert identity_forms.tokens("Иванов") == ("ivanov",)
    assert identity_forms.tokens("  Jean-Pierre  de la Fontaine ") == (
        "jean",
        "pierre",
        "de",
        "la",
        "fontaine",
    )
    name = identity_forms.Name(("abdul", "rahman"), ("al", "hassan"))
    assert {f.text for f in identity_forms.forms(name)} == {
        "abdul",
        "rahman",
        "abdulrahman",
        "hassan",
        "alhassan",
    }
    berg = identity_forms.Name(("ben",), ("van", "der", "berg"))
    # Particles leave a family name, not a given one (Ben), nor a family name of nothing else (Le).
    assert {f.text for f in identity_forms.forms(berg)} == {"ben", "berg", "vanderberg"}
    assert {f.text for f in identity_forms.forms(identity_forms.Name(("mai",), ("le",)))} == {"mai", "le"}


def test_transliterations_and_nicknames_share_a_code():
    codes = identity_forms.codes
    for one, other in (("mohammed", "muhammad"), ("mohamed", "mohammad"), ("hussein", "hussain"),
                       ("yusuf", "youssef"), ("smith", "smyth"), ("kowalski", "kowalsky"),
                       ("william", "bill"), ("aleksandr", "alexander"), ("siobhan", "shivaun")):  # fmt: skip
        assert codes(one) & codes(other), (one, other)
    assert not codes("mohammed") & codes("khan")
    assert token_level("mohammed", "muhammad") in ("variant", "sound")
    assert token_level("smith", "smiht") == "sound"
    assert token_level("kowalczyk", "kowalcyzk") == "spelling"
    # Double Metaphone brings these together; they are different names all the same.
    assert token_level("hassan", "hussein") == "different"
    assert token_level("emily", "amelia") == "different"
    assert token_level("lily", "lola") == "similar"  # a code in common, written far apart
    assert token_level("jack", "oliver") == "different"


def test_dates_of_birth_are_compared_whole_swapped_and_digit_by_digit():
    born = date(2009, 3, 4)
    assert identity_forms.swapped(born) == date(2009, 4, 3)
    assert identity_forms.swapped(date(2009, 3, 14)) is None  # no fourteenth month
    assert identity_forms.partial_dates(born) == ["d04m03", "m03y2009", "d04y2009"]
    assert dob_level(born, born) == "same"
    assert dob_level(born, date(2009, 4, 3)) == "swapped"
    assert dob_level(born, date(2008, 3, 4)) == "one digit"
    assert dob_level(date(2009, 3, 12), date(2009, 3, 21)) == "transposed"
    assert dob_level(born, date(2009, 4, 8)) == "swapped and one digit"
    assert dob_level(born, date(2006, 11, 25)) == "different"


def test_the_index_holds_no_name_alone_and_finds_names_either_way_round():
    stored = identity_index.terms(KHAN)
    kinds = {term.kind for term in stored}
    assert kinds == {
        "pair", "name+dob", "name+part-dob", "dob", "name+school", "initial+near", "postcode", "reference",
        "contact",
    }  # fmt: skip
    for term in stored:  # every name is paired with another, a date, a school or an initial
        if term.kind in ("pair", "name+dob", "name+part-dob", "name+school", "initial+near"):
            assert "|" in term.value
    swapped = Identity(given_names="Khan", family_names="Mohammed Bilal")
    assert {t for t in identity_index.terms(swapped) if t.kind == "pair"} <= stored
    # A search looks for the date with day and month swapped too; what is stored is as entered.
    turned = identity_index.Term("dob", "2009-04-03")
    assert turned in identity_index.terms(KHAN, searching=True) and turned not in stored


def test_the_score_says_why_two_identities_match():
    later = Identity(given_names="Muhammad", family_names="Kahn", date_of_birth=date(2009, 4, 3))
    found = compare(later, KHAN)
    assert found.likely
    assert found.reasons == (
        "family name sounds the same",
        "given name a known variant (transliteration or nickname)",
        "part of the given name missing on one side",
        "date of birth with day and month swapped",
    )
    twin = compare(Identity(given_names="Yusuf", family_names="Khan", date_of_birth=KHAN.date_of_birth), KHAN)
    assert not twin.likely and "a different given name" in twin.reasons
    assert compare(NAMESAKE, KHAN).score < 5  # same name, born eight years apart


# ---- finding repeat referrals ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("later", "expected"),
    [
        (
            Identity(given_names="Mohamed", family_names="Kahn", date_of_birth=date(2009, 3, 4)),
            {
                "family name sounds the same",
                "given name a known variant (transliteration or nickname)",
                "the same date of birth",
            },
        ),
        (
            Identity(given_names="Khan", family_names="Muhammad Bilal", date_of_birth=date(2009, 3, 4)),
            {"given and family names swapped", "the same family name", "the same date of birth"},
        ),
        (
            Identity(given_names="Mohammed", family_names="Kgan", date_of_birth=date(2009, 4, 3)),
            {"family name spelt slightly differently", "date of birth with day and month swapped"},
        ),
        (
            Identity(given_names="Mohammed Bilal", family_names="Khan", date_of_birth=date(2009, 3, 7)),
            {"the same given name", "date of birth one digit different"},
        ),
        (
            Identity(given_names="Mo", family_names="Khan", date_of_birth=date(2009, 3, 4)),
            {"a name matches an alias", "the same date of birth"},
        ),
        (
            Identity(given_names="Bilal", family_names="Khan", agency_references=("pc 2026 00417",)),
            {"the same agency reference"},
        ),
        (
            Identity(given_names="Zuzanna", family_names="Nowak", date_of_birth=date(2011, 11, 23)),
            {"part of the family name missing on one side", "the same date of birth"},
        ),
    ],
    ids=[
        "transliterated",
        "swapped",
        "misspelt-and-day-month",
        "one-digit",
        "alias",
        "reference",
        "compound",
    ],
)
def test_a_repeat_referral_is_found_first_with_its_reasons(database, record, later, expected):
    found = search(database, later)
    assert found, "nothing found"
    wanted = record["nowak"] if later.given_names == "Zuzanna" else record["khan"]
    assert found[0].case_id == wanted
    assert expected <= set(found[0].reasons), found[0].reasons
    assert found[0].score > max((c.score for c in found[1:]), default=0)


def test_closed_cases_are_searched_and_a_case_is_not_its_own_repeat(database, record):
    [first, *_] = search(database, KHAN)
    assert first.case_id == record["khan"] and first.closed and first.reference == "T00001"
    assert first.identity == identity.check(KHAN)  # decrypted, for the desk to compare
    assert record["khan"] not in {c.case_id for c in search(database, KHAN, exclude=record["khan"])}


def test_a_brother_at_the_same_address_is_not_taken_for_the_person(database, record):
    found = {c.case_id: c for c in search(database, KHAN)}
    assert record["brother"] not in found or not found[record["brother"]].likely
    assert record["namesake"] not in found or found[record["namesake"]].score < found[record["khan"]].score


def test_a_dismissed_pair_is_not_proposed_again_and_a_link_is_kept(database, record):
    later = Identity(given_names="Mohammed", family_names="Khan")  # no date of birth to go by
    with database.session() as session:
        case = new_case(session, 10)
        identity.save_identity(session, case, later, COORD, "test:save:10")
        found = {c.case_id: c for c in identity.candidates_for(session, case)}
        assert {record["khan"], record["namesake"]} <= set(found)
        namesake, khan = session.get_one(Case, record["namesake"]), session.get_one(Case, record["khan"])
        with pytest.raises(NotAllowed):
            identity.dismiss(session, case, namesake, actor=POLICE, request_ref="test:refused")
        score = found[record["namesake"]].score
        identity.dismiss(
            session, case, namesake, actor=COORD, request_ref="test:dismiss",
            reason="Born in 2001: another Mohammed Khan", score=score,
        )  # fmt: skip
        identity.link(session, case, khan, actor=COORD, request_ref="test:link")
        case_id = case.id
    with database.session() as session:
        case = session.get_one(Case, case_id)
        proposed = {c.case_id for c in identity.candidates_for(session, case)}
        assert record["namesake"] not in proposed and record["khan"] not in proposed  # both decided
        assert [c.id for c in identity.linked_cases(session, case)] == [record["khan"]]
        assert [c.id for c in identity.linked_cases(session, session.get_one(Case, record["khan"]))] == [
            case_id
        ]
        # Searched for without the case (on intake, before it is saved), both are still proposed.
        assert {record["namesake"], record["khan"]} <= {
            c.case_id for c in identity.candidates(session, later)
        }
        # A repeated delivery of the same decision changes nothing more.
        identity.link(
            session, case, session.get_one(Case, record["khan"]), actor=COORD, request_ref="test:link"
        )
        decisions = identity.decisions(session, case)
        assert {(d.decision.value, d.other(case_id)) for d in decisions} == {
            ("dismissed", record["namesake"]), ("linked", record["khan"])
        }  # fmt: skip
        entries = session.scalars(
            select(AuditEvent).where(AuditEvent.action.in_(["identity.linked", "identity.dismissed"]))
        ).all()
    # Each decision is audited on both cases, naming the other by its reference, nothing more.
    assert sorted((e.action, e.case_id) for e in entries) == sorted([
        ("identity.dismissed", case_id), ("identity.dismissed", record["namesake"]),
        ("identity.linked", case_id), ("identity.linked", record["khan"]),
    ])  # fmt: skip
    dismissed = next(e for e in entries if e.action == "identity.dismissed" and e.case_id == case_id)
    assert dismissed.details == {"other": "T00004", "score": score, "reason_given": True}
    with database.engine.connect() as connection:
        [stored] = connection.execute(
            text("SELECT reason FROM match_decisions WHERE reason IS NOT NULL")
        ).one()
    assert stored.startswith("v1:test:") and "Khan" not in stored  # the reason is encrypted


def test_a_deleted_case_takes_its_identity_and_decisions_with_it(database, record):
    now = utcnow()
    with database.session() as session:
        khan = session.get_one(Case, record["khan"])
        khan.retention_from = now - timedelta(days=7 * 366)
        khan.retention_warned_at = now - timedelta(days=40)
        identity.dismiss(session, khan, session.get_one(Case, record["namesake"]), actor=COORD,
                         request_ref="test:dismiss")  # fmt: skip
    assert search(database, KHAN)[0].case_id == record["khan"]
    with database.session() as session:
        purged = retention.purge_case(session, record["khan"], now, retention.Schedule())
        assert purged is not None
    with database.reader() as session:
        assert session.scalar(select(Person).where(Person.case_id == record["khan"])) is None
        assert session.scalar(select(func.count()).select_from(MatchDecision)) == 0
        people = set(session.scalars(select(Person.id)))
        assert set(session.scalars(select(PersonKey.person_id).distinct())) == people  # no orphan digests
        [entry] = session.scalars(select(AuditEvent).where(AuditEvent.action == "case.purged")).all()
        assert entry.details["removed"]["identity"] == 1 and entry.details["removed"]["match decisions"] == 1
        with pytest.raises(Conflict):
            identity.save_identity(session, session.get_one(Case, record["khan"]), KHAN, COORD, "test:again")
    assert record["khan"] not in {c.case_id for c in search(database, KHAN)}


# ---- what is stored ----------------------------------------------------------------------------
def test_the_database_holds_no_identity_in_clear_and_the_index_only_keyed_digests(database, record):
    with database.engine.connect() as connection:
        rows = connection.execute(text("SELECT * FROM persons")).mappings().all()
        digests = connection.execute(text("SELECT digest FROM person_keys")).scalars().all()
    assert len(rows) == 4
    for row in rows:
        for column in identity_forms.Identity.FIELDS:
            value = row[column]
            assert value is None or value.startswith("v1:test:"), (column, value)
    dump = sqlite_dump(database) if database.engine.dialect.name == "sqlite" else postgres_dump(database)
    assert [word for word in WORDS if word in dump] == []
    # Every digest is the keyed hash of one of the people's terms under the test key: 16 bytes,
    # none of them an unkeyed hash of a term, and a search under another key finds nothing.
    expected = set().union(*(identity_index.stored_digests(who) for who in (KHAN, NOWAK, BROTHER, NAMESAKE)))
    stored = {bytes(d) for d in digests}
    assert stored == expected and all(len(d) == 16 for d in stored)
    unkeyed = {
        hashlib.sha256(f"casehub:match:{t.kind}\x1f{t.value}".encode()).digest()[:16]
        for t in identity_index.terms(KHAN)
    }
    assert not unkeyed & stored
    identity_index.configure(os.urandom(32))
    assert search(database, KHAN) == []


def test_audit_entries_and_logs_carry_no_identity(database, record, caplog):
    changed = replace(KHAN, address="3 Mill Lane, Bradford BD8 7QT")
    with database.session() as session:
        case = session.get_one(Case, record["khan"])
        identity.save_identity(session, case, changed, COORD, "test:change")
        identity.save_identity(session, case, changed, COORD, "test:change-again")  # unchanged: nothing
    with database.reader() as session:
        entries = session.scalars(
            select(AuditEvent).where(AuditEvent.action.like("identity.%")).order_by(AuditEvent.id)
        ).all()
    assert [(e.action, e.details["fields"]) for e in entries if e.case_id == record["khan"]] == [
        ("identity.recorded", list(identity_forms.Identity.FIELDS)),
        ("identity.changed", ["address"]),
    ]
    said = " ".join(str(e.details) for e in entries) + caplog.text
    assert [word for word in (*WORDS, "Mill Lane", "BD8", "Zuzanna", "Yusuf") if word in said] == []


def test_what_is_entered_is_checked_field_by_field(database, record):
    with database.session() as session:
        case = session.get_one(Case, record["nowak"])
        with pytest.raises(InvalidInput) as future:
            identity.save_identity(
                session,
                case,
                Identity(given_names="A", date_of_birth=date.today() + timedelta(days=1)),
                COORD,
                "x",
            )
        assert future.value.field == "date_of_birth"
        with pytest.raises(InvalidInput) as long:
            identity.save_identity(session, case, Identity(family_names="x" * 201), COORD, "x")
        assert long.value.field == "family_names"
        with pytest.raises(NotAllowed):
            identity.save_identity(session, case, NOWAK, POLICE, "x")


def test_showing_an_identity_or_candidates_is_recorded_in_the_access_log(database, record):
    with database.session() as session:
        case = session.get_one(Case, record["nowak"])
        assert identity.show_identity(session, case, user=COORD, request_ref="desk:1") == NOWAK
        found = identity.candidates(session, KHAN)
        identity.shown_candidates(session, user=COORD, found=found, request_ref="desk:2")
    with database.reader() as session:
        views = {(a.case_id, a.view) for a in session.scalars(select(AccessRecord))}
    assert (record["nowak"], "identity") in views
    assert {(c.case_id, "candidate") for c in found} <= views and found


# ---- the matching key -------------------------------------------------------------------------
def test_the_matching_key_is_checked_at_start_and_the_index_made_again_under_a_new_one(
    database, record, monkeypatch
):
    check_matching_at_start(database)  # the test key made the index
    identity_index.configure(None)
    with pytest.raises(ConfigurationError) as missing:
        check_matching_at_start(database)
    assert "MATCHING_KEY is not set" in str(missing.value) and "keys new --matching" in str(missing.value)
    new = base64.b64encode(os.urandom(32)).decode()
    identity_index.configure(base64.b64decode(new))
    with pytest.raises(ConfigurationError) as other:
        check_matching_at_start(database)
    assert "not the key the identity index was made with" in str(other.value)
    assert new not in str(other.value)
    monkeypatch.setenv("DATABASE_URL", database.url)
    monkeypatch.setenv("MATCHING_KEY", new)
    out = io.StringIO()
    with logging_as_configured(), redirect_stdout(out):
        assert main(["identities", "reindex", "--batch", "3"]) == 0
    assert "4 people indexed again" in out.getvalue()
    identity_index.configure(base64.b64decode(new))
    check_matching_at_start(database)
    assert search(database, KHAN)[0].case_id == record["khan"]


def test_a_matching_key_is_made_on_demand_and_a_wrong_one_refused_without_showing_it(monkeypatch):
    out, err = io.StringIO(), io.StringIO()
    monkeypatch.delenv("MATCHING_KEY")
    with logging_as_configured(), redirect_stdout(out), redirect_stderr(err):
        assert main(["keys", "new", "--matching"]) == 0
    line = out.getvalue().strip()
    assert line.startswith("MATCHING_KEY=") and len(base64.b64decode(line.split("=", 1)[1])) == 32
    for wrong, said in (("not base64!", "not base64"), (base64.b64encode(b"short").decode(), "5 bytes")):
        with pytest.raises(ConfigurationError) as refused:
            load_settings(slack_bot_token="xoxb-1", slack_signing_secret="s", matching_key=wrong)
        assert f"MATCHING_KEY is invalid: it is {said}" in str(refused.value)
        assert wrong not in str(refused.value)
    assert load_settings(slack_bot_token="xoxb-1", slack_signing_secret="s", matching_key=MATCHING_KEY)


def test_rotating_the_data_keys_leaves_the_index_as_it_is(database, record):
    from bot import keys
    from models import encryption as crypto
    from tests.conftest import TEST_KEY, TEST_KEY_ID

    with database.engine.connect() as connection:
        before = set(connection.execute(text("SELECT digest FROM person_keys")).scalars())
    crypto.configure({TEST_KEY_ID: base64.b64decode(TEST_KEY), "next": os.urandom(32)}, "next")
    keys.rotate(database)
    with database.engine.connect() as connection:
        after = set(connection.execute(text("SELECT digest FROM person_keys")).scalars())
        [given] = connection.execute(text("SELECT given_names FROM persons ORDER BY id LIMIT 1")).one()
    assert given.startswith("v1:next:") and before == after
    assert search(database, KHAN)[0].case_id == record["khan"]
