"""Consent and referral pages: record consent on a case, refer it, the organisation's inbox and
outbox, and a referral's page with its timeline and the actions each side may take. Thin: the
rules are in `services.py` and `cases/consent.py`."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from flask import Blueprint, flash, g, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_login import current_user
from sqlalchemy import select

from ..access.policy import can
from ..accounts.models import User
from ..cases import consent as consents
from ..cases import services as cases
from ..cases.models import CONSENT_METHODS, FIELD_GROUPS, GIVERS
from ..directory.models import Organization
from ..enums import SECTORS
from ..errors import NotFound
from ..extensions import db
from ..forms_base import submit
from ..i18n import current_direction, current_locale_code, list_join
from ..labels import (
    CONSENT_METHOD_LABELS,
    DECLINE_REASON_LABELS,
    FIELD_GROUP_NAMES,
    GIVER_LABELS,
    PRIORITY_LABELS,
    REFERRAL_STATE_LABELS,
    SECTOR_LABELS,
    message,
)
from ..models_base import utcnow
from ..timefmt import local_date
from . import disclosure, printing, receiving, services
from .forms import AnswerForm, AssignForm, ConsentForm, LogForm, MandatoryReportForm, OpenCaseForm, ReferralForm
from .models import DECLINE_REASONS, OPEN_STATES, PRIORITIES
from .transfers import history_only

referrals_bp = Blueprint("referrals", __name__)
ACTIONS = {
    "accept": "accepted",
    "decline": "declined",
    "start": "in_progress",
    "complete": "completed",
    "close": "closed_unresolved",
    "withdraw": "withdrawn",
}


def _actor() -> Any:
    return current_user._get_current_object()


def _org_name(org: Organization) -> str:
    return str(org.name(current_locale_code()))


def _labels(codes: tuple[str, ...], labels: dict[str, Any]) -> list[tuple[str, str]]:
    return [(code, str(labels.get(code, code))) for code in codes]


@referrals_bp.app_template_global()
def referral_label(kind: str, code: str | None) -> str:
    table = {
        "state": REFERRAL_STATE_LABELS,
        "priority": PRIORITY_LABELS,
        "decline": DECLINE_REASON_LABELS,
        "group": FIELD_GROUP_NAMES,
        "sector": SECTOR_LABELS,
    }[kind]
    return str(table.get(code or "", code or "—"))


# ------------------------------------------------------------------------------ consent
@referrals_bp.route("/cases/<case_id>/consents/new", methods=["GET", "POST"])
def new_consent(case_id: str) -> Any:
    actor = _actor()
    case = cases.view_case(db.session, actor, case_id)
    if not can(actor, "case.edit", case):
        raise NotFound("case")
    form = ConsentForm()
    form.given_by.choices = _labels(GIVERS, GIVER_LABELS)
    form.method.choices = _labels(CONSENT_METHODS, CONSENT_METHOD_LABELS)
    others = db.session.scalars(
        select(Organization)
        .where(Organization.active.is_(True), Organization.id != case.organization_id)
        .order_by(Organization.name_en)
    )
    form.organization_ids.choices = [(o.id, _org_name(o)) for o in others]
    form.sectors.choices = _labels(SECTORS, SECTOR_LABELS)
    form.field_groups.choices = _labels(FIELD_GROUPS, FIELD_GROUP_NAMES)
    outcome = submit(
        form,
        lambda: consents.record_consent(
            db.session,
            actor,
            case.id,
            consents.ConsentInput(
                given_by=form.given_by.data or "",
                method=form.method.data or "",
                organization_ids=list(form.organization_ids.data or []),
                sectors=list(form.sectors.data or []),
                field_groups=list(form.field_groups.data or []),
                purpose=form.purpose.data or "",
                minor_assent=bool(form.minor_assent.data) or None,
                best_interest_reason=form.best_interest_reason.data or None,
            ),
        ),
    )
    if outcome.done:
        flash(_("The consent was recorded."), "success")
        return redirect(url_for("referrals.case_referrals", case_id=case.id), 303)
    return render_template(
        "referrals/consent_form.html", case=case, form=form, minor=consents.is_minor(case)
    ), outcome.status


TOLD_FIRST_LABELS = {
    "child": _l("The child"),
    "caregiver": _l("The caregiver"),
    "both": _l("The child and the caregiver"),
    "neither": _l("Neither (it would have put the child at risk)"),
}


@referrals_bp.route("/cases/<case_id>/mandatory-reports/new", methods=["GET", "POST"])
def new_mandatory_report(case_id: str) -> Any:
    actor = _actor()
    case = cases.view_case(db.session, actor, case_id)
    if not can(actor, "case.edit", case):
        raise NotFound("case")
    form = MandatoryReportForm()
    form.told_first.choices = _labels(consents.TOLD_FIRST, TOLD_FIRST_LABELS)
    outcome = submit(
        form,
        lambda: consents.record_mandatory_report(
            db.session,
            actor,
            case.id,
            authority=form.authority.data or "",
            reported_on=form.reported_on.data or "",
            told_first=form.told_first.data or "",
            notes=form.notes.data or None,
        ),
    )
    if outcome.done:
        flash(_("The mandatory report was recorded."), "success")
        return redirect(url_for("referrals.case_referrals", case_id=case.id), 303)
    return render_template("referrals/mandatory_report_form.html", case=case, form=form), outcome.status


@referrals_bp.post("/consents/<consent_id>/withdraw")
def withdraw_consent(consent_id: str) -> Any:
    consent = consents.withdraw(db.session, _actor(), consent_id)
    flash(_("The consent was withdrawn. Nothing more is shared on it."), "success")
    return redirect(url_for("referrals.case_referrals", case_id=consent.case_id), 303)


# ------------------------------------------------------------------------------ a case's referrals
@referrals_bp.route("/cases/<case_id>/referrals", methods=["GET", "POST"])
def case_referrals(case_id: str) -> Any:
    """The case's consents and referrals, and the form to refer it."""
    actor = _actor()
    case = cases.view_case(db.session, actor, case_id)
    editable = can(actor, "case.edit", case)
    grants = consents.consents(db.session, case)
    form = ReferralForm()
    receivers = db.session.scalars(
        select(Organization)
        .where(
            Organization.active.is_(True),
            Organization.accepts_referrals.is_(True),
            Organization.id != case.organization_id,
        )
        .order_by(Organization.name_en)
    )
    form.to_organization_id.choices = [("", "—")] + [(o.id, _org_name(o)) for o in receivers]
    form.external_sector.choices = [("", "—"), *_labels(SECTORS, SECTOR_LABELS)]
    external = form.receiver_kind.data == "external"
    form.priority.choices = _labels(PRIORITIES, PRIORITY_LABELS)
    form.field_groups.choices = _labels(FIELD_GROUPS, FIELD_GROUP_NAMES)
    valid = [c for c in grants if consents.is_valid(c, case)]
    form.consent_id.choices = [("", "—")] + [
        (c.id, f"{local_date(c.recorded_at)} · {list_join(referral_label('group', g) for g in c.field_groups)}")
        for c in valid
    ]
    offered = services.referable_services(db.session, case, valid)
    chosen = _choose_service(form, offered, request.args.get("service", ""))
    outcome = (
        submit(
            form,
            lambda: services.create(
                db.session,
                actor,
                services.ReferralInput(
                    case_id=case.id,
                    to_organization_id=None if external else (form.to_organization_id.data or None),
                    service_id=None if external else (form.service_id.data or None),
                    priority=form.priority.data or "",
                    reason=form.reason.data or "",
                    field_groups=list(form.field_groups.data or []),
                    consent_id=form.consent_id.data or None,
                    external_provider=(form.external_provider.data or "") if external else None,
                    external_sector=(form.external_sector.data or None) if external else None,
                ),
            ),
        )
        if editable
        else None
    )
    if outcome is not None and outcome.done:
        flash(_("The referral was sent."), "success")
        return redirect(url_for("referrals.show", referral_id=outcome.value.id), 303)
    sent = list(
        db.session.scalars(
            select(services.Referral)
            .where(
                services.Referral.case_id == case.id,
                # a former owner's referrals stay its history, not the new owner's
                services.Referral.from_organization_id == case.organization_id,
            )
            .order_by(services.Referral.created_at.desc())
        )
    )
    providers = _organizations({service.organization_id for service, _ in offered})
    return render_template(
        "referrals/case.html",
        case=case,
        consents=grants,
        valid_ids={c.id for c in valid},
        form=form,
        editable=editable,
        minor=consents.is_minor(case),
        reports=consents.mandatory_reports(db.session, case),
        told_first=TOLD_FIRST_LABELS,
        referrals=sent,
        organizations=_organizations({r.to_organization_id for r in sent}),
        offered=[(service, providers.get(service.organization_id, "")) for service, _ in offered],
        chosen=chosen,
    ), (outcome.status if outcome is not None else 200)


