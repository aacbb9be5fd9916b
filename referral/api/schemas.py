"""JSON Schemas of the API: the code validates with them and the OpenAPI document is built from them."""

from __future__ import annotations

from typing import Any

from ..enums import GOVERNORATES, ORG_KINDS, ROLES, SECTORS

UUID = {"type": "string", "format": "uuid"}

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
            "items": {"type": "string", "pattern": "^[a-z][a-z_]*$", "examples": list(GOVERNORATES)},
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


LIST_QUERY = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "limit": {"type": "integer", "minimum": 1, "maximum": 200, "default": 50},
        "cursor": {"type": "string", "maxLength": 200},
    },
}

SCHEMAS: dict[str, dict[str, Any]] = {
    "Error": ERROR,
    "Me": ME,
    "Organization": ORGANIZATION,
    "OrganizationPage": page_of({"$ref": "#/components/schemas/Organization"}),
}
