"""Encryption at rest: what people type is never in the database in clear; keys are checked at
start, rotated in batches that resume after an interruption, and migrated to and from."""

from __future__ import annotations

import base64
import json
import shutil
import sqlite3
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest
from alembic import command as alembic
from sqlalchemy import inspect, make_url, select, text

from bot import keys
from bot.db import Database, alembic_config
from bot.jobs import jobs_url
from bot.logs import FORMAT, ContentFreeFormatter
from models import Action, Case, Crisis, Notice, Update, UpdateRevision
from models import encryption as crypto
from services import encryption
from tests.conftest import ADMIN, COORD, KEY_ENV, POLICE, SCHOOL, TEST_KEY, TEST_KEY_ID, Running
from tests.helpers import open_case

ROOT = Path(__file__).resolve().parent.parent
OTHER_KEY = bytes(range(100, 132))
NEW_KEY = bytes(range(200, 232))

# What people type below: each sentence carries a word found nowhere else, looked for in the dump.
TYPED = {
    "summary": "teaching staff raised a concern about quokka forum posts",
    "agency_reference": "CH-7731-QUOLL",
    "observed": "the home visit found posters of a numbat gang in the bedroom",
    "protective_factors": "a warm bond with the wombat club coach",
    "concerns": "late nights spent watching platypus channels",
    "asks": "school please share the echidna attendance sheet",
    "correction": "corrected the visit was a phone call about bilby leaflets",
    "note": "mentoring session went well with dingo puzzles",
    "action": "arrange a kookaburra assessment with the mentoring service",
    "reason": "records office shut for the cassowary stocktake",
    "decisions": "continue support and start galah mentoring",
    "agreed": "share the lorikeet timetable",
    "crisis": "threats posted tonight about the emu gathering",
    "resolution": "police attended the bandicoot meeting and all are safe",
    "outcome": "support completed with wallaby sessions",
    "lessons": "involve housing earlier next potoroo time",
}
MARKERS = [
    "quokka", "QUOLL", "numbat", "wombat", "platypus", "echidna", "bilby", "dingo", "kookaburra",
    "cassowary", "galah", "lorikeet", "emu gathering", "bandicoot", "wallaby", "potoroo",
]  # fmt: skip


def key_env(keys_by_id: dict[str, bytes], current: str | None = None) -> dict[str, str]:
    env = {"DATA_KEYS": json.dumps({k: base64.b64encode(v).decode() for k, v in keys_by_id.items()})}
    if current is not None:
        env["DATA_KEY_ID"] = current
    return env


TEST_KEYS = {TEST_KEY_ID: base64.b64decode(TEST_KEY)}


# ---- the cipher ---------------------------------------------------------------------------------
def test_values_round_trip_bound_to_their_column_and_key():
    ring = crypto.Keyring(TEST_KEYS)
    stored = ring.encrypt("a note with an apostrophe's worth", "updates.observed")
    assert stored.startswith(f"v1:{TEST_KEY_ID}:") and "apostrophe" not in stored
    assert ring.decrypt(stored, "updates.observed") == "a note with an apostrophe's worth"
    # A fresh nonce each time: the same text is never stored twice alike.
    assert ring.encrypt("same", "actions.text") != ring.encrypt("same", "actions.text")
    assert ring.encrypt("", "actions.text") == "" and ring.decrypt("", "actions.text") == ""
    # Moved to another column, it no longer decrypts.
    with pytest.raises(crypto.Undecryptable) as moved:
        ring.decrypt(stored, "cases.summary")
    said = str(moved.value)
    assert "cases.summary" in said and TEST_KEY_ID in said and "apostrophe" not in said and stored not in said
    # Altered by one character, neither.
    payload = stored.rsplit(":", 1)[1]
    flipped = stored[: -len(payload)] + ("A" if payload[0] != "A" else "B") + payload[1:]
    with pytest.raises(crypto.Undecryptable):
        ring.decrypt(flipped, "updates.observed")


