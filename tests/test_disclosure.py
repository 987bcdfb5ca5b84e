"""Disclosure control: small counts withheld, and no withheld count recoverable from the rest."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.disclosure import Cell, CountTable, ProtectedTable, protect, summarise, withheld_words

THRESHOLD = 5
# What the attacker knows of a withheld count: zeros are published, so it is at least 1.
LEAST = 1


def table_of(cells: list[list[int]]) -> CountTable:
    return CountTable(
        "t",
        tuple(f"r{i}" for i in range(len(cells))),
        tuple(f"c{j}" for j in range(len(cells[0]))),
        tuple(tuple(row) for row in cells),
    )


@st.composite
def tables(draw: st.DrawFn, max_side: int = 4) -> CountTable:
    rows = draw(st.integers(1, max_side))
    columns = draw(st.integers(1, max_side))
    # Mostly small counts (the hard case), some zeros, some large.
    value = st.one_of(st.integers(0, 4), st.integers(0, 12), st.just(0))
    cells = draw(st.lists(st.lists(value, min_size=columns, max_size=columns), min_size=rows, max_size=rows))
    return table_of(cells)


def other_values_possible(published: ProtectedTable, true: CountTable, target: tuple[int, int]) -> bool:
    """Whether an attacker who knows every published figure, that counts are non-negative
    integers, and even that withheld counts are at least 1 (zeros are published), finds a
    solution of the bordered table's sums where `target` differs from its true value: a search
    over the withheld cells, each line's last unknown fixed by its sum."""
    grid = published.bordered()
    truth = true.bordered()
    last_row, last_column = len(grid) - 1, len(grid[0]) - 1
    unknown = [(i, j) for i, line in enumerate(grid) for j, cell in enumerate(line) if cell.withheld]
    bound = true.total + 2
    lines: list[tuple[list[tuple[int, int]], tuple[int, int]]] = []
    for i in range(last_row + 1):
        lines.append(([(i, j) for j in range(last_column)], (i, last_column)))
    for j in range(last_column + 1):
        lines.append(([(i, j) for i in range(last_row)], (last_row, j)))
    known: dict[tuple[int, int], int] = {
        (i, j): cell.value
        for i, line in enumerate(grid)
        for j, cell in enumerate(line)
        if cell.value is not None
    }

    def consistent(values: dict[tuple[int, int], int]) -> tuple[bool, dict[tuple[int, int], int]]:
        values = dict(values)
        changed = True
        while changed:
            changed = False
            for parts, total in lines:
                missing = [p for p in [*parts, total] if p not in values]
                inner = sum(values[p] for p in parts if p in values)
                if not missing:
                    if inner != values[total]:
                        return False, values
                elif len(missing) == 1:
                    (m,) = missing
                    value = inner if m == total else values[total] - inner
                    if value < LEAST or (m == target and value == truth[m[0]][m[1]]):
                        return False, values
                    values[m] = value
                    changed = True
                elif total in values and inner > values[total]:
                    return False, values
        return True, values

    def search(values: dict[tuple[int, int], int]) -> bool:
        ok, values = consistent(values)
        if not ok:
            return False
        free = [p for p in unknown if p not in values]
        if not free:
            return True
        cell = target if target in free else free[0]
        near = truth[cell[0]][cell[1]]  # witnesses lie near the truth: look there first
        for value in sorted(range(LEAST, bound + 1), key=lambda v: abs(v - near)):
            if cell == target and value == truth[cell[0]][cell[1]]:
                continue
            if search({**values, cell: value}):
                return True
        return False

    return search(dict(known))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables())
def test_every_published_count_is_at_least_the_threshold_or_a_true_zero(table):
    published = protect(table, THRESHOLD)
    for line, truth in zip(published.bordered(), table.bordered(), strict=True):
        for cell, value in zip(line, truth, strict=True):
            if cell.value is not None:
                assert cell.value == value and (value == 0 or value >= THRESHOLD)
            else:
                assert value > 0  # a zero is never withheld
                assert cell.shown(THRESHOLD) == "fewer than 5 or withheld"


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables(max_side=3))
def test_no_withheld_count_can_be_worked_out_from_the_published_figures(table):
    published = protect(table, THRESHOLD)
    grid = published.bordered()
    for i, line in enumerate(grid):
        for j, cell in enumerate(line):
            if cell.withheld:
                assert other_values_possible(published, table, (i, j)), (table.cells, i, j)


def test_a_table_of_small_counts_around_a_large_total():
    """Only the grand total published: the 1s at the ends of its rows cannot be pinned down."""
    table = table_of([[0, 0, 1, 0], [0, 0, 2, 3], [0, 0, 0, 1]])
    published = protect(table, THRESHOLD)
    for i, line in enumerate(published.bordered()):
        for j, cell in enumerate(line):
            if cell.withheld:
                assert other_values_possible(published, table, (i, j))


def test_a_lone_small_count_takes_a_partner_in_its_row_and_column():
    table = table_of([[3, 20, 30], [40, 50, 60], [70, 80, 90]])
    published = protect(table, THRESHOLD)
    shown = [[c.value for c in line] for line in published.bordered()]
    assert shown == [
        [None, None, 30, 53],
        [None, None, 60, 150],
        [70, 80, 90, 240],
        [113, 150, 180, 443],
    ]
    assert published.cells[0][0].shown(THRESHOLD) == published.cells[1][1].shown(THRESHOLD)
    assert published.cells[1][1].shown(THRESHOLD) == withheld_words(THRESHOLD)


