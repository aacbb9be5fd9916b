"""No existence oracle: every route with a path parameter answers another organisation's real
object exactly as it answers an unknown id of the same shape (status, body, and every header but
X-Request-ID), so a stranger cannot learn that an id, a case code or a session exists.

The walk goes through the URL map, API and HTML, every method. The case-data routes reuse the
requests of the audit coverage walk (tests/audit/test_coverage.py), made by the same role in a
third organisation; the other routes are listed in `OTHERS` below, and a route in neither
fails the suite, naming it.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from referral.accounts import services as accounts
from referral.directory import services as directory
from referral.directory.models import Network
from referral.extensions import db
from referral.followups import notifications
from referral.runtime import runtime
from tests.conftest import Factory
from tests.helpers import plans as plan_helpers
from tests.helpers.audit import TABLE, Call, Scene, stranger_of
from tests.helpers.cases import World, user

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_CSRF = re.compile(rb'name="csrf_token" value="[^"]*"')
_CASE_CODE = re.compile(r"/([A-Z]{3})-(\d{4})-(\d{6})(?=/|$)")

# Routes with a path parameter that name no object another organisation could own, each with why.
NOT_OBJECTS: dict[tuple[str, str], str] = {
    ("static", "GET"): "the app's own files",
    ("directory.service_detail", "GET"): "the service directory is public to every signed-in user",
    ("directory.network", "GET"): "networks and their members are the public directory (listed at /networks)",
    ("directory.network", "POST"): "to anyone who may not manage members, the same public page as GET",
    (
        "directory.network_calendar",
        "GET",
    ): "a network's working days and holidays are public to its directory's readers",
    ("statistics.export", "GET"): "the path names a file format, not an object",
}


def unknown(path: str) -> str:
    """The same path with every id replaced by a fresh one, and a case code by an unused one."""
    path = _UUID.sub(lambda _m: str(uuid.uuid4()), path)
    return _CASE_CODE.sub(lambda m: f"/{m.group(1)}-{m.group(2)}-9{m.group(3)[1:]}", path)


def _network_id(s: Scene) -> str:
    with s.app.app_context():
        return str(db.session.scalar(select(Network.id).where(Network.governorate == s.world.governorate)))


def _token_of_owner(s: Scene) -> str:
    def work() -> str:
        token, _raw = accounts.issue_token(db.session, user(s.world.mine.caseworker), days=1)
        db.session.flush()
        return str(token.id)

    return str(s.run(work))


def _session_of_owner(s: Scene) -> str:
    s.client("owner")  # signed in: she has a session
    with s.app.app_context():
        return runtime().sessions.for_user(s.world.mine.caseworker.id)[0].handle


def _notification_of_owner(s: Scene) -> str:
    message = notifications.Message("followup.due", s.code, "case", s.case_id)
    return str(s.run(lambda: notifications.write_many(db.session, [([s.world.mine.caseworker.id], message)])[0].id))


def _holiday(s: Scene) -> str:
    from datetime import date

    def work() -> str:
        net = db.session.get(Network, _network_id(s))
        found = directory.add_holiday(
            db.session, user(s.world.coordinator), net, day=date(2027, 5, 1), name_ar="عيد العمال", name_en="Labour Day"
        )
        return str(found.id)

    return str(s.run(work))


def _service(s: Scene) -> str:
    from referral.directory.models import Organization

    data = directory.ServiceInput(
        name_ar="استشارة قانونية",
        name_en="Legal advice",
        sector="legal_aid",
        governorates=[s.world.governorate],
        languages=["ar"],
    )
    return str(
        s.run(
            lambda: (
                directory.create_service(
                    db.session, user(s.world.mine.org_admin), db.session.get(Organization, s.world.mine.id), data
                ).id
            )
        )
    )


# (endpoint, method) -> a request for a real object of the world's network, made by a stranger
def _release_of_world(s: Scene, submitted: bool = False) -> str:
    """A statistics release of the world's network, prepared (and submitted) by its coordinator."""
    from referral.statistics import releases, services

    with s.app.app_context():
        coordinator = user(s.world.coordinator)
        release = releases.prepare(db.session, coordinator, None, services.parse_window(None, None))
        if submitted:
            releases.submit(db.session, coordinator, release.id)
        db.session.commit()
        return str(release.id)


