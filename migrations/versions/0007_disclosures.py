"""every disclosure in the sharing log, with its purpose and lawful basis

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-10

The sharing log recorded updates only. It now records corrections, earlier updates seen by an
agency that joins, crisis pages and their e-mail copies, and hand-overs: an entry names a crisis
or no single record at all, and the key of the purpose and lawful basis it was made under.
Existing entries are updates; their basis was not recorded and stays empty.

SQLite alters a column by copying the table, which drops its triggers: the append-only
triggers are removed first and put back after, on both databases alike.
"""

import sqlalchemy as sa
from alembic import op

from migrations.append_only import install_append_only, remove_append_only

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    remove_append_only("sharing_log")
    with op.batch_alter_table("sharing_log", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("disclosure", sa.String(length=32), nullable=False, server_default="update")
        )
        batch_op.add_column(sa.Column("crisis_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("basis", sa.String(length=32), nullable=True))
        batch_op.alter_column("update_id", existing_type=sa.Integer(), nullable=True)
        batch_op.alter_column("from_agency_id", existing_type=sa.Integer(), nullable=True)
        batch_op.create_foreign_key(
            batch_op.f("fk_sharing_log_crisis_id_crises"), "crises", ["crisis_id"], ["id"]
        )
    install_append_only("sharing_log")


def downgrade() -> None:
    # Entries that name no update cannot go back into the old table: refuse rather than lose them.
    bind = op.get_bind()
    orphans = bind.execute(
        sa.text("SELECT count(*) FROM sharing_log WHERE update_id IS NULL OR from_agency_id IS NULL")
    ).scalar_one()
    if orphans:
        raise RuntimeError(
            f"the sharing log holds {orphans} entries that are not updates; they cannot be downgraded"
        )
    remove_append_only("sharing_log")
    with op.batch_alter_table("sharing_log", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_sharing_log_crisis_id_crises"), type_="foreignkey")
        batch_op.alter_column("from_agency_id", existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column("update_id", existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column("basis")
        batch_op.drop_column("crisis_id")
        batch_op.drop_column("disclosure")
    install_append_only("sharing_log")
