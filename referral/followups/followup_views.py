"""Follow-up tasks on the web: "my day" (overdue, today, the rest of the week), the case's
follow-ups (a section of the case page, and a page of its own that also answers a refused form),
and a supervisor's "team overdue" list. Thin: the rules are in `services.py`.

Times are shown and typed in the network's local time and stored in UTC. A refused form
re-renders its page with the input kept and the problem named (4xx); the refused change ran in
a savepoint and is undone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask.blueprints import BlueprintSetupState
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup
from sqlalchemy import select

from ..access.policy import can
from ..cases.models import Case
from ..directory.models import Organization
from ..errors import DomainError, page_status
from ..extensions import db
from ..forms_base import attempt
from ..labels import message
from ..models_base import utcnow
from ..referrals.models import Referral
from ..transaction import keep_on_error
from . import services
from .forms import KIND_LABELS, MESSAGES, STATE_LABELS, CancelForm, CompleteForm, FollowUpForm
from .models import FollowUp

followups_bp = Blueprint("followups", __name__)


@dataclass
class CasePanel:
    """What the case page's "Follow-ups" section shows."""

    rows: list[FollowUp]
    names: dict[str, str]
    may_add: bool
    add_form: FollowUpForm | None
    done_forms: dict[str, CompleteForm] = field(default_factory=dict)  # a refused one's form, kept
    may_complete: set[str] = field(default_factory=set)  # the rows shown with a blank "done" form
    referral_labels: dict[str, str] = field(default_factory=dict)
    total: int = 0  # how many the case has, when the rows shown are only the first of them


# The case page shows the first follow-ups (open ones first); its "all follow-ups" page shows them all.
CASE_PAGE_FOLLOWUPS = 10


@followups_bp.record_once
def _install(state: BlueprintSetupState) -> None:
    state.app.jinja_env.globals.update(
        case_followups=case_panel,
        case_page_followups=CASE_PAGE_FOLLOWUPS,
        followup_kind_label=lambda code: str(KIND_LABELS.get(code, code)),
        followup_state_label=lambda code: str(STATE_LABELS.get(code, code)),
        done_parts=done_parts,
    )
    state.app.jinja_env.filters["local_time"] = local_time


def _actor() -> Any:
    return current_user._get_current_object()


def local_time(value: datetime | None) -> str:
    from .. import timefmt

    return timefmt.local_time(value)


def _text(code: str) -> str:
    return str(MESSAGES[code]) if code in MESSAGES else message(code)


def _attach(form: Any, error: DomainError, names: dict[str, str] | None = None) -> None:
    """Show a service's field errors next to the fields they name ("next.kind" -> next_kind)."""
    for name, code in error.fields.items():
        target = getattr(form, (names or {}).get(name, name.replace(".", "_")), None)
        if target is not None and hasattr(target, "errors"):
            target.errors = [*list(target.errors), _text(code)]
        else:
            form.form_errors.append(_text(code))
    if not error.fields:
        form.form_errors.append(_text(error.message))


def _attempt(action: Callable[[], Any]) -> tuple[Any, DomainError | None]:
    """Run a service call the form helpers' way (`forms_base.attempt`): on a refusal it is undone
    and the error returned. Not found is not caught: it answers 404."""
    return attempt(action, catch_not_found=False)


def _prefix(followup_id: str) -> str:
    return f"f{followup_id.replace('-', '')[:12]}"


def done_parts() -> dict[str, Any]:
    """What every follow-up's "done" form on a page shares, worked out once per request (the
    labels, the kinds to choose from): the rows' forms are then written without a form object
    each (`_macros.html`, `quick_done_form`); a refused one is shown from its own form."""
    found = g.get("shabaka_done_parts")
    if found is None:
        blank = CompleteForm(formdata=None)
        found = {
            "token": generate_csrf(),
            "summary": _("Add a note or the next follow-up"),
            "legend": _("Next follow-up (optional)"),
            "help": _("Kept encrypted; seen by the case team."),
            "done": _("Done"),
            "labels": {name: str(blank[name].label.text) for name in ("note", "next_kind", "next_due_at", "next_note")},
            "kinds": Markup("").join(
                Markup('<option value="{}">{}</option>').format(code, label) for code, label in blank.next_kind.choices
            ),
            "kind_labels": {code: str(label) for code, label in KIND_LABELS.items()},
            "state_labels": {code: str(label) for code, label in STATE_LABELS.items()},
            "cancel": _("Cancel"),
            "cancel_confirm": _("Cancel this follow-up?"),
        }
        g.shabaka_done_parts = found
    return found


def _version(raw: str | None) -> int | None:
    return int(raw) if raw and raw.isdigit() else None


def _due(value: datetime | None) -> datetime | None:
    return services.from_local(value, services.local_zone(current_user)) if value is not None else None