def test_a_missing_or_different_key_and_a_value_in_clear_are_named_never_shown():
    stored = crypto.Keyring(TEST_KEYS).encrypt("sensitive words", "actions.text")
    with pytest.raises(crypto.UnknownDataKey) as unknown:
        crypto.Keyring({"other": OTHER_KEY}).decrypt(stored, "actions.text")
    assert f"{TEST_KEY_ID!r}, which DATA_KEYS does not list" in str(unknown.value)
    with pytest.raises(crypto.Undecryptable) as wrong:
        crypto.Keyring({TEST_KEY_ID: OTHER_KEY}).decrypt(stored, "actions.text")
    assert "another key under that id" in str(wrong.value)
    with pytest.raises(crypto.Undecryptable) as clear:
        crypto.Keyring(TEST_KEYS).decrypt("sensitive words", "actions.text")
    assert "not in casehub's encrypted form" in str(clear.value)
    for error in (unknown, wrong, clear):
        assert "sensitive" not in str(error.value)
    with pytest.raises(crypto.NoDataKey):
        crypto.Keyring().encrypt("anything", "actions.text")


def test_every_column_holding_typed_text_is_encrypted():
    """The list to keep up to date when a model gains a column of free text."""
    labels = {spec.label(name) for spec in encryption.encrypted_tables() for name in spec.columns}
    assert labels == {
        "cases.summary", "cases.agency_reference", "cases.outcome", "cases.lessons",
        "updates.observed", "updates.protective_factors", "updates.concerns", "updates.asks",
        "update_revisions.content", "update_corrections.reason", "update_corrections.content",
        "actions.text", "action_events.details", "reviews.decisions",
        "crises.summary", "crises.outcome", "notices.text", "notices.blocks",
        "case_holds.reason", "case_holds.lift_reason", "jobs.body",
        "persons.given_names", "persons.family_names", "persons.aliases", "persons.date_of_birth",
        "persons.gender", "persons.address", "persons.school_or_employer", "persons.agency_references",
        "persons.contacts", "match_decisions.reason",
        "referrals.concern", "referrals.why_now", "referrals.done_so_far", "referrals.decision_reason",
        "referrals.signposted_to", "referral_links.reason", "transfers.reason", "transfers.decision_reason",
        "lessons.text", "lessons.drop_reason", "lesson_events.details",
    }  # fmt: skip


def test_sql_may_ask_only_whether_an_encrypted_column_is_null_or_empty():
    """A query comparing or sorting ciphertext would quietly find nothing: it is refused."""
    assert "notices.text != " in str(select(Notice.key).where(Notice.text != "", Notice.blocks.is_(None)))
    with pytest.raises(crypto.OpaqueInSQL) as refused:
        select(Action.id).where(Action.text == "arrange a visit")
    assert "actions.text is encrypted" in str(refused.value)
    for query in (
        lambda: select(Case.id).where(Case.summary.like("%forum%")),
        lambda: select(Case.id).order_by(Case.summary.asc()),
        lambda: select(Crisis.id).where(Crisis.summary.in_(["threats"])),
        lambda: select(Case.id).order_by(Case.lessons.desc()),
    ):
        with pytest.raises(crypto.OpaqueInSQL):
            str(query())


def test_a_value_that_does_not_decrypt_is_refused_and_logged_without_content(
    slack, database, registry, caplog
):
    case = open_case(slack, database, summary=TYPED["summary"])
    other = base64.b64encode(OTHER_KEY).decode()
    crypto.configure({TEST_KEY_ID: OTHER_KEY})  # as if the check at start had been passed by
    said = slack.ephemeral(slack.command("/case", "status", user=COORD, channel=case.channel))
    assert TYPED["summary"] not in said and "went wrong" in said.lower()
    formatter = ContentFreeFormatter(FORMAT)
    logged = "\n".join(formatter.format(record) for record in caplog.records)
    assert "Undecryptable" in logged  # the kind of error, in the log
    for secret in (TYPED["summary"], "quokka", other, TEST_KEY, "v1:test:"):
        assert secret not in logged


