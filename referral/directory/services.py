"""The rules of networks, member organisations and network membership."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

from sqlalchemy import Select, String, cast, func, or_, select

from ..access.policy import can, scope_services
from ..audit.services import record, record_denial
from ..enums import ORG_KINDS, SECTORS
from ..errors import Conflict, Forbidden, InvalidInput, NotFound
from ..followups import calendar as work_calendar
from ..models_base import DbSession, get_by_id, new_id
from .models import (
    CAPACITY_STATUSES,
    SERVICE_LANGUAGES,
    Network,
    NetworkHoliday,
    NetworkMembership,
    Organization,
    Service,
)

GOVERNORATE_RE = re.compile(r"^[a-z][a-z_]{1,31}$")
PREFIX_RE = re.compile(r"^[A-Z]{3}$")


@dataclass
class OrganizationInput:
    name_ar: str
    name_en: str
    kind: str
    sectors: list[str]
    governorates: list[str]
    accepts_referrals: bool = True
    description_ar: str = ""
    description_en: str = ""
    phone: str = ""
    email: str = ""
    website: str = ""


def networks(session: DbSession) -> list[Network]:
    return list(session.scalars(select(Network).order_by(Network.name_en)))


def governorate_codes(session: DbSession) -> list[str]:
    return [n.governorate for n in networks(session)]


def network(session: DbSession, network_id: str) -> Network:
    found = get_by_id(session, Network, network_id)
    if found is None:
        raise NotFound("network")
    return found


def organizations(session: DbSession, *, active_only: bool = True) -> list[Organization]:
    stmt = select(Organization).order_by(Organization.name_en)
    if active_only:
        stmt = stmt.where(Organization.active.is_(True))
    return list(session.scalars(stmt))


def organization(session: DbSession, organization_id: str) -> Organization:
    found = session.get(Organization, organization_id)
    if found is None:
        raise NotFound("organization")
    return found


def find_organization(session: DbSession, ref: str) -> Organization | None:
    """By id or by English name (what operators type at the command line)."""
    by_name = session.scalar(select(Organization).where(func.lower(Organization.name_en) == ref.strip().lower()))
    if by_name is not None:
        return by_name
    try:
        return session.get(Organization, ref)
    except Exception:  # not a UUID
        return None


def members(session: DbSession, net: Network) -> list[Organization]:
    return list(
        session.scalars(
            select(Organization)
            .join(NetworkMembership, NetworkMembership.organization_id == Organization.id)
            .where(NetworkMembership.network_id == net.id)
            .order_by(Organization.name_en)
        )
    )


# ------------------------------------------------------------------------------ networks
def create_network(
    session: DbSession, actor: Any, *, governorate: str, case_prefix: str, name_ar: str, name_en: str
) -> Network:
    if actor is not None and not can(actor, "network.manage"):
        raise Forbidden("network.manage")
    governorate, case_prefix = governorate.strip().lower(), case_prefix.strip().upper()
    fields: dict[str, str] = {}
    if not GOVERNORATE_RE.match(governorate):
        fields["governorate"] = "invalid"
    elif session.scalar(select(Network).where(Network.governorate == governorate)):
        fields["governorate"] = "taken"
    if not PREFIX_RE.match(case_prefix):
        fields["case_prefix"] = "invalid"
    elif session.scalar(select(Network).where(Network.case_prefix == case_prefix)):
        fields["case_prefix"] = "taken"
    _require_names(fields, name_ar, name_en)
    if fields:
        raise InvalidInput("invalid_network", fields=fields)
    net = Network(
        id=new_id(), governorate=governorate, case_prefix=case_prefix, name_ar=name_ar.strip(), name_en=name_en.strip()
    )
    session.add(net)
    session.flush()
    record("network.create", actor, net, governorate=governorate)
    return net


def update_network(session: DbSession, actor: Any, net: Network, *, name_ar: str, name_en: str, active: bool) -> None:
    if not can(actor, "network.manage"):
        raise Forbidden("network.manage")
    fields: dict[str, str] = {}
    _require_names(fields, name_ar, name_en)
    if fields:
        raise InvalidInput("invalid_network", fields=fields)
    net.name_ar, net.name_en, net.active = name_ar.strip(), name_en.strip(), active
    record("network.update", actor, net)


# ------------------------------------------------------------------------------ calendars
HOLIDAY_YEARS = (2000, 2100)


def holidays(session: DbSession, net: Network) -> list[NetworkHoliday]:
    return list(
        session.scalars(select(NetworkHoliday).where(NetworkHoliday.network_id == net.id).order_by(NetworkHoliday.day))
    )


def require_calendar_manager(actor: Any, net: Network) -> None:
    """Only the network's own coordinator, or a sysadmin (or the system itself, as `None`: the
    demo and the command line); anyone else is told "not found"."""
    if actor is not None and not can(actor, "network.calendar", net):
        record_denial(actor, "network", net.id)
        raise NotFound("network")


def update_calendar(session: DbSession, actor: Any, net: Network, *, weekend_days: list[int], time_zone: str) -> None:
    """Set the weekend days (weekday numbers, Monday = 0; at least one working day must remain)
    and the time zone (an IANA name) the network's clocks run on."""
    require_calendar_manager(actor, net)
    fields: dict[str, str] = {}
    days = sorted(set(weekend_days))
    if any(d not in work_calendar.WEEKDAYS for d in days) or len(days) >= len(work_calendar.WEEKDAYS):
        fields["weekend_days"] = "invalid_weekend"
    time_zone = time_zone.strip()
    try:
        work_calendar.zone(time_zone)
    except ValueError:
        fields["time_zone"] = "invalid_time_zone"
    if fields:
        raise InvalidInput("invalid_calendar", fields=fields)
    net.weekend_days, net.time_zone = days, time_zone
    session.flush()
    record(
        "network.calendar_update",
        actor,
        net,
        network_id=net.id,
        weekend=",".join(str(d) for d in days),
        time_zone=time_zone,
    )


