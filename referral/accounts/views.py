"""Sign-in, MFA, one's own account, and user administration. Thin: rules live in services."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user, login_user, logout_user
from werkzeug.wrappers import Response

from ..access.policy import can
from ..directory import services as directory
from ..enums import ORG_GRANTABLE_ROLES, ROLES
from ..errors import DomainError, InvalidCredentials, NotFound, Throttled
from ..extensions import db
from ..forms_base import attach_errors, submit
from ..labels import message
from ..runtime import runtime
from ..security import mfa
from ..security.redirects import safe_next
from ..security.sessions import ServerSession
from ..security.throttle import retry_after_headers
from ..transaction import keep_on_error
from . import services
from .forms import (
    ActionForm,
    CodeForm,
    EmailNotificationsForm,
    LocaleForm,
    LoginForm,
    MfaResetForm,
    PasswordChangeForm,
    RoleForm,
    TimeZoneForm,
    TokenForm,
    UserForm,
    role_choices,
)
from .models import User

auth_bp = Blueprint("auth", __name__)
account_bp = Blueprint("account", __name__, url_prefix="/account")
admin_bp = Blueprint("admin", __name__, url_prefix="/admin")


def _server_session() -> ServerSession:
    current = session._get_current_object()  # type: ignore[attr-defined]
    assert isinstance(current, ServerSession)
    return current


def _client() -> services.Client:
    return services.Client(address=request.remote_addr or "unknown")


def _safe_next(target: str | None) -> str:
    return safe_next(target, url_for("home.index"))


def _pending_user() -> User:
    user = services.get_user(db.session, session.get("pending_user_id", ""))
    if user is None or not user.active:
        raise NotFound("user")
    return user


# ------------------------------------------------------------------------------ sign-in
@auth_bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    if current_user.is_authenticated:
        return redirect(url_for("home.index"))
    form = LoginForm()
    status = 200
    if _server_session().expired:
        flash(_("Your session ended. Please sign in again."), "info")
    if form.validate_on_submit():
        try:
            user = services.authenticate_password(
                db.session, runtime(), form.username.data or "", form.password.data or "", _client()
            )
        except Throttled:
            keep_on_error()
            form.form_errors.append(message("too_many_attempts"))
            status = 429
        except InvalidCredentials:
            form.form_errors.append(message("invalid_credentials"))
        else:
            current = _server_session()
            locale = current.get("locale")
            current.clear()
            current.regenerate()
            current["pending_user_id"] = user.id
            if locale:
                current["locale"] = locale
            return redirect(url_for("auth.mfa" if user.mfa_enrolled else "auth.mfa_enrol"))
    form.password.data = ""
    return render_template("accounts/login.html", form=form), status, retry_after_headers(status)


@auth_bp.route("/login/mfa", methods=["GET", "POST"], endpoint="mfa")
def mfa_verify() -> Any:
    user = _pending_user()
    if not user.mfa_enrolled:
        return redirect(url_for("auth.mfa_enrol"))
    form = CodeForm()
    status = 200
    if form.validate_on_submit():
        try:
            method = services.verify_second_factor(db.session, runtime(), user, form.code.data or "", _client())
        except Throttled:
            keep_on_error()
            form.code.errors = [message("too_many_attempts")]
            status = 429
        except InvalidCredentials:
            form.code.errors = [message("invalid_code")]
        else:
            _complete_sign_in(user)
            if method == "recovery":
                left = services.remaining_recovery_codes(db.session, user) - 1
                flash(
                    ngettext(
                        "You signed in with a recovery code. %(num)d code is left.",
                        "You signed in with a recovery code. %(num)d codes are left.",
                        max(left, 0),
                    ),
                    "warning",
                )
            return redirect(_safe_next(request.args.get("next")))
    form.code.data = ""
    return render_template("accounts/mfa.html", form=form), status, retry_after_headers(status)


def _complete_sign_in(user: User) -> None:
    current = _server_session()
    current.pop("pending_user_id", None)
    current.regenerate()
    login_user(user)
    services.record_login(user)


@auth_bp.route("/login/mfa/enrol", methods=["GET", "POST"])
def mfa_enrol() -> Any:
    user = _pending_user()
    if user.mfa_enrolled:
        return redirect(url_for("auth.mfa"))
    rt = runtime()
    secret = services.begin_enrolment(db.session, rt, user)
    form = CodeForm()
    status = 200
    if form.validate_on_submit():
        try:
            codes = services.complete_enrolment(db.session, rt, user, form.code.data or "")
        except DomainError as error:
            attach_errors(form, error)
            status = 400
        else:
            _complete_sign_in(user)
            return render_template("accounts/recovery_codes.html", codes=codes, first_time=True)
    uri = mfa.provisioning_uri(secret, user.username)
    form.code.data = ""
    return render_template("accounts/mfa_enrol.html", form=form, qr=mfa.qr_svg(uri), secret=_grouped(secret)), status


def _grouped(secret: str) -> str:
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


@auth_bp.route("/logout", methods=["POST"])
def logout() -> Response:
    if current_user.is_authenticated:
        services.record_logout(current_user._get_current_object())
        logout_user()
    _server_session().end()
    return redirect(url_for("auth.login"))


@auth_bp.route("/locale", methods=["POST"])
def set_locale() -> Response:
    form = LocaleForm()
    if form.validate_on_submit():
        locale = form.locale.data or ""
        if current_user.is_authenticated:
            services.set_locale(db.session, current_user._get_current_object(), locale)
        elif locale in ("ar", "en"):
            session["locale"] = locale
    return redirect(_safe_next(form.next.data))


# ------------------------------------------------------------------------------ own account
def _current_sid_hash() -> str | None:
    record = _server_session().record
    return record.sid_hash if record is not None else None


@account_bp.route("/")
def overview() -> str:
    return _overview(current_user._get_current_object())


def _overview(
    user: User, email_form: EmailNotificationsForm | None = None, zone_form: TimeZoneForm | None = None
) -> str:
    rt = runtime()
    if email_form is None:
        email_form = EmailNotificationsForm(formdata=None, notify_by_email=user.notify_by_email)
    if zone_form is None:
        zone_form = TimeZoneForm(formdata=None, time_zone=user.time_zone or "")
    return render_template(
        "accounts/overview.html",
        user=user,
        sessions=rt.sessions.for_user(user.id),
        current_hash=_current_sid_hash(),
        tokens=services.user_tokens(db.session, user),
        codes_left=services.remaining_recovery_codes(db.session, user),
        token_form=TokenForm(),
        action_form=ActionForm(),
        email_form=email_form,
        zone_form=zone_form,
        network_zone=_network_zone(user),
        mail_enabled=rt.settings.mail_enabled,
    )


def _network_zone(user: User) -> str:
    from ..followups.calendar import zone_for
    from ..followups.clocks import network_of

    return zone_for(db.session, user.network_id or network_of(db.session, user.organization_id)).key


@account_bp.route("/time-zone", methods=["POST"])
def time_zone() -> Any:
    """Her own clock for every time she reads, or her network's (an empty field)."""
    user: User = current_user._get_current_object()
    form = TimeZoneForm()
    outcome = submit(form, lambda: services.set_time_zone(db.session, user, form.time_zone.data or ""))
    if outcome.done:
        if user.time_zone:
            flash(_("Times are now shown in %(zone)s time.", zone=user.time_zone), "success")
        else:
            flash(_("Times are now shown in your network's time zone."), "success")
        return redirect(url_for("account.overview"))
    return _overview(user, zone_form=form), outcome.status


