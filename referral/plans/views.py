"""The plans' pages: the plans a user may read, one plan's progress and activities (a list with
filters, and a month calendar), adding and changing activities, moving their status, recording a
delivery with its files, downloading a file, and the plan as XLSX or PDF. Thin: the rules are in
services.py.

A delivery's form carries files, so for a signed-in user posting it the request limit is raised
for that request only and the files are kept in memory (never spooled to disk), as for case
documents (referral/cases/document_views.py).
"""

from __future__ import annotations

import io
import re
from datetime import date
from typing import Any

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from ..access.policy import can
from ..cases.document_views import file_size
from ..cases.models import AGE_GROUPS, SEXES
from ..directory.models import Network, Organization
from ..enums import SECTORS
from ..errors import DomainError, Forbidden, InvalidInput, NotFound, page_status
from ..extensions import db
from ..forms_base import attempt
from ..i18n import current_locale_code
from ..labels import SECTOR_LABELS
from ..models_base import utcnow
from ..transaction import keep_on_error
from . import exports, services
from .forms import ActivityForm, DeliveryForm, PlanForm, participant_field
from .labels import MOVE_LABELS, QUARTER_LABELS, SEX_LABELS, STATUS_LABELS, TYPE_LABELS, plan_message
from .models import ACTIVITY_STATUSES, ACTIVITY_TYPES, Activity, ActivityPlan

plans_bp = Blueprint("plans", __name__, url_prefix="/plans")
UPLOAD_REQUEST_LIMIT = services.MAX_FILES * services.MAX_BYTES + 1024 * 1024
EXPORT_TYPES = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
}
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


@plans_bp.url_value_preprocessor
def _accept_upload(endpoint: str | None, values: dict[str, Any] | None) -> None:
    """Runs before the CSRF check reads the form, so these limits govern that parse."""
    if endpoint == "plans.record_delivery" and request.method == "POST" and current_user.is_authenticated:
        request.max_content_length = UPLOAD_REQUEST_LIMIT
        request._get_file_stream = _in_memory  # type: ignore[method-assign]


def _in_memory(*args: Any, **kwargs: Any) -> io.BytesIO:
    return io.BytesIO()


@plans_bp.app_context_processor
def _labels() -> dict[str, Any]:
    return {
        "activity_type_label": lambda code: TYPE_LABELS.get(code, code),
        "activity_status_label": lambda code: STATUS_LABELS.get(code, code),
        "quarter_label": lambda q: QUARTER_LABELS.get(q, q),
    }


def _actor() -> Any:
    return current_user._get_current_object()


def _names(organizations: list[Organization]) -> dict[str, str]:
    locale = current_locale_code()
    return {o.id: o.name(locale) for o in organizations}


def _network_names() -> dict[str, str]:
    locale = current_locale_code()
    return {n.id: n.name(locale) for n in db.session.query(Network)}


def _governorate_names() -> dict[str, str]:
    locale = current_locale_code()
    return {n.governorate: n.name(locale) for n in db.session.query(Network)}


def _network(plan: ActivityPlan) -> Network:
    found = db.session.get(Network, plan.network_id)
    if found is None:  # the plan's row names its network by a foreign key
        raise NotFound("network")
    return found


def _attach(form: Any, error: DomainError) -> None:
    """Each refused field's message under its field; a refusal naming no field of the form is flashed."""
    named = False
    for name, code in error.fields.items():
        target = getattr(form, name.split(".", 1)[0], None) if "." not in name else None
        if "." in name and name.startswith("participants."):
            _sex, group = name.split(".")[1:3]
            target = getattr(form, participant_field(_sex, group), None)
        if target is not None:
            target.errors = [*list(target.errors), plan_message(code)]
            named = True
        else:
            form.form_errors.append(plan_message(code))
            named = True
    if not named:
        flash(plan_message(error.message), "danger")


# ---------------------------------------------------------------------------------- plans
@plans_bp.get("")
def index() -> Any:
    form = PlanForm()
    return _index(form)


