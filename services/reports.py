"""Evaluation reports: what an area's (a region's, the nation's) multi-agency work did in a month,
a quarter or a year, as counts and durations that identify nobody.

Every count is computed in a grouped query and leaves this module only through disclosure
control (`services.disclosure`): a report holds protected tables and duration summaries, never
a case, a reference, a person, an agency's name or anything typed. A table's columns are the
parts of the period (a year's quarters, a quarter's months, a month alone) and its row totals
the whole period, so that comparing a quarter with its year is covered by the same suppression.

Times in stages come from the audit trail, the only record of when a case entered each stage:
its `case.stage` entries, with the case's `opened_at` and `exited_at`. Periods are calendar
periods in UTC.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Date,
    Select,
    String,
    and_,
    case,
    exists,
    func,
    literal_column,
    select,
    type_coerce,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from models import (
    Action,
    Agency,
    AgencyKind,
    Area,
    AuditEvent,
    Case,
    CaseAgency,
    Consent,
    Crisis,
    FollowUp,
    Page,
    Referral,
    ReferralState,
    Review,
    Stage,
    Update,
)
from models.lesson import Lesson, LessonStatus
from services.disclosure import (
    DEFAULT_THRESHOLD,
    Cell,
    CountTable,
    DurationSummary,
    Position,
    ProtectedTable,
    fewer_than,
    protect,
    summarise,
    withheld_words,
)
from services.errors import InvalidInput
from services.retention import SCREENED_OUT

# Years from 2000 to 2999: casehub holds nothing earlier, and a later one is no calendar's.
_YEAR = re.compile(r"^(2\d{3})$")
_QUARTER = re.compile(r"^(2\d{3})-Q([1-4])$", re.IGNORECASE)
_MONTH = re.compile(r"^(2\d{3})-(\d{2})$")
_MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
SECONDS_A_DAY = 86_400


@dataclass(frozen=True)
class Period:
    """A calendar month, quarter or year, from `start` (included) to `end` (excluded), in UTC."""

    label: str
    start: datetime
    end: datetime

    @classmethod
    def parse(cls, text: str) -> Period:
        value = text.strip()
        if match := _YEAR.match(value):
            year = int(match[1])
            return cls(value, _at(year, 1), _at(year + 1, 1))
        if match := _QUARTER.match(value):
            year, quarter = int(match[1]), int(match[2])
            first = 3 * quarter - 2
            return cls(f"{year}-Q{quarter}", _at(year, first), _at(year, first + 3))
        if (match := _MONTH.match(value)) and 1 <= int(match[2]) <= 12:
            year, month = int(match[1]), int(match[2])
            return cls(f"{year}-{month:02d}", _at(year, month), _at(year, month + 1))
        raise InvalidInput(
            f"`{value}` is not a period.",
            hint="Give a month (2026-11), a quarter (2026-Q4) or a year (2026).",
        )

    @property
    def parts(self) -> tuple[Period, ...]:
        """The columns of its tables: a year's quarters, a quarter's months, a month alone."""
        year, month = self.start.year, self.start.month
        if _YEAR.match(self.label):
            return tuple(Period.parse(f"{year}-Q{q}") for q in range(1, 5))
        if _QUARTER.match(self.label):
            return tuple(Period.parse(f"{year}-{m:02d}") for m in range(month, month + 3))
        return (self,)

    @property
    def year(self) -> Period:
        return Period.parse(str(self.start.year))

    @property
    def months(self) -> tuple[Period, ...]:
        """The calendar months it covers."""
        count = (self.end.year - self.start.year) * 12 + self.end.month - self.start.month
        return tuple(
            Period.parse(f"{at.year}-{at.month:02d}")
            for at in (_at(self.start.year, self.start.month + k) for k in range(count))
        )

    @property
    def column_label(self) -> str:
        if _MONTH.match(self.label):
            return f"{_MONTH_NAMES[self.start.month - 1]} {self.start.year}"
        return self.label


def _at(year: int, month: int) -> datetime:
    year, month = year + (month - 1) // 12, (month - 1) % 12 + 1
    return datetime(year, month, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Report:
    """What leaves the service: protected count tables and duration summaries."""

    period: Period
    scope: str
    threshold: int
    tables: tuple[ProtectedTable, ...]
    durations: tuple[DurationSummary, ...]
    # The same tables for the period's whole year by month, the one protected table every period
    # of that year is read from; the trend charts draw the months up to the period's end.
    year_tables: tuple[ProtectedTable, ...] = ()

    def table(self, title: str) -> ProtectedTable:
        return next(t for t in self.tables if t.title == title)

    def year_table(self, title: str) -> ProtectedTable | None:
        return next((t for t in self.year_tables if t.title == title), None)

    def duration(self, title: str) -> DurationSummary:
        return next(d for d in self.durations if d.title == title)


# Titles, shared by the report, its CSV and the tests.
REFERRALS = "Referrals by the referring agency's kind"
SCREENING = "Referrals decided, by outcome"
CASES = "Cases opened and closed"
CONSENT = "Consent decisions recorded"
AGENCIES_PER_CASE = "Cases opened, by the number of agencies taking part"
UPDATES = "Updates filed, by the agency's kind"
ACTIONS_CREATED = "Actions created"
ACTIONS_DUE = "Actions falling due, by what became of them"
REVIEWS = "Reviews held"
CRISES = "Crises raised"
OUTCOMES = "Cases closed, by the furthest stage reached"
FOLLOW_UPS = "Follow-up reviews falling due"
LESSONS = "Lessons added to the register, by where they stand now"
STAGES = "Cases reaching each stage"

TO_SCREENING = "Referral to screening"
TO_PANEL = "Referral to panel decision"
TO_SUPPORT = "Referral to support"
SUPPORT_LENGTH = "Length of support"
FIRST_UPDATE = "An agency's first update after joining a case"
FIRST_ACK = "A crisis to its first acknowledgement"

AGENCY_COUNTS = ("1", "2", "3", "4", "5", "6 or more")
OUTCOME_ROWS = ("screened out", "not adopted", "supported")
FOLLOW_UP_ROWS = ("6-month, held", "6-month, not held", "12-month, held", "12-month, not held")
STAGE_ROWS = {
    Stage.SCREENING.value: "screening",
    Stage.PANEL_DECISION.value: "panel decision",
    Stage.SUPPORT.value: "support",
}


def scope_label(areas: Sequence[Area]) -> str:
    if len(areas) <= 5:
        return ", ".join(sorted(area.slug for area in areas))
    regions = {area.region for area in areas}
    if len(regions) == 1 and None not in regions:
        return f"region {next(iter(regions))} ({len(areas)} areas)"
    return f"{len(areas)} areas"


# A figure of a year table by its row's and column's labels ("Total" for the totals): what a
# release keeps, so that a table whose rows change in a year (a new agency kind) still reads it.
Place = tuple[str, str]
TOTAL = "Total"
# What earlier reports of the same figures withheld and published, by table title.
Earlier = Mapping[str, tuple[frozenset[Place], frozenset[Place]]]
# The year tables the trend chart draws, month by month up to the period's end.
TREND_TABLES = (REFERRALS, CASES)


def build(
    session: Session,
    *,
    areas: Sequence[Area],
    period: Period,
    threshold: int = DEFAULT_THRESHOLD,
    scope: str | None = None,
    earlier: Earlier | None = None,
) -> Report:
    """The report of these areas for the period, with every count under disclosure control.

    Every count table is counted and protected once for the period's whole year, by month; the
    period's table is then read from it (`view`). So the reports of a month, its quarter and its
    year say nothing together that the year's table does not say alone, and that table hides
    every withheld count. `earlier` (from `services.report_releases`) carries what reports
    already sent withheld and published, so that a report made later, on changed records, does
    not undo them."""
    ids = [area.id for area in areas]
    year = period.year
    counts = _Counts(session, ids, year, year.months)
    first_entries = _first_stage_entries(session, ids, year.end)
    raw = [
        counts.by_row(REFERRALS, [k.value for k in AgencyKind], _referrals),
        counts.by_row(
            SCREENING,
            [ReferralState.ACCEPTED.value, ReferralState.SIGNPOSTED.value, "no further action"],
            _screening,
        ),
        counts.by_row(CASES, ["opened", "closed"], _opened, _closed),
        _stages_reached(first_entries, year.months),
        counts.by_row(
            CONSENT, [Consent.GIVEN.value, Consent.WITHDRAWN.value, Consent.NOT_REQUIRED.value], _consent
        ),
        counts.by_row(AGENCIES_PER_CASE, list(AGENCY_COUNTS), _agencies_per_case),
        counts.by_row(UPDATES, [k.value for k in AgencyKind], _updates),
        counts.by_row(ACTIONS_CREATED, ["created"], _actions_created),
        counts.by_row(ACTIONS_DUE, ["done by the due date", "done after it", "not done"], _actions_due),
        counts.by_row(REVIEWS, ["on or before the planned date", "after it", "none planned"], _reviews),
        counts.by_row(CRISES, ["raised", "acknowledged", "escalated"], *_CRISIS_ROWS),
        counts.by_row(OUTCOMES, list(OUTCOME_ROWS), _outcomes),
        counts.by_row(FOLLOW_UPS, list(FOLLOW_UP_ROWS), _follow_ups),
        counts.by_row(LESSONS, [s.value for s in LessonStatus], _lessons),
    ]
    before = earlier or {}
    year_tables = tuple(
        protect(
            table,
            threshold,
            withhold=_positions(table, before.get(table.title, _NONE)[0]),
            known=_positions(table, before.get(table.title, _NONE)[1]),
        )
        for table in raw
    )
    durations = _stage_durations(session, ids, period, threshold, first_entries)
    durations.append(summarise(FIRST_UPDATE, _first_updates(session, ids, period), threshold))
    minutes = [d * 24 * 60 for d in _first_acknowledgements(session, ids, period)]
    durations.append(summarise(FIRST_ACK, minutes, threshold, unit="minutes"))
    return Report(
        period=period,
        scope=scope or scope_label(areas),
        threshold=threshold,
        tables=tuple(view(table, period) for table in year_tables),
        durations=tuple(durations),
        year_tables=year_tables,
    )


_NONE: tuple[frozenset[Place], frozenset[Place]] = (frozenset(), frozenset())


def _positions(table: CountTable, places: frozenset[Place]) -> set[Position]:
    """The places a release kept, as positions of the table now (those it no longer has left)."""
    rows = {label: i for i, label in enumerate((*table.rows, TOTAL))}
    columns = {label: j for j, label in enumerate((*table.columns, TOTAL))}
    return {(rows[r], columns[c]) for r, c in places if r in rows and c in columns}


def place(table: ProtectedTable, position: Position) -> Place:
    i, j = position
    return ((*table.rows, TOTAL)[i], (*table.columns, TOTAL)[j])


def given_away(report: Report) -> dict[str, tuple[set[Place], set[Place]]]:
    """What the report withholds and publishes, by table, as places of its year tables: its
    period's tables, and the months the trend chart draws."""
    out: dict[str, tuple[set[Place], set[Place]]] = {}
    last = report.period.end.month - 1 or 12
    for table in report.year_tables:
        periods = [report.period]
        if table.title in TREND_TABLES:
            periods += [m for m in report.period.year.months if m.start.month <= last]
        withheld: set[Place] = set()
        known: set[Place] = set()
        for period in periods:
            hidden, shown = released(table, period)
            withheld |= {place(table, p) for p in hidden}
            known |= {place(table, p) for p in shown}
        out[table.title] = (withheld, known - withheld)
    return out


