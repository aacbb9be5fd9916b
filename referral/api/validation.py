"""Validating API input against the published schemas.

Unknown fields (also inside nested objects) are named one by one; missing required fields are
named; messages never repeat the value sent, since it may be a name or an identifier and error
bodies can end up in logs and proxies.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from flask import request
from jsonschema import Draft202012Validator, FormatChecker

from ..errors import InvalidInput, PreconditionFailed
from ..text import depth_of, problems_in

NOT_VALID = "The request is not valid."
MAX_DEPTH = 32  # the deepest published schema nests four levels
CHARACTERS = "holds characters that are not allowed (control or direction-override characters, or unpaired surrogates)"

# Dates and times that match their pattern must also exist (2027-02-30, T24:00 and year 0 do not).
FORMATS = FormatChecker(formats=())


@FORMATS.checks("date", raises=ValueError)
def _is_date(value: object) -> bool:
    return not isinstance(value, str) or bool(date.fromisoformat(value))


@FORMATS.checks("date-time", raises=ValueError)
def _is_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    return True


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
    if kind == "format":
        return path or "_", f"not a valid {error.validator_value}"
    return path or "_", "invalid"


def validate(instance: Any, schema: dict[str, Any]) -> None:
    """Validate against a published schema; raise InvalidInput naming each bad field.

    Unknown fields (also inside `safe_contact`) are named one by one as "unknown field"."""
    fields: dict[str, str] = {name: CHARACTERS for name in problems_in(instance)}
    validator = Draft202012Validator(schema, format_checker=FORMATS)
    for error in sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path)):
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
    if isinstance(instance, dict):
        _whole_numbers(instance, schema)


def query_params(args: Any, schema: dict[str, Any]) -> dict[str, Any]:
    """Query-string values converted by the schema's types, then validated."""
    props = schema.get("properties", {})
    values: dict[str, Any] = {}
    repeated = {name: "given more than once" for name in args if len(args.getlist(name)) > 1}
    if repeated:
        raise InvalidInput(NOT_VALID, fields=repeated)
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


def json_body(schema: dict[str, Any] | None = None, *, empty_is_object: bool = False) -> dict[str, Any]:
    """The request's JSON object, checked: anything else is a field-level 400, never a 500.

    Malformed JSON, a body that is not an object, nesting deeper than any published schema,
    unpaired surrogates and controls in strings are refused before the schema is applied (a
    body over the configured size is a 413 before this runs). `empty_is_object`: a route whose
    fields are all optional takes an empty body as `{}`."""
    raw = request.get_data(cache=True)
    if not raw.strip():
        if not empty_is_object:
            raise InvalidInput(NOT_VALID, fields={"_": "a JSON object is required"})
        body: Any = {}
    elif not request.is_json:
        raise InvalidInput(NOT_VALID, fields={"_": "a JSON object is required (Content-Type: application/json)"})
    else:
        try:
            body = json.loads(raw, parse_constant=_refuse_constant)
        except (ValueError, RecursionError):
            raise InvalidInput(NOT_VALID, fields={"_": "not valid JSON"}) from None
    if not isinstance(body, dict):
        raise InvalidInput(NOT_VALID, fields={"_": "a JSON object is required"})
    if depth_of(body, MAX_DEPTH) > MAX_DEPTH:
        raise InvalidInput(NOT_VALID, fields={"_": f"nested too deeply (at most {MAX_DEPTH} levels)"})
    if schema is not None:
        validate(body, schema)
    else:
        problems = problems_in(body)
        if problems:
            raise InvalidInput(NOT_VALID, fields=dict.fromkeys(problems, CHARACTERS))
    return body


def _whole_numbers(body: dict[str, Any], schema: dict[str, Any]) -> None:
    """JSON Schema counts 171.0 as an integer; the code gets the int it stands for."""
    for name, prop in schema.get("properties", {}).items():
        if prop.get("type") == "integer" and isinstance(body.get(name), float):
            body[name] = int(body[name])


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def expected_version() -> int | None:
    """The version named by `If-Match`, for a change that must not overwrite a newer one.

    None without the header or with `*`; the header must otherwise hold exactly one strong ETag
    of digits (what the API sends as `ETag`), or it is a 400 naming `If-Match`."""
    header = request.headers.get("If-Match")
    if header is None:
        return None
    value = header.strip()
    if value == "*":
        return None
    if value.startswith('"') and value.endswith('"') and len(value) >= 2:
        value = value[1:-1]
    if not (value.isascii() and value.isdigit() and len(value) <= 18):
        raise InvalidInput(
            NOT_VALID, fields={"If-Match": "must be the ETag of the version you read (one strong ETag, digits)"}
        )
    return int(value)


def check_version(expected: int | None, current: int) -> None:
    """412 when the object is no longer at the version the client read."""
    if expected is not None and expected != current:
        raise PreconditionFailed("The object changed since you read it; read it again and retry.")
