"""The tamper-evident chain over the audit trail and the sharing log.

Each entry is sealed as it is written: it takes the next place (`seq`) in its table's chain and a
link, `chain_hash` = HMAC-SHA256(key, link before ‖ the entry's content), with the key named by
`key_id` (from `AUDIT_KEYS`; without keys, a plain SHA-256, which shows accidental changes but
not deliberate ones). The content is every column but the row id and the link itself; for the
audit trail it holds a digest of the details rather than the details, so that details can be
redacted under retention and the chain still verify. Sealing happens under the lock of the
chain's end (`audit_chains`), in the writer's own transaction: entries are sealed in the
order they commit, and a rolled-back transaction leaves no gap.

`verify` walks each chain in order and reports the first broken link: an entry altered (its
link or its details no longer match, or its details redacted though its case was never deleted
under retention), deleted (a place missing), inserted (an entry with no
place, or a link that does not follow), or the chain cut short (its recorded end is beyond the
last entry); and checks the checkpoints kept outside the database.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import ColumnDefault, Table, event, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from models import AuditChain, AuditEvent, SharingRecord, utcnow

GENESIS = "0" * 64
CHAINED: dict[str, type[AuditEvent] | type[SharingRecord]] = {
    "audit_events": AuditEvent,
    "sharing_log": SharingRecord,
}
# What each link covers, fixed: a column added to these tables later is not in the chain
# unless a new version of it says so (the links already made must still verify).
CONTENT = {
    "audit_events": (
        "seq", "key_id", "at", "actor", "action", "case_id", "agency_id", "request_ref", "details_digest",
    ),
    "sharing_log": (
        "seq", "key_id", "at", "case_id", "disclosure", "update_id", "crisis_id", "from_agency_id",
        "shared_by", "to_agency_id", "to_user", "kind", "reason", "basis",
    ),
}  # fmt: skip
BATCH = 20_000
# What retention leaves of an audit entry's details (the only change the triggers allow), and the
# entry that says a case's content was deleted: only that case's entries may be redacted.
REDACTED: dict[str, Any] = {"redacted": True}
PURGED_ACTION = "case.purged"


@dataclass
class Keyring:
    keys: dict[str, bytes] = field(default_factory=dict)
    current: str = ""  # "" seals with a plain SHA-256 (no key configured)

    def link(self, key_id: str, before: str, content: bytes) -> str:
        message = before.encode() + b"\n" + content
        if not key_id:
            return hashlib.sha256(message).hexdigest()
        return hmac.digest(self.keys[key_id], message, "sha256").hex()


keyring = Keyring()
_configure_lock = threading.Lock()


def configure(keys: Mapping[str, str], current: str | None = None) -> None:
    """The keys entries are sealed and verified with; new entries take `current` (by default
    the last key listed)."""
    with _configure_lock:
        keyring.keys = {key_id: secret.encode() for key_id, secret in keys.items()}
        keyring.current = current if current is not None else (list(keys)[-1] if keys else "")


def digest(details: Any) -> str:
    return hashlib.sha256(_canonical(details)).hexdigest()


def content(chain: str, values: Mapping[Any, Any]) -> bytes:
    """What a link covers: the values of the entry's columns in `CONTENT`, in that order, as a
    JSON array (for the audit trail, the digest of its details rather than the details)."""
    return _compact([_plain(values[name]) for name in CONTENT[chain]])


# ---- sealing ------------------------------------------------------------------------------------
def hold_ends(session: Session) -> dict[str, AuditChain]:
    """The ends of both chains, locked to the end of the transaction (every end at once and in
    one order; `services.locks` takes them before any row it locks)."""
    with session.no_autoflush:
        return {
            end.name: end
            for end in session.scalars(
                select(AuditChain)
                .order_by(AuditChain.name)
                .with_for_update()
                .execution_options(populate_existing=True)
            )
        }


def seal(session: Session, entries: Iterable[AuditEvent | SharingRecord]) -> None:
    """Give new entries their places and links, under the lock of their chains' ends."""
    entries = list(entries)
    if not entries:
        return
    ends = hold_ends(session)
    for entry in entries:
        table = cast(Table, entry.__table__)
        end = ends.get(table.name)
        if end is None:
            raise RuntimeError(f"audit_chains has no end for {table.name}: the database was altered")
        if entry.at is None:
            entry.at = utcnow()
        if isinstance(entry, AuditEvent):
            if entry.details is None:
                entry.details = {}
            entry.details_digest = digest(entry.details)
        for column in table.columns:  # what the insert will store, before it does
            default = column.default
            if (
                getattr(entry, column.key) is None
                and isinstance(default, ColumnDefault)
                and default.is_scalar
            ):
                setattr(entry, column.key, default.arg)
        entry.seq = end.seq + 1
        entry.key_id = keyring.current
        values = {c.name: getattr(entry, c.key) for c in table.columns}
        entry.chain_hash = keyring.link(keyring.current, end.chain_hash, content(table.name, values))
        end.seq, end.chain_hash = entry.seq, entry.chain_hash


