#!/usr/bin/env python3
"""Verify an export of Shabaka's audit trail offline, against its signed checkpoints.

    python verify_audit.py EXPORT.csv CHECKPOINTS.json [--public-key BASE64 ...]

Needs Python 3.11+ and the `cryptography` package, nothing of Shabaka. EXPORT.csv is the
auditors' CSV export (UTF-8, a header row); CHECKPOINTS.json comes from the auditor workspace,
`GET /api/v1/audit/checkpoints` or `flask --app referral audit checkpoints --out FILE`. Pass the
public key you were given out of band with --public-key: without it the keys inside the
checkpoints file are used, which proves only that the file is consistent with itself.

The export needs these columns (others are ignored), each value as stored:
    chain_position, prev_hash, event_hash           (the hashes in hex; empty when not yet sealed)
    action, actor_id, actor_organization_id, actor_role, case_code, details, event_id,
    object_id, object_type, occurred_at, organization_id, outcome, reason, request_id, route
An empty cell is null. `details` is the JSON object; `occurred_at` is UTC with microseconds
(2026-11-29T10:00:00.000005Z; "+00:00" is accepted). A cell that starts with ' followed by
= + - @ ' TAB or CR had the quote added against spreadsheet formulas: one ' is removed.

How each event is hashed (the same as referral/audit/chain.py):
    canonical  = UTF-8 of JSON with sorted keys, no spaces, non-ASCII as is, of the 16 fields
                 above (not the two hashes) plus chain_position as a number; UUIDs in lower
                 case; empty text as null; details with its keys sorted too
    event_hash = SHA-256(prev_hash || canonical); position 1's prev_hash is 32 zero bytes
A checkpoint signs, with Ed25519, b"shabaka audit checkpoint v1\\n" followed by
"{position}\\n{head_hash hex}\\n{signed_at}\\n" in UTF-8; a linked checkpoint (one with
"previous" in the file) signs b"shabaka audit checkpoint v2\\n" followed by the same and
"{previous}\\n", where previous is the hex SHA-256 of the checkpoint before it (its signed
message and signature), or 64 zeros when it links to none.

Checks: every row's hash; every link between consecutive positions; every checkpoint's
signature and link to the one before, and its head hash where the export holds that position.
Rows in an unbroken run that reaches a checkpoint are "anchored": their content is covered by a signature. An export
filtered by case or user holds scattered positions, so fewer rows are anchored; a complete
export (positions 1 to N) is anchored up to the last checkpoint. Exit status: 0 when nothing
is wrong, 1 when something is, 2 when the files cannot be read.
"""

from __future__ import annotations

import argparse
import base64
import csv
import hashlib
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HASHED_FIELDS = (
    "action",
    "actor_id",
    "actor_organization_id",
    "actor_role",
    "case_code",
    "chain_position",
    "details",
    "event_id",
    "object_id",
    "object_type",
    "occurred_at",
    "organization_id",
    "outcome",
    "reason",
    "request_id",
    "route",
)
UUIDS = ("actor_id", "actor_organization_id", "organization_id", "event_id")
GENESIS = bytes(32)
PREFIX = b"shabaka audit checkpoint v1\n"
PREFIX_LINKED = b"shabaka audit checkpoint v2\n"
NO_LINK = "0" * 64
FORMULA = ("=", "+", "-", "@", "'", "\t", "\r")


def cell(raw: str | None) -> str | None:
    if raw is None or raw == "":
        return None
    if raw[0] == "'" and len(raw) > 1 and raw[1] in FORMULA:
        return raw[1:]
    return raw


def timestamp(text: str) -> str:
    when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if when.tzinfo is None:
        raise ValueError(f"occurred_at without a time zone: {text}")
    return f"{when.astimezone(UTC):%Y-%m-%dT%H:%M:%S.%fZ}"


def canonical(row: dict[str, Any]) -> bytes:
    values: dict[str, Any] = {}
    for name in HASHED_FIELDS:
        value = row.get(name)
        if name == "chain_position":
            values[name] = int(value)  # type: ignore[arg-type]
        elif name == "details":
            values[name] = None if value is None else json.loads(value)
        elif value is None:
            values[name] = None
        elif name == "occurred_at":
            values[name] = timestamp(value)
        elif name in UUIDS:
            values[name] = value.lower()
        else:
            values[name] = value
    text = json.dumps(values, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return text.encode()


def read_export(path: Path) -> tuple[dict[int, dict[str, Any]], int]:
    """Sealed rows by position, and how many rows were not sealed yet."""
    rows: dict[int, dict[str, Any]] = {}
    unsealed = 0
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        missing = {"chain_position", "prev_hash", "event_hash", *HASHED_FIELDS} - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"the export lacks the columns {', '.join(sorted(missing))}")
        for raw in reader:
            row = {name: cell(raw.get(name)) for name in ("chain_position", "prev_hash", "event_hash", *HASHED_FIELDS)}
            if row["chain_position"] is None:
                unsealed += 1
                continue
            position = int(row["chain_position"])
            if position in rows:
                raise ValueError(f"position {position} appears twice in the export")
            rows[position] = row
    return rows, unsealed


