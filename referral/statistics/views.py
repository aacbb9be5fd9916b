"""The statistics pages: live numbers for coordinators and for an organisation's admins and
supervisors, releases (prepare, submit, approve, publish, read, export) for the network's
members, and the register of outside requests. Thin: the rules are in services.py and releases.py.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select
from wtforms.fields.choices import SelectChoice

from ..audit.services import record
from ..directory.models import Network, Organization
from ..enums import SECTORS
from ..errors import DomainError, Forbidden, InvalidInput, NotFound, page_status
from ..extensions import db
from ..i18n import current_locale_code
from ..labels import SECTOR_LABELS, message
from ..replica import reporting
from ..transaction import keep_on_error
from . import releases, services
from .forms import DecisionForm, PrepareForm, RequestDecisionForm, RequestForm
from .indicators import DIMENSIONS, FAMILIES, FAMILY_LABELS, INDICATORS, MEASURES

statistics_bp = Blueprint("statistics", __name__, url_prefix="/statistics")
EXPORT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
RELEASE_STATE_LABELS = {
    "draft": _l("Draft"),
    "in_review": _l("Waiting for the members' approval"),
    "published": _l("Published"),
    "superseded": _l("Replaced by a newer version"),
}


def _problem(error: DomainError) -> str:
    """The sentence for a refusal without a field: its reason when we have words for it."""
    from ..labels import MESSAGES

    reason = str(error)
    return message(reason if reason in MESSAGES else getattr(error, "code", "invalid"))


def _name_problems(form: Any, error: DomainError, aliases: dict[str, str] | None = None) -> None:
    """Each refused field's message under its field (`aliases`: the service's name -> the form's);
    a refusal naming no field of the form is flashed."""
    named = False
    for name, code in (getattr(error, "fields", None) or {}).items():
        target = getattr(form, (aliases or {}).get(name, name), None)
        if target is not None:
            target.errors = [*target.errors, message(code)]
            named = True
    if not named:
        flash(_problem(error), "danger")


def _network_names() -> dict[str, str]:
    arabic = current_locale_code() == "ar"
    rows = db.session.execute(select(Network.governorate, Network.name_ar if arabic else Network.name_en))
    return {g: n for g, n in rows}


def _filters() -> tuple[services.Scope, services.Window, str | None, dict[str, Any]]:
    """The scope, period and sector asked for in the query string (errors name the field)."""
    args = request.args
    for name in ("network", "from", "to", "sector", "compare"):
        if len(args.getlist(name)) > 1:
            raise InvalidInput("repeated_parameter", fields={name: "repeated"})
    scope = services.scope_for(db.session, current_user, args.get("network") or None)
    window = services.parse_window(args.get("from"), args.get("to"))
    sector = args.get("sector") or None
    if sector is not None and sector not in SECTORS:
        raise InvalidInput("invalid_sector", fields={"sector": "unknown"})
    if args.get("compare") not in (None, "", "1"):
        raise InvalidInput("invalid_compare", fields={"compare": "invalid"})
    values = {
        "compare": args.get("compare") == "1",
        "network": args.get("network", ""),
        "from": window.label[0],
        "to": window.label[1],
        "sector": sector or "",
    }
    return scope, window, sector, values


def _page_context(view: services.View, payload: dict[str, Any]) -> dict[str, Any]:
    from .charts import chart_data

    names = _network_names()
    charts = chart_data(payload, current_locale_code(), names)
    heat_classes = {
        chart["table"]: {
            f"{row['code']}|{cell['code']}": cell["class"] for row in chart["rows"] for cell in row["cells"]
        }
        for chart in charts
        if chart["type"] == "heatmap"
    }
    return {
        "view": view,
        "heat_classes": heat_classes,
        "payload": payload,
        "families": FAMILIES,
        "family_labels": FAMILY_LABELS,
        "indicators": INDICATORS,
        "dimensions": DIMENSIONS,
        "measures": MEASURES,
        "network_names": names,
        "charts": [c for c in charts if c["type"] != "heatmap"],
        "category_label": lambda dim, code: _category_label(dim, code, names),
    }


def _category_label(dim: str, code: str | None, names: dict[str, str]) -> str:
    if code is None:
        return _("Total")
    if dim == "governorate":
        return names.get(code, code)
    d = DIMENSIONS.get(dim)
    if d is None or d.labels is None:
        return code
    return str(d.labels().get(code, code))


@statistics_bp.get("")
def index() -> Any:
    if not services.may_compute(current_user):
        return redirect(url_for("statistics.releases_index"))
    try:
        scope, window, sector, values = _filters()
        view, payload = reporting(
            lambda read: services.live(
                db.session, current_user, scope, window, sector=sector, compare=bool(values["compare"]), read=read
            )
        )
    except NotFound:
        abort(404)
    except DomainError as error:
        keep_on_error()
        return _filter_page(error), page_status(error)
    return render_template(
        "statistics/index.html",
        filters=values,
        networks=_choosable_networks(),
        sectors=[(s, SECTOR_LABELS[s]) for s in SECTORS],
        errors={},
        quick=_quick_periods(),
        **_page_context(view, payload),
    )


def _filter_page(error: DomainError) -> str:
    errors = {name: message(code) for name, code in (getattr(error, "fields", None) or {}).items()}
    values: dict[str, Any] = {k: request.args.get(k, "") for k in ("network", "from", "to", "sector")}
    values["compare"] = request.args.get("compare") == "1"
    return render_template(
        "statistics/index.html",
        filters=values,
        networks=_choosable_networks(),
        sectors=[(s, SECTOR_LABELS[s]) for s in SECTORS],
        errors=errors,
        quick=_quick_periods(),
        view=None,
    )


def _quick_periods() -> list[tuple[str, str, str]]:
    """(label, from, to) of the usual reporting periods (services.quick_windows)."""
    from ..models_base import utcnow

    labels = {
        "last_month": _("Last month"),
        "this_quarter": _("This quarter"),
        "last_quarter": _("Last quarter"),
        "this_year": _("This year"),
        "last_year": _("Last year"),
        "last_12_months": _("The last 12 months"),
    }
    return [(labels[key], *w.label) for key, w in services.quick_windows(utcnow().date()).items()]


def _choosable_networks() -> list[tuple[str, str]]:
    """The national coordinator chooses a network or the national view; nobody else does."""
    if getattr(current_user, "role", None) != "coordinator" or current_user.network_id is not None:
        return []
    names = _network_names()
    return [("national", _("All networks (national)")), *sorted(names.items())]


@statistics_bp.get("/export.<kind>")
def export(kind: str) -> Any:
    if kind not in EXPORT_TYPES or not services.may_compute(current_user):
        abort(404)
    try:
        scope, window, sector, _values = _filters()
        _view, payload = reporting(
            lambda read: services.live(
                db.session,
                current_user,
                scope,
                window,
                sector=sector,
                compare=bool(_values["compare"]),
                audit_action="statistics.export",
                read=read,
            )
        )
    except NotFound:
        abort(404)
    except DomainError as error:
        keep_on_error()
        return _filter_page(error), page_status(error)
    name = f"statistics-{services.scope_key(scope).replace(':', '-')}-{window.label[0]}-{window.label[1]}"
    return _download(payload, kind, name)


def _download(payload: dict[str, Any], kind: str, name: str) -> Response:
    from .exports import to_csv, to_xlsx

    names = _network_names()
    locale = current_locale_code()
    body: str | bytes = to_csv(payload, locale, names) if kind == "csv" else to_xlsx(payload, locale, names)
    response = Response(body, mimetype=EXPORT_TYPES[kind])
    response.headers["Content-Disposition"] = f'attachment; filename="{name}.{kind}"'
    response.headers["Cache-Control"] = "no-store"
    return response


# ------------------------------------------------------------------------------- releases
@statistics_bp.get("/releases")
def releases_index() -> Any:
    rows = releases.listing(db.session, current_user)
    form = PrepareForm() if getattr(current_user, "role", None) == "coordinator" else None
    return render_template("statistics/releases.html", rows=rows, form=form, **_release_list_context())


def _release_list_context() -> dict[str, Any]:
    return {
        "network_names": _network_names(),
        "state_labels": RELEASE_STATE_LABELS,
        "networks": _choosable_networks(),
    }


@statistics_bp.post("/releases")
def prepare() -> Any:
    form = PrepareForm()
    if getattr(current_user, "role", None) != "coordinator":
        abort(404)
    error: DomainError | None = None
    if form.validate():
        try:
            window = services.parse_window(form.period_from.data, form.period_to.data)
            release = releases.prepare(db.session, current_user, form.network.data or None, window)
        except NotFound:
            abort(404)
        except DomainError as exc:
            error = exc
        else:
            flash(_("The release was prepared. Review its numbers, then submit it to the members."), "success")
            return redirect(url_for("statistics.release", release_id=release.id), 303)
    if error is not None:
        _name_problems(form, error, {"from": "period_from", "to": "period_to"})
    keep_on_error()
    rows = releases.listing(db.session, current_user)
    status = page_status(error) if error is not None else 400
    return render_template("statistics/releases.html", rows=rows, form=form, **_release_list_context()), status


@statistics_bp.get("/releases/<release_id>")
def release(release_id: str) -> Any:
    try:
        found = releases.get(db.session, current_user, release_id)
    except NotFound:
        abort(404)
    return _release_page(found, DecisionForm())


def _release_page(found: Any, decision_form: DecisionForm, status: int = 200) -> Any:
    record("statistics.release_view", current_user, None, release_id=found.id)
    view = services.from_payload(found.payload)
    role = getattr(current_user, "role", None)
    approval = releases.approval_status(db.session, found)
    arabic = current_locale_code() == "ar"
    org_names = dict(
        db.session.execute(select(Organization.id, Organization.name_ar if arabic else Organization.name_en)).all()
    )
    mine = next(
        (a for a in found.approvals if a.organization_id == getattr(current_user, "organization_id", None)), None
    )
    context = {
        "release": found,
        "approval": approval,
        # the coordinator and the members asked see which organisations answered (never in the numbers)
        "org_names": org_names,
        "is_coordinator": releases._is_coordinator_of(current_user, found),
        "may_decide": role == "org_admin" and found.state == "in_review" and mine is None,
        "my_answer": mine,
        "decision_form": decision_form,
        "state_labels": RELEASE_STATE_LABELS,
    }
    return render_template("statistics/release.html", **context, **_page_context(view, found.payload)), status


@statistics_bp.post("/releases/<release_id>/submit")
def submit(release_id: str) -> Any:
    return _act(
        release_id,
        lambda: releases.submit(db.session, current_user, release_id),
        _("Sent to the members for approval."),
    )


@statistics_bp.post("/releases/<release_id>/publish")
def publish(release_id: str) -> Any:
    return _act(
        release_id, lambda: releases.publish(db.session, current_user, release_id), _("The release was published.")
    )


def _act(release_id: str, action: Any, done: str) -> Any:
    try:
        action()
    except NotFound:
        abort(404)
    except DomainError as error:
        keep_on_error()
        flash(_problem(error), "danger")
        found = releases.get(db.session, current_user, release_id)
        return _release_page(found, DecisionForm(), page_status(error))
    flash(done, "success")
    return redirect(url_for("statistics.release", release_id=release_id), 303)


@statistics_bp.post("/releases/<release_id>/decision")
def decide(release_id: str) -> Any:
    form = DecisionForm()
    try:
        found = releases.get(db.session, current_user, release_id)
    except NotFound:
        abort(404)
    if form.validate():
        try:
            releases.decide(db.session, current_user, release_id, form.decision.data, form.note.data or "")
        except NotFound:
            abort(404)
        except DomainError as error:
            _name_problems(form, error)
            keep_on_error()
            return _release_page(found, form, page_status(error))
        flash(_("Your organisation's answer was recorded."), "success")
        return redirect(url_for("statistics.release", release_id=release_id), 303)
    keep_on_error()
    return _release_page(found, form, 400)


@statistics_bp.get("/releases/<release_id>/export.<kind>")
def release_export(release_id: str, kind: str) -> Any:
    if kind not in EXPORT_TYPES:
        abort(404)
    try:
        found = releases.get(db.session, current_user, release_id)
    except NotFound:
        abort(404)
    record("statistics.release_export", current_user, None, release_id=found.id, format=kind)
    name = f"release-{found.scope_key.replace(':', '-')}-{found.period_first}-{found.period_last}-v{found.version}"
    return _download(found.payload, kind, name)


# ------------------------------------------------------------------------------- requests
@statistics_bp.get("/requests")
def requests_index() -> Any:
    try:
        rows = releases.requests_for(db.session, current_user)
    except Forbidden:
        abort(404)
    return _requests_page(rows, RequestForm())


def _requests_page(rows: list[Any], form: RequestForm, status: int = 200) -> Any:
    published = [r for r in releases.published(db.session, current_user, limit=500)]
    decision_forms = {}
    for row in rows:
        f = RequestDecisionForm(prefix=f"r{row.id[:8]}")
        f.release_id.choices = [SelectChoice("", _("None"))] + [
            SelectChoice(r.id, f"{r.period_first}..{r.period_last} v{r.version}")
            for r in published
            if r.scope_key == row.scope_key
        ]
        decision_forms[row.id] = f
    return (
        render_template(
            "statistics/requests.html",
            rows=rows,
            form=form,
            decision_forms=decision_forms,
            networks=_choosable_networks(),
            network_names=_network_names(),
        ),
        status,
    )


@statistics_bp.post("/requests")
def record_request() -> Any:
    try:
        rows = releases.requests_for(db.session, current_user)
    except Forbidden:
        abort(404)
    form = RequestForm()
    if form.validate():
        try:
            releases.record_request(
                db.session,
                current_user,
                {
                    "network": form.network.data or None,
                    "received_on": form.received_on.data,
                    "requester": form.requester.data,
                    "description": form.description.data,
                    "purpose": form.purpose.data,
                },
            )
        except NotFound:
            abort(404)
        except DomainError as error:
            _name_problems(form, error)
            keep_on_error()
            return _requests_page(rows, form, page_status(error))
        flash(_("The request was recorded."), "success")
        return redirect(url_for("statistics.requests_index"), 303)
    keep_on_error()
    return _requests_page(rows, form, 400)


@statistics_bp.post("/requests/<request_id>/decision")
def decide_request(request_id: str) -> Any:
    try:
        rows = releases.requests_for(db.session, current_user)
    except Forbidden:
        abort(404)
    row = next((r for r in rows if r.id == request_id), None)
    if row is None:
        abort(404)
    form = RequestDecisionForm(prefix=f"r{row.id[:8]}")
    form.release_id.choices = [SelectChoice("", "")]
    if form.validate():
        try:
            releases.decide_request(
                db.session,
                current_user,
                request_id,
                form.decision.data,
                form.decision_note.data or "",
                form.release_id.data or None,
            )
        except NotFound:
            abort(404)
        except DomainError as error:
            keep_on_error()
            for code in (getattr(error, "fields", None) or {}).values():
                flash(message(code), "danger")
            return _requests_page(rows, RequestForm(formdata=None), page_status(error))
        flash(_("The decision was recorded."), "success")
        return redirect(url_for("statistics.requests_index"), 303)
    keep_on_error()
    for errors in form.errors.values():
        for e in errors:
            flash(str(e), "danger")
    return _requests_page(rows, RequestForm(formdata=None), 400)