def _choose_service(form: ReferralForm, offered: list[tuple[Any, Any]], wanted: str) -> Any:
    """A service picked from the directory fills the receiver, the consent and the sector's
    minimum of information (what the consent allows) on a fresh form."""
    for service, grant in offered:
        if service.id == wanted:
            if request.method == "GET":
                form.receiver_kind.data = "member"
                form.to_organization_id.data = service.organization_id
                form.service_id.data = service.id
                form.consent_id.data = grant.id
                form.field_groups.data = services.suggested_groups(service, grant)
            return service
    return None


def _organizations(ids: Iterable[str | None]) -> dict[str, str]:
    """Member organisations' names in the page's language, each read once per request (a page
    names the same organisations on many rows)."""
    wanted = {i for i in ids if i}
    known: dict[str, str | None] = g.setdefault("shabaka_organization_names", {})
    missing = wanted - known.keys()
    if missing:
        known.update(dict.fromkeys(missing))
        column = Organization.name_column(current_locale_code())
        rows = db.session.execute(select(Organization.id, column).where(Organization.id.in_(missing)))
        known.update({str(i): n for i, n in rows})  # the two columns, not whole rows
    return {i: name for i in wanted if (name := known.get(i)) is not None}


# ------------------------------------------------------------------------------ inbox, outbox, one referral
FILTER_STATE_LABELS = {**REFERRAL_STATE_LABELS, "overdue": _l("Overdue")}
FILTER_PROBLEMS = {
    "state": _l("There is no such state; the list shows every state."),
    "priority": _l("There is no such priority; the list shows every priority."),
    "assigned": _l("This filter only knows \u201cassigned to me\u201d; the list shows every assignee."),
    "news": _l("This filter only knows \u201cwith news\u201d; the list shows every referral."),
}


