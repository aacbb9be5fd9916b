""" "With news from the other side": each side's last step kept on the referral, counted for the
home page from it, and filled in by the migration from the transitions already recorded."""

from __future__ import annotations

from flask import Flask
from flask_migrate import downgrade, upgrade
from sqlalchemy import func, select

from referral.extensions import db
from referral.referrals import services as referrals
from referral.referrals.models import Referral, ReferralTransition
from tests.helpers.cases import World, open_case, user
from tests.helpers.referrals import act, consent, refer


def _news(app: Flask, who: object) -> int:
    with app.app_context():
        return referrals.counts(db.session, user(who))["news"]


def _steps(app: Flask, referral_id: str) -> tuple[object, object]:
    with app.app_context():
        referral = db.session.get(Referral, referral_id)
        return referral.sender_step_at, referral.receiver_step_at


def test_each_side_s_step_is_news_to_the_other_side_only(app: Flask, world: World) -> None:
    case_id = open_case(app, world)
    referral_id = refer(app, world, case_id, consent(app, world, case_id))
    sent, answered = _steps(app, referral_id)
    assert sent is not None and answered is None
    assert (_news(app, world.other.supervisor), _news(app, world.mine.supervisor)) == (1, 0)  # the sending
    act(app, world.other.supervisor, referral_id, "accepted")
    after_send, accepted = _steps(app, referral_id)
    assert after_send == sent and accepted is not None and accepted >= sent
    assert (_news(app, world.other.supervisor), _news(app, world.mine.supervisor)) == (1, 1)


def test_the_migration_fills_each_side_s_last_step_from_the_transitions(app: Flask, world: World) -> None:
    case_id = open_case(app, world)
    referral_id = refer(app, world, case_id, consent(app, world, case_id))
    act(app, world.other.supervisor, referral_id, "accepted")
    with app.app_context():
        expected = {}
        for side, column in (("from_organization_id", "sender"), ("to_organization_id", "receiver")):
            party = getattr(db.session.get(Referral, referral_id), side)
            expected[column] = db.session.scalar(
                select(func.max(ReferralTransition.at)).where(
                    ReferralTransition.referral_id == referral_id, ReferralTransition.organization_id == party
                )
            )
        db.session.commit()
        try:
            downgrade(revision="0030_checkpoint_links")
        finally:
            upgrade()
    assert _steps(app, referral_id) == (expected["sender"], expected["receiver"])
    assert _news(app, world.mine.supervisor) == 1
