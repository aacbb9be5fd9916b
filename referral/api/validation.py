"""Validating API input against the published schemas.

Unknown fields (also inside nested objects) are named one by one; missing required fields are
named; messages never repeat the value sent, since it may be a name or an identifier and error
bodies can end up in logs and proxies.
"""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator

from ..errors import InvalidInput

NOT_VALID = "The request is not valid."


def _problem(error: Any) -> tuple[str, str]:
    """A field name and a message for one schema error. Messages never repeat the value sent:
    it may be a name or an identifier, and error bodies can end up in logs and proxies."""
    path = ".".join(str(p) for p in error.absolute_path)
    kind = error.validator
    if kind == "enum":
        codes = ", ".join(str(c) for c in error.validator_value if c is not None)
        return path or "_", f"must be one of: {codes}"
    if kind == "type":
        wanted = error.validator_value if isinstance(error.validator_value, list) else [error.validator_value]
        return path or "_", "must be " + " or ".join(str(w) for w in wanted)
    if kind == "maxLength":
        return path or "_", f"too long (at most {error.validator_value} characters)"
    if kind in ("minLength", "pattern") and path == "full_name":
        return path, "required"
    if kind in ("minimum", "maximum"):
        return path or "_", f"out of range ({kind} {error.validator_value})"
    if kind == "minProperties":
        return "_", "no field to change"
    return path or "_", "invalid"


def validate(instance: Any, schema: dict[str, Any]) -> None:
    """Validate against a published schema; raise InvalidInput naming each bad field.

    Unknown fields (also inside `safe_contact`) are named one by one as "unknown field"."""
    fields: dict[str, str] = {}
    for error in sorted(Draft202012Validator(schema).iter_errors(instance), key=lambda e: list(e.absolute_path)):
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            prefix = ".".join(str(p) for p in error.absolute_path)
            known = set(error.schema.get("properties", {}))
            for name in error.instance:
                if name not in known:
                    fields[f"{prefix}.{name}" if prefix else str(name)] = "unknown field"
            continue
        if error.validator == "required" and isinstance(error.instance, dict):  # one error per missing name
            prefix = "".join(f"{p}." for p in error.absolute_path)
            for name in error.validator_value:
                if name not in error.instance:
                    fields.setdefault(f"{prefix}{name}", "required")
            continue
        name, message = _problem(error)
        fields.setdefault(name, message)
    if fields:
        raise InvalidInput(NOT_VALID, fields=fields)


def query_params(args: Any, schema: dict[str, Any]) -> dict[str, Any]:
    """Query-string values converted by the schema's types, then validated."""
    props = schema.get("properties", {})
    values: dict[str, Any] = {}
    for name, raw in args.items():
        if props.get(name, {}).get("type") == "integer":
            try:
                values[name] = int(raw)
            except ValueError:
                raise InvalidInput(NOT_VALID, fields={name: "must be a whole number"}) from None
        else:
            values[name] = raw
    validate(values, schema)
    return values