def signed_message(mark: dict[str, Any]) -> bytes:
    body = f"{mark['position']}\n{mark['head_hash']}\n{mark['signed_at']}\n"
    if mark.get("previous") is None:  # version 1: signed before checkpoints were linked
        return PREFIX + body.encode()
    return PREFIX_LINKED + f"{body}{mark['previous']}\n".encode()


def mark_digest(mark: dict[str, Any]) -> str:
    """What the next checkpoint signs of this one (version 2 links)."""
    return hashlib.sha256(signed_message(mark) + bytes.fromhex(mark["signature"])).hexdigest()


def check_signature(public_key: bytes, signature: bytes, message: bytes) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


def key_id(public_key: bytes) -> str:
    return hashlib.sha256(b"shabaka audit key\x00" + public_key).hexdigest()[:16]


def verify(rows: dict[int, dict[str, Any]], document: dict[str, Any], pinned: list[bytes]) -> dict[str, Any]:
    problems: list[tuple[int, str]] = []
    hashes: dict[int, bytes] = {}
    for position in sorted(rows):
        row = rows[position]
        try:
            prev = bytes.fromhex(row["prev_hash"] or "")
            stored = bytes.fromhex(row["event_hash"] or "")
            computed = hashlib.sha256(prev + canonical(row)).digest()
        except ValueError as error:
            problems.append((position, f"unreadable row: {error}"))
            continue
        if computed != stored:
            problems.append((position, "the event does not match its hash (edited, or inserted)"))
        hashes[position] = stored
        if position == 1 and prev != GENESIS:
            problems.append((position, "the first event does not start the chain"))
        if position - 1 in hashes and hashes[position - 1] != prev:
            problems.append((position, "the event does not follow the one before it (inserted, removed or reordered)"))

    keys = {key_id(key): key for key in pinned}
    if not keys:
        for entry in document.get("public_keys", []):
            key = base64.b64decode(entry["public_key"])
            keys[key_id(key)] = key
    anchors: list[int] = []
    before_digest: str | None = None
    for mark in document.get("checkpoints", []):
        position = int(mark["position"])
        key = keys.get(mark["key_id"])
        link = mark.get("previous")
        try:
            link_holds = link in (None, NO_LINK) or link == before_digest
            before_digest = mark_digest(mark)
        except (ValueError, KeyError):
            link_holds, before_digest = False, None
        if not link_holds:
            problems.append((position, "the checkpoint does not follow the one before it (one removed or altered)"))
        if key is None:
            problems.append((position, f"checkpoint signed by an unknown key {mark['key_id']}"))
        elif not check_signature(key, bytes.fromhex(mark["signature"]), signed_message(mark)):
            problems.append((position, "checkpoint signature does not hold (forged or altered)"))
        elif position in hashes:
            if hashes[position].hex() != mark["head_hash"]:
                problems.append((position, "the chain at this position differs from its signed checkpoint"))
            else:
                anchors.append(position)

    anchored = set()
    for anchor in anchors:  # walk back along the unbroken run that reaches this checkpoint
        position = anchor
        while position in rows and position not in anchored:
            anchored.add(position)
            position -= 1
    bad = {position for position, _ in problems}
    positions = sorted(rows)
    return {
        "ok": not problems,
        "rows": len(rows),
        "first_bad_position": min(bad) if bad else None,
        "problems": sorted(problems),
        "checkpoints": len(document.get("checkpoints", [])),
        "anchored": len(anchored - bad),
        "complete": bool(positions) and positions == list(range(1, positions[-1] + 1)),
        "keys_pinned": bool(pinned),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("export", type=Path, help="the CSV export of audit events")
    parser.add_argument("checkpoints", type=Path, help="the checkpoints JSON")
    parser.add_argument("--public-key", action="append", default=[], help="a published key (base64); repeatable")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    try:
        rows, unsealed = read_export(args.export)
        document = json.loads(args.checkpoints.read_text(encoding="utf-8"))
        pinned = [base64.b64decode(key, validate=True) for key in args.public_key]
    except (OSError, ValueError) as error:
        print(f"cannot read the files: {error}", file=sys.stderr)
        return 2
    result = verify(rows, document, pinned)
    result["unsealed"] = unsealed
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(
            f"{result['rows']} sealed events ({'complete from position 1' if result['complete'] else 'a selection'}), "
            f"{result['anchored']} anchored to {result['checkpoints']} signed checkpoints, {unsealed} not sealed yet"
        )
        if not pinned:
            print("warning: no --public-key given; the keys inside the checkpoints file were trusted")
        for position, problem in result["problems"][:50]:
            print(f"position {position}: {problem}")
        print("OK" if result["ok"] else f"FAILED: first bad position {result['first_bad_position']}")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
