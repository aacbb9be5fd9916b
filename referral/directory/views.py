"""Networks and member organisations: everyone signed in reads; sysadmins and coordinators manage."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user

from ..access.policy import can
from ..enums import ORG_KINDS, SECTORS
from ..errors import NotFound
from ..extensions import db
from ..forms_base import submit
from ..i18n import current_locale_code
from ..labels import KIND_LABELS, SECTOR_LABELS
from . import services
from .forms import MemberForm, NetworkEditForm, NetworkForm, OrganizationForm

directory_bp = Blueprint("directory", __name__)


def _actor() -> Any:
    return current_user._get_current_object()


def _require(action: str, obj: Any = None) -> None:
    if not can(_actor(), action, obj):
        raise NotFound("page")


def _name(obj: Any) -> str:
    return str(obj.name(current_locale_code()))


# ------------------------------------------------------------------------------ networks
@directory_bp.route("/networks")
def networks() -> str:
    nets = services.networks(db.session)
    counts = {n.id: len(n.memberships) for n in nets}
    return render_template("directory/networks.html", networks=nets, counts=counts)


@directory_bp.route("/networks/new", methods=["GET", "POST"])
def new_network() -> Any:
    _require("network.manage")
    form = NetworkForm()
    outcome = submit(
        form,
        lambda: services.create_network(
            db.session,
            _actor(),
            governorate=form.governorate.data or "",
            case_prefix=form.case_prefix.data or "",
            name_ar=form.name_ar.data or "",
            name_en=form.name_en.data or "",
        ),
    )
    if outcome.done:
        flash(_("The network was created."), "success")
        return redirect(url_for("directory.network", network_id=outcome.value.id))
    return render_template("directory/network_form.html", form=form, network=None), outcome.status


@directory_bp.route("/networks/<network_id>", methods=["GET", "POST"])
def network(network_id: str) -> Any:
    net = services.network(db.session, network_id)
    actor = _actor()
    manage = can(actor, "membership.manage", net)
    form = MemberForm(prefix="member")
    current = {o.id for o in services.members(db.session, net)}
    form.organization_id.choices = [(o.id, _name(o)) for o in services.organizations(db.session) if o.id not in current]
    outcome = (
        submit(
            form,
            lambda: services.add_member(
                db.session, actor, net, services.organization(db.session, form.organization_id.data)
            ),
        )
        if manage
        else None
    )
    if outcome is not None and outcome.done:
        flash(_("The organisation joined the network."), "success")
        return redirect(url_for("directory.network", network_id=net.id))
    return render_template(
        "directory/network.html",
        network=net,
        members=services.members(db.session, net),
        form=form,
        manage=manage,
        edit=can(actor, "network.manage"),
    ), (outcome.status if outcome is not None else 200)


@directory_bp.route("/networks/<network_id>/members/<organization_id>/remove", methods=["POST"])
def remove_member(network_id: str, organization_id: str) -> Any:
    net = services.network(db.session, network_id)
    services.remove_member(db.session, _actor(), net, services.organization(db.session, organization_id))
    flash(_("The organisation left the network."), "success")
    return redirect(url_for("directory.network", network_id=net.id))


@directory_bp.route("/networks/<network_id>/edit", methods=["GET", "POST"])
def edit_network(network_id: str) -> Any:
    _require("network.manage")
    net = services.network(db.session, network_id)
    form = NetworkEditForm(obj=net)
    outcome = submit(
        form,
        lambda: services.update_network(
            db.session,
            _actor(),
            net,
            name_ar=form.name_ar.data or "",
            name_en=form.name_en.data or "",
            active=bool(form.active.data),
        ),
    )
    if outcome.done:
        flash(_("The network was saved."), "success")
        return redirect(url_for("directory.network", network_id=net.id))
    return render_template("directory/network_form.html", form=form, network=net), outcome.status


# ------------------------------------------------------------------------------ organisations
@directory_bp.route("/organizations")
def organizations() -> str:
    orgs = services.organizations(db.session, active_only=not can(_actor(), "organization.manage"))
    return render_template("directory/organizations.html", organizations=orgs)


def _organization_form(obj: Any = None) -> OrganizationForm:
    form = OrganizationForm(obj=obj)
    form.kind.choices = [(k, str(KIND_LABELS[k])) for k in ORG_KINDS]
    form.sectors.choices = [(s, str(SECTOR_LABELS[s])) for s in SECTORS]
    form.governorates.choices = [(n.governorate, _name(n)) for n in services.networks(db.session)]
    return form


def _organization_input(form: OrganizationForm) -> services.OrganizationInput:
    return services.OrganizationInput(
        name_ar=form.name_ar.data or "",
        name_en=form.name_en.data or "",
        kind=form.kind.data or "",
        sectors=list(form.sectors.data or []),
        governorates=list(form.governorates.data or []),
        accepts_referrals=bool(form.accepts_referrals.data),
    )


@directory_bp.route("/organizations/new", methods=["GET", "POST"])
def new_organization() -> Any:
    _require("organization.manage")
    form = _organization_form()
    outcome = submit(form, lambda: services.create_organization(db.session, _actor(), _organization_input(form)))
    if outcome.done:
        flash(_("The organisation was created."), "success")
        return redirect(url_for("directory.organizations"))
    return render_template("directory/organization_form.html", form=form, organization=None), outcome.status


@directory_bp.route("/organizations/<organization_id>/edit", methods=["GET", "POST"])
def edit_organization(organization_id: str) -> Any:
    _require("organization.manage")
    org = services.organization(db.session, organization_id)
    form = _organization_form(org)
    outcome = submit(
        form,
        lambda: services.update_organization(
            db.session, _actor(), org, _organization_input(form), bool(form.active.data)
        ),
    )
    if outcome.done:
        flash(_("The organisation was saved."), "success")
        return redirect(url_for("directory.organizations"))
    return render_template("directory/organization_form.html", form=form, organization=org), outcome.status
