"""The case file on the web: list, intake, the case page with its steps, notes and team, edit,
guided incident classification and the supervisors' approval queue. Thin: rules live in
`services.py`, which checks every access and audits every view, reveal and change.

Identifiers are masked on every page by default. "Reveal" is a POST whose response alone shows
them (audited as a reveal); they never travel in a URL, so the search box posts too.

A refused step form re-renders the case page with the user's input kept and answers 4xx. The
refused service call ran inside a savepoint and is undone; the page itself is a case view, so
its audit event is kept (`keep_on_error`): showing case content is never left unrecorded.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from ..access import breakglass
from ..access.policy import can
from ..accounts.models import User
from ..directory import services as directory
from ..errors import DomainError, NotFound, page_status
from ..extensions import db
from ..forms_base import attach_errors, attempt, submit
from ..i18n import current_locale_code, list_join
from ..labels import (
    CASE_STATUS_LABELS,
    CLOSURE_REASON_LABELS,
    CONSENT_METHOD_LABELS,
    GBV_TYPE_LABELS,
    INCIDENT_CONTEXT_LABELS,
    MARITAL_STATUS_LABELS,
    MOVE_LABELS,
    PERPETRATOR_LABELS,
    RISK_LABELS,
    SEX_LABELS,
    message,
    step_requirement,
)
from ..security.fields import readable
from ..transaction import keep_on_error
from . import services
from .forms import (
    ApproveForm,
    AssessmentForm,
    CaseForm,
    ClosureForm,
    ConsentForm,
    IncidentForm,
    MemberForm,
    MoveForm,
    NoteForm,
    PlanForm,
    ReturnForm,
    SafetyPlanForm,
    SearchForm,
    risk_choices,
    status_choices,
)
from .models import RISK_LEVELS, STATUSES, Case

cases_bp = Blueprint("cases", __name__, url_prefix="/cases")

STEP_PARTS = ("consent_for_services", "assessment", "action_plan", "safety_plan", "closure")
# Which step forms a case shows at each step.
STEP_FORMS: dict[str, tuple[str, ...]] = {
    "intake": ("consent_for_services",),
    "assessment": ("assessment",),
    "action_plan": ("action_plan", "safety_plan"),
    "implementation": ("safety_plan", "closure"),
    "follow_up": ("safety_plan", "closure"),
    "reopened": ("assessment",),
}
_FORM_CLASSES: dict[str, type] = {
    "consent_for_services": ConsentForm,
    "assessment": AssessmentForm,
    "action_plan": PlanForm,
    "safety_plan": SafetyPlanForm,
    "closure": ClosureForm,
}
_LABELS: dict[str, dict[str, Any]] = {
    "status": CASE_STATUS_LABELS,
    "risk": RISK_LABELS,
    "sex": SEX_LABELS,
    "marital_status": MARITAL_STATUS_LABELS,
    "gbv_type": GBV_TYPE_LABELS,
    "perpetrator": PERPETRATOR_LABELS,
    "closure_reason": CLOSURE_REASON_LABELS,
    "context": INCIDENT_CONTEXT_LABELS,
    "consent_method": CONSENT_METHOD_LABELS,
    "move": MOVE_LABELS,
}


@cases_bp.app_template_global()
def case_label(kind: str, code: str | None) -> str:
    """The translated label of a case code (`case_label('risk', 'high')`); a dash when unset."""
    if code is None or code == "":
        return "—"
    return str(_LABELS[kind].get(code, code))


@cases_bp.app_template_filter("context_label")
def context_label(code: str) -> str:
    return case_label("context", code)


def _actor() -> Any:
    return current_user._get_current_object()


def _governorates() -> list[tuple[str, str]]:
    """The governorates a case may be recorded in (those a network serves), by their own names."""
    from ..labels import GOVERNORATE_LABELS

    locale = current_locale_code()
    return [
        (n.governorate, str(GOVERNORATE_LABELS.get(n.governorate) or n.name(locale)))
        for n in directory.networks(db.session)
    ]


def _usernames(ids: set[str]) -> dict[str, str]:
    if not ids:
        return {}
    rows = db.session.execute(select(User.id, User.username).where(User.id.in_(ids)))
    return {user_id: username for user_id, username in rows}


def _attempt(action: Callable[[], Any]) -> DomainError | None:
    """Run a service call the form helpers' way (`forms_base.attempt`): on a refusal it is undone
    and the error returned. Not found is not caught: it answers 404 like any other refused case."""
    return attempt(action, catch_not_found=False)[1]


# ------------------------------------------------------------------------------ list
def _list_filters(source: Any) -> dict[str, Any]:
    status = source.get("status") or None
    risk = source.get("risk_level") or None
    return {
        "status": status if status in STATUSES else None,
        "risk_level": risk if risk in RISK_LEVELS else None,
        "mine": source.get("mine") == "1",
        "cursor": source.get("cursor") or None,
    }


@cases_bp.route("", methods=["GET", "POST"])
def index() -> Any:
    """GET: the filtered list. POST: a search (the box may hold a national id or phone)."""
    actor = _actor()
    if not can(actor, "case.create"):
        raise NotFound("page")
    search = SearchForm()
    status = 200
    query: str | None = None
    code: str | None = None  # from the URL: a case code only, never an identifier
    if request.method == "POST":
        filters = _list_filters(request.form)
        if search.validate_on_submit():
            query = (search.q.data or "").strip()
        else:
            status = 400
    else:
        filters = _list_filters(request.args)
        search.status.data = filters["status"] or ""
        search.risk_level.data = filters["risk_level"] or ""
        search.mine.data = "1" if filters["mine"] else ""
        code = request.args.get("q", "").strip() or None
    page = services.Page([], None)
    if status == 200:
        try:
            page = services.list_cases(
                db.session,
                actor,
                status=filters["status"],
                risk_level=filters["risk_level"],
                assigned_to_me=filters["mine"],
                q=code,
                identifier=query,
                cursor=filters["cursor"],
            )
        except services.IdentifierInUrl:
            search.q.errors = [message("identifier_in_url")]
            status = 400
        else:
            query = query or code
    return render_template(
        "cases/index.html",
        page=page,
        filters=filters,
        query=query,
        search=search,
        status_choices=status_choices(),
        risk_choices=risk_choices(),
        governorates=dict(_governorates()),
        masked_name=services.masked_name,
    ), status


# ------------------------------------------------------------------------------ intake
@cases_bp.route("/new", methods=["GET", "POST"])
def new() -> Any:
    actor = _actor()
    if not can(actor, "case.create"):
        raise NotFound("page")
    form = CaseForm(governorates=_governorates())
    if request.method == "GET":
        served = actor.organization.governorates if actor.organization is not None else []
        if len(served) == 1:
            form.governorate.data = served[0]
    outcome = submit(
        form,
        lambda: services.create_case(db.session, actor, services.CaseInput(form.values(with_narrative=True))),
    )
    if outcome.done:
        case, returning = outcome.value
        flash(_("Case %(code)s was opened.", code=case.case_code), "success")
        if returning:
            flash(
                _(
                    "The same national ID or phone is already recorded in your organisation's cases: %(codes)s. "
                    "Check whether she is a returning survivor.",
                    codes=list_join(returning),
                ),
                "warning",
            )
        return redirect(url_for("cases.show", case_id=case.id), 303)
    return render_template("cases/form.html", form=form, case=None), outcome.status


# ------------------------------------------------------------------------------ the case page
def _step_forms(case: Case, override: dict[str, Any]) -> dict[str, Any]:
    """The forms of the current step, filled with what is recorded (or with the refused input)."""
    forms: dict[str, Any] = {}
    for part in STEP_FORMS.get(case.status, ()):
        if part in override:
            forms[part] = override[part]
            continue
        form = _FORM_CLASSES[part](prefix=part, formdata=None)
        recorded: Any = readable(case, part)  # None: nothing recorded, or it failed its integrity check
        if recorded is None:
            pass
        elif part == "consent_for_services":
            form.given.data = recorded.get("given")
            form.limits_explained.data = recorded.get("limits_explained")
            form.method.data = recorded.get("method")
        elif part == "assessment":
            form.needs.data = "\n".join(recorded.get("needs") or [])
            form.immediate_danger.data = recorded.get("immediate_danger")
            form.notes.data = recorded.get("notes")
            form.risk_level.data = case.risk_level
        elif part == "action_plan":
            form.actions.data = "\n".join(recorded.get("actions") or [])
        elif part == "safety_plan":
            form.safety_plan.data = recorded
        elif part == "closure":
            form.reason.data = recorded.get("reason")
            form.survivor_told_can_return.data = recorded.get("survivor_told_can_return")
            form.notes.data = recorded.get("notes")
        forms[part] = form
    return forms


def _approvals(case: Case, actor: Any) -> list[dict[str, Any]]:
    """What a supervisor may approve on this case now, and whether she wrote it herself."""
    if not can(actor, "case.approve", case):
        return []
    found = []
    if case.status == "action_plan" and case.action_plan and case.plan_submitted_by and not case.plan_approved_by:
        found.append({"what": "action_plan", "own": case.plan_submitted_by == actor.id})
    if case.status == "closure_pending":
        found.append({"what": "closure", "own": case.closure_requested_by == actor.id})
    return found


def _render_case(
    case: Case,
    *,
    revealed: bool = False,
    forms: dict[str, Any] | None = None,
    problems: list[str] | None = None,
    status: int = 200,
) -> Any:
    actor = _actor()
    override = forms or {}
    note_list = services.notes(db.session, case)
    timeline = services.transitions(db.session, case)
    team_ids = {m.user_id for m in case.members}
    approvers = {user_id for user_id in (case.plan_approved_by, case.closure_approved_by) if user_id}
    returned = services.returns(db.session, case)
    approvers |= {r.returned_by for r in returned}
    names = _usernames(
        {n.author_id for n in note_list}
        | {t.actor_id for t in timeline}
        | team_ids
        | {i.created_by for i in case.incidents}
        | approvers
    )
    editable = can(actor, "case.edit", case)
    member_form = override.get("member") or MemberForm(prefix="member", formdata=None)
    if can(actor, "case.assign", case):
        colleagues = db.session.execute(
            select(User.id, User.username)
            .where(
                User.organization_id == case.organization_id,
                User.role.in_(("caseworker", "supervisor")),
                User.active.is_(True),
                User.id.not_in(team_ids),
            )
            .order_by(User.username)
        ).all()
        member_form.user_id.choices = [(uid, name) for uid, name in colleagues]
    else:
        member_form.user_id.choices = []
    moves = [to for (frm, to) in services.TRANSITIONS if frm == case.status and to != "closed"] if editable else []
    own_organisation = case.organization_id == actor.organization_id
    emergency = None if own_organisation else breakglass.active_grant(db.session, actor, case)
    emergency_on_case = (
        breakglass.active_on_case(db.session, case) if own_organisation and actor.role == "supervisor" else 0
    )
    return render_template(
        "cases/show.html",
        case=case,
        revealed=revealed,
        masked=services.masked_name(case),
        governorate=dict(_governorates()).get(case.governorate, case.governorate),
        editable=editable and case.status not in ("closed", "transferred"),
        step_forms=_step_forms(case, override) if editable else {},
        moves=moves,
        approvals=_approvals(case, actor),
        returned=returned,
        return_form=override.get("return") or ReturnForm(prefix="return", formdata=None),
        problems=problems or [],
        notes=note_list,
        timeline=timeline,
        names=names,
        note_form=override.get("note") or NoteForm(prefix="note", formdata=None),
        member_form=member_form,
        may_assign=bool(member_form.user_id.choices),
        emergency=emergency,
        emergency_on_case=emergency_on_case,
        may_transfer=can(actor, "case.transfer", case)
        and case.status not in ("closed", "transferred")
        and case.purged_at is None,
    ), status


def _refused(case_id: str, *, error: DomainError | None = None, **forms: Any) -> Any:
    """The case page again after a refused form: the input and the errors shown, nothing saved."""
    case = services.view_case(db.session, _actor(), case_id)
    keep_on_error()  # the refused change was undone in its savepoint; the view stays recorded
    problems: list[str] = []
    status = 400
    if error is not None:
        status = page_status(error)
        form = next(iter(forms.values()), None)
        if error.code == "step_requirement" or form is None:
            problems = [step_requirement(name, code) for name, code in error.fields.items()] or [message(error.message)]
        else:
            attach_errors(form, error)
    return _render_case(case, forms=forms, problems=problems, status=status)


@cases_bp.get("/<case_id>")
def show(case_id: str) -> Any:
    return _render_case(services.view_case(db.session, _actor(), case_id))


@cases_bp.post("/<case_id>/reveal")
def reveal(case_id: str) -> Any:
    """The case page with identifiers shown, for this response only (audited as a reveal)."""
    return _render_case(services.reveal(db.session, _actor(), case_id), revealed=True)


@cases_bp.post("/<case_id>/steps/<part>")
def record_step(case_id: str, part: str) -> Any:
    if part not in STEP_PARTS:
        raise NotFound("page")
    form = _FORM_CLASSES[part](prefix=part)
    actor = _actor()
    if not form.validate_on_submit():
        return _refused(case_id, **{part: form})
    content = form.safety_plan.data if part == "safety_plan" else form.content()
    error = _attempt(lambda: services.record_step_content(db.session, actor, case_id, part, content))
    if error is not None:
        return _refused(case_id, error=error, **{part: form})
    flash(_("Saved."), "success")
    return redirect(url_for("cases.show", case_id=case_id, _anchor="step"), 303)


@cases_bp.post("/<case_id>/move")
def move(case_id: str) -> Any:
    form = MoveForm()
    actor = _actor()
    to_status = form.to_status.data or ""
    error = _attempt(lambda: services.move(db.session, actor, case_id, to_status))
    if error is not None:
        return _refused(case_id, error=error)
    flash(_("The case moved to the step: %(step)s.", step=case_label("status", to_status)), "success")
    return redirect(url_for("cases.show", case_id=case_id), 303)


@cases_bp.post("/<case_id>/approve")
def approve(case_id: str) -> Any:
    form = ApproveForm()
    actor = _actor()
    what = form.what.data or ""
    error = _attempt(lambda: services.approve(db.session, actor, case_id, what))
    if error is not None:
        return _refused(case_id, error=error)
    flash(_("The case was closed.") if what == "closure" else _("The action plan was approved."), "success")
    return redirect(url_for("cases.show", case_id=case_id), 303)


@cases_bp.post("/<case_id>/return")
def return_for_changes(case_id: str) -> Any:
    """A supervisor returns an action plan or a closure with a comment, instead of approving it."""
    form = ReturnForm(prefix="return")
    actor = _actor()
    if not form.validate_on_submit():
        return _refused(case_id, **{"return": form})
    what = form.what.data or ""
    error = _attempt(lambda: services.return_for_changes(db.session, actor, case_id, what, form.comment.data))
    if error is not None:
        return _refused(case_id, error=error, **{"return": form})
    flash(
        _("The action plan was returned to the case team.")
        if what == "action_plan"
        else _("The closure was returned to the case team; the case is back at its step."),
        "success",
    )
    return redirect(url_for("cases.show", case_id=case_id, _anchor="returns"), 303)


@cases_bp.post("/<case_id>/notes")
def add_note(case_id: str) -> Any:
    form = NoteForm(prefix="note")
    actor = _actor()
    if not form.validate_on_submit():
        return _refused(case_id, note=form)
    error = _attempt(lambda: services.add_note(db.session, actor, case_id, form.body.data or ""))
    if error is not None:
        return _refused(case_id, error=error, note=form)
    flash(_("The note was added."), "success")
    return redirect(url_for("cases.show", case_id=case_id, _anchor="notes"), 303)


@cases_bp.post("/<case_id>/members")
def add_member(case_id: str) -> Any:
    actor = _actor()
    user_id = request.form.get("member-user_id", "")
    error = _attempt(lambda: services.add_member(db.session, actor, case_id, user_id))
    if error is not None:
        form = MemberForm(prefix="member")
        return _refused(case_id, error=error, member=form)
    flash(_("The colleague joined the case team."), "success")
    return redirect(url_for("cases.show", case_id=case_id, _anchor="team"), 303)


# ------------------------------------------------------------------------------ edit
@cases_bp.route("/<case_id>/edit", methods=["GET", "POST"])
def edit(case_id: str) -> Any:
    """The identifying fields are in the form, so opening it is recorded as a reveal."""
    actor = _actor()
    if request.method == "GET":
        case = services.reveal(db.session, actor, case_id)
    else:
        case = services.view_case(db.session, actor, case_id)
    if not can(actor, "case.edit", case):
        raise NotFound("case")
    form = CaseForm(governorates=_governorates())
    if request.method == "GET":
        form.fill_from(case)
    outcome = submit(
        form,
        lambda: services.update_case(db.session, actor, case.id, services.CaseInput(form.values(with_narrative=False))),
    )
    if outcome.done:
        flash(_("The case was saved."), "success")
        return redirect(url_for("cases.show", case_id=case.id), 303)
    return render_template("cases/form.html", form=form, case=case), outcome.status


# ------------------------------------------------------------------------------ incidents
@cases_bp.route("/<case_id>/incidents/new", methods=["GET", "POST"])
def new_incident(case_id: str) -> Any:
    actor = _actor()
    case = services.view_case(db.session, actor, case_id)
    if not can(actor, "case.edit", case):
        raise NotFound("case")
    form = IncidentForm()
    outcome = submit(
        form,
        lambda: services.record_incident(
            db.session,
            actor,
            case.id,
            form.answers(),
            list(form.contexts.data or []),
            form.perpetrator_relationship.data or None,
            (form.narrative.data or "").strip() or None,
        ),
    )
    if outcome.done:
        flash(
            _("The incident was recorded as: %(type)s.", type=case_label("gbv_type", outcome.value.gbv_type)),
            "success",
        )
        return redirect(url_for("cases.show", case_id=case.id, _anchor="incidents"), 303)
    return render_template("cases/incident_form.html", form=form, case=case), outcome.status


# ------------------------------------------------------------------------------ approvals
@cases_bp.get("/approvals")
def approvals() -> Any:
    actor = _actor()
    if not can(actor, "case.approve_any"):
        raise NotFound("page")
    queue = services.approval_queue(db.session, actor, audited=True)
    return render_template("cases/approvals.html", queue=queue, masked_name=services.masked_name)
