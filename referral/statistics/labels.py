"""Translated labels of the statistics' categories (codes stay in exports' code columns and the API)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from ..cases.models import AGE_GROUPS as CASE_AGE_GROUPS
from ..labels import (
    DECLINE_REASON_LABELS,
    GBV_TYPE_LABELS,
    PERPETRATOR_LABELS,
    PRIORITY_LABELS,
    RISK_LABELS,
    SECTOR_LABELS,
)

UNKNOWN = {"unknown": _l("Not recorded")}
SECTORS = {**SECTOR_LABELS, **UNKNOWN}
GBV_TYPES = {**GBV_TYPE_LABELS, **UNKNOWN}
AGE_GROUPS = {code: code for code in CASE_AGE_GROUPS} | UNKNOWN
YES_NO = {"yes": _l("Yes"), "no": _l("No"), **UNKNOWN}
PERPETRATORS = {**PERPETRATOR_LABELS, **UNKNOWN}
RISK_LEVELS = {**RISK_LABELS, **UNKNOWN}
REPORTING_DELAYS = {
    "0-3d": _l("0-3 days"),
    "4-5d": _l("4-5 days"),
    "6-14d": _l("6-14 days"),
    "15-30d": _l("15-30 days"),
    "1-3m": _l("1-3 months"),
    "3m+": _l("Over 3 months"),
    **UNKNOWN,
}
PRIORITIES = dict(PRIORITY_LABELS)
OUTCOMES = {
    "unanswered": _l("Not yet answered"),
    "declined": _l("Declined"),
    "accepted": _l("Accepted, in progress"),
    "completed": _l("Completed with an outcome"),
    "closed_unresolved": _l("Closed unresolved"),
    "withdrawn": _l("Withdrawn after acceptance"),
}
RESPONSES = {
    "le_25": _l("Within a quarter of the target"),
    "le_50": _l("Within half of the target"),
    "le_100": _l("Within the target"),
    "le_200": _l("Late, within twice the target"),
    "gt_200": _l("Late, after twice the target"),
    "waiting": _l("Waiting, target not yet passed"),
    "waiting_late": _l("Waiting past the target"),
}
DECLINE_REASONS = dict(DECLINE_REASON_LABELS)
CLOSURE_TIMES = {
    "lt_1m": _l("Under 1 month"),
    "1_3m": _l("1-3 months"),
    "3_6m": _l("3-6 months"),
    "gt_6m": _l("Over 6 months"),
}
FOLLOWUP_COUNTS = {"1": "1", "2": "2", "3_5": "3-5", "6_plus": _l("6 or more")}
PLAN_STATES = {
    "approved": _l("Approved by a supervisor"),
    "submitted": _l("Written, not yet approved"),
    "none": _l("None yet"),
}
