"""Rows of the audit chain for the verifier's tests: plain events, events with every tricky value
a field can hold, inserted and sealed as the sealer does."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from referral.audit import chain, checkpoints
from referral.audit.models import AuditEvent
from referral.extensions import db
from referral.models_base import new_id, utcnow

T = AuditEvent.__table__
TRICKY = [
    'quote " and \\ backslash',
    "line\nbreak\ttab\x01\x1f\x1e\x7f and a NUL \x00 inside",
    "حالة 😀 \u2028 \ufeff",
    "",
    ':""',
    '"key":""',
    "a/b",
]


def event(i: int, **values: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "event_id": new_id(),
        "occurred_at": utcnow() + timedelta(microseconds=i),
        "action": "case.view",
        "outcome": "success",
        "actor_id": new_id(),
        "actor_role": "caseworker",
        "actor_organization_id": new_id(),
        "organization_id": new_id(),
        "object_type": "case",
        "object_id": new_id(),
        "case_code": f"NBL-2026-{i:06d}",
        "route": "cases.view",
        "request_id": f"{i:016x}",
        "reason": None,
        "details": {},
    }
    row.update(values)
    return row


def insert_and_seal(rows: list[dict[str, Any]]) -> None:
    db.session.execute(T.insert(), rows)
    db.session.commit()
    chain.seal(db.session, db.session.commit, signer=checkpoints.signer(), checkpoint_every=None)


def tricky_events() -> list[dict[str, Any]]:
    rows = []
    for i, value in enumerate(TRICKY):
        rows.append(
            event(
                i,
                reason=value,
                case_code=value[:32],
                route=value,
                request_id=value[:32],
                object_type=value[:32],
                object_id=value[:64],
                actor_role=value[:16],
                details={
                    "z": value,
                    "a": i,
                    "ك": "مفتاح",
                    "B": "",
                    "share": 0.1 * i,
                    "flag": bool(i % 2),
                    "none": None,
                },
            )
        )
    rows.append(event(90, actor_id=None, actor_role=None, actor_organization_id=None, organization_id=None))
    rows.append(event(91, object_type=None, object_id=None, case_code=None, route=None, request_id=None))
    rows.append(event(92, details={"nested": {"b": 1, "a": [1, "x"]}, "big": 10**30}))
    rows.append(event(93, details={"": "empty key", "reason": ""}))
    return rows
