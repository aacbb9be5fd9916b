"""The auditors' workspace on the web: only auditors open it (the case's own supervisors open its
access history from the case page); auditors never see case content; the CSV export downloads
and is recorded; the verification page shows the last verification and runs one on demand."""

from __future__ import annotations

import csv
import io

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from referral.accounts.models import User
from referral.audit import chain, checkpoints, search
from referral.audit.models import AuditEvent
from referral.audit.views import CSV_LABEL_COLUMNS
from referral.cases import services as cases
from referral.cases.models import Case
from referral.extensions import db
from referral.followups.audit_alerts import verify_nightly
from tests.conftest import Account, csrf, sign_in
from tests.helpers.cases import MARKER_ID, MARKER_NAME, MARKER_PHONE, World, open_case, user


def _signed_in(client: FlaskClient, app: Flask, account: Account) -> FlaskClient:
    with app.app_context():
        db.session.get(User, account.id).locale = "en"
        db.session.commit()
    sign_in(client, app, account)
    return client


def _code(app: Flask, case_id: str) -> str:
    with app.app_context():
        return str(db.session.get(Case, case_id).case_code)


def _events(app: Flask, action: str) -> list[AuditEvent]:
    with app.app_context():
        rows = list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))
        db.session.expunge_all()
        return rows


def _seen_case(app: Flask, world: World) -> str:
    """A case opened, viewed and revealed by its team (so the trail has reads of it)."""
    case_id = open_case(app, world)
    with app.app_context():
        cases.view_case(db.session, user(world.mine.caseworker), case_id)
        cases.reveal(db.session, user(world.mine.supervisor), case_id)
        db.session.commit()
    return case_id


def test_an_auditor_finds_who_opened_a_case_and_never_sees_its_content(
    client: FlaskClient, app: Flask, world: World
) -> None:
    case_id = _seen_case(app, world)
    code = _code(app, case_id)
    _signed_in(client, app, world.auditor)
    home = client.get("/").get_data(as_text=True)
    assert 'href="/audit"' in home and 'href="/audit/flags"' in home and 'href="/audit/verify"' in home

    found = client.get(f"/audit?case_code={code}")
    page = found.get_data(as_text=True)
    assert found.status_code == 200
    assert "case.reveal" in page and "case.view" in page and "case.create" in page
    assert world.mine.supervisor.username in page
    history = client.get(f"/audit/cases/{code}").get_data(as_text=True)
    assert 'data-testid="case-history"' in history and "case.reveal" in history
    timeline = client.get(f"/audit/users/{world.mine.supervisor.id}").get_data(as_text=True)
    assert "case.reveal" in timeline and code in timeline
    for body in (page, history, timeline, client.get("/audit/flags").get_data(as_text=True)):
        for secret in (MARKER_NAME, MARKER_ID, MARKER_PHONE, "Marker narrative"):
            assert secret not in body
    # The case itself stays closed to her, on the web and through the API.
    assert client.get(f"/cases/{case_id}").status_code == 404
    assert client.get(f"/cases/{case_id}/referrals").status_code == 404


@pytest.mark.parametrize("role", ["caseworker", "supervisor", "org_admin", "coordinator", "sysadmin"])
def test_other_roles_cannot_open_the_workspace(client: FlaskClient, app: Flask, world: World, role: str) -> None:
    account = {"caseworker": world.mine.caseworker, "supervisor": world.mine.supervisor}.get(role)
    account = account or {"org_admin": world.mine.org_admin}.get(role) or getattr(world, role)
    _signed_in(client, app, account)
    paths = ("/audit", "/audit?case_code=AAA-2026-1", "/audit/flags", "/audit/verify", f"/audit/users/{account.id}")
    for path in paths:
        assert client.get(path).status_code == 404, path
    token = csrf(client, "/account/")
    assert client.post("/audit/export", data={"csrf_token": token}).status_code == 404
    assert client.post("/audit/verify", data={"csrf_token": token}).status_code == 404
    assert not _events(app, "audit.search") and not _events(app, "audit.export")
    denied = [e for e in _events(app, "access.denied") if e.object_type == "audit_trail"]
    assert len(denied) == 7 and {e.actor_id for e in denied} == {account.id}


