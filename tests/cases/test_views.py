"""The case-file pages: masked lists and views, audited reveal, 404 across organisations, intake
that keeps the input on error, the steps and approvals through the forms, notes, incidents."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from referral.accounts.models import User
from referral.audit.models import AuditEvent
from referral.cases import services
from referral.cases.models import Case, CaseNote
from referral.extensions import db
from tests.helpers.cases import (
    MARKER_ID,
    MARKER_NAME,
    MARKER_PHONE,
    World,
    case_row,
    csrf_post,
    intake_form,
    open_case,
    signed_in,
    user,
)

IDENTIFIERS = (MARKER_NAME, MARKER_ID, MARKER_PHONE, "Um Ahmad", "marker mosque", "1994-03-02")


def _events(app: Flask, action: str) -> list[AuditEvent]:
    with app.app_context():
        return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


# ------------------------------------------------------------------------------ masking and reveal
@pytest.mark.parametrize("who", ["caseworker", "supervisor"])
def test_list_and_view_mask_identifiers(client: FlaskClient, app: Flask, world: World, who: str) -> None:
    case_id = open_case(app, world)
    code = case_row(app, case_id).case_code
    signed_in(client, app, getattr(world.mine, who))

    listing = client.get("/cases")
    assert listing.status_code == 200
    html = listing.get_data(as_text=True)
    assert code in html and "Z. S." in html
    for marker in IDENTIFIERS:
        assert marker not in html, marker

    page = client.get(f"/cases/{case_id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert code in html and "Z. S." in html
    assert "Marker narrative" in html  # confidential, but not identifying: the case team reads it
    for marker in IDENTIFIERS:
        assert marker not in html, marker
    assert page.headers["Cache-Control"] == "no-store"
    assert len(_events(app, "case.view")) == 1


def test_reveal_shows_identifiers_for_that_response_only_and_is_audited(
    client: FlaskClient, app: Flask, world: World
) -> None:
    case_id = open_case(app, world)
    signed_in(client, app, world.mine.supervisor)

    revealed = csrf_post(client, f"/cases/{case_id}/reveal")
    assert revealed.status_code == 200
    html = revealed.get_data(as_text=True)
    for marker in IDENTIFIERS:
        assert marker in html, marker
    [event] = _events(app, "case.reveal")
    assert event.object_id == case_id and event.actor_id == world.mine.supervisor.id
    assert event.case_code == case_row(app, case_id).case_code

    again = client.get(f"/cases/{case_id}").get_data(as_text=True)
    assert MARKER_NAME not in again and MARKER_ID not in again


def test_another_organisations_case_is_not_found(client: FlaskClient, app: Flask, world: World) -> None:
    case_id = open_case(app, world)
    signed_in(client, app, world.other.supervisor)
    assert client.get(f"/cases/{case_id}").status_code == 404
    assert client.get(f"/cases/{case_id}/edit").status_code == 404
    assert client.get(f"/cases/{case_id}/incidents/new").status_code == 404
    for path, data in (
        ("reveal", {}),
        ("notes", {"note-body": "Should not be written"}),
        ("move", {"to_status": "assessment"}),
        ("approve", {"what": "action_plan"}),
        ("steps/consent_for_services", {"consent_for_services-method": "verbal"}),
        ("members", {"member-user_id": world.other.supervisor.id}),
        ("edit", intake_form(world)),
    ):
        response = csrf_post(client, f"/cases/{case_id}/{path}", data)
        assert response.status_code == 404, path
        assert MARKER_NAME not in response.get_data(as_text=True)
    assert client.get("/cases").get_data(as_text=True).count(case_row(app, case_id).case_code) == 0
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(CaseNote)) == 0
        assert db.session.get(Case, case_id).status == "intake"
    assert not _events(app, "case.reveal") and not _events(app, "case.view")
    assert _events(app, "access.denied")


@pytest.mark.parametrize("role", ["org_admin", "coordinator", "auditor"])
def test_roles_without_cases_do_not_reach_the_pages(client: FlaskClient, app: Flask, world: World, role: str) -> None:
    account = world.mine.org_admin if role == "org_admin" else getattr(world, role)
    signed_in(client, app, account)
    for path in ("/cases", "/cases/new", "/cases/approvals"):
        assert client.get(path).status_code == 404, path


# ------------------------------------------------------------------------------ intake
def test_intake_opens_a_case_and_warns_of_a_returning_survivor(client: FlaskClient, app: Flask, world: World) -> None:
    first = open_case(app, world)
    first_code = case_row(app, first).case_code
    signed_in(client, app, world.mine.caseworker)
    page = client.get("/cases/new")
    assert page.status_code == 200
    assert f'<option selected value="{world.governorate}"' in page.get_data(as_text=True)

    made = csrf_post(client, "/cases/new", intake_form(world, full_name="Another Name", phone="0599 000 000"))
    assert made.status_code == 303
    case_id = made.headers["Location"].rsplit("/", 1)[-1]
    with app.app_context():
        case = db.session.get(Case, case_id)
        assert case.full_name == "Another Name" and case.national_id == MARKER_ID
        assert case.safe_contact == {
            "safe_to_call": True,
            "safe_to_text": False,
            "safe_voicemail": False,
            "safe_hours": "09:00-12:00",
            "instructions": "Ask for Um Ahmad",
        }
        assert case.disability is False and case.incidents[0].narrative == "Marker narrative of what happened"
    shown = client.get(made.headers["Location"]).get_data(as_text=True)
    assert "returning survivor" in shown and first_code in shown
    assert MARKER_ID not in shown and "Another Name" not in shown


def test_intake_error_keeps_the_input_answers_400_and_writes_nothing(
    client: FlaskClient, app: Flask, world: World
) -> None:
    signed_in(client, app, world.mine.caseworker)
    response = csrf_post(
        client,
        "/cases/new",
        intake_form(world, governorate="", date_of_birth="2999-01-01", instructions="Knock twice, Marker-Keep"),
    )
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    for typed in (MARKER_NAME, MARKER_ID, MARKER_PHONE, "Knock twice, Marker-Keep", "Marker narrative"):
        assert typed in html, typed
    assert 'id="date_of_birth-error"' in html and 'aria-describedby="date_of_birth-error"' in html
    assert 'id="governorate-error"' in html and "This field is required." in html
    assert re.search(r'<option selected value="physical_assault"', html)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Case)) == 0
    assert not _events(app, "case.create")


# ------------------------------------------------------------------------------ list, filters, search
def test_filters_search_and_paging(client: FlaskClient, app: Flask, world: World) -> None:
    high = open_case(app, world, risk_level="high", national_id="123450009", phone="0590000001")
    others = [open_case(app, world, national_id=None, phone=None) for _ in range(50)]
    colleague_case = open_case(app, world, by=world.mine.colleague, national_id=None, phone=None)
    signed_in(client, app, world.mine.supervisor)
    codes = {i: case_row(app, i).case_code for i in (high, colleague_case, others[0])}

    first = client.get("/cases").get_data(as_text=True)
    assert first.count("/cases/") >= 50 and 'rel="next"' in first
    next_link = re.search(r'href="(/cases\?[^"]*cursor=[^"]+)"', first)
    assert next_link
    second = client.get(next_link.group(1).replace("&amp;", "&")).get_data(as_text=True)
    assert codes[high] in second and codes[colleague_case] not in second  # the oldest last

    filtered = client.get("/cases?risk_level=high").get_data(as_text=True)
    assert codes[high] in filtered and codes[others[0]] not in filtered

    found = csrf_post(client, "/cases", {"q": "123450009"})
    assert found.status_code == 200
    html = found.get_data(as_text=True)
    assert codes[high] in html and codes[others[0]] not in html
    assert _events(app, "case.search_identifier")
    by_code = csrf_post(client, "/cases", {"q": codes[colleague_case].lower()}).get_data(as_text=True)
    assert codes[colleague_case] in by_code and codes[high] not in by_code

    colleague = signed_in(app.test_client(), app, world.mine.colleague)
    own = colleague.get("/cases").get_data(as_text=True)
    assert codes[colleague_case] in own and codes[high] not in own
    assert codes[colleague_case] in colleague.get("/cases?mine=1").get_data(as_text=True)
    assert codes[colleague_case] not in client.get("/cases?mine=1").get_data(as_text=True)


# ------------------------------------------------------------------------------ steps and approvals
def test_steps_through_the_forms_with_a_supervisors_approval(client: FlaskClient, app: Flask, world: World) -> None:
    case_id = open_case(app, world, risk_level="high")
    base = f"/cases/{case_id}"
    signed_in(client, app, world.mine.caseworker)

    early = csrf_post(client, f"{base}/move", {"to_status": "assessment"})
    assert early.status_code == 400
    assert "consented to services" in early.get_data(as_text=True)

    bad = csrf_post(client, f"{base}/steps/consent_for_services", {"consent_for_services-given": "y"})
    assert bad.status_code == 400 and 'id="consent_for_services-method-error"' in bad.get_data(as_text=True)

    steps: list[tuple[str, dict[str, str]]] = [
        (
            "steps/consent_for_services",
            {
                "consent_for_services-given": "y",
                "consent_for_services-limits_explained": "y",
                "consent_for_services-method": "verbal",
            },
        ),
        ("move", {"to_status": "assessment"}),
        (
            "steps/assessment",
            {
                "assessment-needs": "Shelter\nLegal advice on custody",
                "assessment-immediate_danger": "y",
                "assessment-risk_level": "high",
            },
        ),
        ("move", {"to_status": "action_plan"}),
        ("steps/action_plan", {"action_plan-actions": "Refer to the safe house\nRefer to legal aid"}),
    ]
    for path, data in steps:
        response = csrf_post(client, f"{base}/{path}", data)
        assert response.status_code == 303, (path, response.get_data(as_text=True)[:2000])

    waiting = csrf_post(client, f"{base}/move", {"to_status": "implementation"})
    assert waiting.status_code == 400
    text = waiting.get_data(as_text=True)
    assert "supervisor must approve the action plan" in text and "needs a safety plan" in text
    assert csrf_post(client, f"{base}/approve", {"what": "action_plan"}).status_code == 404  # not a supervisor
    assert csrf_post(client, f"{base}/steps/safety_plan", {"safety_plan-safety_plan": "Marker plan"}).status_code == 303

    supervisor = app.test_client()
    signed_in(supervisor, app, world.mine.supervisor)
    queue = supervisor.get("/cases/approvals").get_data(as_text=True)
    assert case_row(app, case_id).case_code in queue and MARKER_NAME not in queue
    page = supervisor.get(base).get_data(as_text=True)
    assert "Approve the action plan" in page
    assert csrf_post(supervisor, f"{base}/approve", {"what": "action_plan"}).status_code == 303
    assert case_row(app, case_id).plan_approved_by == world.mine.supervisor.id

    assert csrf_post(client, f"{base}/move", {"to_status": "implementation"}).status_code == 303
    case = case_row(app, case_id)
    assert case.status == "implementation"
    assert case.assessment["needs"] == ["Shelter", "Legal advice on custody"] and case.risk_level == "high"
    timeline = client.get(base).get_data(as_text=True)
    for label in ("Intake", "Assessment", "Action plan", "Implementation"):
        assert label in timeline
    assert [e.details["to_status"] for e in _events(app, "case.transition")] == [
        "assessment",
        "action_plan",
        "implementation",
    ]


def test_a_supervisor_may_not_approve_her_own_plan(client: FlaskClient, app: Flask, world: World) -> None:
    case_id = open_case(app, world, by=world.mine.supervisor)
    with app.app_context():
        actor = user(world.mine.supervisor)
        services.record_step_content(
            db.session,
            actor,
            case_id,
            "consent_for_services",
            {"given": True, "limits_explained": True, "method": "written"},
        )
        services.move(db.session, actor, case_id, "assessment")
        services.record_step_content(db.session, actor, case_id, "assessment", {"needs": ["x"], "risk_level": "low"})
        services.move(db.session, actor, case_id, "action_plan")
        services.record_step_content(db.session, actor, case_id, "action_plan", {"actions": ["y"]})
        db.session.commit()
    signed_in(client, app, world.mine.supervisor)
    page = client.get(f"/cases/{case_id}").get_data(as_text=True)
    assert "Approve the action plan" not in page and "another supervisor must approve it" in page

    refused = csrf_post(client, f"/cases/{case_id}/approve", {"what": "action_plan"})
    assert refused.status_code == 403
    assert "You recorded this yourself: another supervisor must approve it." in refused.get_data(as_text=True)
    assert case_row(app, case_id).plan_approved_by is None
    assert not _events(app, "case.approve")
    assert client.get("/cases/approvals").get_data(as_text=True).count(case_row(app, case_id).case_code) == 0


def test_closure_is_requested_and_approved(client: FlaskClient, app: Flask, world: World) -> None:
    case_id = open_case(app, world)
    with app.app_context():
        case = db.session.get(Case, case_id)
        case.status = "follow_up"
        db.session.commit()
    signed_in(client, app, world.mine.caseworker)
    missing = csrf_post(client, f"/cases/{case_id}/steps/closure", {"closure-reason": "needs_met"})
    assert missing.status_code == 400
    assert 'id="closure-survivor_told_can_return-error"' in missing.get_data(as_text=True)
    done = csrf_post(
        client,
        f"/cases/{case_id}/steps/closure",
        {"closure-reason": "needs_met", "closure-survivor_told_can_return": "y"},
    )
    assert done.status_code == 303
    assert csrf_post(client, f"/cases/{case_id}/move", {"to_status": "closure_pending"}).status_code == 303
    supervisor = app.test_client()
    signed_in(supervisor, app, world.mine.supervisor)
    assert csrf_post(supervisor, f"/cases/{case_id}/approve", {"what": "closure"}).status_code == 303
    assert case_row(app, case_id).status == "closed"


# ------------------------------------------------------------------------------ notes, team, incidents, edit
def test_notes_are_listed_with_their_author(client: FlaskClient, app: Flask, world: World) -> None:
    case_id = open_case(app, world)
    signed_in(client, app, world.mine.caseworker)
    empty = csrf_post(client, f"/cases/{case_id}/notes", {"note-body": "  "})
    assert empty.status_code == 400 and 'id="note-body-error"' in empty.get_data(as_text=True)
    assert csrf_post(client, f"/cases/{case_id}/notes", {"note-body": "Called her at the safe hour"}).status_code == 303
    html = client.get(f"/cases/{case_id}").get_data(as_text=True)
    notes = html[html.index('data-testid="notes"') :]
    assert "Called her at the safe hour" in notes and world.mine.caseworker.username in notes
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(CaseNote)) == 1


def test_the_owner_adds_a_colleague_to_the_team(client: FlaskClient, app: Flask, world: World) -> None:
    case_id = open_case(app, world)
    signed_in(client, app, world.mine.caseworker)
    page = client.get(f"/cases/{case_id}").get_data(as_text=True)
    assert world.mine.colleague.username in page and world.other.caseworker.username not in page
    refused = csrf_post(client, f"/cases/{case_id}/members", {"member-user_id": world.other.caseworker.id})
    assert refused.status_code == 400
    assert (
        csrf_post(client, f"/cases/{case_id}/members", {"member-user_id": world.mine.colleague.id}).status_code == 303
    )
    with app.app_context():
        case = db.session.get(Case, case_id)
        assert {m.user_id for m in case.members} == {world.mine.caseworker.id, world.mine.colleague.id}


def test_guided_incident_classification(client: FlaskClient, app: Flask, world: World) -> None:
    case_id = open_case(app, world, gbv_type=None, narrative=None)
    signed_in(client, app, world.mine.caseworker)
    form = client.get(f"/cases/{case_id}/incidents/new").get_data(as_text=True)
    order = [form.index(f'name="q_{key}"') for key in ("penetration", "sexual_contact", "physical_violence")]
    assert order == sorted(order)

    unanswered = csrf_post(client, f"/cases/{case_id}/incidents/new", {"q_penetration": "no", "narrative": "Kept text"})
    assert unanswered.status_code == 400
    assert "Answer yes or no." in unanswered.get_data(as_text=True)
    assert "Kept text" in unanswered.get_data(as_text=True)

    answers = {
        "q_penetration": "no",
        "q_sexual_contact": "no",
        "q_physical_violence": "yes",
        "q_forced_marriage": "yes",
        "q_denial_of_resources": "no",
        "q_psychological_harm": "yes",
        "contexts": ["intimate_partner_violence", "early_marriage"],
        "perpetrator_relationship": "intimate_partner",
        "narrative": "He hit her",
    }
    done = csrf_post(client, f"/cases/{case_id}/incidents/new", answers)
    assert done.status_code == 303
    with app.app_context():
        [incident] = db.session.get(Case, case_id).incidents
        assert incident.gbv_type == "physical_assault"
        assert incident.contexts == ["intimate_partner_violence", "early_marriage"]
    page = client.get(f"/cases/{case_id}").get_data(as_text=True)
    assert "Physical assault" in page and "Early marriage" in page


def test_edit_is_a_recorded_reveal_and_saves(client: FlaskClient, app: Flask, world: World) -> None:
    case_id = open_case(app, world)
    signed_in(client, app, world.mine.caseworker)
    page = client.get(f"/cases/{case_id}/edit")
    assert page.status_code == 200 and MARKER_ID in page.get_data(as_text=True)
    assert len(_events(app, "case.reveal")) == 1
    bad = csrf_post(client, f"/cases/{case_id}/edit", intake_form(world, date_of_birth="03/02/1994"))
    assert bad.status_code == 400 and "03/02/1994" in bad.get_data(as_text=True)
    saved = csrf_post(client, f"/cases/{case_id}/edit", intake_form(world, risk_level="high", phone=""))
    assert saved.status_code == 303
    case = case_row(app, case_id)
    assert case.risk_level == "high" and case.phone is None and case.phone_index is None


def test_home_shows_case_counts_and_navigation(client: FlaskClient, app: Flask, world: World) -> None:
    open_case(app, world)
    signed_in(client, app, world.mine.supervisor)
    home = client.get("/").get_data(as_text=True)
    assert re.search(r'data-testid="count-cases">1<', home)
    assert re.search(r'data-testid="count-awaiting">0<', home)
    assert 'href="/cases"' in home and 'href="/cases/approvals"' in home


def test_the_governorate_field_lists_governorates_not_networks(
    client: FlaskClient, app: Flask, world: World, factory: Any
) -> None:
    hebron = factory.network("hebron")
    signed_in(client, app, world.mine.caseworker)
    html = client.get("/cases/new").get_data(as_text=True)
    select_html = html.split('name="governorate"')[1].split("</select>")[0]
    assert '<option value="hebron">Hebron</option>' in select_html
    assert hebron.name_en not in select_html  # the network serving it is not the governorate
    with app.app_context():
        db.session.get(User, world.mine.caseworker.id).locale = "ar"
        db.session.commit()
    from tests.conftest import arabic

    arabic_html = client.get("/cases/new").get_data(as_text=True)
    assert f'<option value="hebron">{arabic(app, "Hebron")}</option>' in arabic_html
