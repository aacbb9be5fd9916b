"""JSON Schemas of the API: the code validates with them and the OpenAPI document is built from them."""

from __future__ import annotations

from typing import Any

from ..cases.models import (
    AGE_GROUPS,
    FIELD_GROUPS,
    GBV_TYPES,
    INCIDENT_CONTEXTS,
    MARITAL_STATUSES,
    PERPETRATOR_RELATIONSHIPS,
    REPORTING_DELAYS,
    RISK_LEVELS,
    SEXES,
    STATUSES,
)
from ..enums import GOVERNORATES, ORG_KINDS, ROLES, SECTORS
from ..text import NATIONAL_ID_PATTERN, PHONE_PATTERN

# An id as the API writes it (and as the routes' path converter reads it): the canonical UUID text.
UUID = {
    "type": "string",
    "format": "uuid",
    "pattern": "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$",
}
TIME = {"type": "string", "format": "date-time", "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$"}
GOVERNORATE = {"type": "string", "pattern": "^[a-z][a-z_]*$", "maxLength": 32, "examples": list(GOVERNORATES)}

ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "fields": {"type": "object", "additionalProperties": {"type": "string"}},
            },
        }
    },
}

ME = {
    "type": "object",
    "required": ["id", "username", "role", "organization"],
    "additionalProperties": False,
    "properties": {
        "id": UUID,
        "username": {"type": "string"},
        "role": {"type": "string", "enum": list(ROLES)},
        "locale": {"type": "string", "enum": ["ar", "en"]},
        "organization": {
            "type": "object",
            "required": ["id", "name"],
            "additionalProperties": False,
            "properties": {"id": UUID, "name": {"type": "string"}, "name_ar": {"type": "string"}},
        },
    },
}

ORGANIZATION = {
    "type": "object",
    "required": ["id", "name", "kind", "sectors", "governorates", "accepts_referrals"],
    "additionalProperties": False,
    "properties": {
        "id": UUID,
        "name": {"type": "string"},
        "name_ar": {"type": "string"},
        "kind": {"type": "string", "enum": list(ORG_KINDS)},
        "sectors": {"type": "array", "items": {"type": "string", "enum": list(SECTORS)}},
        "governorates": {
            "type": "array",
            "items": GOVERNORATE,
        },
        "accepts_referrals": {"type": "boolean"},
    },
}


def page_of(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["items", "next_cursor"],
        "additionalProperties": False,
        "properties": {
            "items": {"type": "array", "items": item},
            "next_cursor": {"type": ["string", "null"]},
        },
    }


LIST_QUERY: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "limit": {"type": "integer", "minimum": 1, "maximum": 200, "default": 50},
        "cursor": {"type": "string", "maxLength": 200},
    },
}


# ------------------------------------------------------------------------------ case files
def _enum(codes: tuple[str, ...]) -> dict[str, Any]:
    return {"type": "string", "enum": list(codes)}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    """The same schema, also accepting null (a value not known, or cleared)."""
    out = dict(schema)
    out["type"] = [schema["type"], "null"]
    if "enum" in schema:
        out["enum"] = [*schema["enum"], None]
    return out


def _text(max_length: int) -> dict[str, Any]:
    return {"type": "string", "maxLength": max_length}


SAFE_CONTACT = {
    "type": "object",
    "description": "How the survivor may be contacted safely (confidential, encrypted).",
    "additionalProperties": False,
    "properties": {
        "safe_to_call": {"type": ["boolean", "null"]},
        "safe_to_text": {"type": ["boolean", "null"]},
        "safe_voicemail": {"type": ["boolean", "null"]},
        "safe_hours": {"type": ["string", "null"], "maxLength": 200},
        "instructions": {"type": ["string", "null"], "maxLength": 2000},
    },
}

# Identifying and confidential fields: stored encrypted, shown to the case team only.
_IDENTIFYING_PROPERTIES: dict[str, Any] = {
    "full_name": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": r"\S"},
    "national_id": {
        **_nullable(_text(32)),
        "pattern": NATIONAL_ID_PATTERN,
        "description": "9 digits (any digit script; spaces, dashes allowed); a wrong check digit is refused (422)",
    },
    "date_of_birth": {
        "type": ["string", "null"],
        "format": "date",
        "pattern": r"^(19|[2-9][0-9])[0-9]{2}-[0-9]{2}-[0-9]{2}$",
        "description": "From 1900; a date after today is refused (422)",
    },
    "phone": {
        **_nullable(_text(32)),
        "pattern": PHONE_PATTERN,
        "description": "A Palestinian mobile or landline, national or +970/+972; answered as +970 59 123 4567",
    },
    "address": _nullable(_text(500)),
    "safe_contact": {**SAFE_CONTACT, "type": ["object", "null"]},
}
# Statistical fields: clear, coarse codes.
_STATISTICAL_PROPERTIES: dict[str, Any] = {
    "governorate": GOVERNORATE,
    "age_group": _enum(AGE_GROUPS),
    "sex": _enum(SEXES),
    "disability": {"type": ["boolean", "null"]},
    "marital_status": _nullable(_enum(MARITAL_STATUSES)),
    "gbv_type": _nullable(_enum(GBV_TYPES)),
    "perpetrator_relationship": _nullable(_enum(PERPETRATOR_RELATIONSHIPS)),
    "risk_level": _nullable(_enum(RISK_LEVELS)),
    "reporting_delay": {
        **_nullable(_enum(REPORTING_DELAYS)),
        "description": "How long after the incident she first reported it (a bucket, never a date).",
    },
    "statistics_consent": {
        "type": "boolean",
        "description": "She agreed that non-identifying data about her case may be counted in network "
        "statistics. Without it (the default) the case counts only in its own organisation's numbers.",
    },
}

