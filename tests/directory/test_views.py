"""Networks, organisations and membership: sysadmins manage all, coordinators their own network."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from referral.audit.models import AuditEvent
from referral.directory.models import Network, NetworkMembership, Organization
from referral.extensions import db
from tests.conftest import Factory, csrf, sign_in


def test_sysadmin_creates_a_network_and_an_organisation(client: FlaskClient, app: Flask, factory: Factory) -> None:
    sign_in(client, app, factory.user("sysadmin"))
    token = csrf(client, "/networks/new")
    made = client.post(
        "/networks/new",
        data={
            "csrf_token": token,
            "governorate": "bethlehem",
            "case_prefix": "bth",
            "name_ar": "شبكة بيت لحم",
            "name_en": "Bethlehem Network",
        },
    )
    assert made.status_code == 302
    token = csrf(client, "/organizations/new")
    org = client.post(
        "/organizations/new",
        data={
            "csrf_token": token,
            "name_ar": "مركز بيت لحم",
            "name_en": "Bethlehem Centre",
            "kind": "civil",
            "sectors": ["legal_aid", "psychosocial"],
            "governorates": ["bethlehem"],
            "accepts_referrals": "y",
        },
    )
    assert org.status_code == 302
    with app.app_context():
        net = db.session.scalar(select(Network).where(Network.governorate == "bethlehem"))
        assert net.case_prefix == "BTH"
        created = db.session.scalar(select(Organization).where(Organization.name_en == "Bethlehem Centre"))
        assert created.sectors == ["legal_aid", "psychosocial"] and created.accepts_referrals
        actions = set(db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))
        assert {"network.create", "organization.create"} <= actions


def test_invalid_organisation_keeps_the_input_and_names_the_field(
    client: FlaskClient, app: Flask, factory: Factory
) -> None:
    sign_in(client, app, factory.user("sysadmin"))
    token = csrf(client, "/organizations/new")
    response = client.post(
        "/organizations/new",
        data={"csrf_token": token, "name_ar": "مركز", "name_en": "Centre Without Sector", "kind": "civil"},
    )
    assert response.status_code == 400
    body = response.get_data(as_text=True)
    assert 'value="Centre Without Sector"' in body
    assert 'id="sectors-error"' in body and 'id="governorates-error"' in body
    with app.app_context():
        assert db.session.scalar(select(Organization).where(Organization.name_en == "Centre Without Sector")) is None


def test_coordinator_manages_only_her_network(client: FlaskClient, app: Flask, factory: Factory) -> None:
    mine, other = factory.network(), factory.network()
    outsider = factory.organization(other)
    coordinator = factory.user("coordinator", factory.organization(mine), network=mine)
    sign_in(client, app, coordinator)
    token = csrf(client, f"/networks/{mine.id}")
    added = client.post(f"/networks/{mine.id}", data={"csrf_token": token, "member-organization_id": outsider.id})
    assert added.status_code == 302
    refused = client.post(f"/networks/{other.id}", data={"csrf_token": token, "member-organization_id": outsider.id})
    assert refused.status_code == 200  # the page shows no membership form for her there
    removed = client.post(f"/networks/{other.id}/members/{outsider.id}/remove", data={"csrf_token": token})
    assert removed.status_code == 404
    assert client.get("/networks/new").status_code == 404
    assert client.get("/organizations/new").status_code == 404
    with app.app_context():
        nets = set(
            db.session.scalars(
                select(NetworkMembership.network_id).where(NetworkMembership.organization_id == outsider.id)
            )
        )
        assert nets == {mine.id, other.id}
    token = csrf(client, f"/networks/{mine.id}")
    assert (
        client.post(f"/networks/{mine.id}/members/{outsider.id}/remove", data={"csrf_token": token}).status_code == 302
    )
    with app.app_context():
        assert db.session.scalar(
            select(AuditEvent.action).where(AuditEvent.action == "membership.remove").order_by(AuditEvent.id)
        )


def test_caseworker_reads_but_cannot_manage(client: FlaskClient, app: Flask, factory: Factory) -> None:
    net = factory.network()
    account = factory.user("caseworker", factory.organization(net))
    sign_in(client, app, account)
    assert client.get("/networks").status_code == 200
    assert client.get(f"/networks/{net.id}").status_code == 200
    assert client.get("/organizations").status_code == 200
    assert client.get(f"/networks/{net.id}/edit").status_code == 404