def test_a_supervisor_sees_the_access_history_of_her_own_organisations_cases(
    client: FlaskClient, app: Flask, world: World
) -> None:
    ours = _seen_case(app, world)
    theirs = open_case(app, world, by=world.other.caseworker)
    _signed_in(client, app, world.mine.supervisor)
    case_page = client.get(f"/cases/{ours}").get_data(as_text=True)
    assert f'href="/audit/cases/{_code(app, ours)}"' in case_page
    history = client.get(f"/audit/cases/{_code(app, ours)}")
    body = history.get_data(as_text=True)
    assert history.status_code == 200
    assert world.mine.caseworker.username in body and "case.view" in body
    assert f'href="/cases/{ours}"' in body  # back to her case
    assert "/audit/users/" not in body  # the per-user timeline is for auditors
    assert MARKER_NAME not in body
    assert client.get(f"/audit/cases/{_code(app, theirs)}").status_code == 404
    assert client.get("/audit/cases/NOPE-2026-000001").status_code == 404
    (seen,) = _events(app, "audit.case_history")
    assert (seen.actor_id, seen.case_code) == (world.mine.supervisor.id, _code(app, ours))
    assert seen.organization_id == world.mine.id


def test_a_caseworker_has_no_access_history_link_or_page(client: FlaskClient, app: Flask, world: World) -> None:
    case_id = open_case(app, world)
    _signed_in(client, app, world.mine.caseworker)
    assert "/audit/cases/" not in client.get(f"/cases/{case_id}").get_data(as_text=True)
    assert client.get(f"/audit/cases/{_code(app, case_id)}").status_code == 404


def test_a_bad_filter_is_named_on_the_form(client: FlaskClient, app: Flask, world: World) -> None:
    _signed_in(client, app, world.auditor)
    response = client.get("/audit?user=nobody-here&case_code=%3Cscript%3E")
    body = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "No user has this username." in body
    assert 'id="f-case_code-error"' in body
    assert not _events(app, "audit.search")


def test_the_export_downloads_every_matching_event_and_is_recorded(
    client: FlaskClient, app: Flask, world: World
) -> None:
    case_id = _seen_case(app, world)
    code = _code(app, case_id)
    _signed_in(client, app, world.auditor)
    token = csrf(client, f"/audit?case_code={code}")
    response = client.post("/audit/export", data={"csrf_token": token, "case_code": code})
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="audit-events-')
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [r["action"] for r in rows] == ["case.create", "case.view", "case.reveal"]  # oldest first
    assert list(rows[0]) == [*search.COLUMNS, *CSV_LABEL_COLUMNS]  # the codes, then the labels
    (export,) = _events(app, "audit.export")
    assert export.actor_id == world.auditor.id
    assert export.details == {"filter_case_code": code, "rows": 3}
    for secret in (MARKER_NAME, MARKER_ID, MARKER_PHONE):
        assert secret not in response.get_data(as_text=True)


def test_the_verification_page_shows_the_last_run_and_the_chain_and_verifies_on_demand(
    client: FlaskClient, app: Flask, world: World
) -> None:
    """Opening the page rehashes nothing: it shows the last verification (the nightly one, or
    one an auditor asked for) from its own event; "Verify now" runs the verifier and records it."""
    _seen_case(app, world)
    _signed_in(client, app, world.auditor)
    body = client.get("/audit/verify").get_data(as_text=True)
    assert "Not verified yet" in body and "No checkpoint signed yet." in body
    assert not _events(app, "audit.verify")  # looking is not verifying
    with app.app_context():
        chain.seal(db.session, db.session.commit, signer=checkpoints.signer(), checkpoint_every=None)
        verify_nightly(db.session)
        db.session.commit()
        sealed = chain.verify(db.session).checked
        checkpoint = checkpoints.info(checkpoints.last(db.session))
    body = client.get("/audit/verify").get_data(as_text=True)
    assert f"The chain holds: {sealed} events checked." in body and "by the nightly check" in body
    assert f"position {checkpoint.position}" in body and checkpoint.head_hash in body
    response = client.post("/audit/verify", data={"csrf_token": csrf(client, "/account/")})
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "just now, at your request" in body
    asked = _events(app, "audit.verify")[-1]
    assert (asked.actor_id, asked.outcome) == (world.auditor.id, "success")
    with app.app_context():  # a run that found the chain broken (as the nightly check records it)
        broken = chain.VerifyResult(ok=False, checked=7, first_bad_position=7, problem="hash")
        chain.record_verification(db.session, None, broken)
        db.session.commit()
    body = client.get("/audit/verify").get_data(as_text=True)
    assert "The chain is broken at position 7. (an event was changed)" in body
