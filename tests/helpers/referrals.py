"""Consents, referrals and transfers made and moved through the services (and through the pages)."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from referral.cases import consent as consents
from referral.extensions import db
from referral.referrals import services as referrals
from referral.referrals import transfers
from referral.referrals.models import Referral
from tests.conftest import Account, csrf, within
from tests.helpers.cases import World, user


def consent(app: Flask, world: World, case_id: str, **extra: object) -> str:
    values = {
        "given_by": "survivor",
        "method": "verbal",
        "organization_ids": [world.other.id],
        "field_groups": ["identity", "contact", "incident"],
        "purpose": "legal aid for custody",
    }
    values.update(extra)
    with app.app_context():
        grant = consents.record_consent(
            db.session, user(world.mine.caseworker), case_id, consents.ConsentInput(**values)
        )
        db.session.commit()
        return grant.id


def refer(app: Flask, world: World, case_id: str, consent_id: str | None, **extra: object) -> str:
    data = referrals.ReferralInput(
        case_id=case_id,
        to_organization_id=world.other.id,
        priority="urgent",
        reason="needs legal representation",
        field_groups=["identity", "contact"],
        consent_id=consent_id,
    )
    for key, value in extra.items():
        setattr(data, key, value)
    with app.app_context():
        referral = referrals.create(db.session, user(world.mine.caseworker), data)
        db.session.commit()
        return referral.id


def act(app: Flask, who: object, referral_id: str, to_state: str, **kwargs: object) -> Referral:
    with app.app_context():
        done = referrals.transition(db.session, user(who), referral_id, to_state, **kwargs)  # type: ignore[arg-type]
        db.session.commit()
        return done


REASON = "She moved to the other governorate Qx7"


def request_transfer(
    app: Flask, world: World, case_id: str, consent_id: str | None, by: Account | None = None, **extra: Any
) -> str:
    data = transfers.TransferInput(
        case_id=case_id, to_organization_id=world.other.id, reason=REASON, consent_id=consent_id
    )
    for key, value in extra.items():
        setattr(data, key, value)
    with within(app):
        transfer = transfers.request_transfer(db.session, user(by or world.mine.caseworker), data)
        db.session.commit()
        return transfer.id


def accept_transfer(
    app: Flask, world: World, transfer_id: str, by: Account | None = None, owner: str | None = None
) -> None:
    with within(app):
        transfers.accept(
            db.session, user(by or world.other.supervisor), transfer_id, owner or world.other.caseworker.id
        )
        db.session.commit()


def refer_through_pages(client: FlaskClient, case_id: str, world: World) -> str:
    page = f"/cases/{case_id}/consents/new"
    token = csrf(client, page)
    recorded = client.post(
        page,
        data={
            "csrf_token": token,
            "given_by": "survivor",
            "method": "verbal",
            "organization_ids": [world.other.id],
            "field_groups": ["identity", "contact"],
            "purpose": "legal aid",
        },
    )
    assert recorded.status_code == 303, recorded.get_data(as_text=True)[:2000]
    page = f"/cases/{case_id}/referrals"
    html = client.get(page).get_data(as_text=True)
    consent_id = re.search(r'<option value="([0-9a-f-]{36})">', html.split('name="consent_id"')[1]).group(1)  # type: ignore[union-attr]
    sent = client.post(
        page,
        data={
            "csrf_token": csrf(client, page),
            "to_organization_id": world.other.id,
            "priority": "urgent",
            "field_groups": ["identity"],
            "consent_id": consent_id,
            "reason": "custody hearing",
        },
    )
    assert sent.status_code == 303, sent.get_data(as_text=True)[:2000]
    return sent.headers["Location"].rsplit("/", 1)[1]


PROVIDER = "مستشفى رفيديا الحكومي"  # a provider outside the network


def external_referral(
    app: Flask, world: World, case_id: str, consent_id: str | None, by: Account | None = None, **extra: object
) -> str:
    data = referrals.ReferralInput(
        case_id=case_id,
        to_organization_id=None,
        priority="urgent",
        reason="forensic examination",
        field_groups=["contact"],
        consent_id=consent_id,
        external_provider=PROVIDER,
        external_sector="health",
    )
    for key, value in extra.items():
        setattr(data, key, value)
    with app.app_context():
        referral = referrals.create(db.session, user(by or world.mine.caseworker), data)
        db.session.commit()
        return referral.id


def health_consent(app: Flask, world: World, case_id: str, **extra: object) -> str:
    values: dict[str, object] = {"organization_ids": [], "sectors": ["health"], "field_groups": ["contact"]}
    values.update(extra)
    return consent(app, world, case_id, **values)
