"""retention finds sent messages and processed deliveries by age

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01

Each sweep empties the text of messages sent more than RETENTION_OUTBOX_DAYS ago and deletes
the keys of deliveries processed more than RETENTION_DELIVERIES_DAYS ago, a batch at a time;
these indexes let it find them without reading the whole table.
"""

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_notices_state_sent", "notices", ["state", "sent_at"])
    op.create_index("ix_deliveries_at", "deliveries", ["at"])


def downgrade() -> None:
    op.drop_index("ix_deliveries_at", table_name="deliveries")
    op.drop_index("ix_notices_state_sent", table_name="notices")