@account_bp.route("/notifications", methods=["POST"])
def email_notifications() -> Any:
    """In-app only, or in-app and e-mail."""
    user: User = current_user._get_current_object()
    form = EmailNotificationsForm()
    outcome = submit(form, lambda: services.set_email_notifications(db.session, user, bool(form.notify_by_email.data)))
    if outcome.done:
        if user.notify_by_email:
            flash(_("Your notifications will also come by e-mail."), "success")
        else:
            flash(_("Your notifications will stay in the app only."), "success")
        return redirect(url_for("account.overview"))
    return _overview(user, form), outcome.status


@account_bp.route("/password", methods=["GET", "POST"])
def password() -> Any:
    user: User = current_user._get_current_object()
    form = PasswordChangeForm()
    outcome = submit(
        form,
        lambda: services.change_password(
            db.session,
            runtime(),
            user,
            form.current_password.data or "",
            form.new_password.data or "",
            form.confirm_password.data or "",
            keep_session=_current_sid_hash(),
        ),
    )
    if outcome.done:
        _server_session().regenerate()
        flash(_("Your password was changed. Your other sessions were ended."), "success")
        return redirect(url_for("home.index"))
    for field in (form.current_password, form.new_password, form.confirm_password):
        field.data = ""
    return render_template("accounts/password.html", form=form, forced=user.must_change_password), outcome.status