# ---- the dump -----------------------------------------------------------------------------------
def fill_the_record(slack, fake, database) -> int:
    """A case's life through casehub's HTTP interface, with something typed at every step."""
    case = open_case(slack, database, summary=TYPED["summary"], agency_reference=TYPED["agency_reference"])
    today = date.today()
    slack.command("/update", "", user=POLICE, channel=case.channel)
    update = {
        "contact_date": today.isoformat(),
        "kind": "home-visit",
        "observed": TYPED["observed"],
        "risk": "high",
        "protective_factors": TYPED["protective_factors"],
        "concerns": TYPED["concerns"],
        "asks": TYPED["asks"],
    }
    assert slack.submit(fake.last_view(), update, user=POLICE).body == ""
    with database.reader() as session:
        filed = session.scalars(select(Update)).one()
    slack.click("update_edit", str(filed.id), user=POLICE, channel=case.channel)
    corrected = slack.submit(fake.last_view(), {**update, "observed": TYPED["correction"]}, user=POLICE)
    assert corrected.body == ""
    assert "filed" in slack.ephemeral(
        slack.command("/update", TYPED["note"], user=SCHOOL, channel=case.channel)
    )
    due = (today + timedelta(days=7)).isoformat()
    slack.command("/action", "add", user=COORD, channel=case.channel)
    values = {"text": TYPED["action"], "agency": "school", "owner": SCHOOL, "due": due, "priority": "high"}
    assert slack.submit(fake.last_view(), values, user=COORD).body == ""
    with database.reader() as session:
        action = session.scalars(select(Action)).one()
    slack.click("action_extend", str(action.id), user=SCHOOL, channel=case.channel)
    later = (today + timedelta(days=20)).isoformat()
    assert slack.submit(fake.last_view(), {"due": later, "reason": TYPED["reason"]}, user=SCHOOL).body == ""
    slack.command("/review", "record", user=COORD, channel=case.channel)
    review = {
        "held_on": today.isoformat(),
        "present": ["police", "school"],
        "decisions": TYPED["decisions"],
        "risk_after": "moderate",
        "next_review": (today + timedelta(days=28)).isoformat(),
        "actions": f"{TYPED['agreed']} | school | {due}",
    }
    assert slack.submit(fake.last_view(), review, user=COORD).body == ""
    slack.command("/oncall", f"set police <@{POLICE}>", user=ADMIN)
    slack.command("/crisis", TYPED["crisis"], user=SCHOOL, channel=case.channel)
    slack.command("/crisis", f"resolve {TYPED['resolution']}", user=COORD, channel=case.channel)
    slack.command("/case", "close", user=COORD, channel=case.channel)
    closing = {"outcome": TYPED["outcome"], "lessons": TYPED["lessons"]}
    assert slack.submit(fake.last_view(), closing, user=COORD).body == ""
    return case.id


def sqlite_dump(database: Database) -> str:
    """The database files as bytes (the write-ahead logs too, and the job queue's file), and
    SQLite's own dump of them."""
    files = []
    for url in (database.url, jobs_url(database.url)):
        path = Path(make_url(url).database or "")
        files += [p for p in (path, Path(f"{path}-wal")) if p.exists()]
    dumped = []
    for path in files:
        dumped.append(path.read_bytes().decode("utf-8", "replace"))
        if not path.name.endswith("-wal"):
            with sqlite3.connect(path) as connection:
                dumped.append("\n".join(connection.iterdump()))
    return "\n".join(dumped)


def postgres_dump(database: Database) -> str:
    """pg_dump of the database, or without it, every text column of every table."""
    url = make_url(database.url).set(drivername="postgresql").render_as_string(hide_password=False)
    pg_dump = shutil.which("pg_dump")
    if pg_dump is not None:
        done = subprocess.run([pg_dump, "--data-only", url], capture_output=True, text=True, timeout=120)
        if done.returncode == 0:
            return done.stdout
    dumped = []
    with database.engine.connect() as connection:
        for name in inspect(connection).get_table_names():
            for row in connection.execute(text(f'SELECT * FROM "{name}"')):
                dumped.append(" ".join(str(value) for value in row))
    return "\n".join(dumped)


