"""API v1 service directory: the list with its filters and paging, and the HSDS 3.0 export
validated against the official Open Referral schemas (read from ../shared/hsds, never copied)."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from referral.accounts.models import User
from referral.api.openapi import document
from referral.demo import seed
from referral.directory.models import Service
from referral.extensions import db
from referral.runtime import runtime
from tests.conftest import Factory, sign_in
from tests.helpers.api import bearer, get_json, hsds_validators, raw_token, schema_validator
from tests.helpers.directory import SECRET_ADDRESS, leak_address, make_service


def test_services_list_filters_and_pages(client: FlaskClient, app: Flask, factory: Factory) -> None:
    nablus, hebron = factory.network("nablus"), factory.network("hebron")
    org_n, org_h = factory.organization(nablus), factory.organization(hebron)
    legal = make_service(app, org_n, name_en="Legal counselling", sector="legal_aid", capacity_status="available")
    trauma = make_service(app, org_h, name_en="Trauma therapy", sector="psychosocial", languages=["ar", "he"])
    shelter = make_service(app, org_h, name_en="Safe house", sector="shelter", capacity_status="full")
    gone = make_service(app, org_h, name_en="Closed service")
    with app.app_context():
        db.session.get(Service, gone).active = False
        db.session.commit()
    token = raw_token(app, factory.user("caseworker", org_n).id)

    body = get_json(client, token, "/api/v1/directory/services")
    schema_validator("ServicePage").validate(body)
    assert {s["id"] for s in body["items"]} == {legal, trauma, shelter} and body["next_cursor"] is None
    item = next(s for s in body["items"] if s["id"] == trauma)
    assert item["organization_id"] == org_h.id and item["governorates"] == ["hebron"]
    assert item["languages"] == ["ar", "he"] and item["sector"] == "psychosocial"

    def ids(query: str) -> set[str]:
        return {s["id"] for s in get_json(client, token, f"/api/v1/directory/services?{query}")["items"]}

    assert ids("sector=shelter") == {shelter}
    assert ids("governorate=hebron") == {trauma, shelter}
    assert ids("capacity_status=full") == {shelter}
    assert ids("language=he") == {trauma}
    assert ids("q=trauma") == {trauma}
    assert ids(f"organization_id={org_n.id}") == {legal}

    seen: list[str] = []
    query = "limit=1"
    while True:
        page = get_json(client, token, f"/api/v1/directory/services?{query}")
        assert len(page["items"]) <= 1
        seen += [s["id"] for s in page["items"]]
        if page["next_cursor"] is None:
            break
        query = f"limit=1&cursor={page['next_cursor']}"
    assert sorted(seen) == sorted({legal, trauma, shelter}) and len(seen) == 3

    for bad in (
        "sector=spa",
        "capacity_status=maybe",
        "limit=0",
        "organization_id=x",
        "colour=red",
        "governorate=gaza",
    ):
        response = client.get(f"/api/v1/directory/services?{bad}", headers=bearer(token))
        assert response.status_code == 400, bad
        schema_validator("Error").validate(response.get_json())
    made_up = client.get("/api/v1/directory/services?cursor=bm9wZQ", headers=bearer(token))  # "nope"
    assert made_up.status_code == 422 and made_up.get_json()["error"]["fields"] == {"cursor": "invalid cursor"}
    assert client.get("/api/v1/directory/services").status_code == 401
    assert client.get("/api/v1/directory/hsds").status_code == 401


def test_hsds_export_validates_against_the_official_schemas(client: FlaskClient, app: Flask) -> None:
    with app.app_context():
        seed(db.session, runtime())
        db.session.commit()
        admin_id = db.session.scalar(select(User.id).where(User.username == "nbl.admin"))
    token = raw_token(app, admin_id)
    body = get_json(client, token, "/api/v1/directory/hsds")
    schema_validator("HsdsDocument").validate(body)
    validators = hsds_validators()
    assert len(body["organizations"]) > 40 and len(body["services"]) > 50
    for org in body["organizations"]:
        validators["organization"].validate(org)
    for service in body["services"]:
        validators["service"].validate(service)
    org_ids = {o["id"] for o in body["organizations"]}
    assert all(s["organization_id"] in org_ids for s in body["services"])
    assert {s["status"] for s in body["services"]} == {"active"}
    capacities = {
        a["value"] for s in body["services"] for a in s["attributes"] if a["link_type"] == "shabaka-capacity-status"
    }
    assert capacities == {"available", "limited", "full", "waitlist"}
    shelters = [s for s in body["services"] if any(a["value"] == "shelter" for a in s["attributes"])]
    assert shelters and all("service_at_locations" not in s for s in shelters)
    assert all("Hotline" in s["application_process"] for s in shelters)
    # The same directory gives the same document (derived ids are stable).
    again = get_json(client, token, "/api/v1/directory/hsds")
    assert again["services"] == body["services"]


def test_confidential_location_never_leaves_the_app(client: FlaskClient, app: Flask, factory: Factory) -> None:
    net = factory.network("nablus")
    org = factory.organization(net, sectors=["shelter"])
    shelter = make_service(
        app,
        org,
        name_en="Safe house",
        sector="shelter",
        confidential_location=True,
        front_door="Hotline 1800-500-101",
        address=SECRET_ADDRESS,
        focal_points=[{"name": "Mona", "role": "Intake", "phone": "+970-9-1111111", "email": ""}],
    )
    public = make_service(app, org, name_en="Outreach office", address="1 Open Street", opening_hours="Sun-Thu")
    leak_address(app, shelter)
    inactive = make_service(app, org, name_en="Old office", address="2 Old Street")
    with app.app_context():
        db.session.get(Service, inactive).active = False
        db.session.commit()
    account = factory.user("caseworker", org)
    token = raw_token(app, account.id)

    listing = client.get("/api/v1/directory/services", headers=bearer(token))
    hsds = client.get("/api/v1/directory/hsds", headers=bearer(token))
    sign_in(client, app, account)
    pages = [client.get(p) for p in ("/services", f"/services/{shelter}", "/services?q=safe")]
    for response in (listing, hsds, *pages):
        assert response.status_code == 200
        assert SECRET_ADDRESS not in response.get_data(as_text=True)

    item = next(s for s in listing.get_json()["items"] if s["id"] == shelter)
    assert item["address"] is None and item["front_door"] == "Hotline 1800-500-101"
    assert item["confidential_location"] is True
    exported = {s["id"]: s for s in hsds.get_json()["services"]}
    assert "service_at_locations" not in exported[shelter]
    assert exported[shelter]["contacts"][0]["name"] == "Mona"
    assert exported[shelter]["phones"][0]["number"] == "+970-9-1111111"
    assert exported[public]["service_at_locations"][0]["location"]["description"] == "1 Open Street"
    assert exported[public]["schedules"][0]["description"] == "Sun-Thu"
    assert exported[inactive]["status"] == "inactive"
    validators = hsds_validators()
    for service in exported.values():
        validators["service"].validate(service)
    for org_record in hsds.get_json()["organizations"]:
        validators["organization"].validate(org_record)


def test_openapi_describes_the_directory_routes() -> None:
    doc = document()
    services = doc["paths"]["/directory/services"]["get"]
    assert services["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ServicePage"
    }
    names = {p["name"] for p in services["parameters"]}
    assert {"sector", "governorate", "capacity_status", "language", "limit", "cursor"} <= names
    hsds = doc["paths"]["/directory/hsds"]["get"]
    assert hsds["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/HsdsDocument"
    }
    required = set(doc["components"]["schemas"]["Service"]["required"])
    assert required >= {
        "id",
        "organization_id",
        "name",
        "sector",
        "governorates",
        "eligibility",
        "languages",
        "capacity_status",
    }
