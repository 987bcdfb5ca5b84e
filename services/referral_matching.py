"""Repeat referrals among referrals: the person a referral is about, and the earlier cases and
referrals that may be about them too.

A referral's person is a `Person` like a case's, with `referral_id` set and no `case_id`: the
same fields, checks, encryption and blind index (`services.identity`). When the referral is
accepted its person becomes the new case's (`case_id` set as well); from then on it is the
case's identity, corrected on the case's page, and proposed to others as that case.

Who may do what, checked at every call from the referral's area:
- a coordinator of the referral's area reads the referral, records or corrects its person, sees
  the candidates and decides on them;
- the referrer records the person of their own referral while it is open (they know whom they
  referred), and sees nothing else: no candidate, no other record.

A referral's candidates are the cases on file (open, or closed and kept) and the referrals
received before it that did not become a case, less the pairs already decided. A decision is a
`ReferralLink`: linked (the same person) or dismissed (not the same person: not proposed
again), one per pair, a later one replacing it. Every decision and every view of a referral's
identity is audited, without any of the identity; a view of a case's identity goes into that
case's access log, as on the case's own page.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, insert, or_, select
from sqlalchemy.orm import Session

from models import Case, LinkDecision, Referral, ReferralLink, ReferralState, utcnow
from models.person import Person, PersonKey
from services import access, areas, audit, chain, identity, referrals
from services.errors import Conflict, InvalidInput, NotAllowed
from services.identity import Identity
from services.identity_score import Comparison

__all__ = [
    "Candidate",
    "Decided",
    "Listed",
    "candidates",
    "decide",
    "links",
    "possible_matches",
    "save_identity",
    "show_identity",
]

REASON_MAX = identity.REASON_MAX
CASE, REFERRAL = "case", "referral"


# ---- finding a referral and who may touch it ---------------------------------------------------
def find(session: Session, reference: str) -> Referral | None:
    """The referral with this reference, as typed (R-ABC123, abc123), or None."""
    wanted = referrals.normalise_reference(reference)
    return session.scalar(select(Referral).where(Referral.reference == wanted))


@dataclass(frozen=True)
class Standing:
    """What a person may do with one referral."""

    coordinator: bool  # of the referral's area: everything
    referrer: bool  # made it, and it is open: record the person, nothing more


def standing(session: Session, referral: Referral, user: str) -> Standing:
    """Whether `user` coordinates the referral's area, or made it and it is still open;
    `NotAllowed` for anyone else."""
    coordinator = areas.is_coordinator(session, user, referral.area_id)
    referrer = referral.referrer == user and referral.state.is_open
    if not coordinator and not referrer:
        raise NotAllowed(
            f"Referral {referral.label} is for the coordinators of its area, and for its referrer "
            "while it is open.",
            hint="Ask a coordinator of the area's safeguarding hub.",
        )
    return Standing(coordinator, referrer)


def require_coordinator(session: Session, referral: Referral, user: str) -> None:
    if not areas.is_coordinator(session, user, referral.area_id):
        raise NotAllowed(
            f"Only the coordinators of referral {referral.label}'s area see its matches or decide on them.",
            hint="Ask a coordinator of the area's safeguarding hub.",
        )


def has_open_referral(session: Session, user: str) -> bool:
    """Whether `user` made a referral still open: the desk lets them in for it."""
    query = select(Referral.id).where(
        Referral.referrer == user,
        Referral.state.in_([ReferralState.RECEIVED, ReferralState.ACKNOWLEDGED]),
    )
    return session.scalar(query.limit(1)) is not None


def _hold(session: Session, *referrals: Referral) -> None:
    """Lock the referrals' rows to the end of the transaction, in the order of their ids, after
    the audit chains' ends (the order `services.locks` keeps); what was read is read again."""
    chain.hold_ends(session)
    session.flush()
    ids = sorted({r.id for r in referrals})
    session.execute(
        select(Referral.id).where(Referral.id.in_(ids)).order_by(Referral.id).with_for_update(key_share=True)
    )
    session.expire_all()


# ---- the person of a referral --------------------------------------------------------------------
def person_of(session: Session, referral: Referral) -> Person | None:
    return session.scalar(select(Person).where(Person.referral_id == referral.id))