def test_a_small_total_is_withheld():
    table = table_of([[1, 2], [10, 20]])
    published = protect(table, THRESHOLD)
    assert published.row_totals[0].withheld


def test_zeros_are_published_and_never_hide_a_count():
    table = table_of([[2, 0, 9], [0, 0, 0], [7, 0, 11]])
    published = protect(table, THRESHOLD)
    assert all(c.value == 0 for c in published.cells[1])
    assert published.cells[0][1].value == 0 and published.cells[2][1].value == 0


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(st.integers(0, 9), min_size=4, max_size=4), min_size=1, max_size=3))
def test_a_quarter_withheld_cannot_be_recovered_as_the_year_less_the_other_quarters(rows):
    """A year's table carries its quarters as columns and the year as the row total."""
    table = CountTable(
        "by quarter",
        tuple(f"kind{i}" for i in range(len(rows))),
        ("Q1", "Q2", "Q3", "Q4"),
        tuple(tuple(row) for row in rows),
    )
    published = protect(table, THRESHOLD)
    for i, row in enumerate(published.cells):
        hidden = [j for j, cell in enumerate(row) if cell.withheld]
        year = published.row_totals[i]
        if hidden and year.value is not None:
            # The year less the published quarters leaves the sum of at least two quarters.
            assert len(hidden) >= 2
        for j in hidden:
            assert other_values_possible(published, table, (i, j))


def test_the_attacker_finds_a_count_hidden_by_primary_suppression_alone():
    """The check itself: a lone withheld count is worked out from its row total."""
    table = table_of([[3, 20], [40, 50]])
    published = protect(table, THRESHOLD)
    cells = [list(line) for line in published.bordered()]
    naive = Cell(None)
    lone = ProtectedTable(
        "t",
        published.rows,
        published.columns,
        ((naive, Cell(20)), (Cell(40), Cell(50))),
        (Cell(23), Cell(90)),
        (Cell(43), Cell(70)),
        Cell(113),
        THRESHOLD,
    )
    assert not other_values_possible(lone, table, (0, 0))
    assert all(cell.withheld for cell in cells[0][:2])


def test_the_threshold_is_in_the_words():
    published = protect(table_of([[2, 9], [9, 9]]), 3)
    assert published.cells[0][0].shown(3) == "fewer than 3 or withheld"


def test_two_withheld_ones_in_a_line_are_not_given_away():
    """1 + 1 = 2 with each at least 1: a cycle through both cannot move, so each needs its own."""
    table = table_of([[1, 1, 10], [9, 8, 7], [6, 5, 9]])
    published = protect(table, THRESHOLD)
    for i, line in enumerate(published.bordered()):
        for j, cell in enumerate(line):
            if cell.withheld:
                assert other_values_possible(published, table, (i, j))


def test_durations_over_too_few_items_are_withheld():
    assert summarise("d", [1.0, 2.0, 3.0, 4.0], 5).withheld
    assert summarise("d", [], 5).empty
    summary = summarise("d", [1.0, 2.0, 3.0, 4.0, 5.0], 5)
    assert (summary.lower_quartile, summary.median, summary.upper_quartile) == (2.0, 3.0, 4.0)


def test_a_table_with_mismatched_cells_is_refused():
    with pytest.raises(ValueError):
        CountTable("t", ("a",), ("x", "y"), ((1,),))


# ---- with what earlier publications said -----------------------------------------------------------


def test_what_an_earlier_publication_withheld_is_withheld_again():
    table = table_of([[9, 20], [40, 50]])  # nothing small: alone, everything is published
    assert not any(c.withheld for line in protect(table, THRESHOLD).bordered() for c in line)
    again = protect(table, THRESHOLD, withhold={(0, 0)})
    grid = again.bordered()
    assert grid[0][0].withheld
    # ... on a cycle, so that it cannot be worked out from the rest.
    assert other_values_possible(again, table, (0, 0))


def test_a_zero_now_is_published_even_if_withheld_before():
    table = table_of([[0, 20], [40, 50]])
    assert protect(table, THRESHOLD, withhold={(0, 0)}).cells[0][0].value == 0


def test_a_count_published_before_is_not_chosen_to_hide_another():
    table = table_of([[3, 20, 30], [40, 50, 60]])
    alone = protect(table, THRESHOLD)
    assert alone.cells[0][1].withheld  # the cheapest partner of the 3: the 20 beside it
    told = protect(table, THRESHOLD, known={(0, 1), (1, 1)})
    assert told.cells[0][0].withheld and not told.cells[0][1].withheld and told.cells[0][2].withheld
    assert other_values_possible(told, table, (0, 0))


def test_a_count_published_before_hides_another_when_nothing_else_can():
    table = table_of([[3, 20]])
    told = protect(table, THRESHOLD, known={(0, 1), (1, 1), (0, 2), (1, 2), (1, 0)})
    assert told.cells[0][0].withheld
    assert other_values_possible(told, table, (0, 0))
