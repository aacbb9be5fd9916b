"""Case transfer pages: ask to transfer a case, the organisation's incoming and outgoing
transfers (the old owner's record of cases it transferred), and one transfer with the answers
each side may give. Thin: the rules are in `transfers.py`."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from ..access.policy import can
from ..accounts.models import User
from ..cases import consent as consents
from ..cases import services as cases
from ..directory.models import Organization
from ..errors import NotFound
from ..extensions import db
from ..forms_base import submit
from ..i18n import list_join
from ..labels import DECLINE_REASON_LABELS, LEGAL_BASIS_LABELS, TRANSFER_STATE_LABELS
from ..timefmt import local_date
from . import transfers
from .forms import TransferAcceptForm, TransferDeclineForm, TransferForm
from .models import DECLINE_REASONS
from .services import LEGAL_BASES
from .views import _labels, _org_name, _organizations, referral_label

transfers_bp = Blueprint("transfers", __name__)


def _actor() -> Any:
    return current_user._get_current_object()


@transfers_bp.app_template_global()
def transfer_label(kind: str, code: str | None) -> str:
    table = {"state": TRANSFER_STATE_LABELS, "basis": LEGAL_BASIS_LABELS, "decline": DECLINE_REASON_LABELS}[kind]
    return str(table.get(code or "", code or "—"))


def _usernames(ids: set[str]) -> dict[str, str]:
    ids = {i for i in ids if i}
    if not ids:
        return {}
    return dict(db.session.execute(select(User.id, User.username).where(User.id.in_(ids))).all())  # type: ignore[arg-type]


# ------------------------------------------------------------------------------ ask
@transfers_bp.route("/cases/<case_id>/transfer", methods=["GET", "POST"])
def new(case_id: str) -> Any:
    actor = _actor()
    case = cases.view_case(db.session, actor, case_id)
    if not can(actor, "case.transfer", case):
        raise NotFound("case")
    pending = transfers.pending_for(db.session, case)
    form = TransferForm()
    others = db.session.scalars(
        select(Organization)
        .where(Organization.active.is_(True), Organization.id != case.organization_id)
        .order_by(Organization.name_en)
    )
    form.to_organization_id.choices = [("", "—")] + [(o.id, _org_name(o)) for o in others]
    valid = [c for c in consents.consents(db.session, case) if consents.is_valid(c, case)]
    form.consent_id.choices = [("", "—")] + [
        (c.id, f"{local_date(c.recorded_at)} · {list_join(referral_label('group', g) for g in c.field_groups)}")
        for c in valid
    ]
    may_override = can(actor, "consent.override", case)
    form.override_legal_basis.choices = [("", "—")] + (_labels(LEGAL_BASES, LEGAL_BASIS_LABELS) if may_override else [])
    outcome = submit(
        form,
        lambda: transfers.request_transfer(
            db.session,
            actor,
            transfers.TransferInput(
                case_id=case.id,
                to_organization_id=form.to_organization_id.data or "",
                reason=form.reason.data or "",
                consent_id=form.consent_id.data or None,
                override_legal_basis=form.override_legal_basis.data or None,
            ),
        ),
    )
    if outcome.done:
        flash(_("The transfer was requested. The receiving organisation's supervisors were told."), "success")
        return redirect(url_for("transfers.show", transfer_id=outcome.value.id), 303)
    return render_template(
        "referrals/transfer_form.html",
        case=case,
        form=form,
        pending=pending,
        may_override=may_override,
        closed=case.status in transfers.CLOSED_CASE_STATUSES,
    ), outcome.status


# ------------------------------------------------------------------------------ lists and one transfer
@transfers_bp.get("/transfers")
def index() -> Any:
    actor = _actor()
    box = request.args.get("box", "incoming")
    rows = transfers.listing(db.session, actor, box)
    parties = {r.from_organization_id for r in rows} | {r.to_organization_id for r in rows}
    return render_template(
        "referrals/transfers.html",
        box=box,
        transfers=rows,
        organizations=_organizations(parties),
        names=_usernames({r.requested_by for r in rows if r.from_organization_id == actor.organization_id}),
    )


def _render(
    transfer: Any,
    accept_form: TransferAcceptForm | None = None,
    decline_form: TransferDeclineForm | None = None,
    status: int = 200,
) -> Any:
    actor = _actor()
    answerable = transfer.state == "requested" and can(actor, "transfer.answer", transfer)
    accept_form = accept_form or TransferAcceptForm(formdata=None)
    decline_form = decline_form or TransferDeclineForm(formdata=None)
    staff = db.session.execute(
        select(User.id, User.username)
        .where(
            User.organization_id == transfer.to_organization_id,
            User.active.is_(True),
            User.role.in_(transfers.NEW_OWNER_ROLES),
        )
        .order_by(User.username)
    ).all()
    accept_form.new_owner_id.choices = [(uid, name) for uid, name in staff] if answerable else []
    decline_form.reason_code.choices = [("", "—"), *_labels(DECLINE_REASONS, DECLINE_REASON_LABELS)]
    ours = actor.organization_id == transfer.from_organization_id
    names = _usernames({transfer.requested_by, transfer.answered_by or "", transfer.new_owner_id or ""})
    return render_template(
        "referrals/transfer.html",
        transfer=transfer,
        ours=ours,
        answerable=answerable,
        cancellable=transfer.state == "requested" and can(actor, "transfer.cancel", transfer),
        show_reason=transfers.shows_reason(actor, transfer),
        case_is_ours=transfer.case.organization_id == actor.organization_id and can(actor, "case.view", transfer.case),
        accept_form=accept_form,
        decline_form=decline_form,
        names=names,
        organizations=_organizations({transfer.from_organization_id, transfer.to_organization_id}),
    ), status


@transfers_bp.get("/transfers/<transfer_id>")
def show(transfer_id: str) -> Any:
    return _render(transfers.view(db.session, _actor(), transfer_id))


@transfers_bp.post("/transfers/<transfer_id>/accept")
def accept(transfer_id: str) -> Any:
    actor = _actor()
    transfer = transfers.visible(db.session, actor, transfer_id)
    form = TransferAcceptForm()
    form.new_owner_id.choices = [(form.new_owner_id.data or "", "")]  # the service checks who it is
    outcome = submit(form, lambda: transfers.accept(db.session, actor, transfer.id, form.new_owner_id.data or ""))
    if outcome.done:
        flash(_("The case is now your organisation's."), "success")
        return redirect(url_for("cases.show", case_id=outcome.value.case_id), 303)
    # the refused answer was undone by `submit`; the page shown again is a view, and stays recorded
    shown = transfers.view(db.session, actor, transfer_id)
    return _render(shown, accept_form=form, status=outcome.status)


@transfers_bp.post("/transfers/<transfer_id>/decline")
def decline(transfer_id: str) -> Any:
    actor = _actor()
    transfer = transfers.visible(db.session, actor, transfer_id)
    form = TransferDeclineForm()
    form.reason_code.choices = [("", "—"), *_labels(DECLINE_REASONS, DECLINE_REASON_LABELS)]
    outcome = submit(form, lambda: transfers.decline(db.session, actor, transfer.id, form.reason_code.data or None))
    if outcome.done:
        flash(_("The transfer was declined."), "success")
        return redirect(url_for("transfers.show", transfer_id=transfer.id), 303)
    shown = transfers.view(db.session, actor, transfer_id)
    return _render(shown, decline_form=form, status=outcome.status)


@transfers_bp.post("/transfers/<transfer_id>/cancel")
def cancel(transfer_id: str) -> Any:
    transfer = transfers.cancel(db.session, _actor(), transfer_id)
    flash(_("The transfer was cancelled."), "success")
    return redirect(url_for("transfers.show", transfer_id=transfer.id), 303)
