"""Disclosure control of count tables: primary and complementary cell suppression, audited by linear programs.

A count from 1 to threshold-1 is suppressed (primary); further nonzero cells are suppressed
(complementary) until, for every suppressed cell, the interval of values consistent with
everything a user can see (this release and the releases already published) is at least
`threshold` wide. The attacker is modelled as in docs/statistics-disclosure.md: latent monthly
counts, additivity of every table in every month, shown cells as equalities, suppressed cells
as "at least 1" (zeros are always shown), optional additivity over a scope dimension whose
codes are all known (`complete_dims`) and sub-population inequalities (`subsets`). Each
suppressed cell's minimum and maximum are found by HiGHS through `scipy.optimize.linprog`.

Pure computation: no Flask, no database. Percentages, medians and percentiles are derived
elsewhere from the protected counts.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import product
from types import MappingProxyType

import numpy as np
from scipy import sparse
from scipy.optimize import linprog

Key = frozenset[tuple[str, str]]
MONTH = "month"

_NO_DIMS: Mapping[str, Sequence[str]] = MappingProxyType({})
_EPS = 1e-6
_NONE = np.zeros(0, dtype=np.int64)


@dataclass(frozen=True)
class Table:
    """A count table: every full cell and every margin of up to two dimensions, over a period of months."""

    id: str
    measure: str
    dims: tuple[str, ...]
    categories: Mapping[str, Sequence[str]]
    period: tuple[str, str]
    cells: Mapping[Key, int]
    fixed: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Protected:
    """What may be shown of a table: `shown[key]` is the count, or None where it is suppressed."""

    table: Table
    shown: Mapping[Key, int | None]


class DisclosureError(ValueError):
    """The tables cannot be protected: some suppressed cell stays too narrow whatever else is suppressed.

    This happens when tables already published (the context) pin a cell down, e.g. a national
    count equal to the sum of network counts that were all shown. Nothing should be published.
    """


def suppressed_label(threshold: int) -> str:
    """How a suppressed cell is displayed: "<5" for threshold 5, the same for every suppressed cell."""
    return f"<{threshold}"


def months_between(first: str, last: str) -> list[str]:
    """The months "YYYY-MM" from `first` to `last`, both included."""
    year, month = int(first[:4]), int(first[5:7])
    end = (int(last[:4]), int(last[5:7]))
    if (year, month) > end:
        raise ValueError(f"period {first}..{last} is empty")
    months = []
    while (year, month) <= end:
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def expected_keys(table: Table) -> list[Key]:
    """Every key a complete table holds: each subset of its dims crossed with their categories, sorted."""
    keys: list[Key] = []
    for mask in product((False, True), repeat=len(table.dims)):
        dims = [d for d, on in zip(table.dims, mask, strict=True) if on]
        for codes in product(*(table.categories[d] for d in dims)):
            keys.append(frozenset(zip(dims, codes, strict=True)))
    return sorted(keys, key=_sort_key)


def _sort_key(key: Key) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(key))


# ----------------------------------------------------------------------------- the model
@dataclass
class _Cell:
    table: int  # index into _Model.tables (the call's tables first, then the context)
    key: Key
    value: int  # the true count
    latent: int
    months: tuple[int, ...]  # indices into _Model.months of the months the cell covers
    new: bool
    level: int  # 0 for a full cell, 1 for a margin over one dimension, 2 for a table's total
    equations: list[int] = field(default_factory=list)


class _Model:
    """Cells, table-level equations and the attacker's month-level constraints of one call."""

    def __init__(
        self,
        tables: Sequence[Table],
        context: Sequence[Protected],
        threshold: int,
        complete_dims: Mapping[str, Sequence[str]],
        subsets: Sequence[tuple[str, str]],
    ) -> None:
        self.threshold = threshold
        self.tables: list[Table] = [*tables, *(p.table for p in context)]
        self.n_new = len(tables)
        all_months = sorted({m for t in self.tables for m in months_between(*t.period)})
        self.months = all_months
        month_index = {m: i for i, m in enumerate(all_months)}
        self.latents: dict[tuple[str, Key], int] = {}
        self.cells: list[_Cell] = []
        self.cell_of: dict[tuple[int, Key], int] = {}
        self.suppressed: list[bool] = []
        # table-level equations: (parent cell, child cells); hold for the table's own counts
        self.equations: list[tuple[int, list[int]]] = []
        # month-level templates: rows of (latent, coefficient), equal to 0 or at most 0
        eq_rows: dict[tuple[int, tuple[int, ...]], None] = {}
        ub_rows: list[tuple[tuple[int, int], ...]] = []

        for t_index, table in enumerate(self.tables):
            new = t_index < len(tables)
            shown = None if new else context[t_index - len(tables)].shown
            self._check(table)
            period = tuple(month_index[m] for m in months_between(*table.period))
            for key in expected_keys(table):
                month = dict(key).get(MONTH)
                plain = frozenset(item for item in key if item[0] != MONTH)
                latent = self._latent(table.measure, plain | frozenset(table.fixed.items()))
                value = int(table.cells[key])
                if value < 0:
                    raise ValueError(f"table {table.id}: negative count at {_sort_key(key)}")
                if new:
                    hidden = 0 < value < threshold
                else:
                    assert shown is not None
                    if key not in shown:
                        raise ValueError(f"context table {table.id} lacks the shown value of {_sort_key(key)}")
                    hidden = shown[key] is None
                    if not hidden and shown[key] != value:
                        raise DisclosureError(f"context table {table.id} showed {shown[key]} at {_sort_key(key)}")
                self.cell_of[(t_index, key)] = len(self.cells)
                self.cells.append(
                    _Cell(
                        table=t_index,
                        key=key,
                        value=value,
                        latent=latent,
                        months=(month_index[month],) if month is not None else period,
                        new=new,
                        level=len(table.dims) - len(key),
                    )
                )
                self.suppressed.append(hidden)
            for key in expected_keys(table):
                present = {d for d, _ in key}
                for dim in table.dims:
                    if dim in present:
                        continue
                    children = [self.cell_of[(t_index, key | {(dim, code)})] for code in table.categories[dim]]
                    parent = self.cell_of[(t_index, key)]
                    self.equations.append((parent, children))
                    if dim != MONTH:
                        eq_rows[(self.cells[parent].latent, tuple(self.cells[c].latent for c in children))] = None
        for e_index, (parent, children) in enumerate(self.equations):
            for c in (parent, *children):
                self.cells[c].equations.append(e_index)

        originals = list(self.latents.items())
        for (measure, key), latent in originals:
            present = {d for d, _ in key}
            for dim, codes in complete_dims.items():
                if dim in present:
                    continue
                children_keys = [(measure, key | {(dim, code)}) for code in codes]
                if any(k in self.latents for k in children_keys):
                    eq_rows[(latent, tuple(self._latent(*k) for k in children_keys))] = None
        for sub, sup in subsets:
            for (measure, key), latent in originals:
                if measure == sub and (sup, key) in self.latents:
                    ub_rows.append(((latent, 1), (self.latents[(sup, key)], -1)))

        self.eq_templates = [((p, 1), *((c, -1) for c in children)) for p, children in eq_rows]
        self.ub_templates = ub_rows
        self.components = self._components()
        self.aliases: dict[int, list[int]] = defaultdict(list)
        for c_index, cell in enumerate(self.cells):
            self.aliases[cell.latent].append(c_index)

    def _latent(self, measure: str, key: Key) -> int:
        return self.latents.setdefault((measure, key), len(self.latents))

    @staticmethod
    def _check(table: Table) -> None:
        if len(table.dims) > 2 or len(set(table.dims)) != len(table.dims):
            raise ValueError(f"table {table.id}: at most two distinct dims, got {table.dims}")
        if set(table.dims) & set(table.fixed):
            raise ValueError(f"table {table.id}: a dim cannot also be fixed")
        if MONTH in table.dims and list(table.categories[MONTH]) != months_between(*table.period):
            raise ValueError(f"table {table.id}: the month categories must be the months of the period")
        missing = [k for k in expected_keys(table) if k not in table.cells]
        if missing:
            raise ValueError(f"table {table.id}: missing cell {_sort_key(missing[0])}")

    def _components(self) -> list[_Component]:
        parent = list(range(len(self.latents)))

        def find(i: int) -> int:
            while parent[i] != i:
                parent[i] = parent[parent[i]]
                i = parent[i]
            return i

        for row in (*self.eq_templates, *self.ub_templates):
            root = find(row[0][0])
            for latent, _ in row[1:]:
                other = find(latent)
                if other != root:
                    parent[other] = root
        groups: dict[int, list[int]] = defaultdict(list)
        for c_index, cell in enumerate(self.cells):
            groups[find(cell.latent)].append(c_index)
        eq_by_root: dict[int, list[tuple[tuple[int, int], ...]]] = defaultdict(list)
        ub_by_root: dict[int, list[tuple[tuple[int, int], ...]]] = defaultdict(list)
        for row in self.eq_templates:
            eq_by_root[find(row[0][0])].append(row)
        for row in self.ub_templates:
            ub_by_root[find(row[0][0])].append(row)
        components = []
        for root in sorted(groups, key=lambda r: groups[r][0]):
            components.append(_Component(self, groups[root], eq_by_root[root], ub_by_root[root]))
        self.component_of = {c: i for i, comp in enumerate(components) for c in comp.cells}
        return components

    def narrow(self, lo: float, hi: float) -> bool:
        """Whether [lo, hi] is narrower than the threshold, counting only the integers it holds."""
        return math.floor(hi + _EPS) - math.ceil(lo - _EPS) < self.threshold


