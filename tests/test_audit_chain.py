"""The audit trail and the sharing log as tamper-evident chains: sealed as they are written,
verified link by link, and every way of changing them outside casehub found."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, make_url, select, text
from sqlalchemy.exc import SQLAlchemyError

from bot.audit import grant
from bot.db import Database
from flows import audit_check
from models import AuditEvent, SharingRecord
from sandbox.slack import TOKEN
from services import audit, chain
from tests.conftest import ADMIN, COORD, KEY_ENV, SCHOOL
from tests.helpers import open_case

ROOT = Path(__file__).resolve().parent.parent
KEY = "k" * 40


@pytest.fixture(autouse=True)
def unkeyed() -> Iterator[None]:
    """Each test starts, and leaves, with the chains sealed without a key."""
    chain.configure({})
    yield
    chain.configure({})


@pytest.fixture
def history(slack, database, registry):
    """A case with some history: audit entries and sharing-log entries."""
    case = open_case(slack, database)
    slack.command("/update", "Attended the session and engaged well", user=SCHOOL, channel=case.channel)
    slack.command("/update", "Second note: attendance improving", user=SCHOOL, channel=case.channel)
    return case


def report(database: Database, checkpoints=()) -> chain.Report:
    with database.engine.connect() as connection:
        return chain.verify(connection, checkpoints)


def broken(database: Database, table: str = "audit_events") -> str:
    found = next(c for c in report(database).chains if c.chain == table)
    assert found.broken is not None, f"{table} was found intact"
    return found.broken


def tamper(database: Database, *statements: str) -> None:
    """Statements run as the database's owner could run them: the triggers set aside first."""
    with database.engine.begin() as connection:
        if connection.dialect.name == "postgresql":  # the owner disables the triggers
            for table in ("audit_events", "sharing_log"):
                connection.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
        else:
            for name in connection.execute(
                text("SELECT name FROM sqlite_master WHERE type = 'trigger'")
            ).scalars():
                connection.execute(text(f"DROP TRIGGER {name}"))
        for statement in statements:
            connection.execute(text(statement))
        if connection.dialect.name == "postgresql":
            for table in ("audit_events", "sharing_log"):
                connection.execute(text(f"ALTER TABLE {table} ENABLE TRIGGER USER"))


def entries(database: Database, model) -> list:
    with database.reader() as session:
        return list(session.scalars(select(model).order_by(model.seq)))


# ---- sealing ---------------------------------------------------------------------------------------
def test_every_entry_is_sealed_in_order_and_the_chains_verify(history, database):
    for model in (AuditEvent, SharingRecord):
        sealed = entries(database, model)
        assert len(sealed) >= 2
        assert [e.seq for e in sealed] == list(range(1, len(sealed) + 1))
        assert all(e.chain_hash and len(e.chain_hash) == 64 and e.key_id == "" for e in sealed)
    result = report(database)
    assert result.intact, result.summary()
    assert [c.entries for c in result.chains] == [
        len(entries(database, AuditEvent)),
        len(entries(database, SharingRecord)),
    ]


def test_keyed_entries_verify_only_with_their_key(slack, database, registry):
    chain.configure({"2026": KEY})
    open_case(slack, database)
    assert {e.key_id for e in entries(database, AuditEvent) if e.action.startswith("case.")} == {"2026"}
    assert report(database).intact
    chain.configure({"2027": "q" * 40})  # the old key dropped from the keyring
    assert "sealed with key '2026', not in AUDIT_KEYS" in broken(database)


def test_a_rolled_back_change_leaves_no_gap(database, registry):
    with pytest.raises(RuntimeError), database.session() as session:
        audit.record(session, actor="U1", action="test.rolled_back", request_ref="test")
        session.flush()
        raise RuntimeError("the change fails after its entry was sealed")
    with database.session() as session:
        audit.record(session, actor="U1", action="test.kept", request_ref="test")
    assert report(database).intact


# ---- what the database refuses ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_events SET actor = 'UX'",
        "DELETE FROM audit_events",
        "INSERT INTO audit_events (at, actor, action, details, request_ref) "
        "VALUES ('2020-01-01 00:00:00', 'UX', 'backdated', '{}', 'x')",
    ],
)
def test_the_database_refuses_changes_and_unsealed_entries(history, database, statement):
    with pytest.raises(SQLAlchemyError, match=r"append-only|sealed"), database.engine.begin() as connection:
        connection.execute(text(statement))


def test_insert_or_replace_cannot_rewrite_an_entry_on_sqlite(history, database):
    if database.engine.dialect.name != "sqlite":
        pytest.skip("INSERT OR REPLACE is SQLite's")
    first = entries(database, AuditEvent)[0]
    with pytest.raises(SQLAlchemyError, match="append-only"), database.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT OR REPLACE INTO audit_events (id, at, actor, action, details, request_ref, seq, "
                "chain_hash, key_id, details_digest) SELECT id, at, 'UX', action, details, request_ref, seq, "
                "chain_hash, key_id, details_digest FROM audit_events WHERE id = :id"
            ),
            {"id": first.id},
        )
    assert report(database).intact