def view(year_table: ProtectedTable, period: Period) -> ProtectedTable:
    """The period's table read from its year's protected table by month: a month's column; a
    quarter's three; a year's quarters. A figure made of several published ones is their sum,
    and withheld when any of them is, so a view never says more than the year's table: every
    figure in it is one of that table's or a sum of them."""
    grid = year_table.bordered()
    layout = _layout(period, len(year_table.rows))

    def figure(positions: list[Position]) -> Cell:
        cells = [grid[i][j] for i, j in positions]
        if any(cell.withheld for cell in cells):
            return Cell(None)
        return Cell(sum(cell.value or 0 for cell in cells))

    figures = [[figure(positions) for positions in line] for line in layout]
    return ProtectedTable(
        title=year_table.title,
        rows=year_table.rows,
        columns=tuple(p.column_label for p in period.parts),
        cells=tuple(tuple(line[:-1]) for line in figures[:-1]),
        row_totals=tuple(line[-1] for line in figures[:-1]),
        column_totals=tuple(figures[-1][:-1]),
        total=figures[-1][-1],
        threshold=year_table.threshold,
    )


def released(year_table: ProtectedTable, period: Period) -> tuple[set[Position], set[Position]]:
    """What the period's view of the year table gives away, as positions of the year table: the
    withheld ones behind its withheld figures, and every one behind a published figure (a reader
    knows it, or a sum it is in)."""
    grid = year_table.bordered()
    withheld: set[Position] = set()
    known: set[Position] = set()
    for line in _layout(period, len(year_table.rows)):
        for positions in line:
            hidden = {(i, j) for i, j in positions if grid[i][j].withheld}
            withheld |= hidden
            if not hidden:
                known |= set(positions)
    return withheld, known


