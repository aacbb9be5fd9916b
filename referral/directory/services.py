"""The rules of networks, member organisations and network membership."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from ..access.policy import can
from ..audit.services import record
from ..enums import ORG_KINDS, SECTORS
from ..errors import Conflict, Forbidden, InvalidInput, NotFound
from ..models_base import DbSession, new_id
from .models import Network, NetworkMembership, Organization

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


def networks(session: DbSession) -> list[Network]:
    return list(session.scalars(select(Network).order_by(Network.name_en)))


def governorate_codes(session: DbSession) -> list[str]:
    return [n.governorate for n in networks(session)]


def network(session: DbSession, network_id: str) -> Network:
    found = session.get(Network, network_id)
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
    if fields:
        raise InvalidInput("invalid_organization", fields=fields)


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
    org.name_ar, org.name_en, org.kind = data.name_ar.strip(), data.name_en.strip(), data.kind
    org.sectors, org.governorates = sorted(set(data.sectors)), sorted(set(data.governorates))
    org.accepts_referrals, org.active = data.accepts_referrals, active
    record("organization.update", actor, org)


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
