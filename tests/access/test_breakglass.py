"""Break-the-glass: only a supervisor opens another organisation's case, for a stated reason, for a
few hours; she reads it (every read flagged) and changes nothing; lists stay scoped; expiry, her
own ending and the owning organisation's revocation shut it again; the owning organisation's
supervisors are told with the case code only; the reason is encrypted and kept out of the audit."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from flask import Flask
from flask.testing import FlaskClient
from flask_babel import force_locale
from sqlalchemy import func, select, text

from referral.access import breakglass
from referral.access.models import BreakGlassGrant
from referral.accounts.models import User
from referral.audit.models import AuditEvent
from referral.audit.search import flag_condition
from referral.audit.services import take_denials
from referral.cases import services as cases
from referral.cases.models import Case, CaseNote
from referral.errors import Conflict, Forbidden, InvalidInput, NotFound
from referral.extensions import db
from referral.followups import notifications
from referral.followups import services as followups
from referral.followups.models import FollowUp, Notification
from referral.models_base import utcnow
from referral.referrals import services as referrals
from tests.conftest import Account, Factory, csrf, sign_in, within
from tests.helpers.cases import MARKER_ID, MARKER_NAME, World, open_case, user
from tests.helpers.documents import download, pdf, upload

REASON = "Police call: Reason-Marker-Qx9 may be at the shelter tonight"


def _code(app: Flask, case_id: str) -> str:
    with within(app):
        return str(db.session.get(Case, case_id).case_code)


def _open(app: Flask, account: Account, case_id: str, reason: str = REASON, hours: int | None = None) -> str:
    with within(app):
        grant = breakglass.open_grant(db.session, user(account), _code(app, case_id), reason, hours)
        db.session.commit()
        return grant.id


def _events(app: Flask, action: str) -> list[AuditEvent]:
    with within(app):
        rows = list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))
        db.session.expunge_all()
        return rows


def _view(app: Flask, account: Account, case_id: str) -> None:
    with within(app):
        cases.view_case(db.session, user(account), case_id)
        db.session.commit()


def _english(app: Flask, *accounts: Account) -> None:
    with within(app):
        for account in accounts:
            db.session.get(User, account.id).locale = "en"
        db.session.commit()


def _signed_in(client: FlaskClient, app: Flask, account: Account) -> FlaskClient:
    _english(app, account)
    sign_in(client, app, account)
    return client


def _post(client: FlaskClient, path: str, data: dict[str, Any] | None = None) -> Any:
    return client.post(path, data={"csrf_token": csrf(client, "/account/"), **(data or {})})


# ------------------------------------------------------------------------------ who may open, and why
@pytest.mark.parametrize("role", ["caseworker", "org_admin", "coordinator", "auditor"])
def test_only_a_supervisor_may_open_emergency_access(client: FlaskClient, app: Flask, world: World, role: str) -> None:
    case_id = open_case(app, world)
    account = {"caseworker": world.other.caseworker, "org_admin": world.other.org_admin}.get(role) or getattr(
        world, role
    )
    with within(app), pytest.raises(Forbidden):
        breakglass.open_grant(db.session, user(account), _code(app, case_id), REASON)
    _signed_in(client, app, account)
    assert client.get("/breakglass").status_code == 404
    assert _post(client, "/breakglass", {"case_code": _code(app, case_id), "reason": REASON}).status_code == 404
    assert client.get("/breakglass/ours").status_code == 404
    assert client.get(f"/cases/{case_id}").status_code == 404
    with within(app):
        assert db.session.scalars(select(BreakGlassGrant)).all() == []


def test_a_stated_reason_and_a_listed_duration_are_required(app: Flask, world: World) -> None:
    case_id = open_case(app, world)
    for reason, code in (("", "required"), ("   ", "required"), ("urgent", "reason_too_short")):
        with within(app), pytest.raises(InvalidInput) as refused:
            breakglass.open_grant(db.session, user(world.other.supervisor), _code(app, case_id), reason)
        assert refused.value.fields == {"reason": code}
    for hours in (0, 4, 48):  # the setting (3 by default) is also the longest allowed
        with within(app), pytest.raises(InvalidInput) as refused:
            breakglass.open_grant(db.session, user(world.other.supervisor), _code(app, case_id), REASON, hours)
        assert refused.value.fields == {"hours": "invalid_hours"}
    with within(app):
        assert db.session.scalars(select(BreakGlassGrant)).all() == []
    assert not _events(app, "breakglass.open")


def test_an_unknown_case_code_is_not_found_and_the_attempt_is_recorded(
    client: FlaskClient, app: Flask, world: World
) -> None:
    with within(app):
        with pytest.raises(NotFound):
            breakglass.open_grant(db.session, user(world.other.supervisor), "XXX-2026-999999", REASON)
        [denial] = take_denials(db.session)
        assert (denial["action"], denial["object_type"], denial["object_id"]) == (
            "access.denied",
            "case_file",
            "XXX-2026-999999",
        )
        db.session.rollback()

    _signed_in(client, app, world.other.supervisor)
    page = _post(client, "/breakglass", {"case_code": "XXX-2026-999998", "reason": REASON, "hours": "3"})
    assert page.status_code == 404
    html = page.get_data(as_text=True)
    assert "No case has this code" in html and REASON in html  # the input is kept
    [event] = _events(app, "access.denied")
    assert event.object_id == "XXX-2026-999998" and event.actor_id == world.other.supervisor.id
    assert not _events(app, "breakglass.open")


def test_a_supervisor_does_not_break_the_glass_on_her_own_organisations_case(app: Flask, world: World) -> None:
    case_id = open_case(app, world)
    with within(app), pytest.raises(InvalidInput) as refused:
        breakglass.open_grant(db.session, user(world.mine.supervisor), _code(app, case_id), REASON)
    assert refused.value.fields == {"case_code": "own_case"}
    _open(app, world.other.supervisor, case_id)
    with within(app), pytest.raises(Conflict):  # one access in force at a time
        breakglass.open_grant(db.session, user(world.other.supervisor), _code(app, case_id), REASON)


# ------------------------------------------------------------------------------ what the grant allows
def test_the_grantee_reads_the_case_flagged_but_changes_nothing_and_lists_stay_scoped(
    client: FlaskClient, app: Flask, world: World
) -> None:
    case_id = open_case(app, world)
    code = _code(app, case_id)
    document_id = upload(app, world.mine.caseworker, case_id, pdf(2000))
    _signed_in(client, app, world.other.supervisor)
    assert client.get(f"/cases/{case_id}").status_code == 404  # nothing before the grant

    form = client.get("/breakglass").get_data(as_text=True)
    assert "auditors review every emergency access" in form and 'name="reason"' in form
    opened = _post(client, "/breakglass", {"case_code": code.lower(), "reason": REASON, "hours": "2"})
    assert opened.status_code == 303 and opened.headers["Location"].endswith(f"/cases/{case_id}")
    with within(app):
        grant = db.session.scalars(select(BreakGlassGrant)).one()
        grant_id, until = grant.id, grant.expires_at
    assert timedelta(hours=2) - timedelta(minutes=1) < until - utcnow() <= timedelta(hours=2)

    page = client.get(f"/cases/{case_id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    local = until.astimezone(ZoneInfo("Asia/Hebron"))  # the network's clock, named
    assert f"Emergency access until {local:%H:%M} (Hebron time)" in html and f"/breakglass/{grant_id}/end" in html
    assert MARKER_NAME not in html  # masked like any supervisor's view
    assert f"/cases/{case_id}/edit" not in html and 'name="note-body"' not in html
    revealed = _post(client, f"/cases/{case_id}/reveal")
    assert revealed.status_code == 200 and MARKER_NAME in revealed.get_data(as_text=True)
    assert download(app, world.other.supervisor, document_id).startswith(b"%PDF")  # the service
    got = client.get(f"/documents/{document_id}/download")
    assert got.status_code == 200 and got.data.startswith(b"%PDF")
    for action in ("case.view", "case.reveal", "document.download"):
        events = [e for e in _events(app, action) if e.actor_id == world.other.supervisor.id]
        assert events and all(e.details.get("breakglass") == grant_id for e in events), action
        assert all(e.case_code == code for e in events)
    assert all(
        "breakglass" not in e.details for e in _events(app, "case.view") if e.actor_id != world.other.supervisor.id
    )

    assert client.get(f"/cases/{case_id}/edit").status_code == 404
    assert client.get(f"/cases/{case_id}/incidents/new").status_code == 404
    for path, data in (
        ("notes", {"note-body": "Should not be written"}),
        ("move", {"to_status": "assessment"}),
        ("steps/consent_for_services", {"consent_for_services-method": "verbal"}),
        ("members", {"member-user_id": world.other.supervisor.id}),
    ):
        assert _post(client, f"/cases/{case_id}/{path}", data).status_code == 404, path
    refer = _post(
        client,
        f"/cases/{case_id}/referrals",
        {"to_organization_id": world.other.id, "priority": "urgent", "reason": "x", "field_groups": "identity"},
    )
    assert refer.status_code == 200  # the page is read-only for her: nothing is sent (checked below)
    with within(app):
        actor = user(world.other.supervisor)
        with pytest.raises(NotFound):
            cases.update_case(db.session, actor, case_id, cases.CaseInput({"phone": "+970 1"}))
        with pytest.raises(NotFound):
            referrals.create(
                db.session,
                actor,
                referrals.ReferralInput(
                    case_id=case_id,
                    to_organization_id=world.other.id,
                    priority="urgent",
                    reason="needs help",
                    field_groups=["identity"],
                    consent_id=None,
                ),
            )
        assert code not in [c.case_code for c in cases.list_cases(db.session, actor).items]
        assert cases.count_cases(db.session, actor) == 0
        assert db.session.scalars(select(CaseNote)).all() == []
        assert db.session.scalars(select(referrals.Referral)).all() == []
        db.session.rollback()
    listing = client.get("/cases").get_data(as_text=True)
    assert code not in listing


def test_others_in_the_grantees_organisation_gain_nothing(app: Flask, world: World, factory: Factory) -> None:
    case_id = open_case(app, world)
    _open(app, world.other.supervisor, case_id)
    colleague = factory.user("supervisor", SimpleNamespace(id=world.other.id))  # type: ignore[arg-type]
    for account in (colleague, world.other.caseworker):
        with within(app), pytest.raises(NotFound):
            cases.view_case(db.session, user(account), case_id)


def test_follow_ups_are_changes_the_grant_does_not_allow(app: Flask, world: World) -> None:
    """She reads the case's follow-ups but adds, cancels and moves none, and none is given to her."""
    case_id = open_case(app, world)
    with within(app):
        theirs = followups.create(db.session, user(world.mine.caseworker), case_id, _followup()).id
        db.session.commit()
    _open(app, world.other.supervisor, case_id)
    with within(app):
        outsider = user(world.other.supervisor)
        assert followups.view(db.session, outsider, theirs).id == theirs
        with pytest.raises(NotFound):
            followups.create(db.session, outsider, case_id, _followup())
        with pytest.raises(NotFound):
            followups.cancel(db.session, outsider, theirs)
        with pytest.raises(NotFound):
            followups.reschedule(db.session, outsider, theirs, due_at=utcnow() + timedelta(days=2))
        with pytest.raises(InvalidInput) as refused:
            followups.create(
                db.session, user(world.mine.caseworker), case_id, _followup(assignee_id=world.other.supervisor.id)
            )
        assert refused.value.fields == {"assignee_id": "invalid_assignee"}
        db.session.rollback()
        assert [f.id for f in db.session.scalars(select(FollowUp))] == [theirs]


