"""The encrypted columns as stored: which they are, under which keys, and re-encrypting them.

The models say which columns are encrypted (their type is `EncryptedText` or `EncryptedJSON`,
labelled `table.column`); here they are read and written as the text they are stored as, a
batch of rows at a time, each batch in a transaction of its own. Rotation re-encrypts every
value not under the current key: a value already under it is passed over by a comparison of
its first characters, so a rotation stopped part-way (killed, or the database gone for a
moment) resumes where it stopped when run again.

`data_keys` records each key values may be under, with its check value: at start a key missing
from DATA_KEYS, or a different key under the same id, is found before anything is read.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Column,
    ColumnElement,
    Connection,
    String,
    Table,
    and_,
    case,
    column,
    delete,
    func,
    insert,
    inspect,
    literal,
    or_,
    select,
    table,
    true,
    update,
)
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.expression import TableClause

from models import Base, utcnow
from models import encryption as crypto

BATCH = 500
Begin = Callable[[], AbstractContextManager[Connection]]
Transform = Callable[[str, str], str]  # (stored text, label) -> the text to store instead


@dataclass(frozen=True)
class EncryptedTable:
    """A table's encrypted columns and the key its rows are walked by."""

    name: str
    key: str
    columns: tuple[str, ...]

    def label(self, name: str) -> str:
        return f"{self.name}.{name}"


def encrypted_tables() -> list[EncryptedTable]:
    """Every table with encrypted columns, from the models: a column made encrypted later is
    rotated and counted without being listed anywhere else."""
    found = []
    for mapped in Base.metadata.sorted_tables:
        names = tuple(c.name for c in mapped.columns if _encrypted(c))
        if not names:
            continue
        for name in names:
            label = mapped.c[name].type.label  # type: ignore[attr-defined]
            if label != f"{mapped.name}.{name}":
                raise RuntimeError(f"{mapped.name}.{name} is encrypted under the label {label!r}")
        [key] = [c.name for c in mapped.primary_key.columns]
        found.append(EncryptedTable(mapped.name, key, names))
    return found


def _encrypted(col: Column[object]) -> bool:
    return isinstance(col.type, crypto.EncryptedText | crypto.EncryptedJSON)


def tables_in(connection: Connection, tables: Iterable[EncryptedTable]) -> list[EncryptedTable]:
    """Those of `tables` this database has (the SQLite job queue's file has one)."""
    present = set(inspect(connection).get_table_names())
    return [t for t in tables if t.name in present]


# ---- walking the stored values ------------------------------------------------------------------
def _raw(spec: EncryptedTable) -> TableClause:
    """The table as plain columns: values come back as stored, and go in as given."""
    return table(spec.name, column(spec.key), *(column(name) for name in spec.columns))


def _filled(col: ColumnElement[Any]) -> ColumnElement[bool]:
    return and_(col.is_not(None), col != "")


def _not_under(col: ColumnElement[Any], key_id: str) -> ColumnElement[bool]:
    """The value is not under `key_id`: its first characters say so, without decrypting."""
    prefix = f"{crypto.VERSION}:{key_id}:"
    return and_(_filled(col), func.substr(col, 1, len(prefix)) != literal(prefix, String))


def rewrite(
    begin: Begin,
    spec: EncryptedTable,
    transform: Transform,
    *,
    only_not_under: str | None = None,
    batch: int = BATCH,
    after_batch: Callable[[int], None] | None = None,
) -> int:
    """Every filled value of the table's encrypted columns replaced by `transform(value, label)`,
    `batch` rows per transaction in the order of their key; with `only_not_under`, only values
    not under that key id. A value changed meanwhile by someone else is left as they wrote it.
    `after_batch(values)` is told of each batch once it is committed. Returns the values changed."""
    raw = _raw(spec)
    key, cols = raw.c[spec.key], [raw.c[name] for name in spec.columns]
    wanted = or_(*(_not_under(c, only_not_under) if only_not_under else _filled(c) for c in cols))
    changed, last = 0, None
    while True:
        with begin() as connection:
            after = key > last if last is not None else true()
            query = select(key, *cols).where(after, wanted).order_by(key).limit(batch)
            rows = connection.execute(query).mappings().all()
            if not rows:
                return changed
            done = sum(_rewrite_row(connection, spec, raw, row, transform, only_not_under) for row in rows)
            last = rows[-1][spec.key]
        changed += done
        if after_batch is not None:
            after_batch(done)


def _rewrite_row(
    connection: Connection,
    spec: EncryptedTable,
    raw: TableClause,
    row: RowMapping,
    transform: Transform,
    only_not_under: str | None,
) -> int:
    changes = {}
    for name in spec.columns:
        stored = row[name]
        if stored is None or stored == "":
            continue
        if only_not_under is not None and crypto.key_id_of(stored) == only_not_under:
            continue
        changes[name] = transform(stored, spec.label(name))
    if not changes:
        return 0
    unchanged = [raw.c[name] == row[name] for name in changes]
    statement = update(raw).where(raw.c[spec.key] == row[spec.key], *unchanged).values(changes)
    return len(changes) if connection.execute(statement).rowcount == 1 else 0


