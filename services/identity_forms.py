"""The identity of the person a case is about, and the forms it is compared in.

A name is written many ways for one person: transliterated from another script (Mohammed,
Mohamed, Muhammad), with accents or without, hyphenated or not (Smith-Jones, Smith Jones),
with its particles or without (Al-Hassan, Hassan; van der Berg, Vanderberg), run together
(Abdul Rahman, Abdulrahman), shortened (Bill for William), mistyped, and with the given and
family names swapped. Here each name becomes *forms*: its tokens transliterated to ASCII
(anyascii), case-folded and stripped of punctuation, less particles, plus the name run
together; and each form has *codes*: its Double Metaphone codes (primary and secondary), and
the groups of known variants it belongs to (a small table of transliterations and nicknames).
Two forms that share a code "sound the same" or are known variants of one another.

Dates of birth are compared whole, with day and month swapped, and by their parts: a date
mistyped in one digit still agrees in two of its three parts.

Nothing here reads or writes the database; `services.identity_index` makes blind-index terms
of these forms, `services.identity_score` compares two identities with them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache

from anyascii import anyascii
from metaphone import doublemetaphone

# Words that join a name rather than make it: dropped from the forms, kept in the run-together one.
PARTICLES = frozenset(
    {
        "al", "el", "ul", "ud", "bin", "ibn", "ben", "bint", "binti", "abu", "ould",
        "van", "von", "der", "den", "ter", "het", "de", "da", "di", "do", "dos", "das", "du", "del",
        "della", "des", "la", "le", "lo", "st", "ste", "y", "e",
    }
)  # fmt: skip
# Arabic articles written joined to the name (Alhassan, Elsayed): the rest is a form too.
JOINED_ARTICLES = ("al", "el")

# Known variants: transliterations of one name, and English nicknames. A token in a group has
# the group's code; a token may be in several groups (Alex). Phonetics already bring most
# spellings of a transliteration together; these are the ones they do not, or not reliably.
VARIANTS: tuple[tuple[str, ...], ...] = (
    # Arabic, Persian, Turkish and South Asian transliterations
    ("muhammad", "mohammed", "mohamed", "mohammad", "muhammed", "mohamad", "muhamad", "mohd",
     "mahomed", "mohammod", "mehmet", "mehmed", "muhamed", "mohamet", "mouhamed", "mamadou", "md"),
    ("ahmed", "ahmad", "ahmet", "ahmadou", "ahmadu"),
    ("mahmoud", "mahmood", "mahmud", "mehmood", "mahmut"),
    ("hussein", "husain", "hussain", "husayn", "hossein", "hosseini", "huseyin", "hussien", "husein"),
    ("hassan", "hasan", "hassane", "hasaan"),
    ("hasaan", "hassaan"),
    ("yusuf", "yousef", "youssef", "yousuf", "yusef", "yousif", "youcef", "yosef", "jusuf", "yousaf"),
    ("ibrahim", "ebrahim", "ibraheem", "brahim", "ibrahima", "ibragim"),
    ("ismail", "ismael", "esmail", "ismaeel", "ismayil", "smail"),
    ("suleiman", "sulayman", "sulaiman", "suleyman", "soliman", "sleiman", "souleymane"),
    ("mustafa", "mustapha", "mostafa", "moustafa", "mostapha"),
    ("osama", "usama", "oussama", "usamah"),
    ("omar", "umar", "omer", "oumar"),
    ("othman", "uthman", "osman", "usman", "ousmane", "usmaan"),
    ("abdullah", "abdallah", "abdulla", "abdellah", "abdala", "abdalla"),
    ("abdul", "abdel", "abd", "abdoul", "abdal"),
    ("rahman", "rehman", "rahmaan"),
    ("rahim", "raheem", "rehim"),
    ("karim", "kareem", "kerim"),
    ("khalid", "khaled", "halid", "khaleed"),
    ("walid", "waleed", "oualid"),
    ("said", "saeed", "saied", "sayed", "sayyid", "syed", "saiid", "sayid"),
    ("jamal", "gamal", "djamal", "jamaal", "cemal"),
    ("jamila", "gamila", "jameela", "djamila", "cemile"),
    ("zakaria", "zakariya", "zakariyya", "zachariah", "zakariyah"),
    ("yahya", "yahia", "yehia", "yahyah"),
    ("idris", "idrees", "edris", "idriss"),
    ("bilal", "belal", "bilel"),
    ("tariq", "tarek", "tarik", "tareq"),
    ("faisal", "faysal", "feisal", "faycal"),
    ("aisha", "ayesha", "aysha", "aicha", "aishah", "ayisha", "aisah", "ayse"),
    ("fatima", "fatimah", "fatma", "fatuma", "fatoumata", "fatmata", "fadumo"),
    ("khadija", "khadijah", "khadeeja", "hatice", "kadija", "hadiza", "khadidja"),
    ("maryam", "mariam", "meryem", "miriam", "mariyam"),
    ("zainab", "zaynab", "zeynep", "zenab", "zeinab"),
    ("noor", "nour", "nur", "noura", "nura"),
    ("yasmin", "yasmine", "yasmeen", "jasmin", "jasmine", "yesmin"),
    ("hamza", "hamzah", "hamsa"),
    ("amir", "ameer", "emir"),
    ("imran", "emran", "imraan"),
    ("iqbal", "ikbal"),
    ("qureshi", "kureshi", "quraishi", "koreshi"),
    ("chaudhry", "chaudhary", "choudhury", "chowdhury", "chaudry", "choudhry", "chowdhry"),
    ("siddiqui", "siddiqi", "sidiqi", "siddique", "siddiki"),
    ("mohammadi", "muhammadi", "mohamadi"),
    # South Asian
    ("singh", "sing"),
    ("kaur", "kour"),
    ("krishna", "krisna", "krishnan"),
    ("lakshmi", "laxmi", "lakshmee"),
    ("priya", "pria", "preeya"),
    ("deepak", "dipak"),
    ("sanjay", "sanjai"),
    # Eastern European
    ("aleksandr", "alexander", "aleksander", "oleksandr", "alexandr", "aleksandar", "sasha", "sacha",
     "alex", "alexei", "aleksei", "alexey", "oleksiy", "olek", "aleks"),
    ("alexandra", "aleksandra", "oleksandra", "sasha", "alex"),
    ("mikhail", "michael", "mykhailo", "michal", "mihai", "mihail", "mikael", "misha", "mike", "mick",
     "mickey", "michel"),
    ("yevgeny", "evgeny", "evgeni", "yevgeniy", "eugene", "jevgenij", "zhenya"),
    ("sergei", "sergey", "serhiy", "sergiu", "serge", "sergio"),
    ("dmitri", "dmitry", "dmytro", "dimitri", "dimitrios", "dima"),
    ("yuri", "yury", "yuriy", "iurii", "jurij", "george"),
    ("andrei", "andrey", "andriy", "andrzej", "andrew", "andre", "andreas", "andy", "drew"),
    ("pavel", "pawel", "paul", "pavlo", "paulo", "pablo"),
    ("piotr", "pyotr", "petr", "peter", "pierre", "pete", "petro", "pedro"),
    ("jan", "john", "ivan", "ioan", "ion", "juan", "jean", "johann", "johannes", "jon", "jack",
     "johnny", "jonny"),
    ("katarzyna", "katherine", "catherine", "kathryn", "katrina", "ekaterina", "yekaterina", "katya",
     "kate", "katie", "kathy", "cathy", "kasia", "caitlin", "kathleen"),
    ("olga", "olha", "olya"),
    ("natalia", "natalya", "nataliya", "natalie", "nathalie", "natasha"),
    ("yulia", "julia", "yuliya", "iulia", "julie", "juliet"),
    ("tatiana", "tatyana", "tetiana", "tanya"),
    ("wojciech", "voytek", "wojtek"),
    ("krzysztof", "christopher", "kristof", "christoph", "chris", "christophe"),
    ("tomasz", "thomas", "tomas", "tom", "tommy", "thomasz"),
    ("jakub", "jacob", "jakob", "yakov", "yaakov", "jacques", "jake", "kuba", "yakub", "yaqub"),
    ("mateusz", "matthew", "matei", "mateo", "matteo", "matt", "matty", "mathieu", "matthias"),
    ("stefan", "stephen", "steven", "stepan", "stephane", "steve", "stevie", "esteban"),
    ("nikolai", "nicholas", "nikola", "nicolas", "mykola", "nicolae", "nick", "nicky", "niko", "kolya"),
    ("grigori", "gregory", "grzegorz", "hryhoriy", "greg"),
    ("vasile", "vasily", "vasyl", "basil", "vasilii"),
    ("gheorghe", "georgi", "georgiy", "george", "georges", "jerzy", "jorge", "yuri"),
    ("ioana", "joanna", "joana", "ivana", "joan", "jana", "johanna"),
    ("elena", "helen", "helena", "olena", "yelena", "ellen", "hélène", "lena"),
    ("maria", "mary", "marie", "mariya", "mariia", "marija", "masha", "molly", "polly", "maureen"),
    # English nicknames
    ("william", "bill", "billy", "will", "willie", "liam", "wilhelm", "guillaume", "wills"),
    ("robert", "bob", "bobby", "rob", "robbie", "bert", "roberto"),
    ("richard", "rick", "ricky", "rich", "richie", "dick", "ricardo"),
    ("james", "jim", "jimmy", "jamie", "jacques", "diego", "jaime", "seamus", "hamish"),
    ("joseph", "joe", "joey", "jose", "giuseppe", "josef", "yosef", "jo"),
    ("edward", "ed", "eddie", "ted", "teddy", "ned", "eduardo", "edouard"),
    ("charles", "charlie", "chuck", "chas", "carlos", "carl", "karl"),
    ("henry", "harry", "hal", "hank", "henri", "enrique", "heinrich"),
    ("daniel", "dan", "danny", "daniil", "danyl", "daniyal", "danial"),
    ("benjamin", "ben", "benny", "benji"),
    ("samuel", "sam", "sammy", "samuil"),
    ("alfred", "alf", "alfie", "fred", "freddie"),
    ("frederick", "fred", "freddie", "freddy", "fritz"),
    ("anthony", "tony", "antony", "antoine", "antonio", "anton"),
    ("joshua", "josh"),
    ("nathan", "nathaniel", "nate", "nat"),
    ("jonathan", "jon", "jonny", "johnny"),
    ("david", "dave", "davey", "davy", "dawid", "daoud", "dawood", "dawud", "davud"),
    ("patrick", "pat", "paddy", "patryk", "padraig"),
    ("margaret", "maggie", "meg", "peggy", "marguerite", "margarita"),
    ("elizabeth", "liz", "lizzie", "beth", "betty", "eliza", "elisabeth", "lisa", "libby", "bess",
     "elise", "elżbieta", "elzbieta"),
    ("rebecca", "becky", "becca", "rivka"),
    ("jennifer", "jenny", "jen", "jenna"),
    ("susan", "sue", "susie", "suzanne", "susanna", "zuzanna"),
    ("victoria", "vicky", "tori", "viktoria", "wiktoria"),
    ("abigail", "abby", "abbie"),
    ("samantha", "sam", "sammie"),
    ("jessica", "jess", "jessie"),
    ("amelia", "amelie", "millie"),
    ("charlotte", "lottie", "charlie"),
    ("olivia", "liv", "livvy"),
    ("kayleigh", "kayley", "kaylee", "kaleigh", "caleigh", "kailey"),
    ("siobhan", "shivaun", "shevaun", "chevonne"),
    ("niamh", "neve", "neave", "nieve"),
    ("aoife", "eefa", "aoiffe"),
    ("sinead", "shinead", "shannade"),
    ("connor", "conor", "conner", "konnor"),
    ("rhys", "reece", "rees", "reese"),
    ("ciaran", "kieran", "keiran", "kieron"),
    ("layla", "leila", "laila", "leyla", "lejla"),
    # West and East African
    ("oluwaseun", "seun", "shewn"),
    ("oluwaseyi", "seyi"),
    ("oluwatobi", "tobi", "tobiloba"),
    ("adebayo", "bayo"),
    ("olumide", "mide"),
    ("chukwuemeka", "emeka"),
    ("chinedu", "nedu"),
    ("ngozi", "ngozy"),
    ("abdirahman", "abdurahman", "abdirahmaan", "abdulrahman", "abdelrahman", "abderrahmane"),
    ("abdikarim", "abdulkarim", "abdelkarim", "abdulkareem"),
    ("abdullahi", "abdillahi", "abdulahi", "abdullah"),
    ("mohamud", "mohamoud", "maxamuud", "mahmoud"),
    ("farah", "faarax", "farrah"),
    ("hirsi", "xirsi"),
    ("hodan", "xodan"),
    ("warsame", "warsama"),
    ("nguyen", "nguyễn", "ngyuen", "nguyn"),
    ("tran", "trần", "chan"),
    ("le", "lê", "lee"),
    ("pham", "phạm", "fam"),
    ("huang", "wong", "hwang"),
    ("zhang", "chang", "cheung", "jang"),
    ("chen", "chan", "tan", "chin"),
    ("li", "lee", "lie", "ly", "lei"),
)  # fmt: skip


# Names a phonetic code brings together that are different names all the same: a shared code
# between two of these groups is not "sounds the same".
DISTINCT: tuple[tuple[frozenset[str], ...], ...] = (
    (frozenset({"hassan", "hasan"}), frozenset({"hussein", "hussain", "husain", "husayn", "hossein"})),
    (frozenset({"emily", "emilie"}), frozenset({"amelia", "amelie"})),
    (frozenset({"amir", "ameer"}), frozenset({"omar", "umar", "omer"})),
    (frozenset({"ali", "aly"}), frozenset({"ellie", "elly", "ella"})),
    (frozenset({"olivia"}), frozenset({"alfie"})),
    (frozenset({"jade"}), frozenset({"jude"})),
    (frozenset({"ava", "eva"}), frozenset({"aoife"})),
)


def distinct(one: str, other: str) -> bool:
    """Two names that sound alike to Double Metaphone but are different names."""
    return any((one in a and other in b) or (one in b and other in a) for a, b in DISTINCT)


@dataclass(frozen=True)
class Identity:
    """What the record desk holds of the person: every field optional, lists as entered."""

    given_names: str = ""
    family_names: str = ""
    aliases: tuple[str, ...] = ()
    date_of_birth: date | None = None
    gender: str | None = None
    address: str | None = None
    school_or_employer: str | None = None
    agency_references: tuple[str, ...] = ()
    contacts: tuple[str, ...] = ()

    FIELDS = (
        "given_names",
        "family_names",
        "aliases",
        "date_of_birth",
        "gender",
        "address",
        "school_or_employer",
        "agency_references",
        "contacts",
    )


@dataclass(frozen=True)
class Form:
    """A normalised form of (part of) a name, and which tokens of the name it stands for: a form
    made of the run-together name is not paired with the tokens it is made of."""

    text: str
    sources: frozenset[int]


@dataclass(frozen=True)
class Name:
    """One way the person is called: its given and family tokens (normalised, particles and all),
    and whether it is an alias."""

    given: tuple[str, ...]
    family: tuple[str, ...]
    alias: bool = False
    extra: tuple[str, ...] = field(default=())  # tokens an alias brings beside the main name

    @property
    def tokens(self) -> tuple[str, ...]:
        return self.given + self.family


# ---- text --------------------------------------------------------------------------------------
_NOT_LETTER = re.compile(r"[^a-z]+")
_APOSTROPHES = re.compile(r"['’‘`´ʼ]")


def ascii_fold(text: str) -> str:
    """Any script in ASCII (Иванов: ivanov; Müller: muller), lower case."""
    return anyascii(text).casefold()


def tokens(text: str) -> tuple[str, ...]:
    """The words of a name: transliterated, lower case, apostrophes dropped (O'Brien: obrien),
    split at anything else that is not a letter (hyphens, spaces, dots, digits)."""
    folded = _APOSTROPHES.sub("", ascii_fold(_APOSTROPHES.sub("", text)))
    return tuple(t for t in _NOT_LETTER.split(folded) if t)


def meaningful(part: Iterable[str], *, family: bool = False) -> list[str]:
    """The tokens of a name part that name: not initials, and for a family name not particles
    (unless it has nothing else)."""
    words = [t for t in part if len(t) > 1]
    if family and any(t not in PARTICLES for t in words):
        words = [t for t in words if t not in PARTICLES]
    return words


def forms(name: Name) -> list[Form]:
    """Every form of a name: its tokens (less initials, and less the particles of a family name
    unless it has nothing else: Le, Da), an Arabic article joined to a token split off
    (Alhassan: hassan too), and each part run together (Abdul Rahman: abdulrahman; Van der Berg:
    vanderberg, and without its particles, berg). Given names keep their particles: Ben, Abu."""
    found: dict[str, Form] = {}

    def add(text: str, sources: Iterable[int]) -> None:
        if len(text) > 1 and text not in found:
            found[text] = Form(text, frozenset(sources))

    offset = 0
    for part, family in ((name.given, False), (name.family, True), (name.extra, False)):
        positions = range(offset, offset + len(part))
        dropped = PARTICLES if family and any(t not in PARTICLES for t in part) else frozenset()
        for position, token in zip(positions, part, strict=True):
            if token in dropped or len(token) < 2:
                continue
            add(token, [position])
            for article in JOINED_ARTICLES:
                if token.startswith(article) and len(token) - len(article) >= 4:
                    add(token[len(article) :], [position])
        if len(part) > 1:
            add("".join(part), positions)
            kept = [t for t in part if t not in dropped]
            if 1 < len(kept) < len(part):
                add("".join(kept), positions)
        offset += len(part)
    return list(found.values())


@lru_cache(maxsize=65536)
def sounds(token: str) -> frozenset[str]:
    """The Double Metaphone codes of a token (primary, and secondary where it has one)."""
    return frozenset(code for code in doublemetaphone(token) if code)


def _variant_groups() -> dict[str, frozenset[str]]:
    groups: dict[str, set[str]] = {}
    for group in VARIANTS:
        label = "=" + group[0]
        for spelling in group:
            for token in tokens(spelling):
                groups.setdefault(token, set()).add(label)
    return {token: frozenset(labels) for token, labels in groups.items()}


GROUPS = _variant_groups()


def variant_groups(token: str) -> frozenset[str]:
    """The groups of known variants a token belongs to (none for most)."""
    return GROUPS.get(token, frozenset())


@lru_cache(maxsize=65536)
def codes(token: str) -> frozenset[str]:
    """What two tokens must share to count as the same name: a Double Metaphone code, or a
    group of known variants. Variant groups start with '=', which no phonetic code does."""
    return sounds(token) | variant_groups(token)


# ---- the names of an identity -----------------------------------------------------------------
def names(identity: Identity) -> list[Name]:
    """The main name, then each alias. An alias of one word is taken as a given name used with
    the main family name (Mo for Mohammed Khan); a longer one as given names and a family name."""
    main = Name(tokens(identity.given_names), tokens(identity.family_names))
    found = [main] if main.tokens else []
    for alias in identity.aliases:
        words = tokens(alias)
        if not words:
            continue
        if len(words) == 1:
            found.append(Name(words, main.family, alias=True, extra=main.given))
        else:
            found.append(Name(words[:-1], words[-1:], alias=True))
    return found


# ---- dates of birth ----------------------------------------------------------------------------
def swapped(day_of_birth: date) -> date | None:
    """The date with its day and month swapped, if that is another valid date."""
    if day_of_birth.day == day_of_birth.month or day_of_birth.day > 12:
        return None
    return date(day_of_birth.year, day_of_birth.day, day_of_birth.month)


def partial_dates(day_of_birth: date) -> list[str]:
    """Two of the three parts of a date: a date mistyped in one digit keeps one of these."""
    d, m, y = day_of_birth.day, day_of_birth.month, day_of_birth.year
    return [f"d{d:02}m{m:02}", f"m{m:02}y{y:04}", f"d{d:02}y{y:04}"]


def digits(day_of_birth: date) -> str:
    return f"{day_of_birth.year:04}{day_of_birth.month:02}{day_of_birth.day:02}"


# ---- the other identifiers -------------------------------------------------------------------
_POSTCODE = re.compile(r"\b([A-Z]{1,2}[0-9][A-Z0-9]?) ?([0-9][A-Z]{2})\b")
_GENERIC = frozenset(
    {
        "the", "of", "and", "school", "academy", "college", "high", "primary", "secondary", "junior",
        "infant", "infants", "community", "trust", "ltd", "limited", "plc", "sixth", "form", "centre",
        "center", "church", "england", "ce", "rc", "catholic", "c", "e", "st", "saint", "lycee",
        "ecole", "university", "uni",
    }
)  # fmt: skip
_GENDERS = {
    "m": "male", "male": "male", "man": "male", "boy": "male", "masculin": "male", "homme": "male",
    "f": "female", "female": "female", "woman": "female", "girl": "female", "feminin": "female",
    "femme": "female", "fille": "female", "garcon": "male",
}  # fmt: skip


def postcodes(address: str | None) -> list[str]:
    """UK postcodes in an address, without their space (SW1A 1AA: SW1A1AA)."""
    if not address:
        return []
    return [outward + inward for outward, inward in _POSTCODE.findall(ascii_fold(address).upper())]


def reference(value: str) -> str | None:
    """An agency's reference as letters and digits only, upper case (pc-2026/0042: PC20260042);
    None if it is too short to tell anyone apart."""
    kept = re.sub(r"[^A-Z0-9]", "", ascii_fold(value).upper())
    return kept if len(kept) >= 4 else None


def contact(value: str) -> str | None:
    """A phone number (its last ten digits, without a country or trunk prefix), an e-mail address
    (lower case) or a handle (lower case letters and digits); None when there is too little."""
    text = ascii_fold(value).strip()
    if "@" in text and "." in text.split("@")[-1] and not text.startswith("@"):
        return "e:" + text.replace(" ", "")
    numbers = re.sub(r"[^0-9]", "", text)
    if len(numbers) >= 7:
        if numbers.startswith("00"):
            numbers = numbers[2:]
        if numbers.startswith("44") and len(numbers) >= 12:
            numbers = numbers[2:]
        return "p:" + numbers.lstrip("0")[-10:]
    handle = re.sub(r"[^a-z0-9]", "", text.split(":")[-1])
    return "h:" + handle if len(handle) >= 3 else None


def institution(value: str | None) -> str | None:
    """A school or employer by its distinctive words (Northfield Academy: northfield)."""
    if not value:
        return None
    kept = [t for t in tokens(value) if t not in _GENERIC]
    return " ".join(kept) or None


def gender(value: str | None) -> str | None:
    """A gender as recorded, with the common ways of writing male and female made one."""
    if not value:
        return None
    folded = " ".join(tokens(value))
    return _GENDERS.get(folded, folded) or None
