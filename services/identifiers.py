"""Spotting what identifies the person concerned in free text, before it is shared.

Every free text casehub may post to Slack or e-mail goes through `scan` (or `scan_fields`)
first. A finding names its kind, where it is and what it quotes; kinds that are often false
alarms (names, places) may be overridden one finding at a time, structured identifiers never.

The check is a Presidio analyzer: the French spaCy pipeline marks people, and one recogniser
per kind (`services.identifier_rules`) finds the rest, in English and French alike, on every
text. The models load once per process, on first use or at start-up (`warm_up`); when the
check cannot run, `scan` raises `DetectorUnavailable` rather than answering "nothing found".
See docs/identifiers.md.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from services.errors import CasehubError


class Kind(StrEnum):
    NAME = "name"
    NICKNAME = "nickname"
    DATE_OF_BIRTH = "date_of_birth"
    AGE_WITH_SCHOOL = "age_with_school"
    SCHOOL_WITH_PERSON = "school_with_person"
    ADDRESS = "address"
    POSTCODE = "postcode"
    PHONE = "phone"
    EMAIL = "email"
    HANDLE = "handle"
    VEHICLE_PLATE = "vehicle_plate"
    NI_NUMBER = "ni_number"
    NHS_NUMBER = "nhs_number"
    NIR = "nir"
    INE = "ine"
    PASSPORT = "passport"
    ID_CARD = "id_card"
    IP_ADDRESS = "ip_address"
    BANK_ACCOUNT = "bank_account"
    IBAN = "iban"


LABELS: dict[Kind, str] = {
    Kind.NAME: "a name",
    Kind.NICKNAME: "a nickname",
    Kind.DATE_OF_BIRTH: "a date of birth",
    Kind.AGE_WITH_SCHOOL: "an age with a school or class",
    Kind.SCHOOL_WITH_PERSON: "a school, club or employer",
    Kind.ADDRESS: "a street address",
    Kind.POSTCODE: "a postcode",
    Kind.PHONE: "a phone number",
    Kind.EMAIL: "an e-mail address",
    Kind.HANDLE: "a social-media handle or profile",
    Kind.VEHICLE_PLATE: "a vehicle registration",
    Kind.NI_NUMBER: "a National Insurance number",
    Kind.NHS_NUMBER: "an NHS number",
    Kind.NIR: "a French social security number (NIR)",
    Kind.INE: "a French student number (INE)",
    Kind.PASSPORT: "a passport number",
    Kind.ID_CARD: "an identity card number",
    Kind.IP_ADDRESS: "an IP address",
    Kind.BANK_ACCOUNT: "a bank account number",
    Kind.IBAN: "an IBAN",
}

# Kinds that ordinary words, staff, agencies and places can look like: a person who knows the
# text is safe may override such a finding. A number, a date of birth or an address line is
# what it is, and is never shared.
OVERRIDABLE: frozenset[Kind] = frozenset(
    {Kind.NAME, Kind.NICKNAME, Kind.SCHOOL_WITH_PERSON, Kind.AGE_WITH_SCHOOL}
)
EXCERPT_MAX = 60


class DetectorUnavailable(CasehubError):
    """The check could not run: nothing is shared rather than something unchecked."""

    def __init__(self) -> None:
        super().__init__(
            "casehub cannot check this text for identifiers right now, so nothing was shared.",
            hint="Please try again in a few minutes; if it keeps happening, tell your casehub admin.",
        )


@dataclass(frozen=True)
class Finding:
    field: str
    kind: Kind
    start: int
    end: int
    excerpt: str

    @property
    def label(self) -> str:
        return LABELS[self.kind]

    @property
    def overridable(self) -> bool:
        return self.kind in OVERRIDABLE

    def message(self) -> str:
        if self.overridable:
            return (
                f"This looks like {self.label} (“{self.excerpt}”). Remove it, or confirm below that "
                "it does not identify the person."
            )
        return f"This looks like {self.label} (“{self.excerpt}”). Remove it: it cannot be shared."


log = logging.getLogger(__name__)

SPACY_MODEL = "fr_core_news_md"
# Only the named-entity recogniser runs: it has its own embedding layer, and the parser,
# tagger and lemmatiser would triple the time for nothing the rules use.
SPACY_EXCLUDE = ["tok2vec", "morphologizer", "parser", "attribute_ruler", "lemmatizer", "senter"]
# The languages every text is checked in: both rule sets run on every note, since notes mix them.
languages: tuple[str, ...] = ("en", "fr")
# After a failed start, how long before trying to build the engine again.
RETRY_AFTER_SECONDS = 30.0


def _finders() -> dict[Kind, Callable]:
    from services import identifier_rules as rules

    return {
        Kind.NAME: rules.find_names,
        Kind.NICKNAME: rules.find_nicknames,
        Kind.DATE_OF_BIRTH: rules.find_dates_of_birth,
        Kind.AGE_WITH_SCHOOL: rules.find_ages_with_school,
        Kind.SCHOOL_WITH_PERSON: rules.find_schools_with_person,
        Kind.ADDRESS: rules.find_addresses,
        Kind.POSTCODE: rules.find_postcodes,
        Kind.PHONE: rules.find_phones,
        Kind.EMAIL: rules.find_emails,
        Kind.HANDLE: rules.find_handles,
        Kind.VEHICLE_PLATE: rules.find_plates,
        Kind.NI_NUMBER: rules.find_ni_numbers,
        Kind.NHS_NUMBER: rules.find_nhs_numbers,
        Kind.NIR: rules.find_nirs,
        Kind.INE: rules.find_ines,
        Kind.PASSPORT: rules.find_passports,
        Kind.ID_CARD: rules.find_id_cards,
        Kind.IP_ADDRESS: rules.find_ip_addresses,
        Kind.BANK_ACCOUNT: rules.find_bank_accounts,
        Kind.IBAN: rules.find_ibans,
    }


# Which kind wins when two findings overlap: numbers with a checksum, then numbers with their
# label, then the rest; names last, since a name inside an address or a school is that.
_PRECEDENCE = {
    kind: rank
    for rank, kind in enumerate(
        [
            Kind.IBAN, Kind.NIR, Kind.NHS_NUMBER, Kind.NI_NUMBER, Kind.EMAIL, Kind.IP_ADDRESS,
            Kind.BANK_ACCOUNT, Kind.INE, Kind.PASSPORT, Kind.ID_CARD, Kind.HANDLE, Kind.PHONE,
            Kind.DATE_OF_BIRTH, Kind.VEHICLE_PLATE, Kind.POSTCODE, Kind.ADDRESS,
            Kind.AGE_WITH_SCHOOL, Kind.SCHOOL_WITH_PERSON, Kind.NICKNAME, Kind.NAME,
        ]
    )
}  # fmt: skip


def build_engine() -> Any:
    """A Presidio analyzer with casehub's recognisers and the French pipeline, loaded now."""
    import spacy
    from presidio_analyzer import AnalyzerEngine, EntityRecognizer, RecognizerRegistry, RecognizerResult
    from presidio_analyzer.nlp_engine import NlpArtifacts, SpacyNlpEngine
    from spacy.tokens import Doc

    from services import identifier_rules as rules

    class NoteArtifacts(NlpArtifacts):
        """Presidio's artifacts, carrying the note that the recognisers read."""

        def __init__(self, note: rules.Note, **artifacts: Any) -> None:
            super().__init__(**artifacts)
            self.note = note

    class PeopleOnlyNlpEngine(SpacyNlpEngine):
        """spaCy's entity recogniser, run only on the sentences where it can change the answer.

        The rules settle most capitalised words from the word lists alone; the model reads the
        sentences with two or more capitalised words the lists do not know, which keeps a long
        note within the time budget. Nothing is ever downloaded: a missing model is an error.
        """

        def load(self) -> None:
            # Presidio's engine declares `nlp` only by the None it starts with.
            self.nlp = {"fr": spacy.load(SPACY_MODEL, exclude=SPACY_EXCLUDE)}  # type: ignore[assignment]

        def process_text(self, text: str, language: str):
            nlp = self.get_nlp("fr")
            note = rules.Note(text)
            segments = rules.unknown_name_sentences(note)
            for (offset, _), parsed in zip(segments, nlp.pipe(text[a:b] for a, b in segments), strict=True):
                note.people.extend(
                    (offset + entity.start_char, offset + entity.end_char)
                    for entity in parsed.ents
                    if entity.label_ == "PER"
                )
            # The recognisers read the note, not spaCy's tokens: an empty document is enough for
            # Presidio, and spares tokenising the whole text a second time.
            return NoteArtifacts(
                note,
                entities=[],
                tokens=Doc(nlp.vocab),
                tokens_indices=[],
                lemmas=[],
                nlp_engine=self,
                language=language,
            )

    class RuleRecognizer(EntityRecognizer):
        def __init__(self, kind: Kind, finder: Callable) -> None:
            self.kind, self.finder = kind, finder
            super().__init__(
                supported_entities=[kind.name], supported_language="fr", name=f"casehub_{kind.value}"
            )

        def load(self) -> None:
            pass

        def analyze(self, text, entities, nlp_artifacts=None):
            note = nlp_artifacts.note
            return [
                RecognizerResult(self.kind.name, start, end, score)
                for start, end, score in self.finder(note)
                if end > start
            ]

    registry = RecognizerRegistry(supported_languages=["fr"])
    for kind, finder in _finders().items():
        registry.add_recognizer(RuleRecognizer(kind, finder))
    nlp_engine = PeopleOnlyNlpEngine(models=[{"lang_code": "fr", "model_name": SPACY_MODEL}])
    nlp_engine.load()
    # Warm the word lists and the model so the first note is as fast as the rest.
    from services import identifier_lexicon

    for load in (
        identifier_lexicon.given_names, identifier_lexicon.surnames, identifier_lexicon.places,
        identifier_lexicon.organisations, identifier_lexicon.public_figures, identifier_lexicon.ordinary_words,  # noqa: E501
    ):  # fmt: skip
        load()
    engine = AnalyzerEngine(registry=registry, nlp_engine=nlp_engine, supported_languages=["fr"])
    engine.analyze("Léa Martin Smith a vu Kyle Dupont.", language="fr")
    return engine