class _Component:
    """Cells linked by shared latents: their linear program is solved apart from the rest."""

    def __init__(
        self,
        model: _Model,
        cells: list[int],
        eq_templates: list[tuple[tuple[int, int], ...]],
        ub_templates: list[tuple[tuple[int, int], ...]],
    ) -> None:
        self.model = model
        self.cells = cells
        self.has_new = any(model.cells[c].new for c in cells)
        latents = sorted(
            {model.cells[c].latent for c in cells} | {lat for row in eq_templates + ub_templates for lat, _ in row}
        )
        # Months grouped into atoms: months no cell of the component tells apart share one variable.
        # One latent (the "root", e.g. the total a monthly trend shows month by month) may be told
        # apart more finely than every other: the others keep the atoms their own cells need and the
        # root alone gets the finer ones. This is exact: from any solution of the grouped program,
        # spreading each other latent's atom value over the root's finer atoms in proportion to the
        # root's values satisfies every month-level equation (see docs/statistics-disclosure.md).
        months = sorted({m for c in cells for m in model.cells[c].months})
        by_latent: dict[int, set[tuple[int, ...]]] = defaultdict(set)
        for c in cells:
            by_latent[model.cells[c].latent].add(model.cells[c].months)
        root = max(sorted(by_latent), key=lambda lat: len(by_latent[lat])) if by_latent else -1
        others = sorted({cov for lat, covs in by_latent.items() if lat != root for cov in covs})
        every = sorted({cov for covs in by_latent.values() for cov in covs})

        def grouping(coverages: list[tuple[int, ...]]) -> tuple[dict[int, int], int]:
            signatures: dict[tuple[bool, ...], int] = {}
            atom_of: dict[int, int] = {}
            for month in months:
                atom_of[month] = signatures.setdefault(tuple(month in cov for cov in coverages), len(signatures))
            return atom_of, len(signatures)

        coarse, n_coarse = grouping(others)
        fine, n_fine = grouping(every)
        self.var_of: dict[tuple[int, int], int] = {}  # (latent, month) -> variable
        n = 0
        for lat in latents:
            atom_of, count = (fine, n_fine) if lat == root else (coarse, n_coarse)
            for month in months:
                self.var_of[(lat, month)] = n + atom_of[month]
            n += count
        self.n_vars = n
        self.coarse_blocks: list[list[int]] = [[m for m in months if coarse[m] == a] for a in range(n_coarse)]
        self.coverage: dict[int, np.ndarray] = {}
        for c in cells:
            cell = model.cells[c]
            self.coverage[c] = np.array(sorted({self.var_of[(cell.latent, m)] for m in cell.months}), dtype=np.int64)
        self.eq_base = self._expand(eq_templates)
        self.ub_base = self._expand(ub_templates)
        self.points: list[np.ndarray] = []

    def _expand(self, rows: list[tuple[tuple[int, int], ...]]) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        """COO arrays of the month-level template rows, one row per coarse atom (a row holding the
        root adds the root's finer atoms inside that coarse atom)."""
        r_idx: list[int] = []
        c_idx: list[int] = []
        data: list[float] = []
        n = 0
        for row in rows:
            for block in self.coarse_blocks:
                for lat, coef in row:
                    for var in sorted({self.var_of[(lat, m)] for m in block}):
                        r_idx.append(n)
                        c_idx.append(var)
                        data.append(float(coef))
                n += 1
        return (
            np.array(r_idx, dtype=np.int64),
            np.array(c_idx, dtype=np.int64),
            np.array(data, dtype=np.float64),
            n,
        )

    def _matrix(
        self, base: tuple[np.ndarray, np.ndarray, np.ndarray, int], cells: list[int], sign: float
    ) -> sparse.csr_matrix:
        rows, cols, data, n = base
        extra_r = [np.full(len(self.coverage[c]), n + i, dtype=np.int64) for i, c in enumerate(cells)]
        extra_c = [self.coverage[c] for c in cells]
        all_r = np.concatenate([rows, *extra_r]) if extra_r else rows
        all_c = np.concatenate([cols, *extra_c]) if extra_c else cols
        all_d = np.concatenate([data, np.full(sum(len(x) for x in extra_c), sign)])
        return sparse.csr_matrix((all_d, (all_r, all_c)), shape=(n + len(cells), self.n_vars))

    def audit(self, suppressed: Sequence[bool], targets: list[int]) -> dict[int, tuple[float, float]]:
        """The [min, max] of each target cell given the pattern; a max is capped once it is wide enough."""
        model = self.model
        shown = [c for c in self.cells if not suppressed[c]]
        hidden = [c for c in self.cells if suppressed[c]]
        a_eq = self._matrix(self.eq_base, shown, 1.0)
        b_eq = np.concatenate([np.zeros(self.eq_base[3]), [float(model.cells[c].value) for c in shown]])
        a_ub_base = self._matrix(self.ub_base, hidden, -1.0)
        b_ub_base = np.concatenate([np.zeros(self.ub_base[3]), -np.ones(len(hidden))])
        read = sparse.csr_matrix(
            (
                np.ones(sum(len(self.coverage[c]) for c in hidden)),
                (
                    np.concatenate([np.full(len(self.coverage[c]), i) for i, c in enumerate(hidden)] or [_NONE]),
                    np.concatenate([self.coverage[c] for c in hidden] or [_NONE]),
                ),
            ),
            shape=(len(hidden), self.n_vars),
        )
        position = {c: i for i, c in enumerate(hidden)}
        seen_lo = np.full(len(hidden), np.inf)
        seen_hi = np.full(len(hidden), -np.inf)
        for point in self.points:  # points feasible under a smaller pattern stay feasible
            self._remember(point, read, seen_lo, seen_hi, keep=False)
        if targets and not self.points:
            # one feasible point with every suppressed cell as low as it goes together
            everything = np.asarray(read.sum(axis=0)).ravel()
            self._remember(self._solve(everything, a_ub_base, b_ub_base, a_eq, b_eq), read, seen_lo, seen_hi)
        open_targets = [t for t in targets if model.narrow(seen_lo[position[t]], seen_hi[position[t]])]
        for _round in range(6):
            if len(open_targets) < 2:
                break
            # one program raising every open target together, each up to its cap: most come out
            # wide enough at once, and only the rest need a program of their own
            objective = np.zeros(self.n_vars)
            caps_r, caps_c, caps = [], [], []
            for k, target in enumerate(open_targets):
                objective[self.coverage[target]] -= 1.0
                caps_r += [k] * len(self.coverage[target])
                caps_c += list(self.coverage[target])
                caps.append(math.ceil(seen_lo[position[target]] - _EPS) + model.threshold)
            cap_rows = sparse.csr_matrix(
                (np.ones(len(caps_r)), (np.array(caps_r), np.array(caps_c))), shape=(len(caps), self.n_vars)
            )
            a_ub = sparse.vstack([a_ub_base, cap_rows], format="csr")
            self._remember(self._solve(objective, a_ub, np.append(b_ub_base, caps), a_eq, b_eq), read, seen_lo, seen_hi)
            still = [t for t in open_targets if model.narrow(seen_lo[position[t]], seen_hi[position[t]])]
            if len(still) > 0.8 * len(open_targets):
                break  # the targets compete for the same slack: one program each from here
            open_targets = still
        result: dict[int, tuple[float, float]] = {}
        for target in targets:
            i = position[target]
            if not model.narrow(seen_lo[i], seen_hi[i]):
                result[target] = (seen_lo[i], seen_hi[i])
                continue
            objective = np.zeros(self.n_vars)
            objective[self.coverage[target]] = 1.0
            # a maximum of at least a seen value + threshold is enough: the cap keeps the LP bounded
            cap = math.ceil(seen_lo[i] - _EPS) + model.threshold
            cap_row = sparse.csr_matrix(
                (np.ones(len(self.coverage[target])), (np.zeros(len(self.coverage[target])), self.coverage[target])),
                shape=(1, self.n_vars),
            )
            a_ub = sparse.vstack([a_ub_base, cap_row], format="csr")
            hi_point = self._solve(-objective, a_ub, np.append(b_ub_base, cap), a_eq, b_eq)
            hi = float(objective @ hi_point)
            self._remember(hi_point, read, seen_lo, seen_hi)
            if not model.narrow(seen_lo[i], seen_hi[i]):
                result[target] = (seen_lo[i], seen_hi[i])
                continue
            lo_point = self._solve(objective, a_ub_base, b_ub_base, a_eq, b_eq)
            self._remember(lo_point, read, seen_lo, seen_hi)
            result[target] = (float(objective @ lo_point), hi)
        return result

    def _remember(
        self, point: np.ndarray, read: sparse.csr_matrix, seen_lo: np.ndarray, seen_hi: np.ndarray, keep: bool = True
    ) -> None:
        if keep:
            self.points.append(point)
        values = read @ point
        np.minimum(seen_lo, values, out=seen_lo)
        np.maximum(seen_hi, values, out=seen_hi)

    def _solve(
        self,
        objective: np.ndarray,
        a_ub: sparse.csr_matrix,
        b_ub: np.ndarray,
        a_eq: sparse.csr_matrix,
        b_eq: np.ndarray,
    ) -> np.ndarray:
        res = linprog(
            objective,
            A_ub=a_ub if a_ub.shape[0] else None,
            b_ub=b_ub if a_ub.shape[0] else None,
            A_eq=a_eq if a_eq.shape[0] else None,
            b_eq=b_eq if a_eq.shape[0] else None,
            bounds=(0, None),
            method="highs",
        )
        if res.status != 0:
            table = self.model.tables[self.model.cells[self.cells[0]].table]
            raise DisclosureError(f"the counts linked to table {table.id} are inconsistent: {res.message}")
        return np.asarray(res.x)