def test_truncate_is_refused_on_postgresql(history, database):
    if database.engine.dialect.name != "postgresql":
        pytest.skip("TRUNCATE is PostgreSQL's")
    for table in ("audit_events", "sharing_log"):
        with pytest.raises(SQLAlchemyError, match="append-only"), database.engine.begin() as connection:
            connection.execute(text(f"TRUNCATE {table}"))


# ---- what verification finds -----------------------------------------------------------------------
def test_an_altered_entry_is_found(history, database):
    second = entries(database, AuditEvent)[1]
    tamper(database, f"UPDATE audit_events SET actor = 'UFORGED' WHERE id = {second.id}")
    assert broken(database) == f"entry 2 (id {second.id}) was altered, or inserted: its link does not follow"


def test_altered_details_are_found(history, database):
    first = entries(database, AuditEvent)[0]
    tamper(database, f"UPDATE audit_events SET details = '{{\"agencies\": []}}' WHERE id = {first.id}")
    assert broken(database) == f"entry 1 (id {first.id}) was altered: its details changed"


def test_an_altered_sharing_record_is_found(history, database):
    first = entries(database, SharingRecord)[0]
    tamper(database, f"UPDATE sharing_log SET basis = 'other' WHERE id = {first.id}")
    assert "entry 1" in broken(database, "sharing_log")


def test_a_deleted_entry_is_found(history, database):
    second = entries(database, AuditEvent)[1]
    tamper(database, f"DELETE FROM audit_events WHERE id = {second.id}")
    assert broken(database).startswith("entries 2 are missing before entry 3")


def test_entries_deleted_from_the_end_are_found(history, database):
    last = entries(database, AuditEvent)[-1]
    tamper(database, f"DELETE FROM audit_events WHERE id = {last.id}")
    assert f"its recorded end is entry {last.seq} but the last entry is {last.seq - 1}" in broken(database)


def test_an_entry_inserted_outside_casehub_is_found(history, database):
    tamper(
        database,
        "INSERT INTO audit_events (at, actor, action, details, request_ref) "
        "VALUES ('2020-01-01 00:00:00', 'UX', 'backdated', '{}', 'x')",
    )
    assert "has no place in the chain: it was inserted outside casehub" in broken(database)


def test_a_backdated_entry_with_a_forged_place_is_found(history, database):
    sealed = entries(database, AuditEvent)
    # Make room after entry 1 and put a forged entry there: its link cannot follow.
    tamper(
        database,
        "UPDATE audit_events SET seq = seq + 1000 WHERE seq > 1",
        "INSERT INTO audit_events (at, actor, action, details, request_ref, seq, key_id, chain_hash, "
        f"details_digest) VALUES ('2020-01-01 00:00:00', 'UX', 'backdated', '{{}}', 'x', 2, '', "
        f"'{'f' * 64}', '{chain.digest({})}')",
    )
    assert broken(database).startswith("entry 2 (id ")
    assert len(sealed) == len(entries(database, AuditEvent)) - 1


def test_a_table_emptied_with_its_triggers_off_is_found_and_the_checkpoint_says_so(
    history, database, tmp_path
):
    path = tmp_path / "checkpoints.jsonl"
    intact = audit_check.verify(database, path)
    audit_check.keep_checkpoints(path, intact.checkpoints())
    tamper(
        database,
        "DELETE FROM sharing_log",
        "UPDATE audit_chains SET seq = 0, chain_hash = '" + chain.GENESIS + "' WHERE name = 'sharing_log'",
    )
    # The database alone now looks consistent: an empty chain that says it is empty.
    after = audit_check.verify(database, path)
    assert all(c.intact for c in after.chains)
    assert not after.intact and "sharing_log entry" in (after.checkpoint_problem or "")
    assert "is gone" in (after.checkpoint_problem or "")


