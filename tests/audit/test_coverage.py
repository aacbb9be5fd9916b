"""Audit coverage: every route and service that touches case data writes its event, in the same
transaction as the action, with ids and codes only.

The walk goes through the URL map: every endpoint of a domain that holds case data must be in
`TABLE` below (what the request looks like and which event it must write), or the suite fails
naming it. A route added without an audit entry therefore fails here first.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from referral.audit.actions import ACTIONS
from referral.audit.models import AuditEvent
from referral.cases import services as cases
from referral.cases.models import Case
from referral.extensions import db
from referral.models_base import utcnow
from referral.referrals import services as referrals
from referral.referrals import transfers
from referral.referrals.models import Referral
from tests.conftest import Factory
from tests.helpers.audit import (
    PLANT,
    TABLE,
    Call,
    Scene,
    case_data_routes,
    case_form,
    refuse_audit_inserts,
    stranger_of,
)
from tests.helpers.cases import MARKER_ID, MARKER_NAME, MARKER_PHONE, World, intake, user

# Free text planted in every field a request or fixture fills: none of it may reach an event.
PLANTED = (
    MARKER_NAME,
    MARKER_ID,
    MARKER_PHONE,
    "Marker narrative",
    "Um Ahmad",
    "marker mosque",
    "1994-03-02",
    PLANT,
)
# What a request may answer when it did what it was asked (a redirect after a POST, a page, a file).
DONE = (200, 201, 303)

# Routes that show many cases at once: their event names no single case (it counts them).
LISTS = {
    "cases.index",
    "cases.approvals",
    "followups.my_day",
    "followups.team_overdue",
    "referrals.index",
    "transfers.index",
    "breakglass.index",
    "breakglass.ours",
    "api.list_cases",
    "api.search_cases",
    "api.list_referrals",
    "api.list_followups",
    "conferences.index",
}
# Routes that create what their event names (or name a case by its code): no id in the path to
# refuse to a third organisation, and a case code the walk cannot know beforehand.
CREATES = {"cases.new", "api.create_case", "api.send_referral", "breakglass.index"}


# Routes of these domains that show or change no case data, each with the reason.
NO_CASE_DATA: dict[tuple[str, str], str] = {
    ("cases.new", "GET"): "an empty intake form",
    ("conferences.new", "GET"): "an empty convening form (at most the code of a case of one's own organisation)",
}
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _case_code_of(s: Scene, path: str) -> str | None:
    """The case code of the first object the path names (case, referral, transfer, ...)."""
    from referral.access.models import BreakGlassGrant
    from referral.cases.models import CaseDocument, Consent
    from referral.followups.models import FollowUp
    from referral.referrals.models import CaseTransfer

    match = _UUID.search(path)
    if match is None:
        return None
    with s.app.app_context():
        for model in (Case, Referral, CaseTransfer, FollowUp, BreakGlassGrant):
            found = db.session.get(model, match.group(0))
            if found is not None:
                return str(found.case_code)
        for model in (CaseDocument, Consent):
            found = db.session.get(model, match.group(0))
            if found is not None:
                return str(db.session.get(Case, found.case_id).case_code)
    return None


def walk(s: Scene) -> list[str]:
    """Perform every call of the table; returns what went wrong, one line per problem."""
    problems: list[str] = []
    for (endpoint, method), builders in TABLE.items():
        for build in builders:
            call = build(s)
            assert call.method == method, (endpoint, method, call.method)
            label = f"{method} {endpoint} ({call.path}, {call.who})"
            expected_code = call.case_code or _case_code_of(s, call.path)
            if endpoint not in LISTS and endpoint not in CREATES and _UUID.search(call.path):
                refused = s.perform(call, stranger_of(call.who))
                denied = s.events(refused.headers["X-Request-ID"])
                if refused.status_code != 404:
                    problems.append(f"{label}: a third organisation got {refused.status_code}, not 404")
                if not denied or {e.action for e in denied} != {"access.denied"}:
                    problems.append(f"{label}: a third organisation's refusal wrote {[e.action for e in denied]}")
            response = s.perform(call)
            if response.status_code not in DONE:
                problems.append(f"{label}: answered {response.status_code}")
                continue
            request_id = response.headers["X-Request-ID"]
            written = s.events(request_id)
            actor_id = s.accounts[call.who].id
            if call.method == "GET" and len(written) != 1:
                problems.append(f"{label}: one page view wrote {sorted(e.action for e in written)}")
            for action in call.expect:
                if action not in ACTIONS:
                    problems.append(f"{label}: {action!r} is not in the registry")
                mine = [e for e in written if e.action == action]
                if not mine:
                    problems.append(f"{label}: no {action!r} event (wrote {[e.action for e in written]})")
                    continue
                e = mine[0]
                if e.route != endpoint or e.actor_id != actor_id or e.outcome != "success":
                    problems.append(f"{label}: {action} names {e.route}, {e.actor_id}, {e.outcome}")
                if endpoint in LISTS:
                    continue
                if expected_code is None and endpoint in CREATES:
                    if not e.case_code:
                        problems.append(f"{label}: {action} names no case code")
                elif e.case_code != expected_code:
                    problems.append(f"{label}: {action} names case {e.case_code}, not {expected_code}")
    return problems


@pytest.fixture
def scene(app: Flask, world: World, factory: Factory, monkeypatch: pytest.MonkeyPatch) -> Iterator[Scene]:
    """The walk opens many emergency accesses with one supervisor: above the daily limit."""
    shabaka = app.extensions["shabaka"]
    monkeypatch.setattr(shabaka, "settings", replace(shabaka.settings, breakglass_per_day=1000))
    yield Scene(app, world, factory)


def test_every_route_holding_case_data_is_in_the_audit_table(app: Flask) -> None:
    routes = case_data_routes(app)
    missing = sorted(f"{m} {e}" for e, m in routes if (e, m) not in TABLE and (e, m) not in NO_CASE_DATA)
    assert not missing, f"add it to the audit table (tests/audit/test_coverage.py TABLE): {missing}"
    stale = sorted(f"{m} {e}" for e, m in TABLE if (e, m) not in routes)
    assert not stale, f"no such route any more: {stale}"
    assert all(TABLE[key] for key in TABLE), "every route in the table has at least one request"


def test_every_route_writes_its_event_and_a_third_organisation_gets_a_recorded_404(scene: Scene) -> None:
    problems = walk(scene)
    assert not problems, "\n".join(problems)


def test_no_event_holds_a_planted_value(scene: Scene) -> None:
    """After the whole walk, no column of any event (details and reason included) holds any of
    the identifying or free text the requests and fixtures carried."""
    walk(scene)
    with scene.app.app_context():
        rows = list(db.session.scalars(select(AuditEvent).order_by(AuditEvent.id)))
        assert len(rows) > 100
        columns = [c.key for c in AuditEvent.__table__.columns]
        for row in rows:
            for name in columns:
                value = getattr(row, name)
                text = value.hex() if isinstance(value, bytes) else repr(value)
                for planted in PLANTED:
                    assert planted.lower() not in text.lower(), (row.action, name, planted)


# ---------------------------------------------------------------------------------- services
def _all_events(app: Flask, action: str) -> list[AuditEvent]:
    with app.app_context():
        rows = list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))
        db.session.expunge_all()
        return rows


def test_services_reached_by_no_route_write_their_events(scene: Scene) -> None:
    """Work done by scheduled jobs and inside other actions: each writes its own event, by case."""
    from referral.cases import retention
    from referral.followups import clocks
    from referral.followups.models import ReminderStep

    app, world = scene.app, scene.world
    # a transfer accepted ends the old owner's open referrals: each ending is recorded
    case_id = scene.new_case()
    code = scene.code_of(case_id)
    referral_id = scene.referral("accepted", case_id=case_id)
    transfer_id = scene.transfer(case_id)
    scene.run(
        lambda: transfers.accept(db.session, user(world.other.supervisor), transfer_id, world.other.caseworker.id)
    )
    ended = [e for e in _all_events(app, "referral.withdraw") if e.object_id == referral_id]
    assert len(ended) == 1 and ended[0].case_code == code and ended[0].details["transfer_id"] == transfer_id
    assert [e.case_code for e in _all_events(app, "case.transfer")] == [code]

    # a reminder rung delivered by the worker: who was told, about which case, once
    with app.app_context():
        step = db.session.scalars(
            select(ReminderStep).where(ReminderStep.target_id == scene.referral_id, ReminderStep.step == "half")
        ).one()
        step.due_at = utcnow() - timedelta(minutes=1)
        db.session.commit()
        step_id = step.id
    assert step_id in scene.run(lambda: clocks.sweep(db.session))
    assert scene.run(lambda: clocks.deliver(db.session, step_id)).delivered
    assert not scene.run(lambda: clocks.deliver(db.session, step_id)).delivered  # a repeat sends and records nothing
    [reminded] = _all_events(app, "followup.reminder")
    assert reminded.case_code == scene.code and reminded.actor_id is None
    assert reminded.organization_id == world.mine.id and reminded.details["recipients"] == 1

    # the retention job erasing a closed case
    with app.app_context():
        closed = db.session.get(Case, scene.other_case)
        closed.status, closed.closed_at = "closed", utcnow() - timedelta(days=9 * 366)
        closed_code = closed.case_code
        db.session.commit()
    assert scene.run(lambda: retention.purge_closed_cases(db.session, years=7)) == 1
    [purged] = _all_events(app, "case.purge")
    assert purged.case_code == closed_code and purged.organization_id == world.mine.id and purged.actor_id is None

    # a referral sent without consent on a legal basis: the override is flagged
    data = referrals.ReferralInput(
        case_id=scene.case_id,
        to_organization_id=world.other.id,
        priority="emergency",
        reason=f"threat to her life {PLANT}",
        field_groups=["contact"],
        override_legal_basis="threat_to_life",
    )
    boss = world.mine.supervisor
    scene.run(lambda: cases.add_member(db.session, user(boss), scene.case_id, boss.id))  # on the case team
    scene.run(lambda: referrals.create(db.session, user(boss), data))
    [override] = _all_events(app, "consent.override")
    assert override.case_code == scene.code and override.details["legal_basis"] == "threat_to_life"


# ---------------------------------------------------------------------------------- rollback
def test_a_refused_request_leaves_no_event(scene: Scene) -> None:
    """A request that is refused rolls back with its events; only a denial is kept on purpose,
    and a page shown again with the problem named is recorded as the view it is."""
    world = scene.world

    def written(response: Any) -> list[str]:
        return sorted(e.action for e in scene.events(response.headers["X-Request-ID"]))

    refused = scene.perform(Call("owner", "/cases/new", (), method="POST", form=case_form(scene, full_name="")))
    assert refused.status_code == 400 and written(refused) == []

    # the update is recorded, then the stale version refuses it: both go
    stale = scene.perform(
        Call(
            "owner",
            f"/api/v1/cases/{scene.case_id}",
            (),
            method="PATCH",
            body={"risk_level": "high"},
            headers={"If-Match": '"999"'},
        )
    )
    assert stale.status_code == 412 and written(stale) == []
    with scene.app.app_context():
        assert db.session.get(Case, scene.case_id).risk_level == "medium"

    late = scene.perform(
        Call(
            "receiver",
            f"/api/v1/referrals/{scene.referral_id}/accept",
            (),
            method="POST",
            body={},
            headers={"If-Match": '"999"'},
        )
    )
    assert late.status_code == 412 and written(late) == []

    # a decline without its reason: the page comes back (a view of the referral), nothing declined
    page = scene.perform(Call("receiver", f"/referrals/{scene.referral_id}/decline", (), method="POST", form={}))
    assert page.status_code == 400 and written(page) == ["referral.view"]
    with scene.app.app_context():
        assert db.session.get(Referral, scene.referral_id).state == "sent"

    # a foreign case: not found, and the denial is the only event of the request
    foreign = scene.perform(Call("third", f"/cases/{scene.case_id}", ()))
    assert foreign.status_code == 404 and written(foreign) == ["access.denied"]
    foreign_api = scene.perform(Call("third", f"/api/v1/cases/{scene.case_id}", ()))
    assert foreign_api.status_code == 404 and written(foreign_api) == ["access.denied"]
    assert world.other.id  # the receiving organisation took no part in the refusals


# ---------------------------------------------------------------------------------- the write fails
def test_if_the_event_cannot_be_written_the_action_fails(scene: Scene, app: Flask) -> None:
    # signed in and holding tokens before the store goes down (signing in is audited too)
    for who in ("owner", "receiver"):
        scene.client(who)
        scene.token(who)
    fixtures_before = {"cases": _count(app, Case), "events": _count(app, AuditEvent)}
    refused: list[str] = []

    undo = refuse_audit_inserts(refused)
    try:
        edit = scene.perform(
            Call("owner", f"/cases/{scene.case_id}/edit", (), method="POST", form=case_form(scene, risk_level="high"))
        )
        accept = scene.perform(
            Call("receiver", f"/api/v1/referrals/{scene.referral_id}/accept", (), method="POST", body={})
        )
        created = scene.perform(Call("owner", "/api/v1/cases", (), method="POST", body=intake(scene.world)))
    finally:
        undo()
    assert edit.status_code == 500 and accept.status_code == 500 and created.status_code == 500
    assert {"referral.accept", "case.create"} <= set(refused)  # the edit failed on its first event, the view
    with app.app_context():
        assert db.session.get(Case, scene.case_id).risk_level == "medium"
        referral = db.session.get(Referral, scene.referral_id)
        assert referral.state == "sent" and referral.answered_at is None
        assert [t.to_state for t in referral.transitions] == ["draft", "sent"]
    assert _count(app, Case) == fixtures_before["cases"]
    assert _count(app, AuditEvent) == fixtures_before["events"]


def _count(app: Flask, model: Any) -> int:
    with app.app_context():
        return int(db.session.scalar(select(func.count()).select_from(model)) or 0)
