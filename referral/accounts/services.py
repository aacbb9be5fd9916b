"""The rules of accounts: sign-in with a second factor, passwords, roles, sessions and tokens.

Every function takes the database session and the acting user, flushes and never commits,
raises a domain error when a rule refuses, and writes its audit event in the same transaction.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
import zoneinfo
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import selectinload

from ..access.policy import can, scope_users
from ..audit.services import record
from ..directory.models import Network, Organization
from ..enums import LOCALES, ROLES
from ..errors import Conflict, Forbidden, InvalidCredentials, InvalidInput, NotFound, Throttled
from ..models_base import DbSession, get_by_id, new_id, utcnow
from ..runtime import Runtime
from ..security import mfa
from ..security.passwords import check_policy
from .models import ApiToken, RecoveryCode, User

USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{2,63}$")
TOKEN_PREFIX = "shb_"  # noqa: S105 (a label, not a secret)
DEFAULT_TOKEN_DAYS = 90
MAX_TOKEN_DAYS = 365


class PasswordRejected(InvalidInput):
    code = "password_rejected"

    def __init__(self, problem: str) -> None:
        super().__init__(problem, fields={"new_password": problem})
        self.problem = problem


@dataclass(frozen=True)
class Client:
    """Where a request came from, for throttling and the audit trail."""

    address: str


# ------------------------------------------------------------------------------- helpers
def get_user(session: DbSession, user_id: str) -> User | None:
    return get_by_id(session, User, user_id)  # type: ignore[no-any-return]


def find_user(session: DbSession, username: str) -> User | None:
    return session.scalar(select(User).where(User.username == username.strip().lower()))


def one_time_password() -> str:
    return "-".join(secrets.token_urlsafe(6) for _ in range(3))


# ------------------------------------------------------------------------------- sign-in
def authenticate_password(
    session: DbSession, rt: Runtime, username: str, password: str, client: Client, now: datetime | None = None
) -> User:
    """The first factor. Unknown user and wrong password fail alike, in message and timing."""
    now = now or utcnow()
    throttle = rt.throttle
    if throttle.is_limited(session, username, client.address, now):
        record("auth.login_throttled", None, outcome="denied")
        raise Throttled("too_many_attempts")
    user = find_user(session, username)
    ok = rt.passwords.verify(user.password_hash if user else None, password)
    if not ok or user is None or not user.active:
        throttle.record_failure(session, username, client.address, now)
        record("auth.login_failed", user, outcome="failure", organization_id=user.organization_id if user else None)
        raise InvalidCredentials("invalid_credentials")
    if rt.passwords.needs_rehash(user.password_hash):
        user.password_hash = rt.passwords.hash(password)
    return user


def begin_enrolment(session: DbSession, rt: Runtime, user: User) -> str:
    """A fresh TOTP seed for a user who has none yet, kept encrypted until confirmed."""
    if user.mfa_enrolled:
        raise Conflict("already_enrolled")
    if user.totp_secret is None:
        user.totp_secret = mfa.new_secret()
        session.flush()
    return user.totp_secret


def complete_enrolment(
    session: DbSession, rt: Runtime, user: User, code: str, now: datetime | None = None
) -> list[str]:
    """Confirm the seed with a first code; returns the recovery codes to show once."""
    now = now or utcnow()
    if user.mfa_enrolled or user.totp_secret is None:
        raise Conflict("not_enrolling")
    step = mfa.match_step(user.totp_secret or "", code, now, user.totp_last_step)
    if step is None:
        raise InvalidInput("invalid_code", fields={"code": "invalid_code"})
    user.totp_last_step = step
    user.totp_enrolled_at = now
    codes = _replace_recovery_codes(session, rt, user)
    record("auth.mfa_enrolled", user, user)
    return codes


def _replace_recovery_codes(session: DbSession, rt: Runtime, user: User) -> list[str]:
    session.execute(update(RecoveryCode).where(RecoveryCode.user_id == user.id).values(used_at=utcnow()))
    codes = mfa.new_recovery_codes()
    for code in codes:
        session.add(RecoveryCode(user_id=user.id, code_hash=mfa.hash_recovery_code(rt.pepper, code)))
    session.flush()
    return codes


def verify_second_factor(
    session: DbSession, rt: Runtime, user: User, code: str, client: Client, now: datetime | None = None
) -> str:
    """The second factor: a TOTP code (good once) or an unused recovery code. Returns which."""
    now = now or utcnow()
    if rt.throttle.is_limited(session, user.username, client.address, now):
        record("auth.login_throttled", user, outcome="denied")
        raise Throttled("too_many_attempts")
    if not user.active or not user.mfa_enrolled:
        raise InvalidCredentials("invalid_code")
    step = mfa.match_step(user.totp_secret or "", code, now, user.totp_last_step)
    if step is not None:
        user.totp_last_step = step
        rt.throttle.clear_account(session, user.username)
        record("auth.mfa_verified", user, user)
        return "totp"
    normalised = mfa.normalise_recovery_code(code)
    if normalised:
        found = session.scalar(
            select(RecoveryCode).where(
                RecoveryCode.user_id == user.id,
                RecoveryCode.code_hash == mfa.hash_recovery_code(rt.pepper, normalised),
                RecoveryCode.used_at.is_(None),
            )
        )
        if found is not None:
            found.used_at = now
            rt.throttle.clear_account(session, user.username)
            remaining = remaining_recovery_codes(session, user) - 1
            record("auth.recovery_code_used", user, user, remaining=remaining)
            return "recovery"
    rt.throttle.record_failure(session, user.username, client.address, now)
    record("auth.mfa_failed", user, user, outcome="failure")
    raise InvalidCredentials("invalid_code")


def remaining_recovery_codes(session: DbSession, user: User) -> int:
    rows = session.scalars(
        select(RecoveryCode.id).where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
    )
    return len(rows.all())


def regenerate_recovery_codes(session: DbSession, rt: Runtime, user: User) -> list[str]:
    codes = _replace_recovery_codes(session, rt, user)
    record("auth.mfa_enrolled", user, user, recovery_codes_replaced=True)
    return codes


def record_login(user: User) -> None:
    record("auth.login", user, user)


def record_logout(user: User) -> None:
    record("auth.logout", user, user)


# ------------------------------------------------------------------------------- passwords
def validate_new_password(password: str, confirm: str, username: str) -> None:
    if password != confirm:
        raise InvalidInput("mismatch", fields={"confirm_password": "mismatch"})
    problem = check_policy(password, username)
    if problem is not None:
        raise PasswordRejected(problem.code)


def change_password(
    session: DbSession, rt: Runtime, user: User, current: str, new: str, confirm: str, keep_session: str | None
) -> None:
    """Change one's own password; every other session of the user ends."""
    if not rt.passwords.verify(user.password_hash, current):
        raise InvalidInput("wrong_password", fields={"current_password": "wrong_password"})
    if current == new:
        raise PasswordRejected("unchanged")
    validate_new_password(new, confirm, user.username)
    user.password_hash = rt.passwords.hash(new)
    user.password_changed_at = utcnow()
    user.must_change_password = False
    rt.sessions.end_for_user(session, user.id, keep_session)
    _revoke_all_tokens(session, user)
    record("auth.password_changed", user, user)


