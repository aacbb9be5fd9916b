"""A network of organisations of several sectors, and quick ways to add cases and referrals with
chosen dates and states: statistics read clear columns only, so the rows are written directly."""

from __future__ import annotations

import pytest
from flask import Flask

from tests.conftest import Factory
from tests.helpers.statistics import Member, StatsWorld


@pytest.fixture
def stats_world(app: Flask, factory: Factory) -> StatsWorld:
    net = factory.network()
    members = []
    for sector in ("legal_aid", "social", "health"):
        org = factory.organization(net, sectors=[sector])
        members.append(
            Member(
                org.id,
                sector,
                factory.user("caseworker", org),
                factory.user("org_admin", org),
                factory.user("supervisor", org),
            )
        )
    centre = factory.organization(net, sectors=["other"])
    other = factory.network()
    return StatsWorld(
        app,
        net.governorate,
        net.id,
        members,
        factory.user("coordinator", centre, network=net),
        factory.user("auditor", centre),
        other.governorate,
        factory.user("coordinator", factory.organization(other), network=other),
        factory.user("coordinator", centre),
    )
