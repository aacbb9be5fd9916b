"""A supervisor returns an action plan or a closure with a comment instead of approving it:
the case goes back to its step, the comment is encrypted, the author is told, all audited."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, text

from referral.audit.models import AuditEvent
from referral.cases import services
from referral.cases.models import ApprovalReturn, Case
from referral.errors import Forbidden, InvalidInput
from referral.extensions import db
from referral.followups import notifications
from referral.followups.models import Notification
from tests.helpers.cases import World, case_row, csrf_post, open_case, signed_in, user

COMMENT = "Marker-Return-Comment-7Qx: add the shelter referral"


def _to_plan(app: Flask, world: World) -> str:
    case_id = open_case(app, world)
    with app.app_context():
        w = user(world.mine.caseworker)
        services.record_step_content(
            db.session,
            w,
            case_id,
            "consent_for_services",
            {"given": True, "method": "verbal", "limits_explained": True},
        )
        services.move(db.session, w, case_id, "assessment")
        services.record_step_content(db.session, w, case_id, "assessment", {"needs": ["x"], "risk_level": "low"})
        services.move(db.session, w, case_id, "action_plan")
        services.record_step_content(db.session, w, case_id, "action_plan", {"actions": ["call legal aid"]})
        db.session.commit()
    return case_id


def _to_closure(app: Flask, world: World) -> str:
    case_id = _to_plan(app, world)
    with app.app_context():
        w, s = user(world.mine.caseworker), user(world.mine.supervisor)
        services.approve(db.session, s, case_id, "action_plan")
        services.move(db.session, w, case_id, "implementation")
        services.record_step_content(
            db.session, w, case_id, "closure", {"reason": "needs_met", "survivor_told_can_return": True}
        )
        services.move(db.session, w, case_id, "closure_pending")
        db.session.commit()
    return case_id


def _told(app: Flask, account: Any) -> list[Notification]:
    with app.app_context():
        rows = list(db.session.scalars(select(Notification).where(Notification.user_id == account.id)))
        db.session.expunge_all()
        return rows


def test_a_returned_plan_leaves_the_queue_until_it_is_saved_again(app: Flask, world: World) -> None:
    case_id = _to_plan(app, world)
    with app.app_context():
        s, w = user(world.mine.supervisor), user(world.mine.caseworker)
        services.return_for_changes(db.session, s, case_id, "action_plan", COMMENT)
        db.session.commit()
        case = db.session.get(Case, case_id)
        assert case.status == "action_plan" and case.plan_approved_by is None
        assert services.approval_queue(db.session, s) == []
        with pytest.raises(services.InvalidTransition):
            services.approve(db.session, s, case_id, "action_plan")
        with pytest.raises(services.InvalidTransition):  # nothing left to return either
            services.return_for_changes(db.session, s, case_id, "action_plan", COMMENT)
        services.record_step_content(db.session, w, case_id, "action_plan", {"actions": ["call legal aid", "shelter"]})
        assert [c.id for c in services.approval_queue(db.session, s)] == [case_id]
        services.approve(db.session, s, case_id, "action_plan")
        db.session.commit()
        [row] = services.returns(db.session, db.session.get(Case, case_id))
        assert (row.what, row.returned_by, row.comment) == ("action_plan", s.id, COMMENT)
        stored = db.session.execute(text("SELECT comment FROM case_approval_return")).scalar_one()
        assert COMMENT.encode() not in bytes(stored)  # encrypted at rest
        [event] = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "case.return").order_by(AuditEvent.id)
        ).all()
        assert event.case_code == case.case_code and COMMENT not in str(event.details)
    [note] = _told(app, world.mine.caseworker)
    assert note.kind == "case.plan_returned" and (note.target_type, note.target_id) == ("case", case_id)
    with app.app_context():
        from flask_babel import force_locale

        with force_locale("en"):
            assert notifications.text(note) == f"{note.case_code}: action plan returned"


def test_a_returned_closure_takes_the_case_back_to_its_step(app: Flask, world: World) -> None:
    case_id = _to_closure(app, world)
    with app.app_context():
        s = user(world.mine.supervisor)
        services.return_for_changes(db.session, s, case_id, "closure", "Follow up once more first")
        db.session.commit()
        case = db.session.get(Case, case_id)
        assert case.status == "implementation" and case.closed_at is None
        assert [t.to_status for t in services.transitions(db.session, case)][-2:] == [
            "closure_pending",
            "implementation",
        ]
        assert services.approval_queue(db.session, s) == []
        services.move(db.session, user(world.mine.caseworker), case_id, "closure_pending")
        assert [c.id for c in services.approval_queue(db.session, s)] == [case_id]
    assert [n.kind for n in _told(app, world.mine.caseworker)] == ["case.closure_returned"]


def test_returning_needs_a_comment_another_supervisor_and_the_step(app: Flask, world: World) -> None:
    case_id = _to_plan(app, world)
    with app.app_context():
        s = user(world.mine.supervisor)
        for bad in ("", "   ", "x" * 2001, "bad\x00byte"):
            with pytest.raises(InvalidInput) as refused:
                services.return_for_changes(db.session, s, case_id, "action_plan", bad)
            assert "comment" in refused.value.fields
        with pytest.raises(InvalidInput):
            services.return_for_changes(db.session, s, case_id, "safety_plan", COMMENT)
        with pytest.raises(services.InvalidTransition):
            services.return_for_changes(db.session, s, case_id, "closure", COMMENT)
        with pytest.raises(services.NotFound):  # a caseworker does not approve, nor return
            services.return_for_changes(db.session, user(world.mine.caseworker), case_id, "action_plan", COMMENT)
        with pytest.raises(services.NotFound):  # another organisation's supervisor: not found
            services.return_for_changes(db.session, user(world.other.supervisor), case_id, "action_plan", COMMENT)
        db.session.rollback()
    own = open_case(app, world, by=world.mine.supervisor)
    with app.app_context():
        s = user(world.mine.supervisor)
        services.record_step_content(
            db.session, s, own, "consent_for_services", {"given": True, "method": "verbal", "limits_explained": True}
        )
        services.move(db.session, s, own, "assessment")
        services.record_step_content(db.session, s, own, "assessment", {"needs": ["x"], "risk_level": "low"})
        services.move(db.session, s, own, "action_plan")
        services.record_step_content(db.session, s, own, "action_plan", {"actions": ["y"]})
        with pytest.raises(Forbidden):
            services.return_for_changes(db.session, s, own, "action_plan", COMMENT)
        db.session.rollback()
        assert db.session.scalars(select(ApprovalReturn)).all() == []


def test_return_through_the_case_page(client: FlaskClient, app: Flask, world: World) -> None:
    case_id = _to_plan(app, world)
    signed_in(client, app, world.mine.supervisor)
    page = client.get(f"/cases/{case_id}").get_data(as_text=True)
    assert 'data-testid="return-action_plan"' in page and 'name="return-comment"' in page
    empty = csrf_post(client, f"/cases/{case_id}/return", {"return-what": "action_plan", "return-comment": ""})
    assert empty.status_code == 400 and 'id="return-comment-error"' in empty.get_data(as_text=True)
    bogus = csrf_post(client, f"/cases/{case_id}/return", {"return-what": "everything", "return-comment": COMMENT})
    assert bogus.status_code == 400 and COMMENT in bogus.get_data(as_text=True)  # input kept
    assert case_row(app, case_id).plan_submitted_by == world.mine.caseworker.id  # nothing written
    done = csrf_post(client, f"/cases/{case_id}/return", {"return-what": "action_plan", "return-comment": COMMENT})
    assert done.status_code == 303 and done.headers["Location"].endswith("#returns")
    worker = app.test_client()
    signed_in(worker, app, world.mine.caseworker)
    shown = worker.get(f"/cases/{case_id}").get_data(as_text=True)
    assert 'data-testid="returns"' in shown and COMMENT in shown
    assert 'href="#returns"' in shown  # the plan says it was returned, not that it waits for approval
    outsider = app.test_client()
    signed_in(outsider, app, world.other.supervisor)
    refused = csrf_post(outsider, f"/cases/{case_id}/return", {"return-what": "action_plan", "return-comment": COMMENT})
    assert refused.status_code == 404
