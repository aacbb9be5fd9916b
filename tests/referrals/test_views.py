"""The consent and referral pages: record consent, refer, answer from the inbox, need to know."""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from referral.extensions import db
from referral.referrals.models import Referral
from tests.conftest import csrf, sign_in
from tests.helpers.cases import MARKER_NAME, World, open_case
from tests.helpers.referrals import refer_through_pages


def test_refer_and_answer_through_the_pages(client: FlaskClient, app: Flask, world: World) -> None:
    case_id = open_case(app, world)
    sign_in(client, app, world.mine.caseworker)
    referral_id = refer_through_pages(client, case_id, world)
    receiver = app.test_client()
    sign_in(receiver, app, world.other.supervisor)
    inbox = receiver.get("/referrals?box=inbox").get_data(as_text=True)
    assert referral_id in inbox and MARKER_NAME not in inbox
    page = receiver.get(f"/referrals/{referral_id}").get_data(as_text=True)
    assert MARKER_NAME in page  # identity is shared while the referral is open
    refused = receiver.post(f"/referrals/{referral_id}/decline", data={"csrf_token": csrf(receiver, "/referrals")})
    assert refused.status_code == 400
    accepted = receiver.post(f"/referrals/{referral_id}/accept", data={"csrf_token": csrf(receiver, "/referrals")})
    assert accepted.status_code == 303
    receiver.post(f"/referrals/{referral_id}/start", data={"csrf_token": csrf(receiver, "/referrals")})
    receiver.post(
        f"/referrals/{referral_id}/complete",
        data={"csrf_token": csrf(receiver, "/referrals"), "outcome": "hearing attended"},
    )
    after = receiver.get(f"/referrals/{referral_id}").get_data(as_text=True)
    assert MARKER_NAME not in after and "hearing attended" in after
    with app.app_context():
        assert db.session.scalar(select(Referral.state).where(Referral.id == referral_id)) == "completed"


def test_a_third_organisation_sees_nothing(client: FlaskClient, app: Flask, world: World, factory: object) -> None:
    case_id = open_case(app, world)
    sign_in(client, app, world.mine.caseworker)
    referral_id = refer_through_pages(client, case_id, world)
    outsider = app.test_client()
    sign_in(outsider, app, world.other.caseworker)  # receiving organisation, but not a focal point nor assigned
    assert outsider.get(f"/referrals/{referral_id}").status_code == 404
    assert referral_id not in outsider.get("/referrals?box=inbox").get_data(as_text=True)
    stranger = app.test_client()
    sign_in(stranger, app, world.auditor)
    assert stranger.get(f"/referrals/{referral_id}").status_code == 404
    assert stranger.get("/referrals?box=inbox").status_code == 404


def test_a_childs_case_prompts_for_and_records_a_mandatory_report(
    client: FlaskClient, app: Flask, world: World
) -> None:
    child = open_case(app, world, age_group="12-17")
    adult = open_case(app, world)
    sign_in(client, app, world.mine.caseworker)
    assert "/mandatory-reports/new" in client.get(f"/cases/{child}/consents/new").get_data(as_text=True)
    page = f"/cases/{child}/mandatory-reports/new"
    refused = client.post(
        page,
        data={
            "csrf_token": csrf(client, page),
            "authority": "Counsellor, MoSD Nablus",
            "reported_on": "2999-01-01",
            "told_first": "caregiver",
        },
    )
    assert refused.status_code == 400 and 'value="Counsellor, MoSD Nablus"' in refused.get_data(as_text=True)
    done = client.post(
        page,
        data={
            "csrf_token": csrf(client, page),
            "authority": "Counsellor, MoSD Nablus",
            "reported_on": "2026-11-01",
            "told_first": "caregiver",
        },
    )
    assert done.status_code == 303
    listing = client.get(f"/cases/{child}/referrals").get_data(as_text=True)
    assert "Counsellor, MoSD Nablus" in listing
    assert "/mandatory-reports/new" not in client.get(f"/cases/{adult}/referrals").get_data(as_text=True)
    adult_page = f"/cases/{adult}/mandatory-reports/new"
    not_child = client.post(
        adult_page,
        data={
            "csrf_token": csrf(client, adult_page),
            "authority": "x",
            "reported_on": "2026-11-01",
            "told_first": "both",
        },
    )
    assert not_child.status_code == 400
    with app.app_context():
        from referral.audit.models import AuditEvent

        assert db.session.scalar(
            select(AuditEvent.action).where(AuditEvent.action == "case.mandatory_report").order_by(AuditEvent.id)
        )


def test_documents_travel_with_a_referral_only_when_their_group_is_shared(
    client: FlaskClient, app: Flask, world: World
) -> None:
    import io

    from referral.cases import documents
    from tests.helpers.cases import user

    case_id = open_case(app, world)
    with app.app_context():
        shared = documents.upload(
            db.session,
            user(world.mine.caseworker),
            case_id,
            "ID card scan",
            "identity",
            io.BytesIO(b"%PDF-1.7\n" + b"1" * 500),
            "id.pdf",
        )
        private = documents.upload(
            db.session,
            user(world.mine.caseworker),
            case_id,
            "Medical report",
            "assessment",
            io.BytesIO(b"%PDF-1.7\n" + b"2" * 500),
            "med.pdf",
        )
        db.session.commit()
        shared_id, private_id = shared.id, private.id
    sign_in(client, app, world.mine.caseworker)
    referral_id = refer_through_pages(client, case_id, world)  # shares identity only
    receiver = app.test_client()
    sign_in(receiver, app, world.other.supervisor)
    page = receiver.get(f"/referrals/{referral_id}").get_data(as_text=True)
    assert "ID card scan" in page and "Medical report" not in page
    got = receiver.get(f"/referrals/{referral_id}/documents/{shared_id}")
    assert got.status_code == 200 and got.data == b"%PDF-1.7\n" + b"1" * 500
    assert got.headers["Content-Disposition"].startswith("attachment") and got.headers["Cache-Control"] == "no-store"
    assert receiver.get(f"/referrals/{referral_id}/documents/{private_id}").status_code == 404
    assert receiver.get(f"/documents/{shared_id}/download").status_code == 404  # not through the case itself
    receiver.post(
        f"/referrals/{referral_id}/decline",
        data={"csrf_token": csrf(receiver, "/referrals"), "reason_code": "no_capacity"},
    )
    assert receiver.get(f"/referrals/{referral_id}/documents/{shared_id}").status_code == 404  # access ended


