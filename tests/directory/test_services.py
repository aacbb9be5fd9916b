"""Directory services: org admins maintain their own organisation's, sysadmins any, everyone reads;
search and filters; a confidential location is never shown."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from referral.audit.models import AuditEvent
from referral.directory.models import Service
from referral.extensions import db
from tests.conftest import Factory, csrf, sign_in
from tests.helpers.directory import SECRET_ADDRESS, leak_address, make_service


def _form(org_id: str | None = None, **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name_ar": "الاستشارة القانونية",
        "name_en": "Legal counselling",
        "description_ar": "استشارات مجانية",
        "description_en": "Free advice",
        "sector": "legal_aid",
        "governorates": ["nablus"],
        "languages": ["ar", "he"],
        "eligibility": "Women of any age",
        "opening_hours": "Sun-Thu 8-15",
        "capacity_status": "limited",
        "accepting_referrals": "y",
        "front_door": "",
        "address": "Rafidia street 12",
        "focal_points-0-name": "Huda",
        "focal_points-0-role": "Focal point",
        "focal_points-0-phone": "+970-9-2345678",
        "focal_points-0-email": "huda@example.org",
        "active": "y",
    }
    if org_id is not None:
        data["organization_id"] = org_id
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def test_org_admin_adds_and_edits_her_organisations_service(client: FlaskClient, app: Flask, factory: Factory) -> None:
    net = factory.network("nablus")
    org = factory.organization(net)
    admin = factory.user("org_admin", org)
    sign_in(client, app, admin)
    token = csrf(client, "/services/new")
    made = client.post("/services/new", data={"csrf_token": token, **_form(org.id)})
    assert made.status_code == 302, made.get_data(as_text=True)[:2000]
    with app.app_context():
        service = db.session.scalar(select(Service))
        assert service.organization_id == org.id and service.languages == ["ar", "he"]
        assert service.focal_points == [
            {"name": "Huda", "role": "Focal point", "phone": "+970-9-2345678", "email": "huda@example.org"}
        ]
        service_id = service.id
    page = client.get(f"/services/{service_id}").get_data(as_text=True)
    assert "Rafidia street 12" in page and "huda@example.org" in page

    token = csrf(client, f"/services/{service_id}/edit")
    saved = client.post(
        f"/services/{service_id}/edit",
        data={"csrf_token": token, **_form(capacity_status="full", active=None)},
    )
    assert saved.status_code == 302
    with app.app_context():
        service = db.session.get(Service, service_id)
        assert service.capacity_status == "full" and not service.active
        events = list(
            db.session.scalars(select(AuditEvent).where(AuditEvent.object_type == "service").order_by(AuditEvent.id))
        )
        assert [e.action for e in events] == ["service.create", "service.update"]
        assert all(e.object_id == service_id and e.organization_id == org.id for e in events)
        assert events[1].details["active"] is False and events[1].actor_id == admin.id
    # Deactivated: out of the directory for others, still listed for her (marked inactive).
    listing = client.get("/services").get_data(as_text=True)
    assert "الاستشارة القانونية" in listing and "text-bg-secondary" in listing


def test_org_admin_cannot_touch_another_organisations_service(
    client: FlaskClient, app: Flask, factory: Factory
) -> None:
    net = factory.network("nablus")
    mine, theirs = factory.organization(net), factory.organization(net)
    other_service = make_service(app, theirs, name_en="Their service")
    sign_in(client, app, factory.user("org_admin", mine))
    assert client.get(f"/services/{other_service}/edit").status_code == 404
    token = csrf(client, "/services/new")
    edited = client.post(f"/services/{other_service}/edit", data={"csrf_token": token, **_form()})
    assert edited.status_code == 404
    # Her form offers only her own organisation; another's id is refused and nothing is written.
    page = client.get("/services/new").get_data(as_text=True)
    assert mine.id in page and theirs.id not in page
    refused = client.post("/services/new", data={"csrf_token": token, **_form(theirs.id)})
    assert refused.status_code == 400
    with app.app_context():
        assert db.session.scalar(select(Service).where(Service.organization_id == theirs.id)).name_en == "Their service"
        assert db.session.scalar(select(Service).where(Service.organization_id == mine.id)) is None


def test_caseworker_reads_but_cannot_manage(client: FlaskClient, app: Flask, factory: Factory) -> None:
    net = factory.network("nablus")
    org = factory.organization(net)
    service_id = make_service(app, org, name_ar="Shelter intake")
    sign_in(client, app, factory.user("caseworker", org))
    listing = client.get("/services")
    assert listing.status_code == 200 and "Shelter intake" in listing.get_data(as_text=True)
    assert "/services/new" not in listing.get_data(as_text=True)
    assert client.get(f"/services/{service_id}").status_code == 200
    assert client.get("/services/new").status_code == 404
    assert client.get(f"/services/{service_id}/edit").status_code == 404
    token = csrf(client, "/services")
    assert client.post("/services/new", data={"csrf_token": token, **_form(org.id)}).status_code == 404


def test_sysadmin_manages_any_organisations_services(client: FlaskClient, app: Flask, factory: Factory) -> None:
    net = factory.network("nablus")
    org = factory.organization(net)
    sign_in(client, app, factory.user("sysadmin", factory.organization(net)))
    token = csrf(client, "/services/new")
    assert client.post("/services/new", data={"csrf_token": token, **_form(org.id)}).status_code == 302
    with app.app_context():
        assert db.session.scalar(select(Service)).organization_id == org.id


def test_refused_service_keeps_the_input_and_answers_400(client: FlaskClient, app: Flask, factory: Factory) -> None:
    net = factory.network("nablus")
    org = factory.organization(net)
    sign_in(client, app, factory.user("org_admin", org))
    token = csrf(client, "/services/new")
    response = client.post(
        "/services/new",
        data={
            "csrf_token": token,
            **_form(org.id, confidential_location="y", front_door="", **{"focal_points-0-email": "not-an-email"}),
        },
    )
    assert response.status_code == 400
    body = response.get_data(as_text=True)
    assert 'id="front_door-error"' in body and 'id="focal_points-error"' in body
    assert 'value="Legal counselling"' in body and "الاستشارة القانونية" in body
    assert 'value="not-an-email"' in body
    with app.app_context():
        assert db.session.scalar(select(Service)) is None


def test_directory_search_and_filters(client: FlaskClient, app: Flask, factory: Factory) -> None:
    nablus, hebron = factory.network("nablus"), factory.network("hebron")
    org_n, org_h = factory.organization(nablus), factory.organization(hebron)
    make_service(app, org_n, name_en="Legal counselling", name_ar="Legal counselling", sector="legal_aid")
    make_service(
        app,
        org_h,
        name_en="Trauma therapy",
        name_ar="Trauma therapy",
        description_ar="علاج الصدمة",
        sector="psychosocial",
        languages=["ar", "he"],
    )
    make_service(app, org_h, name_en="Safe house", name_ar="Safe house", sector="shelter", capacity_status="full")
    sign_in(client, app, factory.user("caseworker", org_n))

    def found(query: str) -> set[str]:
        body = client.get(f"/services?{query}").get_data(as_text=True)
        return {n for n in ("Legal counselling", "Trauma therapy", "Safe house") if n in body}

    assert found("") == {"Legal counselling", "Trauma therapy", "Safe house"}
    assert found("q=trauma") == {"Trauma therapy"}
    assert found("q=%D8%A7%D9%84%D8%B5%D8%AF%D9%85%D8%A9") == {"Trauma therapy"}  # الصدمة
    assert found("sector=shelter") == {"Safe house"}
    assert found("governorate=hebron") == {"Trauma therapy", "Safe house"}
    assert found("capacity_status=full") == {"Safe house"}
    assert found("language=he") == {"Trauma therapy"}
    assert found("governorate=hebron&capacity_status=available") == {"Trauma therapy"}
    assert found("sector=not-a-sector") == {"Legal counselling", "Trauma therapy", "Safe house"}


def test_confidential_location_never_shown_in_the_interface(client: FlaskClient, app: Flask, factory: Factory) -> None:
    net = factory.network("nablus")
    org = factory.organization(net)
    admin = factory.user("org_admin", org)
    sign_in(client, app, admin)
    token = csrf(client, "/services/new")
    made = client.post(
        "/services/new",
        data={
            "csrf_token": token,
            **_form(org.id, confidential_location="y", front_door="Hotline 1800-500-101", address=SECRET_ADDRESS),
        },
    )
    assert made.status_code == 302
    with app.app_context():
        service = db.session.scalar(select(Service))
        assert service.address == ""  # not even stored
        service_id = service.id
    leak_address(app, service_id)
    for path in ("/services", f"/services/{service_id}", f"/services/{service_id}/edit", "/services?q=hidden"):
        body = client.get(path).get_data(as_text=True)
        assert SECRET_ADDRESS not in body, path
    assert "Hotline 1800-500-101" in client.get(f"/services/{service_id}").get_data(as_text=True)


def test_a_deactivated_service_leaves_the_directory(client: FlaskClient, app: Flask, factory: Factory) -> None:
    net = factory.network("nablus")
    org = factory.organization(net)
    service_id = make_service(app, org, name_ar="Old outreach")
    with app.app_context():
        db.session.get(Service, service_id).active = False
        db.session.commit()
    sign_in(client, app, factory.user("caseworker", org))
    assert "Old outreach" not in client.get("/services").get_data(as_text=True)
    assert client.get(f"/services/{service_id}").status_code == 404
    assert client.get("/services/not-a-uuid").status_code == 404
