"""Repeat-referral matching, measured on generated identities.

    python -m evaluation.identity_matching                  # 10,000 identities, on SQLite
    python -m evaluation.identity_matching --database-url postgresql+psycopg://…/eval --reset
    python -m evaluation.identity_matching --misses 20      # also show 20 repeats it missed
    python -m evaluation.identity_matching --check          # exit 1 when the target is missed

A seeded generator makes people of several origins (names from `evaluation.identity_names`,
drawn more often from the top of each list, so that common names recur as they do), some with a
brother or sister at the same address (twins among them), then referrals: each person once, and
some again, later, with what changes between two referrals by different agencies — a new
address or school, another agency's reference — and the mistakes records carry: typing slips,
another transliteration, a nickname, given and family names swapped, a middle name or half of a
double-barrelled name missing, particles dropped or joined, a date of birth with day and month
swapped, one digit wrong, or missing.

Referrals arrive in order, as they would: each is searched for among those on file before it
(`services.identity.candidates`, the top five), then stored through `save_identity`, as the
record desk does. A search for a referral whose person is on file already is a repeat: found
when one of their earlier cases is among the five. The rest measure false candidates.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.harness import database_arguments, prepare_database  # noqa: E402
from evaluation import identity_names as data  # noqa: E402
from models import AgencyKind, Case, Risk, Role, Stage, utcnow  # noqa: E402
from services import agencies, identity  # noqa: E402
from services.identity import Candidate, Identity  # noqa: E402
from services.identity_score import LIKELY  # noqa: E402

COORD = "UEVALCOORD"
TARGET = 0.95  # of repeats, found among the top five
THRESHOLDS = (30, 50, 70, 90)
ERRORS = {  # the mistakes a repeat referral may carry, and how often each is drawn
    "family typo": 14,
    "given typo": 12,
    "given transliteration": 12,
    "family transliteration": 8,
    "swapped names": 8,
    "nickname": 5,
    "middle name missing": 6,
    "compound part missing or joined": 6,
    "dob day/month swapped": 8,
    "dob one digit": 8,
    "dob missing": 6,
    "alias as name": 2,
    "given initial only": 3,
}
MISTAKES_PER_REPEAT = {0: 0.10, 1: 0.40, 2: 0.35, 3: 0.15}
KEYBOARD = {
    "q": "wa", "w": "qes", "e": "wrd", "r": "etf", "t": "ryg", "y": "tuh", "u": "yij", "i": "uok",
    "o": "ipl", "p": "ol", "a": "qsz", "s": "adwx", "d": "sfec", "f": "dgrv", "g": "fhtb",
    "h": "gjyn", "j": "hkum", "k": "jlim", "l": "kop", "z": "asx", "x": "zcs", "c": "xvd",
    "v": "cbf", "b": "vng", "n": "bmh", "m": "nj",
}  # fmt: skip
RESPELLINGS = (
    ("ou", "u"), ("u", "ou"), ("ee", "i"), ("y", "i"), ("i", "y"), ("ph", "f"), ("f", "ph"),
    ("kh", "k"), ("k", "kh"), ("q", "k"), ("ck", "k"), ("c", "k"), ("ss", "s"), ("mm", "m"),
    ("m", "mm"), ("ll", "l"), ("l", "ll"), ("tt", "t"), ("ie", "y"), ("ov", "off"), ("ski", "sky"),
    ("w", "v"), ("v", "w"), ("j", "y"), ("sh", "ch"), ("ai", "ay"), ("ay", "ai"), ("ah", "a"),
    ("th", "t"), ("dh", "d"), ("oo", "u"), ("e", "a"), ("a", "e"), ("o", "u"), ("u", "o"),
    ("z", "s"), ("s", "z"), ("x", "ks"), ("ei", "ai"),
)  # fmt: skip


# ---- the people ---------------------------------------------------------------------------------
@dataclass
class Person:
    number: int
    origin: str
    gender: str
    given: str
    middle: str | None
    family: str
    born: date
    address: str
    school: str | None
    references: list[str]
    contacts: list[str]
    aliases: list[str] = field(default_factory=list)

    def identity(self) -> Identity:
        given = f"{self.given} {self.middle}" if self.middle else self.given
        return Identity(
            given_names=given,
            family_names=self.family,
            aliases=tuple(self.aliases),
            date_of_birth=self.born,
            gender=self.gender,
            address=self.address,
            school_or_employer=self.school,
            agency_references=tuple(self.references),
            contacts=tuple(self.contacts),
        )


@dataclass(frozen=True)
class Referral:
    person: int
    identity: Identity
    mistakes: tuple[str, ...]
    at: float


class Generator:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.origins = list(data.MIX)
        self.origin_weights = [data.MIX[o] for o in self.origins]
        self.spellings: dict[str, list[tuple[str, ...]]] = defaultdict(list)
        for family in data.TRANSLITERATIONS:
            self.spellings[family[0]].append(family)

    # ---- drawing
    def pick(self, names: Sequence[str]) -> str:
        """Commoner names first: the n-th is drawn in proportion to 1/(n+1)^0.9."""
        weights = [1 / (n + 1) ** 0.9 for n in range(len(names))]
        return self.rng.choices(names, weights)[0]

    def born(self) -> date:
        return date(2000, 1, 1) + timedelta(days=self.rng.randrange(16 * 365))

    def address(self) -> str:
        number = self.rng.randint(1, 240)
        letters = "ABDEFGHJLNPQRSTUWXYZ"  # those a postcode's last two may be
        inward = f"{self.rng.randint(1, 9)}{self.rng.choice(letters)}{self.rng.choice(letters)}"
        postcode = f"{self.rng.choice(data.AREAS)} {inward}"
        return f"{number} {self.rng.choice(data.STREETS)}, {postcode}"

    def school(self, born: date) -> str | None:
        age = (date(2026, 9, 1) - born).days // 365
        if age < 18 or self.rng.random() < 0.2:
            return f"{self.rng.choice(data.SCHOOLS)} {self.rng.choice(data.SCHOOL_KINDS)}"
        return self.rng.choice(data.EMPLOYERS) if self.rng.random() < 0.6 else None

    def reference(self) -> str:
        kind = self.rng.random()
        if kind < 0.4:
            return f"PC-{self.rng.randint(2018, 2026)}-{self.rng.randint(1, 99999):05d}"
        if kind < 0.7:
            return f"CSC{self.rng.randint(100000, 999999)}"
        if kind < 0.85:
            return f"{self.rng.randint(400, 799)} {self.rng.randint(100, 999)} {self.rng.randint(1000, 9999)}"
        return f"SCH/{self.rng.randint(1000, 9999)}"

    def contact(self) -> str:
        if self.rng.random() < 0.8:
            return f"07{self.rng.randint(100, 999)} {self.rng.randint(100000, 999999)}"
        return f"user{self.rng.randint(1000, 99999)}@example.org"

    def gender_word(self, gender: str) -> str:
        words = {"male": ("Male", "M", "male", "boy"), "female": ("Female", "F", "female", "girl")}
        return self.rng.choice(words[gender])

    def person(self, number: int) -> Person:
        origin = self.rng.choices(self.origins, self.origin_weights)[0]
        gender = self.rng.choice(("male", "female"))
        names = data.ORIGINS[origin]
        given = self.pick(names[gender])
        middle = None
        if origin == "english" and self.rng.random() < 0.45:
            middle = self.pick(names[gender])
        elif origin == "south_asian" and gender == "male" and given in ("Mohammed", "Muhammad"):
            middle = self.pick(names["male"][2:])  # Mohammed Bilal Khan: called by the second
        family = self.pick(names["family"])
        if origin == "english" and self.rng.random() < 0.06:
            family = f"{family}-{self.pick(names['family'])}"
        born = self.born()
        aliases = []
        if self.rng.random() < 0.06:
            nick = data.NICKNAMES.get(given)
            aliases.append(self.rng.choice(nick) if nick else self.pick(names[gender]))
        return Person(
            number=number,
            origin=origin,
            gender=gender,
            given=given,
            middle=middle,
            family=family,
            born=born,
            address=self.address(),
            school=self.school(born),
            references=[self.reference() for _ in range(self.rng.choice((0, 1, 1, 2)))],
            contacts=[self.contact()] if self.rng.random() < 0.5 else [],
            aliases=aliases,
        )

    def sibling(self, number: int, of: Person) -> Person:
        """A brother or sister at the same address; one in ten a twin."""
        sibling = self.person(number)
        names = data.ORIGINS[of.origin]
        twin = self.rng.random() < 0.1
        born = (
            of.born
            if twin
            else of.born + timedelta(days=self.rng.choice((-1, 1)) * self.rng.randint(300, 2200))
        )
        given = self.pick(names[sibling.gender])
        while given == of.given:
            given = self.pick(names[sibling.gender])
        return replace(
            sibling,
            origin=of.origin,
            given=given,
            middle=None,
            family=of.family,
            born=born,
            address=of.address,
            school=of.school if twin or self.rng.random() < 0.5 else sibling.school,
            aliases=[],
        )

    # ---- what a later referral changes
    def later(self, person: Person) -> tuple[Identity, tuple[str, ...]]:
        """The identity another agency records of the same person, with its mistakes."""
        fields = {
            "given": person.given,
            "middle": person.middle,
            "family": person.family,
            "born": person.born,
            "gender": self.gender_word(person.gender) if self.rng.random() > 0.1 else None,
            "address": self.address() if self.rng.random() < 0.4 else person.address,
            "school": self.school(person.born) if self.rng.random() < 0.3 else person.school,
            "references": [r for r in person.references if self.rng.random() < 0.15]
            + ([self.reference()] if self.rng.random() < 0.6 else []),
            "contacts": [c for c in person.contacts if self.rng.random() < 0.25],
            "aliases": [a for a in person.aliases if self.rng.random() < 0.5],
        }
        count = self.rng.choices(list(MISTAKES_PER_REPEAT), list(MISTAKES_PER_REPEAT.values()))[0]
        made: list[str] = []
        for _ in range(count * 4):
            if len(made) == count:
                break
            mistake = self.rng.choices(list(ERRORS), list(ERRORS.values()))[0]
            if mistake in made or not self.apply(mistake, fields, person):
                continue
            made.append(mistake)
        given = f"{fields['given']} {fields['middle']}" if fields["middle"] else str(fields["given"] or "")
        return (
            Identity(
                given_names=given,
                family_names=str(fields["family"] or ""),
                aliases=tuple(fields["aliases"]),  # type: ignore[arg-type]
                date_of_birth=fields["born"],  # type: ignore[arg-type]
                gender=fields["gender"],  # type: ignore[arg-type]
                address=fields["address"],  # type: ignore[arg-type]
                school_or_employer=fields["school"],  # type: ignore[arg-type]
                agency_references=tuple(fields["references"]),  # type: ignore[arg-type]
                contacts=tuple(fields["contacts"]),  # type: ignore[arg-type]
            ),
            tuple(made),
        )

    def apply(self, mistake: str, fields: dict[str, object], person: Person) -> bool:
        """Make one mistake in the fields; False when it cannot be made here."""
        given, family, born = str(fields["given"]), str(fields["family"]), fields["born"]
        if mistake == "family typo":
            fields["family"] = self.typo(family)
        elif mistake == "given typo":
            fields["given"] = self.typo(given)
        elif mistake == "given transliteration":
            fields["given"] = self.respell(given)
        elif mistake == "family transliteration":
            fields["family"] = self.respell(family)
        elif mistake == "swapped names":
            fields["given"], fields["family"], fields["middle"] = family, given, None
        elif mistake == "nickname":
            if given not in data.NICKNAMES:
                return False
            fields["given"] = self.rng.choice(data.NICKNAMES[given])
        elif mistake == "middle name missing":
            if not fields["middle"]:
                return False
            fields["middle"] = None
        elif mistake == "compound part missing or joined":
            changed = self.compound(family)
            if changed is not None:
                fields["family"] = changed
            else:
                changed = self.compound(given)
                if changed is None:
                    return False
                fields["given"] = changed
        elif mistake == "dob day/month swapped":
            if not isinstance(born, date) or born.day > 12 or born.day == born.month:
                return False
            fields["born"] = date(born.year, born.day, born.month)
        elif mistake == "dob one digit":
            if not isinstance(born, date):
                return False
            fields["born"] = self.one_digit(born)
        elif mistake == "dob missing":
            fields["born"] = None
        elif mistake == "alias as name":
            if not person.aliases:
                return False
            fields["given"], fields["middle"] = person.aliases[0], None
        elif mistake == "given initial only":
            fields["given"], fields["middle"] = given[0] + ".", None
        return True

    def typo(self, name: str) -> str:
        """One slip of the keyboard: a neighbouring key, a letter dropped, doubled or two swapped;
        rarely on the first letter."""
        letters = list(name)
        positions = [i for i, c in enumerate(letters) if c.isalpha()]
        if len(positions) < 3:
            return name
        weights = [0.2 if i == positions[0] else 1.0 for i in positions]
        at = self.rng.choices(positions, weights)[0]
        kind = self.rng.choices(("neighbour", "drop", "double", "swap"), (40, 20, 15, 25))[0]
        lower = letters[at].lower()
        if kind == "neighbour" and lower in KEYBOARD:
            new = self.rng.choice(KEYBOARD[lower])
            letters[at] = new.upper() if letters[at].isupper() else new
        elif kind == "drop":
            del letters[at]
        elif kind == "double":
            letters.insert(at, letters[at].lower())
        elif at + 1 < len(letters) and letters[at + 1].isalpha():
            letters[at], letters[at + 1] = letters[at + 1].lower(), letters[at].lower()
            if at == 0:
                letters[0] = letters[0].upper()
        return "".join(letters)

    def respell(self, name: str) -> str:
        """Another transliteration: a known spelling of the name when there is one, otherwise a
        rule of thumb (ou/u, ee/i, kh/k, ph/f, -ov/-off, a doubled consonant…)."""
        families = self.spellings.get(name)
        if families and self.rng.random() < 0.8:
            family = self.rng.choice(families)
            return self.rng.choice([s for s in family if s != name] or [name])
        lower = name.lower()
        rules = [(a, b) for a, b in RESPELLINGS if a in lower[1:]]
        if not rules:
            return self.typo(name)
        a, b = self.rng.choice(rules)
        where = [i for i in range(1, len(lower)) if lower.startswith(a, i)]
        at = self.rng.choice(where)
        changed = lower[:at] + b + lower[at + len(a) :]
        return changed[0].upper() + changed[1:]

    def compound(self, name: str) -> str | None:
        """Half of a double-barrelled or compound name dropped, or its parts joined or split."""
        parts = [p for p in name.replace("-", " ").split(" ") if p]
        if len(parts) < 2:
            return None
        choice = self.rng.random()
        if choice < 0.4:
            return "".join(p if i == 0 else p.lower() for i, p in enumerate(parts))
        if choice < 0.55 and "-" in name:
            return " ".join(parts)
        keep = (
            self.rng.choice(parts)
            if parts[0].lower() not in ("al", "el", "le", "da", "de", "abu", "ben")
            else parts[-1]
        )
        return keep

    def one_digit(self, born: date) -> date:
        text = born.strftime("%Y%m%d")
        for _ in range(50):
            at = self.rng.randrange(8)
            if at < 2:
                continue  # the century is never mistyped
            digit = self.rng.choice([d for d in "0123456789" if d != text[at]])
            candidate = text[:at] + digit + text[at + 1 :]
            try:
                made = date(int(candidate[:4]), int(candidate[4:6]), int(candidate[6:]))
            except ValueError:
                continue
            if date(1990, 1, 1) <= made <= date(2020, 12, 31):
                return made
        return born + timedelta(days=1)


def referrals(people: int, repeats: int, seed: int) -> tuple[list[Person], list[Referral]]:
    """Everyone's first referral, and `repeats` later ones, in the order they arrive."""
    make = Generator(seed)
    persons: list[Person] = []
    while len(persons) < people:
        person = make.person(len(persons))
        persons.append(person)
        if len(persons) < people and make.rng.random() < 0.08:
            persons.append(make.sibling(len(persons), person))
    arrivals = [Referral(p.number, p.identity(), (), make.rng.random()) for p in persons]
    for _ in range(repeats):
        person = make.rng.choice(persons)
        first = arrivals[person.number].at
        changed, mistakes = make.later(person)
        arrivals.append(Referral(person.number, changed, mistakes, first + (1 - first) * make.rng.random()))
    arrivals.sort(key=lambda r: r.at)
    return persons, arrivals