def test_a_dump_of_the_database_holds_nothing_typed_in_clear(
    slack, fake, database, registry, running: Running
):
    case_id = fill_the_record(slack, fake, database)
    assert running.wait_idle()
    # The control: casehub read it all back, and Slack was shown what it should have been.
    with database.reader() as session:
        case = session.get_one(Case, case_id)
        assert (case.summary, case.agency_reference) == (TYPED["summary"], TYPED["agency_reference"])
        assert (case.outcome, case.lessons) == (TYPED["outcome"], TYPED["lessons"])
        [revision] = session.scalars(select(UpdateRevision)).all()
        assert revision.content["observed"] == TYPED["observed"]
        crisis = session.scalars(select(Crisis)).one()
        assert (crisis.summary, crisis.outcome) == (TYPED["crisis"], TYPED["resolution"])
        sent = session.scalars(select(Notice)).all()
        assert any(TYPED["observed"] in json.dumps(n.blocks) for n in sent if n.blocks)
        assert any(TYPED["resolution"] in n.text for n in sent)
    shown = fake.all_text()
    assert all(TYPED[field] in shown for field in ("observed", "note", "action", "crisis", "resolution"))
    dump = sqlite_dump(database) if database.engine.dialect.name == "sqlite" else postgres_dump(database)
    assert "v1:test:" in dump  # the dump is of the right database, with encrypted values in it
    assert [marker for marker in MARKERS if marker in dump] == []
    with database.engine.connect() as connection:
        counts = encryption.count_by_key(connection, encryption.encrypted_tables())
    assert counts[""] == 0 and counts[TEST_KEY_ID] > 20


# ---- rotation -----------------------------------------------------------------------------------
class Interrupted(Exception):
    pass


def test_an_interrupted_rotation_resumes_where_it_stopped(slack, fake, database, registry, running: Running):
    case_id = fill_the_record(slack, fake, database)
    assert running.wait_idle()
    running.stop()
    before = keys.counts(database)
    total = sum(before.values())
    crypto.configure({**TEST_KEYS, "new": NEW_KEY})  # the new key listed last: the current one
    committed = []

    def stop_after_three(table: str, values: int) -> None:
        committed.append(values)
        if len(committed) == 3:
            raise Interrupted

    with pytest.raises(Interrupted):
        keys.rotate(database, batch=2, progress=stop_after_three)
    halfway = keys.counts(database)
    assert halfway["new"] == sum(committed) > 0 and halfway[TEST_KEY_ID] == total - sum(committed)
    # Resumed: what was done is passed over, the rest re-encrypted.
    again: list[int] = []
    rotation = keys.rotate(database, batch=2, progress=lambda table, values: again.append(values))
    assert rotation.reencrypted == sum(again) == total - sum(committed)
    assert (rotation.left, rotation.forgotten) == (0, [TEST_KEY_ID])
    assert keys.counts(database) == {"new": total}
    # The old key may go: with the new one alone everything reads, and the start-up check passes.
    crypto.configure({"new": NEW_KEY})
    keys.check_at_start(database)
    with database.reader() as session:
        case = session.get_one(Case, case_id)
        assert (case.summary, case.lessons) == (TYPED["summary"], TYPED["lessons"])
        assert session.scalars(select(UpdateRevision)).one().content["observed"] == TYPED["observed"]
    assert keys.rotate(database).reencrypted == 0