# ------------------------------------------------------------------------------- administration
def _organization(session: DbSession, organization_id: str) -> Organization:
    org = session.get(Organization, organization_id)
    if org is None:
        raise InvalidInput("unknown_organization", fields={"organization_id": "unknown"})
    return org


@dataclass(frozen=True)
class NewPassword:
    """A one-time password and its hash. Hashing is slow on purpose (argon2id), so a caller that
    can makes it before its transaction opens: on SQLite a transaction holds the one write lock."""

    clear: str = field(repr=False)
    hashed: str = field(repr=False)

    @classmethod
    def make(cls, rt: Runtime) -> NewPassword:
        clear = one_time_password()
        return cls(clear, rt.passwords.hash(clear))


def create_user(
    session: DbSession,
    rt: Runtime,
    actor: User | None,
    *,
    username: str,
    organization_id: str,
    role: str,
    email: str | None = None,
    network_id: str | None = None,
    locale: str = "ar",
    new_password: NewPassword | None = None,
) -> tuple[User, str]:
    """A new account with a one-time password (to hand over; it must be changed at first sign-in).

    `actor` is None only for operators at the command line.
    """
    username = username.strip().lower()
    fields: dict[str, str] = {}
    if not USERNAME_RE.match(username):
        fields["username"] = "invalid_username"
    elif find_user(session, username) is not None:
        fields["username"] = "username_taken"
    if role not in ROLES:
        fields["role"] = "invalid_role"
    if email and ("@" not in email or len(email) > 254):
        fields["email"] = "invalid_email"
    if fields:
        raise InvalidInput("invalid_user", fields=fields)
    org = _organization(session, organization_id)
    if actor is not None and not can(actor, "user.grant_role", (role, org.id)):
        raise Forbidden("may_not_grant_role")
    if network_id is not None and session.get(Network, network_id) is None:
        raise InvalidInput("unknown_network", fields={"network_id": "unknown"})
    new_password = new_password or NewPassword.make(rt)
    user = User(
        id=new_id(),
        organization_id=org.id,
        network_id=network_id if role == "coordinator" else None,
        role=role,
        username=username,
        email=email or None,
        locale=locale if locale in LOCALES else "ar",
        password_hash=new_password.hashed,
        must_change_password=True,
    )
    session.add(user)
    session.flush()
    record("user.create", actor, user, role=role)
    return user, new_password.clear