def add_holiday(
    session: DbSession, actor: Any, net: Network, *, day: date | None, name_ar: str, name_en: str
) -> NetworkHoliday:
    require_calendar_manager(actor, net)
    fields: dict[str, str] = {}
    if day is None or not HOLIDAY_YEARS[0] <= day.year <= HOLIDAY_YEARS[1]:
        fields["day"] = "invalid_holiday_date"
    elif session.scalar(select(NetworkHoliday).where(NetworkHoliday.network_id == net.id, NetworkHoliday.day == day)):
        fields["day"] = "holiday_taken"
    for name, value in (("name_ar", name_ar), ("name_en", name_en)):
        if not value.strip() or len(value.strip()) > 120:
            fields[name] = "required"
    if fields:
        raise InvalidInput("invalid_holiday", fields=fields)
    assert day is not None
    holiday = NetworkHoliday(id=new_id(), network_id=net.id, day=day, name_ar=name_ar.strip(), name_en=name_en.strip())
    session.add(holiday)
    session.flush()
    record("network.holiday_add", actor, holiday, network_id=net.id, day=day.isoformat())
    return holiday


def remove_holiday(session: DbSession, actor: Any, net: Network, holiday_id: str) -> None:
    require_calendar_manager(actor, net)
    holiday = get_by_id(session, NetworkHoliday, holiday_id)
    if holiday is None or holiday.network_id != net.id:
        raise NotFound("holiday")
    record("network.holiday_remove", actor, holiday, network_id=net.id, day=holiday.day.isoformat())
    session.delete(holiday)
    session.flush()


# ------------------------------------------------------------------------------ organisations
def _require_names(fields: dict[str, str], name_ar: str, name_en: str) -> None:
    if not name_ar.strip() or len(name_ar) > 200:
        fields["name_ar"] = "required"
    if not name_en.strip() or len(name_en) > 200:
        fields["name_en"] = "required"


def _validate_organization(session: DbSession, data: OrganizationInput, existing: Organization | None) -> None:
    fields: dict[str, str] = {}
    _require_names(fields, data.name_ar, data.name_en)
    clash = session.scalar(select(Organization).where(func.lower(Organization.name_en) == data.name_en.strip().lower()))
    if clash is not None and clash is not existing:
        fields["name_en"] = "taken"
    if data.kind not in ORG_KINDS:
        fields["kind"] = "invalid"
    if not data.sectors or any(s not in SECTORS for s in data.sectors):
        fields["sectors"] = "invalid"
    known = set(governorate_codes(session))
    if not data.governorates or any(g not in known for g in data.governorates):
        fields["governorates"] = "invalid"
    fields.update(_entry_problems(data))
    if fields:
        raise InvalidInput("invalid_organization", fields=fields)


