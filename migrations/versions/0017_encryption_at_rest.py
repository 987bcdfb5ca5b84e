"""what people typed is encrypted at rest

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-01

The columns that hold what people typed (and what casehub sends, which repeats it) are
encrypted with the data keys (DATA_KEYS; see `models.encryption`): the values already stored
are encrypted here, a batch of rows at a time, under the current key of the process that
migrates, and the key is recorded in `data_keys` with its check value. On PostgreSQL the
columns that were JSON or of a bounded length become TEXT (a ciphertext is neither); SQLite
neither checks lengths nor stores JSON otherwise, and its tables are left as they are. A
database holding such values cannot be migrated without a key: nothing would be encrypted.

The job queue's own SQLite file, beside the database, has its requests encrypted too. What was
in clear stays in the free space of the files until it is overwritten: once this migration has
committed, the tables it encrypted values in are rewritten (see `Database.migrate`).
Downgrading decrypts everything (every key values are under must be configured) and puts the
columns back as they were.
"""

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from alembic import context, op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

# Fixed here: the columns this migration encrypts (a later one encrypts what it adds).
ENCRYPTED = {
    "cases": ("id", ("summary", "agency_reference", "outcome", "lessons")),
    "updates": ("id", ("observed", "protective_factors", "concerns", "asks")),
    "update_revisions": ("id", ("content",)),
    "update_corrections": ("id", ("reason", "content")),
    "actions": ("id", ("text",)),
    "action_events": ("id", ("details",)),
    "reviews": ("id", ("decisions",)),
    "crises": ("id", ("summary", "outcome")),
    "notices": ("key", ("text", "blocks")),
    "case_holds": ("id", ("reason", "lift_reason")),
    "jobs": ("id", ("body",)),
}
# PostgreSQL: what these columns were, and become TEXT.
RETYPED = {
    ("cases", "agency_reference"): sa.String(length=64),
    ("update_revisions", "content"): sa.JSON(),
    ("update_corrections", "content"): sa.JSON(),
    ("action_events", "details"): sa.JSON(),
    ("notices", "blocks"): sa.JSON(),
    ("case_holds", "reason"): sa.String(length=500),
    ("case_holds", "lift_reason"): sa.String(length=500),
}


def upgrade() -> None:
    from models import encryption as crypto
    from services import encryption

    op.create_table(
        "data_keys",
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("check_value", sa.Text(), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key_id", name=op.f("pk_data_keys")),
    )
    connection = op.get_bind()
    if connection.dialect.name == "postgresql":
        for (table, name), _was in RETYPED.items():
            op.alter_column(table, name, type_=sa.Text(), postgresql_using=f"{name}::text")
    specs = encryption.tables_in(connection, _specs())  # SQLite keeps its job queue apart
    if crypto.keyring.current is None:
        if _holds_values(connection, specs):
            raise crypto.NoDataKey(
                "casehub cannot migrate: the database holds case content and no data key is configured: "
                "set DATA_KEYS (`python -m bot keys new` makes one) and migrate again"
            )
        return
    encryption.record_current(connection)
    within = _within(connection)
    rewritten = [spec.name for spec in specs if encryption.rewrite(within, spec, encryption.encrypt_stored)]
    if rewritten:
        # What was in clear stays in the files' free space until it is rewritten: once this
        # migration has committed, `bot.db.Database.migrate` rewrites these tables.
        from bot.db import REWRITTEN

        context.config.attributes[REWRITTEN] = rewritten
    _queue_file(connection, encryption.encrypt_stored)


def downgrade() -> None:
    from services import encryption

    connection = op.get_bind()
    for spec in encryption.tables_in(connection, _specs()):
        encryption.rewrite(_within(connection), spec, encryption.decrypt_stored)
    _queue_file(connection, encryption.decrypt_stored)
    if connection.dialect.name == "postgresql":
        for (table, name), was in RETYPED.items():
            using = f"{name}::json" if isinstance(was, sa.JSON) else None
            op.alter_column(table, name, type_=was, postgresql_using=using)
    op.drop_table("data_keys")


def _specs() -> list:  # type: ignore[type-arg]
    from services.encryption import EncryptedTable

    return [EncryptedTable(table, key, columns) for table, (key, columns) in ENCRYPTED.items()]


def _within(connection: sa.Connection):  # type: ignore[no-untyped-def]
    """Batches in the migration's own transaction: it commits or rolls back whole."""

    @contextmanager
    def begin() -> Iterator[sa.Connection]:
        yield connection

    return begin


def _holds_values(connection: sa.Connection, specs: list) -> bool:  # type: ignore[type-arg]
    from services import encryption

    return sum(encryption.count_by_key(connection, specs).values()) > 0


def _queue_file(connection: sa.Connection, transform) -> None:  # type: ignore[no-untyped-def]
    """The SQLite job queue's file beside the database, if there is one, in a transaction of
    its own."""
    from bot.jobs import jobs_url
    from services import encryption

    if connection.dialect.name != "sqlite":
        return
    url = sa.make_url(jobs_url(connection.engine.url.render_as_string(hide_password=False)))
    if url.database is None or not Path(url.database).exists():
        return
    queue = sa.create_engine(url)
    try:
        [spec] = [s for s in _specs() if s.name == "jobs"]
        with queue.connect() as probe:
            if not encryption.tables_in(probe, [spec]):
                return
        if encryption.rewrite(queue.begin, spec, transform):
            raw = sqlite3.connect(str(url.database), isolation_level=None)
            try:
                raw.execute("VACUUM")  # nothing left in clear in its free space
            finally:
                raw.close()
    finally:
        queue.dispose()
