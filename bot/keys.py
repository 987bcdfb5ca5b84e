"""The data keys, as a process uses them: the keyring from DATA_KEYS, the check at start that
they are the keys the database needs, and what `python -m bot keys` does (new, status, rotate).

The check at start tells two mistakes apart, each in one line naming the key id and what to
do, before anything is read or written: a key the database has values under is missing from
DATA_KEYS, or DATA_KEYS holds another key under its id (its check value does not decrypt).

The matching key (MATCHING_KEY) keys the blind index that finds repeat referrals. It is apart
from the data keys, and checked at start too: the processes that answer people need one, and it
must be the key the index was made with (each person records a keyed marker of it).
"""

from __future__ import annotations

import base64
import json
import os
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import inspect, make_url

from bot.db import Database
from bot.settings import ConfigurationError, Settings, is_key_id
from models import encryption as crypto
from models import utcnow
from services import encryption
from services import identity_index as matching

NO_KEY = (
    "casehub cannot start: DATA_KEYS is not set, and casehub encrypts what people type with it: "
    "make a key with `python -m bot keys new`, put the line it prints in the environment or .env, "
    "and keep a copy somewhere safe (without it the case content cannot be read)"
)


NO_MATCHING_KEY = (
    "casehub cannot start: MATCHING_KEY is not set, and casehub finds repeat referrals with the "
    "index it keys: make one with `python -m bot keys new --matching` and put the line it prints "
    "in the environment or .env"
)


def encrypt_with(settings: Settings) -> None:
    """The data keys and the matching key of this process, from its settings."""
    crypto.configure(*settings.data_keyring())
    matching.configure(settings.matching_key_bytes())


def check_at_start(db: Database, *, require: bool = True) -> None:
    """Refuse to go on with keys that cannot read the database (or, with `require`, with no key
    to encrypt with); then record the current key, before anything is encrypted under it."""
    if require and crypto.keyring.current is None:
        raise ConfigurationError(NO_KEY)
    with db.engine.connect() as connection:
        if crypto.DataKey.__tablename__ not in inspect(connection).get_table_names():
            return  # not migrated yet: nothing is encrypted, and the migration records the key
        found = encryption.problems(connection)
    if found:
        raise ConfigurationError(describe(found))
    encryption.record_current_in(db.writer)


def describe(found: encryption.KeyProblems) -> str:
    said = []
    if found.missing:
        said.append(
            f"the database holds values encrypted with the data key {_ids(found.missing)}, which "
            "DATA_KEYS does not list: add it back as it was (a key leaves DATA_KEYS only once "
            "`python -m bot keys rotate` has left nothing under it)"
        )
    if found.wrong:
        said.append(
            f"DATA_KEYS holds another key under the id {_ids(found.wrong)} than the one the database "
            "was encrypted with (its check value does not decrypt): put back the key that id had"
        )
    return "casehub cannot start: " + "; and ".join(said)


def check_matching_at_start(db: Database) -> None:
    """Refuse to answer people without a matching key, or with one other than the key the
    blind index was made with (or an index made by an earlier version of casehub)."""
    from services import identity

    if not matching.configured():
        raise ConfigurationError(NO_MATCHING_KEY)
    with db.engine.connect() as connection:
        if "persons" not in inspect(connection).get_table_names():
            return
        stale = identity.stale_markers(connection)
    if not stale:
        return
    if all(marker.startswith(f"v{matching.VERSION}:") for marker in stale):
        raise ConfigurationError(
            "casehub cannot start: MATCHING_KEY is not the key the identity index was made with: "
            "put back the key it had or, to change it, make the index again with "
            "`python -m bot identities reindex`"
        )
    raise ConfigurationError(
        "casehub cannot start: the identity index was made by an earlier version of casehub: "
        "make it again with `python -m bot identities reindex`"
    )


def new_matching_key_line() -> str:
    """A MATCHING_KEY line with a new key."""
    return "MATCHING_KEY=" + new_key()


def _ids(key_ids: list[str]) -> str:
    return " and ".join(repr(k) for k in key_ids)


# ---- keys new -----------------------------------------------------------------------------------
def new_key() -> str:
    """32 random bytes in base64: a data key."""
    return base64.b64encode(os.urandom(crypto.KEY_BYTES)).decode("ascii")