def _data_request_of_world(s: Scene) -> str:
    from referral.statistics import releases

    with s.app.app_context():
        row = releases.record_request(
            db.session,
            user(s.world.coordinator),
            {"received_on": "2026-11-01", "requester": "A ministry", "description": "Totals", "purpose": "Report"},
        )
        db.session.commit()
        return str(row.id)


# (an account of a third organisation, in another network, with the role the route is for).
OTHERS: dict[tuple[str, str], Callable[[Scene], Call]] = {
    ("account.end_session", "POST"): lambda s: Call(
        "third", f"/account/sessions/{_session_of_owner(s)}/end", (), method="POST"
    ),
    ("account.revoke_token", "POST"): lambda s: Call(
        "third", f"/account/tokens/{_token_of_owner(s)}/revoke", (), method="POST"
    ),
    ("admin.user_detail", "GET"): lambda s: Call("third_admin", f"/admin/users/{s.world.mine.caseworker.id}", ()),
    ("admin.user_detail", "POST"): lambda s: Call(
        "third_admin", f"/admin/users/{s.world.mine.caseworker.id}", (), method="POST", form={"role": "supervisor"}
    ),
    ("admin.user_action", "POST"): lambda s: Call(
        "third_admin", f"/admin/users/{s.world.mine.caseworker.id}/deactivate", (), method="POST"
    ),
    ("audit.case_history", "GET"): lambda s: Call("third_supervisor", f"/audit/cases/{s.code}", ()),
    ("audit.user_history", "GET"): lambda s: Call("third_supervisor", f"/audit/users/{s.world.mine.caseworker.id}", ()),
    ("directory.network_calendar", "POST"): lambda s: Call(
        "third_coordinator",
        f"/networks/{_network_id(s)}/calendar",
        (),
        method="POST",
        form={"time_zone": "Asia/Hebron"},
    ),
    ("directory.edit_network", "GET"): lambda s: Call("third_coordinator", f"/networks/{_network_id(s)}/edit", ()),
    ("directory.edit_network", "POST"): lambda s: Call(
        "third_coordinator", f"/networks/{_network_id(s)}/edit", (), method="POST", form={"name_en": "Renamed"}
    ),
    ("directory.add_holiday", "POST"): lambda s: Call(
        "third_coordinator",
        f"/networks/{_network_id(s)}/holidays",
        (),
        method="POST",
        form={"day": "2027-06-01", "name_ar": "عطلة", "name_en": "Holiday"},
    ),
    ("directory.remove_holiday", "POST"): lambda s: Call(
        "third_coordinator", f"/networks/{_network_id(s)}/holidays/{_holiday(s)}/remove", (), method="POST"
    ),
    ("directory.remove_member", "POST"): lambda s: Call(
        "third_coordinator", f"/networks/{_network_id(s)}/members/{s.world.mine.id}/remove", (), method="POST"
    ),
    ("notifications.follow", "GET"): lambda s: Call("third", f"/notifications/{_notification_of_owner(s)}", ()),
    ("directory.edit_organization", "GET"): lambda s: Call("third_admin", f"/organizations/{s.world.mine.id}/edit", ()),
    ("directory.edit_organization", "POST"): lambda s: Call(
        "third_admin", f"/organizations/{s.world.mine.id}/edit", (), method="POST", form={"name_en": "Renamed"}
    ),
    ("statistics.release", "GET"): lambda s: Call(
        "third_coordinator", f"/statistics/releases/{_release_of_world(s)}", ()
    ),
    ("statistics.release_export", "GET"): lambda s: Call(
        "third_coordinator", f"/statistics/releases/{_release_of_world(s)}/export.xlsx", ()
    ),
    ("statistics.submit", "POST"): lambda s: Call(
        "third_coordinator", f"/statistics/releases/{_release_of_world(s)}/submit", (), method="POST"
    ),
    ("statistics.publish", "POST"): lambda s: Call(
        "third_coordinator", f"/statistics/releases/{_release_of_world(s, True)}/publish", (), method="POST"
    ),
    ("statistics.decide", "POST"): lambda s: Call(
        "third_admin",
        f"/statistics/releases/{_release_of_world(s, True)}/decision",
        (),
        method="POST",
        form={"decision": "approved"},
    ),
    ("statistics.decide_request", "POST"): lambda s: Call(
        "third_coordinator", f"/statistics/requests/{_data_request_of_world(s)}/decision", (), method="POST"
    ),
    ("api.stats_release", "GET"): lambda s: Call("third", f"/api/v1/stats/releases/{_release_of_world(s)}", ()),
    ("directory.edit_service", "GET"): lambda s: Call("third_admin", f"/services/{_service(s)}/edit", ()),
    ("directory.edit_service", "POST"): lambda s: Call(
        "third_admin", f"/services/{_service(s)}/edit", (), method="POST", form={"name_en": "Renamed"}
    ),
}


