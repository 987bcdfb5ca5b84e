"""The rules that find each kind of identifier in a note, English and French alike.

Each `find_<kind>` takes a `Note` (the text, its words and the people the language model saw)
and yields `(start, end, score)` spans. Numbers are validated by their checksum where one
exists; where none exists (UK bank accounts, passports, 12-digit French identity cards), the
number must stand next to a word that says what it is. Names come from three sources that back
each other: lists of given names and family names of many origins, the words around a name
(relation words, "called", "s'appelle", a title), and the people the spaCy model marks.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from functools import cache

import phonenumbers
from stdnum import iban as stdnum_iban
from stdnum import luhn
from stdnum.fr import nir as stdnum_nir
from stdnum.gb import nhs as stdnum_nhs

from models import clock
from services import identifier_lexicon as lexicon
from services.identifier_lexicon import fold

Span = tuple[int, int, float]

# A date more than this many days old, written in full, is taken as a date of birth.
OLD_DATE_DAYS = 3 * 365


@dataclass(frozen=True)
class Word:
    start: int
    end: int
    text: str
    folded: str
    initial: bool  # first word of a sentence, a line, or after a colon or quote
    capitalised: bool = field(init=False)
    upper: bool = field(init=False)

    def __post_init__(self) -> None:
        letters_only = not any(char.isdigit() or char == "_" for char in self.text)
        capitalised = letters_only and (self.text[:1].isupper() or bool(_PREFIXED.match(self.text)))
        object.__setattr__(self, "capitalised", capitalised)
        object.__setattr__(self, "upper", len(self.text) > 1 and self.text.isupper())


@dataclass
class Note:
    text: str
    people: list[tuple[int, int]] = field(default_factory=list)  # spans the model marked PER
    today: date = field(default_factory=clock.today)
    words: list[Word] = field(init=False)

    def __post_init__(self) -> None:
        self.words = list(_words(self.text))


_WORD = re.compile(r"\w(?:\w|['’](?=\w)|-(?=\w))*")
_PREFIXED = re.compile(r"^(?:al|el|ben|bin|abu|ibn|d|o)['’-][A-ZÀ-Ý]")
_ELISION = re.compile(r"(?i)^(?:l|d|s|qu|m|n|j|c|t|jusqu|lorsqu|puisqu)['’]")
_SENTENCE_BREAK = re.compile(r"[.!?;:\n•«»\"“”\[\]]|(?:\s[-–—]\s)")
# Abbreviations whose full stop does not end a sentence: "M. Traoré", "Dr. Kaur".
_ABBREVIATIONS = frozenset(
    [
        "m",
        "mr",
        "mrs",
        "ms",
        "mx",
        "dr",
        "mme",
        "mlle",
        "st",
        "pr",
        "me",
        "sgt",
        "insp",
        "supt",
        "det",
        "prof",
        "cllr",
        "capt",
        "rev",
    ]
)


def _words(text: str) -> Iterator[Word]:
    previous_end = 0
    previous_folded = previous_text = ""
    for match in _WORD.finditer(text):
        start, token = match.start(), match.group()
        pieces = []
        elision = _ELISION.match(token)
        if elision and len(token) > elision.end():
            pieces.append((start, token[: elision.end()]))
            start, token = start + elision.end(), token[elision.end() :]
        if re.search(r"['’]s$", token) and len(token) > 2:
            pieces.append((start, token[:-2]))
            pieces.append((start + len(token) - 2, token[-2:]))
        else:
            pieces.append((start, token))
        for piece_start, piece in pieces:
            gap = text[previous_end:piece_start]
            initial = previous_end == 0 or bool(_SENTENCE_BREAK.search(gap))
            if initial and previous_folded in _ABBREVIATIONS and gap.strip() == ".":
                initial = False
            # "Mrs J. Khan": the full stop of an initial ends no sentence.
            if initial and len(previous_text) == 1 and previous_text.isupper() and gap.strip() == ".":
                initial = False
            previous_folded, previous_text = fold(piece), piece
            yield Word(piece_start, piece_start + len(piece), piece, fold(piece), initial)
            previous_end = piece_start + len(piece)


# --- names -----------------------------------------------------------------------------------

_PARTICLES = lexicon.word_set("de du des van von der den al el ben bin ibn da dos das di del della la le")
_FILLERS = lexicon.word_set(
    """the our new their his her its is was are a an who whose called 's s his younger older elder
    eldest oldest youngest little big baby half step twin notre votre son sa ses leur le la les l
    de du des d un une grand grande petit petite aine ainee cadet cadette est etait nouveau
    nouvelle ancien ancienne actuel actuelle"""
)
_NOT_NAME_UPPER = lexicon.word_set(
    """dob ddn nhs ni nir ine iban ip tel mob mobile email mail cni rib pc dc ds yp cyp uk usa fr
    ok nfa rip re pt aka tbc asap rdv dv"""
)
_NAMING = re.compile(
    r"(?:"
    + "|".join(re.escape(cue) for cue in sorted(lexicon.NAMING_CUES, key=len, reverse=True))
    + r")\s*[:,]?\s*$"
)
_NAMING_VERB_ONLY = {"dit", "dite", "nom", "prenom", "pseudo", "name:", "alias"}


def _is_named_here(note: Note, position: int) -> bool:
    """Whether the text just before `position` says that what follows is what someone is called."""
    before = fold(note.text[max(0, position - 40) : position])
    match = _NAMING.search(before)
    if not match:
        return False
    cue = match.group().strip(" :,")
    if cue in {"dit", "dite"}:  # "dit" is also "said": only "X, dit « Y »" or "dit Y" after a name
        return before[: match.start()].rstrip().endswith(",")
    # "called" on its own is a phone call ("DSL called Early Help"): only "is/be/was called".
    return True


def _role_or_relation_before(note: Note, index: int) -> str | None:
    """'staff', 'family' or 'title' (a courtesy title alone) from the words before word `index`."""
    words = note.words
    if index == 0 or words[index].initial:
        return None
    skipped_content = 0
    comma = "," in note.text[words[index - 1].end : words[index].start]
    courtesy = None
    back = index - 1
    while back >= 0 and back > index - 9:
        word = words[back]
        if word.folded in lexicon.PROFESSIONAL_TITLES and word.capitalised:
            return "staff"
        if word.folded in lexicon.COURTESY_TITLES and (word.capitalised or word.folded in _LOWER_TITLES):
            if _role_ahead_of_title(note, back):
                return "staff"
            courtesy = "title"
        elif word.folded in lexicon.ROLE_WORDS and (word.folded != "as" or word.upper):
            return "staff"
        elif word.folded in lexicon.RELATION_WORDS:
            # "mum's Santander": what follows belongs to mum, it is not her name.
            owned = back + 1 < len(words) and words[back + 1].folded == "'s"
            return None if owned else "family"
        elif word.folded in {"and", "et", "&", "or", "ou"} and back and words[back - 1].capitalised:
            back -= 1  # "Kelly Nash and Darren Fox": the words before the first name decide both
            while back > 0 and words[back].capitalised and not words[back].initial:
                back -= 1
            continue
        elif word.folded in _FILLERS or (len(word.text) == 1 and word.text.isupper()):
            pass  # fillers, and initials: "Mrs J. Khan"
        elif comma and skipped_content < 2 and not word.initial and word.folded not in lexicon.STOPWORDS:
            skipped_content += 1
        else:
            return courtesy
        if word.initial:
            return courtesy
        back -= 1
    return courtesy


_COPULAS = frozenset({"is", "was", "est", "etait"})
_JOINERS = frozenset({"of", "for", "de", "du", "des", "la", "le", "l'", "d'"})


def _role_ahead_of_title(note: Note, title: int) -> bool:
    """A role a few words before a courtesy title: staff, as in "L'éducatrice ASE, Mme Ferreira",
    "the new CPIP is M. Dubois" or "Head of RE Mr Hussain".

    Joined to the title by a comma or a copula, the role may carry a few words of its own
    (a service, an adjective); otherwise only acronyms and "of"/"de" may stand between, so
    that "Teacher reported Mrs Begum came in" still reads Mrs Begum as a name.
    """
    words = note.words
    if title == 0:
        return False
    back = title - 1
    joined = "," in note.text[words[back].end : words[title].start]
    if words[back].folded in _COPULAS:
        joined, back = True, back - 1
    for _ in range(5 if joined else 3):
        if back < 0:
            return False
        word = words[back]
        if word.folded in lexicon.RELATION_WORDS:
            return False
        if word.folded in lexicon.ROLE_WORDS and (word.folded != "as" or word.upper):
            return True
        if not joined and not (word.upper or word.folded in _JOINERS):
            return False
        if word.initial:
            return False
        back -= 1
    return False


_APPOSITION = re.compile(r"^\s*(?:\(|,|\s[-–—]|\s(?=(?:the|our|notre|votre|from|du|de|of|at|au)\b))", re.I)


def _role_after(note: Note, end_index: int) -> bool:
    """A role in apposition after the name: "Mrs Patel (DSL)", "M. Garnier, prof principal"."""
    words = note.words
    if end_index + 1 >= len(words):
        return False
    after = note.text[words[end_index].end : words[end_index + 1].end]
    if not _APPOSITION.match(after):
        return False
    for ahead in range(end_index + 1, min(len(words), end_index + 6)):
        word = words[ahead]
        if ahead > end_index + 1 and word.initial:
            return False
        if word.folded in lexicon.RELATION_WORDS:
            return False
        if word.folded in lexicon.ROLE_WORDS and not (word.folded == "as" and not word.upper):
            return True
        if word.folded in lexicon.PROFESSIONAL_TITLES and word.folded not in {"me", "m", "pr"}:
            return True
    return False


_SERVICE_WORDS = lexicon.word_set(
    "service services team hub council unit police trust charity agency department office project"
)


def _staff_from(note: Note, end_index: int) -> bool:
    """ "Kelly from Early Help", "Sophie de l'ASE": a name followed by the agency it works for."""
    words = note.words
    if end_index + 2 >= len(words) or words[end_index + 1].folded not in {"from", "de", "du", "d'"}:
        return False
    english = words[end_index + 1].folded == "from"
    for ahead in range(end_index + 2, min(len(words), end_index + 6)):
        word = words[ahead]
        if word.initial or word.folded in lexicon.RELATION_WORDS:
            return False
        if word.folded.rstrip("'") in lexicon.STOPWORDS or word.folded in _PARTICLES:
            continue
        owned = ahead + 1 < len(words) and words[ahead + 1].folded == "'s"  # "Barnardo's"
        if (word.upper or word.capitalised) and (
            word.folded in lexicon.organisations()
            or (owned and word.folded + "'s" in lexicon.organisations())
        ):
            return True
        return english and word.folded in _SERVICE_WORDS
    return False


def _name_like(word: Word) -> bool:
    if not word.capitalised or len(word.text) < 2:
        return False
    if word.upper and (word.folded in _NOT_NAME_UPPER or len(word.text) <= 3):
        return word.folded in lexicon.given_names() or word.folded in lexicon.surnames()
    return not (word.upper and len(word.text) <= 5 and word.folded in lexicon.organisations())


def _runs(note: Note) -> Iterator[tuple[int, int]]:
    """Index ranges [i, j] of consecutive capitalised words on one line, joined by spaces only."""
    words = note.words
    i = 0
    while i < len(words):
        if not _name_like(words[i]):
            i += 1
            continue
        j = i
        while j + 1 < len(words):
            gap = note.text[words[j].end : words[j + 1].start]
            if gap.strip(" ") or "\n" in gap or len(gap) > 3:
                break
            following = words[j + 1]
            if _name_like(following) and not following.initial:
                j += 1
            elif (
                following.folded in _PARTICLES
                and j + 2 < len(words)
                and _name_like(words[j + 2])
                and note.text[following.end : words[j + 2].start] == " "
            ):
                j += 2
            elif (
                following.folded in {"n'", "d'"}
                and following.capitalised
                and j + 2 < len(words)
                and _name_like(words[j + 2])
                and note.text[following.end : words[j + 2].start] == ""
            ):
                j += 2  # "Marie-Ange N'Guessan", "Priya D'Souza"
            else:
                break
        yield i, j
        i = j + 1


def _listed_name(word: Word, names: frozenset[str]) -> bool:
    if "-" in word.folded and word.folded not in names:
        # "Tyler-Jay", "Lou-Anne", "Ashworth-Bell": every part a listed name
        parts = word.folded.split("-")
        return all(part in names and part not in lexicon.STOPWORDS and len(part) > 1 for part in parts)
    return (
        word.folded in names
        and word.folded not in lexicon.ordinary_words()
        and word.folded not in lexicon.STOPWORDS
        and len(word.folded) > 2
    )


def _part_of_something_else(note: Note, i: int, j: int) -> bool:
    """The capitalised words name a school, street, team or agency, not a person."""
    words = note.words
    # A particle ("de", "van", "al") is no evidence of an agency: "Anne-Sophie de Villiers".
    folded = [word.folded for word in words[i : j + 1] if word.folded not in _PARTICLES]
    organisations = lexicon.organisations()
    if any(part in organisations or part in lexicon.INSTITUTION_WORDS for part in folded):
        return True
    if j + 1 < len(words) and words[j + 1].folded in lexicon.INSTITUTION_WORDS:
        gap = note.text[words[j].end : words[j + 1].start]
        if not gap.strip():
            return True
    if (
        i > 0
        and words[i - 1].folded in lexicon.INSTITUTION_WORDS
        and not words[i - 1].capitalised
        and not note.text[words[i - 1].end : words[i].start].strip()
    ):
        return True
    # "12 Mill Road", "5 rue …": the address rule has it.
    before = note.text[max(0, words[i].start - 8) : words[i].start]
    return i > 0 and bool(re.search(r"\d\s*(?:bis|ter)?\s*$", before))


def _public_figure(note: Note, i: int, j: int) -> bool:
    figures = lexicon.public_figures()
    words = note.words
    phrase = " ".join(word.folded for word in words[i : j + 1])
    if phrase in figures:
        return True
    # "Jordan Peterson" inside "Jordan Peterson documentary", or "Marine Le Pen" in a longer run.
    return any(
        " ".join(word.folded for word in words[a : b + 1]) in figures
        for a in range(i, j + 1)
        for b in range(a + 1, j + 1)
    )


def _place(note: Note, i: int, j: int) -> bool:
    places = lexicon.places()
    return all(word.folded in places for word in note.words[i : j + 1])


def _person_marked(note: Note, start: int, end: int) -> bool:
    return any(p_start < end and start < p_end for p_start, p_end in note.people)


def find_names(note: Note) -> Iterator[Span]:
    words = note.words
    given, family = lexicon.given_names(), lexicon.surnames()
    for i, j in _runs(note):
        # Leading words that introduce the name rather than belong to it.
        while i <= j and (
            words[i].folded in lexicon.RELATION_WORDS
            or words[i].folded in lexicon.PROFESSIONAL_TITLES
            or words[i].folded in lexicon.COURTESY_TITLES
            or words[i].folded in lexicon.ROLE_WORDS
            or words[i].folded in lexicon.STOPWORDS
            or words[i].folded in _NOT_NAME_UPPER
            or (
                words[i].initial
                and words[i].folded in lexicon.ordinary_words()
                and words[i].folded not in given
                and i < j
            )
        ):
            i += 1
        while j >= i and (words[j].folded in _NOT_NAME_UPPER or words[j].folded in _PARTICLES):
            j -= 1
        if i > j or j - i > 3:
            continue
        run = words[i : j + 1]
        start, end = run[0].start, run[-1].end
        if _public_figure(note, i, j) or _part_of_something_else(note, i, j):
            continue
        context = _role_or_relation_before(note, i)
        if context == "staff" or (context != "family" and (_role_after(note, j) or _staff_from(note, j))):
            continue
        named = _is_named_here(note, start)
        if _place(note, i, j) and not named and context != "family":
            continue
        listed = [_listed_name(word, given) or _listed_name(word, family) for word in run]
        first_given = _listed_name(run[0], given)
        ordinary = [word.folded in lexicon.ordinary_words() for word in run]
        if named or context in {"family", "title"}:
            if len(run) == 1 and run[0].folded in lexicon.STOPWORDS:
                continue
            adjacent = i > 0 and words[i - 1].folded in lexicon.RELATION_WORDS | lexicon.COURTESY_TITLES
            if len(run) == 1 and ordinary[0] and not (named or adjacent):
                continue
            yield start, end, 0.85
        elif len(run) >= 2:
            if first_given or any(listed[1:]) or (any(listed) and not all(ordinary)):
                yield start, end, 0.8
            elif not any(ordinary) and _person_marked(note, start, end) and not run[0].upper:
                yield start, end, 0.6
        elif first_given and not ordinary[0]:
            yield start, end, 0.7
    yield from _lower_case_names(note)
    yield from _owner_of_relation(note)
    yield from _relation_in_brackets(note)


# "Kian (brother)", "Fatou (la sœur)": a capitalised word with its relation in brackets after it.
_BRACKETED_RELATION = re.compile(r"\s*\(\s*(?:(?:the|his|her|their|la|le|sa|son|l['’])\s*)?([\w'’-]+)\s*\)")


def _relation_in_brackets(note: Note) -> Iterator[Span]:
    for word in note.words:
        if not word.capitalised or word.upper or len(word.text) < 2:
            continue
        match = _BRACKETED_RELATION.match(note.text, word.end)
        if (
            match
            and fold(match.group(1)) in _KIN_BOTH
            and word.folded not in _NOT_OWNER
            and word.folded not in lexicon.organisations()
            and word.folded not in lexicon.places()
            and word.folded not in _CALENDAR
        ):
            yield word.start, word.end, 0.7


# Family and friends a name can own: "Riya's mum", "Kacper's brother".
_KIN = lexicon.word_set(
    """mum mom mother mam mummy dad father daddy brother sister bro sis sibling siblings uncle aunt
    auntie aunty cousin gran granny grandma grandmother nan nana nanna grandad grandpa grandfather
    stepdad stepmum stepfather stepmother step-dad step-mum son daughter partner girlfriend
    boyfriend wife husband mate mates friend friends nephew niece twin carer carers parents"""
)


_CALENDAR = lexicon.word_set(
    """monday tuesday wednesday thursday friday saturday sunday today tomorrow yesterday tonight
    january february march april may june july august september october november december
    christmas easter weekend week month year term"""
)


_KIN_BOTH = _KIN | lexicon.word_set(
    """mere pere maman papa frere soeur oncle tante cousin cousine grand-mere grand-pere beau-pere
    belle-mere demi-frere demi-soeur copain copine ami amie pote compagne compagnon mari epouse"""
)
_NOT_OWNER = (
    lexicon.RELATION_WORDS | lexicon.ROLE_WORDS | lexicon.STOPWORDS | lexicon.COURTESY_TITLES
    | lexicon.PROFESSIONAL_TITLES | lexicon.INSTITUTION_WORDS
)  # fmt: skip


def _owner_of_relation(note: Note) -> Iterator[Span]:
    """ "Riya's mum": a capitalised word that owns a relative is a name, listed or not."""
    words = note.words
    for index, word in enumerate(words[:-2]):
        if (
            word.capitalised
            and not word.upper
            and len(word.text) > 1
            and words[index + 1].folded == "'s"
            and words[index + 2].folded in _KIN
            and word.folded not in lexicon.organisations()
            and word.folded not in lexicon.places()
            and word.folded not in _NOT_OWNER
            and word.folded not in _CALENDAR
        ):
            yield word.start, word.end, 0.7


# Verbs that report what a person said: a listed given name typed in lower case before one is a
# name ("kyle says", "hugo dit").
_REPORTING = lexicon.word_set(
    """said says told tells stated states disclosed discloses reported reports admitted admits
    denied denies explained explains claimed claims alleged alleges confirmed confirms
    dit explique raconte declare affirme reconnait indique confie nie pretend avoue"""
)
# Lower-case courtesy titles that stand before a name ("mrs pauline hardcastle"); not "m", which
# is also an elided pronoun.
_LOWER_TITLES = lexicon.word_set("mr mrs ms miss mme mlle madame monsieur")
# Words before a lower-case name that say a person is met or spoken to ("spoke to kyle").
_MET_WITH = re.compile(r"(?i)\b(?:spoke|spoken|speak|speaking|talked|talking|met|meeting)\s+(?:to|with)\s+$")
# "ioan and his cousin", "hugo et son pote": a name joined to a relation of theirs.
_AND_RELATION = re.compile(r"(?i)\s+(?:and|et|&)\s+(?:his|her|their|son|sa|ses|leur)\s+([\w-]+)")


def _lower_case_names(note: Note) -> Iterator[Span]:
    """ "léa caron", "mum aisha": names typed without capitals."""
    words = note.words
    given, family = lexicon.given_names(), lexicon.surnames()
    for index, word in enumerate(words):
        if word.capitalised:
            continue
        full = _lower_full_name(note, index)
        if full is not None:
            yield word.start, words[full].end, 0.7
        elif (
            index + 1 < len(words)
            and _listed_name(word, given)
            and not words[index + 1].capitalised
            and _listed_name(words[index + 1], family)
            and note.text[word.end : words[index + 1].start] == " "
        ):
            # Staff named in their role stay staff: "the DSL, mrs sarah jones".
            if not (
                _role_or_relation_before(note, index) == "staff"
                or _role_after(note, index + 1)
                or _staff_from(note, index + 1)
            ):
                yield word.start, words[index + 1].end, 0.7
        elif (
            _listed_name(word, given)
            and index
            and (
                (words[index - 1].folded in lexicon.RELATION_WORDS and not words[index].initial)
                or _is_named_here(note, word.start)
                # "le frère de yanis", "the brother of kyle"
                or (
                    index > 1
                    and words[index - 1].folded in {"de", "d'", "of"}
                    and words[index - 2].folded in lexicon.RELATION_WORDS
                    and not word.initial
                )
            )
        ):
            yield word.start, word.end, 0.7
        elif _listed_name(word, given) and (
            (index and words[index - 1].folded in _LOWER_TITLES and not word.initial)
            or (index + 1 < len(words) and words[index + 1].folded in _REPORTING)
            or _MET_WITH.search(note.text[max(0, word.start - 30) : word.start])
            or _relation_follows(note.text, word.end)
        ):
            last = index
            # "mrs pauline hardcastle": the word after a titled given name is the family name.
            if (
                index
                and words[index - 1].folded in _LOWER_TITLES
                and index + 1 < len(words)
                and note.text[word.end : words[index + 1].start] == " "
                and words[index + 1].text.isalpha()
                and words[index + 1].folded not in _NOT_SURNAME
            ):
                last = index + 1
            # Staff named in their role stay staff: "our dsl, mrs sarah jones", "mrs sarah jones (dsl)".
            if (
                _role_or_relation_before(note, index) == "staff"
                or _role_after(note, last)
                or _staff_from(note, last)
            ):
                continue
            yield word.start, words[last].end, 0.65


_NOT_SURNAME = lexicon.STOPWORDS | lexicon.ROLE_WORDS | lexicon.RELATION_WORDS | _REPORTING

# Particles that begin a family name and are no ordinary English or French word: "kevin da
# silva", "omar el amrani", "sami ben salah". "van" (also a vehicle) needs "der"/"den" or a
# listed family name after it; French "de", "du", "le", "la" need a listed family name.
_STRONG_PARTICLES = lexicon.word_set("da di dos das del della von der den ter el al ben bin ibn abu mac mc")
_WEAK_PARTICLES = lexicon.word_set("van de du des le la")
_ANY_PARTICLES = _STRONG_PARTICLES | _WEAK_PARTICLES
# "marie-ange n'guessan", "priya d'souza": the elided "n'" or "d'" is split off the family name.
_ELIDED_PARTICLES = frozenset({"n'", "d'"})
# French words that follow an elided "n'" or "d'" after a name ("léa n'est pas", "hugo d'abord").
_ELIDED_WORDS = lexicon.word_set(
    """est etait a ai as avait avaient ont y en aime aimait veut voulait va allait sait savait
    peut pouvait importe arrive arrivait habite accord abord ailleurs habitude autres apres"""
)
# "siobhan o'brien", "ryan o'connor": Irish and Scottish prefixes joined by an apostrophe.
_APOSTROPHE_SURNAME = re.compile(r"^(?:o|mc|mac)'[a-z]{2,}$")
_SIMPLE_WORD = re.compile(r"^[^\W\d_]{3,}$")


def _not_family_word(folded: str) -> bool:
    """A word that says something else next to a name: a role, relation, title, place, agency, day."""
    return (
        folded in _NOT_SURNAME
        or folded in lexicon.PROFESSIONAL_TITLES
        or folded in lexicon.COURTESY_TITLES
        or folded in lexicon.INSTITUTION_WORDS
        or folded in lexicon.places()
        or folded in lexicon.organisations()
        or folded in _CALENDAR
    )


def _not_family(folded: str) -> bool:
    return _not_family_word(folded) or folded in lexicon.ordinary_words()


def _lower_given(word: Word) -> bool:
    """A listed given name, or a hyphenated one whose first part is listed ("kiera-leigh")."""
    if word.folded in _PARTICLES or word.folded in _WEAK_PARTICLES:
        return False  # "van", "ben": a particle here, not a given name
    if _listed_name(word, lexicon.given_names()):
        return True
    parts = word.folded.split("-")
    return (
        len(parts) > 1
        and _listed_name(Word(word.start, word.end, parts[0], parts[0], False), lexicon.given_names())
        and all(_SIMPLE_WORD.match(part) or part in lexicon.given_names() for part in parts[1:])
        and not any(part in lexicon.STOPWORDS for part in parts[1:])
    )


def _loose_family(word: Word) -> bool:
    """A word that can be a family name after a particle: letters only, no ordinary or known word."""
    return bool(_SIMPLE_WORD.match(word.folded)) and not _not_family(word.folded)


def _lower_full_name(note: Note, index: int) -> int | None:
    """ "kevin da silva", "marie-ange n'guessan", "kiera-leigh brennan", "siobhan o'brien": a
    given name typed in lower case followed by a family name, with or without a particle. Returns
    the index of the last word of the name, or None. Staff named in their role stay staff."""
    words = note.words
    word = words[index]
    if not _lower_given(word) or index + 1 >= len(words):
        return None
    family = lexicon.surnames()

    def joined(a: int, b: int, gap: str = " ") -> bool:
        return note.text[words[a].end : words[b].start] == gap

    nxt = words[index + 1]
    last = None
    if not joined(index, index + 1) or nxt.capitalised:
        return None
    if _listed_name(nxt, family) and "-" in word.folded and not _not_family(nxt.folded):
        last = index + 1  # a listed given + listed family name is the older rule's
    elif _APOSTROPHE_SURNAME.match(nxt.folded):
        last = index + 1
    elif (
        nxt.folded in family
        and nxt.folded in lexicon.ordinary_words()
        and len(nxt.folded) > 2
        and not _not_family_word(nxt.folded)
        and not nxt.initial
    ):
        # "maëlys fontaine", "kyle brown": a family name that is also an ordinary word, after a
        # given name that is not one
        last = index + 1
    elif "-" in word.folded and not _listed_name(word, lexicon.given_names()) and _loose_family(nxt):
        # "kiera-leigh brennan": a hyphenated given name followed by a name-like word
        last = index + 1 if nxt.folded not in _REPORTING else None
    elif nxt.folded in _ELIDED_PARTICLES and index + 2 < len(words) and joined(index + 1, index + 2, ""):
        after = words[index + 2]
        if _loose_family(after) and after.folded not in _ELIDED_WORDS:
            last = index + 2
    elif nxt.folded in _ANY_PARTICLES and index + 2 < len(words):
        k = index + 2
        # "van der berg", "de la cruz": a second particle
        if words[k].folded in _ANY_PARTICLES and k + 1 < len(words) and joined(k - 1, k):
            k += 1
        after = words[k]
        if joined(k - 1, k) and not after.capitalised:
            strong = nxt.folded in _STRONG_PARTICLES or (k > index + 2 and nxt.folded == "van")
            if _listed_name(after, family) or (strong and _loose_family(after)):
                last = k
    if last is None:
        return None
    if _role_or_relation_before(note, index) == "staff" or _role_after(note, last) or _staff_from(note, last):
        return None
    return last


def _relation_follows(text: str, end: int) -> bool:
    match = _AND_RELATION.match(text, end)
    return match is not None and fold(match.group(1)) in lexicon.RELATION_WORDS


# --- nicknames -------------------------------------------------------------------------------

_QUOTED = r"[\"“«‘]\s*([^\"”»’\n]{1,40}?)\s*[\"”»’]"
_NICKNAME_CUE = (
    r"(?i)(?:\baka|\ba\.k\.a\.|\balias|\bgoes by|\bwent by|\bknown as|\bcalls? (?:him|her|them)sel(?:f|ves)"
    r"|\bnicknamed|\bse fai(?:t|sait) appeler|\bsurnomm[ée]e?|\bl['’]appel(?:le|lent|ait|aient)"
    r"|\bs['’]appel(?:le|ait)|\b(?:is|be|was|being|get|gets|got) called|,\s*dite?|\bpseudo"
    r"|\b(?:nick ?name|street name|surnom|blaze)(?:\s+(?:is|was|c['’]est|est|:))?)"
    r"(?:\s+(?:lui-m[êe]me|elle-m[êe]me|himself|herself|online|en ligne|(?:on|sur) (?:the |les |le |la )?\w+))?"  # noqa: E501
    r"\s*[:,]?\s*"
)
_NICKNAME = re.compile(_NICKNAME_CUE + _QUOTED)
# 'Sniper' in straight single quotes: after a cue, a quote before a word is no apostrophe.
_NICKNAME_SINGLE = re.compile(_NICKNAME_CUE + r"'(?=\w)([^'\n]{1,40}?)'(?!\w)")


_BARE_NICKNAME = re.compile(
    r"(?i:\baka|\ba\.k\.a\.|\balias|\bsurnomm[ée]e?|\bnicknamed|\bse fai(?:t|sait) appeler"
    r"|\b(?:nick ?name|street name|surnom|blaze)(?:\s+(?:is|was|c['’]est|est))?\s*:?)\s+"
    r"((?:[A-ZÀ-Ý][\w'’-]*|[A-Z0-9]{2,})(?:\s+[A-ZÀ-Ý][\w'’-]*){0,2})"
)
# The name first, then what it is: « "Lil T" is his street name », « « Tito », c'est son surnom ».
_NICKNAME_BEFORE = re.compile(
    _QUOTED + r"\s*(?i:,?\s*(?:is|was|c['’]est|étant)\s+(?:his|her|their|son|sa|leur)\s+"
    r"(?:nick ?name|street name|name online|tag|alias|surnom|pseudo|blaze)"
    r"|\s*(?:is )?what (?:they|people|his friends|her friends) call (?:him|her)"
    r"|,?\s*comme (?:on|ils|elles) l['’]appel(?:le|lent))"
)


# « Nassim Kaddour dit « le Kabyle » »: "dit" right after a name, before a quoted name (not a
# quoted saying: those begin with a pronoun or run longer).
_NAME_DIT = re.compile(r"\b[A-ZÀ-Ý][\w'’-]+\s+dite?\s*" + _QUOTED)
# « the lads call him 'Smurf' »: a name in capitals (« called her 'a liar' » is no name).
# Straight single quotes count here: right after "call him", one is no apostrophe.
_CALLED = re.compile(
    r"(?i:\bcall(?:s|ed|ing)? (?:him|her))\s*[:,]?\s*" + r"(?:" + _QUOTED + r"|'\s*([^'\n]{1,40}?)\s*'(?!\w))"
)
_NAME_START = re.compile(r"^(?:(?:le|la|les|l['’]|el|the)\s*)?[A-ZÀ-Ý]")
_SAYING_START = lexicon.word_set("je j il elle on nous vous ils elles c ca ce i we you they it")


_RELATION_QUOTED = re.compile(r"([\w'’-]+)\s*" + _QUOTED)
# "known to the boys in the park as 'Mimi'": "known … as" with a few words between, then quotes.
_KNOWN_TO_AS = re.compile(
    r"(?i:\bknown\s+(?:to|by|among|amongst|in|on)\b[^.\n\"“«‘]{1,50}?\bas)\s*[:,]?\s*"
    r"(?:" + _QUOTED + r"|'(?=\w)([^'\n]{1,40}?)'(?!\w))"
)
# Words in quotes after a name that are a saying, not a nickname: Kyle "No" he said.
_INTERJECTIONS = lexicon.word_set("yes no ok okay hello hi bye sorry what why stop help thanks oui non merci")


def find_nicknames(note: Note) -> Iterator[Span]:
    for match in [*_NAME_DIT.finditer(note.text), *_CALLED.finditer(note.text)]:
        group = 1 if match.group(1) is not None else 2
        quoted = match.group(group)
        first = fold(quoted.split()[0].split("'")[0].split("’")[0])
        if len(quoted.split()) <= 3 and _NAME_START.match(quoted) and first not in _SAYING_START:
            yield match.start(group), match.end(group), 0.75
    for match in [*_NICKNAME.finditer(note.text), *_NICKNAME_SINGLE.finditer(note.text)]:
        if len(match.group(1).split()) <= 4:
            yield match.start(1), match.end(1), 0.8
    for match in _BARE_NICKNAME.finditer(note.text):
        first = fold(match.group(1).split()[0])
        if len(match.group(1)) < 2 or note.text[match.end(1) : match.end(1) + 1] == "/":
            continue  # "nickname: N/A"
        if first in _CALENDAR or first in lexicon.COURTESY_TITLES or first in lexicon.PROFESSIONAL_TITLES:
            continue  # "nickname: Monday", "surnom : M. …"
        yield match.start(1), match.end(1), 0.75
    # uncle "Bash", la cousine « Nana »: a quoted name right after a relation word
    for match in _RELATION_QUOTED.finditer(note.text):
        quoted = match.group(2)
        first = fold(quoted.split()[0].split("'")[0])
        if (
            fold(match.group(1)) in _KIN_BOTH
            and len(quoted.split()) <= 3
            and _NAME_START.match(quoted)
            and first not in _SAYING_START
        ):
            yield match.start(2), match.end(2), 0.75
    for match in _NICKNAME_BEFORE.finditer(note.text):
        if len(match.group(1).split()) <= 4:
            yield match.start(1), match.end(1), 0.8
    for match in _KNOWN_TO_AS.finditer(note.text):
        group = 1 if match.group(1) is not None else 2
        if len(match.group(group).split()) <= 3:
            yield match.start(group), match.end(group), 0.75
    # Jordan "JJ" Smith, « Bébé » after Nassim: a quoted name right after a listed name
    given, family = lexicon.given_names(), lexicon.surnames()
    for match in _RELATION_QUOTED.finditer(note.text):
        before, quoted = match.group(1), match.group(2)
        first = fold(quoted.split()[0].split("'")[0])
        if (
            before[:1].isupper()
            and (fold(before) in given or fold(before) in family)
            and fold(before) not in lexicon.ordinary_words()
            and len(quoted.split()) <= 2
            and quoted[:1].isupper()
            and first not in _SAYING_START
            and first not in _INTERJECTIONS
        ):
            yield match.start(2), match.end(2), 0.7


# --- dates of birth --------------------------------------------------------------------------

_MONTHS = {
    "jan": 1, "january": 1, "janvier": 1, "janv": 1, "feb": 2, "february": 2, "fevrier": 2, "fev": 2,
    "mar": 3, "march": 3, "mars": 3, "apr": 4, "april": 4, "avril": 4, "avr": 4, "may": 5, "mai": 5,
    "jun": 6, "june": 6, "juin": 6, "jul": 7, "july": 7, "juillet": 7, "juil": 7, "aug": 8,
    "august": 8, "aout": 8, "sep": 9, "sept": 9, "september": 9, "septembre": 9, "oct": 10,
    "october": 10, "octobre": 10, "nov": 11, "november": 11, "novembre": 11, "dec": 12,
    "december": 12, "decembre": 12,
}  # fmt: skip
_MONTH = r"(?:jan(?:uary|vier|v)?|feb(?:ruary)?|f[ée]v(?:rier)?|mar(?:ch|s)?|apr(?:il)?|avr(?:il)?|may|mai|june?|juin|july?|juil(?:let)?|aug(?:ust)?|ao[ûu]t|sept?(?:ember|embre)?|oct(?:ober|obre)?|nov(?:ember|embre)?|d[ée]c(?:ember|embre)?)\.?"  # noqa: E501
_DAY = r"(?:[12]\d|3[01]|0?[1-9])(?:st|nd|rd|th|er)?"
_DATES = [
    re.compile(r"(?<![\d/.:-])(\d{1,2})[/.-](\d{1,2})[/.-](\d{4}|\d{2})(?![\d/]|\.\d)"),
    re.compile(r"(?<![\d/.-])(\d{4})-(\d{2})-(\d{2})(?![\d-])"),
    re.compile(rf"(?i)\b({_DAY})(?:\s+of)?(?:\s+|\s*[-/]\s*)({_MONTH})(?:(?:,?\s+|\s*[-/]\s*)(\d{{4}}))?\b"),
    re.compile(rf"(?i)\b({_MONTH})\s+({_DAY}),?\s+(\d{{4}})\b"),
]
_BIRTH_CUE = re.compile(
    r"(?i)(?:\bborn|\bb\.|\bdob\b|\bd\.o\.b\.?|date of birth|birth ?date|birthday|\bn[ée]e?\b(?:\s+le)?"
    r"|\bddn\b|date de naissance|naissance|\bd\.n\.)[\s:,(]*(?:on|le|as|is|the)?\s*$"
)


@dataclass(frozen=True)
class DateSpan:
    start: int
    end: int
    day: int
    month: int
    year: int | None


def dates(text: str) -> list[DateSpan]:
    found = []
    year: int | None
    for number, pattern in enumerate(_DATES):
        for match in pattern.finditer(text):
            groups = match.groups()
            try:
                if number == 0:
                    day, month, year = int(groups[0]), int(groups[1]), _year(groups[2])
                    if month > 12 and day <= 12:
                        day, month = month, day
                elif number == 1:
                    year, month, day = int(groups[0]), int(groups[1]), int(groups[2])
                elif number == 2:
                    day, month = int(re.sub(r"\D", "", groups[0])), _MONTHS[fold(groups[1]).rstrip(".")[:9]]
                    year = _year(groups[2]) if groups[2] else None
                else:
                    month, day = _MONTHS[fold(groups[0]).rstrip(".")[:9]], int(re.sub(r"\D", "", groups[1]))
                    year = _year(groups[2])
                date(year or 2000, month, day)
            except (KeyError, ValueError):
                continue
            found.append(DateSpan(match.start(), match.end(), day, month, year))
    return found


def _year(text: str) -> int:
    year = int(text)
    if len(text) == 2:
        year += 2000 if year <= clock.today().year % 100 else 1900
    return year


def find_dates_of_birth(note: Note) -> Iterator[Span]:
    for found in dates(note.text):
        cue = _BIRTH_CUE.search(note.text[max(0, found.start - 40) : found.start])
        if cue:
            yield found.start, found.end, 0.95
        elif found.year is not None:
            when = date(found.year, found.month, found.day)
            if (note.today - when).days > OLD_DATE_DAYS:
                yield found.start, found.end, 0.75


# --- age with a school or class, school or employer with a person ----------------------------

_CAP = r"[A-ZÀ-Ý][\w'’-]*"
_CAPS = rf"{_CAP}(?:\s+(?:of|de|du|des|la|le|l['’]|and|et|&)?\s*{_CAP}){{0,5}}"
_SCHOOL_EN = rf"(?:{_CAPS}\s+(?:CE\s+|RC\s+|C of E\s+)?(?:Academy|School|College|High|Primary|Grammar|Sixth Form|PRU|Pupil Referral Unit|University|Nursery|Madrassa|Madrasah))"  # noqa: E501
_SCHOOL_FR = rf"(?:(?:(?i:coll[èe]ge|lyc[ée]e(?:\s+professionnel|\s+polyvalent|\s+technique)?|[ée]cole(?:\s+primaire|\s+[ée]l[ée]mentaire)?|institut|universit[ée]|club de (?:boxe|foot(?:ball)?|lutte|judo|karat[ée]|rugby|basket|mma|muay[ -]tha[iï])(?: de| du| d['’])?)|LP|CFA|IME|ITEP|EREA)\s+(?:de\s+la\s+|du\s+|des\s+|d['’]|de\s+)?{_CAPS})"  # noqa: E501
_CLUB = rf"(?:\b(?:FC|AS|US|RC|SC|AC|ES)\s+{_CAPS}|{_CAPS}\s+(?:FC|AFC|Boxing Club|Football Club|Rugby Club|Cricket Club|Club|ABC|Boxing Gym|Gym))"  # noqa: E501
_INSTITUTION = rf"(?:{_SCHOOL_EN}|{_SCHOOL_FR}|{_CLUB})"
_CLASS = r"(?:(?:year|yr|y)\s?\d{1,2}[A-Z0-9]*|form\s+\w+|S[1-6]|P[1-7]|sixth form|\d{1,2}[A-Z]\d?|(?:[3-6]e|6ème|5ème|4ème|3ème|2nde|seconde|1re|1ère|premi[èe]re|terminale|Tle|CM[12]|CE[12]|CP)(?:\s+[A-Z](?![\w']))?)"  # noqa: E501
_AGE = r"(?i:\b(?:aged\s+)?(?<![\d/.,])\d{1,2}(?:\s*(?:ans|an|yo|y/o|yrs?|years?)(?:[\s-]*old)?|-year-old)?)"
_AGE_WITH_SCHOOL = re.compile(rf"{_AGE},?\s+(?:[^.\n;]{{0,50}}?)(?:{_INSTITUTION})")
# An age with a class that has its own letter or code ("form 10X2", "4e B") is as narrow.
_AGE_WITH_CLASS = re.compile(
    rf"{_AGE},?\s+(?:[^.\n;]{{0,30}}?)(?:(?i:form)\s+\d{{1,2}}[A-Z]\w*|\b[3-6]e\s+[A-Z]\b)"
)
_AGE_START = re.compile(rf"{_AGE}")
_WORKS_AT = re.compile(
    rf"(?i:\b(?:works?|working|worked|job|employed|employer|apprentice(?:ship)?|placement|travaille|bosse|employ[ée]e?|apprenti(?:ssage)?|stage|alternance|joue|plays?|playing|trains?|licenci[ée]e?|member)\b"
    rf"(?:\s+[a-zé]+){{0,2}}?(?:\s+(?:at|for|in|with|by|is|chez|à|au|aux|pour|dans|en|as|:))+\s*(?:the\s+|le\s+|la\s+|l['’])?)"
    rf"((?:{_CAP}(?:\s+{_CAP}){{0,3}})(?:\s+(?:warehouse|store|shop|factory|site|depot|garage|restaurant|caf[ée]|usine|entrep[ôo]t|magasin|supermarch[ée]|branch|plant))?"
    rf"(?:\s+(?:on|at|in|à|de|du|near)\s+{_CAP}(?:\s+{_CAP}){{0,2}})?)"
)


def _age_is_plausible(text: str) -> bool:
    number = re.search(r"\d{1,2}", text)
    return number is not None and 4 <= int(number.group()) <= 25


def find_ages_with_school(note: Note) -> Iterator[Span]:
    for match in [*_AGE_WITH_SCHOOL.finditer(note.text), *_AGE_WITH_CLASS.finditer(note.text)]:
        age = _AGE_START.match(note.text, match.start())
        if age is None or not _age_is_plausible(age.group()):
            continue
        # A bare number must read as an age: "13, S2 at …", "he's 15, form …".
        if re.fullmatch(r"\d{1,2}", age.group().strip()) and not re.search(
            r"(?:,|\bis|'s|\bage|\baged|\bof)\s*$", note.text[max(0, match.start() - 12) : match.start()]
        ):
            continue
        yield match.start(), match.end(), 0.8


def find_schools_with_person(note: Note) -> Iterator[Span]:
    institution = re.compile(_INSTITUTION)
    for match in institution.finditer(note.text):
        span = note.text[match.start() : match.end()]
        if fold(span.split()[0]) in lexicon.organisations():
            continue
        # "l'AS Mme Fofana" is the social worker (assistante sociale), not a sports club.
        parts = span.split()
        if (
            len(parts) > 1
            and fold(parts[1].rstrip(".")) in lexicon.COURTESY_TITLES | lexicon.PROFESSIONAL_TITLES
        ):
            continue
        yield match.start(), match.end(), 0.65
    for match in _WORKS_AT.finditer(note.text):
        employer = match.group(1)
        first = fold(employer.split()[0])
        if first in lexicon.organisations() or first in lexicon.STOPWORDS or first in lexicon.places():
            continue
        if first in lexicon.RELATION_WORDS or first in lexicon.ROLE_WORDS:
            continue
        yield match.start(1), match.end(1), 0.6


# --- addresses and postcodes -----------------------------------------------------------------

_STREET_WORDS = "Road|Street|Lane|Avenue|Close|Drive|Way|Grove|Crescent|Place|Court|Gardens|Terrace|Walk|Row|Hill|Square|Mews|Rise|View|Parade|Vale|Green|Park|Fold|Croft|Gate|Wharf|Yard|Approach|Heights|Wynd|Circus|Embankment|Boulevard"  # noqa: E501
_STREET_EN = rf"(?:{_STREET_WORDS}|{_STREET_WORDS.lower()}|Rd|St|Ln|Ave|Dr|Cres|Pl|Ct|Gdns|Sq)"
_STREET_FR = r"(?:rue|avenue|av\.|bd|boulevard|all[ée]e|impasse|chemin|place|pl\.|cit[ée]|quai|route|square|cours|passage|voie|sentier|hameau|lotissement|r[ée]sidence|parvis|rond-point|faubourg|promenade|villa|sq\.)"  # noqa: E501
_UNIT_WORD = r"(?i:flat|apartment|apt|room|unit|b[âa]t(?:iment)?\.?|esc(?:alier)?\.?|appt?\.?|appartement|porte|[ée]tage)"  # noqa: E501
_UNIT = rf"(?:{_UNIT_WORD}\s*\w{{1,4}},?\s+)"
_ADDRESS = re.compile(
    rf"(?:{_UNIT}(?:{_CAP}(?:\s+{_CAP}){{0,2}},\s+)?)?"
    rf"(?:(?<![\w/.-])\d{{1,4}}[A-Za-z]?(?:-\d{{1,4}})?(?:\s*(?:bis|ter))?,?\s+(?:(?:{_CAP}|(?!(?:at|in|on|the|to|and|of|for|a|an|by|is|was)\b)[a-z][\w'’-]+)\s+){{1,3}}{_STREET_EN}\b"
    rf"|(?<![\w/.-])\d{{1,4}}(?:\s*(?:bis|ter|[A-Za-z]))?,?\s+(?i:{_STREET_FR})\s+(?:(?:de\s+la|de|des|du|d['’]|l['’]|les|la|le)\s*)?{_CAP}(?:[ -]+(?:(?:de|des|du|la|le)\s+)?{_CAP}){{0,3}}"  # noqa: E501
    rf"|(?:R[ée]sidence|r[ée]sidence|Cit[ée])\s+(?:les\s+|le\s+|la\s+|des\s+)?{_CAP}(?:\s+{_CAP}){{0,2}}(?:,\s*{_UNIT_WORD}\s*\w{{1,4}}){{0,3}}"
    rf"|{_UNIT}{_CAP}(?:\s+{_CAP}){{0,2}},\s+{_CAP}(?:\s+{_CAP}){{0,2}}\s+{_STREET_EN}\b)"
)
_UK_POSTCODE = re.compile(
    r"(?i)(?<![\w-])((?:[A-PR-UWYZ][0-9][0-9]?|[A-PR-UWYZ][A-HK-Y][0-9][0-9]?|[A-PR-UWYZ][0-9][A-HJKPSTUW]"
    r"|[A-PR-UWYZ][A-HK-Y][0-9][ABEHMNPRVWXY])\s?[0-9][ABD-HJLNP-UW-Z]{2})(?![\w-])"
)
_FR_POSTCODE = re.compile(
    r"(?<![\w\s]\s)(?<![\d.,/ -])((?:0[1-9]|[1-8]\d|9[0-5]|97[1-6])\d{3})(?=\s+(?:[A-ZÀ-Ý][\w'’-]+|CEDEX))"
)
_FR_POSTCODE_LOOSE = re.compile(
    r"(?<![\d.,/-])((?:0[1-9]|[1-8]\d|9[0-5]|97[1-6])\d{3})(?=\s+(?:[A-ZÀ-Ý][\w'’-]+|CEDEX))"
)


def find_addresses(note: Note) -> Iterator[Span]:
    for match in _ADDRESS.finditer(note.text):
        yield match.start(), match.end(), 0.85


def find_postcodes(note: Note) -> Iterator[Span]:
    for match in _UK_POSTCODE.finditer(note.text):
        text = match.group(1)
        if text.islower() or text.isupper():
            yield match.start(1), match.end(1), 0.9
    for match in _FR_POSTCODE_LOOSE.finditer(note.text):
        before = note.text[max(0, match.start() - 3) : match.start()]
        if re.search(r"\d\s?$", before):  # inside a longer number written in groups
            continue
        yield match.start(1), match.end(1), 0.85


# --- phones, e-mail, handles -----------------------------------------------------------------


def find_phones(note: Note) -> Iterator[Span]:
    seen: set[tuple[int, int]] = set()
    for region in ("GB", "FR"):
        for match in phonenumbers.PhoneNumberMatcher(
            note.text, region, leniency=phonenumbers.Leniency.POSSIBLE
        ):
            raw = match.raw_string
            digits = re.sub(r"\D", "", raw)
            if not raw.lstrip("(").startswith(("+", "0")) or len(digits) < 9:
                continue
            if (match.start, match.end) in seen:
                continue
            seen.add((match.start, match.end))
            yield match.start, match.end, 0.9


_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}\b")
_PROFILE_LINK = re.compile(
    r"(?i)\b(?:https?://)?(?:www\.|m\.)?(?:instagram\.com|instagr\.am|t\.me|telegram\.me|tiktok\.com|youtube\.com"
    r"|youtu\.be|twitter\.com|x\.com|facebook\.com|fb\.com|snapchat\.com/add|twitch\.tv|reddit\.com/u(?:ser)?"
    r"|vk\.com|discord\.gg|threads\.net|linkedin\.com/in|kick\.com|rumble\.com|gab\.com|bitchute\.com/channel"
    r"|odysee\.com)/@?[\w.%-]+"
)
_AT_HANDLE = re.compile(r"(?<![\w.<@/])@[A-Za-z0-9_](?:[\w.]*\w)?")
_DISCORD_TAG = re.compile(r"(?<![\w.])[\w.]{2,32}#\d{4}\b")
_PLATFORM_HANDLE = re.compile(
    r"(?i)\b(?:snap(?:chat)?|insta(?:gram)?|ig|tiktok|twitter|telegram|discord|twitch|pseudo|username|user ?name"  # noqa: E501
    r"|handle|gamertag|psn|xbox|kik|whatsapp)\b\s*(?:is|c['’]est|est|:|-|=|as|name)?\s*:?\s*"
    r"([A-Za-z0-9_][\w.]*[\w](?<=[._\d]\w|\w[._\d])|[A-Za-z0-9_]*[._\d][\w.]*\w)"
)
# "sc" is Snapchat as often as a sort code: only a handle with a letter in it, after ":" or "-".
_SC_HANDLE = re.compile(r"(?i)\bsc\s*[:=-]\s*([A-Za-z0-9_.]*[A-Za-z][\w.]*\w)")
_SLACK_WORDS = {"@here", "@channel", "@everyone"}


def find_emails(note: Note) -> Iterator[Span]:
    for match in _EMAIL.finditer(note.text):
        yield match.start(), match.end(), 0.95


def find_handles(note: Note) -> Iterator[Span]:
    for match in _PROFILE_LINK.finditer(note.text):
        yield match.start(), match.end(), 0.9
    for match in _AT_HANDLE.finditer(note.text):
        if match.group().lower() in _SLACK_WORDS or len(match.group()) < 3:
            continue
        yield match.start(), match.end(), 0.85
    for match in _DISCORD_TAG.finditer(note.text):
        yield match.start(), match.end(), 0.85
    for match in [*_PLATFORM_HANDLE.finditer(note.text), *_SC_HANDLE.finditer(note.text)]:
        handle = match.group(1)
        if re.fullmatch(r"[\d.]+", handle):  # a number or a time, not a handle
            continue
        yield match.start(1), match.end(1), 0.8


# --- vehicle registrations -------------------------------------------------------------------

_UK_PLATE = re.compile(r"(?i)(?<![\w-])([A-HJ-PR-Y][A-HJ-PR-Y])(\d{2})\s?([A-HJ-PR-Z]{3})(?![\w-])")
# "LK 21 RTA": a space between the area letters and the age, in capitals or near a vehicle word.
_UK_PLATE_SPACED = re.compile(r"(?i)(?<![\w-])([A-HJ-PR-Y][A-HJ-PR-Y]) (\d{2}) ([A-HJ-PR-Z]{3})(?![\w-])")
# Words in capitals that the spaced form would take for a plate ("ON 12 MAR", "AT 10 AND").
_SHORT_WORDS = lexicon.word_set(
    """on at in by to me we he if of so as am pm up no or my go do be us an it is le la en et un au
    jan feb mar apr may jun jul aug sep oct nov dec and the for les des une avr mai jui aou
    sept dec"""
)
_UK_OLD_PLATE = re.compile(
    r"(?<![\w-])([A-HJ-NP-Y]\d{1,3}\s?[A-HJ-PR-Y]{3}|[A-HJ-PR-Y]{3}\s?\d{1,3}[A-HJ-NP-Y])(?![\w-])"
)
_FR_PLATE = re.compile(r"(?i)(?<![\w-])([A-HJ-NP-TV-Z]{2})([- ]?)(\d{3})\2([A-HJ-NP-TV-Z]{2})(?![\w-])")
_FR_OLD_PLATE = re.compile(r"(?<![\w-])\d{1,4}\s?[A-Z]{2,3}\s?(?:0[1-9]|[1-8]\d|9[0-5]|2[AB])(?![\w-])")
_VEHICLE_CUE = re.compile(
    r"(?i)\b(?:plate|reg(?:istration)?|vrm|vehicle|car|van|moped|bike|motorbike|plaque|immatricul\w*|v[ée]hicule"
    r"|voiture|scooter|moto|camionnette|clio|corsa|golf|fiesta|polo)\b"
)
_UNITS = {"km", "kg", "mg", "ml", "cm", "mm", "ms", "hr", "am", "pm", "mn", "gb", "mb", "kb"}


def _vehicle_context(note: Note, start: int, end: int) -> bool:
    return bool(_VEHICLE_CUE.search(note.text[max(0, start - 60) : end + 30]))


def find_plates(note: Note) -> Iterator[Span]:
    for match in _UK_PLATE.finditer(note.text):
        age = int(match.group(2))
        if not (age in range(2, 30) or age in range(51, 80)):
            continue
        yield match.start(), match.end(), 0.9
    for match in _UK_PLATE_SPACED.finditer(note.text):
        age = int(match.group(2))
        if not (age in range(2, 30) or age in range(51, 80)):
            continue
        if _vehicle_context(note, match.start(), match.end()) or (
            match.group().isupper()
            and match.group(1).lower() not in _SHORT_WORDS
            and match.group(3).lower() not in _SHORT_WORDS
        ):
            yield match.start(), match.end(), 0.85
    for match in _FR_PLATE.finditer(note.text):
        plate = match.group()
        if match.group(4).lower() in _UNITS and not _vehicle_context(note, match.start(), match.end()):
            continue
        if (match.group(2) == "-" and plate.isupper()) or _vehicle_context(note, match.start(), match.end()):
            yield match.start(), match.end(), 0.9
        elif plate.isupper() and match.group(2) == "":
            yield match.start(), match.end(), 0.8
    for pattern in (_UK_OLD_PLATE, _FR_OLD_PLATE):
        for match in pattern.finditer(note.text):
            if _vehicle_context(note, match.start(), match.end()):
                yield match.start(), match.end(), 0.75


# --- national numbers ------------------------------------------------------------------------

_NI = re.compile(
    r"(?i)(?<![\w-])((?!BG|GB|NK|KN|TN|NT|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z])\s?(\d{2})\s?(\d{2})\s?(\d{2})\s?([A-D])(?![\w-])"
)
_NHS = re.compile(r"(?<![\w+-])([1-9]\d{2})([\s-]?)(\d{3})\2(\d{4})(?![\w-])")
_NIR = re.compile(
    r"(?<![\w+])([12])\s?(\d{2})\s?(0[1-9]|1[0-2]|[2-9]\d)\s?(\d{2}|2[AB])\s?(\d{3})\s?(\d{3})(?:\s?(\d{2}))?(?![\w])"
)
_NHS_CUE = re.compile(r"(?i)\bnhs\b")
_NIR_CUE = re.compile(r"(?i)\b(?:nir|s[ée]cu\w*|s[ée]curit[ée] sociale|vitale|insee|social security|ssn)\b")
_INE = re.compile(r"(?<![\w-])(\d{10}[A-HJ-NPR-Z]|\d{9}[A-HJ-NPR-Z]{2})(?![\w-])", re.I)
_PASSPORT_CUE = re.compile(r"(?i)\b(?:passport|passeport|pasaporte|passaporte|paszport|pa[sș]aport)\b")
_ID_CUE = re.compile(
    r"(?i)(?:\bid\b(?:\s+card)?|identity card|carte (?:nationale )?d['’]identit[ée]|\bcni\b|pi[èe]ce d['’]identit[ée]"  # noqa: E501
    r"|identity document|national id|dowód|buletin|carte de s[ée]jour|titre de s[ée]jour|residence permit|brp)"  # noqa: E501
)
_FR_PASSPORT = re.compile(r"(?<![\w-])(\d{2}[A-Z]{2}\d{5})(?![\w-])")
_NINE_DIGITS = re.compile(r"(?<![\w-])(\d{3}\s?\d{3}\s?\d{3})(?![\w-])")
_ALNUM_ID = re.compile(r"(?<![\w-])([A-Z0-9]{9}|[A-Z0-9]{12})(?![\w-])")
_TWELVE_DIGITS = re.compile(r"(?<![\w-])(\d{12}|\d{4}\s\d{4}\s\d{4})(?![\w-])")


def _cue_before(pattern: re.Pattern[str], note: Note, start: int, reach: int = 60) -> bool:
    return bool(pattern.search(note.text[max(0, start - reach) : start]))


def _cue_after(pattern: re.Pattern[str], note: Note, end: int, reach: int = 25) -> bool:
    return bool(pattern.search(note.text[end : end + reach]))


def find_ni_numbers(note: Note) -> Iterator[Span]:
    for match in _NI.finditer(note.text):
        text = match.group()
        if (
            text.islower()
            or text.isupper()
            or re.search(r"(?i)\bni\b|insurance", note.text[: match.start()][-40:])
        ):
            yield match.start(), match.end(), 0.95


def find_nhs_numbers(note: Note) -> Iterator[Span]:
    for match in _NHS.finditer(note.text):
        if stdnum_nhs.is_valid(re.sub(r"\D", "", match.group())):
            yield match.start(), match.end(), 0.95
        # Labelled as one, a number in the NHS form counts even with a wrong check digit (a typo).
        elif _cue_before(_NHS_CUE, note, match.start(), 25):
            yield match.start(), match.end(), 0.8


def find_nirs(note: Note) -> Iterator[Span]:
    for match in _NIR.finditer(note.text):
        compact = re.sub(r"\s", "", match.group())
        if match.group(7):
            if stdnum_nir.is_valid(compact):
                yield match.start(), match.end(), 1.0
            elif _cue_before(_NIR_CUE, note, match.start(), 30):  # labelled, with a wrong key
                yield match.start(), match.end(), 0.8
        elif _cue_before(_NIR_CUE, note, match.start()):
            yield match.start(), match.end(), 0.85


def find_ines(note: Note) -> Iterator[Span]:
    for match in _INE.finditer(note.text):
        if match.group().isupper() or _cue_before(re.compile(r"(?i)\bine\b"), note, match.start()):
            yield match.start(), match.end(), 0.9


def find_passports(note: Note) -> Iterator[Span]:
    for match in _FR_PASSPORT.finditer(note.text):
        yield match.start(), match.end(), 0.9
    for pattern in (_NINE_DIGITS, _ALNUM_ID):
        for match in pattern.finditer(note.text):
            token = match.group()
            if pattern is _ALNUM_ID and not (re.search(r"\d", token) and re.search(r"[A-Z]", token)):
                continue
            if _cue_before(_PASSPORT_CUE, note, match.start(), 50):
                yield match.start(), match.end(), 0.85


def find_id_cards(note: Note) -> Iterator[Span]:
    for pattern in (_ALNUM_ID, _TWELVE_DIGITS):
        for match in pattern.finditer(note.text):
            token = match.group()
            if pattern is _ALNUM_ID and not (
                len(re.findall(r"\d", token)) >= 2 and len(re.findall(r"[A-Z]", token)) >= 2
            ):
                continue
            if _cue_before(_ID_CUE, note, match.start(), 50) and not _cue_before(
                _PASSPORT_CUE, note, match.start(), 25
            ):
                yield match.start(), match.end(), 0.85
            elif pattern is _ALNUM_ID and len(token) == 9 and not _FR_PASSPORT.fullmatch(token):
                yield match.start(), match.end(), 0.6


_IPV4 = re.compile(r"(?<![\w.])((?:\d{1,3}\.){3}\d{1,3})(?!\w|\.\d)")
_IPV6 = re.compile(
    r"(?<![\w:])((?:[0-9A-Fa-f]{1,4}:){1,7}:?(?::?[0-9A-Fa-f]{1,4}){0,7}|::(?:[0-9A-Fa-f]{1,4}:?){1,7})(?![\w:])"
)


def find_ip_addresses(note: Note) -> Iterator[Span]:
    for match in _IPV4.finditer(note.text):
        try:
            ipaddress.IPv4Address(match.group(1))
        except ValueError:
            continue
        yield match.start(1), match.end(1), 0.9
    for match in _IPV6.finditer(note.text):
        candidate = match.group(1)
        if candidate.count(":") < 2:
            continue
        try:
            ipaddress.IPv6Address(candidate)
        except ValueError:
            continue
        yield match.start(1), match.end(1), 0.9


_SORT_CODE = re.compile(r"(?<![\w.-])(\d{2})([-. ]?)(\d{2})\2(\d{2})(?![\w-]|\.\d)")
_ACCOUNT = re.compile(r"(?<![\w-])(\d{8}|\d{4} \d{4})(?![\w-])")
_BANK_CUE = re.compile(
    r"(?i)(?:sort ?code|\bs/c\b|\bsc\b|account|\ba/c\b|\bacc\b|\bacct\b|compte|bank|banque|rib|virement|transfer)"  # noqa: E501
)
_SORT_CODE_CUE = re.compile(r"(?i)sort ?code|\bs/c\b|\bsc\b")
# Six digits run together are a sort code when an account number follows ("401276 / 71234590").
_ACCOUNT_NEXT = re.compile(r"\s*[/,;:-]?\s*\d{8}(?![\w-])")
_CARD = re.compile(r"(?<![\w-])(\d{4}([ -]?)\d{4}\2\d{4}\2\d{4})(?![\w-])")


def find_bank_accounts(note: Note) -> Iterator[Span]:
    sort_code_ends = []
    for match in _SORT_CODE.finditer(note.text):
        if (
            match.group(2) in {"", "."}
            and not _cue_before(_SORT_CODE_CUE, note, match.start(), 20)
            and not _ACCOUNT_NEXT.match(note.text, match.end())
        ):
            continue
        # A sort code followed by an account number is one by its form alone: "60-04-17 / 39201846".
        if (
            _cue_before(_BANK_CUE, note, match.start(), 50)
            or _cue_after(_BANK_CUE, note, match.end())
            or _ACCOUNT_NEXT.match(note.text, match.end())
        ):
            sort_code_ends.append(match.end())
            yield match.start(), match.end(), 0.9
    for match in _ACCOUNT.finditer(note.text):
        after_sort_code = any(0 <= match.start() - end <= 6 for end in sort_code_ends)
        if (
            after_sort_code
            or _cue_before(_BANK_CUE, note, match.start(), 50)
            or _cue_after(_BANK_CUE, note, match.end())
        ):
            yield match.start(), match.end(), 0.85
    for match in _CARD.finditer(note.text):
        if luhn.is_valid(re.sub(r"\D", "", match.group())):
            yield match.start(), match.end(), 0.9


# Labelled "IBAN" or "RIB", an IBAN in groups of four counts even when its check digits are wrong.
_IBAN_CUE = re.compile(r"(?i)\b(?:iban|rib|bic)\b")
_IBAN_LABELLED = re.compile(r"(?<!\w)(?i:[A-Z]{2})\d{2}(?: ?[A-Z0-9]{4}){3,7}(?: ?[A-Z0-9]{1,3})?(?!\w)")
_IBAN = re.compile(r"(?i)(?<![\w])([A-Z]{2}\d{2}(?:\s?[A-Z0-9]){10,30})")


def find_ibans(note: Note) -> Iterator[Span]:
    for match in _IBAN_LABELLED.finditer(note.text):
        if _cue_before(_IBAN_CUE, note, match.start(), 25) and not stdnum_iban.is_valid(
            match.group().replace(" ", "").upper()
        ):
            yield match.start(), match.end(), 0.8
    for match in _IBAN.finditer(note.text):
        candidate = match.group(1)
        # The pattern runs on into the words after; the longest prefix that validates is the IBAN.
        for cut in range(len(candidate), 13, -1):
            prefix = candidate[:cut]
            if prefix[-1] == " ":
                continue
            if stdnum_iban.is_valid(prefix.replace(" ", "").upper()):
                yield match.start(1), match.start(1) + cut, 1.0
                break


# --- where the language model is worth running -----------------------------------------------

_SENTENCE = re.compile(r"[^.!?\n]+[.!?]*")


@cache
def _known_words() -> frozenset[str]:
    return (
        lexicon.given_names() | lexicon.surnames() | lexicon.places() | lexicon.organisations()
        | lexicon.ordinary_words() | lexicon.STOPWORDS | lexicon.ROLE_WORDS | lexicon.RELATION_WORDS
        | lexicon.PROFESSIONAL_TITLES | lexicon.COURTESY_TITLES | lexicon.INSTITUTION_WORDS
    )  # fmt: skip


def unknown_name_sentences(note: Note) -> list[tuple[int, int]]:
    """Sentences with two or more capitalised words in a row that no word list knows.

    Everything else the rules decide from the lists and the words around a name; only there can
    the model's opinion change the answer, so only there is it asked.
    """
    known = _known_words()
    wanted: list[int] = []
    for i, j in _runs(note):
        run = [word for word in note.words[i : j + 1] if word.folded not in known and not word.upper]
        if len(run) >= 2:
            wanted.append(note.words[i].start)
    sentences = []
    for match in _SENTENCE.finditer(note.text):
        if any(match.start() <= position < match.end() for position in wanted):
            sentences.append((match.start(), match.end()))
    return sentences