def _followup(**extra: Any) -> followups.FollowUpInput:
    return followups.FollowUpInput(due_at=utcnow() + timedelta(days=1), kind="call", **extra)


# ------------------------------------------------------------------------------ how it ends
def test_access_ends_when_it_expires(app: Flask, world: World) -> None:
    case_id = open_case(app, world)
    _open(app, world.other.supervisor, case_id, hours=1)
    _view(app, world.other.supervisor, case_id)
    with time_machine.travel(utcnow() + timedelta(minutes=59), tick=False):
        _view(app, world.other.supervisor, case_id)
    with time_machine.travel(utcnow() + timedelta(hours=1, minutes=1), tick=False):
        with within(app), pytest.raises(NotFound):
            cases.view_case(db.session, user(world.other.supervisor), case_id)
        with within(app):
            assert breakglass.my_active_grants(db.session, user(world.other.supervisor)) == []


def test_the_default_duration_is_three_hours(app: Flask, world: World) -> None:
    case_id = open_case(app, world)
    _open(app, world.other.supervisor, case_id)
    with time_machine.travel(utcnow() + timedelta(hours=2, minutes=59), tick=False):
        _view(app, world.other.supervisor, case_id)
    later = time_machine.travel(utcnow() + timedelta(hours=3, minutes=1), tick=False)
    with later, app.app_context(), pytest.raises(NotFound):
        cases.view_case(db.session, user(world.other.supervisor), case_id)


