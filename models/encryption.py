"""Encryption at rest of what people typed: the column types that encrypt it, and the keys.

A value is encrypted with AES-256-GCM under a random 96-bit nonce and stored as text,
`v1:<key id>:<base64 of nonce ‖ ciphertext ‖ tag>`. The associated data names the column
(`cases.summary`) and the key id, so a value moved to another column, or relabelled with
another key's id, no longer decrypts. The empty string is stored as the empty string (code
asks whether a text was emptied, `Notice.text != ""`): that a field is empty is not hidden.
None stays NULL.

The keys come from `DATA_KEYS` (see `bot.keys`); new values take the current one. A value
under a key the process does not hold, or one that does not decrypt, is an error naming the
column and the key id, never the value.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import threading
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import ColumnElement, String, Text
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.sql import operators
from sqlalchemy.types import TypeDecorator

from models.base import Base
from models.clock import utcnow

VERSION = "v1"
KEY_BYTES = 32
NONCE_BYTES = 12
# What each key's check value encrypts, under the associated data of its own "column".
CHECK_LABEL = "data_keys.check_value"
CHECK_TEXT = "casehub data key check"


class EncryptionError(Exception):
    """A value could not be encrypted or decrypted. The message names the column and the key
    id, never the value or the key."""


class NoDataKey(EncryptionError):
    """Something was to be stored encrypted and this process has no current key."""


class UnknownDataKey(EncryptionError):
    """A value is encrypted under a key id this process does not hold."""

    def __init__(self, label: str, key_id: str) -> None:
        super().__init__(
            f"a value of {label} is encrypted with the data key {key_id!r}, which DATA_KEYS does not list"
        )
        self.key_id = key_id


class Undecryptable(EncryptionError):
    """A value does not decrypt: the key under its id is not the one it was encrypted with, or
    the value was altered or moved from another column."""


class Keyring:
    """The data keys by id and the one new values are encrypted with."""

    def __init__(self, keys: Mapping[str, bytes] | None = None, current: str | None = None) -> None:
        if any(len(key) != KEY_BYTES for key in (keys or {}).values()):
            raise ValueError(f"data keys are {KEY_BYTES} bytes (AES-256)")
        self._ciphers = {key_id: AESGCM(key) for key_id, key in (keys or {}).items()}
        self.current = current if current is not None else (list(self._ciphers)[-1] if keys else None)
        if self.current is not None and self.current not in self._ciphers:
            raise ValueError(f"the current data key {self.current!r} is not among the keys")

    @property
    def key_ids(self) -> list[str]:
        return list(self._ciphers)

    def encrypt(self, text: str, label: str) -> str:
        """`text` encrypted for the column `label` under the current key ("" stays "")."""
        if text == "":
            return ""
        if self.current is None:
            raise NoDataKey(f"{label} is encrypted at rest and no data key is configured (DATA_KEYS)")
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._ciphers[self.current].encrypt(nonce, text.encode(), _associated(self.current, label))
        return f"{VERSION}:{self.current}:{base64.b64encode(nonce + sealed).decode('ascii')}"

    def decrypt(self, stored: str, label: str) -> str:
        """The text of a value stored by `encrypt` for the column `label`."""
        if stored == "":
            return ""
        key_id, payload = split(stored, label)
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise UnknownDataKey(label, key_id)
        try:
            raw = base64.b64decode(payload, validate=True)
            if len(raw) <= NONCE_BYTES:
                raise ValueError("too short")
            text = cipher.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], _associated(key_id, label))
        except (InvalidTag, ValueError, binascii.Error):
            raise Undecryptable(
                f"a value of {label} does not decrypt with the data key {key_id!r}: DATA_KEYS holds "
                "another key under that id, or the value was altered"
            ) from None
        return text.decode()


def split(stored: str, label: str) -> tuple[str, str]:
    """The key id and the payload of a stored value, or `Undecryptable` if it is not one."""
    version, _, rest = stored.partition(":")
    key_id, _, payload = rest.partition(":")
    if version != VERSION or not key_id or not payload:
        raise Undecryptable(f"a value of {label} is not in casehub's encrypted form (stored in clear?)")
    return key_id, payload


def key_id_of(stored: str) -> str | None:
    """The id of the key a stored value is encrypted with (None for "" and for any other text)."""
    version, _, rest = stored.partition(":")
    key_id, found, _ = rest.partition(":")
    return key_id if version == VERSION and found and key_id else None


def _associated(key_id: str, label: str) -> bytes:
    return f"casehub:{VERSION}:{key_id}:{label}".encode()


# The process's keyring. `configure` replaces what it holds; the column types read it at each
# value, so every session and connection of the process uses the keys configured last.
keyring = Keyring()
_configure_lock = threading.Lock()


def configure(keys: Mapping[str, bytes], current: str | None = None) -> None:
    """The data keys of this process; new values take `current` (by default the last listed)."""
    install(Keyring(keys, current))


def install(ring: Keyring) -> None:
    """Use `ring` for every value from now on (`configure` builds one from keys; a benchmark
    installs one of its own to measure what encryption costs)."""
    global keyring
    with _configure_lock:
        keyring = ring


class OpaqueInSQL(TypeError):
    """A query compares, sorts or searches an encrypted column in SQL, where it is ciphertext."""


class _Opaque(TypeDecorator.Comparator[Any]):
    """What SQL may ask of an encrypted column: whether it is NULL, and whether it is empty.
    Anything else (equality with a text, IN, LIKE, `.asc()`/`.desc()`) would run against
    ciphertext and quietly find nothing, or sort nonsense: it is refused when the query is built.
    (A bare `order_by(column)` uses no operator and is not caught here.)"""

    def operate(self, op: Any, *other: Any, **kwargs: Any) -> Any:
        # Another column is let through: the ORM compares columns with == to find them.
        if op in (operators.is_, operators.is_not, operators.eq, operators.ne) and (
            len(other) == 1 and (isinstance(other[0], ColumnElement) or other[0] is None or other[0] == "")
        ):
            return super().operate(op, *other, **kwargs)
        raise OpaqueInSQL(
            f"{self.type.label} is encrypted: compare, sort or search it in Python once read"  # type: ignore[attr-defined]
        )

    def reverse_operate(self, op: Any, other: Any, **kwargs: Any) -> Any:
        raise OpaqueInSQL(f"{self.type.label} is encrypted: compare it in Python once read")  # type: ignore[attr-defined]


class EncryptedText(TypeDecorator[str]):
    """Text encrypted at rest; `label` is the column it belongs to, `table.column`, which the
    ciphertext is bound to. Stored as TEXT: a ciphertext is about 4/3 of the text plus 40
    characters. Only whether it is NULL or "" may be asked of it in SQL."""

    impl = Text
    cache_ok = True
    comparator_factory = _Opaque

    def __init__(self, label: str) -> None:
        super().__init__()
        self.label = label

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else keyring.encrypt(value, self.label)

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else keyring.decrypt(value, self.label)


class EncryptedJSON(TypeDecorator[Any]):
    """A JSON value encrypted at rest: its compact serialisation, encrypted as `EncryptedText`
    is. None stays NULL (never the JSON `null`)."""

    impl = Text
    cache_ok = True
    comparator_factory = _Opaque

    def __init__(self, label: str) -> None:
        super().__init__()
        self.label = label

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return keyring.encrypt(json.dumps(value, ensure_ascii=False, separators=(",", ":")), self.label)

    def process_result_value(self, value: str | None, dialect: Dialect) -> Any:
        if value is None or value == "":
            return None
        return json.loads(keyring.decrypt(value, self.label))


class DataKey(Base):
    """A data key that values in the database may be encrypted with, and its check value (a
    constant it encrypted): at start, a key listed here but missing from DATA_KEYS, or one
    whose check does not decrypt, stops casehub before it reads or writes anything."""

    __tablename__ = "data_keys"

    key_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    check_value: Mapped[str] = mapped_column(Text)
    added_at: Mapped[datetime] = mapped_column(default=utcnow)
