"""Security headers on every response, set by the app itself."""

from __future__ import annotations

from flask import Response, request

CSP = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)


def apply(response: Response, production: bool) -> Response:
    headers = response.headers
    headers["Content-Security-Policy"] = CSP
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "no-referrer"
    headers["X-Frame-Options"] = "DENY"
    headers["Cross-Origin-Opener-Policy"] = "same-origin"
    headers["Cross-Origin-Resource-Policy"] = "same-origin"
    headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=(), payment=()"
    if production:
        headers["Strict-Transport-Security"] = "max-age=63072000; includeSubDomains"
    if not request.path.startswith("/static/"):
        # Pages and API answers may carry personal data: never keep them in any cache.
        headers["Cache-Control"] = "no-store"
        headers["Pragma"] = "no-cache"
    return response
