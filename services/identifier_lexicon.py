"""The word lists the identifier check reasons with: names, places, agencies, roles, relations.

The lists of names, places, public figures and agencies are data files in `identifier_data/`;
the short lists of words that decide what a name next to them is (a role makes it staff, a
relation makes it family) are here, where they are read together with the rules that use them.
"""

from __future__ import annotations

import unicodedata
from functools import cache, lru_cache
from importlib import resources


@lru_cache(maxsize=65536)
def fold(word: str) -> str:
    """Lower case without accents or typographic apostrophes: how every list is compared."""
    # œ and æ do not decompose: "sœur" must read as "soeur".
    lowered = word.casefold().replace("’", "'").replace("œ", "oe").replace("æ", "ae")
    decomposed = unicodedata.normalize("NFKD", lowered)
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def _read(name: str) -> list[str]:
    text = resources.files("services").joinpath("identifier_data", name).read_text(encoding="utf-8")
    return [line.split("#", 1)[0].strip() for line in text.splitlines() if line.split("#", 1)[0].strip()]


def _words(name: str) -> frozenset[str]:
    return frozenset(fold(word) for line in _read(name) for word in line.split())


@cache
def given_names() -> frozenset[str]:
    return _words("given_names.txt")


@cache
def surnames() -> frozenset[str]:
    return _words("surnames.txt")


@cache
def ordinary_words() -> frozenset[str]:
    return _words("ordinary_words.txt")


@cache
def places() -> frozenset[str]:
    return _words("places.txt")


@cache
def organisations() -> frozenset[str]:
    return _words("organisations.txt")


@cache
def public_figures() -> frozenset[str]:
    return frozenset(fold(line) for line in _read("public_figures.txt"))


def word_set(text: str) -> frozenset[str]:
    return frozenset(fold(word) for word in text.split())


# Titles that are themselves a profession: the name after them is a member of staff.
PROFESSIONAL_TITLES = word_set(
    """pc dc ds di dci dcs dsi sgt sergeant insp inspector supt superintendent pcso cllr councillor
    dr doctor prof professor judge hhj commandant capitaine lieutenant major brigadier adjudant
    commissaire gendarme me maitre juge procureur procureure docteur docteure pr colonel general
    capt captain officer constable detective rev reverend imam pasteur abbe pere-aumonier"""
)
# Courtesy titles: a family member as often as staff, so the words around decide.
COURTESY_TITLES = word_set("mr mrs ms miss mx m mme mlle madame monsieur mademoiselle")
# Role words: next to a name, they make it a member of staff named in their role.
ROLE_WORDS = word_set(
    """officer worker visitor nurse mentor teacher tutor head headteacher deputy dsl ddsl sw om
    manager consultant paediatrician pediatrician psychiatrist psychologist therapist counsellor
    counselor gp coordinator co-ordinator lead chair advisor adviser practitioner caseworker
    keyworker supervisor solicitor barrister magistrate chaplain coach trainer senco sendco
    principal director clinician midwife liaison interpreter translator mp governor receptionist
    librarian caretaker senior clerk analyst investigator oic sio pcso ppo iom ctp camhs ycp lo
    educator youth social staff colleague colleagues tutors teachers nurses officers workers
    educateur educatrice cpe referent referente conseiller conseillere as assistante assistant
    mediateur mediatrice principale proviseur proviseure directeur directrice professeur
    professeure prof infirmier infirmiere psychologue psychiatre pediatre pedopsy pedopsychiatre
    medecin avocat avocate cip chef cheffe adjoint adjointe inspecteur inspectrice animateur
    animatrice entraineur intervenant intervenante charge chargee secretaire greffier greffiere
    interprete policier policiere agent agente officier substitut delegue deleguee elu elue maire
    psy educ educs enseignant enseignante surveillant surveillante aed coordinatrice coordinateur
    gardien gardienne capitaine commandant lieutenant major brigadier commissaire po spo cpip dpip
    remplacant remplacante successor successeur colleague collegue"""
)
# Relation words: next to a name, they make it the person concerned or their family.
RELATION_WORDS = word_set(
    """mum mom mother mam mummy dad father daddy brother sister bro sis sibling siblings uncle aunt
    auntie aunty cousin gran granny grandma grandmother nan nana grandad grandpa grandfather
    stepdad stepmum stepfather stepmother step-dad step-mum son daughter partner girlfriend
    boyfriend wife husband mate friend friends yp cyp pupil student child patient pt tenant client
    subject nephew niece twin fiance fiancee ex carer sibling baby infant boy girl lad lass
    man woman young person offender prisoner suspect defendant co-defendant associate
    mere pere maman papa frere soeur oncle tante cousine fils fille grand-mere grand-pere
    grand-mere beau-pere belle-mere demi-frere demi-soeur copain copine ami amie jeune eleve
    adolescent adolescente ado mineur mineure interesse interessee locataire epouse epoux mari
    femme compagne compagnon neveu niece enfant bebe garcon fils majeur majeure petit-fils
    petite-fille concerne concernee patiente usager usagere beneficiaire suspect prevenu prevenue
    personne pote potes poto pal bestie bff"""
)
# Words that say what follows is what someone is called.
NAMING_CUES = (
    "name is",
    "name's",
    "names are",
    "named",
    "be called",
    "is called",
    "was called",
    "are called",
    "'s called",
    "calls himself",
    "calls herself",
    "known as",
    "also known as",
    "aka",
    "a.k.a.",
    "goes by",
    "went by",
    "nicknamed",
    "real name",
    "full name",
    "legal name",
    "name:",
    "s'appelle",
    "s'appelait",
    "se fait appeler",
    "se faisait appeler",
    "prenomme",
    "prenommee",
    "nomme",
    "nommee",
    "denomme",
    "denommee",
    "surnomme",
    "surnommee",
    "appele",
    "appelee",
    "alias",
    "dit",
    "dite",
    "l'appellent",
    "l'appelle",
    "prenom",
    "nom",
    "pseudo",
)
# Function words of both languages: never a name on their own.
STOPWORDS = word_set(
    """a an the and or but of to in on at by for with from as is are was were be been being it its
    he she they we you i me him her them us his hers their our your my this that these those who
    whom which what when where why how not no yes all any some one two three very so if then than
    there here also just only still again about after before over under into out up down off
    le la les l un une des du de d au aux et ou mais donc or ni car que qu qui quoi dont ou en
    dans par pour sur sous avec sans chez ce cet cette ces son sa ses leur leurs mon ma mes ton ta
    tes notre nos votre vos il elle ils elles on nous vous je tu se s y ne pas plus tres bien
    est sont etait ete a ont avait fait dit"""
)
# Words that make a capitalised phrase an institution, place or thing rather than a person.
INSTITUTION_WORDS = word_set(
    """school academy college primary secondary high grammar university uni nursery pru unit centre
    center club fc afc united city town rovers athletic trust council service services team hub
    panel board committee court hospital clinic surgery practice ward police station prison hmp
    yoi road street lane avenue close drive way grove crescent place court gardens terrace walk
    row hill park square mews rise view green house flat estate church mosque masjid temple
    gurdwara synagogue ltd limited plc group association foundation charity network project
    programme program partnership agency department office ministry act order regulations
    college lycee ecole college universite faculte cfa ime itep foyer club rue avenue boulevard
    allee impasse chemin place cite quai route residence mairie prefecture tribunal hopital
    clinique commissariat gendarmerie association fondation maison centre service"""
)
