"""An evaluation report drawn as an A4 PDF: what it covers and how its counts are protected, two
charts, the period's tables and the durations, with "Page X of Y" on every page.

Everything in it comes from the protected report (`services.reports.Report`), so the PDF can
disclose nothing the CSV does not: a withheld count reads the same words as there, and the
charts are drawn from the same cells. Only the period's tables are printed; the year's tables
(twelve month columns, too wide for a page) feed the trend chart alone.

Each chart's alt text is given to the PDF as the image's alternative text, for screen readers,
and printed under it as its caption, so that the figures are in the PDF's text as well (a search,
a copy, whoever extracts the text) and nobody depends on seeing the picture.

Text is drawn as the case export draws it (`services.export_pdf`): a Unicode TrueType font when
one is found, else the core font Helvetica, for which text is made Latin-1 safe. A report holds
no typed text, but a region's name can carry characters beyond Latin-1.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from fpdf import FPDF
from fpdf.enums import XPos, YPos
from fpdf.fonts import FontFace

from services import report_charts
from services.disclosure import DurationSummary, ProtectedTable, fewer_than, withheld_words
from services.export_pdf import CORE_FAMILY, FAMILY, MARGIN, Font, drawable, look_alike
from services.reports import Report

TITLE = "casehub evaluation report"
BODY = 9.5
LINE = 4.8
WIDTH = 180  # mm: A4's width less its margins
LABEL_WIDTH = 62  # mm: a table's first column, its rows' labels
CHART_WIDTH = 170  # mm, centred
CAPTION = 8


def render(report: Report, font: Font | None, *, made_at: datetime | None = None) -> bytes:
    """The PDF of `report`, drawn with `font` (or the core-font fallback); `made_at` is now
    unless given."""
    pdf = ReportPDF(report, font, made_at or datetime.now(UTC))
    pdf.opening()
    charts = [c for c in (report_charts.trend(report), report_charts.funnel(report)) if c is not None]
    if charts:
        pdf.add_page()  # both charts on one page, where they can be read side by side
        pdf.section("Charts")
        for chart in charts:
            pdf.chart(chart)
    pdf.section("Counts")
    for table in report.tables:
        pdf.counts(table)
    pdf.section("Durations")
    pdf.durations(report.durations)
    return bytes(pdf.output())


class ReportPDF(FPDF):
    """An A4 page with the report's running header and its page numbers."""

    def __init__(self, report: Report, font: Font | None, made_at: datetime) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.report, self.made_at = report, made_at
        self.has_bold = font is None or font.bold is not None
        self.drawable_chars: frozenset[int] = frozenset(range(256))
        if font is not None:
            self.drawable_chars = drawable(font.regular) & (
                drawable(font.bold) if font.bold else drawable(font.regular)
            )
            self.add_font(FAMILY, "", str(font.regular))
            if font.bold is not None:
                self.add_font(FAMILY, "B", str(font.bold))
        self.typeface = FAMILY if font is not None else CORE_FAMILY
        self.set_margins(MARGIN, MARGIN, MARGIN)
        self.set_auto_page_break(auto=True, margin=MARGIN + 5)
        self.alias_nb_pages()
        self.set_title(self.plain(f"{TITLE}: {report.scope}, {report.period.label}"))
        self.set_author("casehub")
        self.set_creator("casehub")
        self.set_creation_date(made_at)
        self.add_page()

    # ---- text --------------------------------------------------------------------------------
    def plain(self, text: object) -> str:
        """Text as the font can draw it: a look-alike or "?" for each character it cannot."""
        value = str(text)
        out = []
        for char in value:
            if ord(char) in self.drawable_chars or char == "\n":
                out.append(char)
                continue
            out.append(look_alike(char, lambda c: ord(c) in self.drawable_chars))
        return "".join(out)

    def style(self, size: float = BODY, *, bold: bool = False) -> None:
        self.set_font(self.typeface, "B" if bold and self.has_bold else "", size)

    def para(self, text: object, *, size: float = BODY, bold: bool = False, line: float = LINE) -> None:
        self.style(size, bold=bold)
        self.multi_cell(0, line, self.plain(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT, align="L")

    def room_for(self, height: float) -> None:
        """A new page unless `height` mm fit on this one: a heading never alone at its foot."""
        if self.get_y() + height > self.h - MARGIN - 5:
            self.add_page()

    # ---- page furniture ----------------------------------------------------------------------
    def header(self) -> None:
        if self.page_no() == 1:
            return
        self.style(7.5)
        self.set_text_color(110)
        heading = f"{TITLE} · {self.report.scope} · {self.report.period.label}"
        self.cell(0, 5, self.plain(heading), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_text_color(0)
        self.ln(2)

    def footer(self) -> None:
        self.set_y(-MARGIN)
        self.style(7.5)
        self.set_text_color(110)
        self.cell(0, 5, f"Page {self.page_no()} of {{nb}}", align="C")
        self.set_text_color(0)

    def section(self, title: str) -> None:
        self.room_for(45)
        self.ln(3)
        self.para(title, size=14, bold=True)
        self.ln(1.5)

    # ---- the parts ---------------------------------------------------------------------------
    def opening(self) -> None:
        """The title, what the report covers, and how its counts are protected."""
        report, threshold = self.report, self.report.threshold
        self.style(22, bold=True)
        self.cell(0, 11, TITLE, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.para(f"{report.scope}, {report.period.label}", size=14)
        self.ln(4)
        last_day = (report.period.end - timedelta(days=1)).date()
        _grid(
            self,
            None,
            [
                ("Areas", report.scope),
                ("Period", f"{report.period.label}: {report.period.start.date()} to {last_day}, UTC"),
                ("Made", f"{self.made_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC"),
            ],
            (45, WIDTH - 45),
        )
        self.ln(2)
        self.para("Disclosure control", bold=True)
        self.para(
            f'A count from 1 to {threshold - 1} is shown as "{withheld_words(threshold)}", and so are '
            "some larger counts, withheld so that a small one cannot be worked out from the totals. "
            "Zeros are shown: that nobody is in a cell identifies nobody. A duration measured over "
            f'fewer than {threshold} items is not given ("{fewer_than(threshold)} measured"). No '
            "report names a case or a person: it holds counts and durations only."
        )

    def chart(self, chart: report_charts.Chart) -> None:
        """A chart with its heading, its alt text for screen readers, and the same text printed
        under it."""
        height = CHART_WIDTH * report_charts.SIZE[1] / report_charts.SIZE[0]
        self.room_for(height + 25)
        self.para(chart.title, size=11, bold=True)
        self.image(
            io.BytesIO(chart.png),
            x=MARGIN + (WIDTH - CHART_WIDTH) / 2,
            w=CHART_WIDTH,
            alt_text=self.plain(chart.alt_text),
        )
        self.set_text_color(70)
        self.para(chart.alt_text, size=CAPTION, line=3.8)
        self.set_text_color(0)
        self.ln(3)

    def counts(self, table: ProtectedTable) -> None:
        """A protected table with its row totals, its column totals and its grand total."""
        self.room_for(20 + 8 * len(table.rows))
        self.para(table.title, size=10.5, bold=True)
        self.ln(1)
        lines = [*zip(table.rows, table.cells, table.row_totals, strict=True)]
        lines.append(("Total", table.column_totals, table.total))
        shown = [[label, *(cell.shown(table.threshold) for cell in cells), total.shown(table.threshold)]
                 for label, cells, total in lines]  # fmt: skip
        figures = len(table.columns) + 1
        widths = (LABEL_WIDTH, *[(WIDTH - LABEL_WIDTH) / figures] * figures)
        _grid(self, ("", *table.columns, "Total"), shown, widths, numbers=True)

    def durations(self, summaries: Sequence[DurationSummary]) -> None:
        """Each duration's quartiles and median, or why there are none."""
        rows: list[Sequence[str]] = []
        for summary in summaries:
            if summary.withheld:
                rows.append((summary.title, f"{fewer_than(summary.threshold)} measured"))
            elif summary.empty:
                rows.append((summary.title, "nothing to measure"))
            else:
                quartiles = (summary.lower_quartile, summary.median, summary.upper_quartile)
                rows.append((summary.title, *(f"{q:g} {summary.unit}" for q in quartiles)))
        headings = ("", "Lower quartile", "Median", "Upper quartile")
        _grid(self, headings, rows, (LABEL_WIDTH, *[(WIDTH - LABEL_WIDTH) / 3] * 3), numbers=True)


def _grid(
    pdf: ReportPDF,
    headings: Sequence[str] | None,
    rows: Sequence[Sequence[str]],
    widths: Sequence[float],
    *,
    numbers: bool = False,
) -> None:
    """A table, its headings repeated on a new page; figures right-aligned when `numbers`. A
    row shorter than the headings has its last text across the remaining columns."""
    pdf.style(8.5)
    bold = FontFace(emphasis="BOLD" if pdf.has_bold else None, fill_color=(235, 235, 235))
    align = ("LEFT", *["RIGHT" if numbers else "LEFT"] * (len(widths) - 1))
    with pdf.table(
        col_widths=tuple(widths),
        width=sum(widths),
        align="LEFT",
        text_align=align,
        line_height=4.2,
        first_row_as_headings=headings is not None,
        headings_style=bold,
        padding=1,
    ) as table:
        for values in ([headings] if headings is not None else []) + list(rows):
            row = table.row()
            for number, value in enumerate(values):
                span = len(widths) - number if number == len(values) - 1 else 1
                row.cell(pdf.plain(value), colspan=span, align="CENTER" if span > 1 else None)
    pdf.ln(3)
