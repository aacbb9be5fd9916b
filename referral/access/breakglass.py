"""Break-the-glass: a supervisor opens another organisation's case in an emergency.

She names the case by its code and states a reason; the access is read-only (the case page,
revealed identifiers, documents), lasts a few hours (the `breakglass_hours` setting, by default
3, and she may choose less), is audited as `breakglass.open` and flagged on every read it allows
(`breakglass=<grant id>` on the `case.view`, `case.reveal` and `document.download` events), and
the owning organisation's supervisors are told after the commit. A supervisor may open at most
`breakglass_per_day` (3) in any 24 hours; beyond that she is refused, the refusal is audited as
`breakglass.refused` (flagged) and the auditors are told at once. She may end it early; the
owning organisation's supervisors may revoke it. Lists stay scoped to her own organisation.

The access policy asks `active_grant` only for a supervisor looking at another organisation's
case, so no other check pays for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypedDict

from sqlalchemy import func, select, update
from sqlalchemy.orm import load_only

from ..accounts.models import User
from ..audit.services import record, record_denial
from ..cases.models import Case
from ..errors import Conflict, Forbidden, InvalidInput, NotFound, Throttled
from ..followups import notifications
from ..models_base import DbSession, get_by_id, new_id, utcnow
from ..runtime import runtime
from .models import BreakGlassGrant
from .policy import can

MIN_REASON = 10
MAX_REASON = 2000
DAY = timedelta(hours=24)  # the limit counts openings in any rolling 24 hours, not a calendar day


class DailyLimitReached(Throttled):
    """The supervisor has opened `breakglass_per_day` emergency accesses in the last 24 hours."""

    code = "breakglass_limit"


@dataclass(frozen=True)
class ActiveGrant:
    """What the policy and the case page need of a grant in force: no reason, nothing decrypted."""

    id: str
    expires_at: datetime


def default_hours() -> int:
    return int(runtime().settings.breakglass_hours)


def daily_limit() -> int:
    return int(runtime().settings.breakglass_per_day)


def openings_in_last_day(session: DbSession, actor: Any, now: datetime) -> int:
    """How many emergency accesses the actor opened in the 24 hours before `now`."""
    return int(
        session.scalar(
            select(func.count(BreakGlassGrant.id)).where(
                BreakGlassGrant.user_id == actor.id, BreakGlassGrant.opened_at > now - DAY
            )
        )
        or 0
    )


def _refuse_over_limit(session: DbSession, actor: Any, now: datetime) -> None:
    """Beyond the daily limit: record the refusal (flagged to auditors) and tell every active
    auditor at once, then refuse. Checked before the case is looked up, so a refusal reads the
    same for a real and an unknown code (and the typed code, which may be anything, is not
    recorded). The view keeps this record although it answers 429."""
    limit = daily_limit()
    if openings_in_last_day(session, actor, now) < limit:
        return
    record(
        "breakglass.refused",
        actor,
        None,
        organization_id=actor.organization_id,
        session=session,
        outcome="denied",
        limit=limit,
    )
    auditors = list(session.scalars(select(User.id).where(User.role == "auditor", User.active.is_(True))))
    notifications.notify(
        auditors,
        notifications.Message(
            "breakglass.limit_reached", None, "system", None, key=f"breakglass-limit:{actor.id}:{now:%Y-%m-%d}"
        ),
        session,
    )
    raise DailyLimitReached("breakglass_limit", fields={"case_code": "breakglass_limit"})


def active_grant(session: DbSession, actor: Any, case: Any) -> ActiveGrant | None:
    """The actor's grant in force on this case, if any: opened by her, as a supervisor of the
    organisation she is in now, on the case while it still belongs to the organisation it
    belonged to then, not ended or revoked, not expired."""
    if getattr(actor, "role", None) != "supervisor" or case is None:
        return None
    row = session.execute(
        select(BreakGlassGrant.id, BreakGlassGrant.expires_at)
        .where(
            BreakGlassGrant.user_id == actor.id,
            BreakGlassGrant.case_id == case.id,
            BreakGlassGrant.organization_id == actor.organization_id,
            BreakGlassGrant.case_organization_id == case.organization_id,
            BreakGlassGrant.ended_at.is_(None),
            BreakGlassGrant.expires_at > utcnow(),
        )
        .order_by(BreakGlassGrant.expires_at.desc())
        .limit(1)
    ).first()
    return ActiveGrant(str(row.id), row.expires_at) if row is not None else None


class AuditMark(TypedDict, total=False):
    breakglass: str


def audit_mark(session: DbSession, actor: Any, case: Any) -> AuditMark:
    """The audit detail of a read allowed by a grant (`breakglass=<grant id>`); empty otherwise."""
    if case is None or case.organization_id == getattr(actor, "organization_id", None):
        return {}
    grant = active_grant(session, actor, case)
    return {"breakglass": grant.id} if grant is not None else {}


# ---------------------------------------------------------------------------------- open, end, revoke
def open_grant(
    session: DbSession, actor: Any, case_code: str, reason: str, hours: int | None = None
) -> BreakGlassGrant:
    """Open emergency access to the case with this code; its organisation's supervisors are told
    once the transaction commits. An unknown code is not found (and recorded as a denial)."""
    if not can(actor, "breakglass.open"):
        raise Forbidden("breakglass.open")
    limit = default_hours()
    hours = limit if hours is None else hours
    code = (case_code or "").strip().upper()
    reason = (reason or "").strip()
    problems: dict[str, str] = {}
    if not code:
        problems["case_code"] = "required"
    if not reason:
        problems["reason"] = "required"
    elif len(reason) < MIN_REASON:
        problems["reason"] = "reason_too_short"
    elif len(reason) > MAX_REASON:
        problems["reason"] = "too_long_text"
    if not isinstance(hours, int) or isinstance(hours, bool) or not 1 <= hours <= limit:
        problems["hours"] = "invalid_hours"
    if problems:
        raise InvalidInput("invalid_breakglass", fields=problems)
    now = utcnow()
    _refuse_over_limit(session, actor, now)

    case = session.execute(select(Case.id, Case.case_code, Case.organization_id).where(Case.case_code == code)).first()
    if case is None:
        record_denial(actor, "case_file", code, session=session)
        raise NotFound("case")
    if case.organization_id == actor.organization_id:
        raise InvalidInput("own_case", fields={"case_code": "own_case"})
    if active_grant(session, actor, case) is not None:
        raise Conflict("breakglass_active", fields={"case_code": "breakglass_active"})

    grant = BreakGlassGrant(
        id=new_id(),
        case_id=str(case.id),
        case_code=case.case_code,
        case_organization_id=str(case.organization_id),
        user_id=actor.id,
        organization_id=actor.organization_id,
        reason=reason,
        opened_at=now,
        expires_at=now + timedelta(hours=hours),
    )
    session.add(grant)
    session.flush()
    record(
        "breakglass.open",
        actor,
        grant,
        case_code=grant.case_code,
        organization_id=grant.case_organization_id,
        session=session,
        case_id=grant.case_id,
        grant_id=grant.id,
        expires_at=grant.expires_at.isoformat(),
        hours=hours,
    )
    notifications.notify(
        notifications.focal_points(session, grant.case_organization_id),
        notifications.Message("case.breakglass", grant.case_code, "case", grant.case_id, key=f"breakglass:{grant.id}"),
        session,
    )
    return grant


def _grant(session: DbSession, actor: Any, grant_id: str, action: str) -> BreakGlassGrant:
    grant = get_by_id(session, BreakGlassGrant, grant_id)
    if grant is None or not can(actor, action, grant):
        record_denial(actor, "breakglass_grant", str(grant_id), session=session)
        raise NotFound("grant")
    return grant


def _close(session: DbSession, actor: Any, grant: BreakGlassGrant, kind: str) -> BreakGlassGrant:
    now = utcnow()
    if not grant.active_at(now):
        return grant  # already over: nothing to end, nothing recorded twice
    grant.ended_at, grant.ended_by, grant.end_kind = now, actor.id, kind
    record(
        "breakglass.end" if kind == "ended" else "breakglass.revoke",
        actor,
        grant,
        case_code=grant.case_code,
        organization_id=grant.case_organization_id,
        session=session,
        case_id=grant.case_id,
        grant_id=grant.id,
    )
    return grant


def end_grant(session: DbSession, actor: Any, grant_id: str) -> BreakGlassGrant:
    """The grantee ends her emergency access early."""
    return _close(session, actor, _grant(session, actor, grant_id, "breakglass.end"), "ended")


def revoke_grant(session: DbSession, actor: Any, grant_id: str) -> BreakGlassGrant:
    """A supervisor of the case's organisation ends someone's emergency access to it."""
    return _close(session, actor, _grant(session, actor, grant_id, "breakglass.revoke"), "revoked")


# ---------------------------------------------------------------------------------- lists
def my_active_grants(session: DbSession, actor: Any) -> list[BreakGlassGrant]:
    """The actor's grants in force, soonest to expire first (their reasons are not loaded)."""
    if not can(actor, "breakglass.open"):
        return []
    stmt = (
        select(BreakGlassGrant)
        .options(
            load_only(
                BreakGlassGrant.id,
                BreakGlassGrant.case_id,
                BreakGlassGrant.case_code,
                BreakGlassGrant.case_organization_id,
                BreakGlassGrant.expires_at,
                BreakGlassGrant.ended_at,
            )
        )
        .where(
            BreakGlassGrant.user_id == actor.id,
            BreakGlassGrant.organization_id == actor.organization_id,
            BreakGlassGrant.ended_at.is_(None),
            BreakGlassGrant.expires_at > utcnow(),
        )
        .order_by(BreakGlassGrant.expires_at)
    )
    rows = list(session.scalars(stmt))
    record("breakglass.list", actor, None, organization_id=actor.organization_id, session=session, count=len(rows))
    return rows