# ---- measuring ----------------------------------------------------------------------------------
@dataclass
class Tally:
    searches: int = 0
    repeats: int = 0
    top5: int = 0
    top1: int = 0
    first_referrals: int = 0
    first_with_likely: int = 0
    shown: int = 0
    shown_false: int = 0
    at: dict[int, list[int]] = field(default_factory=lambda: {t: [0, 0] for t in THRESHOLDS})  # true, false
    found_at: dict[int, int] = field(default_factory=lambda: dict.fromkeys(THRESHOLDS, 0))
    by_mistake: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))
    by_count: dict[int, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))
    times: list[float] = field(default_factory=list)
    misses: list[tuple[Referral, list[Identity], list[Candidate]]] = field(default_factory=list)
    false_likely: list[tuple[Referral, Candidate]] = field(default_factory=list)

    def record(
        self, referral: Referral, earlier: set[int], found: list[Candidate], owner: dict[int, int]
    ) -> None:
        self.searches += 1
        true = [c for c in found if owner[c.case_id] == referral.person]
        for threshold in THRESHOLDS:
            above = [c for c in found if c.score >= threshold]
            right = sum(owner[c.case_id] == referral.person for c in above)
            self.at[threshold][0] += right
            self.at[threshold][1] += len(above) - right
        self.shown += len(found)
        self.shown_false += len(found) - len(true)
        for candidate in found:
            if (
                candidate.likely
                and owner[candidate.case_id] != referral.person
                and len(self.false_likely) < 200
            ):
                self.false_likely.append((referral, candidate))
        if not earlier:
            self.first_referrals += 1
            self.first_with_likely += any(c.score >= LIKELY for c in found)
            return
        self.repeats += 1
        hit = bool(true)
        self.top5 += hit
        self.top1 += bool(found) and owner[found[0].case_id] == referral.person
        for threshold in THRESHOLDS:
            self.found_at[threshold] += any(c.score >= threshold for c in true)
        for mistake in referral.mistakes or ("none",):
            self.by_mistake[mistake][0] += hit
            self.by_mistake[mistake][1] += 1
        self.by_count[len(referral.mistakes)][0] += hit
        self.by_count[len(referral.mistakes)][1] += 1
        if not hit:
            self.misses.append((referral, [], found))


