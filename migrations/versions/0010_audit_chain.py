"""the audit trail and the sharing log become tamper-evident chains

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01

Each entry gets its place in its table's chain, the key that sealed it and its link (see
`services.chain`); the audit trail also keeps a digest of its details, which the chain covers.
The entries already written are sealed here, in the order they were written, with the keys
configured for the process that migrates (AUDIT_KEYS). `audit_chains` records where each chain
ends. The append-only triggers are replaced by stricter ones: an entry must come sealed, an
insert may not take an existing row's id (SQLite's INSERT OR REPLACE), and on PostgreSQL no
statement may TRUNCATE these tables.
"""

import sqlalchemy as sa
from alembic import op

from migrations.append_only import install_append_only, install_sealed, remove_append_only, remove_sealed

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

CHAINS = ("audit_events", "sharing_log")


def upgrade() -> None:
    from services import chain

    for table in CHAINS:
        remove_append_only(table)
        with op.batch_alter_table(table, schema=None, recreate="never") as batch_op:
            batch_op.add_column(sa.Column("seq", sa.BigInteger(), nullable=True))
            batch_op.add_column(sa.Column("key_id", sa.String(length=32), nullable=True))
            batch_op.add_column(sa.Column("chain_hash", sa.String(length=64), nullable=True))
            if table == "audit_events":
                batch_op.add_column(sa.Column("details_digest", sa.String(length=64), nullable=True))
        op.create_index(f"ix_{table}_seq", table, ["seq"], unique=True)
    ends = op.create_table(
        "audit_chains",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("chain_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_audit_chains")),
    )
    connection = op.get_bind()
    metadata = sa.MetaData()
    for name in CHAINS:
        table = sa.Table(name, metadata, autoload_with=connection)
        before, seq = chain.GENESIS, 0
        rows = connection.execute(sa.select(table).order_by(table.c.id)).mappings().all()
        for row in rows:
            values = dict(row)
            values["at"] = _aware(row["at"])  # as the models read it back: an aware UTC time
            seq += 1
            changes = {"seq": seq, "key_id": chain.keyring.current}
            if name == "audit_events":
                changes["details_digest"] = chain.digest(row["details"] if row["details"] is not None else {})
            values.update(changes)
            changes["chain_hash"] = before = chain.keyring.link(
                chain.keyring.current, before, chain.content(name, values)
            )
            connection.execute(table.update().where(table.c.id == row["id"]).values(**changes))
        op.bulk_insert(ends, [{"name": name, "seq": seq, "chain_hash": before}])
    for table in CHAINS:
        install_sealed(table)


def downgrade() -> None:
    for table in CHAINS:
        remove_sealed(table)
        op.drop_index(f"ix_{table}_seq", table_name=table)
        with op.batch_alter_table(table, schema=None, recreate="never") as batch_op:
            if table == "audit_events":
                batch_op.drop_column("details_digest")
            batch_op.drop_column("chain_hash")
            batch_op.drop_column("key_id")
            batch_op.drop_column("seq")
        install_append_only(table)
    op.drop_table("audit_chains")


def _aware(value):  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    if isinstance(value, str):  # SQLite may hand a reflected DATETIME back as text
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
