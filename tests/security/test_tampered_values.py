"""A stored value moved to another row fails its integrity check without taking the record with it:
the page marks the broken field and shows the rest, the API answers `integrity_error`, an audit
event (ids only) is flagged to auditors, and the system administrators are told in the app."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from referral.accounts import services as accounts
from referral.audit.models import AuditEvent
from referral.cases import services as cases
from referral.cases.models import Case
from referral.extensions import db
from referral.followups import notifications
from referral.followups.models import Notification
from referral.security.fields import Unreadable, move_owner
from tests.conftest import Account, csrf, sign_in
from tests.helpers.audit import request_events
from tests.helpers.cases import MARKER_ID, MARKER_NAME, MARKER_PHONE, World, intake, user

OTHER_NAME = "Amal-Donor-Zq3 Khalil"
PLANTED = (MARKER_NAME, MARKER_ID, MARKER_PHONE, OTHER_NAME, "Amal", "Zubaida")


def _case(app: Flask, world: World, **extra: Any) -> tuple[str, str]:
    with app.app_context():
        case, _ = cases.create_case(db.session, user(world.mine.caseworker), cases.CaseInput(intake(world, **extra)))
        db.session.commit()
        return str(case.id), str(case.case_code)


def _move_name(app: Flask, source: str, target: str) -> None:
    """With SQL, as someone with the database would: the source row's sealed name into the target row."""
    table = Case.__table__
    with app.app_context():
        moved = select(table.c.full_name).where(table.c.id == source).scalar_subquery()
        db.session.execute(update(table).where(table.c.id == target).values(full_name=moved))
        db.session.commit()


def _web(app: Flask, account: Account) -> tuple[FlaskClient, str]:
    web = app.test_client()
    sign_in(web, app, account)
    return web, csrf(web, "/account/")


def _token(app: Flask, account: Account) -> dict[str, str]:
    with app.app_context():
        _, raw = accounts.issue_token(db.session, user(account), days=1)
        db.session.commit()
    return {"Authorization": f"Bearer {raw}"}


@pytest.fixture
def tampered(app: Flask, world: World) -> dict[str, str]:
    donor, donor_code = _case(app, world, full_name=OTHER_NAME)
    broken, broken_code = _case(app, world)
    _move_name(app, donor, broken)
    return {"donor": donor, "donor_code": donor_code, "broken": broken, "broken_code": broken_code}


def _integrity_events(app: Flask) -> list[AuditEvent]:
    with app.app_context():
        rows = list(
            db.session.scalars(
                select(AuditEvent).where(AuditEvent.action == "security.integrity_failure").order_by(AuditEvent.id)
            )
        )
        db.session.expunge_all()
        return rows


