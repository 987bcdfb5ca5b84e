"""The audit chains, as a process takes part in them: the keys it seals with, and the grants
that let casehub run as a role that may only add to and read the chained tables."""

from __future__ import annotations

import logging
import re

from sqlalchemy import text

from bot.db import Database
from bot.settings import ConfigurationError, Settings
from services import chain

log = logging.getLogger("casehub.audit")
_ROLE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def seal_with(settings: Settings, *, warn: bool = False) -> None:
    """The keys that seal the audit trail and the sharing log in this process; `warn`: say at
    start when there are none (a serving process; a one-off command stays quiet)."""
    chain.configure(*settings.audit_keyring())
    if warn and not settings.audit_keys:
        log.warning(
            "AUDIT_KEYS is not set: the audit chains show accidental changes but not deliberate ones "
            "(anyone with the database could rewrite them); set a key to make them tamper-evident"
        )


def grant(db: Database, role: str) -> list[str]:
    """Let `role` run casehub on PostgreSQL: read and write its tables, but only read and add
    to the chained ones (no UPDATE, DELETE or TRUNCATE; and, not owning them, no ALTER or
    DISABLE TRIGGER). Run as the owner, after each migration. Returns the statements run."""
    if db.engine.dialect.name != "postgresql":
        raise ConfigurationError("grants are for PostgreSQL: SQLite has no roles")
    if not _ROLE.match(role):
        raise ConfigurationError(f"{role!r} is not a role name: lower-case letters, digits and _")
    chained = ", ".join(chain.CHAINED)
    statements = [
        f"GRANT USAGE ON SCHEMA public TO {role}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}",
        f"REVOKE UPDATE, DELETE, TRUNCATE ON {chained}, alembic_version FROM {role}",
        f"REVOKE INSERT ON alembic_version FROM {role}",
        # Retention redacts the details of a deleted case's audit entries (a trigger allows only that).
        f"GRANT UPDATE (details) ON audit_events TO {role}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}",
    ]
    with db.engine.begin() as connection:
        exists = connection.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :role"), {"role": role})
        if exists.first() is None:
            raise ConfigurationError(f"there is no role {role} (CREATE ROLE {role} LOGIN PASSWORD '…' first)")
        for statement in statements:
            connection.execute(text(statement))
    return statements
