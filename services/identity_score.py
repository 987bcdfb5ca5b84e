"""How alike two identities are, and why: the score the coordinator sees beside each candidate.

The blind index finds who *may* be the person; this weighs each of them, with both identities
decrypted (only the few found are). Each kind of evidence adds or takes points, roughly the
log-odds that it would be seen if the two were the same person rather than two people: a
family name that sounds the same adds, a different date of birth takes away a lot, a date with
day and month swapped adds less than the same date but far more than a different one. The sum
becomes a score from 0 to 100 (a logistic curve): an ordering and a guide, not a probability.

Names are compared token by token, each pair of tokens at the best level it reaches: the same,
known variants of one name (transliterations and nicknames: `identity_forms.VARIANTS`), the
same sound (a Double Metaphone code in common), a slip of spelling (one edit, or Jaro-Winkler
at 0.9 and above), an initial, or different. Each way round is tried (given against given and
family against family, and swapped), each name against each alias, and each part run together
(Abdul Rahman, Abdulrahman); the best is kept, and a name with a part the other lacks (a middle
name, half of a double-barrelled name) is marked, not refused.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from rapidfuzz.distance import DamerauLevenshtein, JaroWinkler

from services import identity_forms as forms
from services.identity_forms import Identity, Name

SAME, VARIANT, SOUND, SPELLING = "same", "variant", "sound", "spelling"
SIMILAR, INITIAL, DIFFERENT = "similar", "initial", "different"
LEVELS = (SAME, VARIANT, SOUND, SPELLING, SIMILAR, INITIAL, DIFFERENT)  # best first
GIVEN_POINTS = {
    SAME: 3.0, VARIANT: 2.6, SOUND: 2.3, SPELLING: 2.0, SIMILAR: 0.5, INITIAL: 0.8, DIFFERENT: -4.0,
}  # fmt: skip
FAMILY_POINTS = {
    SAME: 4.0, VARIANT: 3.6, SOUND: 3.2, SPELLING: 2.8, SIMILAR: 0.8, INITIAL: 0.5, DIFFERENT: -4.0,
}  # fmt: skip
SAID = {
    SAME: "the same {what}",
    VARIANT: "{what} a known variant (transliteration or nickname)",
    SOUND: "{what} sounds the same",
    SPELLING: "{what} spelt slightly differently",
    SIMILAR: "{what} somewhat alike",
    INITIAL: "{what} matches an initial",
    DIFFERENT: "a different {what}",
}
# Another token of the same part that differs (John Paul / John Peter), a part one side lacks.
OTHER_DIFFERS = -1.5
PART_MISSING = -0.3
SWAPPED = -0.3
DOB_POINTS = {
    "same": 5.0, "swapped": 3.5, "one digit": 2.0, "transposed": 2.0, "swapped and one digit": 1.0,
    "different": -4.0,
}  # fmt: skip
GENDER_SAME, GENDER_DIFFERS = 0.3, -1.5
REFERENCE_SAME, CONTACT_SAME, POSTCODE_SAME, SCHOOL_SAME = 7.0, 6.0, 1.5, 1.0
# A name many people on file share says less: the points of names that agree are lowered by
# COMMON_WEIGHT * ln(how many share it), at most COMMON_MOST; it is said from COMMON_SAID people.
COMMON_WEIGHT, COMMON_MOST, COMMON_SAID = 0.6, 2.5, 5
# The logistic curve from points to score: its middle, and how steep it is.
MIDDLE, SPREAD = 8.0, 1.5
LIKELY = 50  # from this score a candidate is shown as likely the same person
SHOWN = 5  # below it, a candidate is not shown at all


@dataclass(frozen=True)
class Comparison:
    points: float
    reasons: tuple[str, ...]

    @property
    def score(self) -> int:
        return round(100 / (1 + math.exp(-(self.points - MIDDLE) / SPREAD)))

    @property
    def likely(self) -> bool:
        return self.score >= LIKELY


# ---- tokens ------------------------------------------------------------------------------------
def token_level(one: str, other: str) -> str:
    """How alike two name tokens are, from the same to different."""
    if one == other:
        return SAME
    if forms.variant_groups(one) & forms.variant_groups(other) or _joined_article(one, other):
        return VARIANT
    if len(one) == 1 or len(other) == 1:
        return INITIAL if one[0] == other[0] else DIFFERENT
    likeness = JaroWinkler.similarity(one, other)
    shortest = min(len(one), len(other))
    edits = DamerauLevenshtein.distance(one, other)
    if forms.distinct(one, other):
        return DIFFERENT  # Double Metaphone brings them together: Emily, Amelia; Hassan, Hussein
    if forms.sounds(one) & forms.sounds(other):
        # A shared code counts as the same sound only for names written alike: the codes are
        # short, and bring together names that are not the same (Lily, Lola; Amir, Omar).
        return SOUND if likeness >= 0.8 else SIMILAR
    if (
        (shortest >= 4 and edits <= 1)
        or (shortest >= 7 and edits <= 2)
        or (shortest >= 4 and likeness >= 0.9)
    ):
        return SPELLING
    if (shortest >= 4 and likeness >= 0.8) or (shortest >= 5 and edits <= 2):
        return SIMILAR
    return DIFFERENT


def _joined_article(one: str, other: str) -> bool:
    """Alhassan and Hassan: the same name with its article joined to it, or not."""
    longer, shorter = (one, other) if len(one) > len(other) else (other, one)
    return any(longer == article + shorter for article in forms.JOINED_ARTICLES)


def _rank(level: str) -> int:
    return LEVELS.index(level)


@dataclass(frozen=True)
class PartMatch:
    level: str  # the best level any two tokens reach
    others_differ: bool  # another pair of tokens of the part differs
    missing: bool  # one side has tokens the other has not
    joined: bool  # matched only once run together


def compare_part(one: tuple[str, ...], other: tuple[str, ...], *, family: bool) -> PartMatch | None:
    """Two given names, or two family names; None when either is empty."""
    mine = forms.meaningful(one, family=family)
    theirs = forms.meaningful(other, family=family)
    if not mine or not theirs:
        initials_only = [t for t in one if len(t) == 1], [t for t in other if len(t) == 1]
        if (mine or initials_only[0]) and (theirs or initials_only[1]):
            # Only initials on a side: the best level any initial reaches.
            level = min(
                (token_level(a, b) for a in mine or initials_only[0] for b in theirs or initials_only[1]),
                key=_rank,
            )
            return PartMatch(level, False, len(one) != len(other), False)
        return None
    pairs = sorted(
        ((_rank(token_level(a, b)), i, j) for i, a in enumerate(mine) for j, b in enumerate(theirs)),
    )
    used_mine: set[int] = set()
    used_theirs: set[int] = set()
    chosen = []
    for rank, i, j in pairs:
        if i in used_mine or j in used_theirs:
            continue
        used_mine.add(i)
        used_theirs.add(j)
        chosen.append(rank)
    best = LEVELS[chosen[0]]
    others_differ = any(LEVELS[r] == DIFFERENT for r in chosen[1:])
    if others_differ and _rank(best) >= _rank(SIMILAR):
        best, others_differ = DIFFERENT, False  # Emily Samantha, Amelia Ruby: no name in common
    result = PartMatch(best, others_differ, len(mine) != len(theirs), False)
    whole = [t for t in one if len(t) > 1], [t for t in other if len(t) > 1]
    if len(whole[0]) > 1 or len(whole[1]) > 1:
        joined = token_level("".join(whole[0]), "".join(whole[1]))
        better = _rank(joined) < _rank(best)
        if joined != DIFFERENT and (better or (joined == best and (result.others_differ or result.missing))):
            return PartMatch(joined, False, False, True)
    return result


# ---- names -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class NameMatch:
    points: float
    reasons: tuple[str, ...]


def _part_points(match: PartMatch | None, *, family: bool) -> tuple[float, list[str]]:
    if match is None:
        return 0.0, []
    table = FAMILY_POINTS if family else GIVEN_POINTS
    what = "family name" if family else "given name"
    points = table[match.level]
    said = [SAID[match.level].format(what=what)]
    if match.joined:
        said.append(f"{what} written as one word on one side")
    if match.others_differ:
        points += OTHER_DIFFERS
        said.append(f"another {what} differs")
    elif match.missing and match.level != DIFFERENT:
        points += PART_MISSING
        said.append(f"part of the {what} missing on one side")
    return points, said


def compare_names(one: Name, other: Name) -> NameMatch:
    """Two names: given against given and family against family, or swapped; the better."""
    ways = []
    for swapped in (False, True):
        theirs_given, theirs_family = (other.family, other.given) if swapped else (other.given, other.family)
        given = compare_part(one.given, theirs_given, family=False)
        family = compare_part(one.family, theirs_family, family=True)
        given_points, given_said = _part_points(given, family=False)
        family_points, family_said = _part_points(family, family=True)
        points = given_points + family_points
        said = family_said + given_said
        if swapped:
            points += SWAPPED
            said.insert(0, "given and family names swapped")
        ways.append(NameMatch(points, tuple(said)))
    return max(ways, key=lambda way: way.points)


def _all_names(identity: Identity) -> list[Name]:
    return forms.names(identity)


def name_evidence(one: Identity, other: Identity) -> NameMatch:
    """The best agreement between any name of one (the main name or an alias) and any of the other."""
    best: NameMatch | None = None
    for mine in _all_names(one):
        for theirs in _all_names(other):
            found = compare_names(mine, theirs)
            if mine.alias or theirs.alias:
                found = NameMatch(found.points, ("a name matches an alias", *found.reasons))
            if best is None or found.points > best.points:
                best = found
    return best or NameMatch(0.0, ())


# ---- the rest ----------------------------------------------------------------------------------
def dob_level(one: date, other: date) -> str:
    """Two dates of birth: the same, day and month swapped, one digit different, two adjacent
    digits transposed, swapped and one digit different, or different."""
    if one == other:
        return "same"
    if forms.swapped(one) == other:
        return "swapped"
    mine, theirs = forms.digits(one), forms.digits(other)
    turned = forms.swapped(one)
    if turned is not None and sum(a != b for a, b in zip(forms.digits(turned), theirs, strict=True)) == 1:
        return "swapped and one digit"
    differing = [i for i in range(len(mine)) if mine[i] != theirs[i]]
    if len(differing) == 1:
        return "one digit"
    if (
        len(differing) == 2
        and differing[1] == differing[0] + 1
        and mine[differing[0]] == theirs[differing[1]]
        and mine[differing[1]] == theirs[differing[0]]
    ):
        return "transposed"
    return "different"


DOB_SAID = {
    "same": "the same date of birth",
    "swapped": "date of birth with day and month swapped",
    "one digit": "date of birth one digit different",
    "transposed": "date of birth with two digits transposed",
    "swapped and one digit": "date of birth with day and month swapped and a digit different",
    "different": "a different date of birth",
}


def compare(one: Identity, other: Identity, *, sharing: int = 1) -> Comparison:
    """Every kind of evidence the two identities both hold, added up; the reasons in the order
    they weigh. `sharing`: how many people on file have a name like the one searched for (the
    blind index tells, see `services.identity`): names that agree count for less when common."""
    names = name_evidence(one, other)
    points = names.points
    reasons = list(names.reasons)
    if sharing > 1 and points >= 4.0:
        points -= min(COMMON_MOST, COMMON_WEIGHT * math.log(sharing))
        if sharing >= COMMON_SAID:
            reasons.append(f"a common name: {sharing} people on file have a name like it")
    if one.date_of_birth is not None and other.date_of_birth is not None:
        level = dob_level(one.date_of_birth, other.date_of_birth)
        points += DOB_POINTS[level]
        reasons.append(DOB_SAID[level])
    genders = forms.gender(one.gender), forms.gender(other.gender)
    if genders[0] and genders[1]:
        if genders[0] == genders[1]:
            points += GENDER_SAME
        else:
            points += GENDER_DIFFERS
            reasons.append("gender recorded differently")
    if _shared(one.agency_references, other.agency_references, forms.reference):
        points += REFERENCE_SAME
        reasons.insert(0, "the same agency reference")
    if _shared(one.contacts, other.contacts, forms.contact):
        points += CONTACT_SAME
        reasons.insert(0, "the same phone number, e-mail address or handle")
    if set(forms.postcodes(one.address)) & set(forms.postcodes(other.address)):
        points += POSTCODE_SAME
        reasons.append("the same postcode")
    schools = forms.institution(one.school_or_employer), forms.institution(other.school_or_employer)
    if schools[0] and schools[0] == schools[1]:
        points += SCHOOL_SAME
        reasons.append("the same school or employer")
    return Comparison(points, tuple(dict.fromkeys(reasons)))


def _shared(one: tuple[str, ...], other: tuple[str, ...], normalise: Callable[[str], str | None]) -> bool:
    mine = {n for n in map(normalise, one) if n}
    return bool(mine & {n for n in map(normalise, other) if n})