def run(db_url: str | None, directory: str, *, reset: bool, people: int, repeats: int, seed: int) -> Tally:
    _people, arrivals = referrals(people, repeats, seed)
    db = prepare_database(db_url, directory, reset=reset)
    with db.session() as session:
        hub = agencies.add(
            session, slug="hub", name="Safeguarding Hub", kind=AgencyKind.LOCAL_AUTHORITY, actor="eval",
            request_ref="eval",
        )  # fmt: skip
        agencies.set_member(
            session, agency=hub, user_id=COORD, role=Role.COORDINATOR, actor="eval", request_ref="eval"
        )
    tally = Tally()
    owner: dict[int, int] = {}  # case id: the generated person it is about
    cases_of: dict[int, set[int]] = defaultdict(set)
    closing = random.Random(seed + 1)
    started = time.monotonic()
    for number, referral in enumerate(arrivals, start=1):
        with db.session() as session:
            began = time.perf_counter()
            found = identity.candidates(session, referral.identity, limit=5)
            tally.times.append((time.perf_counter() - began) * 1000)
            missed = len(tally.misses)
            tally.record(referral, cases_of[referral.person], found, owner)
            if len(tally.misses) > missed and len(tally.misses) <= 200:  # kept to be shown
                on_file = [
                    identity.identity_of(session, session.get_one(Case, c)) for c in cases_of[referral.person]
                ]
                tally.misses[-1] = (referral, [who for who in on_file if who is not None], found)
            closed = closing.random() < 0.4
            case = Case(
                area_id=1, reference=f"E{number:05d}", risk=Risk.MODERATE, summary="A generated referral.",
                lead_user_id=COORD, opened_by=COORD, opened_via=f"eval:{number}",
                stage=Stage.CLOSED if closed else Stage.ASSESSMENT, closed_at=utcnow() if closed else None,
            )  # fmt: skip
            session.add(case)
            session.flush()
            identity.save_identity(session, case, referral.identity, COORD, f"eval:{number}")
            owner[case.id] = referral.person
            cases_of[referral.person].add(case.id)
        if number % 1000 == 0:
            if db.engine.dialect.name == "postgresql":
                with db.engine.begin() as connection:  # as autovacuum does as tables grow
                    connection.execute(text("ANALYZE"))
            print(
                f"  {number} referrals searched for and stored ({time.monotonic() - started:.0f} s)",
                flush=True,
            )
    db.dispose()
    return tally