def case_of(session: Session, referral: Referral) -> Case | None:
    """The case the referral became (accepted), by the referral or by its person."""
    if referral.case_id is not None:
        return session.get(Case, referral.case_id)
    moved = session.scalar(
        select(Person.case_id).where(Person.referral_id == referral.id, Person.case_id.is_not(None))
    )
    return session.get(Case, moved) if moved is not None else None


def identity_of(session: Session, referral: Referral) -> Identity | None:
    person = person_of(session, referral)
    if person is None and referral.case_id is not None:
        person = session.scalar(select(Person).where(Person.case_id == referral.case_id))
    return identity.identity_in(person) if person is not None else None


def save_identity(
    session: Session, referral: Referral, entered: Identity, actor: str, request_ref: str
) -> Person:
    """Record or correct the person of a referral, and index it. A coordinator of its area, or
    its referrer while it is open. Audited with the names of the fields changed, never their
    content; saving it unchanged records nothing. Once the referral is a case, its person is
    the case's, corrected on the case's page."""
    standing(session, referral, actor)
    entered = identity.check(entered)
    _hold(session, referral)
    now = standing(session, referral, actor)  # the referral as it is once locked
    became = case_of(session, referral)
    if became is not None:
        raise Conflict(
            f"Referral {referral.label} became case {became.reference}: its person is the case's, "
            "recorded on the case's page by its lead."
        )
    person = person_of(session, referral)
    marker = identity.index.marker()
    if person is None:
        changed = [name for name in Identity.FIELDS if getattr(entered, name)]
        person = Person(referral_id=referral.id, created_by=actor, updated_by=actor, indexed_under=marker)
        session.add(person)
        action = "referral.identity.recorded"
    else:
        before = identity.identity_in(person)
        changed = [name for name in Identity.FIELDS if getattr(before, name) != getattr(entered, name)]
        if not changed and person.indexed_under == marker:
            return person
        person.updated_by, person.updated_at = actor, utcnow()
        action = "referral.identity.changed"
    for name, value in identity.values_of(entered).items():
        setattr(person, name, value)
    person.indexed_under = marker
    session.flush()
    session.execute(delete(PersonKey).where(PersonKey.person_id == person.id))
    rows = identity.key_rows(person.id, entered)
    if rows:
        session.execute(insert(PersonKey), rows)
    if changed:
        audit.record(
            session,
            actor=actor,
            action=action,
            request_ref=request_ref,
            referral=referral.label,
            fields=changed,
            by="coordinator" if now.coordinator else "referrer",
        )
    return person


def show_identity(session: Session, referral: Referral, *, user: str, request_ref: str) -> Identity | None:
    """The person of a referral, for someone who may see it, the view recorded first: in the
    case's access log once it is a case, in the audit trail (`referral.identity.viewed`) before."""
    standing(session, referral, user)
    _viewed(session, [referral], user=user, request_ref=request_ref, view="identity")
    return identity_of(session, referral)


def _viewed(
    session: Session, referrals: Sequence[Referral], *, user: str, request_ref: str, view: str, of: str = ""
) -> None:
    for one in referrals:
        became = case_of(session, one)
        if became is not None:
            access.viewed(session, user=user, case_ids=[became.id], view=view, request_ref=request_ref)
            continue
        details: dict[str, Any] = {"referral": one.label, "view": view} | ({"shown_with": of} if of else {})
        audit.record(
            session, actor=user, action="referral.identity.viewed", request_ref=request_ref, **details
        )


# ---- candidates ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Candidate:
    """An earlier case or referral whose person may be the one a referral is about."""

    kind: str  # CASE or REFERRAL
    id: int  # the case's or the referral's
    reference: str  # as shown: K7Q2M9, or R-ABC123
    since: datetime  # opened, or received
    state: str  # open or closed for a case; the referral's state
    score: int
    likely: bool
    reasons: tuple[str, ...]
    identity: Identity

    @property
    def label(self) -> str:
        return f"Case {self.reference}" if self.kind == CASE else f"Referral {self.reference}"