# The public contact of a directory entry: an office's phone, e-mail and website.
ORG_PHONE_RE = re.compile(r"^\+?[0-9][0-9 ()-]{5,38}$")
WEBSITE_RE = re.compile(r"^https?://[^\s/$.?#][^\s]*\.[^\s]+$", re.IGNORECASE)
MAX_DESCRIPTION = 2000


def _entry_problems(data: OrganizationInput) -> dict[str, str]:
    """The problems of the entry's description and contact, by field (each one optional)."""
    fields: dict[str, str] = {}
    for name in ("description_ar", "description_en"):
        if len(getattr(data, name).strip()) > MAX_DESCRIPTION:
            fields[name] = "too_long_text"
    phone, email, website = data.phone.strip(), data.email.strip(), data.website.strip()
    if phone and not ORG_PHONE_RE.match(phone):
        fields["phone"] = "invalid"
    if email and (len(email) > 254 or not EMAIL_RE.match(email)):
        fields["email"] = "invalid"
    if website and (len(website) > 200 or not WEBSITE_RE.match(website)):
        fields["website"] = "invalid"
    return fields


def _set_entry(org: Organization, data: OrganizationInput) -> None:
    """What a directory entry says of the organisation (its names, what it does and for whom,
    where, and how to reach it); not its kind, its state or its networks."""
    org.name_ar, org.name_en = data.name_ar.strip(), data.name_en.strip()
    org.sectors, org.governorates = sorted(set(data.sectors)), sorted(set(data.governorates))
    org.accepts_referrals = data.accepts_referrals
    org.description_ar = data.description_ar.strip() or None
    org.description_en = data.description_en.strip() or None
    org.phone = data.phone.strip() or None
    org.email = data.email.strip().lower() or None
    org.website = data.website.strip() or None


def create_organization(session: DbSession, actor: Any, data: OrganizationInput) -> Organization:
    if actor is not None and not can(actor, "organization.manage"):
        raise Forbidden("organization.manage")
    _validate_organization(session, data, None)
    org = Organization(
        id=new_id(),
        name_ar=data.name_ar.strip(),
        name_en=data.name_en.strip(),
        kind=data.kind,
        sectors=sorted(set(data.sectors)),
        governorates=sorted(set(data.governorates)),
        accepts_referrals=data.accepts_referrals,
    )
    _set_entry(org, data)
    session.add(org)
    session.flush()
    record("organization.create", actor, org)
    return org


def update_organization(
    session: DbSession, actor: Any, org: Organization, data: OrganizationInput, active: bool
) -> None:
    if not can(actor, "organization.manage"):
        raise Forbidden("organization.manage")
    _validate_organization(session, data, org)
    _set_entry(org, data)
    org.kind, org.active = data.kind, active
    record("organization.update", actor, org)


def own_entry(session: DbSession, actor: Any, organization_id: str) -> Organization:
    """The organisation whose directory entry the actor keeps (an org admin: her own); any other
    is not found, and the attempt is recorded."""
    org = get_by_id(session, Organization, organization_id)
    if org is None or not can(actor, "organization.edit_entry", org):
        record_denial(actor, "organization", str(organization_id), session=session)
        raise NotFound("organization")
    return org  # type: ignore[no-any-return]


def update_entry(session: DbSession, actor: Any, org: Organization, data: OrganizationInput) -> None:
    """An org admin edits her own organisation's directory entry: names, description, contact,
    sectors, governorates served and whether it accepts referrals. Its kind, whether it is active
    and its network memberships stay with the system admin and the coordinators."""
    if not can(actor, "organization.edit_entry", org):
        raise NotFound("organization")
    _validate_organization(session, replace(data, kind=org.kind), org)
    _set_entry(org, data)
    record("organization.update", actor, org, entry=True)


# ------------------------------------------------------------------------------ membership
def add_member(session: DbSession, actor: Any, net: Network, org: Organization) -> NetworkMembership:
    if actor is not None and not can(actor, "membership.manage", net):
        raise NotFound("network")
    exists = session.scalar(
        select(NetworkMembership).where(
            NetworkMembership.network_id == net.id, NetworkMembership.organization_id == org.id
        )
    )
    if exists is not None:
        raise Conflict("already_member")
    membership = NetworkMembership(id=new_id(), network_id=net.id, organization_id=org.id)
    session.add(membership)
    session.flush()
    record("membership.add", actor, membership, organization_id=org.id, network_id=net.id)
    return membership


