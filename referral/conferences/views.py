"""Case conferences on the web: the list of one's conferences, convening, the conference page
(agenda with the chair's timer, risk summaries, actions, minutes) and the repeat-incident flag of
a case. Thin: the rules are in `services.py`, which checks every access and audits every view.

A refused form re-renders its page with the input kept and the problem named (4xx); the refused
change ran in a savepoint and is undone, while the page itself, a view of the conference, stays
recorded (`keep_on_error`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.blueprints import BlueprintSetupState
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from ..cases.models import Case
from ..directory.models import Organization
from ..errors import DomainError, NotFound, page_status
from ..extensions import db
from ..followups import services as followups
from ..forms_base import attempt
from ..i18n import current_locale_code
from ..labels import message
from ..models_base import get_by_id
from ..transaction import keep_on_error
from . import services
from .forms import (
    GROUND_LABELS,
    MESSAGES,
    STATE_LABELS,
    ActionForm,
    AgendaForm,
    ConveneForm,
    MinutesForm,
    ScheduleForm,
    SummaryForm,
)

conferences_bp = Blueprint("conferences", __name__, url_prefix="/conferences")


@conferences_bp.record_once
def _install(state: BlueprintSetupState) -> None:
    state.app.jinja_env.globals.update(
        case_conferences=case_panel,
        conference_state_label=lambda code: str(STATE_LABELS.get(code, code)),
        conference_ground_label=lambda code: str(GROUND_LABELS.get(code, code)),
    )


def _actor() -> Any:
    return current_user._get_current_object()


def _text(code: str) -> str:
    return str(MESSAGES[code]) if code in MESSAGES else message(code)


def _attach(form: Any, error: DomainError) -> None:
    for name, code in error.fields.items():
        target = getattr(form, name, None)
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


def _utc(value: datetime | None) -> datetime | None:
    return followups.from_local(value, followups.local_zone(current_user)) if value is not None else None


def _prefix(kind: str, item_id: str) -> str:
    return f"{kind}{item_id.replace('-', '')[:12]}"


def _org_names(ids: set[str]) -> dict[str, str]:
    if not ids:
        return {}
    arabic = current_locale_code() == "ar"
    column = Organization.name_ar if arabic else Organization.name_en
    return dict(db.session.execute(select(Organization.id, column).where(Organization.id.in_(ids))).all())


# ------------------------------------------------------------------------------ the case page
def case_panel(case: Case) -> dict[str, Any] | None:
    """For the case page's partial: the repeat-incident flag and the case's conferences, shown to
    its own organisation only (an emergency grant or a referral shows nothing of them)."""
    actor = _actor()
    if case.organization_id != getattr(actor, "organization_id", None):
        return None
    from ..access.policy import can

    return {
        "rows": services.for_case(db.session, actor, case),
        "repeat_recent": services.repeat_incident_recent(case),
        "may_flag": can(actor, "case.edit", case) and case.status not in services.CLOSED_CASE_STATUSES,
        "may_convene": services.may_convene(actor) and case.status not in services.CLOSED_CASE_STATUSES,
    }


@conferences_bp.post("/cases/<case_id>/repeat-incident")
def repeat_incident(case_id: str) -> Any:
    flagged = request.form.get("flagged") == "1"
    _done, error = _attempt(lambda: services.flag_repeat_incident(db.session, _actor(), case_id, flagged))
    if error is not None:
        flash(_text(error.message), "danger")
    elif flagged:
        flash(_("A repeat incident within 12 months is flagged on this case."), "success")
    else:
        flash(_("The repeat-incident flag was cleared."), "success")
    return redirect(url_for("cases.show", case_id=case_id, _anchor="conferences"), 303)


# ------------------------------------------------------------------------------ list and convening
@conferences_bp.get("")
def index() -> Any:
    try:
        rows = services.listing(db.session, _actor())
    except NotFound:
        abort(404)
    return render_template(
        "conferences/index.html",
        rows=rows,
        may_convene=services.may_convene(_actor()),
        org_names=_org_names({c.organization_id for c, _s in rows}),
    )


@conferences_bp.route("/new", methods=["GET", "POST"])
def new() -> Any:
    actor = _actor()
    if not services.may_convene(actor):
        abort(404)
    form = ConveneForm()
    if request.method == "GET":
        case = get_by_id(db.session, Case, request.args.get("case", ""))
        if case is not None and case.organization_id == actor.organization_id:
            form.case_code.data = case.case_code
        return render_template("conferences/new.html", form=form)
    error: DomainError | None = None
    if form.validate_on_submit():
        data = services.ConveneInput(
            case_code=form.case_code.data,
            grounds=form.grounds.data or None,
            reason=form.reason.data,
            minutes_allotted=form.minutes_allotted.data,
            starts_at=_utc(form.starts_at.data),
            place=form.place.data,
            ask_coordinator=bool(form.ask_coordinator.data),
        )
        conference, error = _attempt(lambda: services.convene(db.session, actor, data))
        if error is None:
            if conference.state == "requested":
                flash(_("The coordinator was asked to convene the conference."), "success")
            else:
                flash(_("The conference was convened."), "success")
            return redirect(url_for("conferences.show", conference_id=conference.id), 303)
        _attach(form, error)
    return render_template("conferences/new.html", form=form), page_status(error) if error else 400


# ------------------------------------------------------------------------------ the conference page
def _page(
    conference_id: str, forms: dict[str, Any] | None = None, status: int = 200, problem: str | None = None
) -> Any:
    actor = _actor()
    conference, seat = services.view(db.session, actor, conference_id)
    forms = forms or {}
    if status >= 400:
        keep_on_error()
    if problem:
        flash(problem, "danger")
    actions = services.actions_of(db.session, conference, seat)
    counts = services.action_counts(db.session, conference) if seat.role == "chair" else {}
    summary_forms: dict[str, SummaryForm] = {}
    action_forms: dict[str, ActionForm] = {}
    people: dict[str, str] = {}
    orgs: set[str] = {conference.organization_id}
    editable = conference.state != "closed"
    for item in seat.items:
        orgs |= {f.organization_id for f in actions.get(item.id, [])}
        if seat.role == "owner" and editable:
            key = _prefix("s", item.id)
            summary = forms.get(key) or SummaryForm(prefix=key, formdata=None)
            if key not in forms and services.summary_readable(seat, item):
                summary.risk_summary.data = item.risk_summary if isinstance(item.risk_summary, str) else None
            summary_forms[item.id] = summary
        if seat.role != "chair" and conference.state in ("scheduled", "in_progress"):
            key = _prefix("a", item.id)
            form = forms.get(key) or ActionForm(prefix=key, formdata=None)
            options = services.assignees(db.session, actor, seat, item)
            orgs |= {org for _uid, _name, org in options}
            names = _org_names(orgs)
            form.assignee_id.choices = [("", _("Choose…"))] + [
                (uid, f"{name} · {names.get(org, '—')}") for uid, name, org in options
            ]
            action_forms[item.id] = form
    for rows in actions.values():
        people.update(followups.usernames(db.session, {f.assignee_id for f in rows}))
    minutes_form = forms.get("minutes") or MinutesForm(prefix="minutes", formdata=None)
    if "minutes" not in forms and isinstance(conference.minutes, str):
        minutes_form.minutes.data = conference.minutes
    chair_name = followups.usernames(db.session, {conference.chair_id}).get(conference.chair_id, "—")
    return (
        render_template(
            "conferences/show.html",
            conference=conference,
            seat=seat,
            actions=actions,
            counts=counts,
            summary_forms=summary_forms,
            action_forms=action_forms,
            agenda_form=forms.get("agenda") or AgendaForm(prefix="agenda", formdata=None),
            schedule_form=forms.get("schedule") or ScheduleForm(prefix="schedule", formdata=None),
            minutes_form=minutes_form,
            minutes_readable=services.minutes_readable(conference, seat),
            summary_readable=lambda item: services.summary_readable(seat, item),
            people=people,
            org_names=_org_names(orgs),
            chair_name=chair_name,
            may_close=conference.state in ("scheduled", "in_progress")
            and (seat.role == "chair" or (seat.role == "owner" and actor.role == "supervisor")),
            may_add_case=seat.role == "owner" and actor.role == "supervisor" and editable,
        ),
        status,
    )


@conferences_bp.get("/<conference_id>")
def show(conference_id: str) -> Any:
    return _page(conference_id)


def _form_post(
    conference_id: str,
    key: str,
    form: Any,
    action: Callable[[], Any],
    done: str,
    anchor: str,
    item_id: str | None = None,
) -> Any:
    """Validate a form of the conference page and run its service call, or show the page again.
    A stranger (or an item she may not see) is refused before the form is even read."""
    if item_id is not None:
        services.visible_item(db.session, _actor(), conference_id, item_id)
    else:
        services.visible(db.session, _actor(), conference_id)
    if form.validate():
        _result, error = _attempt(action)
        if error is None:
            flash(done, "success")
            return redirect(url_for("conferences.show", conference_id=conference_id, _anchor=anchor), 303)
        _attach(form, error)
        return _page(conference_id, {key: form}, page_status(error))
    return _page(conference_id, {key: form}, 400)


@conferences_bp.post("/<conference_id>/convene")
def convene(conference_id: str) -> Any:
    form = ScheduleForm(prefix="schedule")
    return _form_post(
        conference_id,
        "schedule",
        form,
        lambda: services.convene_requested(
            db.session, _actor(), conference_id, _utc(form.starts_at.data), form.place.data
        ),
        _("The conference was convened."),
        "top",
    )


@conferences_bp.post("/<conference_id>/cases")
def add_case(conference_id: str) -> Any:
    form = AgendaForm(prefix="agenda")
    data = services.AgendaInput(
        case_code=form.case_code.data,
        grounds=form.grounds.data or None,
        reason=form.reason.data,
        minutes_allotted=form.minutes_allotted.data,
    )
    return _form_post(
        conference_id,
        "agenda",
        form,
        lambda: services.add_case(db.session, _actor(), conference_id, data),
        _("The case was added to the agenda."),
        "agenda",
    )


@conferences_bp.post("/<conference_id>/items/<item_id>/summary")
def summary(conference_id: str, item_id: str) -> Any:
    key = _prefix("s", item_id)
    form = SummaryForm(prefix=key)
    return _form_post(
        conference_id,
        key,
        form,
        lambda: services.save_risk_summary(db.session, _actor(), conference_id, item_id, form.risk_summary.data),
        _("The risk summary was saved."),
        f"item-{item_id}",
        item_id,
    )


@conferences_bp.post("/<conference_id>/items/<item_id>/actions")
def add_action(conference_id: str, item_id: str) -> Any:
    key = _prefix("a", item_id)
    form = ActionForm(prefix=key)
    data = services.ActionInput(
        assignee_id=form.assignee_id.data or None,
        kind=form.kind.data or None,
        due_at=_utc(form.due_at.data),
        description=form.description.data,
    )
    return _form_post(
        conference_id,
        key,
        form,
        lambda: services.add_action(db.session, _actor(), conference_id, item_id, data),
        _("The action was recorded and will be followed up with reminders."),
        f"item-{item_id}",
        item_id,
    )


@conferences_bp.post("/<conference_id>/items/<item_id>/timer")
def timer(conference_id: str, item_id: str) -> Any:
    move = request.form.get("move", "")
    _done, error = _attempt(lambda: services.timer(db.session, _actor(), conference_id, item_id, move))
    if error is not None:
        return _page(conference_id, status=page_status(error), problem=_text(error.message))
    return redirect(url_for("conferences.show", conference_id=conference_id, _anchor=f"item-{item_id}"), 303)


@conferences_bp.post("/<conference_id>/minutes")
def minutes(conference_id: str) -> Any:
    form = MinutesForm(prefix="minutes")
    return _form_post(
        conference_id,
        "minutes",
        form,
        lambda: services.save_minutes(db.session, _actor(), conference_id, form.minutes.data),
        _("The minutes were saved."),
        "minutes",
    )


@conferences_bp.post("/<conference_id>/close")
def close(conference_id: str) -> Any:
    _done, error = _attempt(lambda: services.close(db.session, _actor(), conference_id))
    if error is not None:
        return _page(conference_id, status=page_status(error), problem=_text(error.message))
    flash(_("The conference was closed."), "success")
    return redirect(url_for("conferences.show", conference_id=conference_id), 303)