def _decided_pairs(session: Session, referral: Referral) -> tuple[set[int], set[int]]:
    """The cases and the referrals already decided on with this referral."""
    rows = session.execute(
        select(ReferralLink.referral_id, ReferralLink.case_id, ReferralLink.other_referral_id).where(
            or_(ReferralLink.referral_id == referral.id, ReferralLink.other_referral_id == referral.id)
        )
    )
    cases, referrals = set(), set()
    for one, case_id, other in rows:
        if case_id is not None:
            cases.add(case_id)
        elif other is not None:
            referrals.add(other if one == referral.id else one)
    return cases, referrals


def _earlier(one: Referral, other: Referral) -> bool:
    return (other.received_at, other.id) < (one.received_at, one.id)


def _found(session: Session, referral: Referral, wanted: Identity) -> list[Candidate]:
    scored = identity.scored_people(session, wanted)
    own = session.scalar(select(Person.id).where(Person.referral_id == referral.id))
    became = case_of(session, referral)
    decided_cases, decided_referrals = _decided_pairs(session, referral)
    case_ids = {s.person.case_id for s in scored if s.person.case_id is not None}
    referral_ids = {s.person.referral_id for s in scored if s.person.case_id is None and s.person.referral_id}
    cases = {
        c.id: c for c in session.scalars(select(Case).where(Case.id.in_(case_ids), Case.purged_at.is_(None)))
    }
    referrals = {r.id: r for r in session.scalars(select(Referral).where(Referral.id.in_(referral_ids)))}
    found = []
    for one in scored:
        person = one.person
        if person.id == own:
            continue
        if person.case_id is not None:  # a case's person, or a referral's that became a case
            case = cases.get(person.case_id)
            if case is None or case.id in decided_cases or (became is not None and case.id == became.id):
                continue
            state = "closed" if case.closed_at is not None else "open"
            found.append(
                _candidate(CASE, case.id, case.reference, case.opened_at, state, one.comparison, one)
            )
        elif person.referral_id is not None:
            other = referrals.get(person.referral_id)
            if other is None or other.id in decided_referrals or not _earlier(referral, other):
                continue
            found.append(
                _candidate(
                    REFERRAL, other.id, other.label, other.received_at, other.state.value, one.comparison, one
                )
            )
    found.sort(key=lambda c: (-c.score, c.kind, -c.id))
    return found


def _candidate(
    kind: str,
    id_: int,
    reference: str,
    since: datetime,
    state: str,
    comparison: Comparison,
    one: identity.Scored,
) -> Candidate:
    return Candidate(
        kind,
        id_,
        reference,
        since,
        state,
        comparison.score,
        comparison.likely,
        comparison.reasons,
        one.identity,
    )


def candidates(
    session: Session, referral: Referral, *, user: str, request_ref: str, limit: int = 5
) -> list[Candidate]:
    """The earlier cases and referrals whose person may be the one this referral is about, best
    first, at most `limit`, the pairs already decided left out; for a coordinator of its area.
    Each shown is recorded as a view of that case (access log) or referral (audit trail)."""
    require_coordinator(session, referral, user)
    wanted = identity_of(session, referral)
    if wanted is None:
        return []
    found = _found(session, referral, wanted)[:limit]
    shown_cases = [c.id for c in found if c.kind == CASE]
    access.viewed(session, user=user, case_ids=shown_cases, view="candidate", request_ref=request_ref)
    shown_referrals = [r for r in session.scalars(select(Referral).where(Referral.id.in_(
        [c.id for c in found if c.kind == REFERRAL]
    )))]  # fmt: skip
    _viewed(session, shown_referrals, user=user, request_ref=request_ref, view="candidate", of=referral.label)
    return found


def possible_matches(session: Session, referral: Referral) -> int:
    """How many earlier cases and referrals may be about the same person and are not decided yet:
    a count, for Slack or a list, that shows nobody's identity (none is recorded as seen)."""
    wanted = identity_of(session, referral)
    return 0 if wanted is None else len(_found(session, referral, wanted))


def decidable(session: Session, referral: Referral) -> dict[tuple[str, int], int | None]:
    """What a coordinator may decide on for this referral, with casehub's own score: the
    candidates proposed now, and the pairs decided before (to change their decision). A
    reference typed into a form links nothing else. Nothing is shown, so no view is recorded."""
    wanted = identity_of(session, referral)
    found = _found(session, referral, wanted) if wanted is not None else []
    allowed: dict[tuple[str, int], int | None] = {(c.kind, c.id): c.score for c in found}
    rows = session.execute(
        select(
            ReferralLink.referral_id, ReferralLink.case_id, ReferralLink.other_referral_id, ReferralLink.score
        ).where(or_(ReferralLink.referral_id == referral.id, ReferralLink.other_referral_id == referral.id))
    )
    for one, case_id, other, score in rows:
        if case_id is not None:
            allowed.setdefault((CASE, case_id), score)
        elif other is not None:
            allowed.setdefault((REFERRAL, other if one == referral.id else one), score)
    return allowed


