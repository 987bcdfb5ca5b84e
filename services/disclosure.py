"""Disclosure control for published counts: small counts withheld so that nobody can be singled out.

A table of counts is published with its row totals, column totals and grand total. Think of
them as one bordered table: each inner row sums to its total, each inner column to its total,
and the totals to the grand total. A cell is withheld when:

- **primary**: its count is from 1 to the threshold less one (a total too);
- **secondary**: it is needed so that a withheld cell cannot be worked out from what is
  published. Every withheld cell must lie on a *cycle* of withheld cells (alternately along a
  row and a column of the bordered table, totals included): adding one to every other cell of
  the cycle and taking one from the rest leaves every published figure unchanged, so each
  withheld cell has at least two possible values. Withheld cells are never zero (below), so the
  cycle can be moved either way without a count going negative. A withheld cell on no cycle (a
  "bridge") is given one by withholding the smallest positive published cell that closes one.

Zeros: a true zero is published. It says that nobody is in that cell, which identifies nobody,
and a zero is never chosen to be withheld as a partner of a small count: hiding a zero that an
attacker could still prove to be zero protects nothing, and a hidden zero cannot be moved down
a cycle. A withheld count may still sit next to a published zero; the zero takes no part in the
sums that hide it.

Comparing periods: a year's table carries its quarters as columns (a quarter's its months), and
the whole period is the row total, so a count withheld in a quarter cannot be recovered as the
year less the other quarters: the row is one more line of the same bordered table.

Durations (medians and quartiles) over fewer items than the threshold are withheld too.
"""

from __future__ import annotations

import heapq
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

DEFAULT_THRESHOLD = 5


def fewer_than(threshold: int) -> str:
    """What a withheld small count is shown as: "fewer than 5"."""
    return f"fewer than {threshold}"


# What a count withheld only to protect a small one is shown as: saying "fewer than 5" of it
# would be untrue, since it may be any size.
WITHHELD = "withheld"


@dataclass(frozen=True)
class CountTable:
    """Counts by row and column, before disclosure control."""

    title: str
    rows: tuple[str, ...]
    columns: tuple[str, ...]
    cells: tuple[tuple[int, ...], ...]

    def __post_init__(self) -> None:
        if len(self.cells) != len(self.rows) or any(len(row) != len(self.columns) for row in self.cells):
            raise ValueError(f"table {self.title!r}: cells do not match its rows and columns")
        if any(value < 0 for row in self.cells for value in row):
            raise ValueError(f"table {self.title!r}: counts are never negative")

    @property
    def row_totals(self) -> tuple[int, ...]:
        return tuple(sum(row) for row in self.cells)

    @property
    def column_totals(self) -> tuple[int, ...]:
        return tuple(sum(row[j] for row in self.cells) for j in range(len(self.columns)))

    @property
    def total(self) -> int:
        return sum(self.row_totals)

    def bordered(self) -> list[list[int]]:
        """The cells with each row's total after it and the column totals (and the grand
        total) as a last row."""
        grid = [[*row, total] for row, total in zip(self.cells, self.row_totals, strict=True)]
        grid.append([*self.column_totals, self.total])
        return grid


@dataclass(frozen=True)
class Cell:
    """A published figure: its count, or None when withheld (primary says why)."""

    value: int | None
    primary: bool = False

    @property
    def withheld(self) -> bool:
        return self.value is None

    def shown(self, threshold: int) -> str:
        if self.value is not None:
            return str(self.value)
        return fewer_than(threshold) if self.primary else WITHHELD


@dataclass(frozen=True)
class ProtectedTable:
    """A table after disclosure control: the only form in which counts leave the services."""

    title: str
    rows: tuple[str, ...]
    columns: tuple[str, ...]
    cells: tuple[tuple[Cell, ...], ...]
    row_totals: tuple[Cell, ...]
    column_totals: tuple[Cell, ...]
    total: Cell
    threshold: int

    def bordered(self) -> list[list[Cell]]:
        grid = [[*row, total] for row, total in zip(self.cells, self.row_totals, strict=True)]
        grid.append([*self.column_totals, self.total])
        return grid


