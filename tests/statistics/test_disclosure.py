"""Disclosure control: hand cases whose patterns are checked by an independent attacker's audit, and a
property test over random linked tables. Every hand case also shows the audit failing the pattern
of primary suppression alone, so the audit can fail."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import combinations, product

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from referral.statistics.disclosure import (
    DisclosureError,
    Key,
    Protected,
    Table,
    expected_keys,
    months_between,
    protect,
    suppressed_label,
)
from tests.helpers.lp_auditor import assert_protected, audit, narrow_cells

T = 5
Fine = Mapping[tuple[tuple[str, str], ...], int]  # ((dim, code), ..., ("month", m)) -> count


def k(**items: str) -> Key:
    return frozenset(items.items())


def build(
    table_id: str,
    fine: Fine,
    dims: Sequence[str],
    categories: Mapping[str, Sequence[str]],
    period: tuple[str, str],
    measure: str = "cases_new",
    fixed: Mapping[str, str] | None = None,
) -> Table:
    """A complete table (cells and margins) summed from monthly counts over the full cross of all dims."""
    months = months_between(*period)
    cats = dict(categories)
    if "month" in dims:
        cats["month"] = months
    cells: dict[Key, int] = {}
    for size in range(len(dims) + 1):
        for chosen in combinations(dims, size):
            for codes in product(*(cats[d] for d in chosen)):
                key = frozenset(zip(chosen, codes, strict=True))
                cells[key] = sum(
                    n
                    for combo, n in fine.items()
                    if dict(combo)["month"] in months and all(dict(combo)[d] == v for d, v in key)
                )
    return Table(table_id, measure, tuple(dims), cats, period, cells, dict(fixed or {}))


def primary_only(tables: Sequence[Table], threshold: int = T) -> list[Protected]:
    return [Protected(t, {key: (None if 0 < n < threshold else n) for key, n in t.cells.items()}) for t in tables]


def hidden(p: Protected) -> set[Key]:
    return {key for key, v in p.shown.items() if v is None}


def check_basics(out: Sequence[Protected], threshold: int = T) -> None:
    for p in out:
        assert set(p.shown) == set(p.table.cells)
        for key, n in p.table.cells.items():
            if p.shown[key] is not None:
                assert p.shown[key] == n
            assert not (n == 0 and p.shown[key] is None), "a zero was suppressed"
            assert not (0 < n < threshold and p.shown[key] is not None), "a small count was shown"


def one_dim(counts: Mapping[str, int], month: str = "2024-01") -> dict[tuple[tuple[str, str], ...], int]:
    return {(("type", code), ("month", month)): n for code, n in counts.items()}


# ----------------------------------------------------------------------------- hand cases
def test_label() -> None:
    assert suppressed_label(5) == "<5"
    assert suppressed_label(10) == "<10"


def test_one_dimension_needs_one_complementary_cell() -> None:
    table = build("by_type", one_dim({"a": 2, "b": 9, "c": 30, "d": 7}), ["type"], {"type": "abcd"}, ("2024-01",) * 2)
    with pytest.raises(AssertionError, match="by_type"):
        assert_protected(primary_only([table]), T)
    (out,) = protect([table], T)
    check_basics([out])
    assert hidden(out) == {k(type="a"), k(type="d")}  # the smallest cell that gives enough slack
    assert_protected([out], T)


def test_two_dimensions_need_a_rectangle() -> None:
    counts = {("x", "p"): 3, ("x", "q"): 12, ("x", "r"): 20, ("y", "p"): 15, ("y", "q"): 8, ("y", "r"): 25}
    counts |= {("z", "p"): 30, ("z", "q"): 40, ("z", "r"): 50}
    fine = {(("age", a), ("type", b), ("month", "2024-01")): n for (a, b), n in counts.items()}
    table = build("age_type", fine, ["age", "type"], {"age": "xyz", "type": "pqr"}, ("2024-01", "2024-01"))
    assert narrow_cells(primary_only([table]), T)
    (out,) = protect([table], T)
    check_basics([out])
    assert_protected([out], T)
    assert len(hidden(out)) == 4
    rows = {dict(key)["age"] for key in hidden(out)}
    cols = {dict(key)["type"] for key in hidden(out)}
    assert len(rows) == len(cols) == 2 and all(len(key) == 2 for key in hidden(out))


def test_two_tables_sharing_the_total_are_protected_together() -> None:
    fine = {
        (("type", t), ("age", a), ("month", "2024-01")): n
        for (t, a), n in {("a", "x"): 2, ("b", "x"): 10, ("b", "y"): 12, ("c", "y"): 9, ("c", "x"): 6}.items()
    }
    by_type = build("by_type", fine, ["type"], {"type": "abc"}, ("2024-01", "2024-01"))
    by_age = build("by_age", fine, ["age"], {"age": "xy"}, ("2024-01", "2024-01"))
    out = protect([by_type, by_age], T)
    check_basics(out)
    assert_protected(out, T)
    with pytest.raises(AssertionError):
        assert_protected(primary_only([by_type, by_age]), T)


def test_two_tables_sharing_a_small_total_suppress_both_totals() -> None:
    fine = one_dim({"a": 1, "b": 2})
    by_type = build("by_type", fine, ["type"], {"type": "ab"}, ("2024-01", "2024-01"))
    total = build("total", fine, [], {}, ("2024-01", "2024-01"))
    out = protect([by_type, total], T)
    check_basics(out)
    assert_protected(out, T)  # everything is suppressed: nothing bounds the counts from above
    assert all(v is None for p in out for v in p.shown.values())


def test_differencing_with_an_earlier_longer_period() -> None:
    """January-April is published with a and d suppressed; January-March, shown beside it, must not
    narrow them: d(Jan-Mar) = 6 shown means d(Jan-Apr) >= 6, so a(Jan-Apr) = 10 - d <= 4."""
    months = ["2024-01", "2024-02", "2024-03", "2024-04"]
    monthly = {"a": [0, 0, 0, 4], "b": [5, 5, 10, 4], "c": [10, 10, 10, 3], "d": [2, 2, 2, 0]}
    fine = {(("type", t), ("month", m)): n for t, ns in monthly.items() for m, n in zip(months, ns, strict=True)}
    cats = {"type": "abcd"}
    earlier = protect([build("jan_apr", fine, ["type"], cats, ("2024-01", "2024-04"))], T)
    assert hidden(earlier[0]) == {k(type="a"), k(type="d")}
    assert_protected(earlier, T)
    march = build("jan_mar", fine, ["type"], cats, ("2024-01", "2024-03"))
    alone = protect([march], T)
    assert not hidden(alone[0])  # nothing small: on its own all of it can be shown ...
    with pytest.raises(AssertionError, match="jan_apr"):  # ... but not beside the earlier release
        assert_protected([*earlier, *alone], T)
    out = protect([march], T, context=earlier)
    check_basics(out)
    assert k(type="d") in hidden(out[0])
    assert_protected([*earlier, *out], T)
    assert earlier[0].shown == protect([build("jan_apr", fine, ["type"], cats, ("2024-01", "2024-04"))], T)[0].shown


def test_national_table_with_network_tables_in_context() -> None:
    cats = {"type": "abc"}
    hebron = one_dim({"a": 3, "b": 7, "c": 20})
    nablus = one_dim({"a": 2, "b": 8, "c": 15})
    national_fine = {key: hebron[key] + nablus[key] for key in hebron}
    period = ("2024-01", "2024-01")
    networks = [
        protect([build("h", hebron, ["type"], cats, period, fixed={"gov": "hebron"})], T)[0],
        protect([build("n", nablus, ["type"], cats, period, fixed={"gov": "nablus"})], T)[0],
    ]
    assert_protected(networks, T)
    complete = {"gov": ["hebron", "nablus"]}
    national = build("national", national_fine, ["type"], cats, period)
    # the national a (5) is not small, but shown it pins hebron a + nablus a = 5: each in [1, 4]
    with pytest.raises(AssertionError):
        assert_protected([*networks, *primary_only([national])], T, complete_dims=complete)
    out = protect([national], T, context=networks, complete_dims=complete)
    check_basics(out)
    assert k(type="a") in hidden(out[0])
    assert_protected([*networks, *out], T, complete_dims=complete)


def test_national_table_pinned_by_fully_shown_networks_cannot_be_protected() -> None:
    cats = {"type": "ab"}
    period = ("2024-01", "2024-01")
    networks = [
        protect([build("h", one_dim({"a": 6, "b": 9}), ["type"], cats, period, fixed={"gov": "h"})], T)[0],
        protect([build("n", one_dim({"a": 0, "b": 9}), ["type"], cats, period, fixed={"gov": "n"})], T)[0],
    ]
    national = build("national", one_dim({"a": 6, "b": 18}), ["type"], cats, period)
    assert protect([national], T, context=networks, complete_dims={"gov": ["h", "n"]})  # nothing small: fine
    small = build("national", one_dim({"a": 3, "b": 18}), ["type"], cats, period)
    shown = [Protected(networks[0].table, networks[0].table.cells), networks[1]]
    with pytest.raises(DisclosureError, match="national"):
        protect([small], T, context=shown, complete_dims={"gov": ["h", "n"]})


def test_subset_bounds_the_sent_by_the_declined() -> None:
    """Sent a and b are suppressed (a + b = 9); declined b = 6 shown means sent b >= 6, so sent a <= 3."""
    period = ("2024-01", "2024-01")
    cats = {"type": "abc"}
    sent = build("sent", one_dim({"a": 3, "b": 6, "c": 30}), ["type"], cats, period, measure="referrals_sent")
    declined_counts = one_dim({"a": 0, "b": 6, "c": 9})
    declined = build("declined", declined_counts, ["type"], cats, period, measure="referrals_declined")
    pairs = [("referrals_declined", "referrals_sent")]
    alone = protect([sent, declined], T)
    assert_protected(alone, T)  # without the subset link the pattern holds ...
    with pytest.raises(AssertionError, match="sent"):  # ... with it, it does not
        assert_protected(alone, T, subsets=pairs)
    with pytest.raises(AssertionError):
        assert_protected(primary_only([sent, declined]), T, subsets=pairs)
    out = protect([sent, declined], T, subsets=pairs)
    check_basics(out)
    assert [hidden(p) for p in out] != [hidden(p) for p in alone]
    assert_protected(out, T, subsets=pairs)


def test_interval_of_a_subset_cell_is_bounded_by_its_superset() -> None:
    period = ("2024-01", "2024-01")
    sent = build("sent", one_dim({"a": 3, "b": 20}), ["type"], {"type": "ab"}, period, measure="s")
    declined = Table("declined", "d", (), {}, period, {frozenset(): 2})
    shown = [
        Protected(sent, {k(type="a"): None, k(type="b"): None, frozenset(): 23}),
        Protected(declined, {frozenset(): None}),
    ]
    lo, hi = audit(shown, T, subsets=[("d", "s")])[("declined", frozenset())]
    assert (lo, hi) == (1.0, 23.0)


def test_same_input_same_pattern() -> None:
    counts = {("x", "p"): 3, ("x", "q"): 1, ("y", "p"): 15, ("y", "q"): 8, ("z", "p"): 2, ("z", "q"): 40}
    fine = {(("age", a), ("type", b), ("month", "2024-01")): n for (a, b), n in counts.items()}
    table = build("t", fine, ["age", "type"], {"age": "xyz", "type": "pq"}, ("2024-01", "2024-01"))
    first = protect([table], T)
    assert all(protect([table], T)[0].shown == first[0].shown for _ in range(3))


def test_incomplete_table_is_refused() -> None:
    table = Table("t", "m", ("type",), {"type": ["a", "b"]}, ("2024-01", "2024-01"), {k(type="a"): 1, frozenset(): 1})
    with pytest.raises(ValueError, match="missing cell"):
        protect([table], T)


def test_expected_keys_cover_cells_and_margins() -> None:
    table = build("t", {}, ["a", "b"], {"a": "xy", "b": "pqr"}, ("2024-01", "2024-01"))
    assert len(expected_keys(table)) == 2 * 3 + 2 + 3 + 1


# ----------------------------------------------------------------------------- property
DIM_CHOICES = [(), ("a",), ("b",), ("a", "b"), ("month",), ("month", "a"), ("b", "month")]


@st.composite
def releases(draw: st.DrawFn) -> tuple[list[Table], list[Table]]:
    n_months = draw(st.integers(1, 3))
    months = [f"2024-{i + 1:02d}" for i in range(n_months)]
    cats = {dim: [f"{dim}{i}" for i in range(draw(st.integers(2, 6)))] for dim in ("a", "b")}
    count = st.one_of(st.just(0), st.just(0), st.integers(1, 4), st.integers(0, 12), st.integers(13, 60))
    fine = {(("a", a), ("b", b), ("month", m)): draw(count) for a, b, m in product(cats["a"], cats["b"], months)}

    def period() -> tuple[str, str]:
        first = draw(st.integers(0, n_months - 1))
        last = draw(st.integers(first, n_months - 1))
        return months[first], months[last]

    def table(name: str) -> Table:
        dims = draw(st.sampled_from(DIM_CHOICES))
        return build(name, fine, dims, {d: cats[d] for d in dims if d != "month"}, period())

    tables = [table(f"t{i}") for i in range(draw(st.integers(1, 4)))]
    context = [table("ctx")] if draw(st.booleans()) else []
    return tables, context


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(releases())
def test_random_linked_tables_are_protected(release: tuple[list[Table], list[Table]]) -> None:
    tables, context_tables = release
    context = protect(context_tables, T) if context_tables else []
    try:
        out = protect(tables, T, context=context)
    except DisclosureError:
        # only acceptable if the context really pins a small cell: suppressing everything cannot help
        everything = [Protected(t, {key: (None if n else 0) for key, n in t.cells.items()}) for t in tables]
        assert narrow_cells([*context, *everything], T)
        return
    check_basics(out)
    assert_protected([*context, *out], T)


def test_a_cell_protected_by_the_same_rounds_other_additions_is_not_given_up() -> None:
    """A small cell alone in its row and its column: once its row, its column and the total are
    hidden there is nothing left next to it, and the pattern protects it (found on the demo data)."""
    k = frozenset
    governorates, sectors = ["a", "b", "c"], ["x", "y", "z"]
    values = {("a", "x"): 2, ("b", "y"): 7, ("b", "z"): 6, ("c", "y"): 5, ("c", "z"): 9}
    cells: dict[frozenset[tuple[str, str]], int] = {}
    for g in governorates:
        for s in sectors:
            cells[k({("g", g), ("s", s)})] = values.get((g, s), 0)
        cells[k({("g", g)})] = sum(values.get((g, s), 0) for s in sectors)
    for s in sectors:
        cells[k({("s", s)})] = sum(values.get((g, s), 0) for g in governorates)
    cells[k()] = sum(values.values())
    table = Table("gaps", "m", ("g", "s"), {"g": governorates, "s": sectors}, ("2026-01", "2026-01"), cells)
    [result] = protect([table], 5)
    assert result.shown[k({("g", "a"), ("s", "x")})] is None
    assert_protected([result], 5)