CASE_CREATE = {
    "type": "object",
    "description": "A new case. Unknown fields are refused; `narrative` opens the first incident.",
    "required": ["full_name", "governorate", "age_group", "sex"],
    "additionalProperties": False,
    "properties": {
        **_IDENTIFYING_PROPERTIES,
        "narrative": _nullable(_text(20000)),
        **_STATISTICAL_PROPERTIES,
    },
}

CASE_UPDATE = {
    "type": "object",
    "description": "The fields to change; the others stay as they are. Incidents (and their narrative) "
    "are recorded separately, so `narrative` is not accepted here.",
    "minProperties": 1,
    "additionalProperties": False,
    "properties": {**_IDENTIFYING_PROPERTIES, **_STATISTICAL_PROPERTIES},
}

CASE_CREATED = {
    "type": "object",
    "required": ["id", "case_code", "status", "returning_survivor"],
    "additionalProperties": False,
    "properties": {
        "id": UUID,
        "case_code": {"type": "string", "pattern": r"^[A-Z]{3}-\d{4}-\d{6}$"},
        "status": _enum(STATUSES),
        "returning_survivor": {
            "description": "Codes of the organisation's other cases with the same national id or phone.",
            "type": "array",
            "items": {"type": "string"},
        },
    },
}

CASE_LIST_ITEM = {
    "type": "object",
    "description": "A case in a list: identifiers masked (initials only).",
    "required": [
        "id",
        "case_code",
        "status",
        "full_name_masked",
        "governorate",
        "age_group",
        "sex",
        "risk_level",
        "gbv_type",
        "opened_at",
    ],
    "additionalProperties": False,
    "properties": {
        "id": UUID,
        "case_code": {"type": "string"},
        "status": _enum(STATUSES),
        "full_name_masked": {"type": "string"},
        "governorate": GOVERNORATE,
        "age_group": _nullable(_enum(AGE_GROUPS)),
        "sex": _nullable(_enum(SEXES)),
        "risk_level": _nullable(_enum(RISK_LEVELS)),
        "gbv_type": _nullable(_enum(GBV_TYPES)),
        "opened_at": TIME,
    },
}

INCIDENT = {
    "type": "object",
    "required": ["id", "gbv_type", "contexts", "perpetrator_relationship", "month", "narrative"],
    "additionalProperties": False,
    "properties": {
        "id": UUID,
        "gbv_type": _enum(GBV_TYPES),
        "contexts": {"type": "array", "items": _enum(INCIDENT_CONTEXTS)},
        "perpetrator_relationship": _nullable(_enum(PERPETRATOR_RELATIONSHIPS)),
        "month": {"type": ["string", "null"], "pattern": r"^\d{4}-\d{2}$"},
        "narrative": {"type": ["string", "null"], "description": "Confidential (encrypted); not an identifier."},
    },
}