def test_the_grantee_ends_it_early(client: FlaskClient, app: Flask, world: World) -> None:
    case_id = open_case(app, world)
    grant_id = _open(app, world.other.supervisor, case_id)
    with within(app), pytest.raises(NotFound):  # nobody else ends her access
        breakglass.end_grant(db.session, user(world.mine.supervisor), grant_id)
    _signed_in(client, app, world.other.supervisor)
    assert client.get(f"/cases/{case_id}").status_code == 200
    ended = _post(client, f"/breakglass/{grant_id}/end")
    assert ended.status_code == 303
    assert client.get(f"/cases/{case_id}").status_code == 404
    [event] = _events(app, "breakglass.end")
    assert event.details["grant_id"] == grant_id and event.case_code == _code(app, case_id)
    with within(app):
        grant = db.session.get(BreakGlassGrant, grant_id)
        assert (grant.end_kind, grant.ended_by) == ("ended", world.other.supervisor.id)


def test_the_owning_organisations_supervisor_sees_the_reason_and_revokes(
    client: FlaskClient, app: Flask, world: World
) -> None:
    case_id = open_case(app, world)
    grant_id = _open(app, world.other.supervisor, case_id)
    for account in (world.mine.caseworker, world.other.supervisor):  # not her team, not the grantee
        with within(app), pytest.raises(NotFound):
            breakglass.revoke_grant(db.session, user(account), grant_id)

    _signed_in(client, app, world.mine.supervisor)
    case_page = client.get(f"/cases/{case_id}").get_data(as_text=True)
    assert "has emergency access to this case" in case_page
    ours = client.get("/breakglass/ours")
    assert ours.status_code == 200
    html = ours.get_data(as_text=True)
    assert _code(app, case_id) in html and REASON in html and world.other.supervisor.username in html
    assert _events(app, "breakglass.list")
    assert _post(client, f"/breakglass/{grant_id}/revoke").status_code == 303
    assert "Revoked" in client.get("/breakglass/ours").get_data(as_text=True)

    with within(app), pytest.raises(NotFound):
        cases.view_case(db.session, user(world.other.supervisor), case_id)
    [event] = _events(app, "breakglass.revoke")
    assert event.actor_id == world.mine.supervisor.id and event.details["grant_id"] == grant_id


