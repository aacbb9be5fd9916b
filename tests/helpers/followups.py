"""Follow-ups and the referral clocks: follow-ups, sent referrals and the notifications someone was told."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Flask
from sqlalchemy import select

from referral.extensions import db
from referral.followups import services as followups
from referral.followups.models import Notification
from referral.models_base import utcnow
from referral.referrals import services as referrals
from referral.referrals.models import Referral
from tests.conftest import Account
from tests.helpers.cases import World, open_case, user
from tests.helpers.referrals import consent, refer


def followup_input(**extra: Any) -> followups.FollowUpInput:
    values: dict[str, Any] = {"due_at": utcnow() + timedelta(days=1), "kind": "call"}
    values.update(extra)
    return followups.FollowUpInput(**values)


def add_followup(app: Flask, by: Account, case_id: str, **extra: Any) -> str:
    with app.app_context():
        followup = followups.create(db.session, user(by), case_id, followup_input(**extra))
        db.session.commit()
        return followup.id


def notifications_of(app: Flask, account: Account) -> list[Notification]:
    with app.app_context():
        rows = list(
            db.session.scalars(
                select(Notification)
                .where(Notification.user_id == account.id)
                .order_by(Notification.created_at, Notification.id)
            )
        )
        db.session.expunge_all()
        return rows


def sent_referral(app: Flask, world: World, priority: str = "emergency") -> str:
    case_id = open_case(app, world)
    return refer(app, world, case_id, consent(app, world, case_id), priority=priority)


def send_referral(app: Flask, world: World, priority: str) -> Referral:
    case_id = open_case(app, world)
    grant = consent(app, world, case_id)
    with app.app_context():
        made = referrals.create(
            db.session,
            user(world.mine.caseworker),
            referrals.ReferralInput(
                case_id=case_id,
                to_organization_id=world.other.id,
                priority=priority,
                reason="needs legal representation",
                field_groups=["identity", "contact"],
                consent_id=grant,
            ),
        )
        db.session.commit()
        found = db.session.get(Referral, made.id)
        db.session.expunge(found)
        return found
