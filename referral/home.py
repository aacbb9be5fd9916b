"""The home page of each role (real data only), the navigation by role, and the health check."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_login import current_user
from sqlalchemy import func, select
from werkzeug.wrappers import Response

from .access.policy import can, scope_users
from .accounts import services as accounts
from .accounts.models import User
from .audit.models import AuditEvent
from .cases import services as cases
from .coordination import dashboard
from .directory import services as directory
from .directory.models import Network, NetworkMembership, Organization
from .errors import Conflict, DomainError, NotFound
from .extensions import db
from .followups import services as followups
from .models_base import utcnow
from .referrals import services as referrals
from .runtime import runtime

home_bp = Blueprint("home", __name__)


@dataclass(frozen=True)
class NavItem:
    endpoint: str
    label: Any


_NAV: dict[str, tuple[NavItem, ...]] = {
    "sysadmin": (
        NavItem("directory.networks", _l("Networks")),
        NavItem("directory.organizations", _l("Organisations")),
        NavItem("directory.service_directory", _l("Services")),
        NavItem("admin.users", _l("Users")),
    ),
    "org_admin": (
        NavItem("admin.users", _l("Users")),
        NavItem("statistics.index", _l("Statistics")),
        NavItem("coordination.index", _l("Coordination")),
        NavItem("plans.index", _l("Activity plans")),
        NavItem("directory.service_directory", _l("Services")),
        NavItem("directory.networks", _l("Networks")),
    ),
    "coordinator": (
        NavItem("notifications.escalations", _l("Overdue referrals")),
        NavItem("conferences.index", _l("Case conferences")),
        NavItem("statistics.index", _l("Statistics")),
        NavItem("coordination.index", _l("Coordination")),
        NavItem("plans.index", _l("Activity plans")),
        NavItem("statistics.releases_index", _l("Releases")),
        NavItem("statistics.requests_index", _l("Data requests")),
        NavItem("directory.networks", _l("Networks")),
        NavItem("directory.organizations", _l("Organisations")),
        NavItem("directory.service_directory", _l("Services")),
    ),
    "auditor": (
        NavItem("audit.index", _l("Audit trail")),
        NavItem("audit.flags", _l("Flags")),
        NavItem("audit.verify", _l("Verification")),
        NavItem("statistics.releases_index", _l("Statistics")),
        NavItem("directory.networks", _l("Networks")),
        NavItem("directory.organizations", _l("Organisations")),
        NavItem("directory.service_directory", _l("Services")),
    ),
    "caseworker": (
        NavItem("followups.my_day", _l("My day")),
        NavItem("cases.index", _l("Cases")),
        NavItem("referrals.index", _l("Referrals")),
        NavItem("transfers.index", _l("Transfers")),
        NavItem("conferences.index", _l("Case conferences")),
        NavItem("statistics.releases_index", _l("Statistics")),
        NavItem("plans.index", _l("Activity plans")),
        NavItem("directory.service_directory", _l("Services")),
        NavItem("directory.networks", _l("Networks")),
        NavItem("directory.organizations", _l("Organisations")),
    ),
    "supervisor": (
        NavItem("followups.my_day", _l("My day")),
        NavItem("cases.index", _l("Cases")),
        NavItem("referrals.index", _l("Referrals")),
        NavItem("transfers.index", _l("Transfers")),
        NavItem("cases.approvals", _l("Approvals")),
        NavItem("breakglass.index", _l("Emergency access")),
        NavItem("followups.team_overdue", _l("Team overdue")),
        NavItem("conferences.index", _l("Case conferences")),
        NavItem("statistics.index", _l("Statistics")),
        NavItem("coordination.index", _l("Coordination")),
        NavItem("plans.index", _l("Activity plans")),
        NavItem("directory.service_directory", _l("Services")),
        NavItem("directory.networks", _l("Networks")),
        NavItem("directory.organizations", _l("Organisations")),
    ),
}
_DEFAULT_NAV = (
    NavItem("directory.networks", _l("Networks")),
    NavItem("directory.organizations", _l("Organisations")),
    NavItem("directory.service_directory", _l("Services")),
)


def navigation(user: Any) -> tuple[NavItem, ...]:
    if not getattr(user, "is_authenticated", False):
        return ()
    return _NAV.get(user.role, _DEFAULT_NAV)


@dataclass(frozen=True)
class NavMenu:
    """One area of the navigation: a menu of its entries, or a plain link when it has only one."""

    key: str
    label: Any
    items: tuple[NavItem, ...]


# The areas the entries are grouped in (by endpoint); an entry of no area is a menu of its own.
_AREAS: tuple[tuple[str, Any, frozenset[str]], ...] = (
    ("followups", _l("Follow-ups"), frozenset({"followups.my_day", "followups.team_overdue"})),
    ("cases", _l("Cases"), frozenset({"cases.index", "cases.approvals", "breakglass.index"})),
    ("referrals", _l("Referrals"), frozenset({"referrals.index", "transfers.index", "notifications.escalations"})),
    ("coordination", _l("Coordination"), frozenset({"conferences.index", "coordination.index", "plans.index"})),
    (
        "statistics",
        _l("Statistics"),
        frozenset({"statistics.index", "statistics.releases_index", "statistics.requests_index"}),
    ),
    (
        "directory",
        _l("Directory"),
        frozenset({"directory.networks", "directory.organizations", "directory.service_directory"}),
    ),
    ("audit", _l("Audit"), frozenset({"audit.index", "audit.flags", "audit.verify"})),
    ("admin", _l("Administration"), frozenset({"admin.users"})),
)


def menus(items: tuple[NavItem, ...]) -> tuple[NavMenu, ...]:
    """The role's entries grouped by area, the areas in the order of their first entry (so each
    role keeps its own priorities), the entries in the role's order."""
    grouped: dict[str, list[NavItem]] = {}
    labels: dict[str, Any] = {}
    for item in items:
        area = next((a for a in _AREAS if item.endpoint in a[2]), None)
        key, label = (area[0], area[1]) if area else (item.endpoint, item.label)
        grouped.setdefault(key, []).append(item)
        labels.setdefault(key, label)
    return tuple(NavMenu(key, labels[key], tuple(entries)) for key, entries in grouped.items())


