"""Emergency access (break-the-glass) on the web: the form a supervisor opens it with, her
accesses in force with a button to end each, and the list of emergency accesses to her own
organisation's cases with a button to revoke. Thin: the rules are in `breakglass.py`."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user
from sqlalchemy import select

from ..accounts.models import User
from ..directory.models import Organization
from ..errors import DomainError, NotFound
from ..extensions import db
from ..forms_base import attach_errors
from ..i18n import current_locale_code
from ..labels import message
from ..models_base import utcnow
from ..transaction import keep_on_error
from . import breakglass
from .forms import BreakGlassForm
from .policy import can

breakglass_bp = Blueprint("breakglass", __name__, url_prefix="/breakglass")


def _actor() -> Any:
    return current_user._get_current_object()


def _hour_choices(limit: int) -> list[tuple[int, str]]:
    return [(n, ngettext("%(num)s hour", "%(num)s hours", n)) for n in range(1, limit + 1)]


@breakglass_bp.route("", methods=["GET", "POST"])
def index() -> Any:
    """GET: the form and the actor's accesses in force. POST: open one, then go to the case."""
    actor = _actor()
    if not can(actor, "breakglass.open"):
        raise NotFound("page")
    limit = breakglass.default_hours()
    form = BreakGlassForm()
    form.hours.choices = _hour_choices(limit)  # type: ignore[assignment]
    if not form.is_submitted():
        form.hours.data = limit
    status = 200
    if form.is_submitted():
        status = 400
        if form.validate():
            try:
                grant = breakglass.open_grant(
                    db.session, actor, form.case_code.data or "", form.reason.data or "", form.hours.data
                )
            except breakglass.DailyLimitReached as error:  # refused, recorded and the auditors told
                keep_on_error()
                attach_errors(form, error)
                status = error.status
            except NotFound:  # the denial is recorded; the form says so and keeps the input
                form.case_code.errors = [*form.case_code.errors, message("unknown_case")]
                status = 404
            except DomainError as error:
                attach_errors(form, error)
                status = error.status
            else:
                flash(_("Emergency access opened. It is recorded and the case's organisation was told."), "warning")
                return redirect(url_for("cases.show", case_id=grant.case_id), 303)
    return render_template(
        "access/breakglass.html", form=form, grants=breakglass.my_active_grants(db.session, actor)
    ), status


@breakglass_bp.post("/<grant_id>/end")
def end(grant_id: str) -> Any:
    breakglass.end_grant(db.session, _actor(), grant_id)
    flash(_("Your emergency access ended."), "success")
    return redirect(url_for("breakglass.index"), 303)


@breakglass_bp.get("/ours")
def ours() -> Any:
    """Emergency accesses to the cases of the actor's organisation (supervisors)."""
    actor = _actor()
    grants = breakglass.grants_on_our_cases(db.session, actor)
    user_ids = {g.user_id for g in grants} | {g.ended_by for g in grants if g.ended_by}
    names = dict(db.session.execute(select(User.id, User.username).where(User.id.in_(user_ids))).all())
    locale = current_locale_code()
    orgs = {
        o.id: o.name(locale)
        for o in db.session.scalars(
            select(Organization).where(Organization.id.in_({g.organization_id for g in grants}))
        )
    }
    return render_template("access/breakglass_ours.html", grants=grants, names=names, orgs=orgs, now=utcnow())


@breakglass_bp.post("/<grant_id>/revoke")
def revoke(grant_id: str) -> Any:
    breakglass.revoke_grant(db.session, _actor(), grant_id)
    flash(_("The emergency access was revoked."), "success")
    return redirect(url_for("breakglass.ours"), 303)