@account_bp.route("/sessions/<handle>/end", methods=["POST"])
def end_session(handle: str) -> Response:
    if ActionForm().validate_on_submit():
        services.end_own_session(db.session, runtime(), current_user._get_current_object(), handle)
        flash(_("The session was ended."), "success")
    return redirect(url_for("account.overview"))


@account_bp.route("/tokens", methods=["POST"])
def issue_token() -> Any:
    form = TokenForm()
    if not form.validate_on_submit():
        flash(_("Choose between 1 and 365 days."), "danger")
        return redirect(url_for("account.overview"))
    token, raw = services.issue_token(
        db.session, current_user._get_current_object(), days=form.days.data or 90, label=form.label.data or ""
    )
    return render_template("accounts/token_issued.html", token=token, raw=raw)


@account_bp.route("/tokens/<token_id>/revoke", methods=["POST"])
def revoke_token(token_id: str) -> Response:
    if ActionForm().validate_on_submit():
        services.revoke_token(db.session, current_user._get_current_object(), token_id)
        flash(_("The token was revoked."), "success")
    return redirect(url_for("account.overview"))


@account_bp.route("/recovery-codes", methods=["POST"])
def new_recovery_codes() -> Any:
    if not ActionForm().validate_on_submit():
        return redirect(url_for("account.overview"))
    codes = services.regenerate_recovery_codes(db.session, runtime(), current_user._get_current_object())
    return render_template("accounts/recovery_codes.html", codes=codes, first_time=False)


# ------------------------------------------------------------------------------ administration
def _require_admin() -> User:
    actor: User = current_user._get_current_object()
    if not can(actor, "user.list"):
        raise NotFound("page")
    return actor


def _grantable(actor: User) -> tuple[str, ...]:
    return ROLES if actor.role == "sysadmin" else ORG_GRANTABLE_ROLES


_USER_FILTERS = ("q", "organization_id", "role", "status", "mfa")


@admin_bp.route("/users")
def users() -> Any:
    """The users she may manage: searched by username or e-mail (`q`), filtered by organisation
    (system admin), role, active or disabled, and two-step sign-in; 50 a page. A bad filter is a
    400 with the form kept and the problem named; a bad page number is page 1."""
    actor = _require_admin()
    shown = {name: (request.args.get(name) or "").strip() for name in _USER_FILTERS}
    problems: dict[str, str] = {}
    try:
        filters = services.parse_user_filters(shown)
    except DomainError as error:
        problems = {name: message(code) for name, code in error.fields.items()}
        filters = services.UserFilters()
    try:
        number = int(request.args.get("page", "1"))
    except ValueError:
        number = 1
    result = None if problems else services.list_users(db.session, actor, filters, number)
    organisations = directory.organizations(db.session) if actor.role == "sysadmin" else []
    return render_template(
        "accounts/admin_users.html",
        result=result,
        users=result.items if result else [],
        filters=filters,
        shown=shown,
        problems=problems,
        organisations=organisations,
        roles=_grantable(actor),
        statuses=services.USER_STATUSES,
        mfa_states=services.MFA_STATES,
    ), (400 if problems else 200)


@admin_bp.route("/users/new", methods=["GET", "POST"])
def new_user() -> Any:
    actor = _require_admin()
    form = UserForm()
    _fill_user_choices(form, actor)
    outcome = submit(
        form,
        lambda: services.create_user(
            db.session,
            runtime(),
            actor,
            username=form.username.data or "",
            organization_id=form.organization_id.data or "",
            role=form.role.data or "",
            email=form.email.data or None,
            network_id=form.network_id.data or None,
        ),
    )
    if outcome.done:
        user, one_time = outcome.value
        return render_template("accounts/one_time_password.html", user=user, password=one_time, created=True)
    return render_template("accounts/admin_user_new.html", form=form), outcome.status