def remove_member(session: DbSession, actor: Any, net: Network, org: Organization) -> None:
    if not can(actor, "membership.manage", net):
        raise NotFound("network")
    membership = session.scalar(
        select(NetworkMembership).where(
            NetworkMembership.network_id == net.id, NetworkMembership.organization_id == org.id
        )
    )
    if membership is None:
        raise NotFound("membership")
    record("membership.remove", actor, membership, organization_id=org.id, network_id=net.id)
    session.delete(membership)


def delete_organization(session: DbSession, actor: Any, org: Organization) -> int:
    """Delete an organisation with its accounts and memberships, and destroy its data keys.

    Whatever was encrypted for it becomes unreadable for good (crypto-shredding). Returns the
    number of keys destroyed.
    """
    from ..security.rotation import destroy_scope

    if actor is not None and not can(actor, "organization.manage"):
        raise Forbidden("organization.manage")
    record("organization.delete", actor, org)
    session.delete(org)
    session.flush()
    return destroy_scope(session, org.id)


# ------------------------------------------------------------------------------ services
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MAX_FOCAL_POINTS = 5
_FOCAL_KEYS = ("name", "role", "phone", "email")


@dataclass
class ServiceInput:
    name_ar: str
    name_en: str
    sector: str
    governorates: list[str]
    languages: list[str]
    capacity_status: str = "available"
    accepting_referrals: bool = True
    description_ar: str = ""
    description_en: str = ""
    eligibility: str = ""
    opening_hours: str = ""
    focal_points: list[dict[str, str]] = field(default_factory=list)
    confidential_location: bool = False
    front_door: str = ""
    address: str = ""


@dataclass(frozen=True)
class ServiceFilters:
    """What the directory is searched by; an empty value filters nothing."""

    q: str = ""
    sector: str = ""
    governorate: str = ""
    capacity_status: str = ""
    language: str = ""
    organization_id: str = ""


def _clean_focal_points(points: list[dict[str, str]], fields: dict[str, str]) -> list[dict[str, str]]:
    """Blank rows dropped; each kept one needs a name and a phone or an e-mail (staff contacts only)."""
    kept: list[dict[str, str]] = []
    for point in points:
        row = {key: str(point.get(key) or "").strip() for key in _FOCAL_KEYS}
        if not any(row.values()):
            continue
        reachable = bool(row["phone"] or row["email"])
        bad_email = bool(row["email"]) and not EMAIL_RE.match(row["email"])
        if not row["name"] or not reachable or bad_email or any(len(v) > 200 for v in row.values()):
            fields["focal_points"] = "invalid_focal_point"
        kept.append(row)
    if len(kept) > MAX_FOCAL_POINTS:
        fields["focal_points"] = "invalid_focal_point"
    return kept


def _validate_service(session: DbSession, data: ServiceInput) -> list[dict[str, str]]:
    fields: dict[str, str] = {}
    _require_names(fields, data.name_ar, data.name_en)
    if data.sector not in SECTORS:
        fields["sector"] = "invalid"
    known = set(governorate_codes(session))
    if not data.governorates or any(g not in known for g in data.governorates):
        fields["governorates"] = "invalid"
    if not data.languages or any(code not in SERVICE_LANGUAGES for code in data.languages):
        fields["languages"] = "invalid"
    if data.capacity_status not in CAPACITY_STATUSES:
        fields["capacity_status"] = "invalid"
    for name, limit in (("description_ar", 4000), ("description_en", 4000), ("eligibility", 4000)):
        if len(getattr(data, name)) > limit:
            fields[name] = "too_long_text"
    for name in ("opening_hours", "front_door", "address"):
        if len(getattr(data, name)) > 500:
            fields[name] = "too_long_text"
    if data.confidential_location and not data.front_door.strip():
        fields["front_door"] = "front_door_required"
    points = _clean_focal_points(data.focal_points, fields)
    if fields:
        raise InvalidInput("invalid_service", fields=fields)
    return points


def _apply(service: Service, data: ServiceInput, points: list[dict[str, str]]) -> None:
    service.name_ar, service.name_en = data.name_ar.strip(), data.name_en.strip()
    service.description_ar, service.description_en = data.description_ar.strip(), data.description_en.strip()
    service.sector = data.sector
    service.governorates = sorted(set(data.governorates))
    service.languages = [code for code in SERVICE_LANGUAGES if code in set(data.languages)]
    service.capacity_status = data.capacity_status
    service.accepting_referrals = data.accepting_referrals
    service.eligibility = data.eligibility.strip()
    service.opening_hours = data.opening_hours.strip()
    service.focal_points = points
    service.confidential_location = data.confidential_location
    service.front_door = data.front_door.strip()
    # A confidential location is not kept at all, so no page, answer or export can leak it.
    service.address = "" if data.confidential_location else data.address.strip()