def _layout(period: Period, rows: int) -> list[list[list[Position]]]:
    """For each figure of the period's bordered table, the positions of the year's bordered
    table (twelve months, then the year's total) that it adds up."""
    months = [m.start.month - 1 for m in period.months]
    year_total = 12
    if len(months) == 12:  # a year: its quarters, then the year's own totals
        groups, totals = [months[k : k + 3] for k in range(0, 12, 3)], [year_total]
    else:
        groups, totals = [[m] for m in months], months
    return [
        [[(i, m) for m in group] for group in groups] + [[(i, m) for m in totals]] for i in range(rows + 1)
    ]


# ---- counting --------------------------------------------------------------------------------

# A query of one table's counts: (row key, when) for the matching records of the areas, when
# falling in [start, end); `when` is a timestamp or a date column.
Counter = Any


class _Counts:
    def __init__(
        self, session: Session, area_ids: list[int], period: Period, parts: Sequence[Period]
    ) -> None:
        self.session, self.area_ids, self.period, self.parts = session, area_ids, period, tuple(parts)

    def by_row(self, title: str, rows: list[str], *queries: Counter) -> CountTable:
        parts = self.parts
        cells = {row: [0] * len(parts) for row in rows}
        for query in queries:
            for row, part, count in self._grouped(query):
                if row in cells:  # a kind no longer offered counts nowhere rather than wrongly
                    cells[row][part] += count
        return CountTable(
            title,
            tuple(rows),
            tuple(p.column_label for p in parts),
            tuple(tuple(cells[row]) for row in rows),
        )

    def _grouped(self, query: Counter) -> list[tuple[str, int, int]]:
        inner: Select[Any]
        inner, when = query(self.area_ids)
        starts = [p.start for p in self.parts]
        bounds: list[datetime] | list[date] = starts
        start, end = self.period.start, self.period.end
        if _is_date(when):
            bounds = [b.date() for b in starts]
            inner = inner.where(when >= start.date(), when < end.date())
        else:
            inner = inner.where(when >= start, when < end)
        part = (
            case(*[(when < b, k) for k, b in enumerate(bounds[1:])], else_=len(bounds) - 1)
            if len(bounds) > 1
            else literal_column("0")
        )
        rows = inner.add_columns(part.label("part")).subquery()
        # Grouped over a subquery, so that the part's expression (with its parameters) is not
        # repeated in GROUP BY, which PostgreSQL would not recognise as the same.
        grouped = select(rows.c.row, rows.c.part, func.count()).group_by(rows.c.row, rows.c.part)
        found: list[Any] = list(self.session.execute(grouped))
        return [(_key(row), int(part), int(count)) for row, part, count in found]