def _htmx() -> bool:
    return request.headers.get("HX-Request") == "true"


def _acceptable(actor: Any, rows: Iterable[Any]) -> set[str]:
    """The referrals of a list the actor may accept from it, in one click."""
    return {
        r.id
        for r in rows
        if r.state == "sent"
        and not r.external
        and r.to_organization_id == actor.organization_id
        and can(actor, "referral.act_as_receiver", r)
    }


PAGE_SIZE = 50  # referrals per page of a box; "Next page" carries on in the same order


@referrals_bp.get("/referrals")
def index() -> Any:
    """A box, the most urgent first, filtered by state, priority and assignee (GET parameters;
    a value that is not one of them is named, left out of the filter, and answered 400), a page
    of PAGE_SIZE at a time (`cursor`: the next page in the same order). With htmx, only the list
    is sent back."""
    actor = _actor()
    box = request.args.get("box", "inbox")
    raw = {name: request.args.get(name, "") for name in ("state", "priority", "assigned", "news")}
    filters, problems = services.Filters.parse(raw["state"], raw["priority"], raw["assigned"], raw["news"])
    rows = services.listing(
        db.session, actor, box, filters=filters, order="urgency", limit=PAGE_SIZE, cursor=request.args.get("cursor")
    )
    next_cursor = services.urgency_cursor(rows[PAGE_SIZE - 1]) if len(rows) > PAGE_SIZE else None
    rows = rows[:PAGE_SIZE]
    parties = {r.from_organization_id for r in rows} | {r.to_organization_id for r in rows}
    page = render_template(
        "referrals/_list.html" if _htmx() else "referrals/index.html",
        box=box,
        referrals=rows,
        next_cursor=next_cursor,
        organizations=_organizations(parties),
        time_left=time_left,
        acceptable=_acceptable(actor, rows),
        filtered=filters != services.Filters(),
        raw=raw,
        bad=set(problems),
        problems=[(name, str(FILTER_PROBLEMS[name])) for name in problems],
        state_choices=_labels(services.FILTER_STATES, FILTER_STATE_LABELS),
        priority_choices=_labels(PRIORITIES, PRIORITY_LABELS),
    )
    response = make_response(page, 400 if problems else 200)
    response.vary.add("HX-Request")
    return response


