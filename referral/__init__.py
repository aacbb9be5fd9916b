"""Shabaka: referrals between the member organisations of women's protection networks."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Flask, Response, g, request
from flask.helpers import get_debug_flag
from flask.json.provider import DefaultJSONProvider
from flask_limiter.errors import RateLimitExceeded
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from config import BASE_DIR, ConfigError, Settings

from . import logging_setup, replica
from .errors import DomainError, error_response
from .extensions import babel, csrf, db, login_manager, migrate, use_sqlite_properly
from .runtime import build_runtime
from .security import headers, limits
from .security.crypto import TamperedValue
from .security.fields import Unreadable
from .security.sessions import ServerSessionInterface, SessionPolicy
from .transaction import finish_request

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or Settings.from_env()
    if settings.is_production and get_debug_flag():
        raise ConfigError("FLASK_DEBUG must not be set in production: the debugger would run code for anyone")
    logging_setup.configure(settings.log_level)
    app = Flask(
        __name__,
        template_folder=str(BASE_DIR / "templates"),
        instance_path=str(settings.instance_path),
        instance_relative_config=False,
    )
    app.json = IntegrityCheckedJSON(app)
    app.config.update(
        SECRET_KEY=settings.secret_key,
        SQLALCHEMY_DATABASE_URI=settings.database_url,
        SQLALCHEMY_ENGINE_OPTIONS=_engine_options(settings.database_url, settings.sqlite_busy_seconds),
        DEBUG=False,
        TESTING=settings.env == "test",
        PROPAGATE_EXCEPTIONS=False,
        MAX_CONTENT_LENGTH=1024 * 1024,
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the server-side session
        # Not the Referer check over HTTPS: the pages send Referrer-Policy: no-referrer, so a
        # browser sends no Referer and every form would be refused. The CSRF token lives in the
        # server-side session behind a __Host- cookie, where no other origin can plant one.
        WTF_CSRF_SSL_STRICT=False,
        BABEL_DEFAULT_LOCALE=settings.default_locale,
        BABEL_TRANSLATION_DIRECTORIES=str(Path(__file__).parent / "translations"),
        PERMANENT_SESSION_LIFETIME=timedelta(hours=settings.session_absolute_hours),
        SHABAKA_SETTINGS=settings,
    )
    if settings.proxy_hops:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=settings.proxy_hops, x_proto=settings.proxy_hops, x_host=settings.proxy_hops
        )
    # The edge commits first among the after-request functions registered here, so it
    # runs last of them (Flask runs them in reverse), before the session is saved.
    app.after_request(finish_request)
    app.before_request(_assign_request_id)  # first, so every later log line carries it

    db.init_app(app)
    if settings.database_url.startswith("sqlite"):
        with app.app_context():
            use_sqlite_properly(db.engine)
    with app.app_context():
        replica.init_app(app, settings)  # reporting reads on REPLICA_DATABASE_URL, when set
    migrate.init_app(app, db, directory=str(BASE_DIR / "migrations"), compare_type=True, render_as_batch=True)
    from .api import api_bp

    limits.init_app(app, settings, api_bp)  # before the sign-in gate and the API's token check
    csrf.init_app(app)
    login_manager.init_app(app)
    login_manager.session_protection = None  # sessions are server-side and rotated at login
    from .i18n import install_translation_memory, select_locale

    babel.init_app(app, locale_selector=select_locale)
    install_translation_memory(app)

    with app.app_context():
        app.extensions["shabaka"] = build_runtime(settings)
    app.session_interface = ServerSessionInterface(
        app.extensions["shabaka"].sessions,
        SessionPolicy(
            idle=timedelta(minutes=settings.session_idle_minutes),
            absolute=timedelta(hours=settings.session_absolute_hours),
            cookie_name="__Host-shabaka" if settings.is_production else "shabaka",
            secure=settings.is_production,
        ),
    )

    _register_models()
    _register_templates(app)
    _register_blueprints(app)
    _register_request_hooks(app, settings)
    _register_error_handlers(app)
    from . import cli

    cli.register(app)
    return app


class IntegrityCheckedJSON(DefaultJSONProvider):
    """Flask's JSON, except that a value which failed its integrity check is never encoded (the
    default would write its HTML marker): the answer becomes the API error `integrity_error`."""

    @staticmethod
    def default(o: Any) -> Any:
        if isinstance(o, Unreadable):
            from .errors import INTEGRITY_MESSAGE, IntegrityFailure

            raise IntegrityFailure(INTEGRITY_MESSAGE, fields={o.column: "integrity_error"})
        return DefaultJSONProvider.default(o)


def _assign_request_id() -> None:
    g.request_id = uuid.uuid4().hex[:16]


def _engine_options(url: str, busy_seconds: int = 30) -> dict[str, Any]:
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": busy_seconds}}
    return {"pool_pre_ping": True, "pool_size": 10, "max_overflow": 5}


def _register_models() -> None:
    from .access import breakglass
    from .access import models as _access  # noqa: F401
    from .accounts import models as _accounts  # noqa: F401
    from .audit import models as _audit  # noqa: F401
    from .cases import documents as _documents  # noqa: F401  (registers its files with key rotation)
    from .cases import models as _cases  # noqa: F401
    from .cases import retention
    from .conferences import models as _conferences  # noqa: F401
    from .coordination import models as _coordination  # noqa: F401
    from .directory import models as _directory  # noqa: F401
    from .followups import models as _followups  # noqa: F401
    from .plans import services as _plans  # noqa: F401  (its models, and its files registered with key rotation)
    from .referrals import models as _referrals  # noqa: F401
    from .security import models as _security  # noqa: F401
    from .statistics import models as _statistics  # noqa: F401

    retention.on_purge(breakglass.forget_reasons)  # a purged case's grants lose their reasons


def _register_templates(app: Flask) -> None:
    from . import timefmt
    from .access.policy import can
    from .i18n import isolate, list_join
    from .labels import KIND_LABELS, ROLE_LABELS, SECTOR_LABELS

    app.jinja_env.add_extension("jinja2.ext.do")
    app.jinja_env.globals.update(
        role_label=lambda code: ROLE_LABELS.get(code, code),
        kind_label=lambda code: KIND_LABELS.get(code, code),
        can=lambda action, obj=None: can(current_user, action, obj),
    )
    app.jinja_env.filters["sector_label"] = lambda code: SECTOR_LABELS.get(code, code)
    timefmt.install(app)  # local_time / local_date: every time on the reader's clock
    app.jinja_env.filters.update(list_join=list_join, isolate=isolate)
    app.jinja_env.tests["unreadable"] = lambda value: isinstance(value, Unreadable)  # failed its integrity check


def _register_blueprints(app: Flask) -> None:
    from .access.views import breakglass_bp
    from .accounts.views import account_bp, admin_bp, auth_bp
    from .api import api_bp
    from .audit.views import audit_bp
    from .cases.views import cases_bp
    from .conferences.views import conferences_bp
    from .coordination.pack_views import meeting_pack_bp
    from .coordination.views import coordination_bp
    from .directory.views import directory_bp
    from .followups.followup_views import followups_bp
    from .followups.views import notifications_bp
    from .home import home_bp
    from .plans.views import plans_bp
    from .referrals.transfer_views import transfers_bp
    from .referrals.views import referrals_bp
    from .statistics.views import statistics_bp

    for bp in (
        auth_bp,
        account_bp,
        admin_bp,
        directory_bp,
        home_bp,
        cases_bp,
        referrals_bp,
        notifications_bp,
        breakglass_bp,
        transfers_bp,
        audit_bp,
        statistics_bp,
        coordination_bp,
        meeting_pack_bp,
        plans_bp,
        conferences_bp,
    ):
        app.register_blueprint(bp)
    app.register_blueprint(followups_bp)
    csrf.exempt(api_bp)  # bearer tokens only; browser sessions are not accepted there
    app.register_blueprint(api_bp)
    from .cases.document_views import documents_bp

    app.register_blueprint(documents_bp)


def _register_request_hooks(app: Flask, settings: Settings) -> None:
    from .access.gate import enforce_sign_in

    app.before_request(enforce_sign_in)

    @app.after_request
    def harden(response: Response) -> Response:
        response.headers["X-Request-ID"] = g.get("request_id", "")
        return headers.apply(response, settings.is_production)

    @login_manager.user_loader
    def load_user(user_id: str) -> Any:
        from .accounts.models import User

        user = db.session.get(User, user_id)
        return user if user is not None and user.active else None

    @app.context_processor
    def inject_globals() -> dict[str, Any]:
        from .followups.notifications import unread_count
        from .home import menus, navigation
        from .i18n import current_direction, current_locale_code
        from .security.fields import unreadable_values

        signed_in = getattr(current_user, "is_authenticated", False)
        return {
            "locale": current_locale_code(),
            "direction": current_direction(),
            "navigation": navigation(current_user),
            "navigation_menus": menus(navigation(current_user)),
            "unread_notifications": unread_count(db.session, current_user) if signed_in else 0,
            "integrity_failures": unreadable_values(db.session),
        }


def _register_error_handlers(app: Flask) -> None:
    app.register_error_handler(RateLimitExceeded, limits.refused)

    @app.errorhandler(CSRFError)
    def csrf_failed(error: CSRFError) -> Response:
        return error_response(400)

    @app.errorhandler(DomainError)
    def domain_error(error: DomainError) -> Response:
        from .errors import IntegrityFailure, NotFound, api_error, integrity_response, wants_json

        if isinstance(error, NotFound):  # which object was not found would tell that another one exists
            return error_response(404)
        if isinstance(error, IntegrityFailure):
            return integrity_response({**_unreadable_fields(), **error.fields})
        if wants_json():
            from .errors import InvalidInput

            fields = error.fields if isinstance(error, InvalidInput) else None
            return api_error(error.status, error.code, error.message, fields)
        return error_response(error.status)

    @app.errorhandler(StaleDataError)
    def concurrent_change(error: StaleDataError) -> Response:
        """Two people saved the same record at once: the second is told, nothing half-written."""
        from .errors import Conflict

        return domain_error(Conflict("The record changed while you were editing it; reload and try again."))

    @app.errorhandler(OperationalError)
    def database_busy(error: OperationalError) -> Response:
        """SQLite (the embedded default) has one writer: a transaction waits for the write lock up
        to the busy timeout. Still locked after that, the server is too busy: say so and when to
        retry (503), rather than pretending the record changed. Nothing was written."""
        if "database is locked" in str(error.orig):
            log.warning("database still locked after the busy timeout on %s", request.endpoint)
            response = error_response(503)
            response.headers["Retry-After"] = "5"
            return response
        return unexpected(error)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        response = error_response(error.code or 500)
        for name, value in error.get_headers():  # a 405 says what is allowed (Allow), a 429 when to retry
            if name in ("Allow", "Retry-After"):
                response.headers[name] = value
        return response

    @app.errorhandler(TamperedValue)
    def stored_value_failed(error: TamperedValue) -> Response:
        """A stored value that does not authenticate: not a fault of the request."""
        from .errors import integrity_response

        log.error("integrity check failed on %s: %s", request.endpoint, error)
        return integrity_response(_unreadable_fields())

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> Response:
        if _unreadable_fields():  # code that met a value which failed its integrity check
            from .errors import integrity_response

            log.error("integrity check failed on %s (%s)", request.endpoint, type(error).__name__)
            return integrity_response(_unreadable_fields())
        log.exception("unhandled error on %s", request.endpoint)
        return error_response(500)


def _unreadable_fields() -> dict[str, str]:
    """{column: "integrity_error"} of the values this request met that failed their check."""
    from .security.fields import unreadable_values

    return {marker.column: "integrity_error" for marker in unreadable_values(db.session)}
