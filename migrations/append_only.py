"""Triggers that make a table append-only in the database itself, not just by convention."""

from alembic import op

_PG_FUNCTION = """
CREATE OR REPLACE FUNCTION casehub_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
END;
$$ LANGUAGE plpgsql
"""


def install_append_only(table: str) -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_PG_FUNCTION)
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION casehub_refuse_change()"
        )
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
            )


def remove_append_only(table: str) -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
    else:
        for verb in ("update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{verb}")


_PG_SEALED_FUNCTION = """
CREATE OR REPLACE FUNCTION casehub_refuse_unsealed() RETURNS trigger AS $$
BEGIN
    IF NEW.seq IS NULL OR NEW.chain_hash IS NULL THEN
        RAISE EXCEPTION '% takes only entries sealed in its chain', TG_TABLE_NAME;
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql
"""


def install_sealed(table: str) -> None:
    """Append-only, and more: an entry must come sealed (a place and a link in its chain), and
    no statement may empty the table. On SQLite an insert may not take an existing row's id,
    which closes `INSERT OR REPLACE` (a delete that fires no delete trigger)."""
    install_append_only(table)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_PG_SEALED_FUNCTION)
        op.execute(
            f"CREATE TRIGGER {table}_sealed BEFORE INSERT ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION casehub_refuse_unsealed()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION casehub_refuse_change()"
        )
    else:
        op.execute(
            f"CREATE TRIGGER {table}_sealed BEFORE INSERT ON {table} "
            "WHEN NEW.seq IS NULL OR NEW.chain_hash IS NULL "
            f"BEGIN SELECT RAISE(ABORT, '{table} takes only entries sealed in its chain'); END"
        )
        op.execute(
            f"CREATE TRIGGER {table}_no_replace BEFORE INSERT ON {table} "
            f"WHEN EXISTS (SELECT 1 FROM {table} WHERE id = NEW.id) "
            f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
        )


def remove_sealed(table: str) -> None:
    remove_append_only(table)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP TRIGGER IF EXISTS {table}_sealed ON {table}")
        op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
    else:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_sealed")
        op.execute(f"DROP TRIGGER IF EXISTS {table}_no_replace")
