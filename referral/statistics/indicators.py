"""Every indicator, defined once: its name, the definition shown beside it, and the tables it
publishes. Pages, exports, the API and releases read these definitions; `queries.py` holds the
SQL that fills each table from statistical (clear, coarse) columns only.

A table counts one population (its `measure`) by zero to two dimensions, with every margin.
Tables of one measure are linked through the cells they share, and disclosure control protects
them together. The tables of a measure are chosen so that their dimension sets form an acyclic
(decomposable) family: then the published cells and their margins are all an observer can use,
and the disclosure audit is exact (see docs/statistics-disclosure.md). `decomposable()` checks it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from flask_babel import lazy_gettext as _l

from ..cases.models import AGE_GROUPS, GBV_TYPES, PERPETRATOR_RELATIONSHIPS, REPORTING_DELAYS, RISK_LEVELS
from ..enums import SECTORS
from ..referrals.models import DECLINE_REASONS, PRIORITIES

FAMILIES = ("volume", "timeliness", "pathway", "quality")
FAMILY_LABELS = {
    "volume": _l("Volume"),
    "timeliness": _l("Timeliness"),
    "pathway": _l("Pathway"),
    "quality": _l("Case-management quality"),
}
UNKNOWN = "unknown"

# What a referral became (one dimension, so that "declined" is one cell wherever it is counted).
OUTCOMES = ("unanswered", "declined", "accepted", "completed", "closed_unresolved", "withdrawn")
ANSWERED_OUTCOMES = ("declined", "accepted", "completed", "closed_unresolved", "withdrawn_after_answer")
# The first response against the priority's target: share of the target used, or still waiting.
RESPONSES = ("le_25", "le_50", "le_100", "le_200", "gt_200", "waiting", "waiting_late")
LATE_RESPONSES = ("le_200", "gt_200", "waiting_late")
ANSWERED_RESPONSES = ("le_25", "le_50", "le_100", "le_200", "gt_200")
CLOSURE_TIMES = ("lt_1m", "1_3m", "3_6m", "gt_6m")
FOLLOWUP_COUNTS = ("1", "2", "3_5", "6_plus")
PLAN_STATES = ("approved", "submitted", "none")
YES_NO = ("yes", "no")
GAP_REASONS = ("no_capacity", "service_not_offered")


@dataclass(frozen=True)
class Dimension:
    name: str
    label: Any
    categories: tuple[str, ...] = ()  # empty for month and governorate (they come from the request)
    labels: Callable[[], dict[str, Any]] | None = None


def _with_unknown(codes: Sequence[str]) -> tuple[str, ...]:
    """The codes and "not recorded" once (some code lists have their own "unknown")."""
    return tuple(dict.fromkeys((*codes, UNKNOWN)))


def _labels(name: str) -> Callable[[], dict[str, Any]]:
    def load() -> dict[str, Any]:
        from . import labels

        return getattr(labels, name)

    return load


DIMENSIONS = {
    d.name: d
    for d in (
        Dimension("month", _l("Month")),
        Dimension("governorate", _l("Governorate")),
        Dimension("sector", _l("Sector"), _with_unknown(SECTORS), _labels("SECTORS")),
        Dimension("from_sector", _l("Sending sector"), _with_unknown(SECTORS), _labels("SECTORS")),
        Dimension("to_sector", _l("Receiving sector"), _with_unknown(SECTORS), _labels("SECTORS")),
        Dimension("gbv_type", _l("Type of violence"), _with_unknown(GBV_TYPES), _labels("GBV_TYPES")),
        Dimension("age_group", _l("Age group"), _with_unknown(AGE_GROUPS), _labels("AGE_GROUPS")),
        Dimension("disability", _l("Disability"), _with_unknown(YES_NO), _labels("YES_NO")),
        Dimension(
            "perpetrator",
            _l("Perpetrator's relationship"),
            _with_unknown(PERPETRATOR_RELATIONSHIPS),
            _labels("PERPETRATORS"),
        ),
        Dimension("risk_level", _l("Risk level"), _with_unknown(RISK_LEVELS), _labels("RISK_LEVELS")),
        Dimension(
            "reporting_delay", _l("Reporting delay"), _with_unknown(REPORTING_DELAYS), _labels("REPORTING_DELAYS")
        ),
        Dimension("priority", _l("Priority"), PRIORITIES, _labels("PRIORITIES")),
        Dimension("outcome", _l("Outcome"), OUTCOMES, _labels("OUTCOMES")),
        Dimension("response", _l("First response"), RESPONSES, _labels("RESPONSES")),
        Dimension("reason", _l("Decline reason"), DECLINE_REASONS, _labels("DECLINE_REASONS")),
        Dimension("closure_time", _l("Time from opening to closure"), CLOSURE_TIMES, _labels("CLOSURE_TIMES")),
        Dimension("followups", _l("Follow-ups per case"), FOLLOWUP_COUNTS, _labels("FOLLOWUP_COUNTS")),
        Dimension("assessed", _l("Assessment done"), YES_NO, _labels("YES_NO")),
        Dimension("safety_plan", _l("Safety plan"), YES_NO, _labels("YES_NO")),
        Dimension("action_plan", _l("Action plan"), PLAN_STATES, _labels("PLAN_STATES")),
    )
}

MEASURES = {
    "cases_new": _l("New cases opened in the period"),
    "cases_closed": _l("Cases closed in the period"),
    "referrals_sent": _l("Referrals sent in the period"),
    "referrals_open_late": _l("Open referrals past their target now"),
    "cases_followed": _l("Cases with follow-ups in the period"),
    "followups": _l("Follow-ups recorded in the period"),
}


@dataclass(frozen=True)
class TableSpec:
    """One published table: a measure counted by `dims`, optionally within fixed categories."""

    id: str
    measure: str
    dims: tuple[str, ...]
    fixed: tuple[tuple[str, str], ...] = ()
    scopes: tuple[str, ...] = ("network", "national", "organization")
    chart: str | None = None  # "line", "bar", "stacked", "heatmap" or None (table only)


@dataclass(frozen=True)
class Derived:
    """A percentage, median or percentile computed from a table's protected cells (or, for
    medians, from SQL), never shown when it rests on fewer than the threshold or on a hidden cell."""

    id: str
    kind: str  # "percent" | "median"
    label: Any
    table: str
    by: str | None  # a dimension of the table (one value per category) or None (one value)
    numerator: tuple[str, ...] = ()  # categories of `over` counted above the line
    denominator: tuple[str, ...] = ()  # categories of `over` below it (empty: the margin)
    over: str | None = None  # the dimension the shares are taken over


@dataclass(frozen=True)
class Indicator:
    id: str
    family: str
    title: Any
    definition: Any
    tables: tuple[TableSpec, ...]
    derived: tuple[Derived, ...] = field(default_factory=tuple)


def _t(id: str, measure: str, *dims: str, chart: str | None = None, **kw: Any) -> TableSpec:
    return TableSpec(id, measure, tuple(dims), chart=chart, **kw)


INDICATORS: tuple[Indicator, ...] = (
    # ---------------------------------------------------------------- volume
    Indicator(
        "new_cases",
        "volume",
        _l("New cases"),
        _l(
            "Cases opened in the period, by the month they were opened. Network and national numbers count only "
            "cases whose survivor agreed to be counted in network statistics."
        ),
        (
            _t("cases_new_by_month", "cases_new", "month", chart="line"),
            _t("cases_new_by_governorate", "cases_new", "governorate", scopes=("national",), chart="bar"),
            _t("cases_new_by_sector", "cases_new", "sector", scopes=("network", "national")),
        ),
    ),
    Indicator(
        "case_profile",
        "volume",
        _l("Who the new cases are"),
        _l(
            "New cases of the period by type of violence (the GBVIMS core type of the first incident), age group, "
            "disability, the perpetrator's relationship to the survivor and the risk level of the last assessment."
        ),
        (
            _t("cases_new_by_gbv_type", "cases_new", "gbv_type", chart="bar"),
            _t("cases_new_by_age_group", "cases_new", "age_group"),
            _t("cases_new_by_disability", "cases_new", "disability"),
            _t("cases_new_by_perpetrator", "cases_new", "perpetrator"),
            _t("cases_new_by_risk_level", "cases_new", "risk_level"),
        ),
    ),
    Indicator(
        "new_referrals",
        "volume",
        _l("Referrals sent"),
        _l("Referrals sent in the period (drafts are not counted), by month, priority and governorate."),
        (
            _t("referrals_by_month", "referrals_sent", "month", chart="line"),
            _t("referrals_by_governorate", "referrals_sent", "governorate", scopes=("national",)),
        ),
    ),
    # ---------------------------------------------------------------- timeliness
    Indicator(
        "response_time",
        "timeliness",
        _l("Time to first response"),
        _l(
            "For referrals sent in the period: the time from sending to the first answer (accepted or declined) as a "
            "share of the priority's target (emergency 24 hours, urgent 72 hours, normal 14 days), or still waiting. "
            "Late means answered after the target or still unanswered past it."
        ),
        (_t("referrals_by_priority_response", "referrals_sent", "priority", "response", chart="stacked"),),
        (
            Derived(
                "share_late",
                "percent",
                _l("Share overdue"),
                "referrals_by_priority_response",
                "priority",
                numerator=LATE_RESPONSES,
                over="response",
            ),
            Derived(
                "response_median",
                "median",
                _l("Median hours to respond"),
                "referrals_by_priority_response",
                "priority",
                numerator=ANSWERED_RESPONSES,
                over="response",
            ),
            Derived(
                "response_p90",
                "median",
                _l("90th percentile, hours to respond"),
                "referrals_by_priority_response",
                "priority",
                numerator=ANSWERED_RESPONSES,
                over="response",
            ),
        ),
    ),
    Indicator(
        "completion_time",
        "timeliness",
        _l("Time to completion"),
        _l("For referrals sent in the period and completed: hours from sending to completion, by priority."),
        (_t("referrals_by_priority_outcome", "referrals_sent", "priority", "outcome"),),
        (
            Derived(
                "completion_median",
                "median",
                _l("Median hours to complete"),
                "referrals_by_priority_outcome",
                "priority",
                numerator=("completed",),
                over="outcome",
            ),
            Derived(
                "completion_p90",
                "median",
                _l("90th percentile, hours to complete"),
                "referrals_by_priority_outcome",
                "priority",
                numerator=("completed",),
                over="outcome",
            ),
        ),
    ),
    Indicator(
        "open_late",
        "timeliness",
        _l("Open referrals past their target now"),
        _l("Referrals still waiting for an answer whose response target has passed, at the time of the report."),
        (_t("referrals_open_late_by_priority", "referrals_open_late", "priority"),),
    ),
    # ---------------------------------------------------------------- pathway
    Indicator(
        "flow",
        "pathway",
        _l("Referral pathways"),
        _l(
            "Referrals sent in the period from each sending sector (the sending organisation's main sector) to each "
            "receiving sector (the service's sector, else the receiving organisation's main sector, or the sector of "
            "a provider outside the network)."
        ),
        (_t("referral_flow", "referrals_sent", "from_sector", "to_sector", chart="heatmap"),),
    ),
    Indicator(
        "outcomes",
        "pathway",
        _l("Acceptance and outcomes"),
        _l(
            "What the referrals sent in the period became, by receiving sector. The acceptance rate is the share "
            "accepted of those answered; completed referrals always carry an outcome."
        ),
        (_t("referral_outcomes", "referrals_sent", "to_sector", "outcome", chart="stacked"),),
        (
            Derived(
                "acceptance_rate",
                "percent",
                _l("Acceptance rate"),
                "referral_outcomes",
                "to_sector",
                numerator=("accepted", "completed", "closed_unresolved", "withdrawn"),
                denominator=("declined", "accepted", "completed", "closed_unresolved", "withdrawn"),
                over="outcome",
            ),
            Derived(
                "share_completed",
                "percent",
                _l("Share completed with an outcome"),
                "referral_outcomes",
                "to_sector",
                numerator=("completed",),
                over="outcome",
            ),
        ),
    ),
    Indicator(
        "decline_reasons",
        "pathway",
        _l("Decline reasons and service gaps"),
        _l(
            "Declined referrals sent in the period by reason and receiving sector. No capacity and service not "
            "offered are service gaps: a survivor who needed a service the network could not give."
        ),
        (
            _t(
                "declines_by_sector_reason",
                "referrals_sent",
                "to_sector",
                "reason",
                chart="bar",
                fixed=(("outcome", "declined"),),
            ),
            _t(
                "gaps_no_capacity_by_governorate",
                "referrals_sent",
                "to_sector",
                "governorate",
                fixed=(("outcome", "declined"), ("reason", "no_capacity")),
                scopes=("national",),
            ),
            _t(
                "gaps_not_offered_by_governorate",
                "referrals_sent",
                "to_sector",
                "governorate",
                fixed=(("outcome", "declined"), ("reason", "service_not_offered")),
                scopes=("national",),
            ),
        ),
    ),
    # ---------------------------------------------------------------- quality
    Indicator(
        "assessments",
        "quality",
        _l("Assessments, safety plans and action plans"),
        _l(
            "Of the cases opened in the period: whether an assessment has been recorded, whether a safety plan has "
            "been recorded by risk level (every high-risk case needs one), and whether a supervisor approved the "
            "action plan."
        ),
        (
            _t("cases_new_by_assessed", "cases_new", "assessed"),
            _t("cases_new_by_risk_safety_plan", "cases_new", "risk_level", "safety_plan"),
            _t("cases_new_by_action_plan", "cases_new", "action_plan"),
        ),
        (
            Derived(
                "share_assessed",
                "percent",
                _l("Share assessed"),
                "cases_new_by_assessed",
                None,
                numerator=("yes",),
                over="assessed",
            ),
            Derived(
                "share_safety_plan",
                "percent",
                _l("Share with a safety plan"),
                "cases_new_by_risk_safety_plan",
                "risk_level",
                numerator=("yes",),
                over="safety_plan",
            ),
            Derived(
                "share_plan_approved",
                "percent",
                _l("Share with an approved action plan"),
                "cases_new_by_action_plan",
                None,
                numerator=("approved",),
                over="action_plan",
            ),
        ),
    ),
    Indicator(
        "followups",
        "quality",
        _l("Follow-ups per case"),
        _l("Cases with at least one follow-up due in the period (cancelled ones aside), by how many they had."),
        (_t("cases_by_followups", "cases_followed", "followups"),),
    ),
    Indicator(
        "time_to_close",
        "quality",
        _l("Time from opening to closure"),
        _l("Cases closed in the period, by the time from opening to closure."),
        (_t("cases_closed_by_time", "cases_closed", "closure_time", chart="bar"),),
    ),
    Indicator(
        "reporting_delay",
        "quality",
        _l("Reporting delay"),
        _l("New cases of the period by how long after the incident the survivor first reported it (asked at intake)."),
        (_t("cases_new_by_reporting_delay", "cases_new", "reporting_delay", chart="bar"),),
    ),
)

INDICATOR_BY_ID = {i.id: i for i in INDICATORS}
TABLES = {t.id: t for i in INDICATORS for t in i.tables}
TABLE_INDICATOR = {t.id: i for i in INDICATORS for t in i.tables}


def tables_for(scope_kind: str) -> list[TableSpec]:
    return [t for i in INDICATORS for t in i.tables if scope_kind in t.scopes]


def decomposable(specs: Sequence[TableSpec], scope_dims: Sequence[str] = ()) -> bool:
    """Whether the dimension sets of each measure's tables form an acyclic hypergraph (GYO
    reduction): then no hidden relation links the tables beyond the cells they share.

    Fixed categories count as dimensions; the month and the `scope_dims` (the governorate of a
    network's tables) are shared by every table, which leaves acyclicity unchanged.
    """
    by_measure: dict[str, list[set[str]]] = {}
    for spec in specs:
        edge = {*spec.dims, *(d for d, _ in spec.fixed)} - {"month", *scope_dims}
        by_measure.setdefault(spec.measure, []).append(edge)
    for edges in by_measure.values():
        work = [set(e) for e in edges if e]
        changed = True
        while changed and work:
            changed = False
            counts: dict[str, int] = {}
            for e in work:
                for v in e:
                    counts[v] = counts.get(v, 0) + 1
            for e in work:  # drop vertices that belong to one edge only
                lone = {v for v in e if counts[v] == 1}
                if lone:
                    e -= lone
                    changed = True
            kept: list[set[str]] = []
            for i, e in enumerate(work):  # drop empty edges and edges inside another
                if not e or any(j != i and e <= f and (e != f or j < i) for j, f in enumerate(work)):
                    changed = True
                    continue
                kept.append(e)
            work = kept
        if work:
            return False
    return True