def protect(table: CountTable, threshold: int = DEFAULT_THRESHOLD) -> ProtectedTable:
    """The table with its small counts withheld, and as few others as needed to hide them."""
    if threshold < 1:
        raise ValueError("the threshold is at least 1")
    grid = table.bordered()
    primary = {(i, j) for i, line in enumerate(grid) for j, value in enumerate(line) if 0 < value < threshold}
    hidden = _secondary(grid, set(primary))
    published = [
        [Cell(None, (i, j) in primary) if (i, j) in hidden else Cell(value) for j, value in enumerate(line)]
        for i, line in enumerate(grid)
    ]
    last_row, last_column = len(grid) - 1, len(grid[0]) - 1
    return ProtectedTable(
        title=table.title,
        rows=table.rows,
        columns=table.columns,
        cells=tuple(tuple(line[:last_column]) for line in published[:last_row]),
        row_totals=tuple(line[last_column] for line in published[:last_row]),
        column_totals=tuple(published[last_row][:last_column]),
        total=published[last_row][last_column],
        threshold=threshold,
    )


def _secondary(grid: list[list[int]], hidden: set[tuple[int, int]]) -> set[tuple[int, int]]:
    """Withhold the cheapest further cells until every withheld cell lies on a cycle."""
    while True:
        bridge = _first_bridge(grid, hidden)
        if bridge is None:
            return hidden
        hidden.update(_closing_path(grid, hidden, bridge))


def _cost(grid: list[list[int]], cell: tuple[int, int]) -> tuple[int, int, int, int]:
    """Smallest count first; an inner cell before a total; then a fixed order."""
    i, j = cell
    is_total = i == len(grid) - 1 or j == len(grid[0]) - 1
    return (grid[i][j], int(is_total), i, j)


def _closing_path(
    grid: list[list[int]], hidden: set[tuple[int, int]], bridge: tuple[int, int]
) -> list[tuple[int, int]]:
    """The cheapest path of positive published cells from one side of a bridge to the other:
    withheld, they put the bridge on a cycle. The path hides as little as possible (the smallest
    sum of counts, totals avoided when an inner cell does as well). One always exists: the
    counts on either side of the bridge must balance, so the bridge's count is matched by
    positive cells crossing between its sides."""
    rows, columns = len(grid), len(grid[0])
    rest = hidden - {bridge}
    start = _component(rows, columns, rest, ("r", bridge[0]))
    goal = _component(rows, columns, rest, ("c", bridge[1]))
    graph = _adjacency(rows, columns, rest)  # withheld cells cost nothing to walk along
    positive = [
        (i, j)
        for i, line in enumerate(grid)
        for j, value in enumerate(line)
        if value > 0 and (i, j) not in hidden
    ]
    weights: dict[Vertex, list[tuple[Vertex, int, tuple[int, int] | None]]] = {
        vertex: [(nxt, 0, None) for nxt in near] for vertex, near in graph.items()
    }
    for i, j in positive:
        weight = grid[i][j] * 2 + (1 if i == rows - 1 or j == columns - 1 else 0)
        weights[("r", i)].append((("c", j), weight, (i, j)))
        weights[("c", j)].append((("r", i), weight, (i, j)))
    best: dict[Vertex, int] = {vertex: 0 for vertex in start}
    came: dict[Vertex, tuple[Vertex, tuple[int, int] | None]] = {}
    queue = [(0, vertex) for vertex in sorted(start)]
    heapq.heapify(queue)
    while queue:
        distance, vertex = heapq.heappop(queue)
        if distance > best.get(vertex, distance):
            continue
        if vertex in goal:
            path: list[tuple[int, int]] = []
            while vertex in came:
                vertex, cell = came[vertex]
                if cell is not None:
                    path.append(cell)
            return path
        for nxt, weight, cell in weights[vertex]:
            if distance + weight < best.get(nxt, distance + weight + 1):
                best[nxt] = distance + weight
                came[nxt] = (vertex, cell)
                heapq.heappush(queue, (distance + weight, nxt))
    raise AssertionError("a withheld count with no published partner: totals that do not add up")


