"""An organisation's admin keeps her own organisation's directory entry (names, description,
contact, sectors, governorates served, whether it accepts referrals), never its kind, its state
or its networks, and never another organisation's (not found). Every save is audited."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from referral.audit.models import AuditEvent
from referral.directory.models import NetworkMembership, Organization
from referral.extensions import db
from tests.conftest import Factory, arabic, csrf, sign_in


def _form(token: str, governorate: str, **changes: Any) -> dict[str, Any]:
    form: dict[str, Any] = {
        "csrf_token": token,
        "name_ar": "مركز النور للإرشاد",
        "name_en": "Al-Nour Counselling Centre",
        "description_ar": "إرشاد نفسي واجتماعي للنساء",
        "description_en": "Psychosocial counselling for women",
        "sectors": ["psychosocial", "legal_aid"],
        "governorates": [governorate],
        "accepts_referrals": "",
        "phone": "+970 2 274 1234",
        "email": "Office@AlNour.example.org",
        "website": "https://alnour.example.org",
    }
    form.update(changes)
    return form


def _org(app: Flask, org_id: str) -> Organization:
    with app.app_context():
        found = db.session.get(Organization, org_id)
        assert found is not None
        db.session.expunge(found)
        return found


def _events(app: Flask, action: str) -> list[AuditEvent]:
    with app.app_context():
        rows = list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)))
        db.session.expunge_all()
        return rows


def test_an_org_admin_edits_her_own_entry_but_not_its_kind_state_or_networks(
    client: FlaskClient, app: Flask, factory: Factory
) -> None:
    net = factory.network()
    org = factory.organization(net)
    admin = factory.user("org_admin", org)
    before = _org(app, org.id)
    sign_in(client, app, admin)
    listing = client.get("/organizations").get_data(as_text=True)
    assert f"/organizations/{org.id}/edit" in listing and 'data-testid="edit-own-entry"' in listing
    page = client.get(f"/organizations/{org.id}/edit")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'name="kind"' not in html and 'name="active"' not in html
    token = csrf(client, f"/organizations/{org.id}/edit")
    # a hostile form also posts the kind, the state and a membership: they are not hers to change
    saved = client.post(
        f"/organizations/{org.id}/edit",
        data=_form(token, net.governorate, kind="governmental", active="", network_id="x"),
    )
    assert saved.status_code == 302
    after = _org(app, org.id)
    assert after.name_en == "Al-Nour Counselling Centre" and after.name_ar == "مركز النور للإرشاد"
    assert after.description_en == "Psychosocial counselling for women"
    assert after.description("ar") == "إرشاد نفسي واجتماعي للنساء"
    assert after.sectors == ["legal_aid", "psychosocial"] and after.accepts_referrals is False
    assert (after.phone, after.email, after.website) == (
        "+970 2 274 1234",
        "office@alnour.example.org",
        "https://alnour.example.org",
    )
    assert after.kind == before.kind and after.active is True
    with app.app_context():
        memberships = db.session.scalars(
            select(NetworkMembership.network_id).where(NetworkMembership.organization_id == org.id)
        ).all()
    assert memberships == [net.id]
    shown = client.get("/organizations").get_data(as_text=True)  # the network reads the entry
    assert "إرشاد نفسي واجتماعي للنساء" in shown and 'href="mailto:office@alnour.example.org"' in shown
    assert 'href="https://alnour.example.org"' in shown and 'href="tel:+97022741234"' in shown
    (event,) = _events(app, "organization.update")
    assert event.actor_id == admin.id and event.object_id == org.id and event.organization_id == org.id
    assert event.details == {"entry": True}
    assert "Al-Nour" not in str(event.details) and "alnour" not in str(event.reason)


def test_another_organisations_entry_is_not_found_and_the_attempt_recorded(
    client: FlaskClient, app: Flask, factory: Factory
) -> None:
    net = factory.network()
    mine, theirs = factory.organization(net), factory.organization(net)
    sign_in(client, app, factory.user("org_admin", mine))
    assert client.get(f"/organizations/{theirs.id}/edit").status_code == 404
    token = csrf(client, f"/organizations/{mine.id}/edit")
    refused = client.post(f"/organizations/{theirs.id}/edit", data=_form(token, net.governorate))
    assert refused.status_code == 404
    assert client.get("/organizations/not-an-id/edit").status_code == 404
    assert _org(app, theirs.id).name_en != "Al-Nour Counselling Centre"
    assert _events(app, "organization.update") == []
    denied = _events(app, "access.denied")
    assert {e.object_id for e in denied} >= {theirs.id} and {e.object_type for e in denied} == {"organization"}
    listing = client.get("/organizations").get_data(as_text=True)
    assert f"/organizations/{theirs.id}/edit" not in listing


def test_other_roles_get_not_found(client: FlaskClient, app: Flask, factory: Factory) -> None:
    org = factory.organization()
    for role in ("caseworker", "supervisor"):
        fresh = app.test_client()
        sign_in(fresh, app, factory.user(role, org))
        assert fresh.get(f"/organizations/{org.id}/edit").status_code == 404
    assert client is not None


def test_bad_contact_is_a_field_error_with_the_input_kept_and_nothing_saved(
    client: FlaskClient, app: Flask, factory: Factory
) -> None:
    net = factory.network()
    org = factory.organization(net)
    before = _org(app, org.id)
    sign_in(client, app, factory.user("org_admin", org))
    token = csrf(client, f"/organizations/{org.id}/edit")
    bad = _form(token, net.governorate, phone="call us!", email="not-an-address", website="javascript:alert(1)")
    response = client.post(f"/organizations/{org.id}/edit", data=bad)
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    for name in ("phone", "email", "website"):
        assert f'id="{name}-error"' in html, name
    assert 'value="call us!"' in html and 'value="not-an-address"' in html
    assert arabic(app, "This value is not valid.") in html
    choices = _form(token, net.governorate, description_en="x" * 2001, sectors=["nonsense"], governorates=["atlantis"])
    response = client.post(f"/organizations/{org.id}/edit", data=choices)
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    for name in ("description_en", "sectors", "governorates"):
        assert f'id="{name}-error"' in html, name
    after = _org(app, org.id)
    assert (after.name_en, after.phone, after.email) == (before.name_en, None, None)
    assert _events(app, "organization.update") == []
    # a name another organisation already has
    other = factory.organization(net)
    taken = client.post(
        f"/organizations/{org.id}/edit",
        data=_form(csrf(client, f"/organizations/{org.id}/edit"), net.governorate, name_en=other.name_en.upper()),
    )
    assert taken.status_code == 400 and 'id="name_en-error"' in taken.get_data(as_text=True)


def test_the_system_admin_still_edits_everything(client: FlaskClient, app: Flask, factory: Factory) -> None:
    net = factory.network()
    org = factory.organization(net)
    sign_in(client, app, factory.user("sysadmin"))
    token = csrf(client, f"/organizations/{org.id}/edit")
    saved = client.post(
        f"/organizations/{org.id}/edit", data=_form(token, net.governorate, kind="governmental", active="")
    )
    assert saved.status_code == 302
    after = _org(app, org.id)
    assert after.kind == "governmental" and after.active is False and after.website == "https://alnour.example.org"


def test_the_entry_goes_into_the_hsds_export_and_stays_valid(client: FlaskClient, app: Flask, factory: Factory) -> None:
    from referral.accounts import services as accounts
    from referral.accounts.models import User
    from tests.helpers.api import get_json, hsds_validators

    net = factory.network()
    org = factory.organization(net)
    admin = factory.user("org_admin", org)
    sign_in(client, app, admin)
    token = csrf(client, f"/organizations/{org.id}/edit")
    assert client.post(f"/organizations/{org.id}/edit", data=_form(token, net.governorate)).status_code == 302
    with app.app_context():
        _row, raw = accounts.issue_token(db.session, db.session.get(User, admin.id), days=1)
        db.session.commit()
    body = get_json(app.test_client(), raw, "/api/v1/directory/hsds")
    (record,) = [o for o in body["organizations"] if o["id"] == org.id]
    assert record["description"] == "Psychosocial counselling for women"
    assert record["email"] == "office@alnour.example.org" and record["website"] == "https://alnour.example.org"
    hsds_validators()["organization"].validate(record)
