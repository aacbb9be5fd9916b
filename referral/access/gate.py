"""Sign-in is required everywhere by default.

Only the endpoints named here are open to anonymous visitors; a visitor who has passed the
password but not yet the second factor may reach only the MFA pages; a user who must change
her password may reach only that page. The API authenticates with bearer tokens on its own.
"""

from __future__ import annotations

from flask import redirect, request, session, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from ..errors import error_response

PUBLIC_ENDPOINTS = frozenset({"static", "auth.login", "auth.set_locale", "home.health"})
PENDING_ENDPOINTS = frozenset({"auth.mfa", "auth.mfa_enrol", "auth.logout", "auth.set_locale"})
PASSWORD_CHANGE_ENDPOINTS = frozenset({"account.password", "auth.logout", "auth.set_locale"})


def enforce_sign_in() -> Response | None:
    endpoint = request.endpoint
    if endpoint is None:
        return None  # no route matched: the 404 handler answers
    if endpoint.startswith("api."):
        return None  # the API blueprint checks its bearer token before every view
    if endpoint in PUBLIC_ENDPOINTS:
        return None
    if current_user.is_authenticated:
        if current_user.must_change_password and endpoint not in PASSWORD_CHANGE_ENDPOINTS:
            return redirect(url_for("account.password"))
        return None
    if session.get("pending_user_id") and endpoint in PENDING_ENDPOINTS:
        return None
    if request.method == "GET":
        return redirect(url_for("auth.login"))
    return error_response(401)