class Detector:
    """The analyzer, built once on first use and shared by every thread.

    A build that fails (a missing model) is not tried again for `RETRY_AFTER_SECONDS`: every
    check until then fails closed at once. `build` makes the analyzer (tests give their own).
    """

    def __init__(self, build: Callable[[], Any] = build_engine) -> None:
        self._build = build
        self._engine: Any = None
        self._failed_at: float | None = None
        self._lock = threading.Lock()
        # spaCy does not promise that one pipeline may be used by several threads at once.
        self._scan_lock = threading.Lock()

    def engine(self) -> Any:
        if self._engine is not None:
            return self._engine
        with self._lock:
            if self._engine is not None:
                return self._engine
            if self._failed_at is not None and time.monotonic() - self._failed_at < RETRY_AFTER_SECONDS:
                raise DetectorUnavailable()
            started = time.monotonic()
            try:
                engine = self._build()
            except Exception as error:
                self._failed_at = time.monotonic()
                log.error("identifier check unavailable: %s: %s", type(error).__name__, error)
                raise DetectorUnavailable() from error
            self._engine, self._failed_at = engine, None
            log.info("identifier check ready in %.1f s (%s)", time.monotonic() - started, SPACY_MODEL)
            return engine

    def scan(self, text: str | None, field: str) -> list[Finding]:
        """Every identifier found in `text`, in order; `field` names where it was typed."""
        if not text or not text.strip():
            return []
        engine = self.engine()
        try:
            with self._scan_lock:
                results = engine.analyze(text, language="fr")
            return _resolve(text, field, results)
        except Exception as error:
            # Never the text: only what failed.
            log.error("identifier check failed on a %d-character text: %s", len(text), type(error).__name__)
            raise DetectorUnavailable() from error


