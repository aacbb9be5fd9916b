"""What the charts draw: the payload's counts, a gap where a cell is suppressed, a heatmap's classes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from referral.statistics.charts import HEAT_CLASSES, chart_data, heat_class
from tests.helpers.statistics import payload


@pytest.fixture
def request_ctx(app: Flask) -> Iterator[None]:
    with app.test_request_context():
        yield


def by_table(charts: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {c["table"]: c for c in charts}


def test_a_chart_for_each_current_table_with_a_chart_kind(request_ctx: None) -> None:
    charts = chart_data(payload(), "en")
    assert [c["table"] for c in charts] == [
        "cases_new_by_month",
        "cases_new_by_gbv_type",
        "referral_flow",
        "referral_outcomes",
    ]
    kinds = {c["table"]: (c["type"], c.get("stacked")) for c in charts}
    assert kinds["cases_new_by_month"] == ("line", False)
    assert kinds["cases_new_by_gbv_type"] == ("bar", False)
    assert kinds["referral_outcomes"] == ("bar", True)
    assert kinds["referral_flow"][0] == "heatmap"


def test_tables_without_a_chart_kind_are_left_to_the_table(request_ctx: None) -> None:
    data = payload()
    data["tables"][2]["id"] = "cases_new_by_age_group"  # a table-only indicator
    assert "cases_new_by_age_group" not in by_table(chart_data(data, "en"))


def test_suppressed_cells_are_nulls_exactly(request_ctx: None) -> None:
    data = payload()
    gbv = by_table(chart_data(data, "en"))["cases_new_by_gbv_type"]
    current, previous = gbv["datasets"]
    assert gbv["codes"] == data["tables"][2]["categories"]["gbv_type"]
    assert current["data"] == [12, None, None, 0, 8, 15, 0, None]
    assert previous["data"] == [None, 6, 0, 0, 7, 11, 0, 5]
    assert current["period"] == "current" and previous["period"] == "previous"
    assert gbv["suppressed"] == ["Sexual assault", "Physical assault", "Not recorded", "Rape (Previous period)"]
    assert "Sexual assault" in gbv["note"] and "<5" in gbv["note"]


def test_zero_is_drawn_not_a_gap(request_ctx: None) -> None:
    gbv = by_table(chart_data(payload(), "en"))["cases_new_by_gbv_type"]
    assert gbv["datasets"][0]["data"][3] == 0


def test_months_of_the_previous_period_line_up_by_position(request_ctx: None) -> None:
    month = by_table(chart_data(payload(), "en"))["cases_new_by_month"]
    assert month["labels"] == ["January 2026", "February 2026", "March 2026"]
    assert [d["data"] for d in month["datasets"]] == [[10, None, 20], [7, 9, None]]
    assert month["datasets"][1]["label"] == "Previous period (2025-01 – 2025-03)"


def test_no_previous_dataset_without_a_previous_table(request_ctx: None) -> None:
    data = payload()
    data["tables"] = [t for t in data["tables"] if t["period"] == "current"]
    data["previous"] = None
    month = by_table(chart_data(data, "en"))["cases_new_by_month"]
    assert len(month["datasets"]) == 1


def test_stacked_chart_has_a_stack_per_period(request_ctx: None) -> None:
    outcomes = by_table(chart_data(payload(), "en"))["referral_outcomes"]
    assert outcomes["labels"] == ["Health", "Police family protection"]
    stacks = [(d["stack"], d["data"]) for d in outcomes["datasets"]]
    assert stacks == [
        ("current", [None, 6]),
        ("current", [8, None]),
        ("previous", [5, 0]),
        ("previous", [None, 7]),
    ]
    assert len(outcomes["suppressed"]) == 3


def test_no_totals_are_drawn(request_ctx: None) -> None:
    for chart in chart_data(payload(), "en"):
        if chart["type"] != "heatmap":
            assert all(len(d["data"]) == len(chart["labels"]) for d in chart["datasets"])
            assert 40 not in chart["datasets"][0]["data"]


def test_text_alternative_title_and_direction(request_ctx: None) -> None:
    english = by_table(chart_data(payload(), "en"))["cases_new_by_gbv_type"]
    assert english["alt"] == (
        "Bar chart of New cases opened in the period, by Type of violence; the table below gives every number."
    )
    assert english["rtl"] is False
    arabic = by_table(chart_data(payload(), "ar"))["cases_new_by_gbv_type"]
    assert arabic["rtl"] is True
    assert "نوع العنف" in arabic["title"]
    assert arabic["labels"][0] == "اغتصاب"


def test_heatmap_classes(request_ctx: None) -> None:
    flow = by_table(chart_data(payload(), "en"))["referral_flow"]
    assert [c["code"] for c in flow["columns"]] == ["health", "police", "legal_aid"]
    grid = {(r["code"], c["code"]): (c["count"], c["class"]) for r in flow["rows"] for c in r["cells"]}
    assert grid[("health", "police")] == ("<5", "heat-x")
    assert grid[("police", "legal_aid")] == ("<5", "heat-x")
    # shown values 0 0 6 7 9 14 21: five classes by the share below each
    assert grid[("health", "health")] == (0, "heat-0")
    assert grid[("legal_aid", "health")] == (6, "heat-1")
    assert grid[("legal_aid", "legal_aid")] == (7, "heat-2")
    assert grid[("health", "legal_aid")] == (9, "heat-2")
    assert grid[("police", "health")] == (14, "heat-3")
    assert grid[("legal_aid", "police")] == (21, "heat-4")
    assert [r["total"] for r in flow["rows"]] == [12, 17, 34]
    assert flow["column_totals"] == [20, 24, 19] and flow["total"] == 63
    assert flow["suppressed"] == ["Health / Police family protection", "Police family protection / Legal aid"]
    assert "Coloured table" in flow["alt"]


def test_heat_class_is_monotone_and_uses_all_five() -> None:
    shown = list(range(10))
    classes = [heat_class(v, shown) for v in shown]
    assert classes == sorted(classes)
    assert set(classes) == set(HEAT_CLASSES)
    assert heat_class(3, [3, 3, 3]) == "heat-0"