def encrypt_stored(stored: str, label: str) -> str:
    """A value stored in clear, encrypted (migrating to encryption)."""
    return crypto.keyring.encrypt(stored, label)


def decrypt_stored(stored: str, label: str) -> str:
    """An encrypted value, in clear (migrating back)."""
    return crypto.keyring.decrypt(stored, label)


def reencrypt_stored(stored: str, label: str) -> str:
    """A value under another key, under the current one."""
    return crypto.keyring.encrypt(crypto.keyring.decrypt(stored, label), label)


# ---- counting -----------------------------------------------------------------------------------
def _key_id(col: ColumnElement[Any], dialect: str) -> ColumnElement[Any]:
    """The key id a stored value names (NULL for a value not in the encrypted form)."""
    head = f"{crypto.VERSION}:"
    rest = func.substr(col, len(head) + 1)
    if dialect == "postgresql":
        named: ColumnElement[Any] = func.split_part(rest, ":", 1)
    else:
        named = func.substr(rest, 1, func.instr(rest, ":") - 1)
    return case((func.substr(col, 1, len(head)) == literal(head, String), named), else_=None)


def count_by_key(connection: Connection, tables: Iterable[EncryptedTable]) -> Counter[str]:
    """How many filled values are under each key id; those not in the encrypted form count
    under "" (there should be none)."""
    counts: Counter[str] = Counter()
    dialect = connection.dialect.name
    for spec in tables_in(connection, tables):
        raw = _raw(spec)
        for col in (raw.c[name] for name in spec.columns):
            key_id = _key_id(col, dialect).label("key_id")
            query = select(key_id, func.count().label("n")).where(_filled(col)).group_by(key_id)
            for row in connection.execute(query).mappings():
                counts[str(row["key_id"] or "")] += int(row["n"])
    return counts


def pending_rotation(connection: Connection, tables: Iterable[EncryptedTable], current: str) -> int:
    """How many filled values are not under the current key."""
    total = 0
    for spec in tables_in(connection, tables):
        raw = _raw(spec)
        query = select(func.count()).where(or_(*(_not_under(raw.c[name], current) for name in spec.columns)))
        total += int(connection.execute(query).scalar_one())
    return total


# ---- the record of keys in use ------------------------------------------------------------------
@dataclass(frozen=True)
class KeyProblems:
    missing: list[str]  # keys values may be under that this process does not hold
    wrong: list[str]  # keys held under an id whose check value they do not decrypt

    def __bool__(self) -> bool:
        return bool(self.missing or self.wrong)


_KEYS: Table = crypto.DataKey.__table__  # type: ignore[assignment]


def check_value() -> str:
    """The current key's encryption of a constant: only that key decrypts it."""
    return crypto.keyring.encrypt(crypto.CHECK_TEXT, crypto.CHECK_LABEL)


def recorded_keys(connection: Connection) -> dict[str, str]:
    rows = connection.execute(select(crypto.DataKey.key_id, crypto.DataKey.check_value))
    return {key_id: check for key_id, check in rows}


def problems(connection: Connection) -> KeyProblems:
    """What stands between this process's keys and the values in the database."""
    missing, wrong = [], []
    ring = crypto.keyring
    for key_id, check in sorted(recorded_keys(connection).items()):
        if key_id not in ring.key_ids:
            missing.append(key_id)
            continue
        try:
            if ring.decrypt(check, crypto.CHECK_LABEL) != crypto.CHECK_TEXT:
                wrong.append(key_id)
        except crypto.EncryptionError:
            wrong.append(key_id)
    return KeyProblems(missing, wrong)


def record_current(connection: Connection) -> bool:
    """Record the current key, with its check value, before anything is encrypted under it;
    True when it was not recorded yet. Another process recording it at the same moment is no
    error (the caller's transaction must be able to take that, see `record_current_in`)."""
    current = crypto.keyring.current
    if current is None or current in recorded_keys(connection):
        return False
    connection.execute(insert(_KEYS).values(key_id=current, check_value=check_value(), added_at=utcnow()))
    return True


def record_current_in(begin: Begin) -> bool:
    """`record_current` in a transaction of its own; a key recorded meanwhile by another
    process starting at the same moment is taken as recorded."""
    try:
        with begin() as connection:
            return record_current(connection)
    except IntegrityError:
        return False


def forget_unused(connection: Connection, counts: Counter[str]) -> list[str]:
    """The keys, other than the current one, that no value is under any more: no longer
    recorded, so that DATA_KEYS may drop them. Returns their ids."""
    unused = [
        key_id
        for key_id in recorded_keys(connection)
        if key_id != crypto.keyring.current and counts[key_id] == 0
    ]
    if unused:
        connection.execute(delete(_KEYS).where(_KEYS.c.key_id.in_(unused)))
    return unused