# ------------------------------------------------------------------------------ who is told, what is kept
def test_the_owning_supervisors_are_told_once_with_the_case_code_only(
    app: Flask, world: World, factory: Factory
) -> None:
    second = factory.user("supervisor", SimpleNamespace(id=world.mine.id))  # type: ignore[arg-type]
    case_id = open_case(app, world)
    code = _code(app, case_id)
    _open(app, world.other.supervisor, case_id)
    for account in (world.mine.supervisor, second):
        with within(app):
            [told] = db.session.scalars(select(Notification).where(Notification.user_id == account.id)).all()
            assert (told.kind, told.case_code, told.target_type, told.target_id) == (
                "case.breakglass",
                code,
                "case",
                case_id,
            )
            stored = " ".join(str(v) for v in (told.kind, told.case_code, told.target_type, told.dedupe_key))
            for locale in ("ar", "en"):
                with force_locale(locale):
                    words = notifications.text(told)
                assert code in words
                for secret in ("Reason-Marker", MARKER_NAME, MARKER_ID, world.other.supervisor.username):
                    assert secret not in words and secret not in stored
    with within(app):
        others = db.session.scalars(
            select(Notification).where(Notification.user_id.not_in([world.mine.supervisor.id, second.id]))
        ).all()
        assert others == []


def test_the_open_event_names_the_case_and_the_reason_is_encrypted(app: Flask, world: World) -> None:
    case_id = open_case(app, world)
    grant_id = _open(app, world.other.supervisor, case_id)
    [event] = _events(app, "breakglass.open")
    assert event.case_code == _code(app, case_id)
    assert event.actor_id == world.other.supervisor.id and event.organization_id == world.mine.id
    assert event.details["grant_id"] == grant_id and event.details["case_id"] == case_id
    assert event.details["expires_at"]
    assert "Reason-Marker" not in repr(event.details) and not (event.reason or "").count("Reason-Marker")

    with within(app):
        raw = db.session.execute(text("SELECT reason FROM breakglass_grant")).scalar_one()
        assert isinstance(raw, bytes | memoryview)
        assert b"Reason-Marker" not in bytes(raw) and "Reason-Marker".encode("utf-16-le") not in bytes(raw)
        db.session.expunge_all()
        assert db.session.get(BreakGlassGrant, grant_id).reason == REASON  # the ORM decrypts it
        dump = db.session.execute(text("SELECT * FROM audit_event")).all()
        assert "Reason-Marker" not in repr(dump)


