"""What the network coordinator sees of an escalation: case code, organisations, delay."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
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


def overdue_referrals(session: DbSession, coordinator: Any, now: datetime | None = None) -> list[Overdue]:
    """Referrals to the coordinator's network's organisations still unanswered after their target."""
    now = now or utcnow()
    if coordinator.network_id is None:
        return []
    members = select(NetworkMembership.organization_id).where(NetworkMembership.network_id == coordinator.network_id)
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
        )
        .join(sender, sender.id == Referral.from_organization_id)
        .join(receiver, receiver.id == Referral.to_organization_id)
        .where(Referral.state == "sent", Referral.due_at < now, Referral.to_organization_id.in_(members))
        .order_by(Referral.due_at)
        .limit(500)
    )
    rows = [
        Overdue(code, a, b, p, sent, due, now - due)
        for code, a, b, p, sent, due in session.execute(stmt)
        if sent is not None and due is not None
    ]
    record("referral.escalations_view", coordinator, None, network_id=coordinator.network_id, count=len(rows))
    return rows
