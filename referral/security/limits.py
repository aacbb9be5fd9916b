"""Request rate limits (Flask-Limiter): per client address on every page and API route, and per
bearer token on the API, both a minute long and both settings (`requests_per_minute_per_address`,
600; `api_requests_per_minute_per_token`, 300).

The counters live in Redis when REDIS_URL is set (production always has it) and otherwise in
each web process's memory: `make run`'s two gunicorn workers count apart, so there a client
may get up to twice the limit before being refused (see docs/decisions.md). The client address
is the one ProxyFix derived from the configured proxy hops. A refusal is a 429 with
`Retry-After`: the API error format for the API, the translated error page for the rest.
"""

from __future__ import annotations

import hashlib
import math
import time

from flask import Blueprint, Flask, current_app, request
from flask_limiter import Limiter, RequestLimit
from flask_limiter.errors import RateLimitExceeded
from werkzeug.wrappers import Response

from config import Settings

EXTENSION = "shabaka_limiter"
UNLIMITED_ENDPOINTS = frozenset({"home.health"})  # the load balancer's probe


def client_address() -> str:
    """The client's address as the app sees it (after ProxyFix, when proxies are configured)."""
    return request.remote_addr or "unknown"


def _bearer() -> str:
    scheme, _, raw = request.headers.get("Authorization", "").partition(" ")
    return raw.strip() if scheme.lower() == "bearer" else ""


def token_key() -> str:
    """A digest of the bearer token, so no token is kept in the counters' store."""
    return "token:" + hashlib.sha256(_bearer().encode()).hexdigest()[:32]


def _settings() -> Settings:
    return current_app.config["SHABAKA_SETTINGS"]  # type: ignore[no-any-return]


def _address_limit() -> str:
    return f"{_settings().requests_per_minute_per_address}/minute"


def _token_limit() -> str:
    return f"{_settings().api_requests_per_minute_per_token}/minute"


def init_app(app: Flask, settings: Settings, api: Blueprint) -> Limiter:
    limiter = Limiter(
        key_func=client_address,
        application_limits=[_address_limit],
        storage_uri=settings.rate_limit_storage,
        key_prefix="shabaka-limits",
        strategy="fixed-window",
        headers_enabled=False,
    )
    limiter.request_filter(lambda: request.endpoint in UNLIMITED_ENDPOINTS)
    limiter.limit(_token_limit, key_func=token_key, exempt_when=lambda: not _bearer())(api)
    limiter.init_app(app)
    app.extensions[EXTENSION] = limiter
    return limiter


def retry_after(limit: RequestLimit | None) -> int:
    """Whole seconds until the breached window ends (at least 1)."""
    if limit is None:
        return 60
    return max(1, math.ceil(limit.reset_at - time.time()))


def refused(error: RateLimitExceeded) -> Response:
    """The answer to a request over a limit: 429 with Retry-After, API format or page."""
    from ..errors import error_response

    limiter: Limiter = current_app.extensions[EXTENSION]
    return error_response(429, retry_after=retry_after(limiter.current_limit))


def reset(app: Flask) -> None:
    """Forget every counter (the test suite does it between tests, as it empties the database)."""
    app.extensions[EXTENSION].reset()