def _index(form: PlanForm, status: int = 200) -> Any:
    actor = _actor()
    networks = services.manageable_networks(db.session, actor)
    locale = current_locale_code()
    form.network.choices = [(n.id, n.name(locale)) for n in networks]
    if not form.year.data:
        form.year.data = str(utcnow().year)
    rows = services.plans(db.session, actor)
    return render_template("plans/index.html", rows=rows, form=form, may_create=bool(networks)), status


@plans_bp.post("")
def create_plan() -> Any:
    form = PlanForm()
    if form.validate_on_submit():
        plan, error = attempt(
            lambda: services.create_plan(db.session, _actor(), form.network.data, form.year.data), catch_not_found=False
        )
        if error is not None:
            _attach(form, error)
        else:
            flash(_("The plan was made. Add its activities."), "success")
            return redirect(url_for("plans.plan", plan_id=plan.id), 303)
    return _index(form, 400)


def _plan_page(plan: ActivityPlan, template: str, **extra: Any) -> Any:
    actor = _actor()
    organizations = services.members(db.session, plan.network_id)
    return render_template(
        template,
        plan=plan,
        network=_network(plan),
        organizations=organizations,
        org_names=_names(organizations),
        governorate_names=_governorate_names(),
        may_manage=can(actor, "plan.manage", plan),
        types=ACTIVITY_TYPES,
        statuses=ACTIVITY_STATUSES,
        quarters=services.QUARTERS,
        **extra,
    )


@plans_bp.get("/<plan_id>")
def plan(plan_id: str) -> Any:
    actor = _actor()
    found = services.view_plan(db.session, actor, plan_id)
    values = {k: request.args.get(k, "") for k in ("type", "status", "quarter", "organization")}
    try:
        filters = services.parse_filters(request.args)
    except InvalidInput as error:
        keep_on_error()  # the plan was shown (and its view recorded); only the filter is refused
        errors = {name: plan_message(code) for name, code in error.fields.items()}
        return _plan_page(found, "plans/plan.html", items=[], filters=values, errors=errors, progress=None), 400
    items = services.activities(db.session, actor, found, filters)
    progress = services.plan_progress(db.session, found.network_id, found.year)
    return _plan_page(found, "plans/plan.html", items=items, filters=values, errors={}, progress=progress)


@plans_bp.get("/<plan_id>/calendar")
def calendar(plan_id: str) -> Any:
    actor = _actor()
    found = services.view_plan(db.session, actor, plan_id)
    raw = request.args.get("month") or ""
    today = utcnow().date()
    default = today.month if today.year == found.year else 1
    month, error = default, None
    if raw:
        matched = _MONTH.fullmatch(raw)
        if matched is None or int(matched.group(1)) != found.year or len(request.args.getlist("month")) > 1:
            error = plan_message("outside_plan_year") if matched else plan_message("invalid_month")
        else:
            month = int(matched.group(2))
    items = services.activities(db.session, actor, found)
    weeks = services.month_grid(items, found.year, month)
    page = _plan_page(
        found,
        "plans/calendar.html",
        weeks=weeks,
        month=month,
        month_value=f"{found.year}-{month:02d}",
        month_label=exports.month_label(found.year, month, current_locale_code()),
        previous_month=f"{found.year}-{month - 1:02d}" if month > 1 else None,
        next_month=f"{found.year}-{month + 1:02d}" if month < 12 else None,
        error=error,
        weekdays=exports.weekday_names(current_locale_code()),
    )
    if error:
        keep_on_error()
        return page, 400
    return page


# ---------------------------------------------------------------------------------- activities
def _activity_choices(form: ActivityForm, organizations: list[Organization]) -> None:
    locale = current_locale_code()
    form.activity_type.choices = [(t, str(TYPE_LABELS[t])) for t in ACTIVITY_TYPES]
    form.responsible_organization_id.choices = [("", _("Choose…"))] + [(o.id, o.name(locale)) for o in organizations]
    form.partner_organization_ids.choices = [(o.id, o.name(locale)) for o in organizations]
    names = _governorate_names()
    form.governorate.choices = [(code, name) for code, name in sorted(names.items())]
    form.target_sectors.choices = [(s, str(SECTOR_LABELS[s])) for s in SECTORS]