def create_service(session: DbSession, actor: Any, org: Organization, data: ServiceInput) -> Service:
    """Add a service to an organisation's directory entry (its org admin, or a sysadmin)."""
    if actor is not None and not can(actor, "service.manage", org):
        raise NotFound("organization")
    points = _validate_service(session, data)
    service = Service(id=new_id(), organization_id=org.id)
    _apply(service, data, points)
    session.add(service)
    session.flush()
    record("service.create", actor, service)
    return service


def update_service(session: DbSession, actor: Any, service: Service, data: ServiceInput, *, active: bool) -> None:
    """Change a service, or deactivate it (`active=False`): it leaves the directory but is kept."""
    if not can(actor, "service.manage", service):
        raise NotFound("service")
    points = _validate_service(session, data)
    was_active = service.active
    _apply(service, data, points)
    service.active = active
    session.flush()
    record("service.update", actor, service, active=active, active_changed=was_active != active)


def service(session: DbSession, actor: Any, service_id: str) -> Service:
    """One service. An inactive one is visible only to those who may manage it."""
    try:
        found = session.get(Service, service_id)
    except Exception:  # not a UUID
        found = None
    if found is None:
        raise NotFound("service")
    if not can(actor, "service.view", found):
        raise NotFound("service")
    return found


def _json_list_holds(column: Any, code: str) -> Any:
    """A JSON list of codes holds `code`: the same text test on SQLite and PostgreSQL."""
    return cast(column, String).contains(f'"{code}"', autoescape=True)


def _filtered(stmt: Select[Any], filters: ServiceFilters) -> Select[Any]:
    if filters.q.strip():
        needle = filters.q.strip().lower()
        stmt = stmt.where(
            or_(
                *(
                    func.lower(column).contains(needle, autoescape=True)
                    for column in (
                        Service.name_ar,
                        Service.name_en,
                        Service.description_ar,
                        Service.description_en,
                        Service.eligibility,
                        Organization.name_ar,
                        Organization.name_en,
                    )
                )
            )
        )
    if filters.sector:
        stmt = stmt.where(Service.sector == filters.sector)
    if filters.capacity_status:
        stmt = stmt.where(Service.capacity_status == filters.capacity_status)
    if filters.governorate:
        stmt = stmt.where(_json_list_holds(Service.governorates, filters.governorate))
    if filters.language:
        stmt = stmt.where(_json_list_holds(Service.languages, filters.language))
    if filters.organization_id:
        stmt = stmt.where(Service.organization_id == filters.organization_id)
    return stmt


def search_services(
    session: DbSession, actor: Any, filters: ServiceFilters, *, include_inactive: bool = False
) -> list[Service]:
    """The directory as a person browses it, by name."""
    stmt = select(Service).join(Organization, Organization.id == Service.organization_id)
    stmt = scope_services(actor, _filtered(stmt, filters), include_inactive=include_inactive)
    return list(session.scalars(stmt.order_by(Service.name_en, Service.id)))


def service_page(
    session: DbSession, filters: ServiceFilters, *, limit: int, after: str | None = None
) -> tuple[list[Service], bool]:
    """Active services in id order from `after` (the API's cursor); also says whether more follow."""
    stmt = (
        select(Service)
        .join(Organization, Organization.id == Service.organization_id)
        .where(Service.active.is_(True), Organization.active.is_(True))
    )
    stmt = _filtered(stmt, filters)
    if after is not None:
        stmt = stmt.where(Service.id > after)
    rows = list(session.scalars(stmt.order_by(Service.id).limit(limit + 1)))
    return rows[:limit], len(rows) > limit


def directory_export(session: DbSession, actor: Any) -> tuple[list[Organization], list[Service]]:
    """Everything the open-data export holds: active organisations and all their services
    (inactive ones too, marked so). The export is recorded with what it counted."""
    orgs = organizations(session)
    services = list(
        session.scalars(
            select(Service)
            .join(Organization, Organization.id == Service.organization_id)
            .where(Organization.active.is_(True))
            .order_by(Service.organization_id, Service.name_en, Service.id)
        )
    )
    record("directory.export", actor, organizations=len(orgs), services=len(services))
    return orgs, services