def managed_user(session: DbSession, actor: User, user_id: str) -> User:
    """A user the actor may manage; any other (or an id that is not one) is not found."""
    user = get_by_id(session, User, user_id)
    if user is None or not can(actor, "user.manage", user):
        raise NotFound("user")
    return user


def set_role(session: DbSession, actor: User, target: User, role: str) -> None:
    if not can(actor, "user.grant_role", (role, target.organization_id)):
        raise Forbidden("may_not_grant_role")
    if target.role == role:
        return
    previous, target.role = target.role, role
    _revoke_all_tokens(session, target)  # a token must not carry on under a role it was not issued for
    record("user.role_change", actor, target, previous_role=previous, role=role)


def deactivate(session: DbSession, rt: Runtime, actor: User, target: User) -> None:
    if not target.active:
        return
    target.active = False
    target.deactivated_at = utcnow()
    rt.sessions.end_for_user(session, target.id)
    _revoke_all_tokens(session, target)
    record("user.deactivate", actor, target)


def reactivate(session: DbSession, actor: User, target: User) -> None:
    if target.active:
        return
    target.active = True
    target.deactivated_at = None
    record("user.reactivate", actor, target)


def reset_password(session: DbSession, rt: Runtime, actor: User, target: User) -> str:
    """A new one-time password the administrator hands over; she never chooses it."""
    password = one_time_password()
    target.password_hash = rt.passwords.hash(password)
    target.password_changed_at = utcnow()
    target.must_change_password = True
    rt.sessions.end_for_user(session, target.id)
    _revoke_all_tokens(session, target)
    record("user.password_reset", actor, target)
    return password


def reset_second_factor(session: DbSession, rt: Runtime, actor: User, target: User) -> None:
    """Forget the user's authenticator and recovery codes (a lost phone): she enrols again at her
    next sign-in. Her sessions end and her API tokens are revoked, as after a password reset."""
    target.totp_secret = None
    target.totp_enrolled_at = None
    target.totp_last_step = None
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == target.id))
    rt.sessions.end_for_user(session, target.id)
    _revoke_all_tokens(session, target)
    record("user.mfa_reset", actor, target)
    # She is told (in the app, and by e-mail if she takes it) once the reset is committed: what
    # happened and what to do, never a code or a secret.
    from ..followups.notifications import Message, notify

    notify([target.id], Message("account.mfa_reset"), session)