def _input(form: ActivityForm) -> services.ActivityInput:
    return services.ActivityInput(
        title=form.title.data,
        activity_type=form.activity_type.data,
        responsible_organization_id=form.responsible_organization_id.data,
        partner_organization_ids=list(form.partner_organization_ids.data or []),
        planned_start=form.planned_start.data,
        planned_end=form.planned_end.data,
        governorate=form.governorate.data,
        target_sectors=list(form.target_sectors.data or []),
        target_participants=form.target_participants.data,
        meeting_id=form.meeting_id.data or None,
        decision_ref=form.decision_ref.data or "",
    )


@plans_bp.route("/<plan_id>/activities/new", methods=["GET", "POST"])
def new_activity(plan_id: str) -> Any:
    actor = _actor()
    found = services.view_plan(db.session, actor, plan_id)
    if not can(actor, "plan.manage", found):
        abort(403)
    network = _network(found)
    form = ActivityForm()
    if request.method == "GET":
        form.governorate.data = network.governorate
        form.target_participants.data = "0"
        if request.args.get("meeting"):
            form.meeting_id.data = request.args.get("meeting", "")[:36]
    organizations = services.members(db.session, found.network_id)
    _activity_choices(form, organizations)
    if request.method == "POST" and form.validate_on_submit():
        activity, error = attempt(lambda: services.add_activity(db.session, actor, found.id, _input(form)))
        if error is not None:
            _attach(form, error)
        else:
            flash(_("The activity was added to the plan."), "success")
            return redirect(url_for("plans.activity", activity_id=activity.id), 303)
    status = 400 if request.method == "POST" else 200
    return _plan_page(found, "plans/activity_form.html", form=form, activity=None), status


@plans_bp.get("/activities/<activity_id>")
def activity(activity_id: str) -> Any:
    actor = _actor()
    found = services.view_activity(db.session, actor, activity_id)
    return _activity_page(found)


def _activity_page(found: Activity, status: int = 200, delivery_form: DeliveryForm | None = None) -> Any:
    actor = _actor()
    moves = [(to, str(MOVE_LABELS[to])) for to in services.allowed_moves(actor, found)]
    may_report = can(actor, "activity.report", found)
    form = delivery_form
    if form is None and may_report and found.status not in ("cancelled", "suspended"):
        form = DeliveryForm(formdata=None)
    if form is not None:
        _delivery_choices(form, services.members(db.session, found.network_id))
    page = _plan_page(
        found.plan,
        "plans/activity.html",
        activity=found,
        moves=moves,
        may_report=may_report,
        delivery_form=form,
        sexes=SEXES,
        age_groups=AGE_GROUPS,
        sex_labels=SEX_LABELS,
        participant_field=participant_field,
        file_size=file_size,
    )
    return page, status


@plans_bp.route("/activities/<activity_id>/edit", methods=["GET", "POST"])
def edit_activity(activity_id: str) -> Any:
    actor = _actor()
    found = services.view_activity(db.session, actor, activity_id)
    if not can(actor, "plan.manage", found):
        abort(403)
    if request.method == "GET":
        stored = services.input_of(found)
        form = ActivityForm(
            formdata=None,
            data={
                **stored.__dict__,
                "planned_start": found.planned_start.isoformat(),
                "planned_end": found.planned_end.isoformat(),
                "target_participants": str(found.target_participants),
                "meeting_id": found.meeting_id or "",
            },
        )
    else:
        form = ActivityForm()
    _activity_choices(form, services.members(db.session, found.network_id))
    if request.method == "POST" and form.validate_on_submit():
        _saved, error = attempt(lambda: services.update_activity(db.session, actor, found.id, _input(form)))
        if error is not None:
            _attach(form, error)
            found = services.view_activity(db.session, actor, activity_id)
        else:
            flash(_("The activity was saved."), "success")
            return redirect(url_for("plans.activity", activity_id=found.id), 303)
    status = 400 if request.method == "POST" else 200
    return _plan_page(found.plan, "plans/activity_form.html", form=form, activity=found), status


