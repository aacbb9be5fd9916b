"""Domain errors raised by services, and how a view or the API answers them."""

from __future__ import annotations

from flask import Response, jsonify, render_template, request


class DomainError(Exception):
    """A rule refused the request. `code` is stable (the API's error code)."""

    status = 422
    code = "rule_refused"

    def __init__(self, message: str = "", *, fields: dict[str, str] | None = None) -> None:
        super().__init__(message or self.code)
        self.message = message or self.code
        self.fields = fields or {}


class InvalidInput(DomainError):
    status, code = 400, "invalid_input"


class RuleRefused(InvalidInput):
    """Input of the right shape that a rule refuses: one that depends on stored state, the time or
    another field (an unknown organisation, an expiry already past, a minor's consent without her
    assent), which no schema can state. 422, with the same `fields` map as a 400; forms show it
    like any field error."""

    status, code = 422, "rule_refused"


def refusal(message: str, fields: dict[str, str], rules: frozenset[str]) -> InvalidInput:
    """The error for `fields`: a 422 when every problem is one of `rules` (reasons a schema cannot
    state), else the 400 of malformed input."""
    if fields and all(reason in rules for reason in fields.values()):
        return RuleRefused(message, fields=fields)
    return InvalidInput(message, fields=fields)


def page_status(error: DomainError) -> int:
    """The status of a page that shows a refused form again: 400 for any input error, malformed or
    refused by a rule (the API tells those apart, 400 and 422; a page shows both by the field)."""
    return 400 if isinstance(error, InvalidInput) else error.status


class NotFound(DomainError):
    status, code = 404, "not_found"


class Forbidden(DomainError):
    status, code = 403, "forbidden"


class Conflict(DomainError):
    status, code = 409, "conflict"


class PreconditionFailed(Conflict):
    """The client named the version it read (`If-Match`, a form's version) and the object has moved on."""

    status, code = 412, "precondition_failed"


class Throttled(DomainError):
    status, code = 429, "rate_limited"


class InvalidCredentials(DomainError):
    status, code = 401, "invalid_credentials"


class IntegrityFailure(DomainError):
    """A stored value the request needed failed its integrity check (altered or moved). 409: the
    request was valid, the record's stored state is what refuses it, and trying again will not
    help until an administrator restores the value. `fields` names the columns, never values."""

    status, code = 409, "integrity_error"


INTEGRITY_MESSAGE = "Part of this record failed its integrity check; the administrators have been told."


def wants_json() -> bool:
    return request.path.startswith("/api/")


def api_error(status: int, code: str, message: str, fields: dict[str, str] | None = None) -> Response:
    body: dict[str, object] = {"code": code, "message": message}
    if fields is not None:
        body["fields"] = fields
    response = jsonify({"error": body})
    response.status_code = status
    return response


_API_MESSAGES = {
    400: ("invalid_input", "The request is not valid."),
    401: ("unauthorized", "A valid bearer token is required."),
    403: ("forbidden", "Your role may not do this."),
    404: ("not_found", "Not found."),
    405: ("method_not_allowed", "Method not allowed."),
    409: ("conflict", "The object changed; reload and try again."),
    412: ("precondition_failed", "The object changed since you read it; read it again and retry."),
    413: ("too_large", "The request is too large."),
    422: ("rule_refused", "A rule refused the request."),
    429: ("rate_limited", "Too many requests; wait and try again."),
    500: ("server_error", "Something went wrong; nothing was saved."),
    503: ("busy", "The server is busy; nothing was saved. Try again in a few seconds."),
}


def integrity_response(fields: dict[str, str]) -> Response:
    """The answer to a request that needed a stored value which failed its integrity check: the
    API error `integrity_error` naming the columns, or a page saying so (both 409)."""
    if wants_json():
        return api_error(IntegrityFailure.status, IntegrityFailure.code, INTEGRITY_MESSAGE, fields)
    from .extensions import db

    db.session.rollback()  # as for a 500: the page reads (the navigation) and the request failed
    return Response(
        render_template("errors/error.html", status=IntegrityFailure.status, integrity=True),
        status=IntegrityFailure.status,
    )


def error_response(status: int, *, retry_after: int | None = None) -> Response:
    """A generic error page or API error: never a traceback, never a detail of the failure.
    `retry_after` (seconds) becomes the Retry-After header of a 429."""
    if wants_json():
        code, message = _API_MESSAGES.get(status, ("error", "Error."))
        response = api_error(status, code, message, {} if status == 400 else None)
    else:
        if status >= 500:
            from .extensions import db

            db.session.rollback()  # the page itself reads (the navigation); a failed transaction can't
        response = Response(render_template("errors/error.html", status=status), status=status)
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response
