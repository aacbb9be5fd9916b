"""An attacker's audit of protected tables, written apart from the engine to check it.

It rebuilds the attacker's constraints from what a user sees (each table's definition and its
shown values) with none of the engine's shortcuts: one latent count per (measure, key with the
fixed dims, month) for every month of every period, additivity of every table in every month,
complete-dimension additivity, sub-population inequalities, shown cells as equalities and
suppressed cells as "at least 1". Each suppressed cell's minimum and maximum come from HiGHS.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from itertools import combinations, product

import numpy as np
from scipy import sparse
from scipy.optimize import linprog
from scipy.sparse.csgraph import connected_components

from referral.statistics.disclosure import Protected


def _months(first: str, last: str) -> list[str]:
    out = []
    y, m = int(first[:4]), int(first[5:7])
    while f"{y:04d}-{m:02d}" <= last:
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def _all_keys(dims: Sequence[str], categories: Mapping[str, Sequence[str]]) -> list[frozenset[tuple[str, str]]]:
    keys = []
    for size in range(len(dims) + 1):
        for chosen in combinations(dims, size):
            for codes in product(*(categories[d] for d in chosen)):
                keys.append(frozenset(zip(chosen, codes, strict=True)))
    return keys


class _Attacker:
    def __init__(self) -> None:
        self.var: dict[tuple[str, frozenset[tuple[str, str]], str], int] = {}
        self.eq: list[tuple[dict[int, float], float]] = []
        self.ub: list[tuple[dict[int, float], float]] = []

    def x(self, measure: str, key: frozenset[tuple[str, str]], month: str) -> int:
        return self.var.setdefault((measure, key, month), len(self.var))


def audit(
    protected_list: Sequence[Protected],
    threshold: int,
    complete_dims: Mapping[str, Sequence[str]] | None = None,
    subsets: Sequence[tuple[str, str]] = (),
) -> dict[tuple[str, frozenset[tuple[str, str]]], tuple[float, float]]:
    """(table id, key) -> (min, max) of every suppressed cell, as an attacker holding all the tables finds."""
    del threshold  # the attacker knows only that a suppressed cell is at least 1
    att = _Attacker()
    months = sorted({m for p in protected_list for m in _months(*p.table.period)})
    cell_sums: dict[tuple[str, frozenset[tuple[str, str]]], dict[int, float]] = {}
    for p in protected_list:
        t = p.table
        fixed = frozenset(t.fixed.items())
        period = _months(*t.period)
        plain_dims = [d for d in t.dims if d != "month"]
        for key in _all_keys(t.dims, t.categories):
            as_dict = dict(key)
            latent_key = frozenset((d, v) for d, v in key if d != "month") | fixed
            covered = [as_dict["month"]] if "month" in as_dict else period
            row = {att.x(t.measure, latent_key, m): 1.0 for m in covered}
            cell_sums[(t.id, key)] = row
            value = p.shown[key]
            if value is None:
                att.ub.append(({v: -1.0 for v in row}, -1.0))
            else:
                att.eq.append((row, float(value)))
        for key in _all_keys(plain_dims, t.categories):
            for d in plain_dims:
                if d in dict(key):
                    continue
                for m in months:
                    row = {att.x(t.measure, key | fixed, m): 1.0}
                    for code in t.categories[d]:
                        row[att.x(t.measure, key | fixed | {(d, code)}, m)] = -1.0
                    att.eq.append((row, 0.0))
    existing = {(measure, key) for measure, key, _ in att.var}
    for dim, codes in (complete_dims or {}).items():
        for measure, key in sorted(existing, key=str):
            if dim in dict(key) or not any((measure, key | {(dim, c)}) in existing for c in codes):
                continue
            for m in months:
                row = {att.x(measure, key, m): 1.0}
                for c in codes:
                    row[att.x(measure, key | {(dim, c)}, m)] = -1.0
                att.eq.append((row, 0.0))
    for sub, sup in subsets:
        for measure, key in existing:
            if measure == sub and (sup, key) in existing:
                for m in months:
                    att.ub.append(({att.x(sub, key, m): 1.0, att.x(sup, key, m): -1.0}, 0.0))

    n = len(att.var)

    def matrix(rows: list[tuple[dict[int, float], float]]) -> tuple[sparse.csr_matrix, np.ndarray]:
        r = [i for i, (row, _) in enumerate(rows) for _ in row]
        c = [v for row, _ in rows for v in row]
        d = [coef for row, _ in rows for coef in row.values()]
        return sparse.csr_matrix((d, (r, c)), shape=(len(rows), n)), np.array([b for _, b in rows])

    a_eq, b_eq = matrix(att.eq)
    a_ub, b_ub = matrix(att.ub)
    blocks = _Blocks(a_eq, b_eq, a_ub, b_ub)
    result = {}
    for p in protected_list:
        for key, value in p.shown.items():
            if value is not None:
                continue
            cell = list(cell_sums[(p.table.id, key)])
            block = blocks.of(cell[0])
            objective = np.zeros(len(block.columns))
            objective[np.searchsorted(block.columns, cell)] = 1.0
            low = block.solve(objective)
            assert low.status == 0, f"{p.table.id} {sorted(key)}: the shown values are inconsistent ({low.message})"
            high = block.solve(-objective)
            # the problem is feasible (the minimum exists), so "unbounded or infeasible" means unbounded
            hi = -high.fun if high.status == 0 else math.inf
            assert high.status in (0, 3, 4), high.message
            result[(p.table.id, key)] = (float(low.fun), float(hi))
    blocks.assert_feasible()
    return result


class _Block:
    """The constraints of one set of latent counts that no constraint ties to any other."""

    def __init__(
        self, columns: np.ndarray, eq: tuple[sparse.csr_matrix, np.ndarray], ub: tuple[sparse.csr_matrix, np.ndarray]
    ) -> None:
        self.columns = columns  # sorted variable numbers
        self.eq, self.ub = eq, ub

    def solve(self, objective: np.ndarray) -> object:
        (a_eq, b_eq), (a_ub, b_ub) = self.eq, self.ub
        return linprog(
            objective,
            A_ub=a_ub if a_ub.shape[0] else None,
            b_ub=b_ub if a_ub.shape[0] else None,
            A_eq=a_eq if a_eq.shape[0] else None,
            b_eq=b_eq if a_eq.shape[0] else None,
            bounds=(0, None),
            method="highs",
        )


class _Blocks:
    """The attacker's system split into independent blocks (connected components of the variables
    that share a constraint). A cell's minimum and maximum over the whole system are those over its
    own block whenever the whole system is feasible, which `assert_feasible` checks once:
    the same answers as one system, each solve over a fraction of it."""

    def __init__(self, a_eq: sparse.csr_matrix, b_eq: np.ndarray, a_ub: sparse.csr_matrix, b_ub: np.ndarray) -> None:
        every = sparse.vstack([a_eq, a_ub]).tocsr()
        pattern = abs(every)
        _count, self.labels = connected_components(pattern.T @ pattern, directed=False)
        self._parts = {"eq": (a_eq, b_eq), "ub": (a_ub, b_ub)}
        self._row_labels = {name: self._labels_of_rows(m) for name, (m, _) in self._parts.items()}
        self._made: dict[int, _Block] = {}

    def _labels_of_rows(self, matrix: sparse.csr_matrix) -> np.ndarray:
        first = matrix.indices[matrix.indptr[:-1]] if matrix.nnz else np.zeros(0, dtype=int)
        return self.labels[first] if len(first) else np.zeros(0, dtype=int)

    def of(self, variable: int) -> _Block:
        label = int(self.labels[variable])
        if label not in self._made:
            columns = np.flatnonzero(self.labels == label)
            parts = []
            for name in ("eq", "ub"):
                matrix, bound = self._parts[name]
                rows = np.flatnonzero(self._row_labels[name] == label)
                parts.append((matrix[rows][:, columns], bound[rows]))
            self._made[label] = _Block(columns, parts[0], parts[1])
        return self._made[label]

    def assert_feasible(self) -> None:
        """The whole system has a solution (then each block's bounds are the whole system's)."""
        (a_eq, b_eq), (a_ub, b_ub) = self._parts["eq"], self._parts["ub"]
        whole = _Block(np.arange(self.labels.shape[0]), (a_eq, b_eq), (a_ub, b_ub))
        found = whole.solve(np.zeros(self.labels.shape[0]))
        assert found.status == 0, f"the shown values are inconsistent ({found.message})"


def narrow_cells(
    protected_list: Sequence[Protected],
    threshold: int,
    complete_dims: Mapping[str, Sequence[str]] | None = None,
    subsets: Sequence[tuple[str, str]] = (),
) -> dict[tuple[str, frozenset[tuple[str, str]]], tuple[float, float]]:
    """The suppressed cells whose interval is narrower than the threshold."""
    intervals = audit(protected_list, threshold, complete_dims, subsets)
    return {cell: (lo, hi) for cell, (lo, hi) in intervals.items() if hi - lo < threshold - 1e-6}


def assert_protected(
    protected_list: Sequence[Protected],
    threshold: int,
    complete_dims: Mapping[str, Sequence[str]] | None = None,
    subsets: Sequence[tuple[str, str]] = (),
) -> None:
    """Fail, naming the cell and its interval, if any suppressed cell is narrower than the threshold."""
    narrow = narrow_cells(protected_list, threshold, complete_dims, subsets)
    if narrow:
        (table_id, key), (lo, hi) = sorted(narrow.items(), key=str)[0]
        raise AssertionError(
            f"{len(narrow)} suppressed cell(s) too narrow, e.g. {table_id} {sorted(key)}: [{lo:g}, {hi:g}]"
        )
