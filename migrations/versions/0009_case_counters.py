"""each case counts the actions it has numbered

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-12

Actions were numbered one more than the highest number in their case, read and then
written: two actions added at the same moment could both take the same number, and one was
refused. The case now keeps the last number it gave, taken under the case's row lock. It
starts from the highest number each case has given so far.

SQLite adds (and, from 3.35, drops) a plain column in place. Batch mode's copy of `cases`
is not wanted: every table that refers to cases would need its foreign keys switched off.
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cases", schema=None, recreate="never") as batch_op:
        batch_op.add_column(sa.Column("actions_numbered", sa.Integer(), nullable=False, server_default="0"))
    op.execute(
        "UPDATE cases SET actions_numbered = "
        "(SELECT COALESCE(MAX(actions.number), 0) FROM actions WHERE actions.case_id = cases.id)"
    )


def downgrade() -> None:
    with op.batch_alter_table("cases", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("actions_numbered")
