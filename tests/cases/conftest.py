"""Fixtures for case files: a network with two organisations and staff of every role in each."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask

from referral.accounts.models import User
from referral.cases import services
from referral.extensions import db
from tests.conftest import Account, Factory

MARKER_NAME = "Zubaida-Marker-Qx7"
MARKER_ID = "987654324"  # nine digits, its check digit right
MARKER_PHONE = "+970 59 111 2233"


@dataclass
class Org:
    id: str
    caseworker: Account
    colleague: Account
    supervisor: Account
    org_admin: Account


@dataclass
class World:
    governorate: str
    mine: Org
    other: Org
    coordinator: Account
    auditor: Account
    sysadmin: Account


@pytest.fixture
def world(factory: Factory) -> World:
    net = factory.network()

    def org() -> Org:
        o = factory.organization(net)
        return Org(
            o.id,
            factory.user("caseworker", o),
            factory.user("caseworker", o),
            factory.user("supervisor", o),
            factory.user("org_admin", o),
        )

    mine, other = org(), org()
    return World(
        net.governorate,
        mine,
        other,
        factory.user("coordinator", factory.organization(net), network=net),
        factory.user("auditor", factory.organization(net)),
        factory.user("sysadmin", factory.organization(net)),
    )


def user(account: Account) -> User:
    return db.session.get(User, account.id)


def intake(world: World, **extra: Any) -> dict[str, Any]:
    values = {
        "full_name": MARKER_NAME + " Saleh",
        "national_id": MARKER_ID,
        "date_of_birth": "1994-03-02",
        "phone": MARKER_PHONE,
        "address": "Old City, near the marker mosque",
        "safe_contact": {
            "safe_to_call": True,
            "safe_to_text": False,
            "safe_voicemail": False,
            "safe_hours": "09:00-12:00",
            "instructions": "Ask for Um Ahmad",
        },
        "narrative": "Marker narrative of what happened",
        "governorate": world.governorate,
        "age_group": "25-59",
        "sex": "female",
        "disability": False,
        "gbv_type": "physical_assault",
        "perpetrator_relationship": "intimate_partner",
        "risk_level": "medium",
    }
    values.update(extra)
    return values


def open_case(app: Flask, world: World, by: Account | None = None, **extra: Any) -> str:
    with app.app_context():
        case, _ = services.create_case(
            db.session, user(by or world.mine.caseworker), services.CaseInput(intake(world, **extra))
        )
        db.session.commit()
        return case.id