Vertex = tuple[str, int]


def _adjacency(rows: int, columns: int, hidden: set[tuple[int, int]]) -> dict[Vertex, list[Vertex]]:
    graph: dict[Vertex, list[Vertex]] = {("r", i): [] for i in range(rows)}
    graph.update({("c", j): [] for j in range(columns)})
    for i, j in sorted(hidden):
        graph[("r", i)].append(("c", j))
        graph[("c", j)].append(("r", i))
    return graph


def _component(rows: int, columns: int, hidden: set[tuple[int, int]], start: Vertex) -> set[Vertex]:
    graph = _adjacency(rows, columns, hidden)
    seen, stack = {start}, [start]
    while stack:
        for nxt in graph[stack.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return seen


def _first_bridge(grid: list[list[int]], hidden: set[tuple[int, int]]) -> tuple[int, int] | None:
    """A withheld cell on no cycle of withheld cells (the smallest first), or None.

    Tarjan's bridge finding, iteratively: in the bipartite graph of rows and columns whose edges
    are the withheld cells, an edge on no cycle is exactly one whose value the published figures
    fix."""
    graph = _adjacency(len(grid), len(grid[0]), hidden)
    order: dict[Vertex, int] = {}
    low: dict[Vertex, int] = {}
    bridges: list[tuple[int, int]] = []
    for root in graph:
        if root in order:
            continue
        order[root] = low[root] = len(order)
        stack: list[tuple[Vertex, Vertex | None, int]] = [(root, None, 0)]
        while stack:
            vertex, parent, index = stack[-1]
            neighbours = graph[vertex]
            if index < len(neighbours):
                stack[-1] = (vertex, parent, index + 1)
                nxt = neighbours[index]
                if nxt == parent:  # a simple graph: one edge between two vertices at most
                    continue
                if nxt in order:
                    low[vertex] = min(low[vertex], order[nxt])
                else:
                    order[nxt] = low[nxt] = len(order)
                    stack.append((nxt, vertex, 0))
                continue
            stack.pop()
            if parent is not None:
                low[parent] = min(low[parent], low[vertex])
                if low[vertex] > order[parent]:
                    row, column = (parent, vertex) if parent[0] == "r" else (vertex, parent)
                    bridges.append((row[1], column[1]))
    if not bridges:
        return None
    return min(bridges, key=lambda cell: _cost(grid, cell))


# ---- durations ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DurationSummary:
    """How long something took, in `unit` (days, minutes): the quartiles and the median, or None for each when
    there was nothing to measure (`empty`) or too little (`withheld`). The number of items is
    not kept: it could undo the suppression of a count table it repeats."""

    title: str
    lower_quartile: float | None
    median: float | None
    upper_quartile: float | None
    withheld: bool
    threshold: int
    unit: str = "days"

    @property
    def empty(self) -> bool:
        return self.median is None and not self.withheld


def summarise(
    title: str, values: Sequence[float], threshold: int = DEFAULT_THRESHOLD, *, unit: str = "days"
) -> DurationSummary:
    n = len(values)
    if n == 0 or n < threshold:
        return DurationSummary(title, None, None, None, n > 0, threshold, unit)
    if n == 1:  # only with a threshold of 1
        only = round(float(values[0]), 1)
        return DurationSummary(title, only, only, only, False, threshold, unit)
    q1, median, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return DurationSummary(title, round(q1, 1), round(median, 1), round(q3, 1), False, threshold, unit)
