"""A network with an owning organisation, a receiving one (with an open referral on the case), a
third member with none, the network's coordinator, and another network's coordinator."""

from __future__ import annotations

import pytest
from flask import Flask

from referral.extensions import db
from tests.conftest import Factory
from tests.helpers.cases import World, open_case
from tests.helpers.conferences import Scene
from tests.helpers.referrals import consent, refer


@pytest.fixture
def scene(app: Flask, world: World, factory: Factory) -> Scene:
    from referral.cases.models import Case
    from referral.directory.models import Network

    case_id = open_case(app, world, risk_level="high")
    consent_id = consent(app, world, case_id, field_groups=["contact", "assessment"])
    referral_id = refer(app, world, case_id, consent_id, field_groups=["contact", "assessment"])
    with app.app_context():
        code = db.session.get(Case, case_id).case_code
        net = db.session.scalar(db.select(Network).where(Network.governorate == world.governorate))
        db.session.expunge(net)
    third = factory.organization(net)
    elsewhere = factory.network()
    return Scene(
        app,
        world,
        case_id,
        code,
        referral_id,
        factory.user("supervisor", third),
        factory.user("org_admin", third),
        world.mine.org_admin,
        factory.user("coordinator", factory.organization(elsewhere), network=elsewhere),
    )