def grants_on_our_cases(session: DbSession, actor: Any, *, limit: int = 100) -> list[BreakGlassGrant]:
    """Emergency accesses to the cases of the actor's organisation, newest first, with their
    reasons (so that a supervisor can judge whether to revoke); the reading is audited."""
    if not can(actor, "breakglass.review"):
        raise NotFound("page")
    stmt = (
        select(BreakGlassGrant)
        .where(BreakGlassGrant.case_organization_id == actor.organization_id)
        .order_by(BreakGlassGrant.opened_at.desc(), BreakGlassGrant.id.desc())
        .limit(limit)
    )
    rows = list(session.scalars(stmt))
    record("breakglass.list", actor, None, organization_id=actor.organization_id, session=session, count=len(rows))
    return rows


def active_on_case(session: DbSession, case: Any) -> int:
    """How many emergency accesses to this case are in force (for its own organisation's page)."""
    stmt = select(BreakGlassGrant.id).where(
        BreakGlassGrant.case_id == case.id,
        BreakGlassGrant.case_organization_id == case.organization_id,
        BreakGlassGrant.ended_at.is_(None),
        BreakGlassGrant.expires_at > utcnow(),
    )
    return len(list(session.scalars(stmt)))


# ---------------------------------------------------------------------------------- retention
def forget_reasons(session: DbSession, case_ids: list[str]) -> None:
    """Retention hook: a purged case keeps the record of who opened it and when, not the
    reasons given (registered with `cases.retention.on_purge` by the app factory)."""
    session.execute(
        update(BreakGlassGrant).where(BreakGlassGrant.case_id.in_(case_ids)).values(reason=None),
        execution_options={"synchronize_session": "fetch"},
    )