# ------------------------------------------------------------------------------ the case's follow-ups
def case_panel(
    case: Case,
    add_form: FollowUpForm | None = None,
    failed: dict[str, CompleteForm] | None = None,
    limit: int = services.TEAM_LIMIT,
) -> Any:
    """For the partial: the case's follow-ups the signed-in user may see (the first `limit`,
    with how many there are when that is more), and the forms."""
    actor = _actor()
    if not can(actor, "case.view", case):
        return CasePanel([], {}, False, None)
    # Every page showing this panel (the case page, its follow-ups page) has recorded the case as
    # opened (`case.view` or `case.reveal`): the notes are part of that one view.
    rows = services.for_case(db.session, actor, case, audit=False, limit=limit)
    cut = limit < services.TEAM_LIMIT and len(rows) >= limit  # the case page, and there may be more
    total = services.count_for_case(db.session, case) if cut else len(rows)
    may_add = can(actor, "followup.create", case) and case.status not in services.CLOSED_CASE_STATUSES
    form = add_form
    referrals = list(
        db.session.scalars(
            select(Referral).where(Referral.case_id == case.id, Referral.state != "draft").order_by(Referral.created_at)
        )
    )
    referrals = [r for r in referrals if can(actor, "referral.view", r)]
    org_names = dict(
        db.session.execute(
            select(Organization.id, Organization.name_ar if _ar() else Organization.name_en).where(
                Organization.id.in_({r.to_organization_id for r in referrals})
            )
        ).all()
    )
    referral_labels = {
        r.id: _(
            "To %(org)s, sent %(date)s",
            org=org_names.get(r.to_organization_id or "", r.external_provider or "—"),
            date=local_time(r.sent_at),
        )
        for r in referrals
    }
    if may_add:
        if form is None:
            form = FollowUpForm(prefix="followup", formdata=None)
            form.assignee_id.data = case.owner_id
        form.assignee_id.choices = services.assignable(db.session, case)
        form.referral_id.choices = [("", _("The case as a whole")), *referral_labels.items()]
    may_complete = {row.id for row in rows if row.state == "open" and can(actor, "followup.complete", row)}
    done_forms = {i: f for i, f in (failed or {}).items() if i in may_complete}
    names = services.usernames(db.session, {r.assignee_id for r in rows} | {r.done_by for r in rows if r.done_by})
    return CasePanel(
        rows, names, may_add, form, done_forms, may_complete=may_complete, referral_labels=referral_labels, total=total
    )


def _ar() -> bool:
    from ..i18n import current_locale_code

    return current_locale_code() == "ar"


def _case_page(case_id: str, status: int = 200, **panel: Any) -> Any:
    case = services.case_for_followups(db.session, _actor(), case_id)
    if status >= 400:
        keep_on_error()  # the refused change was undone in its savepoint; the view stays recorded
    return render_template("followups/case.html", case=case, panel=case_panel(case, **panel)), status


@followups_bp.get("/cases/<case_id>/followups")
def case_followups(case_id: str) -> Any:
    return _case_page(case_id)


@followups_bp.post("/cases/<case_id>/followups")
def add(case_id: str) -> Any:
    form = FollowUpForm(prefix="followup")
    form.assignee_id.choices = []
    form.referral_id.choices = []
    actor = _actor()
    if not form.validate_on_submit():
        return _case_page(case_id, 400, add_form=form)
    data = services.FollowUpInput(
        due_at=_due(form.due_at.data),
        kind=form.kind.data,
        assignee_id=form.assignee_id.data or None,
        note=form.note.data,
        referral_id=form.referral_id.data or None,
    )
    _created, error = _attempt(lambda: services.create(db.session, actor, case_id, data))
    if error is not None:
        _attach(form, error)
        return _case_page(case_id, page_status(error), add_form=form)
    flash(_("The follow-up was added."), "success")
    return redirect(url_for("cases.show", case_id=case_id, _anchor="followups"), 303)


# ------------------------------------------------------------------------------ done and cancelled
def _back(followup: FollowUp, back: str | None) -> str:
    if back == "case":
        return url_for("cases.show", case_id=followup.case_id, _anchor="followups")
    if back == "team":
        return url_for("followups.team_overdue")
    return url_for("followups.my_day")


@followups_bp.post("/followups/<followup_id>/complete")
def complete(followup_id: str) -> Any:
    actor = _actor()
    followup = services.visible(db.session, actor, followup_id)
    form = CompleteForm(prefix=_prefix(followup.id))
    back = form.back.data or "day"
    if form.validate_on_submit():
        following = None
        if form.wants_next():
            following = services.FollowUpInput(
                due_at=_due(form.next_due_at.data), kind=form.next_kind.data or None, note=form.next_note.data
            )
        result, error = _attempt(
            lambda: services.complete(
                db.session,
                actor,
                followup_id,
                note=form.note.data,
                next_followup=following,
                expected_version=_version(form.version.data),
            )
        )
        if error is None:
            flash(_("Done.") if result[1] is None else _("Done, and the next follow-up was added."), "success")
            return redirect(_back(followup, back), 303)
        _attach(form, error, {"next": "next_kind"})
        status = page_status(error)
    else:
        status = 400
    if back == "case":
        return _case_page(followup.case_id, status, failed={followup.id: form})
    return _my_day({followup.id: form}, status, followup)


@followups_bp.post("/followups/<followup_id>/cancel")
def cancel(followup_id: str) -> Any:
    actor = _actor()
    followup = services.visible(db.session, actor, followup_id)
    form = CancelForm()
    if not form.validate_on_submit():
        return redirect(_back(followup, form.back.data), 303)
    _cancelled, error = _attempt(
        lambda: services.cancel(db.session, actor, followup_id, expected_version=_version(form.version.data))
    )
    if error is not None:
        flash(_text(error.message), "danger")
    else:
        flash(_("The follow-up was cancelled."), "success")
    return redirect(_back(followup, form.back.data), 303)


# ------------------------------------------------------------------------------ my day, team
def _my_day(failed: dict[str, CompleteForm] | None = None, status: int = 200, refused: FollowUp | None = None) -> Any:
    """The page; after a refused "done" (`refused`, its form in `failed`) that follow-up is shown
    with the input kept even when it is not on the first page."""
    cursor = request.args.get("cursor") if request.method == "GET" else None
    day = services.my_day(db.session, _actor(), cursor=cursor, keep=refused)
    return render_template("followups/my_day.html", day=day, failed=failed or {}), status


@followups_bp.get("/followups")
def my_day() -> Any:
    return _my_day()


@followups_bp.get("/followups/team")
def team_overdue() -> Any:
    team = services.team_overdue(db.session, _actor())
    return render_template("followups/team_overdue.html", team=team, now=utcnow())