@event.listens_for(Session, "before_flush")
def _seal_new_entries(session: Session, _context: Any, _instances: Any) -> None:
    seal(session, [o for o in session.new if isinstance(o, AuditEvent | SharingRecord) and o.seq is None])


# ---- verifying ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Checkpoint:
    chain: str
    seq: int
    chain_hash: str
    at: str = ""


@dataclass
class ChainReport:
    chain: str
    entries: int = 0
    last_seq: int = 0
    last_hash: str = GENESIS
    broken: str | None = None  # the first broken link, in words

    @property
    def intact(self) -> bool:
        return self.broken is None


@dataclass
class Report:
    chains: list[ChainReport]
    checkpoints_checked: int = 0
    checkpoint_problem: str | None = None

    @property
    def intact(self) -> bool:
        return all(c.intact for c in self.chains) and self.checkpoint_problem is None

    def summary(self) -> str:
        lines = []
        for chain in self.chains:
            state = "intact" if chain.intact else f"BROKEN: {chain.broken}"
            lines.append(f"{chain.chain}: {chain.entries} entries, {state}")
        if self.checkpoint_problem:
            lines.append(f"checkpoints: {self.checkpoint_problem}")
        elif self.checkpoints_checked:
            lines.append(f"checkpoints: {self.checkpoints_checked} found in the chains")
        else:
            lines.append("checkpoints: none kept yet, so a chain rewritten whole would not show")
        return "\n".join(lines)

    def checkpoints(self) -> list[Checkpoint]:
        """Where each chain ends now, to keep outside the database."""
        at = utcnow().isoformat(timespec="seconds")
        return [Checkpoint(c.chain, c.last_seq, c.last_hash, at) for c in self.chains]


Ends = dict[str, tuple[int, str]]


def verify(connection: Connection, checkpoints: Iterable[Checkpoint] = ()) -> Report:
    """Both chains walked in this process up to the ends recorded when it began (what commits
    meanwhile is checked next time), and the checkpoints checked."""
    ends = _ends(connection)
    walked = {name: [_walk(connection, name, 1, ends.get(name, (0, ""))[0], final=True)] for name in CHAINED}
    return _finish(connection, ends, walked, checkpoints)


