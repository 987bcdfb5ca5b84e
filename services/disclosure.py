"""Disclosure control for published counts: small counts withheld so that nobody can be singled out.

A table of counts is published with its row totals, column totals and grand total. Think of
them as one bordered table: each inner row sums to its total, each inner column to its total,
and the totals to the grand total. A cell is withheld when:

- **primary**: its count is from 1 to the threshold less one (a total too);
- **secondary**: it is needed so that a withheld cell cannot be worked out from what is
  published. Every withheld cell must lie on a *cycle* of withheld cells (alternately along a
  row and a column of the bordered table, totals included): adding one to every other cell of
  the cycle and taking one from the rest leaves every published figure unchanged, so a cell on a
  cycle that can move has at least two possible values. A withheld cell on no cycle (a
  "bridge") is given one by withholding the cheapest path of positive published cells that
  closes one.

Zeros: a true zero is published. It says that nobody is in that cell, which identifies nobody;
and a zero is never withheld as a partner, since a hidden zero cannot move down a cycle. But
published zeros tell a reader that every withheld count is at least 1 — the zero next to a
withheld cell that leaks. A cycle then moves only if the cells it lowers are at least 2: in a
row of 1, 1 and 10 with its total 12, hiding both 1s with partners below them gives both away
(two hidden cells summing to 2, each at least 1). So every withheld cell must lie on a cycle
holding at most one withheld 1 (itself or another): such a cycle always moves one way, lowering
the side without the 1, whose cells are all at least 2. Partners are published counts, at least
the threshold, so they are never 1.

Every withheld cell reads the same (`withheld_words`): labels that told the small counts from
their partners would give a reader bounds (under 5, at least 5) that can pin a cell down.

Comparing periods: a year's table carries its quarters as columns (a quarter's its months), and
the whole period is the row total, so a count withheld in a quarter cannot be recovered as the
year less the other quarters: the row is one more line of the same bordered table.

Durations (medians and quartiles) over fewer items than the threshold are withheld too.
"""

from __future__ import annotations

import heapq
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

DEFAULT_THRESHOLD = 5


def fewer_than(threshold: int) -> str:
    return f"fewer than {threshold}"


def withheld_words(threshold: int) -> str:
    """What every withheld count is shown as. A small count and one withheld to protect it read
    the same: "fewer than 5" of the second would be untrue, and two labels would tell a reader
    which cells are under the threshold and which above it, bounds that can pin a cell down."""
    return f"{fewer_than(threshold)} or withheld"


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
    """A published figure: its count, or None when withheld (never why: see withheld_words)."""

    value: int | None

    @property
    def withheld(self) -> bool:
        return self.value is None

    def shown(self, threshold: int) -> str:
        if self.value is not None:
            return str(self.value)
        return withheld_words(threshold)


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


Position = tuple[int, int]  # (row, column) in the bordered table: the totals are the last of each


