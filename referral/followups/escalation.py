"""What the network coordinator sees of an escalation: case code, organisations, delay."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import aliased

from ..audit.services import record
from ..directory.models import NetworkMembership, Organization
from ..errors import NotFound
from ..i18n import current_locale_code
from ..models_base import DbSession, utcnow
from ..referrals.models import Referral


@dataclass(frozen=True)
class Overdue:
    case_code: str
    from_organization: str
    to_organization: str
    priority: str
    sent_at: datetime
    due_at: datetime
    delay: timedelta
    referral_id: str = ""  # for the "remind now" action (never shown)
    to_organization_id: str = ""


def overdue_referrals(session: DbSession, coordinator: Any, now: datetime | None = None) -> list[Overdue]:
    """Referrals to the coordinator's network's organisations still unanswered after their target."""
    if coordinator.network_id is None:
        return []
    rows = overdue_in(session, coordinator.network_id, now)
    record("referral.escalations_view", coordinator, None, network_id=coordinator.network_id, count=len(rows))
    return rows


def _late(network_id: str, now: datetime) -> Any:
    members = select(NetworkMembership.organization_id).where(NetworkMembership.network_id == network_id)
    return (Referral.state == "sent", Referral.due_at < now, Referral.to_organization_id.in_(members))


def count_overdue(session: DbSession, network_id: str, now: datetime | None = None) -> int:
    """How many referrals to the network's organisations are unanswered past their target."""
    return int(session.scalar(select(func.count()).where(*_late(network_id, now or utcnow()))) or 0)


def overdue_in(session: DbSession, network_id: str, now: datetime | None = None, limit: int = 500) -> list[Overdue]:
    """The overdue referrals of one network, oldest target first. No access check and no audit:
    the caller has checked who reads them and records that read."""
    now = now or utcnow()
    sender, receiver = aliased(Organization), aliased(Organization)
    arabic = current_locale_code() == "ar"
    stmt = (
        select(
            Referral.case_code,
            sender.name_ar if arabic else sender.name_en,
            receiver.name_ar if arabic else receiver.name_en,
            Referral.priority,
            Referral.sent_at,
            Referral.due_at,
            Referral.id,
            Referral.to_organization_id,
        )
        .join(sender, sender.id == Referral.from_organization_id)
        .join(receiver, receiver.id == Referral.to_organization_id)
        .where(*_late(network_id, now))
        .order_by(Referral.due_at)
        .limit(limit)
    )
    return [
        Overdue(code, a, b, p, sent, due, now - due, str(rid), str(to_org or ""))
        for code, a, b, p, sent, due, rid, to_org in session.execute(stmt)
        if sent is not None and due is not None
    ]


@dataclass(frozen=True)
class Step:
    """One step of an overdue referral's timeline, as the coordinator sees it: a state and a time."""

    to_state: str
    at: datetime


def overdue_one(
    session: DbSession, coordinator: Any, referral_id: str, now: datetime | None = None
) -> tuple[Overdue, list[Step]]:
    """One referral of the coordinator's overdue list, with the states it went through (no
    reason, note or person). Any other referral (another network's, or not overdue) is not
    found: the coordinator learns of no referral outside her list."""
    from ..audit.services import record_denial
    from ..referrals.models import ReferralTransition

    rows = (
        [o for o in overdue_in(session, coordinator.network_id, now) if o.referral_id == str(referral_id)]
        if coordinator.network_id is not None and coordinator.role == "coordinator"
        else []
    )
    if not rows:
        record_denial(coordinator, "referral", str(referral_id)[:64])
        raise NotFound("referral")
    steps = [
        Step(to_state, at)
        for to_state, at in session.execute(
            select(ReferralTransition.to_state, ReferralTransition.at)
            .where(ReferralTransition.referral_id == rows[0].referral_id)
            .order_by(ReferralTransition.at)
        )
    ]
    record(
        "referral.escalation_view",
        coordinator,
        None,
        case_code=rows[0].case_code,
        network_id=coordinator.network_id,
        referral_id=rows[0].referral_id,
    )
    return rows[0], steps