# ---- decisions -----------------------------------------------------------------------------------
def decide(
    session: Session,
    referral: Referral,
    decision: LinkDecision,
    *,
    actor: str,
    request_ref: str,
    case: Case | None = None,
    other: Referral | None = None,
    reason: str | None = None,
    score: int | None = None,
) -> ReferralLink:
    """The referral is (linked) or is not (dismissed) about the same person as `case` or as the
    `other` referral; a later decision on the pair replaces this one. A coordinator of the
    referral's area. Audited on the referral and, for a case, on the case too, with references,
    the score and whether a reason was given: nothing of the identity."""
    require_coordinator(session, referral, actor)
    if (case is None) == (other is None):
        raise InvalidInput("Decide on one case or one referral.")
    why = (reason or "").strip() or None
    if why is not None and len(why) > REASON_MAX:
        raise InvalidInput(f"The reason is at most {REASON_MAX} characters.", field="reason")
    if other is not None and other.id == referral.id:
        raise InvalidInput("A referral cannot be linked to, or dismissed for, itself.")
    _hold(session, referral, *([other] if other is not None else []))
    require_coordinator(session, referral, actor)
    if case is not None:
        if case.is_purged:
            raise Conflict(f"Case {case.reference}'s record was deleted under the retention schedule.")
        became = case_of(session, referral)
        if became is not None and became.id == case.id:
            raise InvalidInput(f"Referral {referral.label} became case {case.reference}: they are one.")
        # (referral, case), whichever is the earlier: one row per pair.
        where = and_(ReferralLink.referral_id == referral.id, ReferralLink.case_id == case.id)
        values = {"referral_id": referral.id, "case_id": case.id, "other_referral_id": None}
        other_label = f"case {case.reference}"
    else:
        assert other is not None
        later, earlier = (referral, other) if _earlier(referral, other) else (other, referral)
        where = and_(ReferralLink.referral_id == later.id, ReferralLink.other_referral_id == earlier.id)
        values = {"referral_id": later.id, "case_id": None, "other_referral_id": earlier.id}
        other_label = other.label
    row = session.scalar(select(ReferralLink).where(where))
    if row is not None and row.decided_via == request_ref:
        return row  # the same request, delivered again
    if row is None:
        row = ReferralLink(**values)
        session.add(row)
    row.decision, row.reason, row.score = decision, why, score
    row.decided_by, row.decided_at, row.decided_via = actor, utcnow(), request_ref
    session.flush()
    said: dict[str, Any] = {"score": score, "reason_given": why is not None}
    action = f"referral.{decision.value}"
    audit.record(
        session,
        actor=actor,
        action=action,
        request_ref=request_ref,
        case=case_of(session, referral),
        referral=referral.label,
        other=other_label,
        **said,
    )
    if case is not None:
        audit.record(session, actor=actor, action=action, request_ref=request_ref, case=case,
                     referral=referral.label, **said)  # fmt: skip
    elif other is not None:
        audit.record(session, actor=actor, action=action, request_ref=request_ref,
                     case=case_of(session, other), referral=other.label, other=referral.label,
                     **said)  # fmt: skip
    return row


@dataclass(frozen=True)
class Decided:
    other: str  # "Case K7Q2M9" or "Referral R-ABC123"
    decision: LinkDecision
    reason: str | None
    score: int | None
    decided_by: str
    decided_at: datetime


