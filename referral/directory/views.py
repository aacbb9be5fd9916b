"""Networks, member organisations and their services: everyone signed in reads; sysadmins and
coordinators manage networks, org admins their own organisation's services."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from ..access.policy import can
from ..enums import ORG_KINDS, SECTORS
from ..errors import NotFound
from ..extensions import db
from ..forms_base import submit
from ..i18n import current_locale_code
from ..labels import CAPACITY_LABELS, KIND_LABELS, SECTOR_LABELS, SERVICE_LANGUAGE_LABELS, WEEKDAY_LABELS
from . import services
from .forms import (
    CalendarForm,
    HolidayForm,
    MemberForm,
    NetworkEditForm,
    NetworkForm,
    OrganizationEntryForm,
    OrganizationForm,
    ServiceForm,
)
from .models import CAPACITY_STATUSES, SERVICE_LANGUAGES, Network, Service

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
        weekday_labels=WEEKDAY_LABELS,
        holiday_count=len(services.holidays(db.session, net)),
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


# ------------------------------------------------------------------------------ calendars
def _calendar_form(net: Network, *, posted: bool = False) -> CalendarForm:
    """The weekend and time-zone form, filled from the network unless it is the one posted."""
    stored = {"weekend_days": net.weekend_days, "time_zone": net.time_zone}
    form = CalendarForm(prefix="calendar", data=stored, **({} if posted else {"formdata": None}))
    form.weekend_days.choices = [(day, str(label)) for day, label in WEEKDAY_LABELS.items()]
    return form


def _calendar_page(net: Network, calendar_form: CalendarForm, holiday_form: HolidayForm, status: int = 200) -> Any:
    return render_template(
        "directory/network_calendar.html",
        network=net,
        calendar_form=calendar_form,
        holiday_form=holiday_form,
        holidays=services.holidays(db.session, net),
        weekday_labels=WEEKDAY_LABELS,
        manage=can(_actor(), "network.calendar", net),
    ), status


@directory_bp.route("/networks/<network_id>/calendar", methods=["GET", "POST"])
def network_calendar(network_id: str) -> Any:
    """Everyone signed in reads a network's calendar; its coordinator (or a sysadmin) changes it."""
    net = services.network(db.session, network_id)
    calendar_form = _calendar_form(net, posted=request.method == "POST")
    holiday_form = HolidayForm(prefix="holiday", formdata=None)
    if request.method == "GET":
        return _calendar_page(net, calendar_form, holiday_form)
    services.require_calendar_manager(_actor(), net)
    outcome = submit(
        calendar_form,
        lambda: services.update_calendar(
            db.session,
            _actor(),
            net,
            weekend_days=list(calendar_form.weekend_days.data or []),
            time_zone=calendar_form.time_zone.data or "",
        ),
    )
    if outcome.done:
        flash(_("The calendar was saved."), "success")
        return redirect(url_for("directory.network_calendar", network_id=net.id))
    return _calendar_page(net, calendar_form, holiday_form, outcome.status)


@directory_bp.route("/networks/<network_id>/holidays", methods=["POST"])
def add_holiday(network_id: str) -> Any:
    net = services.network(db.session, network_id)
    services.require_calendar_manager(_actor(), net)
    holiday_form = HolidayForm(prefix="holiday")
    outcome = submit(
        holiday_form,
        lambda: services.add_holiday(
            db.session,
            _actor(),
            net,
            day=holiday_form.day.data,
            name_ar=holiday_form.name_ar.data or "",
            name_en=holiday_form.name_en.data or "",
        ),
    )
    if outcome.done:
        flash(_("The holiday was added."), "success")
        return redirect(url_for("directory.network_calendar", network_id=net.id))
    return _calendar_page(net, _calendar_form(net), holiday_form, outcome.status)


@directory_bp.route("/networks/<network_id>/holidays/<holiday_id>/remove", methods=["POST"])
def remove_holiday(network_id: str, holiday_id: str) -> Any:
    net = services.network(db.session, network_id)
    services.remove_holiday(db.session, _actor(), net, holiday_id)
    flash(_("The holiday was removed."), "success")
    return redirect(url_for("directory.network_calendar", network_id=net.id))


# ------------------------------------------------------------------------------ organisations
@directory_bp.route("/organizations")
def organizations() -> str:
    orgs = services.organizations(db.session, active_only=not can(_actor(), "organization.manage"))
    return render_template("directory/organizations.html", organizations=orgs)


def _organization_form(obj: Any = None, *, entry_only: bool = False) -> OrganizationForm:
    form = OrganizationEntryForm(obj=obj) if entry_only else OrganizationForm(obj=obj)
    if not entry_only:
        form.kind.choices = [(k, str(KIND_LABELS[k])) for k in ORG_KINDS]
    form.sectors.choices = [(s, str(SECTOR_LABELS[s])) for s in SECTORS]
    form.governorates.choices = [(n.governorate, _name(n)) for n in services.networks(db.session)]
    return form