def _is_date(column: Any) -> bool:
    return getattr(column.type, "python_type", None) is date


def _key(value: object) -> str:
    return value.value if hasattr(value, "value") else str(value)


def _in(area_ids: list[int]) -> ColumnElement[bool]:
    return Case.area_id.in_(area_ids)


def _lessons(area_ids: list[int]) -> tuple[Select[Any], Any]:
    """Lessons of the areas added in the period, by their status now (the register's progress)."""
    return select(Lesson.status.label("row")).where(Lesson.area_id.in_(area_ids)), Lesson.created_at


def _referrals(area_ids: list[int]) -> tuple[Select[Any], Any]:
    query = (
        select(Agency.kind.label("row"))
        .select_from(Referral)
        .join(Agency, Agency.id == Referral.agency_id)
        .where(Referral.area_id.in_(area_ids))
    )
    return query, Referral.received_at


def _screening(area_ids: list[int]) -> tuple[Select[Any], Any]:
    row = case(
        (Referral.state == ReferralState.CLOSED, literal_column("'no further action'")),
        else_=type_coerce(Referral.state, String),
    )
    query = select(row.label("row")).where(Referral.area_id.in_(area_ids), Referral.decided_at.is_not(None))
    return query, Referral.decided_at


def _opened(area_ids: list[int]) -> tuple[Select[Any], Any]:
    return select(literal_column("'opened'").label("row")).where(_in(area_ids)), Case.opened_at


