"""GET /audit/verify and GET /audit/checkpoints: the audit chain's state, for auditors."""

from __future__ import annotations

from typing import Any

from flask import g, jsonify, request
from werkzeug.wrappers import Response

from ..access.policy import can
from ..audit import chain, checkpoints
from ..audit.services import record
from ..errors import Forbidden
from ..extensions import db
from . import api_bp
from .openapi import _errors, _json, _ref, describe
from .validation import query_params

NO_QUERY: dict[str, Any] = {"type": "object", "additionalProperties": False, "properties": {}}
_HEX = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
CHECKPOINT: dict[str, Any] = {
    "type": ["object", "null"],
    "required": ["position", "head_hash", "signed_at", "key_id"],
    "additionalProperties": False,
    "properties": {
        "position": {"type": "integer", "minimum": 1},
        "head_hash": _HEX,
        "signed_at": {"type": "string", "format": "date-time"},
        "key_id": {"type": "string"},
    },
}
VERIFICATION: dict[str, Any] = {
    "type": "object",
    "required": ["ok", "checked", "first_bad_position", "checkpoint"],
    "additionalProperties": False,
    "properties": {
        "ok": {"type": "boolean"},
        "checked": {"type": "integer", "description": "Events read"},
        "first_bad_position": {"type": ["integer", "null"], "description": "The first position that does not hold"},
        "problem": {
            "type": ["string", "null"],
            "enum": [
                None,
                "gap",
                "link",
                "hash",
                "checkpoint_hash",
                "checkpoint_signature",
                "checkpoint_key",
                "truncated",
            ],
        },
        "head_position": {"type": "integer"},
        "head_hash": {"type": ["string", "null"]},
        "unsealed": {"type": "integer", "description": "Events written but not chained yet"},
        "keys_pinned": {"type": "boolean", "description": "Checkpoints checked against the published keys"},
        "checkpoint": _ref("AuditCheckpoint"),
    },
}
CHECKPOINTS: dict[str, Any] = {
    "type": "object",
    "required": ["format", "public_keys", "checkpoints"],
    "properties": {
        "format": {"const": checkpoints.FORMAT},
        "hash": {"type": "string"},
        "public_keys": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "key_id": {"type": "string"},
                    "public_key": {"type": "string", "description": "Ed25519, base64 of 32 bytes"},
                    "published": {"type": "boolean"},
                },
            },
        },
        "checkpoints": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "position": {"type": "integer"},
                    "head_hash": _HEX,
                    "signed_at": {"type": "string"},
                    "key_id": {"type": "string"},
                    "signature": {"type": "string", "description": "Ed25519, hex"},
                    "previous": {
                        "type": ["string", "null"],
                        "pattern": "^[0-9a-f]{64}$",
                        "description": "SHA-256 of the previous checkpoint's message and signature, which this "
                        "one signs too (hex; zeros: linked to none); null on checkpoints signed before links",
                    },
                },
            },
        },
    },
}


def _auditor_only() -> None:
    if not can(g.api_user, "audit.read"):
        raise Forbidden("Only auditors may read the audit trail.")


@api_bp.get("/audit/verify")
def verify_audit() -> Response:
    _auditor_only()
    query_params(request.args, NO_QUERY)
    result = chain.verify(db.session)
    chain.record_verification(db.session, g.api_user, result)
    return jsonify(result.as_dict())


@api_bp.get("/audit/checkpoints")
def audit_checkpoints() -> Response:
    _auditor_only()
    query_params(request.args, NO_QUERY)
    document = checkpoints.document(db.session)
    record("audit.checkpoints", g.api_user, count=len(document["checkpoints"]))
    return jsonify(document)


describe(
    lambda: {
        "/audit/verify": {
            "get": {
                "summary": "Recompute the audit chain and its signed checkpoints (auditors)",
                "responses": {"200": _json(_ref("AuditVerification"), "The result"), **_errors(400, 401, 403)},
            }
        },
        "/audit/checkpoints": {
            "get": {
                "summary": "Every signed checkpoint and the public keys, for verifying an export offline (auditors)",
                "responses": {"200": _json(_ref("AuditCheckpoints"), "The checkpoints"), **_errors(400, 401, 403)},
            }
        },
    },
    {"AuditVerification": VERIFICATION, "AuditCheckpoint": CHECKPOINT, "AuditCheckpoints": CHECKPOINTS},
)
