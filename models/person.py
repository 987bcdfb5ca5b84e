"""The person a case is about, as the record desk holds them, and the blind index that finds
them again when they are referred anew.

Every field of the identity is encrypted at rest (`models.encryption`), so no query can look
into it. Finding a repeat referral goes through `person_keys` instead: keyed digests
(HMAC-SHA256 under MATCHING_KEY, truncated to 128 bits) of normalised and phonetic forms of the
identity, each standing for a kind of evidence and its value (see `services.identity_index`).
A digest says nothing without the key, and the key is not in the database.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.agency import enum_column
from models.base import Base
from models.clock import utcnow
from models.encryption import EncryptedJSON, EncryptedText

DIGEST_BYTES = 16


class Person(Base):
    """The identity of the person a case (or a referral) is about: one per case, entered and seen
    only on the record desk, never sent to Slack. A referral's person becomes its case's when the
    referral is accepted."""

    __tablename__ = "persons"

    id: Mapped[int] = mapped_column(primary_key=True)
    # The case it is about; a referral's person has none until the referral is accepted.
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), unique=True)
    referral_id: Mapped[int | None] = mapped_column(ForeignKey("referrals.id"), unique=True)
    given_names: Mapped[str] = mapped_column(EncryptedText("persons.given_names"), default="")
    family_names: Mapped[str] = mapped_column(EncryptedText("persons.family_names"), default="")
    aliases: Mapped[list[str] | None] = mapped_column(EncryptedJSON("persons.aliases"))
    # ISO 8601 (YYYY-MM-DD): a date is as identifying as a name.
    date_of_birth: Mapped[str | None] = mapped_column(EncryptedText("persons.date_of_birth"))
    gender: Mapped[str | None] = mapped_column(EncryptedText("persons.gender"))
    address: Mapped[str | None] = mapped_column(EncryptedText("persons.address"))
    school_or_employer: Mapped[str | None] = mapped_column(EncryptedText("persons.school_or_employer"))
    agency_references: Mapped[list[str] | None] = mapped_column(EncryptedJSON("persons.agency_references"))
    contacts: Mapped[list[str] | None] = mapped_column(EncryptedJSON("persons.contacts"))
    # Which version of the index-building code, under which MATCHING_KEY (a keyed marker, not
    # the key), made this person's digests: a different one means they must be made again.
    indexed_under: Mapped[str] = mapped_column(String(32), index=True)
    created_by: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(32))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class PersonKey(Base):
    """One blind-index digest of a person. The kind of evidence is part of what is hashed, not
    a column: the table shows neither which kind a digest is nor how many of each a person has."""

    __tablename__ = "person_keys"
    __table_args__ = (Index("ix_person_keys_digest", "digest", "person_id"),)

    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), primary_key=True)
    digest: Mapped[bytes] = mapped_column(LargeBinary(DIGEST_BYTES), primary_key=True)


class Decision(enum.StrEnum):
    LINKED = "linked"  # the same person: the cases are repeat referrals of one another
    DISMISSED = "dismissed"  # not the same person: not proposed again


class MatchDecision(Base):
    """A coordinator's decision on a proposed pair of cases, one row per pair (the case with the
    lower id first); a later decision replaces it, and the audit trail keeps each."""

    __tablename__ = "match_decisions"
    __table_args__ = (UniqueConstraint("case_id", "other_case_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    other_case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    decision: Mapped[Decision] = mapped_column(enum_column(Decision, "match_decision"))
    # Why, as the coordinator wrote it: it may well name the person.
    reason: Mapped[str | None] = mapped_column(EncryptedText("match_decisions.reason"))
    # The match score when it was decided: to review the matching's proposals later.
    score: Mapped[int | None]
    decided_by: Mapped[str] = mapped_column(String(32))
    decided_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_via: Mapped[str] = mapped_column(String(200))

    def other(self, case_id: int) -> int:
        return self.other_case_id if case_id == self.case_id else self.case_id