# ----------------------------------------------------------------------------- the heuristic
def protect(
    tables: Sequence[Table],
    threshold: int,
    *,
    context: Sequence[Protected] = (),
    complete_dims: Mapping[str, Sequence[str]] = _NO_DIMS,
    subsets: Sequence[tuple[str, str]] = (),
) -> list[Protected]:
    """Suppress every count from 1 to threshold-1 and enough other nonzero counts to protect them.

    The tables are protected together, and together with `context` (tables already published,
    whose pattern is never changed). Raises DisclosureError when no choice among the new
    tables' cells can protect some suppressed cell. Deterministic: the same input gives the
    same pattern.
    """
    if threshold < 1:
        raise ValueError("the threshold is at least 1")
    model = _Model(tables, context, threshold, complete_dims, subsets)
    _Heuristic(model).run()
    out = []
    for t_index, table in enumerate(tables):
        shown: dict[Key, int | None] = {}
        for key in expected_keys(table):
            c = model.cell_of[(t_index, key)]
            shown[key] = None if model.suppressed[c] else model.cells[c].value
        out.append(Protected(table=table, shown=shown))
    return out


class _Heuristic:
    """Audit and add: suppress one more cell next to every cell still too narrow, until none is."""

    def __init__(self, model: _Model) -> None:
        self.model = model
        self.certified: set[int] = set()
        # counts already public in a context table: hiding the same count again protects nothing
        self.public = {
            (cell.latent, cell.months) for c, cell in enumerate(model.cells) if not cell.new and not model.suppressed[c]
        }

    def run(self) -> None:
        self.quick_fix()
        self.each_table_alone(range(self.model.n_new))
        self.audit_and_add()

    def audit_and_add(self) -> None:
        """Audit every component holding a new table; add a cell next to each cell still too
        narrow; audit again where something was added, until nothing is."""
        model = self.model
        dirty = {i for i, comp in enumerate(model.components) if comp.has_new}
        while dirty:
            narrow: dict[int, float] = {}
            for i in sorted(dirty):
                comp = model.components[i]
                targets = [c for c in comp.cells if model.suppressed[c] and c not in self.certified]
                for c, (lo, hi) in comp.audit(model.suppressed, targets).items():
                    if model.narrow(lo, hi):
                        narrow[c] = model.threshold - (math.floor(hi + _EPS) - math.ceil(lo - _EPS))
                    else:
                        self.certified.add(c)
            added = self.widen(narrow)
            added += self.quick_fix()
            dirty = {model.component_of[c] for c in added}

    def each_table_alone(self, tables: Iterable[int]) -> list[int]:
        """Protect each new table as if it were published alone, with small linear programs.

        A table alone is a relaxation of the whole release (fewer constraints, wider intervals):
        a cell too narrow in its table alone is too narrow in the release, so whatever this adds
        the full audit would have asked for, at a fraction of the cost.
        """
        model = self.model
        added: list[int] = []
        for t_index in tables:
            table = model.tables[t_index]
            alone = _Model([table], (), model.threshold, _NO_DIMS, ())
            for key in expected_keys(table):
                alone.suppressed[alone.cell_of[(0, key)]] = model.suppressed[model.cell_of[(t_index, key)]]
            _Heuristic(alone).run_alone()
            for key in expected_keys(table):
                c = model.cell_of[(t_index, key)]
                if alone.suppressed[alone.cell_of[(0, key)]] and not model.suppressed[c]:
                    self.suppress(c)
                    added.append(c)
        return added

    def run_alone(self) -> None:
        """The audit-and-add loop of a single table (see each_table_alone)."""
        self.quick_fix()
        self.audit_and_add()

    # ------------------------------------------------------------------ table-level necessary conditions
    def quick_fix(self) -> list[int]:
        """Fix what a single row or column of a new table gives away, without any linear program.

        A suppressed cell alone in an equation of its table is exact; two suppressed children
        of a shown parent hold their known sum s between them, each within [1, s-1].
        """
        model = self.model
        added: list[int] = []
        changed = True
        while changed:
            changed = False
            for e_index, (parent, children) in enumerate(model.equations):
                if not model.cells[parent].new:
                    continue
                members = (parent, *children)
                hidden = [c for c in members if model.suppressed[c]]
                if len(hidden) == 1:
                    missing = model.threshold
                elif len(hidden) == 2 and parent not in hidden:
                    together = sum(model.cells[c].value for c in hidden)
                    if together - 2 >= model.threshold:
                        continue
                    missing = model.threshold - (together - 2)
                else:
                    continue
                candidates = [c for c in members if self.available(c)]
                if not candidates:
                    continue  # only a linear program can say more; the audit will
                choice = self.best(candidates, missing, {e_index})
                self.suppress(choice)
                added.append(choice)
                changed = True
        return added

    # ------------------------------------------------------------------ choosing complementary cells
    def available(self, c: int) -> bool:
        cell = self.model.cells[c]
        return (
            cell.new
            and cell.value > 0
            and not self.model.suppressed[c]
            and (cell.latent, cell.months) not in self.public
        )

    def suppress(self, c: int) -> None:
        self.model.suppressed[c] = True
        # a wider pattern only widens intervals: cells already certified stay certified

    def links(self, c: int) -> int:
        """How many equations of the cell's table already hold a suppressed cell."""
        model = self.model
        return sum(
            1
            for e in model.cells[c].equations
            if any(model.suppressed[m] for m in (model.equations[e][0], *model.equations[e][1]))
        )

    def best(self, candidates: list[int], missing: float, equations: set[int]) -> int:
        """The preferred cell: not a margin, in the emptiest shared equation, completing a rectangle, with
        enough slack, small; ties to the first table and the first key."""
        model = self.model

        def crowd(c: int) -> int:
            shared = [e for e in model.cells[c].equations if e in equations]
            return min(
                (sum(model.suppressed[m] for m in (model.equations[e][0], *model.equations[e][1])) for e in shared),
                default=len(model.cells),
            )

        def rank(c: int) -> tuple[int, int, int, int, int, int, tuple[tuple[str, str], ...]]:
            cell = model.cells[c]
            return (
                cell.level,
                crowd(c),
                -self.links(c),
                int(cell.value < missing),
                cell.value,
                cell.table,
                _sort_key(cell.key),
            )

        return min(set(candidates), key=rank)

    def neighbours(self, c: int) -> tuple[list[int], set[int]]:
        """Cells sharing an equation with the cell or with any cell of the same latent count."""
        model = self.model
        equations: set[int] = set()
        for alias in model.aliases[model.cells[c].latent]:
            equations.update(model.cells[alias].equations)
        found = {alias for alias in model.aliases[model.cells[c].latent] if self.available(alias)}
        for e in equations:
            parent, children = model.equations[e]
            found.update(m for m in (parent, *children) if self.available(m))
        return sorted(found), equations

    def widen(self, narrow: dict[int, float]) -> list[int]:
        model = self.model
        added: list[int] = []
        touched: set[int] = set()
        for c in sorted(narrow, key=lambda c: (model.cells[c].table, _sort_key(model.cells[c].key))):
            candidates, equations = self.neighbours(c)
            if equations & touched:
                continue  # a cell was just added next to this one: audit again first
            if not candidates:
                comp = model.components[model.component_of[c]]
                lo, hi = comp.audit(model.suppressed, [c])[c]
                if not model.narrow(lo, hi):
                    continue  # measured before this round's other additions, which already protect it
                candidates = [m for m in comp.cells if self.available(m)]
                self.give_up_if_hopeless(c, candidates)
            choice = self.best(candidates, narrow[c], equations)
            self.suppress(choice)
            added.append(choice)
            touched.update(model.cells[choice].equations)
            touched.update(equations)
        return added

    def give_up_if_hopeless(self, c: int, candidates: list[int]) -> None:
        """Raise DisclosureError if the cell stays narrow even with every candidate suppressed."""
        model = self.model
        cell = model.cells[c]
        where = f"table {model.tables[cell.table].id}, cell {_sort_key(cell.key)}"
        if candidates:
            widest = list(model.suppressed)
            for m in candidates:
                widest[m] = True
            comp = model.components[model.component_of[c]]
            saved = comp.points
            comp.points = list(saved)  # points of the wider pattern are not feasible for the real one
            lo, hi = comp.audit(widest, [c])[c]
            comp.points = saved
            if not model.narrow(lo, hi):
                return
        raise DisclosureError(f"{where} cannot be protected: what is already shown pins it down")