detector = Detector()


def warm_up() -> None:
    """Build the check now (at start-up) rather than on the first note; raises if it cannot run."""
    detector.engine()


def _excerpt(text: str, start: int, end: int) -> str:
    excerpt = " ".join(text[start:end].split())
    return excerpt if len(excerpt) <= EXCERPT_MAX else excerpt[: EXCERPT_MAX - 1] + "…"


def _resolve(text: str, field: str, results: Iterable) -> list[Finding]:
    kept: list[Finding] = []
    ranked = sorted(results, key=lambda r: (_PRECEDENCE[Kind[r.entity_type]], -(r.end - r.start), r.start))
    for result in ranked:
        if any(result.start < other.end and other.start < result.end for other in kept):
            continue
        kept.append(
            Finding(
                field,
                Kind[result.entity_type],
                result.start,
                result.end,
                _excerpt(text, result.start, result.end),
            )
        )
    return sorted(kept, key=lambda finding: (finding.start, finding.end))


def scan(text: str | None, field: str) -> list[Finding]:
    """Every identifier found in `text`, in order; `field` names where it was typed."""
    return detector.scan(text, field)


def scan_fields(fields: dict[str, str | None]) -> list[Finding]:
    return [finding for name, text in fields.items() if text for finding in scan(text, name)]