CASE = {
    "type": "object",
    "description": "A case file. While `identifiers_masked` is true (a supervisor outside the case team, "
    "without `?reveal=true`) the identifying fields are absent.",
    "required": [
        "id",
        "case_code",
        "status",
        "organization_id",
        "opened_at",
        "updated_at",
        "closed_at",
        "version",
        "identifiers_masked",
        "full_name_masked",
        "governorate",
        "age_group",
        "sex",
        "disability",
        "marital_status",
        "gbv_type",
        "perpetrator_relationship",
        "risk_level",
        "reporting_delay",
        "statistics_consent",
        "incidents",
    ],
    "additionalProperties": False,
    "properties": {
        "id": UUID,
        "case_code": {"type": "string"},
        "status": _enum(STATUSES),
        "organization_id": UUID,
        "opened_at": TIME,
        "updated_at": TIME,
        "closed_at": {**TIME, "type": ["string", "null"]},
        "version": {"type": "integer", "minimum": 1, "description": "Send it back as `If-Match` to update."},
        "identifiers_masked": {"type": "boolean"},
        "full_name_masked": {"type": "string"},
        "full_name": {"type": ["string", "null"]},
        "national_id": {"type": ["string", "null"]},
        "date_of_birth": {"type": ["string", "null"], "format": "date"},
        "phone": {"type": ["string", "null"]},
        "address": {"type": ["string", "null"]},
        "safe_contact": {**SAFE_CONTACT, "type": ["object", "null"]},
        "governorate": GOVERNORATE,
        "age_group": _nullable(_enum(AGE_GROUPS)),
        "sex": _nullable(_enum(SEXES)),
        "disability": {"type": ["boolean", "null"]},
        "marital_status": _nullable(_enum(MARITAL_STATUSES)),
        "gbv_type": _nullable(_enum(GBV_TYPES)),
        "perpetrator_relationship": _nullable(_enum(PERPETRATOR_RELATIONSHIPS)),
        "risk_level": _nullable(_enum(RISK_LEVELS)),
        "reporting_delay": _nullable(_enum(REPORTING_DELAYS)),
        "statistics_consent": {"type": "boolean"},
        "incidents": {"type": "array", "items": {"$ref": "#/components/schemas/Incident"}},
    },
}

CASE_LIST_QUERY = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        **LIST_QUERY["properties"],
        "status": _enum(STATUSES),
        "risk_level": _enum(RISK_LEVELS),
        "q": {
            "type": "string",
            "maxLength": 64,
            "description": "A case code only. A value that looks like a national id or phone is refused with "
            "400 `identifier_in_url`: identifiers never travel in a URL (use POST /cases/search).",
        },
    },
}

CASE_SEARCH = {
    "type": "object",
    "additionalProperties": False,
    "required": ["q"],
    "properties": {
        "q": {
            "type": "string",
            "minLength": 1,
            "maxLength": 64,
            "description": "A case code, or an exact national id or phone (matched by blind index; audited as an "
            "identifier search). A value with no digits matches no case.",
        },
        "status": _enum(STATUSES),
        "risk_level": _enum(RISK_LEVELS),
        **LIST_QUERY["properties"],
    },
}

CASE_VIEW_QUERY = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "reveal": {
            "type": "string",
            "enum": ["true", "false"],
            "default": "false",
            "description": "A supervisor outside the case team sees identifiers only with `true` (audited).",
        },
    },
}

# What of a case a referral discloses (referral/referrals/disclosure.py): each shared field
# group's fields, by key. `contact.safe_contact` and `assessment.assessment` are the older names
# of the same values, kept for clients that read them.
_TEXT = {"type": ["string", "null"]}
_TEXTS = {"type": "array", "items": {"type": "string"}}


def _group(properties: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "type": "object",
        "description": description,
        "required": [name for name in properties if name not in ("immediate_danger", "assessment_notes")],
        "additionalProperties": False,
        "properties": properties,
    }


SHARED = {
    "type": "object",
    "description": "The case's fields in each field group shared with you now (absent: not shared)",
    "additionalProperties": False,
    "properties": {
        "identity": _group(
            {"full_name": _TEXT, "national_id": _TEXT, "date_of_birth": _TEXT}, "Name, national ID, date of birth"
        ),
        "contact": _group(
            {
                "phone": _TEXT,
                "address": _TEXT,
                "safe_channels": {
                    "type": "array",
                    "items": {"type": "string", "enum": ["call", "sms", "voicemail"]},
                    "description": "The channels she marked safe",
                },
                "safe_hours": _TEXT,
                "contact_instructions": _TEXT,
                "safe_contact": SAFE_CONTACT,
            },
            "Phone, address, safe-contact instructions",
        ),
        "incident": _group(
            {"narratives": _TEXTS, "gbv_type": _TEXT, "perpetrator_relationship": _TEXT},
            "The incidents' narratives, the GBV type, the perpetrator relationship (codes)",
        ),
        "assessment": _group(
            {
                "needs": _TEXTS,
                "risk_level": _TEXT,
                "safety_plan": _TEXT,
                "immediate_danger": {"type": "boolean", "description": "When the assessment records it"},
                "assessment_notes": {**_TEXT, "description": "When the assessment has notes"},
                "assessment": {
                    "type": ["object", "null"],
                    "properties": {"needs": _TEXTS, "immediate_danger": {"type": "boolean"}, "notes": _TEXT},
                },
            },
            "Needs, risk level, safety plan",
        ),
        "notes": _group(
            {
                "notes": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["at", "body"],
                        "properties": {"at": TIME, "body": _TEXT},
                    },
                }
            },
            "The case notes, dated, oldest first",
        ),
    },
}
NOT_SHARED = {
    "type": "array",
    "items": {"type": "string", "enum": list(FIELD_GROUPS)},
    "description": "The field groups not shared with the receiving side now (by name only)",
}

