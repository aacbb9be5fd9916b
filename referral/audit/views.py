"""The auditors' workspace on the web: search, a case's access history, a user's timeline, the
flags, the CSV export and the chain's verification. Thin: the rules are in `search.py`.

Every page but the case history is for auditors only; anyone else gets "not found" (and the
attempt is recorded). The case history is also open to the supervisors of the case's own
organisation, from the case page's "Access history" link. Names shown here are usernames and
organisation names, never anything from a case.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from flask import Blueprint, Response, flash, redirect, render_template, request, stream_with_context, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from ..access.policy import can
from ..accounts.models import User
from ..directory.models import Organization
from ..errors import Forbidden, InvalidInput, NotFound, error_response
from ..extensions import db
from ..i18n import current_locale_code
from ..labels import message
from ..models_base import get_by_id
from ..replica import reporting, reporting_session
from . import chain, labels, search
from .actions import ACTIONS, OUTCOMES

audit_bp = Blueprint("audit", __name__, url_prefix="/audit")

OUTCOME_LABELS = {"success": _l("Success"), "failure": _l("Failure"), "denied": _l("Denied")}
# What the verifier's problem codes (chain.VerifyResult.problem) mean to an auditor.
PROBLEM_LABELS = {
    "gap": _l("an event is missing"),
    "link": _l("an event was inserted, removed or moved"),
    "hash": _l("an event was changed"),
    "checkpoint_hash": _l("a checkpoint does not match the chain"),
    "checkpoint_signature": _l("a checkpoint's signature is not valid"),
    "checkpoint_key": _l("a checkpoint was signed with an unknown key"),
    "truncated": _l("events after the chain's end were removed"),
}
FLAG_LABELS = {
    "breakglass": _l("Emergency access (break-the-glass)"),
    "consent_override": _l("Shared without consent (override)"),
    "denied": _l("Refused access attempts"),
    "high_rate": _l("Reveals and identifier searches above the normal rate"),
    "out_of_hours": _l("Case data opened outside working hours"),
    "export": _l("Exports and printouts"),
    "integrity": _l("Stored values that failed their integrity check"),
}
_MESSAGES = {
    "before_since": _l("The end must come after the start."),
    "window_too_long": _l("Choose a period of at most 31 days."),
    "no_such_user": _l("No user has this username."),
}


def _actor() -> Any:
    return current_user._get_current_object()


def _text(code: str) -> str:
    return str(_MESSAGES[code]) if code in _MESSAGES else message(code)


@audit_bp.errorhandler(Forbidden)
def _not_for_you(error: Forbidden) -> Response:
    """Pages of the trail answer "not found" to anyone who may not read it (the service has
    recorded the attempt)."""
    return error_response(404)


@audit_bp.record_once
def _install(state: Any) -> None:
    state.app.jinja_env.filters["audit_time"] = audit_time
    state.app.jinja_env.globals.update(
        outcome_label=lambda code: str(OUTCOME_LABELS.get(code, code)),
        flag_label=lambda code: str(FLAG_LABELS.get(code, code)),
        audit_action_label=labels.action_label,
        audit_object_label=labels.object_label,
        audit_area_label=labels.area_label,
        audit_details=labels.details_labelled,
    )


def audit_time(value: datetime | None) -> str:
    """An event's time on the reader's clock (her own zone, else her network's), to the second."""
    from .. import timefmt

    return timefmt.local_time(value, seconds=True)


def _require_auditor() -> Any:
    actor = _actor()
    if not can(actor, "audit.read"):
        from .services import record_denial

        record_denial(actor, "audit_trail", request.endpoint or "audit", session=db.session)
        raise NotFound("page")
    return actor


# ---------------------------------------------------------------------------------- names
def _names(events: Iterable[Any], also_users: Iterable[str] = ()) -> dict[str, dict[str, str]]:
    """Usernames and organisation names of the actors, organisations and staff on the page, in one
    query for the users and one for the organisations however many rows the page has."""
    events = list(events)
    users = {e.actor_id for e in events if e.actor_id} | set(also_users)
    orgs = {o for e in events for o in (e.organization_id, e.actor_organization_id) if o}
    for e in events:  # staff and organisations named in the details (never anything of a case)
        in_users, in_orgs = labels.detail_ids(e.details)
        users |= in_users
        orgs |= in_orgs
    return _resolve(users, orgs)


def _resolve(users: set[str], orgs: set[str]) -> dict[str, dict[str, str]]:
    """Usernames and organisation names by id: one query for the users, one for the organisations
    (ids that are not well-formed are left out: they name no one)."""
    users, orgs = _well_formed(users), _well_formed(orgs)
    locale = current_locale_code()
    names: dict[str, dict[str, str]] = {"users": {}, "orgs": {}}
    if users:
        rows = db.session.execute(select(User.id, User.username).where(User.id.in_(users)))
        names["users"] = {str(uid): name for uid, name in rows}
    if orgs:
        found = db.session.execute(
            select(Organization.id, Organization.name_column(locale)).where(Organization.id.in_(orgs))
        )
        names["orgs"] = {str(oid): name for oid, name in found}
    return names


def _well_formed(ids: set[str]) -> set[str]:
    import uuid

    kept = set()
    for value in ids:
        try:
            kept.add(str(uuid.UUID(str(value))))
        except ValueError:
            continue
    return kept


def _organisations() -> list[tuple[str, str]]:
    column = Organization.name_column(current_locale_code())
    rows = db.session.execute(select(Organization.id, column))  # the two columns, not 120 whole rows
    return sorted(((str(i), n) for i, n in rows), key=lambda r: r[1])


def _action_choices() -> list[str]:
    domains = sorted({name.split(".", 1)[0] for name in ACTIONS})
    return [f"{d}.*" for d in domains] + sorted(ACTIONS)


def _form_filters(args: MultiDict[str, str]) -> tuple[search.Filters, dict[str, str], dict[str, str]]:
    """Filters from the search form (a username for the user), the values to show back in the
    form, and the problems by field."""
    shown = {k: (args.get(k) or "").strip() for k in ("user", *search.Filters.__dataclass_fields__) if k != "user_id"}
    values: dict[str, Any] = {k: v for k, v in shown.items() if k != "user" and v}
    problems: dict[str, str] = {}
    if shown["user"]:
        user_id = db.session.scalar(select(User.id).where(User.username == shown["user"].lower()))
        if user_id is None:
            problems["user"] = _text("no_such_user")
        else:
            values["user_id"] = user_id
    elif args.get("user_id"):
        values["user_id"] = args["user_id"]
        user = get_by_id(db.session, User, args["user_id"])
        shown["user"] = user.username if user is not None else ""
    try:
        filters = search.parse_filters(values)
    except InvalidInput as error:
        problems.update({name: _text(code) for name, code in error.fields.items()})
        filters = search.Filters()
    return filters, shown, problems


def _limit() -> int:
    try:
        return min(max(int(request.args.get("limit", search.DEFAULT_LIMIT)), 1), search.MAX_LIMIT)
    except ValueError:
        return search.DEFAULT_LIMIT


def _cursor() -> str | None:
    return request.args.get("cursor") or None


# ---------------------------------------------------------------------------------- pages
@audit_bp.get("")
def index() -> Any:
    """Search the trail by user, organisation, case code, action, outcome, time and flag."""
    actor = _require_auditor()
    filters, shown, problems = _form_filters(request.args)
    page = None
    status = 200
    if problems:
        status = 400
    else:
        try:
            page = reporting(
                lambda read: search.search(db.session, actor, filters, limit=_limit(), cursor=_cursor(), read=read)
            )
        except InvalidInput as error:
            problems.update({name: _text(code) for name, code in error.fields.items()})
            status = 400
    return render_template(
        "audit/index.html",
        filters=filters,
        shown=shown,
        problems=problems,
        page=page,
        names=_names(page.items if page else []),
        organisations=_organisations(),
        actions=_action_choices(),
        outcomes=OUTCOMES,
        flag_kinds=search.LISTED_FLAGS,
        read_actions=search.READ_ACTIONS,
    ), status


@audit_bp.post("/export")
def export_csv() -> Any:
    """The events matching the posted filters as CSV, streamed: every column as stored (codes and
    ids, for machines), then label and name columns in the auditor's language (CSV_LABEL_COLUMNS).
    The export is recorded with its filters and row count before the first byte."""
    actor = _require_auditor()
    filters, shown, problems = _form_filters(request.form)
    if problems:
        flash(_("The export was not made: check the filters."), "danger")
        args: dict[str, Any] = {k: v for k, v in shown.items() if v}
        return redirect(url_for("audit.index", **args), 303)
    job = reporting(lambda read: search.export(db.session, actor, filters, read=read))
    current_locale_code()  # settled now: the rows stream after the request's session has closed
    response = Response(
        stream_with_context(search.csv_lines(reporting_session(), job, (CSV_LABEL_COLUMNS, _csv_labels))),
        content_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{search.export_filename()}"',
            "Cache-Control": "no-store",
            "X-Audit-Rows": str(job.rows),
        },
    )
    return response


