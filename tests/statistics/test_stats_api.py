"""GET /api/v1/stats/summary and /stats/releases: who gets what, suppression stated, the schema."""

from __future__ import annotations

from datetime import date

from flask import Flask
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from referral.accounts import services as accounts
from referral.accounts.models import User
from referral.api.openapi import document
from referral.extensions import db
from referral.statistics import releases
from referral.statistics.queries import Window
from tests.helpers.statistics import StatsWorld, at


def _token(app: Flask, user_id: str) -> dict[str, str]:
    with app.app_context():
        _, raw = accounts.issue_token(db.session, db.session.get(User, user_id), days=5)
        db.session.commit()
    return {"Authorization": f"Bearer {raw}"}


def _validator(name: str) -> Draft202012Validator:
    registry = Registry().with_resource("urn:s", Resource(contents=document(), specification=DRAFT202012))
    return Draft202012Validator({"$ref": f"urn:s#/components/schemas/{name}"}, registry=registry)


def test_a_coordinator_gets_her_network_with_suppression_stated(app: Flask, stats_world: StatsWorld) -> None:
    w = stats_world
    for i in range(8):
        w.case(w.members[0], at(3, 1 + i), gbv_type="physical_assault")
    for i in range(2):
        w.case(w.members[0], at(4, 1 + i), gbv_type="rape", age_group="0-11")
    client = app.test_client()
    answer = client.get("/api/v1/stats/summary?from=2026-01&to=2026-12", headers=_token(app, w.coordinator.id))
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    _validator("StatsSummary").validate(body)
    assert body["threshold"] == 5 and body["scope"] == {"kind": "network", "network": w.governorate}
    counts = [c["count"] for t in body["tables"] for c in t["cells"]]
    assert "<5" in counts
    assert all(c == "<5" or c == 0 or c >= 5 for c in counts)
    by_type = next(t for t in body["tables"] if t["id"] == "cases_new_by_gbv_type" and t["period"] == "current")
    rape = next(c for c in by_type["cells"] if c["key"] == {"gbv_type": "rape"})
    assert rape["count"] == "<5"
    only_month = client.get("/api/v1/stats/summary?by=month", headers=_token(app, w.coordinator.id)).get_json()
    assert only_month["tables"] and all("month" in t["dims"] for t in only_month["tables"])


def test_who_may_ask_for_which_numbers(app: Flask, stats_world: StatsWorld) -> None:
    w = stats_world
    client = app.test_client()
    own = client.get("/api/v1/stats/summary", headers=_token(app, w.members[0].admin.id))
    assert own.status_code == 200 and own.get_json()["scope"]["kind"] == "organization"
    for account in (w.members[0].caseworker, w.auditor):
        assert client.get("/api/v1/stats/summary", headers=_token(app, account.id)).status_code == 403
    # another network, or the national view, is not hers: 404
    headers = _token(app, w.coordinator.id)
    assert client.get(f"/api/v1/stats/summary?network={w.other_governorate}", headers=headers).status_code == 404
    assert client.get("/api/v1/stats/summary?network=national", headers=headers).status_code == 404
    national = client.get("/api/v1/stats/summary?network=national", headers=_token(app, w.national.id))
    assert national.status_code == 200 and national.get_json()["scope"]["kind"] == "national"
    bad = client.get("/api/v1/stats/summary?from=2026-13&to=nope", headers=headers)
    assert bad.status_code == 400 and set(bad.get_json()["error"]["fields"]) >= {"from"}
    reversed_period = client.get("/api/v1/stats/summary?from=2026-05&to=2026-01", headers=headers)
    assert reversed_period.status_code in (400, 422) and "to" in reversed_period.get_json()["error"]["fields"]


def test_published_releases_for_members(app: Flask, stats_world: StatsWorld) -> None:
    w = stats_world
    for i in range(6):
        w.case(w.members[0], at(3, 1 + i))
    with app.app_context():
        coordinator = db.session.get(User, w.coordinator.id)
        release = releases.prepare(db.session, coordinator, None, Window(date(2026, 1, 1), date(2026, 6, 1)))
        releases.submit(db.session, coordinator, release.id)
        for member in w.members:
            releases.decide(db.session, db.session.get(User, member.admin.id), release.id, "approved")
        releases.publish(db.session, coordinator, release.id)
        draft = releases.prepare(db.session, coordinator, None, Window(date(2026, 7, 1), date(2026, 9, 1)))
        db.session.commit()
        release_id, draft_id = release.id, draft.id
    client = app.test_client()
    headers = _token(app, w.members[1].caseworker.id)
    listed = client.get("/api/v1/stats/releases", headers=headers).get_json()
    assert [r["id"] for r in listed["items"]] == [release_id]
    one = client.get(f"/api/v1/stats/releases/{release_id}", headers=headers)
    assert one.status_code == 200
    _validator("StatsRelease").validate(one.get_json())
    assert one.get_json()["numbers"]["tables"]
    assert client.get(f"/api/v1/stats/releases/{draft_id}", headers=headers).status_code == 404
    outsider = _token(app, w.other_coordinator.id)
    assert client.get(f"/api/v1/stats/releases/{release_id}", headers=outsider).status_code == 404
