"""The coordination pages: a network's meetings, representatives and engagement; one meeting
(agenda, invitations and answers, attendance and quorum, minutes, action points); the action
points of the networks one reads. Thin: the rules are in services.py."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select
from wtforms.fields.choices import SelectChoice

from ..accounts.models import User
from ..audit.services import record
from ..directory.models import Network, Organization
from ..errors import Conflict, DomainError, Forbidden, NotFound
from ..extensions import db
from ..forms_base import CheckedForm, attempt
from ..i18n import current_locale_code
from ..labels import MESSAGES, message
from ..models_base import utcnow
from ..transaction import keep_on_error
from . import pack, services
from .forms import (
    ActionPointForm,
    ActionPointUpdateForm,
    AgendaItemForm,
    AttendanceForm,
    CommentForm,
    MeetingChangeForm,
    MeetingForm,
    MinuteTakerForm,
    RepresentativeForm,
    ResponseForm,
    SeriesForm,
)
from .ics import meeting_ics
from .models import ActionPoint
from .pack_views import STATE_LABELS as PACK_STATE_LABELS

coordination_bp = Blueprint("coordination", __name__, url_prefix="/coordination")

MESSAGES.update(
    {
        "case_code_refused": _l(
            "This looks like a case code. Network records never name a case: write it without the code."
        ),
        "out_of_range": _l("This number is out of range."),
        "invalid_time": _l("Use the form HH:MM (24 hours)."),
        "invalid_link": _l("An online link starts with https:// and holds no spaces."),
        "too_far": _l("A meeting is scheduled at most three years ahead."),
        "too_many": _l("Too many agenda items."),
        "before_meeting": _l("The due date cannot be before the meeting."),
        "not_invited": _l("Only a representative invited to the meeting can do this."),
        "minutes_approved": _l("The minutes are approved: they are read-only. Reopen them to write a new version."),
        "not_circulated": _l("The minutes are not circulated."),
        "not_approved": _l("Only approved minutes can be reopened."),
        "action_point_closed": _l("This action point is closed (done or dropped)."),
        "not_an_attendee": _l("Only the representatives of organisations that attended may comment."),
        "not_org_admin_of_member": _l("Only an administrator of a member organisation names its representatives."),
        "unknown_user": _l("Choose one of your organisation's active staff."),
        "unknown_organization": _l("Choose a member organisation of the network."),
        "meeting_cancelled": _l("The meeting is cancelled."),
        "one_off_series": _l("A one-off meeting has no next meeting."),
    }
)
RESPONSE_LABELS = {
    "pending": _l("No answer yet"),
    "attending": _l("Attending"),
    "excused": _l("Excused"),
    "delegating": _l("Delegating"),
}
ATTENDANCE_LABELS = {"attended": _l("Attended"), "excused": _l("Excused"), "absent": _l("Absent")}
STATUS_LABELS = {"open": _l("Open"), "in_progress": _l("In progress"), "done": _l("Done"), "dropped": _l("Dropped")}
PRIORITY_LABELS = {"high": _l("High"), "medium": _l("Medium"), "low": _l("Low")}
MINUTES_LABELS = {
    "draft": _l("Draft"),
    "circulated": _l("Circulated for comment"),
    "approved": _l("Approved"),
    "superseded": _l("Approved, replaced by a newer version"),
}
REVIEW_LABEL = _l("Review of previous action points")


def _problem(error: DomainError) -> str:
    reason = str(error)
    return message(reason if reason in MESSAGES else getattr(error, "code", "invalid"))


def _attach(form: Any, error: DomainError) -> None:
    """Field errors under their fields; the rest flashed."""
    named = False
    for name, code in error.fields.items():
        target = getattr(form, name.split(".")[-1] if name.startswith("agenda.") else name, None)
        if target is not None and hasattr(target, "errors"):
            target.errors = [*list(target.errors), message(code)]
            named = True
    if not named:
        flash(_problem(error), "danger")


def _names(model: Any) -> dict[str, str]:
    arabic = current_locale_code() == "ar"
    return dict(db.session.execute(select(model.id, model.name_ar if arabic else model.name_en)).all())


def _context() -> dict[str, Any]:
    return {
        "org_names": _names(Organization),
        "network_names": _names(Network),
        "response_labels": RESPONSE_LABELS,
        "attendance_labels": ATTENDANCE_LABELS,
        "status_labels": STATUS_LABELS,
        "priority_labels": PRIORITY_LABELS,
        "minutes_labels": MINUTES_LABELS,
        "review_label": REVIEW_LABEL,
        "runs": lambda network_id: services.runs(current_user, network_id),
    }


def _local(moment: Any, network_id: str) -> str:
    from .. import timefmt

    return timefmt.local_time(moment)  # the reader's clock, labelled, as every other time


# ------------------------------------------------------------------------------- index
@coordination_bp.get("/")
def index() -> Any:
    nets = services.networks_readable(db.session, current_user)
    meetings = services.list_meetings(db.session, current_user, limit=50)
    return render_template("coordination/index.html", networks=nets, meetings=meetings, local=_local, **_context())


# ------------------------------------------------------------------------------- one network
def _network_page(network_id: str, status: int = 200, **forms: Any) -> Any:
    try:
        overview = services.view_network(db.session, current_user, network_id)
        reps = services.representatives(db.session, current_user, network_id)
    except NotFound:
        abort(404)
    rep_form = forms.get("rep_form") or RepresentativeForm(formdata=None)
    rep_form.user_id.choices = _staff_choices()
    return (
        render_template(
            "coordination/network.html",
            overview=overview,
            representatives=reps,
            series=services.series_of(db.session, network_id),
            meeting_form=_ids(forms.get("meeting_form") or MeetingForm(formdata=None), "meeting"),
            series_form=_ids(forms.get("series_form") or SeriesForm(formdata=None), "series"),
            rep_form=rep_form,
            may_name=getattr(current_user, "role", None) == "org_admin"
            and current_user.organization_id in {o.id for o in services.members_of(db.session, network_id)},
            local=_local,
            is_overdue=lambda a: services.is_overdue(db.session, a),
            **_context(),
        ),
        status,
    )


def _ids(form: Any, prefix: str) -> Any:
    """Give a form's fields ids of their own (`prefix-name`) where two forms of one page share
    field names; the posted names stay as they are."""
    for f in form:
        f.id = f"{prefix}-{f.name}"
        f.label.field_id = f.id
    return form


def _staff_choices() -> list[SelectChoice]:
    if getattr(current_user, "role", None) != "org_admin":
        return []
    rows = db.session.execute(
        select(User.id, User.username)
        .where(User.organization_id == current_user.organization_id, User.active.is_(True))
        .order_by(User.username)
    )
    return [SelectChoice(uid, name) for uid, name in rows]


@coordination_bp.get("/networks/<network_id>")
def network(network_id: str) -> Any:
    return _network_page(network_id)


def _agenda_lines(text: str) -> list[services.AgendaInput]:
    items = []
    for line in (text or "").splitlines():
        if not line.strip():
            continue
        parts = [p.strip() for p in line.split("|")]
        minutes = parts[1] if len(parts) > 1 and parts[1] else "15"
        items.append(
            services.AgendaInput(parts[0], int(minutes) if minutes.isdigit() else 0, parts[2] if len(parts) > 2 else "")
        )
    return items


def _post(form: Any, action: Callable[[], Any], page: Callable[[int], Any], done: str, target: str) -> Any:
    """Validate, act, redirect; a refusal shows the page again (400/404/409) with input kept."""
    if form.validate():
        try:
            _value, error = attempt(action, catch_not_found=False)  # a refusal is undone
        except NotFound:
            abort(404)
        if error is not None:
            _attach(form, error)
            return page(409 if isinstance(error, Conflict) else 403 if isinstance(error, Forbidden) else 400)
        flash(done, "success")
        return redirect(target, 303)
    keep_on_error()  # nothing ran; the page shown again is a view, and stays recorded
    return page(400)


@coordination_bp.post("/networks/<network_id>/representatives")
def name_representative(network_id: str) -> Any:
    form = RepresentativeForm()
    form.user_id.choices = _staff_choices()
    if not services.reads(db.session, current_user, network_id) or db.session.get(Network, network_id) is None:
        abort(404)
    return _post(
        form,
        lambda: services.name_representative(db.session, current_user, network_id, form.user_id.data),
        lambda status: _network_page(network_id, status, rep_form=form),
        _("The representative was named."),
        url_for("coordination.network", network_id=network_id),
    )


@coordination_bp.post("/representatives/<representative_id>/remove")
def remove_representative(representative_id: str) -> Any:
    from .models import Representative

    found = db.session.get(Representative, representative_id) if _is_uuid(representative_id) else None
    try:
        services.remove_representative(db.session, current_user, representative_id)
    except NotFound:
        abort(404)
    flash(_("The representative was removed."), "success")
    return redirect(
        url_for("coordination.network", network_id=found.network_id) if found else url_for("coordination.index"), 303
    )


def _is_uuid(value: str) -> bool:
    import uuid

    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _writable_network(network_id: str) -> None:
    net = db.session.get(Network, network_id) if _is_uuid(network_id) else None
    if net is None or not services.runs(current_user, net.id):
        abort(404)


@coordination_bp.post("/networks/<network_id>/meetings")
def create_meeting(network_id: str) -> Any:
    _writable_network(network_id)
    form = MeetingForm()

    def act() -> Any:
        starts = services.local_start(db.session, network_id, form.day.data, form.local_time.data)
        data = services.MeetingInput(
            title=form.title.data or "",
            starts_at=starts,
            duration_minutes=form.duration_minutes.data or 0,
            place=form.place.data or "",
            online_link=form.online_link.data or "",
            agenda=_agenda_lines(form.agenda.data or ""),
        )
        meeting = services.create_meeting(db.session, current_user, network_id, data)
        act.meeting_id = meeting.id  # type: ignore[attr-defined]

    outcome = _post(
        form,
        act,
        lambda status: _network_page(network_id, status, meeting_form=form),
        _("The meeting was scheduled and the representatives invited."),
        "",
    )
    if getattr(outcome, "status_code", None) == 303:
        return redirect(url_for("coordination.meeting", meeting_id=act.meeting_id), 303)  # type: ignore[attr-defined]
    return outcome


@coordination_bp.post("/networks/<network_id>/series")
def create_series(network_id: str) -> Any:
    _writable_network(network_id)
    form = SeriesForm()

    def act() -> None:
        data = services.SeriesInput(
            title=form.title.data or "",
            recurrence=form.recurrence.data,
            local_time=form.local_time.data or "",
            first_on_or_after=form.first_on_or_after.data,
            day_of_month=form.day_of_month.data,
            week_of_month=int(form.week_of_month.data) if form.week_of_month.data else None,
            weekday=int(form.weekday.data) if form.weekday.data else None,
            duration_minutes=form.duration_minutes.data or 0,
            place=form.place.data or "",
            online_link=form.online_link.data or "",
        )
        services.create_series(db.session, current_user, network_id, data)

    return _post(
        form,
        act,
        lambda status: _network_page(network_id, status, series_form=form),
        _("The series was created and its first meeting scheduled."),
        url_for("coordination.network", network_id=network_id),
    )


@coordination_bp.post("/series/<series_id>/next")
def schedule_next(series_id: str) -> Any:
    try:
        meeting, error = attempt(
            lambda: services.schedule_next(db.session, current_user, series_id), catch_not_found=False
        )
    except NotFound:
        abort(404)
    if error is not None:
        flash(_problem(error), "danger")
        return redirect(url_for("coordination.index"), 303)
    flash(_("The next meeting was scheduled and the representatives invited."), "success")
    return redirect(url_for("coordination.meeting", meeting_id=meeting.id), 303)


# ------------------------------------------------------------------------------- one meeting
def _change_form(meeting: Any) -> MeetingChangeForm:
    """The change form, filled with the meeting's time in its network's zone."""
    from ..followups.calendar import zone_for

    local = meeting.starts_at.astimezone(zone_for(db.session, meeting.network_id))
    form = MeetingChangeForm(formdata=None)
    form.day.data, form.local_time.data = local.date(), local.strftime("%H:%M")
    form.duration_minutes.data, form.place.data, form.online_link.data = (
        meeting.duration_minutes,
        meeting.place,
        meeting.online_link,
    )
    return _ids(form, "change")


@coordination_bp.post("/meetings/<meeting_id>/change")
def change_meeting(meeting_id: str) -> Any:
    found = _readable(meeting_id, write=True)
    form = _ids(MeetingChangeForm(), "change")

    def act() -> Any:
        starts = services.local_start(db.session, found.network_id, form.day.data, form.local_time.data)
        data = services.MeetingChange(
            starts_at=starts,
            duration_minutes=form.duration_minutes.data or 0,
            place=form.place.data or "",
            online_link=form.online_link.data or "",
        )
        return services.change_meeting(db.session, current_user, meeting_id, data)

    return _post(
        form,
        act,
        lambda status: _meeting_page(meeting_id, status, change_form=form),
        _("The meeting was changed and its invitees told."),
        _back(meeting_id),
    )


@coordination_bp.post("/meetings/<meeting_id>/cancel")
def cancel_meeting(meeting_id: str) -> Any:
    _readable(meeting_id, write=True)
    form = CheckedForm()
    return _post(
        form,
        lambda: services.cancel_meeting(db.session, current_user, meeting_id),
        lambda status: _meeting_page(meeting_id, status),
        _("The meeting was cancelled and its invitees told."),
        _back(meeting_id),
    )


def _activities_from(meeting_id: str) -> list[tuple[Any, str, str]]:
    """The plan's activities that came from this meeting's decisions: (activity, type, status
    label). The meeting's readers are its network's members, who read the plan too."""
    from ..plans.labels import STATUS_LABELS, TYPE_LABELS
    from ..plans.models import Activity

    rows = db.session.scalars(
        select(Activity).where(Activity.meeting_id == meeting_id).order_by(Activity.planned_start)
    )
    return [
        (a, str(TYPE_LABELS.get(a.activity_type, a.activity_type)), str(STATUS_LABELS.get(a.status, a.status)))
        for a in rows
    ]


def _meeting_page(meeting_id: str, status: int = 200, **forms: Any) -> Any:
    try:
        view = services.view_meeting(db.session, current_user, meeting_id)
    except NotFound:
        abort(404)
    meeting = view.meeting
    mine = services.invitation_of(db.session, meeting.id, current_user.id)
    members = view.members
    point_form = forms.get("point_form") or ActionPointForm(formdata=None)
    point_form.owner_organization_id.choices = [SelectChoice(o.id, o.name(current_locale_code())) for o in members]
    point_form.agenda_item_id.choices = [SelectChoice("", "—")] + [
        SelectChoice(i.id, str(REVIEW_LABEL) if i.kind == "review" else i.title) for i in meeting.items
    ]
    invited = [(inv.user_id, name) for inv, name in view.invitations]
    point_form.owner_user_id.choices = [SelectChoice("", "—")] + [SelectChoice(uid, n) for uid, n in invited]
    taker_form = forms.get("taker_form") or MinuteTakerForm(formdata=None)
    taker_form.user_id.choices = [SelectChoice("", "—")] + [SelectChoice(uid, n) for uid, n in invited]
    taker_form.user_id.data = taker_form.user_id.data or meeting.minute_taker_id or ""
    entries = {e.agenda_item_id: e for e in view.minutes.entries}
    approved_entries = {e.agenda_item_id: e for e in view.approved.entries} if view.approved else {}
    return (
        render_template(
            "coordination/meeting.html",
            view=view,
            meeting=meeting,
            my_invitation=mine,
            writes_minutes=services._writes_minutes(current_user, meeting),
            may_comment=services.may_comment(db.session, current_user, meeting),
            comments=services.comments(db.session, view.minutes),
            entries=entries,
            approved_entries=approved_entries,
            minutes_errors=forms.get("minutes_errors") or {},
            minutes_values=forms.get("minutes_values"),
            item_form=forms.get("item_form") or AgendaItemForm(formdata=None),
            response_form=forms.get("response_form") or ResponseForm(formdata=None),
            attendance_form=forms.get("attendance_form"),
            comment_form=forms.get("comment_form") or CommentForm(formdata=None),
            point_form=point_form,
            taker_form=taker_form,
            local=_local,
            is_overdue=lambda a: services.is_overdue(db.session, a),
            packs=pack.packs_of(db.session, meeting),
            state_labels=PACK_STATE_LABELS,
            activities=_activities_from(meeting.id),
            change_form=forms.get("change_form") or _change_form(meeting),
            may_change=meeting.state != "cancelled" and meeting.starts_at > utcnow(),
            **_context(),
        ),
        status,
    )


@coordination_bp.get("/meetings/<meeting_id>")
def meeting(meeting_id: str) -> Any:
    return _meeting_page(meeting_id)


def _readable(meeting_id: str, write: bool = False) -> Any:
    try:
        return services.meeting_for(db.session, current_user, meeting_id, write=write)
    except NotFound:
        abort(404)


def _back(meeting_id: str) -> str:
    return url_for("coordination.meeting", meeting_id=meeting_id)


@coordination_bp.get("/meetings/<meeting_id>/meeting.ics")
def meeting_ics_file(meeting_id: str) -> Any:
    found = _readable(meeting_id)
    invited = services.invitation_of(db.session, found.id, current_user.id) is not None
    if not invited and not services.runs(current_user, found.network_id):
        abort(404)
    record("meeting.ics", current_user, found, network_id=found.network_id)
    titles = [str(REVIEW_LABEL) if i.kind == "review" else i.title for i in found.items]
    body = meeting_ics(found, services._network(db.session, found.network_id), titles)
    response = Response(body, mimetype="text/calendar")
    response.headers["Content-Disposition"] = f'attachment; filename="meeting-{found.id}.ics"'
    return response


@coordination_bp.post("/meetings/<meeting_id>/agenda")
def add_agenda_item(meeting_id: str) -> Any:
    _readable(meeting_id, write=True)
    form = AgendaItemForm()
    return _post(
        form,
        lambda: services.add_agenda_item(
            db.session,
            current_user,
            meeting_id,
            services.AgendaInput(form.title.data or "", form.minutes.data or 0, form.presenter.data or ""),
        ),
        lambda status: _meeting_page(meeting_id, status, item_form=form),
        _("The item was added to the agenda."),
        _back(meeting_id),
    )


@coordination_bp.post("/meetings/<meeting_id>/invitations")
def send_invitations(meeting_id: str) -> Any:
    try:
        count, error = attempt(
            lambda: services.send_invitations(db.session, current_user, meeting_id), catch_not_found=False
        )
    except NotFound:
        abort(404)
    if error is not None:
        flash(_problem(error), "danger")
        return _meeting_page(meeting_id, 409)
    flash(_("%(count)d representatives were invited.", count=count), "success")
    return redirect(_back(meeting_id), 303)


@coordination_bp.post("/meetings/<meeting_id>/response")
def respond(meeting_id: str) -> Any:
    _readable(meeting_id)
    form = ResponseForm()
    return _post(
        form,
        lambda: services.respond(
            db.session, current_user, meeting_id, form.response.data, form.delegate_name.data or ""
        ),
        lambda status: _meeting_page(meeting_id, status, response_form=form),
        _("Your answer was recorded."),
        _back(meeting_id),
    )


@coordination_bp.post("/meetings/<meeting_id>/attendance")
def record_attendance(meeting_id: str) -> Any:
    _readable(meeting_id, write=True)
    form = AttendanceForm()
    return _post(
        form,
        lambda: services.record_attendance(
            db.session,
            current_user,
            meeting_id,
            form.organization_id.data,
            form.status.data,
            form.representative.data or "",
            form.role.data or "",
        ),
        lambda status: _meeting_page(meeting_id, status, attendance_form=form),
        _("The attendance was recorded."),
        _back(meeting_id),
    )


@coordination_bp.post("/meetings/<meeting_id>/minute-taker")
def name_minute_taker(meeting_id: str) -> Any:
    _readable(meeting_id, write=True)
    form = MinuteTakerForm()
    return _post(
        form,
        lambda: services.name_minute_taker(db.session, current_user, meeting_id, form.user_id.data or None),
        lambda status: _meeting_page(meeting_id, status, taker_form=form),
        _("The minute-taker was named."),
        _back(meeting_id),
    )


@coordination_bp.post("/meetings/<meeting_id>/minutes")
def save_minutes(meeting_id: str) -> Any:
    found = _readable(meeting_id)
    if not services._writes_minutes(current_user, found):
        abort(404)
    entries = {
        item.id: (request.form.get(f"discussion-{item.id}", ""), request.form.get(f"decisions-{item.id}", ""))
        for item in found.items
        if f"discussion-{item.id}" in request.form or f"decisions-{item.id}" in request.form
    }
    try:
        _saved, error = attempt(
            lambda: services.save_minutes(db.session, current_user, meeting_id, entries), catch_not_found=False
        )
    except NotFound:
        abort(404)
    if error is not None:
        errors = {name: message(code) for name, code in error.fields.items()}
        if not errors:
            flash(_problem(error), "danger")
        return _meeting_page(
            meeting_id,
            409 if isinstance(error, Conflict) else 400,
            minutes_errors=errors,
            minutes_values=entries,
        )
    flash(_("The minutes were saved."), "success")
    return redirect(_back(meeting_id), 303)


_MINUTES_STEPS = {
    "circulate": (services.circulate_minutes, _l("The minutes were circulated to the attendees for comment.")),
    "approve": (services.approve_minutes, _l("The minutes were approved. They are now read-only.")),
    "reopen": (services.reopen_minutes, _l("A new version of the minutes was opened as a draft.")),
}


@coordination_bp.post("/meetings/<meeting_id>/minutes/<step>")
def minutes_step(meeting_id: str, step: str) -> Any:
    if step not in _MINUTES_STEPS:
        abort(404)
    action, done = _MINUTES_STEPS[step]
    try:
        _done, error = attempt(lambda: action(db.session, current_user, meeting_id), catch_not_found=False)
    except NotFound:
        abort(404)
    if error is not None:
        flash(_problem(error), "danger")
        return _meeting_page(meeting_id, 409)
    flash(str(done), "success")
    return redirect(_back(meeting_id), 303)


@coordination_bp.post("/meetings/<meeting_id>/comments")
def comment(meeting_id: str) -> Any:
    _readable(meeting_id)
    form = CommentForm()
    return _post(
        form,
        lambda: services.comment_minutes(db.session, current_user, meeting_id, form.body.data or ""),
        lambda status: _meeting_page(meeting_id, status, comment_form=form),
        _("Your comment was added."),
        _back(meeting_id),
    )


@coordination_bp.post("/meetings/<meeting_id>/action-points")
def create_action_point(meeting_id: str) -> Any:
    found = _readable(meeting_id, write=True)
    form = ActionPointForm()
    form.owner_organization_id.choices = [
        SelectChoice(o.id, o.name_en) for o in services.members_of(db.session, found.network_id)
    ]
    return _post(
        form,
        lambda: services.create_action_point(
            db.session,
            current_user,
            meeting_id,
            services.ActionPointInput(
                description=form.description.data or "",
                owner_organization_id=form.owner_organization_id.data,
                due_date=form.due_date.data,
                priority=form.priority.data,
                owner_user_id=form.owner_user_id.data or None,
                agenda_item_id=form.agenda_item_id.data or None,
            ),
        ),
        lambda status: _meeting_page(meeting_id, status, point_form=form),
        _("The action point was recorded and its owner told."),
        _back(meeting_id),
    )


# ------------------------------------------------------------------------------- action points
def _points_page(status: int = 200, forms: dict[str, Any] | None = None) -> Any:
    args = request.args
    mine = args.get("owner") == "mine"
    overdue = True if args.get("overdue") == "1" else None
    # one network's: the one asked for, or by default the network a coordinator runs
    network_id = args.get("network") or (
        current_user.network_id if getattr(current_user, "role", None) == "coordinator" else None
    )
    if network_id:
        try:
            network_id = services.network_for(db.session, current_user, network_id).id
        except NotFound:
            abort(404)
    page = services.list_action_points(
        db.session, current_user, network_id=network_id or None, mine=mine, overdue=overdue, limit=200
    )
    update_forms = forms or {}
    return (
        render_template(
            "coordination/action_points.html",
            points=page.items,
            mine=mine,
            overdue=bool(overdue),
            forms={p.id: update_forms.get(p.id) or _update_form(p) for p in page.items},
            may_update=lambda p: services.may_update(db.session, current_user, p),
            is_overdue=lambda a: services.is_overdue(db.session, a),
            **_context(),
        ),
        status,
    )


def _update_form(point: ActionPoint, formdata: Any = None) -> ActionPointUpdateForm:
    form = ActionPointUpdateForm(formdata=formdata, prefix=f"p{point.id[:8]}")
    if formdata is None:
        form.status.data = point.status
    return form


@coordination_bp.get("/action-points")
def action_points() -> Any:
    return _points_page()


@coordination_bp.get("/action-points/<point_id>")
def action_point(point_id: str) -> Any:
    try:
        point = services.action_point_for(db.session, current_user, point_id)
    except NotFound:
        abort(404)
    record("action_point.view", current_user, point, network_id=point.network_id)
    return redirect(url_for("coordination.meeting", meeting_id=point.meeting_id) + f"#ap-{point.id}", 303)


@coordination_bp.post("/action-points/<point_id>")
def update_action_point(point_id: str) -> Any:
    try:
        point = services.action_point_for(db.session, current_user, point_id, write=True)
    except NotFound:
        abort(404)
    form = _update_form(point, request.form)
    return _post(
        form,
        lambda: services.update_action_point(db.session, current_user, point_id, form.status.data, form.note.data),
        lambda status: _points_page(status, {point.id: form}),
        _("The action point was updated."),
        url_for("coordination.action_points"),
    )