def may_reset_second_factor(target: User) -> bool:
    """Whether there is anything to reset: an authenticator set up, or one half set up."""
    return target.mfa_enrolled or target.totp_secret is not None


def end_sessions(session: DbSession, rt: Runtime, actor: User, target: User) -> None:
    rt.sessions.end_for_user(session, target.id)
    record("user.sessions_ended", actor, target)


def end_own_session(session: DbSession, rt: Runtime, user: User, handle: str) -> None:
    if not rt.sessions.end_by_handle(session, user.id, handle):
        raise NotFound("session")
    record("auth.session_ended", user, user)


def set_locale(session: DbSession, user: User, locale: str) -> None:
    if locale not in LOCALES:
        raise InvalidInput("invalid_locale", fields={"locale": "invalid"})
    if user.locale != locale:
        user.locale = locale
        record("user.locale_change", user, user, locale=locale)


def set_email_notifications(session: DbSession, user: User, enabled: bool) -> None:
    """In-app only, or in-app and e-mail: her own choice. E-mail needs an address on the account."""
    if enabled and not user.email:
        raise InvalidInput("no_email_address", fields={"notify_by_email": "no_email_address"})
    if user.notify_by_email != enabled:
        user.notify_by_email = enabled
        record("user.notification_preference", user, user, email=enabled)
        session.flush()


# ------------------------------------------------------------------------------- the user list
USER_PAGE = 50
USER_STATUSES = ("active", "disabled")
MFA_STATES = ("enrolled", "not_enrolled")
MAX_QUERY = 100
# Seven digits or more (spaces, dashes, + allowed): a national id or a phone number, a survivor's
# identifier that has no place in a URL (and no account is found by it).
_IDENTIFIER_LIKE = re.compile(r"^[+\d\s()-]*\d[\d\s()-]{6,}$")


@dataclass(frozen=True)
class UserFilters:
    """What an admin's user list asks for (all optional): text in the username or e-mail, an
    organisation, a role, active or disabled, enrolled in two-step sign-in or not."""

    q: str = ""
    organization_id: str | None = None
    role: str | None = None
    status: str | None = None
    mfa: str | None = None

    @property
    def empty(self) -> bool:
        return not (self.q or self.organization_id or self.role or self.status or self.mfa)

    def query_args(self) -> dict[str, str]:
        values = {
            "q": self.q,
            "organization_id": self.organization_id,
            "role": self.role,
            "status": self.status,
            "mfa": self.mfa,
        }
        return {k: v for k, v in values.items() if v}


def parse_user_filters(values: Any) -> UserFilters:
    """Filters from query values; InvalidInput names each bad one (an unknown role, status or
    two-step state, an id that is not one, a text too long or shaped like an identifier)."""
    problems: dict[str, str] = {}

    def text(name: str) -> str:
        return str(values.get(name) or "").strip()

    q = " ".join(text("q").split())
    if len(q) > MAX_QUERY:
        problems["q"] = "too_long_text"
    elif _IDENTIFIER_LIKE.match(q):
        problems["q"] = "not_a_user_search"
    organization_id = text("organization_id") or None
    if organization_id is not None:
        try:
            organization_id = str(uuid.UUID(organization_id))
        except ValueError:
            problems["organization_id"] = "invalid"
    role = text("role") or None
    if role is not None and role not in ROLES:
        problems["role"] = "invalid"
    status = text("status") or None
    if status is not None and status not in USER_STATUSES:
        problems["status"] = "invalid"
    mfa_state = text("mfa") or None
    if mfa_state is not None and mfa_state not in MFA_STATES:
        problems["mfa"] = "invalid"
    if problems:
        raise InvalidInput("invalid_filters", fields=problems)
    return UserFilters(q, organization_id, role, status, mfa_state)


