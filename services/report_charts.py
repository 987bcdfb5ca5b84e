"""Charts of an evaluation report, drawn from its protected tables only: a month-by-month trend
over the year so far and the period's funnel from referral to support.

Drawn with matplotlib's `Figure` and the Agg canvas directly, never `pyplot`: pyplot keeps a
global current figure and picks a backend for the whole process, neither of which is safe in a
web process serving several requests at once. Each chart comes with its alt text, a sentence or
two that gives its figures, so that whoever cannot see the picture (or reads the PDF's text)
loses nothing.

A withheld count is never drawn as a number: in a line it is a gap (NaN, which matplotlib leaves
undrawn), and in the funnel an empty dashed outline as long as the axis, so that it tells of no
size, labelled with the words every withheld count reads. A zero would be a claim the
disclosure control does not make.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from services.disclosure import Cell, ProtectedTable, withheld_words
from services.reports import CASES, REFERRALS, STAGES, Report

# Okabe and Ito's palette, told apart with every common colour-vision deficiency; the lines
# differ in their markers and dashes too, for print in grey.
BLUE, ORANGE, GREEN = "#0072B2", "#E69F00", "#009E73"
GREY = "#555555"
SIZE = (7.0, 3.0)  # inches: the width of an A4 page's text at a readable scale
DPI = 140
STAGE_ROWS = ("screening", "panel decision", "support")


@dataclass(frozen=True)
class Chart:
    title: str
    png: bytes
    alt_text: str


@dataclass(frozen=True)
class _Series:
    label: str
    cells: tuple[Cell, ...]
    colour: str
    marker: str
    dashes: str


def trend(report: Report) -> Chart | None:
    """Referrals received, cases opened and cases closed in each month of the period's year up
    to its last month, from the year tables; None without them."""
    referrals, cases = report.year_table(REFERRALS), report.year_table(CASES)
    table = referrals if referrals is not None else cases
    if table is None:
        return None
    months = (report.period.end - timedelta(microseconds=1)).month
    series: list[_Series] = []
    if referrals is not None:
        series.append(_Series("Referrals received", referrals.column_totals[:months], BLUE, "o", "-"))
    if cases is not None:
        for row, label, colour, marker, dashes in (
            ("opened", "Cases opened", ORANGE, "s", "--"),
            ("closed", "Cases closed", GREEN, "^", ":"),
        ):
            if row in cases.rows:
                cells = cases.cells[cases.rows.index(row)][:months]
                series.append(_Series(label, cells, colour, marker, dashes))
    year = str(report.period.start.year)
    labels = [column.removesuffix(f" {year}") for column in table.columns[:months]]
    words = withheld_words(report.threshold)
    figure = _lines(series, labels, words)
    return Chart(f"Month by month, {year}", _png(figure), _trend_alt(series, labels, year, words))


def _lines(series: Sequence[_Series], labels: Sequence[str], words: str) -> Figure:
    figure = Figure(figsize=SIZE, dpi=DPI, layout="constrained")
    axes = figure.add_subplot()
    for line in series:
        values = [math.nan if cell.value is None else cell.value for cell in line.cells]
        axes.plot(
            range(len(labels)), values, label=line.label, color=line.colour,
            marker=line.marker, linestyle=line.dashes, linewidth=1.8, markersize=4.5,
        )  # fmt: skip
    axes.set_xticks(range(len(labels)), labels)
    axes.set_xlim(-0.5, max(len(labels) - 0.5, 1.5))
    _count_axis(axes, "y", [c.value for line in series for c in line.cells], room=1.35)
    axes.legend(loc="upper left", fontsize=7.5, frameon=False, ncols=len(series))
    if any(c.value is None for line in series for c in line.cells):
        axes.set_xlabel(f"A gap in a line: a month whose count is {words}", fontsize=7.5, color=GREY)
    _style(axes)
    return figure


def _trend_alt(series: Sequence[_Series], labels: Sequence[str], year: str, words: str) -> str:
    """Which lines, over which months, each month's figure, and which months are withheld."""
    span = labels[0] if len(labels) == 1 else f"{labels[0]} to {labels[-1]}"
    parts = [f"{_listed([line.label for line in series]).capitalize()} each month of {year}, {span}."]
    gaps: list[str] = []
    for line in series:
        months = list(zip(labels, line.cells, strict=True))
        figures = ", ".join(f"{m} {'withheld' if c.value is None else c.value}" for m, c in months)
        parts.append(f"{line.label}: {figures}.")
        if withheld := [m for m, c in months if c.withheld]:
            gaps.append(f"{line.label.lower()} in {_listed(withheld)}")
    if gaps:
        parts.append(f"Withheld ({words}), shown as gaps in the lines: {'; '.join(gaps)}.")
    return " ".join(parts)