SCHEMAS: dict[str, dict[str, Any]] = {
    "Error": ERROR,
    "Me": ME,
    "Organization": ORGANIZATION,
    "OrganizationPage": page_of({"$ref": "#/components/schemas/Organization"}),
    "SafeContact": SAFE_CONTACT,
    "CaseCreate": CASE_CREATE,
    "CaseUpdate": CASE_UPDATE,
    "CaseCreated": CASE_CREATED,
    "CaseListItem": CASE_LIST_ITEM,
    "CasePage": page_of({"$ref": "#/components/schemas/CaseListItem"}),
    "CaseSearch": CASE_SEARCH,
    "Incident": INCIDENT,
    "Case": CASE,
    "SharedCase": {
        "type": "object",
        "required": ["id", "case_code", "status", "shared_field_groups", "via_referrals", "shared", "not_shared"],
        "additionalProperties": False,
        "properties": {
            "id": UUID,
            "case_code": {"type": "string"},
            "status": {"type": "string"},
            "shared_field_groups": {"type": "array", "items": {"type": "string", "enum": list(FIELD_GROUPS)}},
            "via_referrals": {"type": "array", "items": UUID},
            "shared": SHARED,
            "not_shared": NOT_SHARED,
        },
    },
}


# ------------------------------------------------------------------------------ service directory
from ..directory.models import CAPACITY_STATUSES, SERVICE_LANGUAGES  # noqa: E402

FOCAL_POINT = {
    "type": "object",
    "description": "A staff contact point of the service (never a survivor).",
    "required": ["name", "role", "phone", "email"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string"},
        "role": {"type": "string"},
        "phone": {"type": "string"},
        "email": {"type": "string"},
    },
}

SERVICE = {
    "type": "object",
    "description": "A service of a member organisation. A confidential location is never given: "
    "`address` is then null and `front_door` is the public contact to use instead.",
    "required": [
        "id",
        "organization_id",
        "name",
        "sector",
        "governorates",
        "eligibility",
        "languages",
        "capacity_status",
    ],
    "additionalProperties": False,
    "properties": {
        "id": UUID,
        "organization_id": UUID,
        "name": {"type": "string", "description": "The name in English"},
        "name_ar": {"type": "string"},
        "description": {"type": "string"},
        "description_ar": {"type": "string"},
        "sector": _enum(SECTORS),
        "governorates": {"type": "array", "items": GOVERNORATE},
        "eligibility": {"type": "string"},
        "languages": {"type": "array", "items": _enum(SERVICE_LANGUAGES)},
        "capacity_status": _enum(CAPACITY_STATUSES),
        "accepting_referrals": {"type": "boolean"},
        "opening_hours": {"type": "string"},
        "confidential_location": {"type": "boolean"},
        "front_door": {"type": ["string", "null"], "description": "The public contact of a confidential location"},
        "address": {"type": ["string", "null"], "description": "Null when the location is confidential"},
        "focal_points": {"type": "array", "items": {"$ref": "#/components/schemas/FocalPoint"}},
        "updated_at": TIME,
    },
}

SERVICE_LIST_QUERY = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        **LIST_QUERY["properties"],
        "sector": _enum(SECTORS),
        "governorate": GOVERNORATE,
        "capacity_status": _enum(CAPACITY_STATUSES),
        "language": _enum(SERVICE_LANGUAGES),
        "organization_id": UUID,
        "q": {"type": "string", "maxLength": 100, "description": "Words in a name, description or eligibility"},
    },
}

HSDS_DOCUMENT = {
    "type": "object",
    "description": "The directory as Open Referral HSDS 3.0 (https://docs.openreferral.org/en/3.0/): each item of "
    "`organizations` is an HSDS organization, each item of `services` an HSDS service (inactive ones with status "
    "`inactive`). Capacity, sector and referral acceptance are HSDS attributes of Shabaka's own taxonomies "
    "(`shabaka-capacity-status`, `shabaka-sector`, `shabaka-accepting-referrals`). A confidential location is "
    "never exported.",
    "required": ["hsds_version", "generated_at", "organizations", "services"],
    "additionalProperties": False,
    "properties": {
        "hsds_version": {"type": "string", "const": "3.0"},
        "generated_at": TIME,
        "organizations": {
            "type": "array",
            "items": {"type": "object", "description": "An HSDS 3.0 organization", "required": ["id", "name"]},
        },
        "services": {
            "type": "array",
            "items": {"type": "object", "description": "An HSDS 3.0 service", "required": ["id", "name", "status"]},
        },
    },
}

SCHEMAS.update(
    {
        "FocalPoint": FOCAL_POINT,
        "Service": SERVICE,
        "ServicePage": page_of({"$ref": "#/components/schemas/Service"}),
        "HsdsDocument": HSDS_DOCUMENT,
    }
)
