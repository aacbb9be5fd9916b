"""The directory as Open Referral HSDS 3.0 JSON (organisations and services).

Every nested record gets a stable UUID derived from its service's id, so two exports of the same
directory are identical. A confidential location is never exported: such a service has no
location at all, and its front door (the public contact) is given as how to reach it.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from .models import Network, Organization, Service

HSDS_VERSION = "3.0"
_NAMESPACE = uuid.UUID("6f1c3a52-9d0b-4c57-8a65-3f1e2d7b9c40")  # Shabaka's namespace for derived ids
CAPACITY_TAXONOMY = "shabaka-capacity-status"
SECTOR_TAXONOMY = "shabaka-sector"
REFERRALS_TAXONOMY = "shabaka-accepting-referrals"
_LANGUAGE_NAMES = {"ar": "Arabic", "en": "English", "he": "Hebrew"}


def _uid(*parts: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, "/".join(parts)))


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _attribute(owner: str, entity: str, taxonomy: str, code: str, name: str, description: str) -> dict[str, Any]:
    """An HSDS attribute linking `owner` to a term of one of Shabaka's own taxonomies."""
    return {
        "id": _uid(owner, "attribute", taxonomy),
        "link_id": owner,
        "link_type": taxonomy,
        "link_entity": entity,
        "value": code,
        "taxonomy_term": {
            "id": _uid("term", taxonomy, code),
            "code": code,
            "name": name,
            "description": description,
            "taxonomy": taxonomy,
        },
    }


def organization_record(org: Organization) -> dict[str, Any]:
    record: dict[str, Any] = {
        "id": org.id,
        "name": org.name_en,
        "alternate_name": org.name_ar,
        "description": f"A {org.kind} member of the protection networks. Sectors: {', '.join(org.sectors)}.",
        "attributes": [
            _attribute(org.id, "organization", "shabaka-organization-kind", org.kind, org.kind, "Organisation kind"),
            _attribute(
                org.id,
                "organization",
                REFERRALS_TAXONOMY,
                "yes" if org.accepts_referrals else "no",
                "Accepts referrals" if org.accepts_referrals else "Does not accept referrals",
                "Whether the organisation accepts referrals through Shabaka",
            ),
        ],
    }
    # The entry its own admin keeps: her description (English first, as the export's language),
    # and the office's public e-mail and website.
    described = org.description_en or org.description_ar
    if described:
        record["description"] = described
    if org.email:
        record["email"] = org.email
    if org.website:
        record["website"] = org.website
    return record


def _phone(service: Service, key: str, number: str, description: str, contact_id: str | None) -> dict[str, Any]:
    phone: dict[str, Any] = {
        "id": _uid(service.id, "phone", key),
        "service_id": service.id,
        "number": number,
        "type": "voice",
        "description": description,
    }
    if contact_id is not None:
        phone["contact_id"] = contact_id
    return phone


def service_record(service: Service, governorates: dict[str, str]) -> dict[str, Any]:
    """One HSDS service. `governorates` maps a code to its (English) name for the service areas."""
    record: dict[str, Any] = {
        "id": service.id,
        "organization_id": service.organization_id,
        "name": service.name_en,
        "alternate_name": service.name_ar,
        "status": "active" if service.active else "inactive",
        "last_modified": _iso(service.updated_at or service.created_at),
    }
    description = service.description_en or service.description_ar
    if description:
        record["description"] = description
    if service.eligibility:
        record["eligibility_description"] = service.eligibility
    if service.capacity_status == "waitlist":
        record["wait_time"] = "Waiting list"
    if service.confidential_location and service.front_door:
        record["application_process"] = f"Confidential location. Contact: {service.front_door}"
    contacts, phones = [], []
    for index, point in enumerate(service.focal_points):
        contact_id = _uid(service.id, "contact", str(index))
        contact: dict[str, Any] = {"id": contact_id, "service_id": service.id, "name": point.get("name", "")}
        if point.get("role"):
            contact["title"] = point["role"]
        if point.get("email"):
            contact["email"] = point["email"]
        if point.get("phone"):
            phone = _phone(service, f"contact-{index}", point["phone"], "Focal point", contact_id)
            contact["phones"] = [phone]
            phones.append(phone)
        contacts.append(contact)
    record["contacts"] = contacts
    record["phones"] = phones
    record["service_areas"] = [
        {
            "id": _uid(service.id, "area", code),
            "service_id": service.id,
            "name": governorates.get(code, code),
            "extent_type": "governorate",
            "description": f"Governorate code {code}",
        }
        for code in service.governorates
    ]
    record["languages"] = [
        {
            "id": _uid(service.id, "language", code),
            "service_id": service.id,
            "code": code,
            "name": _LANGUAGE_NAMES[code],
        }
        for code in service.languages
        if code in _LANGUAGE_NAMES
    ]
    if service.opening_hours:
        record["schedules"] = [
            {"id": _uid(service.id, "schedule"), "service_id": service.id, "description": service.opening_hours}
        ]
    address = service.public_address
    if address is not None:  # never for a confidential location
        location_id = _uid(service.id, "location")
        record["service_at_locations"] = [
            {
                "id": _uid(service.id, "service_at_location"),
                "service_id": service.id,
                "location_id": location_id,
                "location": {
                    "id": location_id,
                    "location_type": "physical",
                    "organization_id": service.organization_id,
                    "name": service.name_en,
                    "description": address,
                },
            }
        ]
    record["attributes"] = [
        _attribute(
            service.id,
            "service",
            CAPACITY_TAXONOMY,
            service.capacity_status,
            service.capacity_status,
            "Capacity status: available, limited (few places), full or waitlist",
        ),
        _attribute(service.id, "service", SECTOR_TAXONOMY, service.sector, service.sector, "Protection-network sector"),
        _attribute(
            service.id,
            "service",
            REFERRALS_TAXONOMY,
            "yes" if service.accepting_referrals else "no",
            "Accepting referrals" if service.accepting_referrals else "Not accepting referrals",
            "Whether the service accepts referrals through Shabaka",
        ),
    ]
    return record


def document(
    organizations: list[Organization], services: list[Service], networks: list[Network], generated_at: datetime
) -> dict[str, Any]:
    governorates = {n.governorate: n.name_en for n in networks}
    return {
        "hsds_version": HSDS_VERSION,
        "generated_at": _iso(generated_at),
        "organizations": [organization_record(o) for o in organizations],
        "services": [service_record(s, governorates) for s in services],
    }