def _closed(area_ids: list[int]) -> tuple[Select[Any], Any]:
    return select(literal_column("'closed'").label("row")).where(_in(area_ids)), Case.closed_at


def _consent(area_ids: list[int]) -> tuple[Select[Any], Any]:
    return select(Case.consent.label("row")).where(_in(area_ids)), Case.consent_date


def _agencies_per_case(area_ids: list[int]) -> tuple[Select[Any], Any]:
    joined = (
        select(func.count(func.distinct(CaseAgency.agency_id)))
        .where(CaseAgency.case_id == Case.id)
        .scalar_subquery()
    )
    row = case(
        *[(joined == int(label), literal_column(f"'{label}'")) for label in AGENCY_COUNTS[:-1]],
        else_=literal_column(f"'{AGENCY_COUNTS[-1]}'"),
    )
    return select(row.label("row")).where(_in(area_ids), joined > 0), Case.opened_at


def _updates(area_ids: list[int]) -> tuple[Select[Any], Any]:
    query = (
        select(Agency.kind.label("row"))
        .select_from(Update)
        .join(Case, Case.id == Update.case_id)
        .join(Agency, Agency.id == Update.agency_id)
        .where(_in(area_ids))
    )
    return query, Update.created_at


def _actions_created(area_ids: list[int]) -> tuple[Select[Any], Any]:
    query: Select[Any] = (
        select(literal_column("'created'").label("row"))
        .select_from(Action)
        .join(Case, Case.id == Action.case_id)
        .where(_in(area_ids))
    )
    return query, Action.created_at


def _actions_due(area_ids: list[int]) -> tuple[Select[Any], Any]:
    row = case(
        (Action.done_at.is_(None), literal_column("'not done'")),
        (UTCDate(Action.done_at) <= Action.due, literal_column("'done by the due date'")),
        else_=literal_column("'done after it'"),
    )
    query = (
        select(row.label("row"))
        .select_from(Action)
        .join(Case, Case.id == Action.case_id)
        .where(_in(area_ids))
    )
    return query, Action.due


def _reviews(area_ids: list[int]) -> tuple[Select[Any], Any]:
    planned = (
        func.lag(Review.next_review_at)
        .over(partition_by=Review.case_id, order_by=(Review.held_on, Review.id))
        .label("planned")
    )
    held = (
        select(Review.held_on.label("held_on"), planned)
        .join(Case, Case.id == Review.case_id)
        .where(_in(area_ids))
        .subquery()
    )
    row = case(
        (held.c.planned.is_(None), literal_column("'none planned'")),
        (held.c.held_on <= UTCDate(held.c.planned), literal_column("'on or before the planned date'")),
        else_=literal_column("'after it'"),
    )
    return select(row.label("row")).select_from(held), held.c.held_on


def _crisis_row(label: str, condition: ColumnElement[bool] | None) -> Counter:
    def query(area_ids: list[int]) -> tuple[Select[Any], Any]:
        selected: Select[Any] = (
            select(literal_column(f"'{label}'").label("row"))
            .select_from(Crisis)
            .join(Case, Case.id == Crisis.case_id)
            .where(_in(area_ids))
        )
        if condition is not None:
            selected = selected.where(condition)
        return selected, Crisis.raised_at

    return query