def _service(app: Flask, org_id: str, sector: str, name: str, accepting: bool = True) -> str:
    from referral.directory import services as directory

    with app.app_context():
        org = directory.organization(db.session, org_id)
        made = directory.create_service(
            db.session,
            None,
            org,
            directory.ServiceInput(name, name, sector, list(org.governorates), ["ar"], accepting_referrals=accepting),
        )
        db.session.commit()
        return made.id


def test_a_service_picked_from_the_directory_fills_the_form_with_the_sectors_minimum(
    client: FlaskClient, app: Flask, world: World
) -> None:
    from tests.helpers.referrals import consent

    case_id = open_case(app, world)
    # consent by sector (legal aid) for identity, contact and incident
    consent(app, world, case_id, organization_ids=[], sectors=["legal_aid"])
    legal = _service(app, world.other.id, "legal_aid", "Court representation")
    shelter = _service(app, world.other.id, "shelter", "Emergency shelter")  # sector not covered
    sign_in(client, app, world.mine.caseworker)
    page = client.get(f"/cases/{case_id}/referrals").get_data(as_text=True)
    assert legal in page and shelter not in page  # only what the consent reaches
    picked = client.get(f"/cases/{case_id}/referrals?service={legal}").get_data(as_text=True)
    assert 'data-testid="chosen-service"' in picked
    checked = set(re.findall(r'name="field_groups"[^>]*value="([a-z]+)"[^>]*checked', picked)) | set(
        re.findall(r'checked[^>]*name="field_groups"[^>]*value="([a-z]+)"', picked)
    )
    assert checked == {"identity", "contact", "incident"}  # legal aid's minimum, all covered
    sent = client.post(
        f"/cases/{case_id}/referrals",
        data={
            "csrf_token": csrf(client, f"/cases/{case_id}/referrals"),
            "receiver_kind": "member",
            "to_organization_id": world.other.id,
            "service_id": legal,
            "priority": "normal",
            "field_groups": ["identity", "contact"],
            "consent_id": re.search(r'name="consent_id"[^>]*>.*?<option[^>]*value="([0-9a-f-]{36})"', picked, re.S)[1],
            "reason": "representation",
        },
    )
    assert sent.status_code == 303
    with app.app_context():
        assert db.session.scalar(select(Referral.service_id)) == legal


def test_a_service_of_another_organisation_is_refused(client: FlaskClient, app: Flask, world: World) -> None:
    from referral.errors import InvalidInput
    from referral.referrals import services as referrals
    from tests.helpers.cases import user
    from tests.helpers.referrals import consent

    case_id = open_case(app, world)
    consent_id = consent(app, world, case_id)
    elsewhere = _service(app, world.mine.id, "legal_aid", "Our own service")
    closed = _service(app, world.other.id, "legal_aid", "Full service", accepting=False)
    for service_id, problem in ((elsewhere, "unknown"), (closed, "not_accepting_referrals"), ("nope", "unknown")):
        with app.app_context():
            data = referrals.ReferralInput(
                case_id=case_id,
                to_organization_id=world.other.id,
                priority="normal",
                reason="x",
                field_groups=["identity"],
                consent_id=consent_id,
                service_id=service_id,
            )
            try:
                referrals.create(db.session, user(world.mine.caseworker), data)
            except InvalidInput as error:
                assert error.fields["service_id"] == problem
            else:
                raise AssertionError("a wrong service was accepted")
            db.session.rollback()


def test_the_inbox_shows_time_left_and_overdue(client: FlaskClient, app: Flask, world: World) -> None:
    from datetime import timedelta

    from flask_babel import force_locale

    from referral.models_base import utcnow
    from referral.referrals.views import time_left
    from tests.helpers.referrals import consent, refer

    case_id = open_case(app, world)
    referral_id = refer(app, world, case_id, consent(app, world, case_id), priority="emergency")
    with app.app_context():
        referral = db.session.get(Referral, referral_id)
        sent = referral.sent_at
        with app.test_request_context(), force_locale("en"):
            assert time_left(referral, sent)[0] == "1 day left"
            assert time_left(referral, sent + timedelta(hours=20))[0] == "4 hours left"
            late, style = time_left(referral, sent + timedelta(days=2, hours=1))
            assert late == "Overdue by 1 day 1 hour" and "danger" in style
        referral.due_at = utcnow() - timedelta(hours=3)
        db.session.commit()
    sign_in(client, app, world.other.supervisor)
    inbox = client.get("/referrals?box=inbox").get_data(as_text=True)
    assert 'data-testid="time-left">' in inbox and ("3" in inbox)