@pytest.mark.parametrize("where", ["altered", "deleted at a boundary", "intact"])
def test_a_chain_walked_in_parts_finds_the_same_break(slack, database, registry, where):
    for number in range(5):
        with database.session() as session:
            audit.record(session, actor="U1", action=f"test.{number}", request_ref="test")
    sealed = entries(database, AuditEvent)
    assert len(sealed) >= 8
    boundary = -(-len(sealed) // 2)  # the last entry of the first part
    if where == "altered":
        tamper(database, f"UPDATE audit_events SET actor = 'UX' WHERE seq = {boundary + 2}")
    elif where == "deleted at a boundary":
        tamper(database, f"DELETE FROM audit_events WHERE seq = {boundary}")
    whole = report(database)
    parts = chain.verify_database(database.url, processes=2, parallel_from=1)
    audit_part = parts.chains[0]
    assert audit_part.entries == whole.chains[0].entries
    assert (audit_part.broken is None) == (where == "intact")
    if where == "altered":
        assert audit_part.broken == whole.chains[0].broken
    if where == "deleted at a boundary":
        assert audit_part.broken == f"entries {boundary} are missing: deleted"


# ---- running casehub as a role that may only add to the chains --------------------------------------
def test_a_role_granted_by_bot_grant_may_only_add_to_and_read_the_chains(history, database):
    if database.engine.dialect.name != "postgresql":
        pytest.skip("roles are PostgreSQL's")
    role = "casehub_app_test"
    with database.engine.begin() as connection:
        if connection.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}).first() is None:
            connection.execute(text(f"CREATE ROLE {role} LOGIN"))
    grant(database, role)
    as_app = Database(make_url(database.url).set(username=role).render_as_string(hide_password=False))
    try:
        with as_app.session() as session:
            audit.record(session, actor="U1", action="test.as_app", request_ref="test")
        for statement in (
            "UPDATE audit_events SET actor = 'UX'",
            "DELETE FROM sharing_log",
            "TRUNCATE audit_events",
            "ALTER TABLE audit_events DISABLE TRIGGER ALL",
            "UPDATE alembic_version SET version_num = '0001'",
        ):
            with (
                pytest.raises(SQLAlchemyError, match=r"permission denied|must be owner"),
                as_app.engine.begin() as c,
            ):
                c.execute(text(statement))
    finally:
        as_app.dispose()
    assert report(database).intact