def _fill_user_choices(form: UserForm, actor: User) -> None:
    if actor.role == "sysadmin":
        orgs = directory.organizations(db.session)
        form.organization_id.choices = [(o.id, o.name_en if _en() else o.name_ar) for o in orgs]
    else:
        org = actor.organization
        form.organization_id.choices = [(org.id, org.name_en if _en() else org.name_ar)]
    form.role.choices = role_choices(_grantable(actor))
    nets = directory.networks(db.session) if actor.role == "sysadmin" else []
    form.network_id.choices = [("", "—")] + [(n.id, n.name_en if _en() else n.name_ar) for n in nets]


def _en() -> bool:
    from ..i18n import current_locale_code

    return current_locale_code() == "en"


@admin_bp.route("/users/<user_id>", methods=["GET", "POST"])
def user_detail(user_id: str) -> Any:
    actor = _require_admin()
    target = services.managed_user(db.session, actor, user_id)
    role_form = RoleForm(prefix="role")
    role_form.role.choices = role_choices(_grantable(actor))
    if request.method == "GET":
        role_form.role.data = target.role
    outcome = submit(role_form, lambda: services.set_role(db.session, actor, target, role_form.role.data or ""))
    if outcome.done:
        flash(_("The role was changed."), "success")
        return redirect(url_for("admin.user_detail", user_id=target.id))
    return render_template(
        "accounts/admin_user.html",
        target=target,
        role_form=role_form,
        action_form=ActionForm(),
        sessions=runtime().sessions.for_user(target.id),
        may_reset_mfa=services.may_reset_second_factor(target),
    ), outcome.status


@admin_bp.route("/users/<user_id>/two-step-reset", methods=["GET", "POST"])
def reset_mfa(user_id: str) -> Any:
    """Reset a user's two-step sign-in after a confirmation step: what will happen, and the
    admin's word that she checked who is asking. The system admin for anyone; an org admin for
    her own organisation's staff; anyone else: not found."""
    actor = _require_admin()
    target = services.managed_user(db.session, actor, user_id)
    if not services.may_reset_second_factor(target):
        flash(_("This user has no two-step sign-in to reset."), "info")
        return redirect(url_for("admin.user_detail", user_id=target.id), 303)
    form = MfaResetForm()
    outcome = submit(form, lambda: services.reset_second_factor(db.session, runtime(), actor, target))
    if outcome.done:
        flash(_("Two-step sign-in was reset: this user sets up an authenticator again at the next sign-in."), "success")
        return redirect(url_for("admin.user_detail", user_id=target.id), 303)
    return render_template(
        "accounts/admin_mfa_reset.html",
        target=target,
        form=form,
        sessions=len(runtime().sessions.for_user(target.id)),
        tokens=len(services.user_tokens(db.session, target)),
    ), outcome.status


@admin_bp.route("/users/<user_id>/<action>", methods=["POST"])
def user_action(user_id: str, action: str) -> Any:
    actor = _require_admin()
    target = services.managed_user(db.session, actor, user_id)
    if not ActionForm().validate_on_submit():
        return redirect(url_for("admin.user_detail", user_id=target.id))
    rt = runtime()
    if action == "deactivate":
        services.deactivate(db.session, rt, actor, target)
        flash(_("The account was deactivated and its sessions ended."), "success")
    elif action == "reactivate":
        services.reactivate(db.session, actor, target)
        flash(_("The account was reactivated."), "success")
    elif action == "end-sessions":
        services.end_sessions(db.session, rt, actor, target)
        flash(_("All sessions of this user were ended."), "success")
    elif action == "reset-password":
        one_time = services.reset_password(db.session, rt, actor, target)
        return render_template("accounts/one_time_password.html", user=target, password=one_time, created=False)
    else:  # a two-step sign-in reset has its own confirmation page (`reset_mfa`)
        raise NotFound("action")
    return redirect(url_for("admin.user_detail", user_id=target.id))
