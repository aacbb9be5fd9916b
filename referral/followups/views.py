"""The notification inbox: a user's own notifications, newest first; opening one marks it read
and goes to what it is about (where the usual access rules apply again)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask_login import current_user

from ..access.policy import can
from ..extensions import db
from . import notifications

notifications_bp = Blueprint("notifications", __name__)
_TARGETS = {
    "referral": ("referrals.show", "referral_id"),
    "case": ("cases.show", "case_id"),
    "transfer": ("transfers.show", "transfer_id"),
    "release": ("statistics.release", "release_id"),
    "meeting": ("coordination.meeting", "meeting_id"),
    "action_point": ("coordination.action_point", "point_id"),
    "conference": ("conferences.show", "conference_id"),
}


def target_url(notification: Any) -> str:
    if notification.target_type == "escalation":
        return url_for("notifications.escalations")
    endpoint = _TARGETS.get(notification.target_type or "")
    if endpoint is None or notification.target_id is None:
        return url_for("notifications.index")
    return url_for(endpoint[0], **{endpoint[1]: notification.target_id})


@notifications_bp.get("/notifications")
def index() -> str:
    rows = notifications.listing(db.session, current_user, limit=100, before=request.args.get("before"))
    return render_template("followups/notifications.html", rows=rows, text=notifications.text, more=len(rows) == 100)


@notifications_bp.get("/notifications/<notification_id>")
def follow(notification_id: str) -> Any:
    found = notifications.open_one(db.session, current_user, notification_id)
    if found is None:
        abort(404)
    return redirect(target_url(found), 303)


@notifications_bp.post("/notifications/<notification_id>/read")
def read_one(notification_id: str) -> Any:
    """Mark one notification read without opening it: from htmx, the row again (read) and the
    navigation's unread count out of band; from a plain form, back to the inbox."""
    found = notifications.open_one(db.session, current_user, notification_id)
    if found is None:
        abort(404)
    if request.headers.get("HX-Request") == "true":
        return render_template("followups/_notification_read.html", n=found, text=notifications.text)
    return redirect(url_for("notifications.index", _anchor=f"notification-{found.id}"), 303)


@notifications_bp.post("/notifications/read")
def read_all() -> Any:
    notifications.mark_all_read(db.session, current_user)
    return redirect(url_for("notifications.index"), 303)


@notifications_bp.get("/escalations")
def escalations() -> str:
    """The network coordinator's list of overdue referrals: the case code, the two organisations
    and the delay, nothing about the survivor."""
    from . import escalation

    if not can(current_user, "referral.escalations"):
        abort(404)
    from ..coordination.dashboard import reminded_today
    from ..referrals.views import referral_label

    rows = escalation.overdue_referrals(db.session, current_user)
    reminded = reminded_today(db.session, current_user, [r.referral_id for r in rows])
    return render_template("followups/escalations.html", rows=rows, referral_label=referral_label, reminded=reminded)


@notifications_bp.get("/escalations/<referral_id>")
def escalation_detail(referral_id: str) -> str:
    """One overdue referral as the coordinator sees it: the case code, the two organisations,
    its priority, times and states; and "remind now"."""
    from ..coordination.dashboard import reminded_today
    from ..referrals.views import referral_label
    from . import escalation

    if current_user.role != "coordinator":
        abort(404)
    row, steps = escalation.overdue_one(db.session, current_user, referral_id)
    return render_template(
        "followups/escalation.html",
        row=row,
        steps=steps,
        referral_label=referral_label,
        reminded=reminded_today(db.session, current_user, [row.referral_id]),
    )
