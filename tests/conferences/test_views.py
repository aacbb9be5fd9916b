"""The conference pages: who gets a page and who a 404, what the chair's page never holds, the
case page's list, and hostile input answered with a named problem (never a 500, nothing saved)."""

from __future__ import annotations

from datetime import timedelta

from flask.testing import FlaskClient
from sqlalchemy import func, select

from referral.conferences import services
from referral.conferences.models import CaseConference, ConferenceAction, ConferenceItem
from referral.extensions import db
from referral.followups import services as followups
from referral.models_base import utcnow
from tests.conftest import Account, csrf, sign_in
from tests.helpers.cases import MARKER_NAME, user
from tests.helpers.conferences import ACTION, MINUTES, REASON, SUMMARY, Scene, convene, item_of, run


def _client(scene: Scene, account: Account) -> tuple[FlaskClient, str]:
    web = scene.app.test_client()
    sign_in(web, scene.app, account)
    return web, csrf(web, "/account/")


def _full_conference(scene: Scene) -> tuple[str, str]:
    w = scene.world
    conference_id = convene(scene)
    item_id = item_of(scene, conference_id)
    run(
        scene.app,
        lambda: services.save_risk_summary(db.session, user(w.mine.supervisor), conference_id, item_id, SUMMARY),
    )
    run(scene.app, lambda: services.save_minutes(db.session, user(w.mine.supervisor), conference_id, MINUTES))
    with scene.app.app_context():
        due = followups.start_of_day(utcnow(), followups.DEFAULT_ZONE, 2) + timedelta(hours=9)
    data = services.ActionInput(w.other.supervisor.id, "service_check", due, ACTION)
    run(scene.app, lambda: services.add_action(db.session, user(w.mine.supervisor), conference_id, item_id, data))
    return conference_id, item_id


def _count(scene: Scene, model: object) -> int:
    with scene.app.app_context():
        return int(db.session.scalar(select(func.count()).select_from(model)) or 0)  # type: ignore[arg-type]


def test_the_chair_sees_case_codes_and_times_never_content(scene: Scene) -> None:
    conference_id, _item = _full_conference(scene)
    web, _token = _client(scene, scene.world.coordinator)
    page = web.get(f"/conferences/{conference_id}")
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert scene.code in body
    for secret in (SUMMARY, MINUTES, ACTION, REASON, MARKER_NAME, "High risk"):
        assert secret not in body, secret
    listing = web.get("/conferences").get_data(as_text=True)
    assert scene.code in listing


def test_the_owner_and_the_participant_see_their_parts(scene: Scene) -> None:
    conference_id, _item = _full_conference(scene)
    owner, _ = _client(scene, scene.world.mine.caseworker)
    body = owner.get(f"/conferences/{conference_id}").get_data(as_text=True)
    assert SUMMARY in body and MINUTES in body and ACTION in body
    participant, _ = _client(scene, scene.world.other.supervisor)
    body = participant.get(f"/conferences/{conference_id}").get_data(as_text=True)
    assert SUMMARY in body and MINUTES in body and ACTION in body  # its referral shares the assessment
    assert MARKER_NAME not in body
    case_page = owner.get(f"/cases/{scene.case_id}").get_data(as_text=True)
    assert f"/conferences/{conference_id}" in case_page and 'data-testid="repeat-incident"' in case_page


def test_everyone_else_gets_a_404(scene: Scene) -> None:
    conference_id, item_id = _full_conference(scene)
    w = scene.world
    for stranger in (
        scene.third_supervisor,
        scene.third_admin,
        scene.mine_admin,
        scene.other_coordinator,
        w.other.caseworker,
    ):
        web, token = _client(scene, stranger)
        assert web.get(f"/conferences/{conference_id}").status_code == 404, stranger.role
        posted = web.post(f"/conferences/{conference_id}/minutes", data={"csrf_token": token, "minutes-minutes": "x"})
        assert posted.status_code == 404, stranger.role
        timer = web.post(
            f"/conferences/{conference_id}/items/{item_id}/timer", data={"csrf_token": token, "move": "start"}
        )
        assert timer.status_code == 404
        assert scene.code not in web.get("/conferences").get_data(as_text=True)
    # a participant's seat ends with its referral
    from tests.helpers.referrals import act

    act(scene.app, w.mine.caseworker, scene.referral_id, "withdrawn", reason="mistake")  # type: ignore[arg-type]
    web, _ = _client(scene, w.other.supervisor)
    assert web.get(f"/conferences/{conference_id}").status_code == 404


