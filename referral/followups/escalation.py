"""What the network coordinator sees of an escalation: case code, organisations, delay."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import aliased

from ..audit.services import record
from ..directory.models import NetworkMembership, Organization
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
