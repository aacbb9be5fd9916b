"""Disclosure control of a realistic release: the median time of `protect()` over several runs.

    .venv/bin/python bench/disclosure.py [--months 12] [--runs 5] [--seed 1]

Builds one year's release of a network of six governorates from Poisson monthly counts (rates
from 0.3 to 40 a month, so some cells are small and many are zero): for each of three measures
(new cases, referrals sent, referrals declined, the last a subset of the second) national
tables by type of violence, age group, governorate, month, type x age, type x governorate and
month x type (21 tables), and for new cases network tables by type and by type x age for
four of the governorates (8 more): 29 tables, about 1,000 cells.
Also times an interactive page: one governorate's type x age table by month (a few hundred
cells). Prints the size, the median of --runs runs, and the number of suppressed cells.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from itertools import combinations, product
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from referral.statistics.disclosure import Protected, Table, months_between, protect  # noqa: E402

GBV = ["physical", "sexual", "psychological", "economic", "denial", "forced_marriage", "other"]
AGE = ["0-11", "12-17", "18-24", "25-39", "40-59", "60+"]
GOV = ["hebron", "nablus", "jenin", "ramallah", "bethlehem", "tulkarm"]
MEASURES = [("cases_new", 1.0), ("referrals_sent", 0.8)]


def fine_counts(months: list[str], rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Monthly counts per measure, indexed [gov, gbv, age, month]; declined drawn within sent."""
    shape = (len(GOV), len(GBV), len(AGE), len(months))
    rate = rng.gamma(0.6, 4.0, size=shape[:3])[..., None] * np.ones(shape)
    data = {name: rng.poisson(rate * scale) for name, scale in MEASURES}
    data["referrals_declined"] = rng.binomial(data["referrals_sent"], 0.2)
    return data


def table(
    table_id: str, measure: str, counts: np.ndarray, dims: tuple[str, ...], months: list[str], gov: str | None
) -> Table:
    axes = {"gbv": (1, GBV), "age": (2, AGE), "governorate": (0, GOV), "month": (3, months)}
    cube = counts if gov is None else counts[GOV.index(gov) : GOV.index(gov) + 1]
    cats = {d: axes[d][1] for d in dims}
    cells = {}
    for size in range(len(dims) + 1):
        for chosen in combinations(dims, size):
            for codes in product(*(cats[d] for d in chosen)):
                index: list[object] = [slice(None)] * 4
                for d, code in zip(chosen, codes, strict=True):
                    axis, values = axes[d]
                    index[axis] = values.index(code)
                cells[frozenset(zip(chosen, codes, strict=True))] = int(cube[tuple(index)].sum())
    fixed = {"governorate": gov} if gov else {}
    return Table(table_id, measure, dims, cats, (months[0], months[-1]), cells, fixed)


def release(months: list[str], rng: np.random.Generator) -> list[Table]:
    data = fine_counts(months, rng)
    shapes = [("gbv",), ("age",), ("governorate",), ("month",), ("gbv", "age"), ("gbv", "governorate")]
    shapes.append(("month", "gbv"))
    tables = []
    for measure, counts in data.items():
        for dims in shapes:
            tables.append(table(f"{measure}_by_{'_'.join(dims)}", measure, counts, dims, months, None))
        for gov in GOV[:4] if measure == "cases_new" else []:
            for dims in (("gbv",), ("gbv", "age")):
                tables.append(table(f"{measure}_{gov}_by_{'_'.join(dims)}", measure, counts, dims, months, gov))
    return tables


def timed(fn: object, runs: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(runs):
        start = time.perf_counter()
        out = fn()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def report(name: str, tables: list[Table], seconds: float, out: list[Protected]) -> None:
    cells = sum(len(t.cells) for t in tables)
    small = sum(0 < n < 5 for t in tables for n in t.cells.values())
    hidden = sum(v is None for p in out for v in p.shown.values())
    print(f"{name}: {len(tables)} tables, {cells} cells, {small} small, {hidden} suppressed: median {seconds:.3f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    months = months_between("2024-01", f"{2024 + (args.months - 1) // 12}-{(args.months - 1) % 12 + 1:02d}")
    rng = np.random.default_rng(args.seed)
    tables = release(months, rng)
    pairs = [("referrals_declined", "referrals_sent")]
    seconds, out = timed(lambda: protect(tables, 5, complete_dims={"governorate": GOV}, subsets=pairs), args.runs)
    report("release", tables, seconds, out)  # type: ignore[arg-type]
    page = [table("page", "cases_new", fine_counts(months, rng)["cases_new"], ("month", "gbv"), months, "hebron")]
    seconds, out = timed(lambda: protect(page, 5), args.runs)
    report("page", page, seconds, out)  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