_CRISIS_ROWS = (
    _crisis_row("raised", None),
    _crisis_row(
        "acknowledged", exists().where(Page.crisis_id == Crisis.id, Page.acknowledged_at.is_not(None))
    ),
    _crisis_row("escalated", exists().where(Page.crisis_id == Crisis.id, Page.level > 0)),
)


def _outcomes(area_ids: list[int]) -> tuple[Select[Any], Any]:
    row = case(
        (Case.stage_reached.in_(SCREENED_OUT), literal_column("'screened out'")),
        (Case.stage_reached == Stage.SUPPORT.value, literal_column("'supported'")),
        else_=literal_column("'not adopted'"),
    )
    return select(row.label("row")).where(_in(area_ids), Case.closed_at.is_not(None)), Case.closed_at


def _follow_ups(area_ids: list[int]) -> tuple[Select[Any], Any]:
    months = case((FollowUp.label.like("12-month%"), "12-month"), else_="6-month")
    held = case((FollowUp.held_on.is_(None), ", not held"), else_=", held")
    query = (
        select((months + held).label("row"))
        .select_from(FollowUp)
        .join(Case, Case.id == FollowUp.case_id)
        .where(_in(area_ids))
    )
    return query, FollowUp.due_on


class UTCDate(FunctionElement[date]):
    """A timestamp's date in UTC, the same on both databases: SQLite keeps UTC without an
    offset; PostgreSQL would otherwise take the session's time zone."""

    type = Date()
    name = "utc_date"
    inherit_cache = True


@compiles(UTCDate)
def _utc_date(element: UTCDate, compiler: SQLCompiler, **kw: Any) -> str:
    return f"date({compiler.process(element.clauses, **kw)})"


