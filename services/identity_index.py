"""The blind index: what is stored to find a person again without decrypting anyone.

Each identity gives a set of *terms*, each a kind of evidence and its value in clear (a pair of
name codes, a name code with the date of birth, …), and each term is stored only as its
*digest*: HMAC-SHA256 under MATCHING_KEY of the kind and the value, cut to 128 bits. A search
makes the terms of the identity searched for, in the same way, and looks their digests up:
whoever holds the database but not the key can neither make a digest from a name nor read a
name from a digest. What they can see is which people share a digest (see docs/identity.md).

No term stands for a single name alone: names are indexed in pairs (any two of a person's
names, in either order, which finds given and family names swapped), or with the date of birth
or part of it, or with the school, or a name within a slip of the keyboard with the other's
initial. A digest shared by many people is thus a pair or a date, which says less than the
commonest family name would.

The key is MATCHING_KEY, apart from DATA_KEYS: rotating the data keys re-encrypts values and
leaves these digests as they are. Changing MATCHING_KEY, or the way terms are made (VERSION),
means making every person's digests again (`python -m bot identities reindex`); each person
records which key and version made theirs (`marker`).
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from itertools import combinations

from models.person import DIGEST_BYTES
from services import identity_forms as forms
from services.identity_forms import Identity, Name

# The version of the terms below: a change to how they are made (normalisation, codes, kinds)
# changes it, and every person must then be indexed again.
VERSION = 1
KEY_BYTES = 32

# The kinds of terms, and how much a shared one says, to choose which people to score.
PAIR = "pair"  # two codes of two different names of the person, in sorted order
NAME_DOB = "name+dob"  # a code and the whole date of birth
NAME_PART_DOB = "name+part-dob"  # a code and two of the three parts of the date of birth
DOB = "dob"  # the date of birth alone (few people share one)
NAME_SCHOOL = "name+school"  # a code and the school or employer
NEAR = "initial+near"  # the initial of one name and another spelt within a letter of it
POSTCODE = "postcode"
REFERENCE = "reference"  # an agency's reference
CONTACT = "contact"  # a phone number, e-mail address or handle
WEIGHTS = {
    PAIR: 3,
    NAME_DOB: 4,
    NAME_PART_DOB: 2,
    DOB: 1,
    NAME_SCHOOL: 1,
    NEAR: 2,
    POSTCODE: 1,
    REFERENCE: 6,
    CONTACT: 6,
}


class NoMatchingKey(RuntimeError):
    """An identity was to be indexed or searched for and this process has no MATCHING_KEY."""

    def __init__(self) -> None:
        super().__init__(
            "identities are indexed under MATCHING_KEY, which is not configured: make one with "
            "`python -m bot keys new --matching`"
        )


@dataclass(frozen=True)
class Term:
    kind: str
    value: str


class _Key:
    """The process's matching key; the digests read it at each term."""

    def __init__(self) -> None:
        self.key: bytes | None = None
        self.lock = threading.Lock()


_held = _Key()


def configure(key: bytes | None) -> None:
    """The matching key of this process (None: none, and nothing can be indexed or searched)."""
    if key is not None and len(key) != KEY_BYTES:
        raise ValueError(f"the matching key is {KEY_BYTES} bytes")
    with _held.lock:
        _held.key = key


def configured() -> bool:
    return _held.key is not None


def _key() -> bytes:
    key = _held.key
    if key is None:
        raise NoMatchingKey()
    return key


def digest(term: Term) -> bytes:
    """The keyed digest of a term: HMAC-SHA256 of its kind and value, its first 128 bits."""
    message = f"casehub:match:{term.kind}\x1f{term.value}".encode()
    return hmac.digest(_key(), message, hashlib.sha256)[:DIGEST_BYTES]


def marker() -> str:
    """What each person's digests are recorded as made under: the version of the terms and a
    keyed check of the key (not the key, nor anything it would give away)."""
    check = hmac.digest(_key(), b"casehub:match:key-check", hashlib.sha256).hex()[:16]
    return f"v{VERSION}:{check}"


# ---- the terms of an identity -----------------------------------------------------------------
def _name_codes(name: Name) -> list[tuple[frozenset[int], frozenset[str]]]:
    return [(form.sources, forms.codes(form.text)) for form in forms.forms(name)]


def _pairs(name: Name) -> set[Term]:
    """Two codes of two different names (no form with one it is made of), in sorted order."""
    found = set()
    for (first_from, first), (second_from, second) in combinations(_name_codes(name), 2):
        if first_from & second_from:
            continue
        for one in first:
            for other in second:
                low, high = sorted((one, other))
                found.add(Term(PAIR, f"{low}|{high}"))
    return found


def near(token: str) -> set[str]:
    """A token and every way of writing it with one letter fewer: two tokens one slip apart (a
    letter wrong, missing, added or two swapped) share one of these."""
    if len(token) < 3:
        return {token}
    return {token} | {token[:i] + token[i + 1 :] for i in range(len(token))}


def _near(name: Name) -> set[Term]:
    """The first given name's initial with the family names within a slip, and the family name's
    initial with the first given name within a slip: a name mistyped, with no date of birth to
    go by, is still found (either way round, so swapped names too)."""
    given = forms.meaningful(name.given)
    family = forms.meaningful(name.family, family=True)
    if not given or not family:
        return set()
    first = given[0]
    found = {Term(NEAR, f"{first[0]}|{variant}") for surname in family for variant in near(surname)}
    found |= {Term(NEAR, f"{surname[0]}|{variant}") for surname in family for variant in near(first)}
    return found


def _all_codes(identity: Identity) -> set[str]:
    return {code for name in forms.names(identity) for _sources, found in _name_codes(name) for code in found}


def _with_date(codes: Iterable[str], day_of_birth: date) -> set[Term]:
    found = {Term(DOB, day_of_birth.isoformat())}
    for code in codes:
        found.add(Term(NAME_DOB, f"{code}|{day_of_birth.isoformat()}"))
        found.update(Term(NAME_PART_DOB, f"{code}|{part}") for part in forms.partial_dates(day_of_birth))
    return found


def terms(identity: Identity, *, searching: bool = False) -> set[Term]:
    """The terms an identity is stored under; `searching`: those to look up for it, with its
    date of birth with day and month swapped too (a one-digit slip is found by the parts)."""
    found: set[Term] = set()
    for name in forms.names(identity):
        found |= _pairs(name)
        if not name.alias:
            found |= _near(name)
    codes = _all_codes(identity)
    if identity.date_of_birth is not None:
        found |= _with_date(codes, identity.date_of_birth)
        other = forms.swapped(identity.date_of_birth) if searching else None
        if other is not None:
            found.add(Term(DOB, other.isoformat()))
            found.update(Term(NAME_DOB, f"{code}|{other.isoformat()}") for code in codes)
    school = forms.institution(identity.school_or_employer)
    if school:
        found.update(Term(NAME_SCHOOL, f"{code}|{school}") for code in codes)
    found.update(Term(POSTCODE, code) for code in forms.postcodes(identity.address))
    found.update(Term(REFERENCE, ref) for ref in map(forms.reference, identity.agency_references) if ref)
    found.update(Term(CONTACT, got) for got in map(forms.contact, identity.contacts) if got)
    return found


def stored_digests(identity: Identity) -> set[bytes]:
    """The digests a person is stored under."""
    return {digest(term) for term in terms(identity)}


def search_digests(identity: Identity) -> dict[bytes, str]:
    """The digests to look up for an identity, each with its kind."""
    return {digest(term): term.kind for term in terms(identity, searching=True)}