# The export's columns for people, after the stored ones (which keep the codes, for machines):
# the labels in the exporting auditor's language and the names of users and organisations.
CSV_LABEL_COLUMNS = (
    "action_label",
    "outcome_label",
    "actor_username",
    "actor_role_label",
    "actor_organization_name",
    "organization_name",
    "object_type_label",
    "route_area_label",
    "details_labelled",
)


def _csv_labels(rows: Any) -> list[list[str]]:
    """The label columns of a batch of exported rows: names resolved once for the batch."""
    from ..labels import ROLE_LABELS

    users: set[str] = set()
    orgs: set[str] = set()
    for row in rows:
        if row.actor_id:
            users.add(row.actor_id)
        orgs.update(o for o in (row.actor_organization_id, row.organization_id) if o)
        in_users, in_orgs = labels.detail_ids(row.details)
        users |= in_users
        orgs |= in_orgs
    names = _resolve(users, orgs)
    out = []
    for row in rows:
        details = "; ".join(f"{k}: {v}" for k, v in labels.details_labelled(row.details, names))
        out.append(
            [
                labels.action_label(row.action),
                str(OUTCOME_LABELS.get(row.outcome, row.outcome)),
                names["users"].get(str(row.actor_id), "") if row.actor_id else "",
                str(ROLE_LABELS.get(row.actor_role, row.actor_role)) if row.actor_role else "",
                names["orgs"].get(str(row.actor_organization_id), "") if row.actor_organization_id else "",
                names["orgs"].get(str(row.organization_id), "") if row.organization_id else "",
                labels.object_label(row.object_type) if row.object_type else "",
                labels.area_label(row.route) if row.route else "",
                details,
            ]
        )
    return out