# ---- the commands and the daily check ---------------------------------------------------------------
def run_bot(database: Database, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        capture_output=True,
        text=True,
        env={"DATABASE_URL": database.url, "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), **KEY_ENV},
        cwd=cwd,
        timeout=60,
    )


def test_audit_verify_and_checkpoint_from_the_command_line(history, database, tmp_path):
    done = run_bot(database, tmp_path, "audit", "checkpoint")
    assert done.returncode == 0, done.stderr
    assert "audit_events:" in done.stdout and "intact" in done.stdout
    kept = [json.loads(line) for line in (tmp_path / "audit-checkpoints.jsonl").read_text().splitlines()]
    assert {c["chain"] for c in kept} == {"audit_events", "sharing_log"}
    second = entries(database, AuditEvent)[1]
    tamper(database, f"UPDATE audit_events SET action = 'case.forged' WHERE id = {second.id}")
    found = run_bot(database, tmp_path, "audit", "verify")
    assert found.returncode == 1 and "Traceback" not in found.stderr
    assert f"audit_events: {len(entries(database, AuditEvent))} entries, BROKEN: entry 2" in found.stdout


@pytest.mark.settings(casehub_dpos=["UDPO"])
def test_the_daily_check_sends_the_checkpoint_and_raises_the_alarm(
    history, database, fake, settings, tmp_path
):
    from slack_sdk import WebClient

    fake.add_user("UDPO")
    settings = settings.model_copy(
        update={"audit_checkpoint_file": str(tmp_path / "cp.jsonl"), "casehub_dpos": ["UDPO"]}
    )
    client = WebClient(token=TOKEN, base_url=fake.api_url)
    assert audit_check.check_and_tell(database, client, settings).intact
    [sent] = fake.dms("UDPO")
    assert "audit chains are intact" in sent["text"] and "Checkpoint: audit_events entry" in sent["text"]
    assert len((tmp_path / "cp.jsonl").read_text().splitlines()) == 2
    assert not fake.dms(ADMIN)
    first = entries(database, SharingRecord)[0]
    tamper(database, f"UPDATE sharing_log SET reason = 'nothing to see' WHERE id = {first.id}")
    assert not audit_check.check_and_tell(database, client, settings).intact
    for user in ("UDPO", ADMIN):
        assert "audit chains are BROKEN" in fake.dms(user)[-1]["text"]
        assert "sharing_log" in fake.dms(user)[-1]["text"]
    assert COORD not in {m.get("channel") for m in fake.posts()}


def test_the_migration_seals_what_was_written_before_it(tmp_path):
    from alembic import command

    from bot.db import alembic_config

    url = f"sqlite:///{tmp_path / 'old.db'}"
    command.upgrade(alembic_config(url), "0009")
    engine = create_engine(url)
    with engine.begin() as connection:
        for number in range(3):
            connection.execute(
                text(
                    "INSERT INTO audit_events (at, actor, action, details, request_ref) "
                    "VALUES (:at, 'U1', 'old.entry', :details, 'old')"
                ),
                {"at": f"2026-01-0{number + 1} 10:00:00.000000", "details": json.dumps({"n": number})},
            )
    engine.dispose()
    database = Database(url)
    database.migrate()
    try:
        result = report(database)
        assert result.intact, result.summary()
        assert result.chains[0].entries == 3
        with database.reader() as session:
            assert session.scalar(select(func.max(AuditEvent.seq))) == 3
    finally:
        database.dispose()


def test_the_scheduler_checks_the_chains_daily_apart_from_its_sweeps(database):
    from datetime import time

    from bot.scheduler import AUDIT_JOB, SWEEP_JOB, build_scheduler

    scheduler = build_scheduler(database, audit_at=time(2, 30))
    scheduler.start(paused=True)
    try:
        check = scheduler.get_job(AUDIT_JOB)
        assert check.executor == "audit" and scheduler.get_job(SWEEP_JOB).executor == "default"
        assert (check.next_run_time.hour, check.next_run_time.minute) == (2, 30)
    finally:
        scheduler.shutdown(wait=False)


def test_the_record_of_processing_is_written_from_the_configuration(database, registry, tmp_path):
    env = {
        "DATABASE_URL": database.url,
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(ROOT),
        "CASEHUB_DPOS": "UDPO1",
        "AUDIT_KEYS": json.dumps({"2026": KEY}),
        "SHARING_BASES": json.dumps({"safeguarding": "Safeguarding, under the local agreement"}),
        "RETENTION_CASE_YEARS": "4",
        **KEY_ENV,
    }
    out = tmp_path / "record.md"
    done = subprocess.run(
        [sys.executable, "-m", "bot", "privacy-notice", "--output", str(out)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    record = out.read_text()
    assert "`safeguarding`: Safeguarding, under the local agreement" in record
    assert "Slack user UDPO1" in record
    assert "keyed (HMAC-SHA256, key ids 2026)" in record
    assert "encrypted in the database with AES-256-GCM, under data keys" in record
    assert "DATA_KEYS, key ids test" in record
    assert "education (1)" in record and "police (1)" in record  # the registry's agencies, by kind
    assert "No e-mail copies" in record
    assert "kept 4 years after the person left support" in record  # RETENTION_CASE_YEARS, from the env
    assert "with no further action, is kept 36 months" in record
    assert "the text of each message it has sent,\n30 days after sending" in record
    assert "Exports: the lead coordinator of a case may export it" in record


def test_an_entry_given_place_zero_is_found(history, database):
    tamper(
        database,
        "INSERT INTO audit_events (at, actor, action, details, request_ref, seq, key_id, chain_hash, "
        f"details_digest) VALUES ('2020-01-01 00:00:00', 'UX', 'hidden', '{{}}', 'x', 0, '', "
        f"'{'0' * 64}', '{chain.digest({})}')",
    )
    assert "has no place in the chain: it was inserted outside casehub" in broken(database)


def test_an_unkeyed_entry_after_keyed_ones_is_found(slack, database, registry):
    chain.configure({"2026": KEY})
    open_case(slack, database)
    chain.configure({})  # a forger without the key seals the next entry plainly…
    with database.session() as session:
        audit.record(session, actor="UX", action="forged.plain", request_ref="x")
    chain.configure({"2026": KEY})  # …and the check runs with the keys
    assert "is not keyed though the entry before it is" in broken(database)


def test_entries_committed_during_a_walk_are_left_for_the_next(history, database):
    from sqlalchemy import event

    committed: list[bool] = []

    def meanwhile(_conn, _cursor, statement, *_args) -> None:
        # Right after the walk has read where the chains end, casehub commits another entry.
        if "FROM audit_chains" in statement and not committed:
            committed.append(True)
            with database.session() as session:
                audit.record(session, actor="U1", action="test.meanwhile", request_ref="test")

    with database.engine.connect() as connection:
        event.listen(connection, "after_cursor_execute", meanwhile)
        during = chain.verify(connection)
    assert committed and during.intact, during.summary()
    assert report(database).intact  # and the next walk takes it in


def test_a_keyed_chain_walked_in_parts_is_verified_with_the_keys(slack, database, registry):
    chain.configure({"2026": KEY})
    for number in range(6):
        with database.session() as session:
            audit.record(session, actor="U1", action=f"test.{number}", request_ref="test")
    assert chain.verify_database(database.url, processes=2, parallel_from=1).intact


def test_a_process_that_only_writes_through_a_database_seals_its_entries(database, registry):
    script = (
        "import sys\n"
        "from bot.db import Database\n"
        "from services import audit\n"
        "db = Database(sys.argv[1])\n"
        "with db.session() as session:\n"
        "    audit.record(session, actor='USCHED', action='test.scheduler', request_ref='test')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, database.url],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert entries(database, AuditEvent)[-1].action == "test.scheduler"
    assert report(database).intact
