"""The OpenAPI 3.1 document, assembled from the same schemas the code validates with."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import contract
from .referrals import BOX_QUERY, TRANSITION_BODIES
from .referrals import SCHEMAS as REFERRAL_SCHEMAS
from .schemas import CASE_LIST_QUERY, CASE_VIEW_QUERY, LIST_QUERY, SCHEMAS, UUID


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    names = {
        400: "Bad input (a `fields` map names each bad or unknown field)",
        401: "No or bad token",
        403: "Role may not",
        404: "Not found or not visible",
        409: "Invalid transition or concurrent change",
        422: "A domain rule refused it",
    }
    return {str(c): _json(_ref("Error"), names[c]) for c in codes}


def _query(schema: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {"name": name, "in": "query", "required": False, "schema": prop}
        for name, prop in schema.get("properties", {}).items()
    ]


def _body(name: str, description: str) -> dict[str, Any]:
    return {"required": True, "description": description, "content": {"application/json": {"schema": _ref(name)}}}


IF_MATCH = {
    "name": "If-Match",
    "in": "header",
    "required": False,
    "description": "The version read (its ETag); a different current version is a 412",
    "schema": {"type": "string"},
}
_CASE_ID = {"name": "id", "in": "path", "required": True, "description": "The case's id (not its code)", "schema": UUID}
_ETAG = {"ETag": {"description": "The case's version; send it back as `If-Match`", "schema": {"type": "string"}}}


def _case_paths() -> dict[str, Any]:
    return {
        "/cases": {
            "post": {
                "summary": "Open a case (caseworker, supervisor)",
                "requestBody": _body("CaseCreate", "The intake"),
                "responses": {
                    "201": {
                        **_json(_ref("CaseCreated"), "Opened; `returning_survivor` lists matching case codes"),
                        "headers": {"Location": {"description": "The case's URL", "schema": {"type": "string"}}},
                    },
                    **_errors(400, 401, 403),
                },
            },
            "get": {
                "summary": "The cases you may see, newest first, identifiers masked",
                "parameters": _query(CASE_LIST_QUERY),
                "responses": {"200": _json(_ref("CasePage"), "A page"), **_errors(400, 401)},
            },
        },
        "/cases/search": {
            "post": {
                "summary": "Search the cases you may see by a case code, or an exact national id or phone "
                "(by blind index; audited as an identifier search). Same answer as GET /cases; the "
                "identifier travels in the body, never in a URL",
                "requestBody": _body("CaseSearch", "What to search for, with the list's filters and paging"),
                "responses": {"200": _json(_ref("CasePage"), "A page"), **_errors(400, 401)},
            }
        },
        "/cases/{id}": {
            "get": {
                "summary": (
                    "A case (audited as a view; `reveal=true` is audited as a reveal). A receiving "
                    "organisation of its open referrals gets only the shared field groups (SharedCase)"
                ),
                "parameters": [_CASE_ID, *_query(CASE_VIEW_QUERY)],
                "responses": {
                    "200": {
                        **_json({"oneOf": [_ref("Case"), _ref("SharedCase")]}, "The case, or its shared part"),
                        "headers": _ETAG,
                    },
                    **_errors(400, 401, 404),
                },
            },
            "patch": {
                "summary": "Change fields of a case (case team; audited with the changed field names)",
                "parameters": [
                    _CASE_ID,
                    IF_MATCH,
                ],
                "requestBody": _body("CaseUpdate", "The fields to change"),
                "responses": {
                    "200": {**_json(_ref("Case"), "The updated case"), "headers": _ETAG},
                    **_errors(400, 401, 404, 409),
                },
            },
        },
    }


# Other modules add their paths and schemas here, so each API area describes itself.
_EXTRA_PATHS: list[Callable[[], dict[str, Any]]] = []
_EXTRA_SCHEMAS: dict[str, Any] = {}


def describe(paths: Callable[[], dict[str, Any]], schemas: dict[str, Any] | None = None) -> None:
    _EXTRA_PATHS.append(paths)
    _EXTRA_SCHEMAS.update(schemas or {})


def document(governorates: list[str] | None = None) -> dict[str, Any]:
    """The whole document. `governorates`: the networks this deployment serves, which a new case
    must name (the app passes them; without them the field keeps its code pattern)."""
    extra: dict[str, Any] = {}
    for paths in _EXTRA_PATHS:
        extra.update(paths())
    return contract.tighten(_assembled(extra), governorates)


def _assembled(extra: dict[str, Any]) -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "Shabaka API", "version": "1.0.0"},
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearer": []}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {**SCHEMAS, **REFERRAL_SCHEMAS, **_transition_schemas(), **_EXTRA_SCHEMAS},
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
            **_case_paths(),
            **_directory_paths(),
            **_referral_paths(),
            **extra,
        },
    }


def _directory_paths() -> dict[str, Any]:
    from .schemas import SERVICE_LIST_QUERY

    return {
        "/directory/services": {
            "get": {
                "summary": "Active services of the member organisations, filtered; never a confidential location",
                "parameters": _query(SERVICE_LIST_QUERY),
                "responses": {"200": _json(_ref("ServicePage"), "A page"), **_errors(400, 401)},
            }
        },
        "/directory/hsds": {
            "get": {
                "summary": "The directory as Open Referral HSDS 3.0 JSON (organizations and services)",
                "responses": {"200": _json(_ref("HsdsDocument"), "The directory"), **_errors(400, 401)},
            }
        },
    }


def _transition_schemas() -> dict[str, Any]:
    return {f"Referral{action.capitalize()}": schema for action, schema in TRANSITION_BODIES.items()}


def _referral_paths() -> dict[str, Any]:
    """Consent and referral routes (referral/api/referrals.py), from the schemas they validate with."""
    referral_id = {"name": "id", "in": "path", "required": True, "schema": UUID}
    answer = {"200": _json(_ref("Referral"), "The referral (ETag: its version)"), **_errors(400, 401, 403, 404, 409)}
    paths: dict[str, Any] = {
        "/cases/{id}/consents": {
            "post": {
                "summary": "Record a grant of consent to share",
                "parameters": [_CASE_ID],
                "requestBody": _body("ConsentCreate", "Who gave it, how, to whom, which field groups, until when"),
                "responses": {"201": _json(_ref("Consent"), "The consent"), **_errors(400, 401, 404)},
            }
        },
        "/consents/{id}/withdraw": {
            "post": {
                "summary": "Withdraw a consent now",
                "parameters": [referral_id],
                "responses": {"200": _json(_ref("Consent"), "The withdrawn consent"), **_errors(401, 404, 409)},
            }
        },
        "/referrals": {
            "post": {
                "summary": "Send a referral to a member organisation or a provider outside the network "
                "(needs a covering consent or an allowed override)",
                "requestBody": _body("ReferralCreate", "The referral"),
                "responses": {"201": _json(_ref("Referral"), "Sent"), **_errors(400, 401, 403, 404, 422)},
            },
            "get": {
                "summary": "Referrals to or from your organisation, newest first (a caseworker: the ones "
                "assigned to her and her cases' sends)",
                "parameters": _query(BOX_QUERY),
                "responses": {"200": _json(_ref("ReferralPage"), "A page"), **_errors(400, 401, 404)},
            },
        },
        "/referrals/{id}": {
            "get": {
                "summary": "A referral with its timeline and, for the receiver, what it shares",
                "parameters": [referral_id],
                "responses": answer,
            },
        },
    }
    paths["/referrals/{id}/log"] = {
        "post": {
            "summary": "Record progress of the service (the receiving organisation)",
            "description": "A dated entry: what was done and, optionally, the next step; while the referral "
            "is accepted or in progress (else 409). The sending user is notified (case code only).",
            "parameters": [referral_id],
            "requestBody": _body("ReferralLogCreate", "What was done, and the next step"),
            "responses": {
                "201": _json(_ref("ReferralLogEntry"), "The entry"),
                **_errors(400, 401, 403, 404, 409),
            },
        }
    }
    paths["/referrals/{id}/open-case"] = {
        "post": {
            "summary": "Open the receiving organisation's own case file from the referral",
            "description": "Copies the field groups the referral shares now (within the consent) into a new case "
            "of the receiving organisation (its own code, owner and key), kept after the referral ends. While "
            "the referral is accepted or in progress, once per referral (else 409). Body: `{}` or none.",
            "parameters": [referral_id],
            "responses": {
                "201": {
                    **_json(_ref("ReferralOwnCase"), "The new case"),
                    "headers": {"Location": {"description": "The case's URL", "schema": {"type": "string"}}},
                },
                **_errors(400, 401, 403, 404, 409),
            },
        }
    }
    for action in TRANSITION_BODIES:
        paths[f"/referrals/{{id}}/{action}"] = {
            "post": {
                "summary": f"{action.capitalize()} the referral",
                "description": "The receiving organisation answers and delivers, the sending side withdraws; "
                "for a referral outside the network the sending side records every step, each with a `note`.",
                "parameters": [referral_id, IF_MATCH],
                "requestBody": _body(f"Referral{action.capitalize()}", "What this step needs"),
                "responses": answer,
            }
        }
    return paths