# ---- the report ---------------------------------------------------------------------------------
def share(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def report(tally: Tally, dialect: str, people: int, show_misses: int, show_false: int = 0) -> None:
    print(f"\n{tally.searches} referrals ({people} people), searched for on {dialect} before each was stored")
    print(f"  repeat referrals (person on file already): {tally.repeats}")
    print(f"  found among the top 5:  {share(tally.top5, tally.repeats)}  (target {TARGET:.0%})")
    print(f"  found first (top 1):    {share(tally.top1, tally.repeats)}")
    print("\n  score threshold   repeats found at or above   precision of candidates at or above"
          "   false per search")  # fmt: skip
    for threshold in THRESHOLDS:
        right, wrong = tally.at[threshold]
        print(
            f"  {threshold:>15}   {share(tally.found_at[threshold], tally.repeats):>26}   "
            f"{share(right, right + wrong):>37}   {wrong / tally.searches:>16.3f}"
        )
    shown, wrong = tally.shown / tally.searches, tally.shown_false / tally.searches
    print(f"\n  candidates shown per search (score {identity.SHOWN}+, at most 5): {shown:.2f}, "
          f"of which not the person: {wrong:.2f}")  # fmt: skip
    print(
        f"  first referrals with a false 'likely' candidate (score {LIKELY}+): "
        f"{share(tally.first_with_likely, tally.first_referrals)} of {tally.first_referrals}"
    )
    print("\n  found among the top 5, by mistake in the repeat:")
    for mistake, (hit, total) in sorted(tally.by_mistake.items(), key=lambda kv: -kv[1][1]):
        print(f"    {mistake:<34} {share(hit, total):>7} of {total}")
    print("  by number of mistakes:")
    for count, (hit, total) in sorted(tally.by_count.items()):
        print(f"    {count:<34} {share(hit, total):>7} of {total}")
    print(
        f"\n  time per search with up to {tally.searches} people on file: median "
        f"{statistics.median(tally.times):.1f} ms, p95 {percentile(tally.times, 95):.1f} ms, "
        f"p99 {percentile(tally.times, 99):.1f} ms"
    )
    for referral, earlier, found in tally.misses[:show_misses]:
        print(f"\n  MISSED ({', '.join(referral.mistakes) or 'no mistake'}): {_said(referral.identity)}")
        for before in earlier:
            print(f"    on file: {_said(before)}")
        for candidate in found[:3]:
            print(f"    proposed {candidate.score}: {_said(candidate.identity)} {candidate.reasons}")
    for referral, candidate in tally.false_likely[:show_false]:
        print(
            f"\n  FALSE LIKELY {candidate.score}: {_said(referral.identity)} ({', '.join(referral.mistakes)})"
        )
        print(f"    proposed: {_said(candidate.identity)} {candidate.reasons}")


def _said(who: Identity) -> str:
    born = who.date_of_birth.isoformat() if who.date_of_birth else "?"
    return f"{who.given_names} / {who.family_names} {list(who.aliases)} {born} {who.gender or '?'}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    database_arguments(parser)
    parser.add_argument("--referrals", type=int, default=10_000, help="referrals in all (default 10000)")
    parser.add_argument("--repeats", type=float, default=0.2, help="the share that are repeats (default 0.2)")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--misses", type=int, default=0, help="show this many missed repeats")
    parser.add_argument("--false", type=int, default=0, help="show this many false 'likely' candidates")
    parser.add_argument("--check", action="store_true", help=f"exit 1 below {TARGET:.0%} found in the top 5")
    args = parser.parse_args(argv)
    repeats = round(args.referrals * args.repeats)
    people = args.referrals - repeats
    with tempfile.TemporaryDirectory() as directory:
        tally = run(
            args.database_url, directory, reset=args.reset, people=people, repeats=repeats, seed=args.seed
        )
    dialect = "PostgreSQL" if args.database_url and args.database_url.startswith("postgresql") else "SQLite"
    report(tally, dialect, people, args.misses, args.false)
    if args.check and tally.top5 < TARGET * tally.repeats:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
