"""Releases: a coordinator prepares a network's (or the national) numbers for a period, which are
protected and frozen; she submits them; each member organisation's admin approves or refuses
(the GBVIMS rule: the consolidated numbers leave the group only with every agency's agreement);
once all have approved she publishes. A published release never changes; preparing the same
period again makes a new version. Beside them, the register of outside requests for data."""

from __future__ import annotations

import hashlib
import json
from datetime import date
from typing import Any

from sqlalchemy import Select, and_, false, func, or_, select, true
from sqlalchemy.sql.elements import ColumnElement

from ..audit.services import record
from ..directory.models import Network
from ..errors import Conflict, Forbidden, InvalidInput, NotFound
from ..followups import notifications
from ..models_base import DbSession, get_by_id, new_id, utcnow
from ..text import text_problem
from .disclosure import DisclosureError
from .models import DataRequest, ReleaseApproval, StatisticsRelease
from .queries import Scope, Window
from .services import compute, governorates, member_networks, network_members, scope_for, scope_key, to_payload


class ReleaseStateError(Conflict):
    code = "invalid_release_state"


class NotProtectable(Conflict):
    """The period's numbers cannot be published beside the releases already published without
    giving a small count away (their difference would show it)."""

    code = "not_protectable"


def _checksum(payload: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def _is_coordinator_of(actor: Any, release: StatisticsRelease) -> bool:
    if getattr(actor, "role", None) != "coordinator":
        return False
    return actor.network_id is None or (release.network_id is not None and actor.network_id == release.network_id)


def _scope_of(release: StatisticsRelease) -> Scope:
    if release.scope_key == "national":
        return Scope("national")
    return Scope("network", (release.scope_key.split(":", 1)[1],), network_id=release.network_id)


def prepare(session: DbSession, actor: Any, network: str | None, window: Window) -> StatisticsRelease:
    """Count, protect and freeze a period's numbers as a new draft version."""
    if getattr(actor, "role", None) != "coordinator":
        raise Forbidden("statistics.release_prepare")
    scope = scope_for(session, actor, network)
    if scope.kind == "national":
        scope = Scope("national", tuple(governorates(session)))
    try:
        view = compute(session, actor, scope, window, compare=False, audit_action=None, with_published=True)
    except DisclosureError as error:
        raise NotProtectable("not_protectable") from error
    payload = to_payload(view)
    key = scope_key(scope)
    first, last = window.label
    latest = session.scalar(
        select(func.max(StatisticsRelease.version)).where(
            StatisticsRelease.scope_key == key,
            StatisticsRelease.period_first == first,
            StatisticsRelease.period_last == last,
        )
    )
    for old in session.scalars(
        select(StatisticsRelease).where(
            StatisticsRelease.scope_key == key,
            StatisticsRelease.period_first == first,
            StatisticsRelease.period_last == last,
            StatisticsRelease.state.in_(("draft", "in_review")),
        )
    ):
        old.state = "superseded"
    release = StatisticsRelease(
        id=new_id(),
        scope_key=key,
        network_id=scope.network_id,
        period_first=first,
        period_last=last,
        version=(latest or 0) + 1,
        state="draft",
        threshold=view.threshold,
        payload=payload,
        checksum=_checksum(payload),
        prepared_by=actor.id,
    )
    session.add(release)
    session.flush()
    record("statistics.release_prepare", actor, None, release_id=release.id, scope=key, period=f"{first}..{last}")
    return release


def get(session: DbSession, actor: Any, release_id: str) -> StatisticsRelease:
    """A release the actor may read: its coordinators in any state; members of its network and
    auditors once it is published; the admins asked to approve it while it is in review."""
    release = get_by_id(session, StatisticsRelease, release_id)
    if release is None or not may_read(session, actor, release):
        raise NotFound("release")
    return release


def may_read(session: DbSession, actor: Any, release: StatisticsRelease) -> bool:
    if _is_coordinator_of(actor, release):
        return True
    role = getattr(actor, "role", None)
    if release.state == "published":
        return role == "auditor" or _is_member(session, actor, release)
    if release.state == "in_review" and role == "org_admin":
        return _is_member(session, actor, release)
    return False


def _is_member(session: DbSession, actor: Any, release: StatisticsRelease) -> bool:
    if release.scope_key == "national":
        return bool(member_networks(session, actor.organization_id))
    return release.scope_key.split(":", 1)[1] in member_networks(session, actor.organization_id)


def _readable(session: DbSession, actor: Any) -> ColumnElement[bool]:
    """The releases `may_read` allows, as one condition (the lists filter in SQL)."""
    role = getattr(actor, "role", None)
    if role == "coordinator":
        mine: ColumnElement[bool] = (
            true() if actor.network_id is None else StatisticsRelease.network_id == actor.network_id
        )
    else:
        mine = false()
    networks = member_networks(session, actor.organization_id) if getattr(actor, "organization_id", None) else []
    member: ColumnElement[bool] = StatisticsRelease.scope_key.in_([f"network:{g}" for g in networks])
    if networks:
        member = or_(member, StatisticsRelease.scope_key == "national")
    published = and_(StatisticsRelease.state == "published", true() if role == "auditor" else member)
    in_review = and_(StatisticsRelease.state == "in_review", member) if role == "org_admin" else false()
    return or_(mine, published, in_review)


def listing(session: DbSession, actor: Any, *, limit: int = 500) -> list[StatisticsRelease]:
    """The releases the actor may read, newest first."""
    stmt = select(StatisticsRelease).where(_readable(session, actor))
    return list(session.scalars(stmt.order_by(StatisticsRelease.prepared_at.desc()).limit(limit)))


def published(session: DbSession, actor: Any, *, limit: int = 100) -> list[StatisticsRelease]:
    stmt = select(StatisticsRelease).where(StatisticsRelease.published_at.is_not(None), _readable(session, actor))
    return list(session.scalars(stmt.order_by(StatisticsRelease.published_at.desc()).limit(limit)))


def submit(session: DbSession, actor: Any, release_id: str) -> StatisticsRelease:
    """The coordinator has reviewed the draft: the member organisations' admins are asked."""
    release = get(session, actor, release_id)
    if not _is_coordinator_of(actor, release):
        raise NotFound("release")
    if release.state != "draft":
        raise ReleaseStateError("not_a_draft")
    release.state = "in_review"
    release.submitted_at = utcnow()
    record("statistics.release_submit", actor, None, release_id=release.id)
    admins = _admins_of(session, network_members(session, _scope_of(release)))
    message = notifications.Message(
        "statistics.release_review", None, "release", release.id, key=f"release:{release.id}:review"
    )
    notifications.notify(admins, message, session)
    return release


def _admins_of(session: DbSession, organization_ids: list[str]) -> list[str]:
    from ..accounts.models import User

    if not organization_ids:
        return []
    stmt = select(User.id).where(
        User.organization_id.in_(organization_ids), User.role == "org_admin", User.active.is_(True)
    )
    return [str(x) for x in session.scalars(stmt)]


def decide(session: DbSession, actor: Any, release_id: str, decision: str, note: str = "") -> ReleaseApproval:
    """An org admin answers for her organisation: approved, or refused with a reason."""
    release = get(session, actor, release_id)
    if getattr(actor, "role", None) != "org_admin" or not _is_member(session, actor, release):
        raise NotFound("release")
    if release.state != "in_review":
        raise ReleaseStateError("not_in_review")
    fields: dict[str, str] = {}
    if decision not in ("approved", "refused"):
        fields["decision"] = "required"
    note = (note or "").strip()
    if decision == "refused" and not note:
        fields["note"] = "required"
    elif note and (len(note) > 1000 or text_problem(note, identifying=False)):
        fields["note"] = text_problem(note, identifying=False) or "too_long_text"
    if fields:
        raise InvalidInput("invalid_decision", fields=fields)
    existing = session.scalar(
        select(ReleaseApproval).where(
            ReleaseApproval.release_id == release.id, ReleaseApproval.organization_id == actor.organization_id
        )
    )
    if existing is not None:
        raise ReleaseStateError("already_answered")
    approval = ReleaseApproval(
        id=new_id(),
        release_id=release.id,
        organization_id=actor.organization_id,
        decision=decision,
        note=note,
        decided_by=actor.id,
    )
    session.add(approval)
    session.flush()
    action = "statistics.release_approve" if decision == "approved" else "statistics.release_refuse"
    record(action, actor, None, release_id=release.id)
    return approval


def approval_status(session: DbSession, release: StatisticsRelease) -> dict[str, Any]:
    """Which member organisations have approved, refused, or not yet answered (ids)."""
    members = network_members(session, _scope_of(release))
    answered = {a.organization_id: a for a in release.approvals}
    return {
        "members": members,
        "approved": [m for m in members if m in answered and answered[m].decision == "approved"],
        "refused": [m for m in members if m in answered and answered[m].decision == "refused"],
        "waiting": [m for m in members if m not in answered],
    }


def publish(session: DbSession, actor: Any, release_id: str) -> StatisticsRelease:
    """Publish once every member organisation has approved."""
    release = get(session, actor, release_id)
    if not _is_coordinator_of(actor, release):
        raise NotFound("release")
    if release.state != "in_review":
        raise ReleaseStateError("not_in_review")
    status = approval_status(session, release)
    if status["waiting"] or status["refused"]:
        raise ReleaseStateError("not_approved_by_all")
    release.state = "published"
    release.published_at = utcnow()
    release.published_by = actor.id
    record("statistics.release_publish", actor, None, release_id=release.id)
    return release


# ------------------------------------------------------------------------------- requests
def _request_scope(session: DbSession, actor: Any, network: str | None) -> str:
    if getattr(actor, "role", None) != "coordinator":
        raise Forbidden("statistics.request_record")
    scope = scope_for(session, actor, network)
    return "national" if scope.kind == "national" else scope_key(scope)


def _requests_of(session: DbSession, actor: Any) -> Select[Any]:
    """The register a coordinator keeps: her network's requests (all of them, nationally)."""
    if getattr(actor, "role", None) != "coordinator":
        raise Forbidden("statistics.request_record")
    stmt = select(DataRequest)
    if actor.network_id is not None:
        own = session.get(Network, actor.network_id)
        stmt = stmt.where(DataRequest.scope_key == f"network:{own.governorate if own else ''}")
    return stmt


def requests_for(session: DbSession, actor: Any) -> list[DataRequest]:
    newest = (DataRequest.received_on.desc(), DataRequest.recorded_at.desc())
    return list(session.scalars(_requests_of(session, actor).order_by(*newest).limit(500)))


def record_request(session: DbSession, actor: Any, values: dict[str, Any]) -> DataRequest:
    """Write an outside request for data into the register."""
    key = _request_scope(session, actor, values.get("network"))
    fields: dict[str, str] = {}
    clean: dict[str, Any] = {}
    for name, limit in (("requester", 200), ("description", 2000), ("purpose", 2000)):
        value = (values.get(name) or "").strip()
        if not value:
            fields[name] = "required"
        elif len(value) > limit:
            fields[name] = "too_long_text"
        elif problem := text_problem(value, identifying=False):
            fields[name] = problem
        clean[name] = value
    received = values.get("received_on")
    if isinstance(received, str):
        try:
            received = date.fromisoformat(received)
        except ValueError:
            received = None
    if not isinstance(received, date):
        fields["received_on"] = "invalid_date"
    elif received > utcnow().date():
        fields["received_on"] = "not_in_the_past"
    if fields:
        raise InvalidInput("invalid_request", fields=fields)
    row = DataRequest(id=new_id(), scope_key=key, received_on=received, recorded_by=actor.id, **clean)
    session.add(row)
    session.flush()
    record("statistics.request_record", actor, None, request_id=row.id)
    return row


def decide_request(
    session: DbSession, actor: Any, request_id: str, decision: str, note: str = "", release_id: str | None = None
) -> DataRequest:
    found = get_by_id(session, DataRequest, request_id)
    row = session.scalar(_requests_of(session, actor).where(DataRequest.id == found.id)) if found else None
    if row is None:
        raise NotFound("request")
    fields: dict[str, str] = {}
    if decision not in ("approved", "refused"):
        fields["decision"] = "required"
    note = (note or "").strip()
    if note and (len(note) > 1000 or text_problem(note, identifying=False)):
        fields["decision_note"] = text_problem(note, identifying=False) or "too_long_text"
    release = None
    if release_id:
        release = get_by_id(session, StatisticsRelease, release_id)
        if release is None or release.state != "published" or release.scope_key != row.scope_key:
            fields["release_id"] = "unknown"
    if fields:
        raise InvalidInput("invalid_decision", fields=fields)
    row.decision = decision
    row.decision_note = note
    row.decided_on = utcnow().date()
    row.release_id = release.id if release is not None and decision == "approved" else None
    record("statistics.request_decide", actor, None, request_id=row.id, decision=decision)
    return row