def verify_database(
    url: str, checkpoints: Iterable[Checkpoint] = (), *, processes: int = 1, parallel_from: int | None = None
) -> Report:
    """As `verify`, a long chain walked in `processes` parts side by side: each part starts
    from the link stored before it, so a broken link is found in whichever part holds it."""
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    from sqlalchemy import create_engine

    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            ends = _ends(connection)
            threshold = PARALLEL_FROM if parallel_from is None else parallel_from
            keys = {key_id: secret.decode() for key_id, secret in keyring.keys.items()}
            work: list[Part] = []
            for name in CHAINED:
                size = ends.get(name, (0, ""))[0]
                count = processes if processes > 1 and size >= threshold else 1
                step = -(-size // count) if size else 1
                firsts = list(range(1, max(size, 1) + 1, step))
                for number, first in enumerate(firsts):
                    final = number == len(firsts) - 1
                    last = size if final else first + step - 1
                    work.append(Part(url, keys, keyring.current, name, first, last, final))
            if len(work) == len(CHAINED):
                walked = [_walk(connection, p.name, p.first, p.last, final=True) for p in work]
            else:
                with ProcessPoolExecutor(min(processes, len(work)), mp_context=get_context("spawn")) as pool:
                    walked = list(pool.map(_walk_apart, work))
            segments: dict[str, list[Segment]] = {name: [] for name in CHAINED}
            for part, segment in zip(work, walked, strict=True):
                segments[part.name].append(segment)
            return _finish(connection, ends, segments, checkpoints)
    finally:
        engine.dispose()


PARALLEL_FROM = 200_000  # entries: below this a chain is walked in one part


@dataclass(frozen=True)
class Part:
    url: str
    keys: dict[str, str]
    current: str
    name: str
    first: int
    last: int
    final: bool


@dataclass
class Segment:
    entries: int = 0
    last_seq: int = 0
    last_hash: str = GENESIS
    broken: str | None = None


def _ends(connection: Connection) -> Ends:
    """Where each chain ends, read before walking it."""
    rows = connection.execute(select(AuditChain.name, AuditChain.seq, AuditChain.chain_hash))
    return {row.name: (row.seq, row.chain_hash) for row in rows}


def _purged_cases(connection: Connection) -> set[int]:
    """The cases deleted under retention: only their entries may have had their details redacted."""
    events = AuditEvent.__table__.c
    query = select(events.case_id).where(events.action == PURGED_ACTION, events.case_id.is_not(None))
    return set(connection.scalars(query))


def _walk_apart(part: Part) -> Segment:
    """A part of a chain walked in a process of its own (with the caller's keys)."""
    from sqlalchemy import create_engine

    configure(part.keys, part.current)
    engine = create_engine(part.url)
    try:
        with engine.connect() as connection:
            return _walk(connection, part.name, part.first, part.last, final=part.final)
    finally:
        engine.dispose()


def _walk(connection: Connection, name: str, first: int, last: int, *, final: bool) -> Segment:
    """Entries `first` to `last` checked link by link, from the link stored before `first`; the
    first broken one is named. A part but the last must reach `last` (the last part's end is
    checked against the recorded end)."""
    table = cast(Table, CHAINED[name].__table__)
    segment = Segment(last_seq=first - 1)
    before, key_before = GENESIS, ""
    if first > 1:
        row_before = connection.execute(
            select(table.c.chain_hash, table.c.key_id).where(table.c.seq == first - 1)
        ).one_or_none()
        if row_before is None:
            segment.broken = f"entry {first - 1} is missing: deleted"
        else:
            before, key_before = row_before.chain_hash, row_before.key_id or ""
    query = select(table).where(table.c.seq >= first, table.c.seq <= last).order_by(table.c.seq)
    purged = _purged_cases(connection) if name == "audit_events" else set()
    expected = first
    for row in connection.execution_options(yield_per=BATCH).execute(query).mappings():
        segment.entries += 1
        if segment.broken is not None:
            continue
        seq, key_id = row["seq"], row["key_id"] or ""
        where = f"entry {seq} (id {row['id']})"
        if seq != expected:
            missing = f"{expected}" if seq == expected + 1 else f"{expected} to {seq - 1}"
            segment.broken = f"entries {missing} are missing before {where}: deleted"
        elif name == "audit_events" and row["details"] == REDACTED and row["case_id"] not in purged:
            segment.broken = f"{where} was redacted, but its case was never deleted under retention"
        elif (
            name == "audit_events"
            and row["details"] != REDACTED
            and row["details_digest"] != digest(row["details"] or {})
        ):
            segment.broken = f"{where} was altered: its details changed"
        elif key_id and key_id not in keyring.keys:
            segment.broken = f"{where} was sealed with key {key_id!r}, not in AUDIT_KEYS"
        elif not key_id and key_before and keyring.keys:
            segment.broken = f"{where} is not keyed though the entry before it is: casehub did not seal it"
        elif keyring.link(key_id, before, content(name, row)) != row["chain_hash"]:
            segment.broken = f"{where} was altered, or inserted: its link does not follow"
        else:
            expected, before, key_before = seq + 1, row["chain_hash"], key_id
            segment.last_seq, segment.last_hash = seq, row["chain_hash"]
    if segment.broken is None and not final and segment.last_seq != last:
        gap = (
            f"{segment.last_seq + 1}" if segment.last_seq + 1 == last else f"{segment.last_seq + 1} to {last}"
        )
        segment.broken = f"entries {gap} are missing: deleted"
    return segment


def _finish(
    connection: Connection, ends: Ends, segments: dict[str, list[Segment]], checkpoints: Iterable[Checkpoint]
) -> Report:
    report = Report([_chain_report(connection, name, ends.get(name), segments[name]) for name in CHAINED])
    by_chain = {c.chain: c for c in report.chains}
    for checkpoint in checkpoints:
        chain = by_chain.get(checkpoint.chain)
        if chain is None:
            continue
        table = CHAINED[checkpoint.chain].__table__
        found = connection.execute(
            select(table.c.chain_hash).where(table.c.seq == checkpoint.seq)
        ).scalar_one_or_none()
        if found != checkpoint.chain_hash or checkpoint.seq > chain.last_seq:
            report.checkpoint_problem = (
                f"{checkpoint.chain} entry {checkpoint.seq}, checkpointed {checkpoint.at or 'earlier'}, "
                + ("is gone" if found is None else "has another link now")
                + ": the chain was cut or rewritten since"
            )
            break
        report.checkpoints_checked += 1
    return report


def _chain_report(
    connection: Connection, name: str, end: tuple[int, str] | None, segments: list[Segment]
) -> ChainReport:
    table = cast(Table, CHAINED[name].__table__)
    report = ChainReport(name, entries=sum(s.entries for s in segments))
    report.last_seq, report.last_hash = segments[-1].last_seq, segments[-1].last_hash
    outside = connection.execute(
        select(table.c.id)
        .where(table.c.seq.is_(None) | (table.c.seq < 1) | table.c.chain_hash.is_(None))
        .limit(1)
    ).scalar_one_or_none()
    if outside is not None:
        report.broken = f"entry id {outside} has no place in the chain: it was inserted outside casehub"
        return report
    report.broken = next((s.broken for s in segments if s.broken is not None), None)
    if report.broken is None:
        if end is None:
            report.broken = "its end is not recorded (audit_chains was altered)"
        elif end != (report.last_seq, report.last_hash):
            report.broken = (
                f"its recorded end is entry {end[0]} but the last entry is {report.last_seq}: "
                "entries were deleted from its end (or its end was altered)"
            )
    return report


# ---- canonical forms ----------------------------------------------------------------------------
def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds")
    return value


def _canonical(value: Any) -> bytes:
    """JSON with sorted keys and no spaces: one text for one value, on every database."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str).encode()


def _compact(values: list[Any]) -> bytes:
    return json.dumps(values, ensure_ascii=False, separators=(",", ":"), default=str).encode()