# ---- network coordination: the world's network's records, asked for by another network's people
def _meeting_of_world(s: Scene) -> str:
    from tests.helpers import coordination as helpers

    return str(helpers.meeting(s.app, s.world))


def _point_of_world(s: Scene) -> str:
    from tests.helpers import coordination as helpers

    return str(helpers.action_point(s.app, s.world, _meeting_of_world(s)))


def _series_of_world(s: Scene) -> str:
    from referral.coordination import services as coordination

    data = coordination.SeriesInput("Monthly", "monthly_day", "10:00", day_of_month=3)
    net = _network_id(s)
    with s.app.app_context():
        series, _meeting = coordination.create_series(db.session, user(s.world.coordinator), net, data)
        db.session.commit()
        return str(series.id)


def _representative_of_world(s: Scene) -> str:
    from referral.coordination import services as coordination

    net = _network_id(s)
    with s.app.app_context():
        found = coordination.name_representative(
            db.session, user(s.world.mine.org_admin), net, s.world.mine.caseworker.id
        )
        db.session.commit()
        return str(found.id)


def _on_meeting(suffix: str, who: str = "third_coordinator", **extra: Any) -> Callable[[Scene], Call]:
    return lambda s: Call(who, f"/coordination/meetings/{_meeting_of_world(s)}{suffix}", (), **extra)


OTHERS.update(
    {
        ("coordination.network", "GET"): lambda s: Call(
            "third_coordinator", f"/coordination/networks/{_network_id(s)}", ()
        ),
        ("coordination.name_representative", "POST"): lambda s: Call(
            "third_admin",
            f"/coordination/networks/{_network_id(s)}/representatives",
            (),
            method="POST",
            form={"user_id": s.accounts["third_admin"].id},
        ),
        ("coordination.remove_representative", "POST"): lambda s: Call(
            "third_admin", f"/coordination/representatives/{_representative_of_world(s)}/remove", (), method="POST"
        ),
        ("coordination.create_meeting", "POST"): lambda s: Call(
            "third_coordinator",
            f"/coordination/networks/{_network_id(s)}/meetings",
            (),
            method="POST",
            form={"title": "X", "day": "2027-01-01", "local_time": "10:00", "duration_minutes": "60"},
        ),
        ("coordination.create_series", "POST"): lambda s: Call(
            "third_coordinator",
            f"/coordination/networks/{_network_id(s)}/series",
            (),
            method="POST",
            form={"title": "X"},
        ),
        ("coordination.schedule_next", "POST"): lambda s: Call(
            "third_coordinator", f"/coordination/series/{_series_of_world(s)}/next", (), method="POST"
        ),
        ("coordination.meeting", "GET"): _on_meeting(""),
        ("coordination.meeting_ics_file", "GET"): _on_meeting("/meeting.ics", "third"),
        ("coordination.add_agenda_item", "POST"): _on_meeting("/agenda", method="POST", form={"title": "X"}),
        ("coordination.send_invitations", "POST"): _on_meeting("/invitations", method="POST"),
        ("coordination.change_meeting", "POST"): _on_meeting(
            "/change", method="POST", form={"day": "2030-01-15", "local_time": "10:00", "duration_minutes": "90"}
        ),
        ("coordination.cancel_meeting", "POST"): _on_meeting("/cancel", method="POST"),
        ("coordination.respond", "POST"): _on_meeting(
            "/response", "third", method="POST", form={"response": "excused"}
        ),
        ("coordination.record_attendance", "POST"): _on_meeting(
            "/attendance", method="POST", form={"status": "absent"}
        ),
        ("coordination.name_minute_taker", "POST"): _on_meeting("/minute-taker", method="POST", form={"user_id": ""}),
        ("coordination.save_minutes", "POST"): _on_meeting("/minutes", method="POST", form={}),
        ("coordination.minutes_step", "POST"): _on_meeting("/minutes/circulate", method="POST"),
        ("coordination.comment", "POST"): _on_meeting("/comments", "third", method="POST", form={"body": "x"}),
        ("coordination.create_action_point", "POST"): _on_meeting(
            "/action-points", method="POST", form={"description": "x"}
        ),
        ("coordination.action_point", "GET"): lambda s: Call(
            "third", f"/coordination/action-points/{_point_of_world(s)}", ()
        ),
        ("coordination.update_action_point", "POST"): lambda s: Call(
            "third", f"/coordination/action-points/{_point_of_world(s)}", (), method="POST", form={}
        ),
        ("api.get_meeting", "GET"): lambda s: Call("third", f"/api/v1/meetings/{_meeting_of_world(s)}", ()),
        ("api.record_attendance", "POST"): lambda s: Call(
            "third_coordinator",
            f"/api/v1/meetings/{_meeting_of_world(s)}/attendance",
            (),
            method="POST",
            body={"organization_id": s.world.mine.id, "status": "absent"},
        ),
        ("api.create_action_point", "POST"): lambda s: Call(
            "third_coordinator",
            f"/api/v1/meetings/{_meeting_of_world(s)}/action-points",
            (),
            method="POST",
            body={
                "description": "x",
                "owner_organization_id": s.world.mine.id,
                "due_date": "2030-01-01",
                "priority": "low",
            },
        ),
        ("api.update_action_point", "PATCH"): lambda s: Call(
            "third", f"/api/v1/action-points/{_point_of_world(s)}", (), method="PATCH", body={"status": "done"}
        ),
        # the meeting pack: another network's coordinator and staff learn nothing of it
        ("meeting_pack.generate", "POST"): _on_meeting("/pack", method="POST"),
        ("meeting_pack.view", "GET"): lambda s: Call("third", f"/coordination/packs/{_pack_of_world(s)}", ()),
        ("meeting_pack.status", "GET"): lambda s: Call(
            "third_coordinator", f"/coordination/packs/{_pack_of_world(s)}/status", ()
        ),
        ("meeting_pack.download", "GET"): lambda s: Call(
            "third", f"/coordination/packs/{_pack_of_world(s)}/pack.pdf", ()
        ),
    }
)


