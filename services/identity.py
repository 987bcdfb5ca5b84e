"""The person a case is about: their identity on the record desk, and repeat referrals.

The identity (names and aliases, date of birth, gender, address, school or employer, agencies'
own references, contacts) is entered and seen only on the record desk, stored encrypted, and
never sent to Slack: Slack knows the case by its reference alone.

A repeat referral is found on intake, and whenever asked, among the cases open and closed whose
record has not been deleted. The search never decrypts the table: the identity searched for is
made into blind-index digests (`services.identity_index`), which find the people who share any
of them; only the hundred or so found first are decrypted and scored (`services.identity_score`),
and the best few shown with the reasons they match. The coordinator links a candidate (the same
person) or dismisses it (not the same person: not proposed again); both are audited, without
any of the identity.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Connection, delete, func, insert, or_, select
from sqlalchemy.orm import Session

from models import Case, utcnow
from models.person import Decision, MatchDecision, Person, PersonKey
from models.referral import ReferralLink
from services import access, areas, audit, locks
from services import identity_index as index
from services.errors import Conflict, InvalidInput, NotAllowed
from services.identity_forms import Identity
from services.identity_score import SHOWN, Comparison, compare

__all__ = ["Candidate", "Identity", "candidates", "dismiss", "link", "save_identity"]

# How many of those the index finds are decrypted and scored: enough that a common name pair
# shared by many does not crowd the person out, few enough to decrypt in a few milliseconds.
POOL = 100
NAME_MAX, ALIASES_MAX, GENDER_MAX, ADDRESS_MAX, SCHOOL_MAX = 200, 20, 40, 500, 200
REFERENCES_MAX, REFERENCE_MAX, CONTACTS_MAX, CONTACT_MAX, REASON_MAX = 20, 64, 20, 200, 1000
EARLIEST_BIRTH = date(1900, 1, 1)


# ---- what is entered --------------------------------------------------------------------------
def _text(value: str | None, field: str, limit: int, label: str) -> str | None:
    kept = (value or "").strip()
    if len(kept) > limit:
        raise InvalidInput(f"The {label} is at most {limit} characters.", field=field)
    return kept or None


def _texts(values: Iterable[str], field: str, count: int, limit: int, label: str) -> tuple[str, ...]:
    kept = tuple(dict.fromkeys(v.strip() for v in values if v and v.strip()))
    if len(kept) > count:
        raise InvalidInput(f"At most {count} {label}s.", field=field)
    for value in kept:
        if len(value) > limit:
            raise InvalidInput(f"Each {label} is at most {limit} characters.", field=field)
    return kept


def check(identity: Identity, *, today: date | None = None) -> Identity:
    """The identity as it will be stored (spaces trimmed, empty entries and repeats dropped), or
    `InvalidInput` on the field at fault."""
    today = today or utcnow().date()
    born = identity.date_of_birth
    if born is not None and not EARLIEST_BIRTH <= born <= today:
        raise InvalidInput("The date of birth must be a date in the past (from 1900).", field="date_of_birth")
    return Identity(
        given_names=_text(identity.given_names, "given_names", NAME_MAX, "given names") or "",
        family_names=_text(identity.family_names, "family_names", NAME_MAX, "family names") or "",
        aliases=_texts(identity.aliases, "aliases", ALIASES_MAX, NAME_MAX, "alias"),
        date_of_birth=born,
        gender=_text(identity.gender, "gender", GENDER_MAX, "gender"),
        address=_text(identity.address, "address", ADDRESS_MAX, "address"),
        school_or_employer=_text(
            identity.school_or_employer, "school_or_employer", SCHOOL_MAX, "school or employer"
        ),
        agency_references=_texts(
            identity.agency_references, "agency_references", REFERENCES_MAX, REFERENCE_MAX, "agency reference"
        ),
        contacts=_texts(identity.contacts, "contacts", CONTACTS_MAX, CONTACT_MAX, "contact"),
    )


def _listed(values: tuple[str, ...]) -> list[str] | None:
    """A list as its JSON column holds it: None for an empty one."""
    return list(values) if values else None


def values_of(identity: Identity) -> dict[str, Any]:
    """The columns of `persons` that hold an identity (encrypted by their types as stored)."""
    return {
        "given_names": identity.given_names,
        "family_names": identity.family_names,
        "aliases": _listed(identity.aliases),
        "date_of_birth": identity.date_of_birth.isoformat() if identity.date_of_birth else None,
        "gender": identity.gender,
        "address": identity.address,
        "school_or_employer": identity.school_or_employer,
        "agency_references": _listed(identity.agency_references),
        "contacts": _listed(identity.contacts),
    }


def identity_in(person: Person) -> Identity:
    """The identity a stored person holds."""
    return Identity(
        given_names=person.given_names or "",
        family_names=person.family_names or "",
        aliases=tuple(person.aliases or ()),
        date_of_birth=date.fromisoformat(person.date_of_birth) if person.date_of_birth else None,
        gender=person.gender,
        address=person.address,
        school_or_employer=person.school_or_employer,
        agency_references=tuple(person.agency_references or ()),
        contacts=tuple(person.contacts or ()),
    )


def key_rows(person_id: int, identity: Identity) -> list[dict[str, Any]]:
    """The rows of `person_keys` for a person: one per digest (the same code makes them for a
    person saved from the desk and for the benchmarks' bulk loads)."""
    return [{"person_id": person_id, "digest": d} for d in sorted(index.stored_digests(identity))]


def _write_keys(session: Session, person_id: int, identity: Identity) -> None:
    session.execute(delete(PersonKey).where(PersonKey.person_id == person_id))
    rows = key_rows(person_id, identity)
    if rows:
        session.execute(insert(PersonKey), rows)


# ---- who may ----------------------------------------------------------------------------------
def require_may_record(session: Session, user: str) -> None:
    """Coordinators record identities and decide on repeat referrals, as they open cases."""
    if not areas.is_coordinator(session, user):
        raise NotAllowed(
            "Only coordinators may record the person's identity or decide on repeat referrals.",
            hint="Ask a coordinator of the safeguarding hub.",
        )


def _require_kept(case: Case) -> None:
    if case.is_purged:
        raise Conflict(
            f"Case {case.reference}'s record was deleted under the retention schedule: "
            "nothing can be recorded against it."
        )


# ---- the identity of a case --------------------------------------------------------------------
def save_identity(session: Session, case: Case, identity: Identity, actor: str, request_ref: str) -> Person:
    """Record or correct the identity of the person `case` is about, and index it. Audited with
    the names of the fields changed, never their content; saving it unchanged records nothing."""
    require_may_record(session, actor)
    identity = check(identity)
    locks.hold(session, case)
    _require_kept(case)
    person = session.scalar(select(Person).where(Person.case_id == case.id))
    marker = index.marker()
    if person is None:
        changed = [name for name in Identity.FIELDS if getattr(identity, name)]
        person = Person(case_id=case.id, created_by=actor, updated_by=actor, indexed_under=marker)
        session.add(person)
        action = "identity.recorded"
    else:
        before = identity_in(person)
        changed = [name for name in Identity.FIELDS if getattr(before, name) != getattr(identity, name)]
        if not changed and person.indexed_under == marker:
            return person
        person.updated_by, person.updated_at = actor, utcnow()
        action = "identity.changed"
    for name, value in values_of(identity).items():
        setattr(person, name, value)
    person.indexed_under = marker
    session.flush()
    _write_keys(session, person.id, identity)
    if changed:
        audit.record(session, actor=actor, action=action, request_ref=request_ref, case=case, fields=changed)
    return person


def identity_of(session: Session, case: Case) -> Identity | None:
    """The identity recorded for a case (decrypted), or None."""
    person = session.scalar(select(Person).where(Person.case_id == case.id))
    return identity_in(person) if person is not None else None


def show_identity(session: Session, case: Case, *, user: str, request_ref: str) -> Identity | None:
    """The identity of a case for the record desk, the view recorded in the access log first."""
    access.viewed(session, user=user, case_ids=[case.id], view="identity", request_ref=request_ref)
    return identity_of(session, case)


# ---- repeat referrals -------------------------------------------------------------------------
@dataclass(frozen=True)
class Candidate:
    """A case whose person may be the one searched for."""

    case_id: int
    reference: str
    closed: bool
    score: int  # 0-100: an ordering and a guide, not a probability
    likely: bool  # the score is high enough to say "probably the same person"
    reasons: tuple[str, ...]
    identity: Identity


@dataclass(frozen=True)
class Found:
    weights: dict[int, int]  # person id: the weight of what they share with the search
    sharing: int  # how many people share the commonest pair of names of the search


def _found(session: Session, wanted: dict[bytes, str]) -> Found:
    """Each person sharing a digest with the search, with the weight of what they share: each
    kind counted at most twice, so that many codes of one name do not outweigh a date. And how
    common the name searched for is: the most people any one pair of its names is shared by."""
    shared: dict[int, Counter[str]] = defaultdict(Counter)
    by_pair: Counter[bytes] = Counter()
    query = select(PersonKey.person_id, PersonKey.digest).where(PersonKey.digest.in_(list(wanted)))
    for person_id, stored in session.execute(query):
        kind = wanted[bytes(stored)]
        shared[person_id][kind] += 1
        if kind == index.PAIR:
            by_pair[bytes(stored)] += 1
    weights = {
        person_id: sum(index.WEIGHTS[kind] * min(count, 2) for kind, count in kinds.items())
        for person_id, kinds in shared.items()
    }
    return Found(weights, max(by_pair.values(), default=1))


def _decided_with(session: Session, case: Case) -> set[int]:
    rows = session.execute(
        select(MatchDecision.case_id, MatchDecision.other_case_id).where(
            or_(MatchDecision.case_id == case.id, MatchDecision.other_case_id == case.id)
        )
    )
    return {other for pair in rows for other in pair if other != case.id}


@dataclass(frozen=True)
class Scored:
    """A person on file, of a case or a referral, scored against the identity searched for."""

    person: Person
    comparison: Comparison
    identity: Identity


def scored_people(session: Session, identity: Identity) -> list[Scored]:
    """Everyone on file whose identity may be the one described (a case's person or a
    referral's), each scored, those at `SHOWN` and above; in no particular order. Only the
    `POOL` found first through the blind index are decrypted."""
    identity = check(identity)
    wanted = index.search_digests(identity)
    if not wanted:
        return []
    found_by_index = _found(session, wanted)
    weights = found_by_index.weights
    pool = sorted(weights, key=lambda person_id: (-weights[person_id], -person_id))[:POOL]
    if not pool:
        return []
    found = []
    for person in session.scalars(select(Person).where(Person.id.in_(pool))):
        theirs = identity_in(person)
        comparison = compare(identity, theirs, sharing=found_by_index.sharing)
        if comparison.score >= SHOWN:
            found.append(Scored(person, comparison, theirs))
    return found


def candidates(
    session: Session, identity: Identity, limit: int = 5, exclude_case: Case | None = None
) -> list[Candidate]:
    """The cases, open or closed and not deleted, whose person may be the one described, best
    first, each with its score and the reasons it matches; at most `limit`. With `exclude_case`
    (the case the identity belongs to), that case and those already linked to it or dismissed
    for it are left out. A referral's person that has not become a case (no `case_id`) is not a
    case: `services.referral_matching` proposes those."""
    scored = [s for s in scored_people(session, identity) if s.person.case_id is not None]
    if not scored:
        return []
    # One lookup by primary key, whatever the planner makes of the tables' statistics.
    cases = {
        case_id: (reference, closed_at)
        for case_id, reference, closed_at in session.execute(
            select(Case.id, Case.reference, Case.closed_at).where(
                Case.id.in_([s.person.case_id for s in scored]), Case.purged_at.is_(None)
            )
        )
    }
    left_out = _decided_with(session, exclude_case) if exclude_case is not None else set()
    if exclude_case is not None:
        left_out.add(exclude_case.id)
    found = []
    for one in scored:
        case_id = one.person.case_id
        if case_id is None or case_id in left_out or case_id not in cases:
            continue
        reference, closed_at = cases[case_id]
        found.append(_candidate(case_id, reference, closed_at is not None, one.comparison, one.identity))
    found.sort(key=lambda c: (-c.score, -c.case_id))
    return found[:limit]


def _candidate(
    case_id: int, reference: str, closed: bool, comparison: Comparison, theirs: Identity
) -> Candidate:
    return Candidate(
        case_id, reference, closed, comparison.score, comparison.likely, comparison.reasons, theirs
    )


def candidates_for(session: Session, case: Case, limit: int = 5) -> list[Candidate]:
    """Repeat referrals of the person a case is about, on demand; none if no identity is recorded."""
    identity = identity_of(session, case)
    return [] if identity is None else candidates(session, identity, limit, exclude_case=case)


def shown_candidates(session: Session, *, user: str, found: Sequence[Candidate], request_ref: str) -> None:
    """Record in the access log that `user` was shown these candidates' identities: each is a
    view of that case's record."""
    access.viewed(
        session, user=user, case_ids=[c.case_id for c in found], view="candidate", request_ref=request_ref
    )


# ---- decisions --------------------------------------------------------------------------------
def link(
    session: Session,
    case: Case,
    other: Case,
    *,
    actor: str,
    request_ref: str,
    reason: str | None = None,
    score: int | None = None,
) -> MatchDecision:
    """The two cases are about the same person: a repeat referral, recorded for both."""
    return _decide(session, case, other, Decision.LINKED, actor, request_ref, reason, score)


def dismiss(
    session: Session,
    case: Case,
    other: Case,
    *,
    actor: str,
    request_ref: str,
    reason: str | None = None,
    score: int | None = None,
) -> MatchDecision:
    """The two cases are not about the same person: the pair is not proposed again."""
    return _decide(session, case, other, Decision.DISMISSED, actor, request_ref, reason, score)


def _decide(
    session: Session,
    case: Case,
    other: Case,
    decision: Decision,
    actor: str,
    request_ref: str,
    reason: str | None,
    score: int | None,
) -> MatchDecision:
    require_may_record(session, actor)
    if case.id == other.id:
        raise InvalidInput("A case cannot be linked to, or dismissed for, itself.")
    why = _text(reason, "reason", REASON_MAX, "reason")
    locks.hold(session, case, other)
    _require_kept(case)
    _require_kept(other)
    low, high = sorted((case.id, other.id))
    row = session.scalar(
        select(MatchDecision).where(MatchDecision.case_id == low, MatchDecision.other_case_id == high)
    )
    if row is not None and row.decided_via == request_ref:
        return row  # the same request, delivered again
    if row is None:
        row = MatchDecision(case_id=low, other_case_id=high)
        session.add(row)
    row.decision, row.reason, row.score = decision, why, score
    row.decided_by, row.decided_at, row.decided_via = actor, utcnow(), request_ref
    session.flush()
    for this, that in ((case, other), (other, case)):
        audit.record(
            session,
            actor=actor,
            action=f"identity.{decision.value}",
            request_ref=request_ref,
            case=this,
            other=that.reference,
            score=score,
            reason_given=why is not None,
        )
    return row


def decisions(session: Session, case: Case) -> list[MatchDecision]:
    """The decisions on pairs this case is in, newest first."""
    return list(
        session.scalars(
            select(MatchDecision)
            .where(or_(MatchDecision.case_id == case.id, MatchDecision.other_case_id == case.id))
            .order_by(MatchDecision.decided_at.desc(), MatchDecision.id.desc())
        )
    )


def linked_cases(session: Session, case: Case) -> list[Case]:
    """The cases linked to this one as about the same person."""
    ids = [d.other(case.id) for d in decisions(session, case) if d.decision is Decision.LINKED]
    if not ids:
        return []
    return list(session.scalars(select(Case).where(Case.id.in_(ids)).order_by(Case.id)))


# ---- retention --------------------------------------------------------------------------------
def delete_for_case(session: Session, case: Case) -> dict[str, int]:
    """The identity of a case whose record is deleted, its blind-index digests and the decisions
    about it (with other cases, and with referrals); counts of each, for the audit entry."""
    people = select(Person.id).where(Person.case_id == case.id)
    pairs = or_(MatchDecision.case_id == case.id, MatchDecision.other_case_id == case.id)
    counts = {
        "identity": session.scalar(select(func.count()).select_from(people.subquery())) or 0,
        "match decisions": session.scalar(select(func.count(MatchDecision.id)).where(pairs)) or 0,
    }
    with_referrals = session.scalar(
        select(func.count(ReferralLink.id)).where(ReferralLink.case_id == case.id)
    )
    if with_referrals:
        counts["referral links"] = with_referrals
    session.execute(delete(PersonKey).where(PersonKey.person_id.in_(people)))
    session.execute(delete(Person).where(Person.case_id == case.id))
    session.execute(delete(MatchDecision).where(pairs))
    session.execute(delete(ReferralLink).where(ReferralLink.case_id == case.id))
    return counts


def delete_for_referral(session: Session, referral_id: int) -> dict[str, int]:
    """The identity of a referral that never became a case, when its record is deleted: the
    person, their digests and every link decided with it; counts, for the audit entry."""
    people = select(Person.id).where(Person.referral_id == referral_id, Person.case_id.is_(None))
    links = or_(ReferralLink.referral_id == referral_id, ReferralLink.other_referral_id == referral_id)
    counts = {
        "identity": session.scalar(select(func.count()).select_from(people.subquery())) or 0,
        "referral links": session.scalar(select(func.count(ReferralLink.id)).where(links)) or 0,
    }
    session.execute(delete(PersonKey).where(PersonKey.person_id.in_(people)))
    session.execute(delete(Person).where(Person.referral_id == referral_id, Person.case_id.is_(None)))
    session.execute(delete(ReferralLink).where(links))
    return counts


# ---- the index as a whole ---------------------------------------------------------------------
def stale_markers(connection: Connection) -> list[str]:
    """The key and version markers, other than the current one, that people are indexed under."""
    current = index.marker()
    query = select(Person.indexed_under).where(Person.indexed_under != current).distinct().limit(5)
    return sorted(connection.scalars(query))


def reindex(
    begin: Callable[[], AbstractContextManager[Session]],
    *,
    batch: int = 500,
    after_batch: Callable[[int], None] | None = None,
) -> int:
    """Make again the digests of every person not indexed under the current key and version,
    `batch` people per transaction, each committed: stopped part-way, it resumes where it
    stopped. Returns how many people were indexed again."""
    current = index.marker()
    done, last = 0, 0
    while True:
        with begin() as session:
            people = session.scalars(
                select(Person)
                .where(Person.id > last, Person.indexed_under != current)
                .order_by(Person.id)
                .limit(batch)
            ).all()
            if not people:
                return done
            for person in people:
                _write_keys(session, person.id, identity_in(person))
                person.indexed_under = current
            last = people[-1].id
        done += len(people)
        if after_batch is not None:
            after_batch(len(people))
