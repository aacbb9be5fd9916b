"""The OpenAPI 3.1 document, assembled from the same schemas the code validates with."""

from __future__ import annotations

from typing import Any

from .schemas import LIST_QUERY, SCHEMAS


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    names = {400: "Bad input", 401: "No or bad token", 403: "Role may not", 404: "Not found or not visible"}
    return {str(c): _json(_ref("Error"), names[c]) for c in codes}


def _query(schema: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {"name": name, "in": "query", "required": False, "schema": prop}
        for name, prop in schema.get("properties", {}).items()
    ]


def document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "Shabaka API", "version": "1.0.0"},
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearer": []}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": SCHEMAS,
        },
        "paths": {
            "/me": {
                "get": {
                    "summary": "The token's user, role and organisation",
                    "responses": {"200": _json(_ref("Me"), "You"), **_errors(400, 401)},
                }
            },
            "/directory/organizations": {
                "get": {
                    "summary": "Member organisations",
                    "parameters": _query(LIST_QUERY),
                    "responses": {"200": _json(_ref("OrganizationPage"), "A page"), **_errors(400, 401)},
                }
            },
        },
    }