def _overdue_referral_of_world(s: Scene) -> str:
    from datetime import timedelta

    from referral.models_base import utcnow
    from referral.referrals.models import Referral

    s.run(lambda: setattr(db.session.get(Referral, s.referral_id), "due_at", utcnow() - timedelta(hours=3)))
    return str(s.referral_id)


OTHERS[("home.remind_referral", "POST")] = lambda s: Call(
    "third_coordinator", f"/home/referrals/{_overdue_referral_of_world(s)}/remind", (), method="POST"
)


OTHERS.update(
    {
        # another organisation's admin cannot reach the confirmation page of a reset, nor make one
        ("admin.reset_mfa", "GET"): lambda s: Call(
            "third_admin", f"/admin/users/{s.world.mine.caseworker.id}/two-step-reset", ()
        ),
        ("admin.reset_mfa", "POST"): lambda s: Call(
            "third_admin",
            f"/admin/users/{s.world.mine.caseworker.id}/two-step-reset",
            (),
            method="POST",
            form={"identity_checked": "y"},
        ),
        # another network's coordinator does not see this network's overdue referral
        ("notifications.escalation_detail", "GET"): lambda s: Call(
            "third_coordinator", f"/escalations/{_overdue_referral_of_world(s)}", ()
        ),
        # nor may anyone mark another person's notification read
        ("notifications.read_one", "POST"): lambda s: Call(
            "third", f"/notifications/{_notification_of_owner(s)}/read", (), method="POST"
        ),
    }
)


def _pack_of_world(s: Scene) -> str:
    """A ready pack of a meeting of the world's network."""
    from referral.coordination import pack

    meeting_id = _meeting_of_world(s)
    pack_id = str(s.run(lambda: pack.request_pack(db.session, user(s.world.coordinator), meeting_id).id))
    s.run(lambda: pack.generate(db.session, pack_id, commit=db.session.commit))
    return pack_id