def links(session: Session, referral: Referral) -> list[Decided]:
    """The decisions on pairs this referral is in, newest first."""
    rows = session.scalars(
        select(ReferralLink)
        .where(or_(ReferralLink.referral_id == referral.id, ReferralLink.other_referral_id == referral.id))
        .order_by(ReferralLink.decided_at.desc(), ReferralLink.id.desc())
    ).all()
    wanted_cases = [r.case_id for r in rows if r.case_id]
    case_refs = {
        case_id: ref
        for case_id, ref in session.execute(select(Case.id, Case.reference).where(Case.id.in_(wanted_cases)))
    }
    others = {
        r.other_referral_id if r.referral_id == referral.id else r.referral_id for r in rows if not r.case_id
    }
    referral_refs = {r.id: r.label for r in session.scalars(select(Referral).where(Referral.id.in_(others)))}
    decided = []
    for row in rows:
        if row.case_id is not None:
            other = f"Case {case_refs.get(row.case_id, '?')}"
        else:
            other_id = row.other_referral_id if row.referral_id == referral.id else row.referral_id
            other = f"Referral {referral_refs.get(other_id or 0, '?')}"
        decided.append(Decided(other, row.decision, row.reason, row.score, row.decided_by, row.decided_at))
    return decided


# ---- the other way round: a case's page ----------------------------------------------------------
def referrals_for_case(
    session: Session, case: Case, *, user: str, request_ref: str, limit: int = 5
) -> list[Candidate]:
    """The referrals that never became a case whose person may be the one `case` is about, the
    pairs decided left out; each shown recorded in the audit trail. For the case's lead, on the
    case's page: only the referrals of the areas they coordinate (a referral is its area's), and
    deciding is done on the referral's page."""
    wanted = identity.identity_of(session, case)
    if wanted is None:
        return []
    decided = set(session.scalars(select(ReferralLink.referral_id).where(ReferralLink.case_id == case.id)))
    scored = [
        s
        for s in identity.scored_people(session, wanted)
        if s.person.case_id is None and s.person.referral_id not in (None, *decided)
    ]
    coordinated = [a.id for a in areas.coordinated_by(session, user)]
    referrals = {
        r.id: r
        for r in session.scalars(
            select(Referral).where(
                Referral.id.in_([s.person.referral_id for s in scored]), Referral.area_id.in_(coordinated)
            )
        )
    }
    found = [
        _candidate(REFERRAL, r.id, r.label, r.received_at, r.state.value, s.comparison, s)
        for s in scored
        if (r := referrals.get(s.person.referral_id or 0)) is not None
    ]
    found.sort(key=lambda c: (-c.score, -c.id))
    found = found[:limit]
    _viewed(session, [referrals[c.id] for c in found], user=user, request_ref=request_ref, view="candidate",
            of=f"case {case.reference}")  # fmt: skip
    return found


def referral_links_of_case(session: Session, case: Case) -> list[tuple[str, LinkDecision, datetime, str]]:
    """The referrals decided on with a case: the referral's reference, the decision, when, by whom."""
    rows = session.execute(
        select(Referral.reference, ReferralLink.decision, ReferralLink.decided_at, ReferralLink.decided_by)
        .join(Referral, Referral.id == ReferralLink.referral_id)
        .where(ReferralLink.case_id == case.id)
        .order_by(ReferralLink.decided_at.desc())
    )
    return [(f"R-{reference}", decision, at, by) for reference, decision, at, by in rows]


# ---- the desk's list -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Listed:
    reference: str  # R-ABC123
    received_at: datetime
    state: str
    identity_recorded: bool
    possible_matches: int | None  # None for the referrer: they see no matches
    yours: bool  # made by the person looking


def open_referrals(session: Session, user: str) -> list[Listed]:
    """The open referrals of the areas `user` coordinates, and their own open referrals, the
    oldest first: what is waiting longest comes first."""
    coordinated = [a.id for a in areas.coordinated_by(session, user)]
    open_states = [ReferralState.RECEIVED, ReferralState.ACKNOWLEDGED]
    query = (
        select(Referral)
        .where(
            Referral.state.in_(open_states),
            or_(Referral.area_id.in_(coordinated), Referral.referrer == user),
        )
        .order_by(Referral.received_at, Referral.id)
    )
    referrals = list(session.scalars(query))
    recorded = set(
        session.scalars(select(Person.referral_id).where(Person.referral_id.in_([r.id for r in referrals])))
    )
    return [
        Listed(
            r.label,
            r.received_at,
            r.state.value,
            r.id in recorded,
            possible_matches(session, r) if r.area_id in coordinated else None,
            r.referrer == user,
        )
        for r in referrals
    ]
