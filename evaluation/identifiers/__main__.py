"""Score the identifier check against the evaluation notes.

    python -m evaluation.identifiers            # whole set, the even and odd halves, the three later splits
    python -m evaluation.identifiers --misses   # also list what was missed and false alarms
    python -m evaluation.identifiers --check    # exit 1 when a target is missed (whole set)

A finding counts for an expected span when the two overlap and the kinds match ("recall, any
kind" ignores the kind). A false positive is a finding that overlaps no expected span.
The rules were tuned on the notes with an even id number only: the odd half is the honest
figure for notes the rules have not seen. `fresh.jsonl` is a separate split written later and
measured before any rule was changed for it; `holdout.jsonl` is a second such split, written
after the rules were tuned on the fresh one and measured with no rule changed since;
`holdout2.jsonl` is a third such split, written without reading the rules.
`--check` looks at the whole main set only.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from services.identifiers import Finding, Kind, scan

NOTES = Path(__file__).with_name("notes.jsonl")
FRESH = Path(__file__).with_name("fresh.jsonl")
HOLDOUT = Path(__file__).with_name("holdout.jsonl")
HOLDOUT2 = Path(__file__).with_name("holdout2.jsonl")
LANGUAGES = ("en", "fr", "mixed")
STRUCTURED = frozenset(
    {
        Kind.PHONE, Kind.EMAIL, Kind.HANDLE, Kind.VEHICLE_PLATE, Kind.POSTCODE, Kind.DATE_OF_BIRTH,
        Kind.NI_NUMBER, Kind.NHS_NUMBER, Kind.NIR, Kind.INE, Kind.PASSPORT, Kind.ID_CARD,
        Kind.IP_ADDRESS, Kind.BANK_ACCOUNT, Kind.IBAN,
    }
)  # fmt: skip
NAMES = frozenset({Kind.NAME, Kind.NICKNAME})
TARGETS = {"structured recall": 0.98, "name recall": 0.90, "false-positive rate": 0.05}


@dataclass
class Note:
    id: str
    lang: str
    text: str
    expected: list[tuple[Kind, int, int]]

    @property
    def number(self) -> int:
        return int(self.id.rsplit("-", 1)[1])


@dataclass
class Report:
    notes: int = 0
    hits: dict[tuple[Kind, str], int] = field(default_factory=lambda: defaultdict(int))
    totals: dict[tuple[Kind, str], int] = field(default_factory=lambda: defaultdict(int))
    hits_any_kind: dict[tuple[Kind, str], int] = field(default_factory=lambda: defaultdict(int))
    found: dict[Kind, int] = field(default_factory=lambda: defaultdict(int))
    found_right: dict[Kind, int] = field(default_factory=lambda: defaultdict(int))
    negatives: int = 0
    negatives_flagged: int = 0
    unmatched: int = 0
    misses: list[str] = field(default_factory=list)
    false_alarms: list[str] = field(default_factory=list)

    def recall(self, kinds: Iterable[Kind], lang: str | None = None, any_kind: bool = False) -> float | None:
        hits = self.hits_any_kind if any_kind else self.hits
        keys = [key for key in self.totals if key[0] in set(kinds) and (lang is None or key[1] == lang)]
        total = sum(self.totals[key] for key in keys)
        return sum(hits[key] for key in keys) / total if total else None

    def precision(self, kind: Kind) -> float | None:
        return self.found_right[kind] / self.found[kind] if self.found[kind] else None

    @property
    def false_positive_rate(self) -> float:
        return self.negatives_flagged / self.negatives if self.negatives else 0.0

    def figures(self) -> dict[str, float]:
        return {
            "structured recall": self.recall(STRUCTURED) or 0.0,
            "name recall": self.recall(NAMES) or 0.0,
            "false-positive rate": self.false_positive_rate,
        }

    def missed_targets(self) -> list[str]:
        figures = self.figures()
        missed = [
            f"{name} {figures[name]:.1%} (target ≥ {target:.0%})"
            for name, target in TARGETS.items()
            if name != "false-positive rate" and figures[name] < target
        ]
        if figures["false-positive rate"] > TARGETS["false-positive rate"]:
            missed.append(f"false-positive rate {figures['false-positive rate']:.1%} (target ≤ 5%)")
        return missed


def load(path: Path = NOTES) -> list[Note]:
    notes = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        expected = []
        cursor: dict[str, int] = {}
        for item in row["expect"]:
            start = row["text"].find(item["text"], cursor.get(item["text"], 0))
            if start < 0:
                raise ValueError(f"{row['id']}: expected text {item['text']!r} is not in the note")
            cursor[item["text"]] = start + 1
            expected.append((Kind(item["kind"]), start, start + len(item["text"])))
        notes.append(Note(row["id"], row["lang"], row["text"], expected))
    return notes


def _overlaps(finding: Finding, start: int, end: int) -> bool:
    return finding.start < end and start < finding.end


def evaluate(notes: Iterable[Note]) -> Report:
    report = Report()
    for note in notes:
        report.notes += 1
        findings = scan(note.text, "note")
        for kind, start, end in note.expected:
            report.totals[kind, note.lang] += 1
            overlapping = [finding for finding in findings if _overlaps(finding, start, end)]
            if overlapping:
                report.hits_any_kind[kind, note.lang] += 1
            if any(finding.kind == kind for finding in overlapping):
                report.hits[kind, note.lang] += 1
            else:
                got = ", ".join(f"{f.kind.value}" for f in overlapping) or "nothing"
                report.misses.append(f"{note.id} {kind.value} {note.text[start:end]!r} (found {got})")
        if not note.expected:
            report.negatives += 1
            report.negatives_flagged += bool(findings)
        for finding in findings:
            report.found[finding.kind] += 1
            matches = [(kind, s, e) for kind, s, e in note.expected if _overlaps(finding, s, e)]
            if any(kind == finding.kind for kind, _, _ in matches):
                report.found_right[finding.kind] += 1
            if not matches:
                report.unmatched += 1
                report.false_alarms.append(f"{note.id} {finding.kind.value} {finding.excerpt!r}")
    return report


def _percent(value: float | None) -> str:
    return "    -" if value is None else f"{value:6.1%}"


def render(title: str, report: Report) -> str:
    lines = [f"## {title}: {report.notes} notes", ""]
    lines.append(f"{'kind':<20} " + " ".join(f"{lang:>14}" for lang in (*LANGUAGES, "all")) + "  precision")
    for kind in Kind:
        cells = []
        for lang in (*LANGUAGES, None):
            total = sum(
                n for (k, lg), n in report.totals.items() if k == kind and (lang is None or lg == lang)
            )
            hits = sum(n for (k, lg), n in report.hits.items() if k == kind and (lang is None or lg == lang))
            cells.append(
                f"{_percent(hits / total if total else None)} ({hits:>2}/{total:>2})"
                if total
                else f"{'-':>14}"
            )
        lines.append(
            f"{kind.value:<20} "
            + " ".join(f"{cell:>14}" for cell in cells)
            + f"  {_percent(report.precision(kind))}"
        )
    lines.append("")
    for label, kinds in (
        ("structured identifiers", STRUCTURED),
        ("names and nicknames", NAMES),
        ("every kind", set(Kind)),
    ):
        per_lang = "  ".join(f"{lang} {_percent(report.recall(kinds, lang))}" for lang in LANGUAGES)
        lines.append(
            f"recall, {label:<23} {_percent(report.recall(kinds))}   ({per_lang})"
            f"   any kind: {_percent(report.recall(kinds, any_kind=True))}"
        )
    lines.append(
        f"false positives: {report.negatives_flagged}/{report.negatives} notes without identifiers flagged "
        f"({report.false_positive_rate:.1%}); {report.unmatched} findings matching nothing expected "
        f"({report.unmatched / report.notes:.3f} per note)"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m evaluation.identifiers", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--check", action="store_true", help="exit 1 when the whole set misses a target")
    parser.add_argument("--misses", action="store_true", help="list misses and false alarms")
    parser.add_argument(
        "--half",
        choices=["even", "odd", "all", "fresh", "holdout", "holdout2"],
        help="only this part of the set (or one of the later splits)",
    )
    args = parser.parse_args(argv)

    notes = load()
    parts = {
        "whole set": notes,
        "even half (tuned on)": [note for note in notes if note.number % 2 == 0],
        "odd half (held out)": [note for note in notes if note.number % 2 == 1],
        "fresh split (held out)": load(FRESH),
        "second held-out split": load(HOLDOUT),
        "third held-out split": load(HOLDOUT2),
    }
    if args.half:
        prefix = {
            "all": "whole",
            "even": "even",
            "odd": "odd",
            "fresh": "fresh",
            "holdout": "second",
            "holdout2": "third",
        }
        parts = {name: part for name, part in parts.items() if name.startswith(prefix[args.half])}
    reports = {}
    for name, part in parts.items():
        reports[name] = report = evaluate(part)
        print(render(name, report))
        if args.misses:
            print("\nmissed:\n  " + "\n  ".join(report.misses or ["none"]))
            print("false alarms:\n  " + "\n  ".join(report.false_alarms or ["none"]))
        print()
    if args.check:
        first = reports.get("whole set") or next(iter(reports.values()))
        missed = first.missed_targets()
        for line in missed:
            print(f"target missed: {line}")
        return 1 if missed else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
