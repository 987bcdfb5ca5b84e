"""How long the identifier check takes, and how much memory its models hold.

    python -m benchmarks.identifier_check [--rounds N]

Prints the time to build the check (models loaded from disk), the resident memory before and
after, and p50/p95 of `scan` for one-line notes and for 3,000-character notes, with the models
loaded. Targets: p95 under 10 ms for one line and under 50 ms for 3,000 characters.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from pathlib import Path

from evaluation.identifiers.__main__ import load
from services import identifiers

LONG = 3000


def rss_mib() -> float:
    """Resident memory of this process, from /proc (Linux), in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def _time(texts: list[str]) -> list[float]:
    samples = []
    for text in texts:
        started = time.perf_counter()
        identifiers.scan(text, "benchmark")
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.identifier_check")
    parser.add_argument("--rounds", type=int, default=300, help="notes timed in each class")
    args = parser.parse_args()

    notes = [note.text for note in load()]
    one_line = [text for text in notes if "\n" not in text and len(text) <= 200]
    paragraphs = [text for text in notes if len(text) > 150]
    rng = random.Random(7)
    long_notes = []
    for _ in range(args.rounds):
        parts: list[str] = []
        while sum(len(part) + 1 for part in parts) < LONG:
            parts.append(rng.choice(paragraphs))
        long_notes.append("\n".join(parts)[:LONG])
    short_notes = [rng.choice(one_line) for _ in range(args.rounds)]

    before = rss_mib()
    started = time.perf_counter()
    identifiers.warm_up()
    load_seconds = time.perf_counter() - started
    after = rss_mib()

    _time(short_notes[:20] + long_notes[:5])  # first calls fill caches
    short = _time(short_notes)
    long = _time(long_notes)

    print(
        f"load: {load_seconds:.1f} s; memory {before:.0f} MiB before, {after:.0f} MiB after "
        f"(+{after - before:.0f} MiB for the analyser libraries, the model and the word lists)"
    )
    for label, samples, target in (("one-line notes", short, 10), (f"{LONG}-character notes", long, 50)):
        p95 = _percentile(samples, 0.95)
        verdict = "ok" if p95 < target else "over target"
        print(
            f"{label:<24} p50 {statistics.median(samples):6.1f} ms   p95 {p95:6.1f} ms   "
            f"max {max(samples):6.1f} ms   (n={len(samples)}, target p95 < {target} ms: {verdict})"
        )


if __name__ == "__main__":
    main()