def time_left(referral: Any, now: datetime | None = None) -> tuple[str, str]:
    """How long the receiving side has left to answer (or how late it is), and a style: only
    while the referral waits for an answer. Overdue is derived from the clock, never stored."""
    if referral.state != "sent" or referral.due_at is None:
        return "—", ""
    left = referral.due_at - (now or utcnow())
    hours = int(abs(left).total_seconds() // 3600)
    days, rest = divmod(hours, 24)
    span = (
        ngettext("%(num)d day", "%(num)d days", days)
        + (" " + ngettext("%(num)d hour", "%(num)d hours", rest) if rest else "")
        if days
        else ngettext("%(num)d hour", "%(num)d hours", hours)
    )
    if left.total_seconds() < 0:
        return _("Overdue by %(span)s", span=span), "text-danger fw-bold"
    return _("%(span)s left", span=span), "text-warning-emphasis" if left.total_seconds() < 6 * 3600 else ""


def _render(referral: Any, answer: AnswerForm | None = None, status: int = 200, log_form: LogForm | None = None) -> Any:
    actor = _actor()
    side = "sender" if actor.organization_id == referral.from_organization_id else "receiver"
    moves = [
        action
        for action, to_state in ACTIONS.items()
        if (referral.state, to_state) in services.TRANSITIONS
        and (referral.external or services.TRANSITIONS[(referral.state, to_state)] == side)
    ]
    form = answer or AnswerForm(formdata=None)
    form.reason_code.choices = [("", "—"), *_labels(DECLINE_REASONS, DECLINE_REASON_LABELS)]
    assign = None
    if can(actor, "referral.assign", referral) and referral.state in ("sent", "accepted", "in_progress"):
        assign = AssignForm(formdata=None)
        staff = db.session.execute(
            select(User.id, User.username)
            .where(
                User.organization_id == actor.organization_id,
                User.active.is_(True),
                User.role.in_(("caseworker", "supervisor")),
            )
            .order_by(User.username)
        ).all()
        assign.user_id.choices = [(uid, name) for uid, name in staff]
    shown = disclosure.disclose(db.session, actor, referral)
    timeline = receiving.timeline(actor, referral)
    log = receiving.log_for(actor, referral)
    receiver_side = side == "receiver" and actor.organization_id == referral.to_organization_id
    people = {t.actor_id for t in timeline} | {t.user_id for t in timeline if t.user_id}
    if receiver_side:
        people |= {e.author_id for e in log} | ({referral.assigned_to} if referral.assigned_to else set())
    names = dict(db.session.execute(select(User.id, User.username).where(User.id.in_(people))).all())
    in_service = referral.state in receiving.SERVICE_STATES and receiver_side
    may_act = in_service and can(actor, "referral.act_as_receiver", referral)
    own_case = receiving.own_case_code(db.session, actor, referral)
    return render_template(
        "referrals/show.html",
        timeline=timeline,
        log=log,
        log_form=log_form or (LogForm(formdata=None) if may_act else None),  # a refused entry is shown again
        open_case_form=OpenCaseForm(formdata=None)
        if may_act and own_case is None and can(actor, "case.create") and referral.receiver_case_id is None
        else None,
        offer_open_case=side == "receiver" and can(actor, "case.create") and referral.receiver_case_id is None,
        own_case=own_case,
        receiver_side=receiver_side,
        referral=referral,
        side=side,
        history_only=side == "sender" and history_only(referral),
        moves=moves,
        form=form,
        assign=assign,
        groups=shown.codes,
        shown=shown,
        case=referral.case if shown.groups else None,
        documents=services.shared_documents(db.session, actor, referral) if side == "receiver" else [],
        names=names,
        organizations=_organizations({referral.from_organization_id, referral.to_organization_id}),
        printable=side == "sender" and referral.state in OPEN_STATES and can(actor, "case.edit", referral.case),
    ), status


@referrals_bp.get("/referrals/<referral_id>/documents/<document_id>")
def shared_document(referral_id: str, document_id: str) -> Any:
    from flask import Response

    found = services.open_shared_document(db.session, _actor(), referral_id, document_id)
    response = Response(found.chunks, mimetype=found.content_type, direct_passthrough=True)
    response.content_length = found.size
    response.headers["Content-Disposition"] = f'attachment; filename="{found.filename}"'
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _printable(referral_id: str, fmt: str) -> tuple[Any, Any] | None:
    """The referral and its printable sheet, or None (with a message) when it may not be printed now."""
    try:
        referral, groups = services.printable(db.session, _actor(), referral_id, fmt)
    except (services.InvalidTransition, services.ConsentRequired) as refused:
        flash(message(refused.message), "warning")
        return None
    return referral, printing.build(db.session, referral, groups, current_locale_code())


@referrals_bp.get("/referrals/<referral_id>/print")
def print_form(referral_id: str) -> Any:
    """The referral form as a page to print (print CSS, no navigation): for the provider."""
    found = _printable(referral_id, "html")
    if found is None:
        return redirect(url_for("referrals.show", referral_id=referral_id), 303)
    return render_template("referrals/print.html", referral=found[0], sheet=found[1])


@referrals_bp.get("/referrals/<referral_id>/print.pdf")
def print_pdf(referral_id: str) -> Any:
    """The same referral form as a PDF to download, print or hand over."""
    from flask import Response

    found = _printable(referral_id, "pdf")
    if found is None:
        return redirect(url_for("referrals.show", referral_id=referral_id), 303)
    referral, sheet = found
    response = Response(printing.render_pdf(sheet, rtl=current_direction() == "rtl"), mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'attachment; filename="referral-{referral.case_code}.pdf"'
    return response


@referrals_bp.get("/referrals/<referral_id>")
def show(referral_id: str) -> Any:
    return _render(services.view(db.session, _actor(), referral_id))


@referrals_bp.post("/referrals/<referral_id>/<action>")
def act(referral_id: str, action: str) -> Any:
    actor = _actor()
    if action == "assign":
        form = AssignForm()
        referral = services.assign(db.session, actor, referral_id, form.user_id.data or "")
        flash(_("The referral was assigned."), "success")
        return redirect(url_for("referrals.show", referral_id=referral.id), 303)
    if action not in ACTIONS:
        raise NotFound("action")
    answer = AnswerForm()
    referral = services.visible(db.session, actor, referral_id)
    answer.reason_code.choices = [("", "—"), *_labels(DECLINE_REASONS, DECLINE_REASON_LABELS)]
    open_case = action == "accept" and bool(answer.open_case.data)

    def step() -> Any:
        moved = services.transition(
            db.session,
            actor,
            referral.id,
            ACTIONS[action],
            reason=(answer.reason_code.data or None) if action == "decline" else (answer.reason.data or None),
            outcome=answer.outcome.data or None,
            note=answer.note.data or None,
        )
        if open_case:  # accepted and our own case file opened, or neither
            receiving.open_own_case(db.session, actor, referral.id)
        return moved

    outcome = submit(answer, step)
    done = _("The referral is now: %(state)s.", state=referral_label("state", ACTIONS[action]))
    if outcome.done and _htmx():
        return _row(actor, referral, notice=done)
    if outcome.done:
        flash(done, "success")
        if open_case:
            flash(_("Your organisation's own case file was opened from the referral."), "success")
        if request.form.get("from") == "list":
            return redirect(url_for("referrals.index", box="inbox"), 303)
        return redirect(url_for("referrals.show", referral_id=referral.id), 303)
    # the refused step was undone by `submit`; the page shown again is a view, and stays recorded
    referral = services.view(db.session, actor, referral_id)
    if _htmx():  # the row again, saying why (htmx swaps only a successful answer)
        problem = " ".join(str(e) for errors in answer.errors.values() for e in errors)
        return _row(actor, referral, problem=problem or _("This step could not be made."))
    return _render(referral, answer, outcome.status)


@referrals_bp.post("/referrals/<referral_id>/log")
def add_log(referral_id: str) -> Any:
    """The receiving side records progress of the service: what was done, and the next step."""
    actor = _actor()
    form = LogForm()
    outcome = submit(
        form,
        lambda: receiving.add_log_entry(
            db.session, actor, referral_id, form.text.data or "", form.next_step.data or None
        ),
    )
    if outcome.done:
        flash(_("The progress was recorded."), "success")
        return redirect(url_for("referrals.show", referral_id=referral_id, _anchor="service-log"), 303)
    # nothing of the refused entry was kept (`submit`); the page shown again is a view
    referral = services.view(db.session, actor, referral_id)
    return _render(referral, status=outcome.status, log_form=form)


@referrals_bp.post("/referrals/<referral_id>/open-case")
def open_case(referral_id: str) -> Any:
    """The receiving side opens its own case file from the referral (it keeps it afterwards)."""
    actor = _actor()
    form = OpenCaseForm()
    outcome = submit(form, lambda: receiving.open_own_case(db.session, actor, referral_id))
    if outcome.done:
        flash(_("Your organisation's own case file was opened from the referral."), "success")
        return redirect(url_for("cases.show", case_id=outcome.value.id), 303)
    for problem in form.form_errors or [_("The case file could not be opened.")]:
        flash(problem, "danger")
    referral = services.view(db.session, actor, referral_id)
    return _render(referral, status=outcome.status)


@referrals_bp.app_template_global()
def case_referral_panel(case: Any) -> list[receiving.CaseReferral]:
    """The case's referrals with their state, outcome and service log, for its own case page
    (the organisations they name read in one statement)."""
    rows = receiving.of_case(db.session, _actor(), case)
    _organizations({r.referral.to_organization_id for r in rows} | {r.referral.from_organization_id for r in rows})
    return rows


@referrals_bp.app_template_global()
def referral_organization_name(organization_id: str | None) -> str:
    """A member organisation's name in the page's language."""
    return _organizations({organization_id}).get(organization_id or "", "—")


@referrals_bp.app_template_global()
def case_origin_referral(case: Any) -> Any:
    """The referral this case of ours was opened from (for a link back), or None."""
    return receiving.origin_of(db.session, _actor(), case)


def _row(actor: Any, referral: Any, *, notice: str | None = None, problem: str | None = None) -> Any:
    """One row of the inbox, after a step taken from it with htmx."""
    return render_template(
        "referrals/_row.html",
        r=referral,
        box="inbox",
        organizations=_organizations({referral.from_organization_id}),
        time_left=time_left,
        acceptable=_acceptable(actor, [referral]),
        notice=notice,
        problem=problem,
    )
