"""The evaluation report as a PDF with charts, from reports built by hand."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
from pypdf import PdfReader

from services import export_pdf, report_charts, report_pdf, reports
from services.disclosure import CountTable, ProtectedTable, protect, summarise

PNG = b"\x89PNG\r\n\x1a\n"
WITHHELD = "fewer than 5 or withheld"
# Labelled as the year tables label their months: "Jan 2026" to "Dec 2026".
MONTHS = tuple(reports.Period.parse(f"2026-{m:02d}").column_label for m in range(1, 13))
MADE = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)


def year_table(title: str, rows: dict[str, tuple[int, ...]]) -> ProtectedTable:
    return protect(CountTable(title, tuple(rows), MONTHS, tuple(rows.values())), 5)


def period_table(title: str, rows: dict[str, int], column: str = "Nov 2026") -> ProtectedTable:
    cells = tuple((count,) for count in rows.values())
    return protect(CountTable(title, tuple(rows), (column,), cells), 5)


def report(
    *,
    scope: str = "dep-93",
    opened: tuple[int, ...] = (12, 9, 8, 7, 6, 11, 9, 10, 11, 12, 8, 9),
    stages: dict[str, int] | None = None,
    year: bool = True,
) -> reports.Report:
    """November 2026 in an area: 19 referrals; 26 cases opened, 14 closed (published); the
    year so far month by month."""
    referrals_by_month = {
        "education": (9, 8, 7, 6, 12, 13, 10, 11, 9, 8, 7, 9),
        "police": (10, 12, 14, 9, 8, 7, 6, 9, 10, 11, 12, 13),
    }
    cases_by_month = {"opened": opened, "closed": (8, 7, 6, 9, 10, 11, 12, 7, 6, 9, 8, 10)}
    tables = [
        period_table(reports.REFERRALS, {"education": 7, "police": 12}),
        period_table(reports.CASES, {"opened": 26, "closed": 14}),
        period_table(reports.CONSENT, {"given": 3, "withdrawn": 0, "not required": 9}),
    ]
    if stages is not None:
        tables.append(period_table(reports.STAGES, stages))
    durations = (
        summarise(reports.TO_SCREENING, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]),
        summarise(reports.SUPPORT_LENGTH, [30.0, 40.0]),
        summarise(reports.FIRST_ACK, [], unit="minutes"),
    )
    year_tables = (
        (year_table(reports.REFERRALS, referrals_by_month), year_table(reports.CASES, cases_by_month))
        if year
        else ()
    )
    return reports.Report(
        period=reports.Period.parse("2026-11"),
        scope=scope,
        threshold=5,
        tables=tuple(tables),
        durations=durations,
        year_tables=year_tables,
    )


STAGES = {"screening": 15, "panel decision": 9, "support": 6}


def pdf_pages(pdf: bytes) -> list[str]:
    return [" ".join(page.extract_text().split()) for page in PdfReader(io.BytesIO(pdf)).pages]


def unicode_font() -> export_pdf.Font:
    font = export_pdf.find_font()
    if font is None:
        pytest.skip("no Unicode font (DejaVu Sans) on this machine")
    return font


# ---- the charts --------------------------------------------------------------------------------


def test_the_trend_gives_each_month_of_the_year_up_to_the_period():
    chart = report_charts.trend(report())
    assert chart is not None and chart.png.startswith(PNG)
    alt = chart.alt_text
    assert "Referrals received: Jan 19, Feb 20, Mar 21," in alt and "Nov 19." in alt
    assert "Cases opened: Jan 12, Feb 9," in alt and "Cases closed: Jan 8," in alt
    assert "Dec" not in alt  # the months after the period are not drawn
    assert "withheld" not in alt  # nothing was


def test_a_withheld_month_is_a_gap_said_so_never_a_zero():
    opened = (12, 9, 8, 7, 6, 3, 9, 10, 11, 12, 8, 9)  # June's 3 is withheld
    chart = report_charts.trend(report(opened=opened))
    assert chart is not None
    alt = chart.alt_text
    # March's 8 is withheld with it, so that June's cannot be worked out from the totals.
    assert "Cases opened: Jan 12, Feb 9, Mar withheld, Apr 7, May 6, Jun withheld, Jul 9," in alt
    assert "Jun 0" not in alt and "Jun 3" not in alt and "Mar 8" not in alt
    assert f"Withheld ({WITHHELD}), shown as gaps in the lines: cases opened in Mar and Jun;" in alt


def test_without_the_year_tables_there_is_no_trend():
    assert report_charts.trend(report(year=False)) is None


def test_the_funnel_runs_from_referrals_to_support():
    chart = report_charts.funnel(report(stages=STAGES))
    assert chart is not None and chart.png.startswith(PNG)
    assert chart.alt_text == (
        "Referrals received and cases reaching each stage in 2026-11: referrals received: 19; "
        "reached screening: 15; reached panel decision: 9; reached support: 6."
    )


def test_a_withheld_stage_is_an_outline_with_the_withheld_words():
    chart = report_charts.funnel(report(stages={"screening": 15, "panel decision": 3, "support": 8}))
    assert chart is not None
    assert f"reached panel decision: {WITHHELD};" in chart.alt_text
    assert "reached screening: 15" in chart.alt_text  # a published count stays a number
    assert "drawn as an empty dashed bar" in chart.alt_text
    assert "panel decision: 3" not in chart.alt_text and "panel decision: 0" not in chart.alt_text


def test_without_the_stages_table_there_is_no_funnel():
    assert report_charts.funnel(report()) is None


# ---- the PDF -----------------------------------------------------------------------------------


def test_the_pdf_gives_the_report_with_its_charts_tables_and_durations():
    given = report(stages=STAGES)
    pdf = report_pdf.render(given, unicode_font(), made_at=MADE)
    assert pdf.startswith(b"%PDF-")
    pages = pdf_pages(pdf)
    for number, text in enumerate(pages, start=1):
        assert f"Page {number} of {len(pages)}" in text
    whole = " ".join(pages)
    assert whole.startswith("casehub evaluation report")
    assert "Areas dep-93" in whole and "Period 2026-11: 2026-11-01 to 2026-11-30, UTC" in whole
    assert "Made 2026-12-01 09:30 UTC" in whole
    assert f'A count from 1 to 4 is shown as "{WITHHELD}"' in whole
    assert "No report names a case or a person" in whole
    for table in given.tables:
        assert table.title in whole
    # Consent given: 3, withheld in its cell and its total, and "not required" with it; zeros shown.
    assert f"given {WITHHELD} {WITHHELD} withdrawn 0 0 not required {WITHHELD} {WITHHELD}" in whole
    assert "Total 12 12" in whole
    assert "police 12 12" in whole and "Total 19 19" in whole
    assert "panel decision 9 9" in whole
    assert "Referral to screening 2.2 days 3.5 days 4.8 days" in whole
    assert "Length of support fewer than 5 measured" in whole
    assert "A crisis to its first acknowledgement nothing to measure" in whole
    trend, funnel = report_charts.trend(given), report_charts.funnel(given)
    assert trend is not None and funnel is not None
    assert " ".join(trend.alt_text.split()) in whole and funnel.alt_text in whole
    assert "Jan 2026" not in whole  # the year's tables feed the trend only


def test_both_charts_are_images_on_one_page_with_their_alt_text():
    pdf = report_pdf.render(report(stages=STAGES), unicode_font(), made_at=MADE)
    reader = PdfReader(io.BytesIO(pdf))
    chart_pages = [page for page in reader.pages if page.images]
    assert len(chart_pages) == 1 and len(chart_pages[0].images) == 2
    assert "Charts" in chart_pages[0].extract_text()
    alts = [
        str(element.get("/Alt"))
        for element in _structure(reader.trailer["/Root"]["/StructTreeRoot"])
        if element.get("/Alt")
    ]
    assert any(alt.startswith("Referrals received, cases opened and cases closed") for alt in alts)
    assert any(alt.startswith("Referrals received and cases reaching each stage") for alt in alts)


def _structure(node: object) -> list[dict]:
    """Every element of a PDF's structure tree, where an image's alt text is kept."""
    node = node.get_object() if hasattr(node, "get_object") else node
    found: list[dict] = []
    if isinstance(node, dict):
        found.append(node)
        kids = node.get("/K")
        for kid in kids if isinstance(kids, list) else [kids] if kids is not None else []:
            found.extend(_structure(kid))
    return found


def test_without_charts_the_pdf_still_gives_the_tables():
    pdf = report_pdf.render(report(year=False), unicode_font(), made_at=MADE)
    whole = " ".join(pdf_pages(pdf))
    assert "Charts" not in whole and "Cases opened and closed" in whole
    assert not any(page.images for page in PdfReader(io.BytesIO(pdf)).pages)


def test_the_core_font_fallback_draws_a_region_with_accents():
    given = report(scope="region Île-de-France (10 areas)", stages=STAGES)
    pdf = report_pdf.render(given, None, made_at=MADE)
    pages = pdf_pages(pdf)
    assert "Areas region Île-de-France (10 areas)" in pages[0]
    assert "region Île-de-France (10 areas) · 2026-11" in pages[1]  # the running header
    assert "Referral to screening 2.2 days" in pages[-1]
    assert f"Page {len(pages)} of {len(pages)}" in pages[-1]