def _organization_input(form: OrganizationForm) -> services.OrganizationInput:
    return services.OrganizationInput(
        name_ar=form.name_ar.data or "",
        name_en=form.name_en.data or "",
        kind=(form.kind.data or "") if form.kind is not None else "",
        sectors=list(form.sectors.data or []),
        governorates=list(form.governorates.data or []),
        accepts_referrals=bool(form.accepts_referrals.data),
        description_ar=form.description_ar.data or "",
        description_en=form.description_en.data or "",
        phone=form.phone.data or "",
        email=form.email.data or "",
        website=form.website.data or "",
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
    """The system admin edits any organisation; an org admin her own organisation's directory
    entry (not its kind or state); anyone else: not found."""
    if not can(_actor(), "organization.manage"):
        return _edit_own_entry(organization_id)
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


def _edit_own_entry(organization_id: str) -> Any:
    org = services.own_entry(db.session, _actor(), organization_id)
    form = _organization_form(org, entry_only=True)
    outcome = submit(form, lambda: services.update_entry(db.session, _actor(), org, _organization_input(form)))
    if outcome.done:
        flash(_("Your organisation's directory entry was saved."), "success")
        return redirect(url_for("directory.edit_organization", organization_id=org.id))
    return render_template(
        "directory/organization_form.html", form=form, organization=org, entry_only=True
    ), outcome.status


# ------------------------------------------------------------------------------ services
def _service_labels() -> dict[str, Any]:
    return {
        "capacity_labels": CAPACITY_LABELS,
        "language_labels": SERVICE_LANGUAGE_LABELS,
        "governorate_names": {n.governorate: _name(n) for n in services.networks(db.session)},
    }


def _directory_filters() -> services.ServiceFilters:
    """The search and filters from the query string; a value that is not a known code is ignored."""
    args = request.args
    known = {
        "sector": SECTORS,
        "governorate": tuple(services.governorate_codes(db.session)),
        "capacity_status": CAPACITY_STATUSES,
        "language": SERVICE_LANGUAGES,
    }
    chosen = {name: args.get(name, "") if args.get(name, "") in codes else "" for name, codes in known.items()}
    return services.ServiceFilters(q=args.get("q", "").strip()[:100], **chosen)


@directory_bp.route("/services")
def service_directory() -> str:
    filters = _directory_filters()
    found = services.search_services(db.session, _actor(), filters, include_inactive=True)
    return render_template(
        "directory/services.html",
        services=found,
        filters=filters,
        searched=any(vars(filters).values()),
        sector_choices=[(s, str(SECTOR_LABELS[s])) for s in SECTORS],
        governorate_choices=[(n.governorate, _name(n)) for n in services.networks(db.session)],
        capacity_choices=[(c, str(CAPACITY_LABELS[c])) for c in CAPACITY_STATUSES],
        language_choices=[(code, str(SERVICE_LANGUAGE_LABELS[code])) for code in SERVICE_LANGUAGES],
        **_service_labels(),
    )


@directory_bp.route("/services/<uuid:service_id>")
def service_detail(service_id: Any) -> str:
    found = services.service(db.session, _actor(), str(service_id))
    return render_template("directory/service.html", service=found, **_service_labels())


def _service_form(obj: Service | None = None) -> ServiceForm:
    form = ServiceForm(obj=obj)
    actor = _actor()
    if obj is not None:
        del form.organization_id  # a service stays with its organisation
        if not form.is_submitted():
            form.address.data = obj.public_address or ""  # a confidential location is never shown
    else:
        form.organization_id.choices = [
            (o.id, _name(o)) for o in services.organizations(db.session) if can(actor, "service.manage", o)
        ]
        if actor.role != "sysadmin" and not form.is_submitted():
            form.organization_id.data = actor.organization_id
    form.sector.choices = [(s, str(SECTOR_LABELS[s])) for s in SECTORS]
    form.governorates.choices = [(n.governorate, _name(n)) for n in services.networks(db.session)]
    form.languages.choices = [(code, str(SERVICE_LANGUAGE_LABELS[code])) for code in SERVICE_LANGUAGES]
    form.capacity_status.choices = [(c, str(CAPACITY_LABELS[c])) for c in CAPACITY_STATUSES]
    return form


def _service_input(form: ServiceForm) -> services.ServiceInput:
    return services.ServiceInput(
        name_ar=form.name_ar.data or "",
        name_en=form.name_en.data or "",
        description_ar=form.description_ar.data or "",
        description_en=form.description_en.data or "",
        sector=form.sector.data or "",
        governorates=list(form.governorates.data or []),
        languages=list(form.languages.data or []),
        eligibility=form.eligibility.data or "",
        opening_hours=form.opening_hours.data or "",
        capacity_status=form.capacity_status.data or "",
        accepting_referrals=bool(form.accepting_referrals.data),
        confidential_location=bool(form.confidential_location.data),
        front_door=form.front_door.data or "",
        address=form.address.data or "",
        focal_points=[dict(entry.data) for entry in form.focal_points],
    )


@directory_bp.route("/services/new", methods=["GET", "POST"])
def new_service() -> Any:
    _require("service.manage")
    form = _service_form()
    outcome = submit(
        form,
        lambda: services.create_service(
            db.session,
            _actor(),
            services.organization(db.session, form.organization_id.data),
            _service_input(form),
        ),
    )
    if outcome.done:
        flash(_("The service was added to the directory."), "success")
        return redirect(url_for("directory.service_detail", service_id=outcome.value.id))
    return render_template("directory/service_form.html", form=form, service=None), outcome.status


@directory_bp.route("/services/<uuid:service_id>/edit", methods=["GET", "POST"])
def edit_service(service_id: Any) -> Any:
    found = services.service(db.session, _actor(), str(service_id))
    _require("service.manage", found)
    form = _service_form(found)
    outcome = submit(
        form,
        lambda: services.update_service(
            db.session, _actor(), found, _service_input(form), active=bool(form.active.data)
        ),
    )
    if outcome.done:
        flash(_("The service was saved."), "success")
        return redirect(url_for("directory.service_detail", service_id=found.id))
    return render_template("directory/service_form.html", form=form, service=found), outcome.status
