"""Validating API input against the published schemas; unknown fields are a 400."""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator

from ..errors import InvalidInput


def validate(instance: Any, schema: dict[str, Any]) -> None:
    errors = sorted(Draft202012Validator(schema).iter_errors(instance), key=lambda e: list(e.path))
    if not errors:
        return
    fields: dict[str, str] = {}
    for error in errors:
        if error.validator == "additionalProperties":
            known = set(schema.get("properties", {}))
            for name in instance if isinstance(instance, dict) else ():
                if name not in known:
                    fields[name] = "unknown field"
        else:
            name = ".".join(str(p) for p in error.path) or "_"
            fields.setdefault(name, error.message)
    raise InvalidInput("The request is not valid.", fields=fields)


def query_params(args: Any, schema: dict[str, Any]) -> dict[str, Any]:
    """Query-string values converted by the schema's types, then validated."""
    props = schema.get("properties", {})
    values: dict[str, Any] = {}
    for name, raw in args.items():
        kind = props.get(name, {}).get("type")
        if kind == "integer":
            try:
                values[name] = int(raw)
            except ValueError:
                raise InvalidInput("The request is not valid.", fields={name: "must be a whole number"}) from None
        else:
            values[name] = raw
    validate(values, schema)
    return values