@dataclass(frozen=True)
class UserPage:
    items: list[User]
    total: int
    page: int
    pages: int


def list_users(session: DbSession, actor: User, filters: UserFilters, page: int = 1) -> UserPage:
    """The users the actor may manage matching the filters, by username, a page at a time (an
    org admin's list is her own organisation's whatever the organisation filter says)."""
    if not can(actor, "user.list"):
        raise NotFound("page")
    stmt = scope_users(actor, select(User))
    if filters.q:
        pattern = "%" + filters.q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        stmt = stmt.where(
            or_(
                User.username.like(pattern, escape="\\"),
                func.lower(func.coalesce(User.email, "")).like(pattern, escape="\\"),
            )
        )
    if filters.organization_id:
        stmt = stmt.where(User.organization_id == filters.organization_id)
    if filters.role:
        stmt = stmt.where(User.role == filters.role)
    if filters.status:
        stmt = stmt.where(User.active.is_(filters.status == "active"))
    if filters.mfa:
        enrolled = User.totp_enrolled_at.is_not(None)
        stmt = stmt.where(enrolled if filters.mfa == "enrolled" else ~enrolled)
    total = int(session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0)
    pages = max(1, -(-total // USER_PAGE))
    page = min(max(page, 1), pages)
    rows = session.scalars(
        stmt.options(selectinload(User.organization))
        .order_by(User.username)
        .offset((page - 1) * USER_PAGE)
        .limit(USER_PAGE)
    )
    return UserPage(list(rows), total, page, pages)


def set_time_zone(session: DbSession, user: User, value: str) -> None:
    """Her own clock (an IANA zone name such as "Europe/Berlin"), or none: her network's zone."""
    value = (value or "").strip()
    if value and value not in zoneinfo.available_timezones():
        raise InvalidInput("invalid_time_zone", fields={"time_zone": "invalid_time_zone"})
    chosen = value or None
    if user.time_zone != chosen:
        user.time_zone = chosen
        record("user.time_zone_change", user, user, time_zone=chosen)
        session.flush()


# ------------------------------------------------------------------------------- API tokens
def _token_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def issue_token(
    session: DbSession, user: User, days: int = DEFAULT_TOKEN_DAYS, label: str = ""
) -> tuple[ApiToken, str]:
    """A personal bearer token; only its hash is stored, the raw value is shown once."""
    if not 1 <= days <= MAX_TOKEN_DAYS:
        raise InvalidInput("invalid_days", fields={"days": f"between 1 and {MAX_TOKEN_DAYS}"})
    if not user.active:
        raise InvalidInput("inactive_user")
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        id=new_id(),
        user_id=user.id,
        token_hash=_token_hash(raw),
        label=label[:100],
        expires_at=utcnow() + timedelta(days=days),
    )
    session.add(token)
    session.flush()
    record("token.issue", user, token, days=days)
    return token, raw


def revoke_token(session: DbSession, user: User, token_id: str) -> None:
    token = session.get(ApiToken, token_id)
    if token is None or token.user_id != user.id:
        raise NotFound("token")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        record("token.revoke", user, token)


def _revoke_all_tokens(session: DbSession, user: User) -> None:
    session.execute(
        update(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None)).values(revoked_at=utcnow())
    )


def user_tokens(session: DbSession, user: User) -> list[ApiToken]:
    return list(
        session.scalars(
            select(ApiToken)
            .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
            .order_by(ApiToken.created_at)
        )
    )


def authenticate_token(session: DbSession, raw: str, now: datetime | None = None) -> User | None:
    """The active user behind a bearer token, or None."""
    if not raw.startswith(TOKEN_PREFIX) or len(raw) > 100:
        return None
    now = now or utcnow()
    token = session.scalar(select(ApiToken).where(ApiToken.token_hash == _token_hash(raw)))
    if token is None or token.revoked_at is not None or token.expires_at <= now:
        return None
    user = token.user
    if not user.active:
        return None
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=5):
        token.last_used_at = now
    return user