@audit_bp.get("/cases/<case_code>")
def case_history(case_code: str) -> Any:
    """Who opened or changed this case (auditors; supervisors of the case's organisation)."""
    history = reporting(
        lambda read: search.case_history(db.session, _actor(), case_code, limit=_limit(), cursor=_cursor(), read=read)
    )
    case_id = None
    if history.organization_id is not None:  # a supervisor: link back to her case
        from ..cases.models import Case

        case_id = db.session.scalar(select(Case.id).where(Case.case_code == history.case_code))
    return render_template(
        "audit/case_history.html",
        history=history,
        case_id=case_id,
        names=_names([*history.page.items, *history.denied]),
        read_actions=search.READ_ACTIONS,
        auditor=can(_actor(), "audit.read"),
    )


@audit_bp.get("/users/<user_id>")
def user_history(user_id: str) -> Any:
    """One user's activity, newest first (auditors)."""
    actor = _require_auditor()
    user = get_by_id(db.session, User, user_id)
    try:
        filters = search.parse_filters({k: v for k, v in request.args.items() if k in ("action", "since", "until")})
    except InvalidInput:
        filters = search.Filters()
    page = reporting(
        lambda read: search.user_history(
            db.session, actor, user_id, filters, limit=_limit(), cursor=_cursor(), read=read
        )
    )
    return render_template(
        "audit/user_history.html",
        user=user,
        user_id=user_id,
        filters=filters,
        page=page,
        names=_names(page.items),
        read_actions=search.READ_ACTIONS,
    )


@audit_bp.get("/flags")
def flags() -> Any:
    """What calls for a look in a period (default: the last 7 days)."""
    actor = _require_auditor()
    problems: dict[str, str] = {}
    since = until = None
    shown = {k: (request.args.get(k) or "").strip() for k in ("since", "until")}
    try:
        parsed = search.parse_filters({k: v for k, v in shown.items() if v})
        since, until = parsed.since, parsed.until
        report = reporting(lambda read: search.flags(db.session, actor, since, until, read=read))
    except InvalidInput as error:
        problems = {name: _text(code) for name, code in error.fields.items()}
        report = reporting(lambda read: search.flags(db.session, actor, read=read))
    events = [e for f in report.lists.values() for e in f.events]
    names = _names(events, also_users={r.actor_id for r in report.rates})
    return render_template(
        "audit/flags.html",
        report=report,
        names=names,
        shown=shown,
        problems=problems,
        window_since=report.since.astimezone(search.WORK_ZONE).date().isoformat(),
        window_until=report.until.astimezone(search.WORK_ZONE).date().isoformat(),
        timestamp=search.timestamp,
        rate_per_hour=search.RATE_PER_HOUR,
    ), (400 if problems else 200)


@audit_bp.route("/verify", methods=["GET", "POST"])
def verify() -> Any:
    """The last verification (nightly, or asked for) and the chain's head and last checkpoint;
    POST runs the verifier now (about 10 µs an event) and records it."""
    actor = _require_auditor()
    if request.method == "POST":
        chain.record_verification(db.session, actor, chain.verify(db.session))
        db.session.flush()
    last = search.last_verification(db.session)
    by = get_by_id(db.session, User, last.actor_id) if last is not None and last.actor_id else None
    return render_template(
        "audit/verify.html",
        last=last,
        by=by,
        state=search.chain_state(db.session),
        ran_now=request.method == "POST",
        problem=PROBLEM_LABELS.get(last.problem or "") if last is not None else None,
    )