def _plan_calls() -> dict[tuple[str, str], Callable[[Scene], Call]]:
    """Another network's coordinator asks for the world's plan, its activities and their files."""

    def plan(s: Scene) -> str:
        return plan_helpers.world_plan(s.app, s.world)

    def activity(s: Scene) -> str:
        return plan_helpers.world_activity(s.app, s.world)

    who = "third_coordinator"
    return {
        ("plans.plan", "GET"): lambda s: Call(who, f"/plans/{plan(s)}", ()),
        ("plans.calendar", "GET"): lambda s: Call(who, f"/plans/{plan(s)}/calendar", ()),
        ("plans.export", "GET"): lambda s: Call(who, f"/plans/{plan(s)}/export.xlsx", ()),
        ("plans.new_activity", "GET"): lambda s: Call(who, f"/plans/{plan(s)}/activities/new", ()),
        ("plans.new_activity", "POST"): lambda s: Call(
            who, f"/plans/{plan(s)}/activities/new", (), method="POST", form={"title": "x"}
        ),
        ("plans.activity", "GET"): lambda s: Call(who, f"/plans/activities/{activity(s)}", ()),
        ("plans.edit_activity", "GET"): lambda s: Call(who, f"/plans/activities/{activity(s)}/edit", ()),
        ("plans.edit_activity", "POST"): lambda s: Call(
            who, f"/plans/activities/{activity(s)}/edit", (), method="POST", form={"title": "x"}
        ),
        ("plans.move_activity", "POST"): lambda s: Call(
            who, f"/plans/activities/{activity(s)}/status", (), method="POST", form={"status": "ongoing"}
        ),
        ("plans.record_delivery", "POST"): lambda s: Call(
            who, f"/plans/activities/{activity(s)}/delivery", (), method="POST", form={"delivered_from": "2026-01-01"}
        ),
        ("plans.download_attachment", "GET"): lambda s: Call(
            who, f"/plans/attachments/{plan_helpers.world_attachment(s.app, s.world)}", ()
        ),
    }


OTHERS.update(_plan_calls())


def routes_with_parameters(app: Flask) -> dict[tuple[str, str], str]:
    found: dict[tuple[str, str], str] = {}
    for rule in app.url_map.iter_rules():
        if rule.arguments:
            for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
                found[(rule.endpoint, method)] = rule.rule
    return found


def _answer(response: Any, path: str) -> tuple[int, bytes, list[tuple[str, str]]]:
    """Status, body and headers; a page that repeats its own address (the language switch's
    `next`) has the address taken out, since the asker typed it, and so have CSRF tokens, which
    carry the second they were signed in."""
    headers = sorted((k, v) for k, v in response.headers.items() if k != "X-Request-ID")
    body = _CSRF.sub(b'name="csrf_token" value="{csrf}"', response.get_data().replace(path.encode(), b"{path}"))
    return response.status_code, body, headers


def _calls(s: Scene, key: tuple[str, str]) -> Iterator[tuple[Call, str]]:
    """The requests of one route, each with the stranger who makes it."""
    if key in OTHERS:
        call = OTHERS[key](s)
        yield call, call.who
        return
    for build in TABLE[key]:
        call = build(s)
        yield call, stranger_of(call.who)


@pytest.fixture
def scene(app: Flask, world: World, factory: Factory) -> Iterator[Scene]:
    s = Scene(app, world, factory)
    net = factory.network()
    elsewhere = factory.organization(net)
    s.accounts["third_admin"] = factory.user("org_admin", elsewhere)
    s.accounts["third_coordinator"] = factory.user("coordinator", elsewhere, network=net)
    yield s


def test_every_route_with_a_path_parameter_is_walked(app: Flask) -> None:
    routes = routes_with_parameters(app)
    missing = sorted(
        f"{m} {e}" for e, m in routes if (e, m) not in TABLE and (e, m) not in OTHERS and (e, m) not in NOT_OBJECTS
    )
    assert not missing, f"add it to OTHERS in tests/access/test_existence_oracle.py: {missing}"


def test_a_foreign_object_and_an_unknown_id_get_the_same_answer(scene: Scene) -> None:
    problems: list[str] = []
    for key in sorted(routes_with_parameters(scene.app)):
        if key in NOT_OBJECTS:
            continue
        for call, stranger in _calls(scene, key):
            foreign = _answer(scene.perform(call, stranger), call.path)
            missing_call = Call(call.who, unknown(call.path), (), method=call.method, form=call.form, body=call.body)
            assert missing_call.path != call.path, call.path
            missing = _answer(scene.perform(missing_call, stranger), missing_call.path)
            if foreign != missing:
                label = f"{key[1]} {key[0]} ({call.path}, {stranger})"
                problems.append(
                    f"{label}: foreign {foreign[0]} {foreign[1][:160]!r} != unknown {missing[0]} {missing[1][:160]!r}"
                )
                if foreign[2] != missing[2]:
                    problems.append(f"{label}: headers {foreign[2]} != {missing[2]}")
    assert not problems, "\n".join(problems)