def protect(
    table: CountTable,
    threshold: int = DEFAULT_THRESHOLD,
    *,
    withhold: Iterable[Position] = (),
    known: Iterable[Position] = (),
) -> ProtectedTable:
    """The table with its small counts withheld, and as few others as needed to hide them.

    `withhold` and `known` carry what earlier publications of the same figures said, so that
    the two read together hide as much as each alone: what an earlier one withheld is withheld
    again (when it is not zero now), and what an earlier one published is never chosen to
    hide another cell (a reader who kept it would undo the hiding), unless nothing else can."""
    if threshold < 1:
        raise ValueError("the threshold is at least 1")
    grid = table.bordered()
    primary = {(i, j) for i, line in enumerate(grid) for j, value in enumerate(line) if 0 < value < threshold}
    again = {(i, j) for i, j in withhold if grid[i][j] > 0}
    hidden = _secondary(grid, primary | again, set(known) - primary - again)
    published = [
        [Cell(None) if (i, j) in hidden else Cell(value) for j, value in enumerate(line)]
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


def _secondary(
    grid: list[list[int]], hidden: set[tuple[int, int]], known: set[tuple[int, int]]
) -> set[tuple[int, int]]:
    """Withhold the cheapest further cells until every withheld cell lies on a sturdy cycle,
    choosing cells a reader does not already know when it can."""
    settled: set[tuple[int, int]] = set()
    while True:
        bridge = _first_bridge(grid, hidden)
        if bridge is not None:
            hidden.update(_closing_path(grid, hidden, bridge, hidden - {bridge}, known))
            continue
        exposed = _first_exposed(grid, hidden, settled)
        if exposed is None:
            return hidden
        path = _closing_path(grid, hidden, exposed, _sturdy(grid, hidden) - {exposed}, known)
        if not path:  # every positive count is withheld already: it is safe, and the loop ends
            settled.add(exposed)
        hidden.update(path)


def _sturdy(grid: list[list[int]], hidden: set[tuple[int, int]]) -> set[tuple[int, int]]:
    return {(i, j) for i, j in hidden if grid[i][j] >= 2}


def _first_exposed(
    grid: list[list[int]], hidden: set[tuple[int, int]], settled: set[tuple[int, int]]
) -> tuple[int, int] | None:
    """A withheld cell on no cycle whose other cells are all at least 2 (the smallest first).

    Zeros are published, so whoever reads a table knows that a withheld count is at least 1. A
    cycle then moves only if the cells it lowers are at least 2: a cycle with two withheld 1s
    in a line (a row of 1, 1 and 10 with its total 12) can move neither way, and gives both
    away. A cycle with at most one 1 always moves, lowering the cells on the other side of it."""
    sturdy = _sturdy(grid, hidden)
    rows, columns = len(grid), len(grid[0])
    for cell in sorted(hidden - settled, key=lambda c: _cost(grid, c)):
        rest = sturdy - {cell}
        if ("c", cell[1]) not in _component(rows, columns, rest, ("r", cell[0])):
            return cell
    return None


def _cost(grid: list[list[int]], cell: tuple[int, int]) -> tuple[int, int, int, int]:
    """Smallest count first; an inner cell before a total; then a fixed order."""
    i, j = cell
    is_total = i == len(grid) - 1 or j == len(grid[0]) - 1
    return (grid[i][j], int(is_total), i, j)


def _closing_path(
    grid: list[list[int]],
    hidden: set[tuple[int, int]],
    bridge: tuple[int, int],
    rest: set[tuple[int, int]],
    known: set[tuple[int, int]],
) -> list[tuple[int, int]]:
    """The cheapest path of positive published cells from one side of a bridge to the other:
    withheld, they put the bridge on a cycle. The path hides as little as possible (the smallest
    sum of counts, totals avoided when an inner cell does as well). One always exists: the
    counts on either side of the bridge must balance, so the bridge's count is matched by
    positive cells crossing between its sides."""
    rows, columns = len(grid), len(grid[0])
    start = _component(rows, columns, rest, ("r", bridge[0]))
    goal = _component(rows, columns, rest, ("c", bridge[1]))
    positive = [
        (i, j)
        for i, line in enumerate(grid)
        for j, value in enumerate(line)
        if value > 0 and (i, j) not in hidden
    ]
    unknown = [cell for cell in positive if cell not in known]
    for candidates in (unknown, positive):  # a cell published before only when nothing else will do
        path = _cheapest_path(grid, rest, start, goal, candidates)
        if path is not None:
            return path
    # No path avoiding the other withheld 1s. Withhold the cheapest positive published cell
    # touching either side (else anywhere) and look again: once every positive count is
    # withheld, the sums are all unknown, and doubling every withheld count is as consistent
    # with what is published as the counts themselves.
    for candidates in (unknown, positive):
        near = [(i, j) for i, j in candidates if ("r", i) in start | goal or ("c", j) in start | goal]
        if near or candidates:
            return [min(near or candidates, key=lambda cell: _cost(grid, cell))]
    return []


def _cheapest_path(
    grid: list[list[int]],
    rest: set[tuple[int, int]],
    start: set[Vertex],
    goal: set[Vertex],
    candidates: list[tuple[int, int]],
) -> list[tuple[int, int]] | None:
    """Dijkstra's shortest path from `start` to `goal`, walking freely along the withheld cells
    of `rest` and at the cost of their counts along the candidates; None if there is none."""
    rows, columns = len(grid), len(grid[0])
    graph = _adjacency(rows, columns, rest)
    weights: dict[Vertex, list[tuple[Vertex, int, tuple[int, int] | None]]] = {
        vertex: [(nxt, 0, None) for nxt in near] for vertex, near in graph.items()
    }
    for i, j in candidates:
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
    return None


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
