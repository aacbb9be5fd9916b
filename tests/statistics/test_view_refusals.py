"""The statistics pages when something is refused: the problem is named, nothing is saved, and
nobody outside the network learns whether a release or a request exists."""

from __future__ import annotations

from typing import Any

from flask import Flask

from referral.accounts.models import User
from referral.extensions import db
from referral.statistics import releases, services
from referral.statistics.models import DataRequest, StatisticsRelease
from tests.conftest import csrf_from, sign_in
from tests.helpers.statistics import StatsWorld, at


def _client(app: Flask, account: Any) -> Any:
    client = app.test_client()
    sign_in(client, app, account)
    return client


def _token(client: Any, path: str) -> str:
    return csrf_from(client.get(path).get_data(as_text=True))


def _release(app: Flask, w: StatsWorld, submitted: bool = False) -> str:
    with app.app_context():
        coordinator = db.session.get(User, w.coordinator.id)
        found = releases.prepare(db.session, coordinator, None, services.parse_window("2026-01", "2026-06"))
        if submitted:
            releases.submit(db.session, coordinator, found.id)
        db.session.commit()
        return str(found.id)


def test_a_release_out_of_order_is_refused_with_its_reason(app: Flask, stats_world: StatsWorld) -> None:
    w = stats_world
    w.case(w.members[0], at(3))
    release_id = _release(app, w)
    coordinator = _client(app, w.coordinator)
    url = f"/statistics/releases/{release_id}"
    token = _token(coordinator, url)
    early = coordinator.post(url + "/publish", data={"csrf_token": token})
    assert early.status_code == 409 and "alert-danger" in early.get_data(as_text=True)
    assert coordinator.post(url + "/submit", data={"csrf_token": token}).status_code == 303
    again = coordinator.post(url + "/submit", data={"csrf_token": token})
    assert again.status_code == 409
    not_yet = coordinator.post(url + "/publish", data={"csrf_token": token})
    assert not_yet.status_code == 409  # no member has approved
    with app.app_context():
        assert db.session.get(StatisticsRelease, release_id).state == "in_review"
    admin = _client(app, w.members[0].admin)
    t = _token(admin, url)
    empty = admin.post(url + "/decision", data={"csrf_token": t})
    assert empty.status_code == 400
    assert admin.post(url + "/decision", data={"csrf_token": t, "decision": "approved"}).status_code == 303
    twice = admin.post(url + "/decision", data={"csrf_token": t, "decision": "approved"})
    assert twice.status_code in (404, 409)  # the form is gone once answered; the service refuses again
    assert admin.get(url + "/export.pdf").status_code == 404
    assert admin.get("/statistics/export.pdf").status_code == 404
    # a caseworker reads neither a release in review nor its export
    reader = _client(app, w.members[0].caseworker)
    assert reader.get(url).status_code == 404 and reader.get(url + "/export.csv").status_code == 404


def test_preparing_is_for_coordinators_and_names_bad_months(app: Flask, stats_world: StatsWorld) -> None:
    w = stats_world
    admin = _client(app, w.members[0].admin)
    token = _token(admin, "/statistics/releases")
    assert admin.post("/statistics/releases", data={"csrf_token": token, "period_from": "2026-01"}).status_code == 404
    national = _client(app, w.national)
    page = national.get("/statistics/releases")
    assert 'name="network"' in page.get_data(as_text=True)
    token = csrf_from(page.get_data(as_text=True))
    reversed_ = national.post(
        "/statistics/releases", data={"csrf_token": token, "period_from": "2026-06", "period_to": "2026-01"}
    )
    assert reversed_.status_code == 400 and 'value="2026-06"' in reversed_.get_data(as_text=True)
    unknown = national.post(
        "/statistics/releases",
        data={"csrf_token": token, "network": "atlantis", "period_from": "2026-01", "period_to": "2026-02"},
    )
    assert unknown.status_code == 404
    made = national.post(
        "/statistics/releases",
        data={"csrf_token": token, "network": "national", "period_from": "2026-01", "period_to": "2026-02"},
    )
    assert made.status_code == 303
    with app.app_context():
        assert db.session.scalar(db.select(StatisticsRelease.scope_key)) == "national"
    assert national.get("/statistics?network=national&compare=1").status_code == 200
    assert national.get(f"/statistics?network={w.governorate}&sector=legal_aid").status_code == 200
    assert national.get("/statistics?compare=yes").status_code == 400


def test_the_register_of_requests_on_the_web(app: Flask, stats_world: StatsWorld) -> None:
    w = stats_world
    coordinator = _client(app, w.coordinator)
    token = _token(coordinator, "/statistics/requests")
    missing = coordinator.post("/statistics/requests", data={"csrf_token": token, "requester": "A ministry"})
    assert missing.status_code == 400 and 'value="A ministry"' in missing.get_data(as_text=True)
    future = coordinator.post(
        "/statistics/requests",
        data={
            "csrf_token": token,
            "received_on": "2999-01-01",
            "requester": "A ministry",
            "description": "Totals by type",
            "purpose": "Annual report",
        },
    )
    assert future.status_code in (400, 422) and "A ministry" in future.get_data(as_text=True)
    made = coordinator.post(
        "/statistics/requests",
        data={
            "csrf_token": token,
            "received_on": "2026-11-02",
            "requester": "A ministry",
            "description": "Totals by type",
            "purpose": "Annual report",
        },
    )
    assert made.status_code == 303
    with app.app_context():
        request_id = str(db.session.scalar(db.select(DataRequest.id)))
    page = coordinator.get("/statistics/requests")
    assert "Totals by type" in page.get_data(as_text=True)
    prefix = f"r{request_id[:8]}"
    url = f"/statistics/requests/{request_id}/decision"
    bad = coordinator.post(url, data={"csrf_token": token, f"{prefix}-decision": "maybe"})
    assert bad.status_code == 400
    unknown_release = coordinator.post(
        url,
        data={"csrf_token": token, f"{prefix}-decision": "approved", f"{prefix}-release_id": _release(app, w)},
    )
    assert unknown_release.status_code in (400, 422)  # a draft is not a release that can be sent
    done = coordinator.post(url, data={"csrf_token": token, f"{prefix}-decision": "refused"})
    assert done.status_code == 303
    with app.app_context():
        assert db.session.get(DataRequest, request_id).decision == "refused"
    other = _client(app, w.other_coordinator)
    assert other.post(url, data={"csrf_token": _token(other, "/statistics/requests")}).status_code == 404
    assert _client(app, w.members[0].admin).get("/statistics/requests").status_code == 404