@home_bp.route("/healthz")
def health() -> Response:
    db.session.execute(select(1))
    return jsonify({"status": "ok"})


@home_bp.route("/")
def index() -> str:
    user: User = current_user._get_current_object()
    data: dict[str, Any] = {
        "sessions": len(runtime().sessions.for_user(user.id)),
        "codes_left": accounts.remaining_recovery_codes(db.session, user),
        "networks": _networks_of(user.organization_id),
    }
    if user.role == "sysadmin":
        data["counts"] = {
            "networks": db.session.scalar(select(func.count()).select_from(Network)),
            "organizations": db.session.scalar(select(func.count()).select_from(Organization)),
            "users": db.session.scalar(select(func.count()).select_from(User)),
            "inactive": db.session.scalar(select(func.count()).where(User.active.is_(False))),
        }
    elif user.role in ("caseworker", "supervisor"):
        data["case_counts"] = {
            "cases": cases.count_cases(db.session, user),
            "awaiting": len(cases.approval_queue(db.session, user)) if user.role == "supervisor" else None,
        }
        data["referral_counts"] = referrals.counts(db.session, user)
        data["followup_counts"] = followups.due_counts(db.session, user)
        data["may_create_case"] = can(user, "case.create")
    elif user.role == "org_admin":
        staff = list(db.session.scalars(scope_users(user, select(User)).order_by(User.username)))
        data["staff"] = staff
        data["pending_mfa"] = sum(1 for u in staff if not u.mfa_enrolled)
    elif user.role == "coordinator" and user.network is not None:
        members = directory.members(db.session, user.network)
        data["members"] = members
        data["by_kind"] = {k: sum(1 for m in members if m.kind == k) for k in ("governmental", "civil")}
        data.update(_coordinator_context(dashboard.coordinator_home(db.session, user)))
    elif user.role == "coordinator":
        data.update(_coordinator_context(None), comparison=dashboard.national_home(db.session, user))
    elif user.role == "auditor":
        since = utcnow() - timedelta(hours=24)
        rows = db.session.execute(
            select(AuditEvent.action, func.count()).where(AuditEvent.occurred_at >= since).group_by(AuditEvent.action)
        ).all()
        data["activity"] = sorted(((action, count) for action, count in rows), key=lambda r: -r[1])
    return render_template("home/index.html", user=user, **data)


def _coordinator_context(home: dashboard.CoordinatorHome | None) -> dict[str, Any]:
    from .coordination.views import PRIORITY_LABELS, STATUS_LABELS, _local, _names
    from .plans.labels import TYPE_LABELS
    from .referrals.views import referral_label
    from .statistics.views import _quick_periods

    return {
        "coordination": home,
        "org_names": _names(Organization),
        "network_names": _names(Network),
        "status_labels": STATUS_LABELS,
        "priority_labels": PRIORITY_LABELS,
        "type_labels": TYPE_LABELS,
        "local": _local,
        "referral_label": referral_label,
        "quick": _quick_periods(),
    }


@home_bp.post("/home/referrals/<referral_id>/remind")
def remind_referral(referral_id: str) -> Response:
    """A coordinator's "remind now" on an overdue referral of her home page's list."""
    try:
        told = dashboard.remind_now(db.session, current_user, referral_id)
    except NotFound:
        abort(404)
    except Conflict:
        flash(_("This referral was already reminded today; the next reminder can be sent tomorrow."), "warning")
    except DomainError:
        flash(_("The receiving organisation has no focal point to remind: ask its administrator."), "danger")
    else:
        flash(
            ngettext(
                "%(num)d focal point of the receiving organisation was reminded.",
                "%(num)d focal points of the receiving organisation were reminded.",
                told,
            ),
            "success",
        )
    if request.form.get("back") == "escalations":  # "remind now" on the overdue referrals list
        return redirect(url_for("notifications.escalations"), 303)
    if request.form.get("back") == "escalation":  # ... or on one of them
        return redirect(url_for("notifications.escalation_detail", referral_id=referral_id), 303)
    return redirect(url_for("home.index", _anchor="overdue-referrals"), 303)


def _networks_of(organization_id: str) -> list[Network]:
    return list(
        db.session.scalars(
            select(Network)
            .join(NetworkMembership, NetworkMembership.network_id == Network.id)
            .where(NetworkMembership.organization_id == organization_id)
            .order_by(Network.name_en)
        )
    )