def _listed(items: Sequence[str]) -> str:
    """ "a", "a and b", "a, b and c"."""
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def funnel(report: Report) -> Chart | None:
    """Referrals received in the period, then the cases that first reached screening, panel
    decision and support in it; None when the report has no table of stages reached."""
    stages = _table(report.tables, STAGES)
    if stages is None:
        return None
    bars: list[tuple[str, Cell]] = []
    referrals = _table(report.tables, REFERRALS)
    if referrals is not None:
        bars.append(("Referrals received", referrals.total))
    for row in STAGE_ROWS:
        if row in stages.rows:
            bars.append((f"Reached {row}", stages.row_totals[stages.rows.index(row)]))
    figures = "; ".join(f"{label.lower()}: {cell.shown(report.threshold)}" for label, cell in bars)
    alt = f"Referrals received and cases reaching each stage in {report.period.label}: {figures}."
    if any(cell.withheld for _, cell in bars):
        alt += " A withheld figure is drawn as an empty dashed bar, not as a length."
    figure = _bars(bars, withheld_words(report.threshold))
    return Chart(f"From referral to support, {report.period.label}", _png(figure), alt)


def _bars(bars: Sequence[tuple[str, Cell]], words: str) -> Figure:
    figure = Figure(figsize=SIZE, dpi=DPI, layout="constrained")
    axes = figure.add_subplot()
    top = _count_axis(axes, "x", [cell.value for _, cell in bars])
    places = range(len(bars))[::-1]  # the first bar at the top
    for place, (_, cell) in zip(places, bars, strict=True):
        if cell.value is None:
            axes.barh(place, top, height=0.6, fill=False, edgecolor="#999999", linestyle="--", hatch="/")
            axes.text(top / 2, place, words, ha="center", va="center", fontsize=8,
                      bbox={"facecolor": "white", "edgecolor": "none", "pad": 1.5})  # fmt: skip
        else:
            axes.barh(place, cell.value, height=0.6, color=BLUE)
            axes.text(cell.value, place, f" {cell.value}", ha="left", va="center", fontsize=8)
    axes.set_yticks(list(places), [label for label, _ in bars])
    _style(axes)
    return figure


def _table(tables: Sequence[ProtectedTable], title: str) -> ProtectedTable | None:
    return next((t for t in tables if t.title == title), None)


def _count_axis(axes: Axes, which: str, values: Sequence[int | None], *, room: float = 1.15) -> float:
    """An axis of counts from zero, in whole numbers, with room above the largest published
    count (for a bar's label, or the legend); its top is returned."""
    largest = max((v for v in values if v is not None), default=0)
    top = max(largest * room, 5.0)
    axis = axes.xaxis if which == "x" else axes.yaxis
    axis.set_major_locator(MaxNLocator(integer=True))
    (axes.set_xlim if which == "x" else axes.set_ylim)(0, top)
    return top


def _style(axes: Axes) -> None:
    axes.tick_params(labelsize=8)
    axes.spines[["top", "right"]].set_visible(False)
    axes.grid(axis="both", color="#dddddd", linewidth=0.6)
    axes.set_axisbelow(True)


def _png(figure: Figure) -> bytes:
    """The figure as a PNG, without the "Software" text chunk matplotlib would add: the bytes
    then depend on the figures drawn, not on the version that drew them."""
    out = io.BytesIO()
    FigureCanvasAgg(figure).print_png(out, metadata={"Software": None})
    return out.getvalue()