def test_the_page_marks_the_broken_field_and_shows_the_rest(app: Flask, world: World, tampered: dict[str, str]) -> None:
    web, token = _web(app, world.mine.supervisor)
    page = web.get(f"/cases/{tampered['broken']}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'data-testid="integrity-banner"' in html and 'data-testid="integrity-failure"' in html
    assert tampered["broken_code"] in html

    revealed = web.post(f"/cases/{tampered['broken']}/reveal", data={"csrf_token": token})
    assert revealed.status_code == 200
    html = revealed.get_data(as_text=True)
    assert MARKER_ID in html and "Old City" in html  # the fields that still authenticate
    assert 'data-testid="integrity-failure"' in html
    assert "Amal" not in html and MARKER_NAME not in html  # neither the moved value nor the lost one

    donor = web.post(f"/cases/{tampered['donor']}/reveal", data={"csrf_token": token})
    assert donor.status_code == 200
    assert OTHER_NAME in donor.get_data(as_text=True)
    assert "integrity-failure" not in donor.get_data(as_text=True)

    listing = web.get("/cases")
    assert listing.status_code == 200 and 'data-testid="integrity-failure"' in listing.get_data(as_text=True)


def test_the_api_answers_integrity_error_and_the_event_is_kept(
    app: Flask, world: World, tampered: dict[str, str]
) -> None:
    headers = _token(app, world.mine.caseworker)
    client = app.test_client()
    answer = client.get(f"/api/v1/cases/{tampered['broken']}", headers=headers)
    assert answer.status_code == 409
    error = answer.get_json()["error"]
    assert error["code"] == "integrity_error" and error["fields"] == {"full_name": "integrity_error"}
    assert not any(value in answer.get_data(as_text=True) for value in PLANTED)

    written = request_events(app, answer.headers["X-Request-ID"])  # kept though the answer is an error
    failures = [e for e in written if e.action == "security.integrity_failure"]
    assert len(failures) == 1
    failure = failures[0]
    assert (failure.object_type, failure.object_id, failure.case_code) == (
        "case_file",
        tampered["broken"],
        tampered["broken_code"],
    )
    assert failure.details == {"table": "case_file", "column": "full_name"} and failure.outcome == "failure"
    assert failure.actor_id == world.mine.caseworker.id and failure.organization_id == world.mine.id

    donor = client.get(f"/api/v1/cases/{tampered['donor']}", headers=headers)
    assert donor.status_code == 200 and donor.get_json()["full_name"] == OTHER_NAME

    listed = client.get("/api/v1/cases", headers=headers)
    assert listed.status_code == 409 and listed.get_json()["error"]["code"] == "integrity_error"


def test_auditors_see_it_flagged_and_the_system_administrators_are_told_once(
    app: Flask, world: World, tampered: dict[str, str]
) -> None:
    web, _ = _web(app, world.mine.caseworker)
    for _ in range(2):
        assert web.get(f"/cases/{tampered['broken']}").status_code == 200
    headers = _token(app, world.mine.caseworker)
    assert app.test_client().get(f"/api/v1/cases/{tampered['broken']}", headers=headers).status_code == 409

    events = _integrity_events(app)
    assert len(events) == 3 and {e.object_id for e in events} == {tampered["broken"]}
    for e in events:
        stored = " ".join(str(getattr(e, column.name)) for column in AuditEvent.__table__.columns)
        assert not any(value in stored for value in PLANTED)

    with app.test_request_context():
        told = list(db.session.scalars(select(Notification).where(Notification.kind == "security.integrity_failure")))
        assert [n.user_id for n in told] == [world.sysadmin.id]  # once, however often it was met
        assert not any(value in notifications.text(told[0]) for value in PLANTED)
        assert told[0].case_code is None

    auditor, _ = _web(app, world.auditor)
    flags = auditor.get("/audit/flags")
    assert flags.status_code == 200
    html = flags.get_data(as_text=True)
    assert 'data-testid="count-integrity">3<' in html


def test_a_value_that_failed_is_never_sealed_again(app: Flask, world: World, tampered: dict[str, str]) -> None:
    with app.app_context():
        case = db.session.get(Case, tampered["broken"])
        assert isinstance(case.full_name, Unreadable) and case.phone == MARKER_PHONE
        case.risk_level = "high"  # a change to the rest of the row keeps the stored value as it is
        db.session.commit()
        db.session.expunge_all()
        assert isinstance(db.session.get(Case, tampered["broken"]).full_name, Unreadable)
        with pytest.raises(Exception, match="integrity check"):
            move_owner(db.session.get(Case, tampered["broken"]), world.other.id)
        db.session.rollback()


def test_an_edit_keeps_the_broken_value_until_a_new_one_is_typed(
    app: Flask, world: World, tampered: dict[str, str]
) -> None:
    web, token = _web(app, world.mine.caseworker)
    page = web.get(f"/cases/{tampered['broken']}/edit")
    assert page.status_code == 200 and MARKER_ID in page.get_data(as_text=True)
    values = intake(world)
    form = {k: v for k, v in values.items() if isinstance(v, str)}
    form.update({"safe_to_call": "y", "safe_hours": "09:00-12:00", "instructions": "x", "disability": "no"})
    form.update(csrf_token=token, full_name="", risk_level="high")  # the name's field shows empty
    assert web.post(f"/cases/{tampered['broken']}/edit", data=form).status_code == 303
    with app.app_context():
        case = db.session.get(Case, tampered["broken"])
        assert isinstance(case.full_name, Unreadable) and case.risk_level == "high"

    form["full_name"] = "Restored Name"
    assert web.post(f"/cases/{tampered['broken']}/edit", data=form).status_code == 303
    with app.app_context():
        assert db.session.get(Case, tampered["broken"]).full_name == "Restored Name"
    assert "integrity-banner" not in web.get(f"/cases/{tampered['broken']}").get_data(as_text=True)