def test_convening_on_the_web_and_hostile_input(scene: Scene) -> None:
    web, token = _client(scene, scene.world.mine.supervisor)
    assert web.get(f"/conferences/new?case={scene.case_id}").status_code == 200
    later = (utcnow() + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M")
    hostile = [
        {"case_code": "\u202eABC-2026-000001", "grounds": "high_risk", "minutes_allotted": "15"},
        {"case_code": "X" * 5000, "grounds": "high_risk", "minutes_allotted": "15"},
        {"case_code": scene.code, "grounds": "nonsense", "minutes_allotted": "15"},
        {"case_code": scene.code, "grounds": "high_risk", "minutes_allotted": "abc"},
        {"case_code": scene.code, "grounds": "high_risk", "minutes_allotted": "99", "starts_at": later},
        {"case_code": scene.code, "grounds": "high_risk", "minutes_allotted": "15", "starts_at": "tomorrow"},
        {"case_code": scene.code, "grounds": "high_risk", "minutes_allotted": "15", "starts_at": later},  # no place
        {"case_code": scene.code, "grounds": "judgement", "minutes_allotted": "15", "reason": "a\x00b"},
        {"case_code": scene.code, "grounds": "high_risk", "minutes_allotted": "15", "place": "p" * 600},
    ]
    for form in hostile:
        refused = web.post("/conferences/new", data={"csrf_token": token, **form})
        assert refused.status_code == 400, form
        body = refused.get_data(as_text=True)
        assert "is-invalid" in body
        if form["case_code"] == scene.code:
            assert scene.code in body  # the input is kept
    assert _count(scene, CaseConference) == 0
    done = web.post(
        "/conferences/new",
        data={
            "csrf_token": token,
            "case_code": scene.code.lower(),
            "grounds": "high_risk",
            "minutes_allotted": "12",
            "starts_at": later,
            "place": "Room 1",
        },
    )
    assert done.status_code == 303
    conference_id = done.headers["Location"].rsplit("/", 1)[-1]
    item_id = item_of(scene, conference_id)
    base = f"/conferences/{conference_id}"
    key = f"a{item_id.replace('-', '')[:12]}"
    for path, form, expected in [
        (f"{base}/items/{item_id}/actions", {f"{key}-description": ACTION, f"{key}-assignee_id": "nope"}, 400),
        (
            f"{base}/items/{item_id}/actions",
            {
                f"{key}-description": ACTION,
                f"{key}-assignee_id": scene.third_supervisor.id,
                f"{key}-kind": "call",
                f"{key}-due_at": later,
            },
            400,
        ),
        (f"{base}/items/not-an-id/actions", {}, 404),
        (f"{base}/items/{item_id}/summary", {f"s{item_id.replace('-', '')[:12]}-risk_summary": "x" * 6000}, 400),
        (
            f"{base}/cases",
            {"agenda-case_code": scene.code, "agenda-grounds": "high_risk", "agenda-minutes_allotted": "15"},
            400,
        ),
        (f"{base}/minutes", {"minutes-minutes": "\x07"}, 400),
        (f"{base}/convene", {"schedule-starts_at": later, "schedule-place": "x"}, 404),  # not the chair
        (f"{base}/items/{item_id}/timer", {"move": "start"}, 404),  # not the chair
        ("/conferences/00000000-0000-4000-8000-000000000000/minutes", {"minutes-minutes": "x"}, 404),
        ("/conferences/%00/close", {}, 404),
    ]:
        answer = web.post(path, data={"csrf_token": token, **form})
        assert answer.status_code == expected, (path, answer.status_code)
    assert _count(scene, ConferenceAction) == 0 and _count(scene, ConferenceItem) == 1
    with scene.app.app_context():
        conference = db.session.get(CaseConference, conference_id)
        assert conference.minutes is None and conference.items[0].risk_summary is None
    chair, chair_token = _client(scene, scene.world.coordinator)
    bad_move = chair.post(f"{base}/items/{item_id}/timer", data={"csrf_token": chair_token, "move": "explode"})
    assert bad_move.status_code == 400
    started = chair.post(f"{base}/items/{item_id}/timer", data={"csrf_token": chair_token, "move": "start"})
    assert started.status_code == 303
    page = chair.get(base).get_data(as_text=True)
    assert "data-conference-timer" in page and "js/conference-timer.js" in page


def test_a_nul_in_an_id_is_a_404_not_a_500(scene: Scene) -> None:
    """PostgreSQL refuses a NUL in text: the recorded denial must not carry it."""
    web, token = _client(scene, scene.world.mine.supervisor)
    for path in ("/conferences/%00", "/cases/%00", "/referrals/%00"):
        assert web.get(path).status_code == 404, path
    assert web.post("/conferences/%00/close", data={"csrf_token": token}).status_code == 404