def test_a_purged_case_keeps_who_opened_it_but_not_the_reason(app: Flask, world: World) -> None:
    from referral.cases import retention
    from tests.helpers.cases import closed_case

    closed_at = utcnow() - timedelta(days=8 * 366)
    case_id = closed_case(app, world, closed_at)
    grant_id = _open(app, world.other.supervisor, case_id)
    with within(app):
        assert retention.purge_closed_cases(db.session) == 1
        db.session.commit()
        db.session.expunge_all()
        grant = db.session.get(BreakGlassGrant, grant_id)
        assert grant.reason is None and grant.user_id == world.other.supervisor.id


def test_supervisors_find_emergency_access_in_the_navigation(client: FlaskClient, app: Flask, world: World) -> None:
    _signed_in(client, app, world.mine.supervisor)
    assert 'href="/breakglass"' in client.get("/").get_data(as_text=True)


# ------------------------------------------------------------------------------ the daily limit
def _notified(app: Flask, account: Account, kind: str) -> list[Notification]:
    with app.app_context():
        rows = list(
            db.session.scalars(
                select(Notification).where(Notification.user_id == account.id, Notification.kind == kind)
            )
        )
        db.session.expunge_all()
        return rows


def test_a_supervisor_opens_three_a_day_then_is_refused_flagged_and_the_auditors_told(
    client: FlaskClient, app: Flask, world: World
) -> None:
    assert app.config["SHABAKA_SETTINGS"].breakglass_per_day == 3
    case_ids = [open_case(app, world) for _ in range(5)]
    supervisor = world.other.supervisor
    start = utcnow()
    with time_machine.travel(start, tick=False) as clock:
        for case_id in case_ids[:3]:
            _open(app, supervisor, case_id)
            clock.shift(timedelta(hours=1))
        with app.app_context():
            with pytest.raises(breakglass.DailyLimitReached):
                breakglass.open_grant(db.session, user(supervisor), _code(app, case_ids[3]), REASON)
            db.session.rollback()

        _signed_in(client, app, supervisor)
        page = _post(client, "/breakglass", {"case_code": _code(app, case_ids[3]), "reason": REASON, "hours": "3"})
        assert page.status_code == 429
        assert "limit of emergency accesses" in page.get_data(as_text=True)
        with app.app_context():
            opened = db.session.scalar(select(func.count(BreakGlassGrant.id)))
        assert opened == 3
        [refused] = _events(app, "breakglass.refused")
        assert (refused.actor_id, refused.outcome, refused.details["limit"]) == (supervisor.id, "denied", 3)
        assert refused.case_code is None and REASON not in str(refused.details)
        with app.app_context():
            flagged = list(
                db.session.scalars(
                    select(AuditEvent.action)
                    .where(flag_condition("breakglass", start, utcnow()))
                    .order_by(AuditEvent.id)
                )
            )
        assert "breakglass.refused" in flagged
        [alert] = _notified(app, world.auditor, "breakglass.limit_reached")
        assert alert.case_code is None

        # a rolling 24 hours: the first opening leaves the window 24 hours after it was made
        clock.shift(timedelta(hours=21, minutes=1))
        _open(app, supervisor, case_ids[4])


def test_a_refusal_for_an_unknown_code_looks_like_one_for_a_real_case(
    client: FlaskClient, app: Flask, world: World
) -> None:
    case_ids = [open_case(app, world) for _ in range(4)]
    supervisor = world.other.supervisor
    for case_id in case_ids[:3]:
        _open(app, supervisor, case_id)
    _signed_in(client, app, supervisor)
    real = _post(client, "/breakglass", {"case_code": _code(app, case_ids[3]), "reason": REASON, "hours": "3"})
    unknown = _post(client, "/breakglass", {"case_code": "XXX-2026-999997", "reason": REASON, "hours": "3"})
    assert real.status_code == unknown.status_code == 429

    def body(response: Any) -> str:
        import re

        return re.sub(r'value="[^"]*"', "", response.get_data(as_text=True))

    assert body(real) == body(unknown)
    assert not _events(app, "access.denied")  # refused before any look-up
    assert len(_events(app, "breakglass.refused")) == 2
