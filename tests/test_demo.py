"""The demo network shows the referral loop in every state, through the real services."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import select

from referral.accounts.models import User
from referral.demo import seed
from referral.extensions import db
from referral.followups.models import Notification
from referral.referrals import services as referrals
from referral.referrals.models import Referral
from referral.runtime import runtime


def test_demo_referrals_cover_every_state_and_both_sides_see_them(app: Flask) -> None:
    with app.app_context():
        seed(db.session, runtime())
        db.session.commit()
        rows = db.session.scalars(select(Referral)).all()
        states = {r.state for r in rows}
        assert {"sent", "accepted", "in_progress", "completed", "declined", "withdrawn"} <= states
        users = {u.username: u for u in db.session.scalars(select(User))}
        inbox = referrals.listing(db.session, users["nbl.supervisor"], "inbox")
        outbox = referrals.listing(db.session, users["nbl.caseworker"], "outbox")
        assert inbox and outbox
        for referral in inbox:
            assert referrals.visible(db.session, users["nbl.supervisor"], referral.id).id == referral.id
        external = [r for r in rows if r.external]
        assert external and all(r.state == "accepted" and r.transitions[-1].note for r in external)
        completed = next(r for r in rows if r.state == "completed")
        assert completed.outcome and [t.to_state for t in completed.transitions][-1] == "completed"
        # the focal points were told, after the seed committed
        told = db.session.scalars(select(Notification).where(Notification.user_id == users["nbl.supervisor"].id))
        assert {n.kind for n in told} == {"referral.received"}
        told = db.session.scalars(select(Notification).where(Notification.user_id == users["nbl.mosd.supervisor"].id))
        assert {n.kind for n in told} == {"referral.received", "referral.withdrawn"}