def bot(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m bot` with only `env`, in a folder without a `.env`."""
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), **env}
    return subprocess.run(
        [sys.executable, "-m", "bot", *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=120
    )


def run_bot(
    database: Database, cwd: Path, env: dict[str, str], *args: str
) -> subprocess.CompletedProcess[str]:
    slack = {"SLACK_BOT_TOKEN": "xoxb-1-test", "SLACK_SIGNING_SECRET": "s"}
    return bot(cwd, {"DATABASE_URL": database.url, **slack, **env}, *args)


def test_keys_commands_rotate_and_report(slack, fake, database, registry, running: Running, tmp_path):
    fill_the_record(slack, fake, database)
    assert running.wait_idle()
    running.stop()
    status = run_bot(database, tmp_path, KEY_ENV, "keys", "status")
    assert status.returncode == 0, status.stderr
    assert "current key: test" in status.stdout and "in clear: 0 value(s)" in status.stdout
    made = run_bot(database, tmp_path, KEY_ENV, "keys", "new", "--id", "2027")
    assert made.returncode == 0, made.stderr
    line = made.stdout.strip()
    assert line.startswith("DATA_KEYS=") and "keys rotate" in made.stderr
    listed = json.loads(line.removeprefix("DATA_KEYS="))
    assert list(listed) == [TEST_KEY_ID, "2027"] and listed[TEST_KEY_ID] == TEST_KEY
    assert len(base64.b64decode(listed["2027"])) == 32
    for taken_or_bad in ("test", "no spaces"):
        refused(run_bot(database, tmp_path, KEY_ENV, "keys", "new", "--id", taken_or_bad), repr(taken_or_bad))
    both = {"DATA_KEYS": json.dumps(listed)}
    rotated = run_bot(database, tmp_path, both, "keys", "rotate", "--batch", "3")
    assert rotated.returncode == 0, rotated.stderr
    said = rotated.stdout.splitlines()
    assert said[0] == "re-encrypting every value not under the data key '2027'"
    assert any(line.startswith("  updates: ") for line in said)
    assert said[-1].endswith("none left under other keys: 'test' may now be removed from DATA_KEYS")
    assert listed["2027"] not in rotated.stdout + rotated.stderr
    alone = {"DATA_KEYS": json.dumps({"2027": listed["2027"]})}
    after = run_bot(database, tmp_path, alone, "keys", "status")
    assert after.returncode == 0, after.stderr
    assert "every value is under the current key" in after.stdout and "  test:" not in after.stdout


# ---- start-up -----------------------------------------------------------------------------------
def refused(result: subprocess.CompletedProcess[str], *said: str) -> str:
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    [line] = result.stderr.splitlines()
    for words in said:
        assert words in line, (words, line)
    return line


def test_a_missing_or_wrong_key_stops_every_command_in_one_line(slack, database, registry, tmp_path):
    open_case(slack, database, summary=TYPED["summary"])
    # The control: with the key it was encrypted with, the commands start.
    assert run_bot(database, tmp_path, KEY_ENV, "holds").returncode == 0
    other = base64.b64encode(OTHER_KEY).decode()
    missing = key_env({"other": OTHER_KEY})
    for args in (["holds"], ["keys", "status"], ["scheduler"], ["migrate"]):
        line = refused(
            run_bot(database, tmp_path, missing, *args),
            "casehub cannot start: the database holds values encrypted with the data key 'test'",
            "DATA_KEYS does not list",
        )
        assert other not in line
    wrong = key_env({TEST_KEY_ID: OTHER_KEY})
    for args in (["web"], ["audit", "verify"], ["keys", "rotate"]):
        line = refused(
            run_bot(database, tmp_path, wrong, *args),
            "DATA_KEYS holds another key under the id 'test' than the one the database was encrypted with",
            "put back the key that id had",
        )
        assert other not in line
    # A key listed but not the current one is still a key the database's values are under.
    assert run_bot(database, tmp_path, key_env({**TEST_KEYS, "2027": NEW_KEY}), "holds").returncode == 0


@pytest.mark.parametrize("args", [["web"], ["worker"], ["scheduler"], ["socket"], ["migrate"]])
def test_no_key_at_all_is_refused_saying_how_to_make_one(args, tmp_path):
    env = {
        "SLACK_BOT_TOKEN": "xoxb-1-test",
        "SLACK_SIGNING_SECRET": "s",
        "SLACK_APP_TOKEN": "xapp-1-test",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'fresh.db'}",
    }
    if args != ["migrate"]:  # an unmigrated database is said first
        assert bot(tmp_path, {**env, **KEY_ENV}, "migrate").returncode == 0
    refused(
        bot(tmp_path, env, *args),
        "DATA_KEYS is not set",
        "python -m bot keys new",
        "keep a copy somewhere safe",
    )


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ('{"k1": "not-base64!"}', "the key 'k1' is not base64"),
        ('{"k1": "' + base64.b64encode(b"short key").decode() + '"}', "the key 'k1' is 9 bytes, not 32"),
        ('{"a b": "' + TEST_KEY + '"}', "'a b' is not a key id"),
        ('{"k1": ' + TEST_KEY, "DATA_KEYS is invalid: it is not JSON"),
    ],
    ids=["not-base64", "too-short", "bad-id", "not-json"],
)
def test_a_malformed_key_is_named_never_printed(value, said, tmp_path):
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'c.db'}", "DATA_KEYS": value}
    line = refused(bot(tmp_path, env, "migrate"), "DATA_KEYS is invalid", said)
    assert TEST_KEY not in line and "not-base64!" not in line


def test_data_key_id_must_be_a_listed_key(tmp_path):
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'c.db'}", **key_env(TEST_KEYS, "2030")}
    refused(bot(tmp_path, env, "migrate"), "DATA_KEY_ID is invalid: '2030' is not one of DATA_KEYS")


# ---- migrating ----------------------------------------------------------------------------------
def migrate_to(database: Database, revision: str, *, down: bool = False) -> None:
    with database.engine.begin() as connection:
        config = alembic_config(database.url)
        config.attributes["connection"] = connection
        (alembic.downgrade if down else alembic.upgrade)(config, revision)


def stored_summary(database: Database, case_id: int) -> str:
    with database.engine.connect() as connection:
        return str(
            connection.execute(text("SELECT summary FROM cases WHERE id = :id"), {"id": case_id}).scalar()
        )


def test_existing_content_is_encrypted_by_the_migration_and_decrypted_going_back(
    slack, fake, database, registry, running: Running
):
    case_id = fill_the_record(slack, fake, database)
    assert running.wait_idle()
    running.stop()
    try:
        migrate_to(database, "0016", down=True)
        assert stored_summary(database, case_id) == TYPED["summary"]  # in clear before 0017
        with database.engine.connect() as connection:
            assert "data_keys" not in inspect(connection).get_table_names()
        # Content and no key: the migration stops, and changes nothing.
        crypto.configure({})
        with pytest.raises(crypto.NoDataKey) as stopped:
            database.migrate()
        assert "no data key is configured" in str(stopped.value) and "keys new" in str(stopped.value)
        assert stored_summary(database, case_id) == TYPED["summary"]
    finally:
        crypto.configure(TEST_KEYS)
        database.migrate()  # as `python -m bot migrate` does, clearing what was in clear
    assert stored_summary(database, case_id).startswith("v1:test:")
    keys.check_at_start(database)  # the key the migration used is recorded
    with database.reader() as session:
        case = session.get_one(Case, case_id)
        assert (case.summary, case.outcome) == (TYPED["summary"], TYPED["outcome"])
        assert session.scalars(select(UpdateRevision)).one().content["observed"] == TYPED["observed"]
    dump = sqlite_dump(database) if database.engine.dialect.name == "sqlite" else postgres_dump(database)
    assert [marker for marker in MARKERS if marker in dump] == []


def test_an_empty_database_migrates_without_a_key_and_records_one_at_start(tmp_path):
    crypto.configure({})
    empty = Database(f"sqlite:///{tmp_path / 'empty.db'}")
    try:
        empty.migrate()
        crypto.configure(TEST_KEYS)
        keys.check_at_start(empty)
        with empty.engine.connect() as connection:
            assert list(encryption.recorded_keys(connection)) == [TEST_KEY_ID]
    finally:
        empty.dispose()
