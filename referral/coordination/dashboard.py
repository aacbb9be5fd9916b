"""What the coordinators' home pages show, and the "remind now" action on an overdue referral.

The network coordinator's home: the next meeting, minutes awaiting approval, overdue action
points by owner organisation, the plan's progress this quarter, and the referrals to her
network's organisations unanswered past their target. The national coordinator's home: one row
per network comparing the same. Nothing here reads case content: a referral is its case code,
its two organisations and its delay. Every read is audited; services flush and never commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import exists, select

from ..audit.services import record, record_denial
from ..directory.models import Network, NetworkMembership
from ..errors import Conflict, NotFound, RuleRefused
from ..followups import escalation, notifications
from ..followups.models import Notification
from ..models_base import DbSession, get_by_id, utcnow
from ..plans.services import Progress, plan_for, plan_progress
from ..referrals.models import Referral
from . import services
from .models import ActionPoint, Meeting


@dataclass(frozen=True)
class OwnerPoints:
    organization_id: str
    points: list[ActionPoint]


@dataclass(frozen=True)
class CoordinatorHome:
    network: Network
    next_meeting: Meeting | None
    awaiting_approval: list[Meeting]
    overdue_by_owner: list[OwnerPoints]
    year: int
    quarter: int
    progress: Progress
    plan_id: str | None
    overdue_referrals: list[escalation.Overdue]
    reminded_today: set[str]  # ids of the overdue referrals already reminded today


def _quarter(day: Any) -> int:
    return (int(day.month) - 1) // 3 + 1


def _next_meeting(session: DbSession, network_id: str, now: datetime) -> Meeting | None:
    return session.scalar(
        select(Meeting)
        .where(Meeting.network_id == network_id, Meeting.starts_at > now, Meeting.state != "cancelled")
        .order_by(Meeting.starts_at, Meeting.id)
        .limit(1)
    )


def _by_owner(points: list[ActionPoint]) -> list[OwnerPoints]:
    grouped: dict[str, list[ActionPoint]] = {}
    for point in points:
        grouped.setdefault(point.owner_organization_id, []).append(point)
    return [OwnerPoints(org, rows) for org, rows in sorted(grouped.items(), key=lambda kv: (-len(kv[1]), kv[0]))]


def _remind_key(referral_id: str, day: Any) -> str:
    return f"remind:{referral_id}:{day.isoformat()}"


def _reminded(session: DbSession, referral_ids: list[str], day: Any) -> set[str]:
    """The referrals of `referral_ids` already reminded on `day` (a notification with its key exists)."""
    found: set[str] = set()
    for referral_id in referral_ids:
        key = _remind_key(referral_id, day)
        if session.scalar(select(exists().where(Notification.dedupe_key.like(f"{key}:%")))):
            found.add(referral_id)
    return found


def reminded_today(session: DbSession, actor: Any, referral_ids: list[str], now: datetime | None = None) -> set[str]:
    """Which of these referrals (of the coordinator's network) were reminded today already."""
    if not referral_ids or getattr(actor, "network_id", None) is None:
        return set()
    return _reminded(session, referral_ids, services.today_in(session, actor.network_id, now or utcnow()))


def coordinator_home(session: DbSession, actor: Any, now: datetime | None = None) -> CoordinatorHome:
    """The home of a network's coordinator (audited as one read of her network's coordination)."""
    network_id = getattr(actor, "network_id", None)
    if network_id is None or not services.runs(actor, network_id):
        raise NotFound("network")
    now = now or utcnow()
    net = services.network_for(session, actor, network_id)
    today = services.today_in(session, net.id, now)
    overview = services.network_overview(session, net.id, now)
    overdue = escalation.overdue_in(session, net.id, now, limit=50)
    plan = plan_for(session, net.id, today.year)
    record(
        "coordination.home",
        actor,
        None,
        network_id=net.id,
        overdue_referrals=len(overdue),
        overdue_points=len(overview.overdue_points),
    )
    return CoordinatorHome(
        network=net,
        next_meeting=overview.upcoming[0] if overview.upcoming else None,
        awaiting_approval=overview.awaiting_approval,
        overdue_by_owner=_by_owner(overview.overdue_points),
        year=today.year,
        quarter=_quarter(today),
        progress=plan_progress(session, net.id, today.year, _quarter(today)),
        plan_id=plan.id if plan is not None else None,
        overdue_referrals=overdue,
        reminded_today=_reminded(session, [o.referral_id for o in overdue], today),
    )


@dataclass(frozen=True)
class NetworkRow:
    network: Network
    next_meeting: Meeting | None
    awaiting_approval: int
    open_points: int
    overdue_points: int
    planned: int  # this year's activities not cancelled
    delivered: int
    plan_id: str | None
    overdue_referrals: int


def national_home(session: DbSession, actor: Any, now: datetime | None = None) -> list[NetworkRow]:
    """The national coordinator's comparison of every network (audited as one read)."""
    if not services.is_national(actor) or not getattr(actor, "active", False):
        raise NotFound("network")
    now = now or utcnow()
    rows: list[NetworkRow] = []
    for net in session.scalars(select(Network).order_by(Network.name_en)):
        today = services.today_in(session, net.id, now)
        overview = services.network_overview(session, net.id, now)
        total = plan_progress(session, net.id, today.year).total
        plan = plan_for(session, net.id, today.year)
        rows.append(
            NetworkRow(
                network=net,
                next_meeting=overview.upcoming[0] if overview.upcoming else None,
                awaiting_approval=len(overview.awaiting_approval),
                open_points=len(overview.open_points),
                overdue_points=len(overview.overdue_points),
                planned=total.planned,
                delivered=total.delivered,
                plan_id=plan.id if plan is not None else None,
                overdue_referrals=escalation.count_overdue(session, net.id, now),
            )
        )
    record("coordination.national_home", actor, None, count=len(rows))
    return rows


# ------------------------------------------------------------------------------- remind now
def _networks_of_receiver(session: DbSession, organization_id: str | None) -> list[str]:
    if organization_id is None:
        return []
    stmt = select(NetworkMembership.network_id).where(NetworkMembership.organization_id == organization_id)
    return sorted(session.scalars(stmt))


def remind_now(session: DbSession, actor: Any, referral_id: str, now: datetime | None = None) -> int:
    """A coordinator reminds the receiving organisation's focal points (its supervisors) of a
    referral unanswered past its target: the notification names the case code and says "log in
    to review", nothing more. At most once per referral per day of the network. Returns how
    many people are told. Another network's referral, or one that is not awaiting an answer
    past its target, is not found (a coordinator never learns of a referral outside her list)."""
    now = now or utcnow()
    referral = get_by_id(session, Referral, referral_id)
    networks = _networks_of_receiver(session, referral.to_organization_id if referral is not None else None)
    ran = [n for n in networks if services.runs(actor, n)]
    overdue = referral is not None and referral.state == "sent" and referral.due_at is not None
    if referral is None or not ran or not overdue or referral.due_at >= now:
        record_denial(actor, "referral", str(referral_id), session)
        raise NotFound("referral")
    network_id = actor.network_id if actor.network_id in ran else ran[0]
    day = services.today_in(session, network_id, now)
    if _reminded(session, [referral.id], day):
        raise Conflict("already_reminded_today")
    told = notifications.focal_points(session, str(referral.to_organization_id))
    if not told:
        raise RuleRefused("nobody_to_remind", fields={"referral": "nobody_to_remind"})
    record(
        "referral.remind",
        actor,
        referral,
        case_code=referral.case_code,
        network_id=network_id,
        to_organization_id=referral.to_organization_id,
        told=len(told),
    )
    notifications.notify(
        told,
        notifications.Message(
            "referral.reminder", referral.case_code, "referral", referral.id, key=_remind_key(referral.id, day)
        ),
        session,
    )
    return len(told)