@plans_bp.post("/activities/<activity_id>/status")
def move_activity(activity_id: str) -> Any:
    actor = _actor()
    _moved, error = attempt(
        lambda: services.move(db.session, actor, activity_id, request.form.get("status")), catch_not_found=False
    )
    if error is not None:  # the move was undone; the page shown again is a view, and stays recorded
        found = services.view_activity(db.session, actor, activity_id)
        flash(plan_message(error.message), "danger")
        return _activity_page(found, 409 if error.status == 409 else page_status(error))
    flash(_("The activity's status was changed."), "success")
    return redirect(url_for("plans.activity", activity_id=activity_id), 303)


def _delivery_choices(form: DeliveryForm, organizations: list[Organization]) -> None:
    locale = current_locale_code()
    form.organization_ids.choices = [(o.id, o.name(locale)) for o in organizations]


def _delivery_input(form: DeliveryForm) -> services.DeliveryInput:
    participants = {
        sex: {group: getattr(form, participant_field(sex, group)).data for group in AGE_GROUPS} for sex in SEXES
    }
    return services.DeliveryInput(
        delivered_from=form.delivered_from.data,
        delivered_to=form.delivered_to.data,
        participants=participants,
        organization_ids=list(form.organization_ids.data or []),
        report=form.report.data or "",
        completes=bool(form.completes.data),
    )


@plans_bp.post("/activities/<activity_id>/delivery")
def record_delivery(activity_id: str) -> Any:
    actor = _actor()
    form = DeliveryForm()
    found = services.view_activity(db.session, actor, activity_id)
    _delivery_choices(form, services.members(db.session, found.network_id))
    if form.validate_on_submit():
        uploads = [services.Upload(f.stream) for f in request.files.getlist("files") if f and f.filename]
        try:
            services.record_delivery(db.session, actor, found.id, _delivery_input(form), uploads)
        except NotFound:
            raise
        except Forbidden:
            abort(403)
        except DomainError as error:
            db.session.rollback()  # no row, and the files written, if any, are deleted
            _attach(form, error)
            found = services.view_activity(db.session, actor, activity_id)
        else:
            flash(_("The delivery was recorded; its files were encrypted."), "success")
            return redirect(url_for("plans.activity", activity_id=found.id), 303)
    flash(_("The delivery was not recorded. Correct the problems below."), "danger")
    return _activity_page(found, 400, form)


@plans_bp.get("/attachments/<attachment_id>")
def download_attachment(attachment_id: str) -> Response:
    found = services.download_attachment(db.session, _actor(), attachment_id)
    response = Response(found.chunks, mimetype=found.content_type, direct_passthrough=True)
    response.content_length = found.size
    response.headers["Content-Disposition"] = f'attachment; filename="{found.filename}"'
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


# ---------------------------------------------------------------------------------- exports
@plans_bp.get("/<plan_id>/export.<fmt>")
def export(plan_id: str, fmt: str) -> Response:
    actor = _actor()
    found = services.readable_plan(db.session, actor, plan_id)
    if fmt not in EXPORT_TYPES:
        abort(404)
    locale = current_locale_code()
    organizations = services.members(db.session, found.network_id)
    items = services.activities(db.session, actor, found, audit=False)
    progress = services.plan_progress(db.session, found.network_id, found.year)
    network = _network(found)
    content = exports.Content(
        network_name=network.name(locale),
        year=found.year,
        activities=items,
        progress=progress,
        org_names=_names(organizations),
        governorate_names=_governorate_names(),
        generated_on=date.today(),
    )
    data = exports.to_xlsx(content, locale) if fmt == "xlsx" else exports.to_pdf(content, locale)
    services.record_export(actor, found, fmt)
    response = Response(data, mimetype=EXPORT_TYPES[fmt])
    response.headers["Content-Disposition"] = f'attachment; filename="plan-{network.governorate}-{found.year}.{fmt}"'
    response.headers["Cache-Control"] = "no-store"
    return response
