"""What the statistics page's charts draw, taken from a protected payload.

A chart illustrates one table (the table beside it gives every number). A suppressed cell is
null, drawn as a gap, and the note lists the categories left out. The flow matrix is a heatmap:
not drawn by Chart.js but rendered by the template as a table with a colour class per cell.
Nothing here computes or recovers a number: counts are the payload's own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from flask_babel import force_locale
from flask_babel import gettext as _

from ..i18n import RTL, list_join
from .exports import category_label, dimension_label, period_label, table_title
from .indicators import MEASURES, TABLES

HEAT_CLASSES = ("heat-0", "heat-1", "heat-2", "heat-3", "heat-4")
HEAT_SUPPRESSED = "heat-x"
Names = Mapping[str, str] | None
Key = tuple[str | None, ...]


def _alt(kind: str, title: str) -> str:
    if kind == "line":
        return _("Line chart of %(title)s; the table below gives every number.", title=title)
    if kind == "stacked":
        return _("Stacked bar chart of %(title)s; the table below gives every number.", title=title)
    if kind == "heatmap":
        return _("Coloured table of %(title)s: darker cells hold more; every number is shown.", title=title)
    return _("Bar chart of %(title)s; the table below gives every number.", title=title)


def _cells(table: Mapping[str, Any]) -> dict[Key, int | str]:
    dims: Sequence[str] = table.get("dims", [])
    return {tuple((cell.get("key") or {}).get(d) for d in dims): cell.get("count") for cell in table.get("cells", [])}


def _number(count: Any) -> int | None:
    """The count a chart can draw: an int, or None for the suppression label."""
    return count if isinstance(count, int) and not isinstance(count, bool) else None


def _suppressed(count: Any) -> bool:
    return count is not None and _number(count) is None


def heat_class(value: int, shown: Sequence[int]) -> str:
    """One of five sequential classes by the share of shown values below `value` (quantiles)."""
    if not shown:
        return HEAT_CLASSES[0]
    below = sum(1 for v in shown if v < value)
    return HEAT_CLASSES[min(len(HEAT_CLASSES) - 1, len(HEAT_CLASSES) * below // len(shown))]


def _note(payload: Mapping[str, Any], left_out: list[str], heatmap: bool = False) -> str | None:
    if not left_out:
        return None
    if heatmap:
        return _(
            "Hatched cells are suppressed (shown as %(label)s: fewer than %(threshold)s, or hidden to protect a "
            "small count): %(categories)s.",
            label=payload["suppressed_label"],
            threshold=payload["threshold"],
            categories=list_join(left_out),
        )
    return _(
        "Not drawn (shown as %(label)s in the table: fewer than %(threshold)s, or hidden to protect a small "
        "count): %(categories)s.",
        label=payload["suppressed_label"],
        threshold=payload["threshold"],
        categories=list_join(left_out),
    )


def _previous_label(table: Mapping[str, Any]) -> str:
    previous = _("Previous period")
    return f"{previous} ({period_label(table['from'], table['to'])})"


def _one_dim(
    table: Mapping[str, Any],
    previous: Mapping[str, Any] | None,
    locale: str,
    names: Names,
) -> dict[str, Any]:
    dim = table["dims"][0]
    codes: list[str] = list(table["categories"].get(dim, []))
    labels = [category_label(dim, c, locale, names) for c in codes]
    cells = _cells(table)
    current = [cells.get((c,)) for c in codes]
    left_out = [label for label, count in zip(labels, current, strict=True) if _suppressed(count)]
    datasets: list[dict[str, Any]] = [
        {
            "label": period_label(table["from"], table["to"]),
            "period": "current",
            "colour": 0,
            "data": [_number(v) for v in current],
        }
    ]
    if previous is not None:
        prev_cells = _cells(previous)
        prev_codes: list[str] = list(previous["categories"].get(dim, []))
        if dim == "month":  # the same month of the earlier window: aligned by position
            aligned = [prev_codes[i] if i < len(prev_codes) else None for i in range(len(codes))]
        else:
            aligned = list(codes)
        counts = [prev_cells.get((c,)) if c is not None else None for c in aligned]
        datasets.append(
            {
                "label": _previous_label(previous),
                "period": "previous",
                "colour": 1,
                "data": [_number(v) for v in counts],
            }
        )
        prev_label = _("Previous period")
        left_out += [
            f"{label} ({prev_label})" for label, count in zip(labels, counts, strict=True) if _suppressed(count)
        ]
    return {"labels": labels, "codes": codes, "datasets": datasets, "left_out": left_out}


def _two_dim(
    kind: str,
    table: Mapping[str, Any],
    previous: Mapping[str, Any] | None,
    locale: str,
    names: Names,
) -> dict[str, Any]:
    """Bars by the first dimension, one dataset per category of the second (stacked for
    "stacked", where the previous period is a second stack)."""
    first, second = table["dims"]
    codes: list[str] = list(table["categories"].get(first, []))
    labels = [category_label(first, c, locale, names) for c in codes]
    series: list[str] = list(table["categories"].get(second, []))
    datasets: list[dict[str, Any]] = []
    left_out: list[str] = []
    periods: list[tuple[str, Mapping[str, Any]]] = [("current", table)]
    if previous is not None and kind == "stacked":
        periods.append(("previous", previous))
    previous_name = _("Previous period")
    for period, shown in periods:
        cells = _cells(shown)
        for index, s in enumerate(series):
            s_label = category_label(second, s, locale, names)
            counts = [cells.get((c, s)) for c in codes]
            dataset: dict[str, Any] = {
                "label": s_label if period == "current" else f"{s_label} ({previous_name})",
                "period": period,
                "colour": index,
                "data": [_number(v) for v in counts],
            }
            if kind == "stacked":
                dataset["stack"] = period
            datasets.append(dataset)
            suffix = f" ({previous_name})" if period == "previous" else ""
            left_out += [
                f"{label} / {s_label}{suffix}"
                for label, count in zip(labels, counts, strict=True)
                if _suppressed(count)
            ]
    return {"labels": labels, "codes": codes, "datasets": datasets, "left_out": left_out}


def heatmap(table: Mapping[str, Any], payload: Mapping[str, Any], locale: str, names: Names = None) -> dict[str, Any]:
    """A two-dimensional table as rows of cells, each with its count as published and a colour
    class: heat-0 to heat-4 by quantile of the shown counts, heat-x where suppressed."""
    first, second = table["dims"]
    row_codes: list[str] = list(table["categories"].get(first, []))
    col_codes: list[str] = list(table["categories"].get(second, []))
    cells = _cells(table)
    inner = [v for (r, c), v in cells.items() if r is not None and c is not None]
    values = [n for n in (_number(v) for v in inner) if n is not None]
    rows = []
    left_out: list[str] = []
    for r in row_codes:
        r_label = category_label(first, r, locale, names)
        row_cells = []
        for c in col_codes:
            count = cells.get((r, c))
            number = _number(count)
            if number is not None:
                css = heat_class(number, values)
            elif _suppressed(count):
                css = HEAT_SUPPRESSED
                left_out.append(f"{r_label} / {category_label(second, c, locale, names)}")
            else:
                css = ""
            row_cells.append({"code": c, "count": count, "class": css})
        rows.append({"code": r, "label": r_label, "cells": row_cells, "total": cells.get((r, None))})
    title = table_title(table, locale, names)
    return {
        "type": "heatmap",
        "table": table["id"],
        "title": title,
        "alt": _alt("heatmap", title),
        "row_label": dimension_label(first),
        "column_label": dimension_label(second),
        "columns": [{"code": c, "label": category_label(second, c, locale, names)} for c in col_codes],
        "rows": rows,
        "column_totals": [cells.get((None, c)) for c in col_codes],
        "total": cells.get((None, None)),
        "note": _note(payload, left_out, heatmap=True),
        "suppressed": left_out,
        "rtl": locale in RTL,
    }


def chart_data(payload: Mapping[str, Any], locale: str, names: Names = None) -> list[dict[str, Any]]:
    """For each current-period table whose indicator names a chart: what the page draws beside it."""
    with force_locale(locale):
        previous_tables = {t["id"]: t for t in payload.get("tables", []) if t.get("period") == "previous"}
        charts: list[dict[str, Any]] = []
        for table in payload.get("tables", []):
            spec = TABLES.get(table["id"])
            if spec is None or spec.chart is None or table.get("period", "current") != "current":
                continue
            dims = table.get("dims", [])
            if spec.chart == "heatmap" and len(dims) == 2:
                charts.append(heatmap(table, payload, locale, names))
                continue
            previous = previous_tables.get(table["id"])
            if len(dims) == 1:
                body = _one_dim(table, previous, locale, names)
            elif len(dims) == 2:
                body = _two_dim(spec.chart, table, previous, locale, names)
            else:
                continue
            title = table_title(table, locale, names)
            measure = MEASURES.get(table.get("measure", ""))
            charts.append(
                {
                    "type": "line" if spec.chart == "line" else "bar",
                    "stacked": spec.chart == "stacked",
                    "table": table["id"],
                    "title": title,
                    "alt": _alt(spec.chart, title),
                    "x_label": dimension_label(dims[0]),
                    "y_label": str(measure) if measure is not None else table.get("measure", ""),
                    "labels": body["labels"],
                    "codes": body["codes"],
                    "datasets": body["datasets"],
                    "note": _note(payload, body["left_out"]),
                    "suppressed": body["left_out"],
                    "rtl": locale in RTL,
                }
            )
        return charts