def new_key_line(settings: Settings, key_id: str | None = None) -> tuple[str, str]:
    """The DATA_KEYS line with a new key added last (so that it becomes the current one unless
    DATA_KEY_ID says otherwise), and the new key's id."""
    keys = {k: v.get_secret_value() for k, v in settings.data_keys.items()}
    if key_id is None:
        key_id = base = utcnow().strftime("%Y%m%d")
        number = 1
        while key_id in keys:
            number += 1
            key_id = f"{base}-{number}"
    elif not is_key_id(key_id):
        raise ConfigurationError(f"{key_id!r} is not a key id: 1-32 letters, digits, '-' or '_'")
    elif key_id in keys:
        raise ConfigurationError(f"DATA_KEYS has a key {key_id!r} already: choose another id")
    keys[key_id] = new_key()
    return "DATA_KEYS=" + json.dumps(keys, separators=(",", ":")), key_id


# ---- status and rotation ------------------------------------------------------------------------
def stores(db: Database) -> Iterator[tuple[Database, list[encryption.EncryptedTable]]]:
    """Where encrypted values are: the database, and on SQLite the job queue's file beside it
    (if there is one yet), each with the tables it holds."""
    from bot.jobs import jobs_url

    tables = encryption.encrypted_tables()
    yield db, tables
    url = jobs_url(db.url)
    if url == db.url:
        return
    path = make_url(url).database
    if path is None or not Path(path).exists():
        return
    queue = Database(url)
    try:
        yield queue, [t for t in tables if t.name == "jobs"]
    finally:
        queue.dispose()


def counts(db: Database) -> Counter[str]:
    """Values under each key id ("" for any not in the encrypted form), in every store."""
    total: Counter[str] = Counter()
    for store, tables in stores(db):
        with store.engine.connect() as connection:
            total.update(encryption.count_by_key(connection, tables))
    return total


@dataclass
class Status:
    current: str | None
    recorded: list[str]
    values: Counter[str]

    def summary(self) -> str:
        lines = [f"current key: {self.current or '(none: DATA_KEYS is not set)'}"]
        for key_id in sorted(set(self.recorded) | {k for k in self.values if k}):
            notes = [
                n
                for n, on in (("current", key_id == self.current), ("recorded", key_id in self.recorded))
                if on
            ]
            known = "" if key_id in crypto.keyring.key_ids else ", NOT IN DATA_KEYS"
            lines.append(f"  {key_id}: {self.values[key_id]} value(s) ({', '.join(notes) or '-'}{known})")
        lines.append(f"  in clear: {self.values['']} value(s)")
        others = sum(n for k, n in self.values.items() if k and k != self.current)
        if others:
            lines.append(f"{others} value(s) under other keys: `python -m bot keys rotate` re-encrypts them")
        else:
            lines.append("every value is under the current key")
        return "\n".join(lines)


def status(db: Database) -> Status:
    with db.engine.connect() as connection:
        recorded = sorted(encryption.recorded_keys(connection))
    return Status(crypto.keyring.current, recorded, counts(db))


@dataclass
class Rotation:
    current: str
    reencrypted: int = 0
    left: int = 0  # values still under other keys (changed while rotating by a process with other keys)
    forgotten: list[str] = field(default_factory=list)  # keys no value is under any more

    def summary(self) -> str:
        said = f"{self.reencrypted} value(s) re-encrypted under {self.current!r}"
        if self.left:
            return (
                f"{said}; {self.left} value(s) still under other keys: run `python -m bot keys rotate` again"
            )
        if self.forgotten:
            return (
                f"{said}; none left under other keys: {_ids(self.forgotten)} may now be removed "
                "from DATA_KEYS"
            )
        return f"{said}; none left under other keys"


def rotate(
    db: Database,
    *,
    batch: int = encryption.BATCH,
    progress: Callable[[str, int], None] | None = None,
) -> Rotation:
    """Re-encrypt every value not under the current key, `batch` rows per transaction, each
    committed before the next begins: stopped part-way, it resumes where it stopped.
    `progress(table, values)` is told of each batch once it is committed."""
    current = crypto.keyring.current
    if current is None:
        raise ConfigurationError(NO_KEY)
    rotation = Rotation(current)
    for store, tables in stores(db):
        with store.engine.connect() as connection:
            present = encryption.tables_in(connection, tables)
        for spec in present:

            def told(values: int, name: str = spec.name) -> None:
                if progress is not None:
                    progress(name, values)

            rotation.reencrypted += encryption.rewrite(
                store.writer,
                spec,
                encryption.reencrypt_stored,
                only_not_under=current,
                batch=batch,
                after_batch=told,
            )
    left = counts(db)
    rotation.left = sum(n for k, n in left.items() if k and k != current)
    with db.writer() as connection:
        rotation.forgotten = encryption.forget_unused(connection, left)
    return rotation