@compiles(UTCDate, "postgresql")
def _utc_date_postgresql(element: UTCDate, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST(({compiler.process(element.clauses, **kw)}) AT TIME ZONE 'UTC' AS DATE)"


# ---- durations -------------------------------------------------------------------------------


def _days(start: datetime, end: datetime) -> float:
    return (end - start).total_seconds() / SECONDS_A_DAY


def _first_stage_entries(
    session: Session, area_ids: list[int], before: datetime
) -> dict[tuple[int, str], datetime]:
    """From the audit trail's stage entries: when each case of the areas first entered each stage."""
    entries: list[Any] = list(
        session.execute(
            select(AuditEvent.case_id, AuditEvent.at, AuditEvent.details)
            .join(Case, Case.id == AuditEvent.case_id)
            .where(_in(area_ids), AuditEvent.action == "case.stage", AuditEvent.at < before)
        )
    )
    first: dict[tuple[int, str], datetime] = {}
    for case_id, at, details in entries:
        stage = details.get("stage") if isinstance(details, dict) else None
        if not isinstance(stage, str):  # redacted when its case's record was deleted
            continue
        key = (case_id, stage)
        if key not in first or at < first[key]:
            first[key] = at
    return first


def _stages_reached(first: dict[tuple[int, str], datetime], months: Sequence[Period]) -> CountTable:
    """Cases first reaching screening, panel decision and support, by month: the stage funnel."""
    cells = {label: [0] * len(months) for label in STAGE_ROWS.values()}
    for (_case_id, stage), at in first.items():
        if stage not in STAGE_ROWS:
            continue
        for k, month in enumerate(months):
            if month.start <= at < month.end:
                cells[STAGE_ROWS[stage]][k] += 1
    rows = tuple(STAGE_ROWS.values())
    return CountTable(
        STAGES, rows, tuple(m.column_label for m in months), tuple(tuple(cells[r]) for r in rows)
    )


def _stage_durations(
    session: Session,
    area_ids: list[int],
    period: Period,
    threshold: int,
    first: dict[tuple[int, str], datetime],
) -> list[DurationSummary]:
    """When each case first entered screening, panel decision and support, measured from its
    opening; and its support, to its exit."""
    cases = {
        case_id: (opened, exited)
        for case_id, opened, exited in session.execute(
            select(Case.id, Case.opened_at, Case.exited_at).where(
                _in(area_ids),
                Case.id.in_(select(AuditEvent.case_id).where(AuditEvent.action == "case.stage")),
            )
        )
    }
    waits: dict[str, list[float]] = {TO_SCREENING: [], TO_PANEL: [], TO_SUPPORT: []}
    stages = {
        Stage.SCREENING.value: TO_SCREENING,
        Stage.PANEL_DECISION.value: TO_PANEL,
        Stage.SUPPORT.value: TO_SUPPORT,
    }
    support: list[float] = []
    for (case_id, stage), at in first.items():
        if case_id not in cases:
            continue
        opened, exited = cases[case_id]
        if stage in stages and period.start <= at < period.end:
            waits[stages[stage]].append(_days(opened, at))
        if stage == Stage.SUPPORT.value and exited is not None and period.start <= exited < period.end:
            support.append(_days(at, exited))
    out = [summarise(title, days, threshold) for title, days in waits.items()]
    out.append(summarise(SUPPORT_LENGTH, support, threshold))
    return out


def _first_updates(session: Session, area_ids: list[int], period: Period) -> list[float]:
    """For each agency joining a case in the period, the time to its first update there."""
    rows = session.execute(
        select(CaseAgency.joined_at, func.min(Update.created_at))
        .join(Case, Case.id == CaseAgency.case_id)
        .join(
            Update,
            and_(
                Update.case_id == CaseAgency.case_id,
                Update.agency_id == CaseAgency.agency_id,
                Update.created_at >= CaseAgency.joined_at,
            ),
        )
        .where(_in(area_ids), CaseAgency.joined_at >= period.start, CaseAgency.joined_at < period.end)
        .group_by(CaseAgency.id, CaseAgency.joined_at)
    )
    return [_days(joined, first) for joined, first in rows]


def _first_acknowledgements(session: Session, area_ids: list[int], period: Period) -> list[float]:
    rows = session.execute(
        select(Crisis.raised_at, func.min(Page.acknowledged_at))
        .join(Case, Case.id == Crisis.case_id)
        .join(Page, Page.crisis_id == Crisis.id)
        .where(_in(area_ids), Crisis.raised_at >= period.start, Crisis.raised_at < period.end)
        .where(Page.acknowledged_at.is_not(None))
        .group_by(Crisis.id, Crisis.raised_at)
    )
    return [_days(raised, first) for raised, first in rows if first is not None]


# ---- the CSV ---------------------------------------------------------------------------------


def to_csv(report: Report) -> str:
    """One CSV: the report's heading, then a section per table and the durations, each after a
    blank line. Every withheld count reads "fewer than 5 or withheld"."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["casehub evaluation report", report.period.label])
    writer.writerow(["areas", report.scope])
    writer.writerow(
        [
            "disclosure control",
            f'"{withheld_words(report.threshold)}": a count from 1 to {report.threshold - 1}, or one '
            "withheld so that such a count cannot be worked out from the others",
        ]
    )
    for table in report.tables:
        writer.writerow([])
        writer.writerow([table.title])
        writer.writerow(["", *table.columns, "Total"])
        for label, cells, total in zip(table.rows, table.cells, table.row_totals, strict=True):
            writer.writerow([label, *(c.shown(table.threshold) for c in cells), total.shown(table.threshold)])
        writer.writerow(
            [
                "Total",
                *(c.shown(table.threshold) for c in table.column_totals),
                table.total.shown(table.threshold),
            ]
        )
    writer.writerow([])
    writer.writerow(["Durations", "unit", "lower quartile", "median", "upper quartile"])
    for summary in report.durations:
        if summary.withheld:
            words = f"{fewer_than(report.threshold)} measured"
            writer.writerow([summary.title, summary.unit, words, words, words])
        elif summary.empty:
            writer.writerow([summary.title, summary.unit, "none", "none", "none"])
        else:
            quartiles = [summary.lower_quartile, summary.median, summary.upper_quartile]
            writer.writerow([summary.title, summary.unit, *quartiles])
    return out.getvalue()
