"""Audit coverage outside the case file: every route that changes something or exports something
writes its event in the same transaction as the change, with ids and codes only.

The walk goes through the URL map. Every route outside the case-data domains (those are walked
by `test_coverage.py`) that answers POST, PUT, PATCH or DELETE is in `TABLE` (the request and
the events it must write, exactly) or in `NOT_AUDITED` (with the reason); every GET outside them
is either an export, in `TABLE`, or a page named in `READS`. A new route fails here until it is
placed. The key commands of the command line (`flask keys ...`) are checked the same way.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from config import Settings
from referral.accounts import services as accounts
from referral.accounts.models import ApiToken, User
from referral.audit.actions import ACTIONS
from referral.audit.models import AuditEvent
from referral.directory import services as directory
from referral.directory.models import Network, NetworkHoliday, Organization
from referral.extensions import db
from referral.models_base import utcnow
from referral.runtime import runtime
from referral.security import rotation
from referral.security.models import DataKey
from tests.conftest import Account, Factory, csrf, password_step, sign_in
from tests.helpers import plans as plan_helpers
from tests.helpers.audit import case_data_routes, refuse_audit_inserts, request_events
from tests.helpers.cases import World, user
from tests.helpers.directory import make_service

# Free text planted in every field a request fills (names, labels, descriptions, passwords,
# e-mail addresses, usernames): none of it may reach an event. Lower case, so that it also fits
# in a username.
PLANT = "planted-hq7"
# What a request may answer when it did what it was asked (a redirect after a POST, a page, a file).
DONE = (200, 201, 302, 303)
CHANGES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def outside_case_data(app: Flask) -> dict[tuple[str, str], str]:
    """(endpoint, method) -> rule, for every route that `test_coverage.py` does not walk."""
    walked = case_data_routes(app)
    found: dict[tuple[str, str], str] = {}
    for rule in app.url_map.iter_rules():
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            if (rule.endpoint, method) not in walked:
                found[(rule.endpoint, method)] = rule.rule
    return found


# ---------------------------------------------------------------------------------- the scene
@dataclass
class Call:
    """One request, who makes it, and the events it must write (exactly these, no others)."""

    who: str | None  # the actor every event must name; None: nobody is signed in
    path: str
    expect: tuple[str, ...]
    method: str = "POST"
    form: dict[str, Any] | None = None
    outcome: str = "success"
    web: FlaskClient | None = None  # a client the builder prepared (half-way through signing in, say)
    csrf_page: str = "/account/"  # where a prepared client takes its CSRF token
    mimetype: str | None = None  # what an export must answer with
    typed: tuple[str, ...] = ()  # further values typed in (passwords): in no event either
    body: dict[str, Any] | None = None  # JSON for an API call


class Scene:
    """The staff of `world`, signed-in clients and API tokens by role, and fresh accounts for
    the requests that change an account (each change gets its own, so nothing depends on order)."""

    def __init__(self, app: Flask, world: World, factory: Factory) -> None:
        self.app, self.world, self.factory = app, world, factory
        self.accounts: dict[str, Account] = {
            "caseworker": world.mine.caseworker,
            "org_admin": world.mine.org_admin,
            "coordinator": world.coordinator,
            "auditor": world.auditor,
            "sysadmin": world.sysadmin,
        }
        with app.app_context():
            self.network_id = str(db.session.scalar(select(Network.id).where(Network.governorate == world.governorate)))
        self._clients: dict[str, tuple[FlaskClient, str]] = {}
        self._tokens: dict[str, str] = {}
        self._n = 0

    def next(self) -> int:
        self._n += 1
        return self._n

    def detached(self, model: Any, key: str) -> Any:
        """A row loaded and let go of, to hand to the factory."""
        with self.app.app_context():
            found = db.session.get(model, key)
            db.session.expunge(found)
            return found

    def run(self, work: Callable[[], Any]) -> Any:
        with self.app.app_context():
            done = work()
            db.session.commit()
            return done

    # ------------------------------------------------------------------ accounts
    def fresh(self, role: str = "caseworker", *, email: bool = False, **options: Any) -> str:
        """A new account of `mine` (its key in `accounts`)."""
        account = self.factory.user(role, self.detached(Organization, self.world.mine.id), **options)
        key = f"{role}-{self.next()}"
        self.accounts[key] = account
        if email:
            self.run(lambda: setattr(user(account), "email", f"{key}@example.org"))
        return key

    def client(self, who: str) -> tuple[FlaskClient, str]:
        """The shared client signed in as `who`, and its CSRF token."""
        if who not in self._clients:
            web = self.signed_in(who)
            self._clients[who] = (web, csrf(web, "/account/"))
        return self._clients[who]

    def signed_in(self, who: str) -> FlaskClient:
        """A new client signed in as `who`, for a request that changes her own session."""
        web = self.app.test_client()
        sign_in(web, self.app, self.accounts[who])
        return web

    def half_signed_in(self, who: str) -> FlaskClient:
        """A new client past the password, before the second factor."""
        web = self.app.test_client()
        account = self.accounts[who]
        assert password_step(web, account.username, account.password).status_code == 302
        return web

    def token(self, who: str) -> str:
        if who not in self._tokens:
            _, raw = self.run(lambda: accounts.issue_token(db.session, user(self.accounts[who]), days=1))
            self._tokens[who] = raw
        return str(self._tokens[who])

    # ------------------------------------------------------------------ requests
    def perform(self, call: Call) -> Any:
        if call.path.startswith("/api/"):
            assert call.who is not None
            headers = {"Authorization": f"Bearer {self.token(call.who)}"}
            return self.app.test_client().open(call.path, method=call.method, headers=headers, json=call.body)
        if call.web is not None:
            web = call.web
            token = csrf(web, call.csrf_page) if call.method != "GET" else ""
        else:
            assert call.who is not None
            web, token = self.client(call.who)
        if call.method == "GET":
            return web.get(call.path)
        return web.open(call.path, method=call.method, data={"csrf_token": token, **(call.form or {})})

    def events(self, request_id: str) -> list[AuditEvent]:
        return request_events(self.app, request_id)


# ---------------------------------------------------------------------------------- the table
Builder = Callable[[Scene], Call]


def _wrong_password(s: Scene) -> Call:
    who = s.fresh()
    form = {"username": s.accounts[who].username, "password": f"not-her-password {PLANT}"}
    return Call(
        who,
        "/login",
        ("auth.login_failed",),
        form=form,
        outcome="failure",
        web=s.app.test_client(),
        csrf_page="/login",
    )


def _password_step(s: Scene) -> Call:
    who = s.fresh()
    account = s.accounts[who]
    form = {"username": account.username, "password": account.password}
    # The first factor alone signs no one in and changes nothing: the sign-in is written when the
    # second factor passes (below); a wrong password is written as `auth.login_failed` (above).
    return Call(who, "/login", (), form=form, web=s.app.test_client(), csrf_page="/login", typed=(account.password,))


def _second_factor(s: Scene) -> Call:
    who = s.fresh()
    web = s.half_signed_in(who)
    return Call(
        who,
        "/login/mfa",
        ("auth.mfa_verified", "auth.login"),
        form={"code": s.accounts[who].totp()},
        web=web,
        csrf_page="/login/mfa",
    )


def _recovery_code(s: Scene) -> Call:
    who = s.fresh()
    codes = s.run(lambda: accounts.regenerate_recovery_codes(db.session, runtime(), user(s.accounts[who])))
    web = s.half_signed_in(who)
    return Call(
        who,
        "/login/mfa",
        ("auth.recovery_code_used", "auth.login"),
        form={"code": codes[0]},
        web=web,
        csrf_page="/login/mfa",
    )


def _enrolment(s: Scene) -> Call:
    who = s.fresh(enrolled=False)
    web = s.half_signed_in(who)
    page = web.get("/login/mfa/enrol").get_data(as_text=True)
    secret = re.search(r'data-testid="totp-secret">([A-Z2-7 ]+)<', page).group(1).replace(" ", "")  # type: ignore[union-attr]
    return Call(
        who,
        "/login/mfa/enrol",
        ("auth.mfa_enrolled", "auth.login"),
        form={"code": pyotp.TOTP(secret).now()},
        web=web,
        csrf_page="/login/mfa/enrol",
    )


def _logout(s: Scene) -> Call:
    who = s.fresh()
    return Call(who, "/logout", ("auth.logout",), web=s.signed_in(who))


def _locale(s: Scene) -> Call:
    who = s.fresh()  # her locale is Arabic
    return Call(
        who, "/locale", ("user.locale_change",), form={"locale": "en", "next": "/account/"}, web=s.signed_in(who)
    )


def _anonymous_locale(s: Scene) -> Call:
    # Before signing in the language lives in the browser's session only: no account changes.
    return Call(
        None, "/locale", (), form={"locale": "en", "next": "/login"}, web=s.app.test_client(), csrf_page="/login"
    )


def _email_notifications(s: Scene) -> Call:
    who = s.fresh(email=True)
    return Call(who, "/account/notifications", ("user.notification_preference",), form={"notify_by_email": "y"})


def _time_zone(s: Scene) -> Call:
    return Call(s.fresh(), "/account/time-zone", ("user.time_zone_change",), form={"time_zone": "Europe/Berlin"})


def _end_own_session(s: Scene) -> Call:
    who = s.fresh()
    s.signed_in(who)  # her other device
    with s.app.app_context():
        [other] = runtime().sessions.for_user(s.accounts[who].id)
    return Call(who, f"/account/sessions/{other.handle}/end", ("auth.session_ended",), web=s.signed_in(who))


def _issue_token(s: Scene) -> Call:
    return Call(
        "caseworker", "/account/tokens", ("token.issue",), form={"label": f"clinic laptop {PLANT}", "days": "30"}
    )


def _revoke_token(s: Scene) -> Call:
    def issue() -> str:
        token, _ = accounts.issue_token(db.session, user(s.accounts["caseworker"]), days=5, label=f"old phone {PLANT}")
        return str(token.id)

    return Call("caseworker", f"/account/tokens/{s.run(issue)}/revoke", ("token.revoke",))


def _new_recovery_codes(s: Scene) -> Call:
    # Replacing the recovery codes is recorded as an enrolment of the second factor, with
    # `recovery_codes_replaced` in its details.
    return Call(s.fresh(), "/account/recovery-codes", ("auth.mfa_enrolled",))


def _change_password(s: Scene) -> Call:
    who = s.fresh()
    new = f"{PLANT} amber-lighthouse-meadow-quietly"
    form = {"current_password": s.accounts[who].password, "new_password": new, "confirm_password": new}
    return Call(
        who,
        "/account/password",
        ("auth.password_changed",),
        form=form,
        web=s.signed_in(who),
        typed=(new, s.accounts[who].password),
    )


def _new_user(s: Scene) -> Call:
    n = s.next()
    form = {
        "username": f"{PLANT}.worker{n}",
        "email": f"{PLANT}.{n}@example.org",
        "organization_id": s.world.mine.id,
        "role": "caseworker",
        "network_id": "",
    }
    return Call("org_admin", "/admin/users/new", ("user.create",), form=form)


def _new_coordinator(s: Scene) -> Call:
    n = s.next()
    form = {
        "username": f"{PLANT}.coordinator{n}",
        "email": "",
        "organization_id": s.world.mine.id,
        "role": "coordinator",
        "network_id": s.network_id,
    }
    return Call("sysadmin", "/admin/users/new", ("user.create",), form=form)


def _role_change(s: Scene) -> Call:
    target = s.accounts[s.fresh()].id
    return Call("org_admin", f"/admin/users/{target}", ("user.role_change",), form={"role-role": "supervisor"})


def _user_action(action: str, expect: str, *, inactive: bool = False) -> Builder:
    def build(s: Scene) -> Call:
        target = s.fresh()
        if inactive:
            s.run(lambda: accounts.deactivate(db.session, runtime(), None, user(s.accounts[target])))
        return Call("org_admin", f"/admin/users/{s.accounts[target].id}/{action}", (expect,))

    return build


def _mfa_reset(s: Scene) -> Call:
    target = s.accounts[s.fresh()].id
    path = f"/admin/users/{target}/two-step-reset"
    return Call("org_admin", path, ("user.mfa_reset",), form={"identity_checked": "y"})


def _network_form(s: Scene) -> dict[str, str]:
    n = s.next()
    prefix = "Z" + chr(65 + n // 26 % 26) + chr(65 + n % 26)
    return {
        "governorate": f"gov_z{prefix.lower()}",
        "case_prefix": prefix,
        "name_ar": f"شبكة {PLANT} {n}",
        "name_en": f"Network {PLANT} {n}",
    }


def _edit_network(s: Scene) -> Call:
    net = s.factory.network()
    n = s.next()
    form = {"name_ar": f"شبكة {PLANT} {n}", "name_en": f"Network {PLANT} {n}", "active": "y"}
    return Call("sysadmin", f"/networks/{net.id}/edit", ("network.update",), form=form)


def _add_member(s: Scene) -> Call:
    outsider = s.factory.organization(s.factory.network())
    return Call(
        "coordinator", f"/networks/{s.network_id}", ("membership.add",), form={"member-organization_id": outsider.id}
    )


def _remove_member(s: Scene) -> Call:
    member = s.factory.organization(s.detached(Network, s.network_id))
    return Call("coordinator", f"/networks/{s.network_id}/members/{member.id}/remove", ("membership.remove",))


def _calendar(s: Scene) -> Call:
    form = {"calendar-weekend_days": ["4", "5"], "calendar-time_zone": "Asia/Hebron"}
    return Call("coordinator", f"/networks/{s.network_id}/calendar", ("network.calendar_update",), form=form)


def _holiday_day(s: Scene) -> date:
    n = s.next()
    return date(2030, 1 + n % 12, 1 + n % 28)


def _add_holiday(s: Scene) -> Call:
    form = {
        "holiday-day": _holiday_day(s).isoformat(),
        "holiday-name_ar": f"عيد {PLANT}",
        "holiday-name_en": f"Feast {PLANT}",
    }
    return Call("coordinator", f"/networks/{s.network_id}/holidays", ("network.holiday_add",), form=form)


def _remove_holiday(s: Scene) -> Call:
    day = _holiday_day(s)

    def add() -> str:
        net = db.session.get(Network, s.network_id)
        return str(directory.add_holiday(db.session, None, net, day=day, name_ar=f"عيد {PLANT}", name_en="Feast").id)

    holiday_id = s.run(add)
    return Call("coordinator", f"/networks/{s.network_id}/holidays/{holiday_id}/remove", ("network.holiday_remove",))


def _organization_form(s: Scene) -> dict[str, Any]:
    n = s.next()
    return {
        "name_ar": f"منظمة {PLANT} {n}",
        "name_en": f"Organisation {PLANT} {n}",
        "kind": "civil",
        "sectors": ["legal_aid", "health"],
        "governorates": [s.world.governorate],
        "accepts_referrals": "y",
        "active": "y",
    }


def _edit_organization(s: Scene) -> Call:
    org = s.factory.organization(s.factory.network())
    return Call("sysadmin", f"/organizations/{org.id}/edit", ("organization.update",), form=_organization_form(s))


def _edit_own_entry(s: Scene) -> Call:
    form = {k: v for k, v in _organization_form(s).items() if k not in ("kind", "active")}
    form.update(description_en=f"What we do {PLANT}", phone="+970 2 274 1234", email=f"{PLANT}@example.org")
    return Call("org_admin", f"/organizations/{s.world.mine.id}/edit", ("organization.update",), form=form)


def _service_form(s: Scene) -> dict[str, Any]:
    return {
        "name_ar": f"خدمة {PLANT}",
        "name_en": f"Legal clinic {PLANT}",
        "description_ar": f"وصف {PLANT}",
        "description_en": f"What it does {PLANT}",
        "sector": "legal_aid",
        "governorates": [s.world.governorate],
        "languages": ["ar", "en"],
        "eligibility": f"Women {PLANT}",
        "opening_hours": f"Sun-Thu 9-3 {PLANT}",
        "capacity_status": "available",
        "accepting_referrals": "y",
        "front_door": f"Call the desk {PLANT}",
        "address": f"Main street {PLANT}",
        "focal_points-0-name": f"Rana {PLANT}",
        "focal_points-0-role": f"Lawyer {PLANT}",
        "focal_points-0-phone": "+970 59 000 0000",
        "focal_points-0-email": f"{PLANT}@example.org",
        "active": "y",
    }


def _edit_service(s: Scene) -> Call:
    service_id = make_service(s.app, s.detached(Organization, s.world.mine.id))
    return Call("org_admin", f"/services/{service_id}/edit", ("service.update",), form=_service_form(s))


# (endpoint, method) -> the requests that exercise it and the events each must write, exactly.
TABLE: dict[tuple[str, str], list[Builder]] = {
    # ---- signing in and out
    ("auth.login", "POST"): [_password_step, _wrong_password],
    ("auth.mfa", "POST"): [_second_factor, _recovery_code],
    ("auth.mfa_enrol", "POST"): [_enrolment],
    ("auth.logout", "POST"): [_logout],
    ("auth.set_locale", "POST"): [_locale, _anonymous_locale],
    # ---- one's own account
    ("account.password", "POST"): [_change_password],
    ("account.email_notifications", "POST"): [_email_notifications],
    ("account.time_zone", "POST"): [_time_zone],
    ("account.end_session", "POST"): [_end_own_session],
    ("account.new_recovery_codes", "POST"): [_new_recovery_codes],
    ("account.issue_token", "POST"): [_issue_token],
    ("account.revoke_token", "POST"): [_revoke_token],
    # ---- administration of accounts
    ("admin.new_user", "POST"): [_new_user, _new_coordinator],
    ("admin.user_detail", "POST"): [_role_change],
    ("admin.reset_mfa", "POST"): [_mfa_reset],
    ("admin.user_action", "POST"): [
        _user_action("deactivate", "user.deactivate"),
        _user_action("reactivate", "user.reactivate", inactive=True),
        _user_action("end-sessions", "user.sessions_ended"),
        _user_action("reset-password", "user.password_reset"),
    ],
    # ---- networks, calendars, organisations, membership, the directory's services
    ("directory.new_network", "POST"): [
        lambda s: Call("sysadmin", "/networks/new", ("network.create",), form=_network_form(s))
    ],
    ("directory.edit_network", "POST"): [_edit_network],
    ("directory.network", "POST"): [_add_member],
    ("directory.remove_member", "POST"): [_remove_member],
    ("directory.network_calendar", "POST"): [_calendar],
    ("directory.add_holiday", "POST"): [_add_holiday],
    ("directory.remove_holiday", "POST"): [_remove_holiday],
    ("directory.new_organization", "POST"): [
        lambda s: Call("sysadmin", "/organizations/new", ("organization.create",), form=_organization_form(s))
    ],
    ("directory.edit_organization", "POST"): [_edit_organization, _edit_own_entry],
    ("directory.new_service", "POST"): [
        lambda s: Call(
            "org_admin",
            "/services/new",
            ("service.create",),
            form={"organization_id": s.world.mine.id, **_service_form(s)},
        )
    ],
    ("directory.edit_service", "POST"): [_edit_service],
    # ---- the audit trail: the CSV export, and "verify now"
    ("audit.export_csv", "POST"): [
        lambda s: Call(
            "auditor",
            "/audit/export",
            ("audit.export",),
            form={"action": "user.*", "user": s.accounts["org_admin"].username},
            mimetype="text/csv",
        )
    ],
    ("audit.verify", "POST"): [lambda s: Call("auditor", "/audit/verify", ("audit.verify",))],
    # ---- exports through the API (GET): the trail as JSON, its checkpoints, the whole directory
    ("api.audit_events", "GET"): [
        lambda s: Call(
            "auditor",
            "/api/v1/audit/events?action=user.*",
            ("audit.search",),
            method="GET",
            mimetype="application/json",
        )
    ],
    ("api.audit_checkpoints", "GET"): [
        lambda s: Call(
            "auditor", "/api/v1/audit/checkpoints", ("audit.checkpoints",), method="GET", mimetype="application/json"
        )
    ],
    ("api.directory_hsds", "GET"): [
        lambda s: Call(
            "caseworker", "/api/v1/directory/hsds", ("directory.export",), method="GET", mimetype="application/json"
        )
    ],
}


# ---- statistics: releases through their steps, the register of requests, exports of numbers
def _release(s: Scene, state: str = "draft") -> str:
    """A release of the world's network for this year, brought to `state` through the services."""
    from referral.statistics import releases, services

    def work() -> str:
        coordinator = user(s.accounts["coordinator"])
        release = releases.prepare(db.session, coordinator, None, services.parse_window(None, None))
        if state in ("in_review", "approved", "published"):
            releases.submit(db.session, coordinator, release.id)
        if state in ("approved", "published"):
            for admin in (s.world.mine.org_admin, s.world.other.org_admin):
                releases.decide(db.session, user(admin), release.id, "approved")
        if state == "published":
            releases.publish(db.session, coordinator, release.id)
        return str(release.id)

    return str(s.run(work))


def _data_request(s: Scene) -> str:
    from referral.statistics import releases

    return str(
        s.run(
            lambda: (
                releases.record_request(
                    db.session,
                    user(s.accounts["coordinator"]),
                    {
                        "received_on": "2026-11-01",
                        "requester": "A ministry",
                        "description": "Totals",
                        "purpose": "Report",
                    },
                ).id
            )
        )
    )


def _decide_request(s: Scene) -> Call:
    request_id = _data_request(s)
    prefix = f"r{request_id[:8]}"
    form = {f"{prefix}-decision": "refused", f"{prefix}-release_id": "", f"{prefix}-decision_note": PLANT}
    return Call("coordinator", f"/statistics/requests/{request_id}/decision", ("statistics.request_decide",), form=form)


TABLE.update(
    {
        ("statistics.prepare", "POST"): [
            lambda s: Call(
                "coordinator",
                "/statistics/releases",
                ("statistics.release_prepare",),
                form={"period_from": "2026-01", "period_to": "2026-06"},
            )
        ],
        ("statistics.submit", "POST"): [
            lambda s: Call("coordinator", f"/statistics/releases/{_release(s)}/submit", ("statistics.release_submit",))
        ],
        ("statistics.decide", "POST"): [
            lambda s: Call(
                "org_admin",
                f"/statistics/releases/{_release(s, 'in_review')}/decision",
                ("statistics.release_refuse",),
                form={"decision": "refused", "note": f"Not yet {PLANT}"},
            )
        ],
        ("statistics.publish", "POST"): [
            lambda s: Call(
                "coordinator",
                f"/statistics/releases/{_release(s, 'approved')}/publish",
                ("statistics.release_publish",),
            )
        ],
        ("statistics.record_request", "POST"): [
            lambda s: Call(
                "coordinator",
                "/statistics/requests",
                ("statistics.request_record",),
                form={"received_on": "2026-11-02", "requester": "A donor", "description": PLANT, "purpose": "Report"},
            )
        ],
        ("statistics.decide_request", "POST"): [_decide_request],
        ("statistics.export", "GET"): [
            lambda s: Call(
                "coordinator", "/statistics/export.csv", ("statistics.export",), method="GET", mimetype="text/csv"
            )
        ],
        ("statistics.release_export", "GET"): [
            lambda s: Call(
                "caseworker",
                f"/statistics/releases/{_release(s, 'published')}/export.xlsx",
                ("statistics.release_export",),
                method="GET",
                mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            )
        ],
        ("api.stats_summary", "GET"): [
            lambda s: Call(
                "coordinator", "/api/v1/stats/summary", ("statistics.view",), method="GET", mimetype="application/json"
            )
        ],
        ("api.stats_release", "GET"): [
            lambda s: Call(
                "caseworker",
                f"/api/v1/stats/releases/{_release(s, 'published')}",
                ("statistics.release_view",),
                method="GET",
                mimetype="application/json",
            )
        ],
    }
)


# ---- network coordination: representatives, meetings, minutes, action points
def _coordination_meeting(s: Scene, *, represented: bool = False, circulated: bool = False) -> str:
    from tests.helpers import coordination as helpers

    if represented:
        helpers.name_representatives(s.app, s.world)
    meeting_id = helpers.meeting(s.app, s.world)
    if circulated:
        helpers.attended(s.app, s.world, meeting_id)
        from referral.coordination import services as coordination

        s.run(lambda: coordination.circulate_minutes(db.session, user(s.accounts["coordinator"]), meeting_id))
    return meeting_id


def _in_days(days: int) -> str:
    from datetime import date, timedelta

    return (date.today() + timedelta(days=days)).isoformat()


def _upcoming_meeting(s: Scene) -> str:
    from tests.helpers import coordination as helpers

    return helpers.meeting(s.app, s.world, days=5)


def _coordination_item(s: Scene, meeting_id: str) -> str:
    from referral.coordination.models import Meeting

    with s.app.app_context():
        return str(db.session.get(Meeting, meeting_id).items[1].id)


def _coordination_point(s: Scene) -> str:
    from tests.helpers import coordination as helpers

    return str(helpers.action_point(s.app, s.world, _coordination_meeting(s), description=f"Map {PLANT}"))


def _coordination_series(s: Scene) -> str:
    from referral.coordination import services as coordination

    data = coordination.SeriesInput("Monthly", "monthly_weekday", "10:00", week_of_month=2, weekday=0)
    return str(
        s.run(lambda: coordination.create_series(db.session, user(s.accounts["coordinator"]), s.network_id, data)[0].id)
    )


def _coordination_representative(s: Scene) -> str:
    from referral.coordination import services as coordination

    return str(
        s.run(
            lambda: (
                coordination.name_representative(
                    db.session, user(s.accounts["org_admin"]), s.network_id, s.accounts["caseworker"].id
                ).id
            )
        )
    )


def _ap_update(s: Scene) -> Call:
    point = _coordination_point(s)
    form = {f"p{point[:8]}-status": "in_progress", f"p{point[:8]}-note": PLANT}
    return Call("caseworker", f"/coordination/action-points/{point}", ("action_point.update",), form=form)


_MEETING_FORM = {
    "title": f"Monthly {PLANT}",
    "day": "2027-01-12",
    "local_time": "10:00",
    "duration_minutes": "90",
    "place": PLANT,
    "agenda": f"Challenges {PLANT} | 20 | Legal aid",
}
TABLE.update(
    {
        ("coordination.name_representative", "POST"): [
            lambda s: Call(
                "org_admin",
                f"/coordination/networks/{s.network_id}/representatives",
                ("representative.add",),
                form={"user_id": s.accounts["caseworker"].id},
            )
        ],
        ("coordination.remove_representative", "POST"): [
            lambda s: Call(
                "org_admin",
                f"/coordination/representatives/{_coordination_representative(s)}/remove",
                ("representative.remove",),
            )
        ],
        ("coordination.create_meeting", "POST"): [
            lambda s: Call(
                "coordinator",
                f"/coordination/networks/{s.network_id}/meetings",
                ("meeting.create", "meeting.invite"),
                form=_MEETING_FORM,
            )
        ],
        ("coordination.create_series", "POST"): [
            lambda s: Call(
                "coordinator",
                f"/coordination/networks/{s.network_id}/series",
                ("meeting.series_create", "meeting.create", "meeting.invite"),
                form={
                    "title": f"Monthly {PLANT}",
                    "recurrence": "monthly_day",
                    "day_of_month": "15",
                    "local_time": "10:00",
                    "duration_minutes": "120",
                },
            )
        ],
        ("coordination.schedule_next", "POST"): [
            lambda s: Call(
                "coordinator",
                f"/coordination/series/{_coordination_series(s)}/next",
                ("meeting.create", "meeting.invite"),
            )
        ],
        ("coordination.add_agenda_item", "POST"): [
            lambda s: Call(
                "coordinator",
                f"/coordination/meetings/{_coordination_meeting(s)}/agenda",
                ("meeting.agenda",),
                form={"title": f"Plans {PLANT}", "minutes": "15", "presenter": PLANT},
            )
        ],
        ("coordination.change_meeting", "POST"): [
            lambda s: Call(
                "coordinator",
                f"/coordination/meetings/{_upcoming_meeting(s)}/change",
                ("meeting.change",),
                form={"day": _in_days(10), "local_time": "10:00", "duration_minutes": "90", "place": PLANT},
            )
        ],
        ("coordination.cancel_meeting", "POST"): [
            lambda s: Call("coordinator", f"/coordination/meetings/{_upcoming_meeting(s)}/cancel", ("meeting.cancel",))
        ],
        ("coordination.send_invitations", "POST"): [
            lambda s: Call(
                "coordinator", f"/coordination/meetings/{_coordination_meeting(s)}/invitations", ("meeting.invite",)
            )
        ],
        ("coordination.respond", "POST"): [
            lambda s: Call(
                "caseworker",
                f"/coordination/meetings/{_coordination_meeting(s, represented=True)}/response",
                ("meeting.respond",),
                form={"response": "delegating", "delegate_name": PLANT},
            )
        ],
        ("coordination.record_attendance", "POST"): [
            lambda s: Call(
                "coordinator",
                f"/coordination/meetings/{_coordination_meeting(s)}/attendance",
                ("attendance.record",),
                form={"organization_id": s.world.mine.id, "status": "attended", "representative": PLANT, "role": PLANT},
            )
        ],
        ("coordination.name_minute_taker", "POST"): [
            lambda s: Call(
                "coordinator",
                f"/coordination/meetings/{_coordination_meeting(s)}/minute-taker",
                ("minutes.taker",),
                form={"user_id": ""},
            )
        ],
        ("coordination.save_minutes", "POST"): [
            lambda s: (
                lambda m: Call(
                    "coordinator",
                    f"/coordination/meetings/{m}/minutes",
                    ("minutes.edit",),
                    form={
                        f"discussion-{_coordination_item(s, m)}": PLANT,
                        f"decisions-{_coordination_item(s, m)}": PLANT,
                    },
                )
            )(_coordination_meeting(s))
        ],
        ("coordination.minutes_step", "POST"): [
            lambda s: Call(
                "coordinator",
                f"/coordination/meetings/{_coordination_meeting(s)}/minutes/circulate",
                ("minutes.circulate",),
            )
        ],
        ("coordination.comment", "POST"): [
            lambda s: Call(
                "caseworker",
                f"/coordination/meetings/{_coordination_meeting(s, represented=True, circulated=True)}/comments",
                ("minutes.comment",),
                form={"body": PLANT},
            )
        ],
        ("coordination.create_action_point", "POST"): [
            lambda s: Call(
                "coordinator",
                f"/coordination/meetings/{_coordination_meeting(s)}/action-points",
                ("action_point.create",),
                form={
                    "description": PLANT,
                    "owner_organization_id": s.world.mine.id,
                    "due_date": "2030-01-01",
                    "priority": "high",
                },
            )
        ],
        ("coordination.update_action_point", "POST"): [_ap_update],
        ("coordination.meeting_ics_file", "GET"): [
            lambda s: Call(
                "coordinator",
                f"/coordination/meetings/{_coordination_meeting(s)}/meeting.ics",
                ("meeting.ics",),
                method="GET",
                mimetype="text/calendar",
            )
        ],
        ("api.create_meeting", "POST"): [
            lambda s: Call(
                "coordinator",
                "/api/v1/meetings",
                ("meeting.create", "meeting.invite"),
                body={
                    "network": s.world.governorate,
                    "title": f"Monthly {PLANT}",
                    "starts_at": "2027-02-01T08:00:00Z",
                    "agenda": [{"title": PLANT, "minutes": 10}],
                },
            )
        ],
        ("api.record_attendance", "POST"): [
            lambda s: Call(
                "coordinator",
                f"/api/v1/meetings/{_coordination_meeting(s)}/attendance",
                ("attendance.record",),
                body={"organization_id": s.world.mine.id, "status": "absent"},
            )
        ],
        ("api.create_action_point", "POST"): [
            lambda s: Call(
                "coordinator",
                f"/api/v1/meetings/{_coordination_meeting(s)}/action-points",
                ("action_point.create",),
                body={
                    "description": PLANT,
                    "owner_organization_id": s.world.mine.id,
                    "due_date": "2030-01-01",
                    "priority": "low",
                },
            )
        ],
        ("api.update_action_point", "PATCH"): [
            lambda s: Call(
                "caseworker",
                f"/api/v1/action-points/{_coordination_point(s)}",
                ("action_point.update",),
                method="PATCH",
                body={"status": "done", "note": PLANT},
            )
        ],
        # the meeting pack: asked for by the coordinator, downloaded by a member (an export)
        ("meeting_pack.generate", "POST"): [
            lambda s: Call(
                "coordinator", f"/coordination/meetings/{_coordination_meeting(s)}/pack", ("meeting_pack.generate",)
            )
        ],
        ("meeting_pack.download", "GET"): [
            lambda s, lang=lang: Call(
                "caseworker",
                f"/coordination/packs/{_coordination_pack(s)}/pack.pdf?lang={lang}",
                ("meeting_pack.download",),
                method="GET",
                mimetype="application/pdf",
            )
            for lang in ("ar", "en")
        ],
    }
)


def _coordination_pack(s: Scene) -> str:
    """A ready pack of a meeting of the world's network (its agenda carrying planted text)."""
    from referral.coordination import pack
    from referral.coordination import services as coordination

    meeting_id = _coordination_meeting(s)
    s.run(
        lambda: coordination.add_agenda_item(
            db.session, user(s.accounts["coordinator"]), meeting_id, coordination.AgendaInput(PLANT, 5, PLANT)
        )
    )
    pack_id = str(s.run(lambda: pack.request_pack(db.session, user(s.accounts["coordinator"]), meeting_id).id))
    s.run(lambda: pack.generate(db.session, pack_id, commit=db.session.commit))
    return pack_id


# ---- activity plans: every read, change and export of a plan writes its events
def _plan_call(s: Scene, who: str, path: str, expect: tuple[str, ...], **options: Any) -> Call:
    s.accounts.setdefault("supervisor", s.world.mine.supervisor)
    return Call(who, path, expect, **options)


def _activity_form(s: Scene) -> dict[str, Any]:
    return {
        "title": f"Training {PLANT}",
        "activity_type": "training",
        "responsible_organization_id": s.world.mine.id,
        "partner_organization_ids": [s.world.other.id],
        "planned_start": f"{plan_helpers.YEAR}-04-01",
        "planned_end": f"{plan_helpers.YEAR}-04-02",
        "governorate": s.world.governorate,
        "target_sectors": ["health"],
        "target_participants": "10",
        "decision_ref": PLANT,
    }


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
TABLE.update(
    {
        ("plans.index", "GET"): [lambda s: Call("caseworker", "/plans", ("plan.list",), method="GET")],
        ("plans.create_plan", "POST"): [
            lambda s: Call(
                "coordinator", "/plans", ("plan.create",), form={"network": s.network_id, "year": str(2040 + s.next())}
            )
        ],
        ("plans.plan", "GET"): [
            lambda s: Call(
                "caseworker",
                f"/plans/{plan_helpers.world_plan(s.app, s.world)}",
                ("plan.view", "activity.list"),
                method="GET",
            )
        ],
        ("plans.calendar", "GET"): [
            lambda s: Call(
                "org_admin",
                f"/plans/{plan_helpers.world_plan(s.app, s.world)}/calendar",
                ("plan.view", "activity.list"),
                method="GET",
            )
        ],
        ("plans.new_activity", "GET"): [
            lambda s: Call(
                "coordinator",
                f"/plans/{plan_helpers.world_plan(s.app, s.world)}/activities/new",
                ("plan.view",),
                method="GET",
            )
        ],
        ("plans.new_activity", "POST"): [
            lambda s: Call(
                "coordinator",
                f"/plans/{plan_helpers.world_plan(s.app, s.world)}/activities/new",
                ("plan.view", "activity.create"),
                form=_activity_form(s),
            )
        ],
        ("plans.activity", "GET"): [
            lambda s: Call(
                "caseworker",
                f"/plans/activities/{plan_helpers.world_activity(s.app, s.world)}",
                ("activity.view",),
                method="GET",
            )
        ],
        ("plans.edit_activity", "GET"): [
            lambda s: Call(
                "coordinator",
                f"/plans/activities/{plan_helpers.world_activity(s.app, s.world)}/edit",
                ("activity.view",),
                method="GET",
            )
        ],
        ("plans.edit_activity", "POST"): [
            lambda s: Call(
                "coordinator",
                f"/plans/activities/{plan_helpers.world_activity(s.app, s.world)}/edit",
                ("activity.view", "activity.update"),
                form=_activity_form(s),
            )
        ],
        ("plans.move_activity", "POST"): [
            lambda s: _plan_call(
                s,
                "supervisor",
                f"/plans/activities/{plan_helpers.world_activity(s.app, s.world)}/status",
                ("activity.transition",),
                form={"status": "ongoing"},
            )
        ],
        ("plans.record_delivery", "POST"): [
            lambda s: _plan_call(
                s,
                "supervisor",
                f"/plans/activities/{plan_helpers.world_activity(s.app, s.world)}/delivery",
                ("activity.view", "activity.delivery", "activity.transition"),
                form={"delivered_from": f"{plan_helpers.YEAR}-01-02", "p_female_18_24": "4", "report": PLANT},
            )
        ],
        ("plans.download_attachment", "GET"): [
            lambda s: Call(
                "caseworker",
                f"/plans/attachments/{plan_helpers.world_attachment(s.app, s.world)}",
                ("activity.attachment_download",),
                method="GET",
                mimetype="application/pdf",
            )
        ],
        ("plans.export", "GET"): [
            lambda s: Call(
                "caseworker",
                f"/plans/{plan_helpers.world_plan(s.app, s.world)}/export.xlsx",
                ("plan.export",),
                method="GET",
                mimetype=XLSX,
            ),
            lambda s: Call(
                "coordinator",
                f"/plans/{plan_helpers.world_plan(s.app, s.world)}/export.pdf",
                ("plan.export",),
                method="GET",
                mimetype="application/pdf",
            ),
        ],
        ("api.list_activities", "GET"): [
            lambda s: Call(
                "caseworker", "/api/v1/activities", ("activity.list",), method="GET", mimetype="application/json"
            )
        ],
        ("api.create_activity", "POST"): [
            lambda s: (
                plan_helpers.world_plan(s.app, s.world)  # the plan exists: only the activity is new
                and Call(
                    "coordinator",
                    "/api/v1/activities",
                    ("activity.create",),
                    body={
                        "network": s.world.governorate,
                        "title": f"Campaign {PLANT}",
                        "type": "awareness_campaign",
                        "responsible_organization_id": s.world.other.id,
                        "planned_start": f"{plan_helpers.YEAR}-11-25",
                        "planned_end": f"{plan_helpers.YEAR}-12-10",
                        "decision_ref": PLANT,
                    },
                    mimetype="application/json",
                )
            )
        ],
    }
)


# ---- the coordinator's home: "remind now" on an overdue referral of her network
def _remind_now(s: Scene) -> Call:
    from referral.referrals.models import Referral
    from tests.helpers.followups import sent_referral

    referral_id = sent_referral(s.app, s.world)
    s.run(lambda: setattr(db.session.get(Referral, referral_id), "due_at", utcnow() - timedelta(hours=3)))
    return Call("coordinator", f"/home/referrals/{referral_id}/remind", ("referral.remind",))


TABLE[("home.remind_referral", "POST")] = [_remind_now]


def _own_notification(s: Scene) -> str:
    from referral.followups import notifications

    def write() -> str:
        message = notifications.Message("referral.received", case_code="NBL-2026-0001")
        return notifications.write_many(db.session, [([s.world.mine.caseworker.id], message)])[0].id

    return str(s.run(write))


# Routes that change something not worth an event, each with the reason. They are performed
# too, and must succeed and write nothing.
NOT_AUDITED: dict[tuple[str, str], tuple[str, Builder]] = {
    ("notifications.read_all", "POST"): (
        "marks her own notifications read: her inbox's state, nobody's data or rights",
        lambda s: Call("caseworker", "/notifications/read", ()),
    ),
    ("notifications.read_one", "POST"): (
        "marks one of her own notifications read, as opening it does",
        lambda s: Call("caseworker", f"/notifications/{_own_notification(s)}/read", ()),
    ),
}

# Pages and API reads outside the case file that export nothing (a page of the audit trail
# records its own read; the directory's reads are of public entries). A GET that hands out a
# file or a whole data set belongs in TABLE instead.
READS = frozenset(
    {
        "static",
        "home.index",
        "home.health",
        "auth.login",
        "auth.mfa",
        "auth.mfa_enrol",  # shows the seed being enrolled; recorded once confirmed (POST)
        "account.overview",
        "account.password",
        "admin.users",
        "admin.new_user",
        "admin.user_detail",
        "admin.reset_mfa",  # the confirmation step; its POST is the reset
        "audit.index",
        "audit.case_history",
        "audit.user_history",
        "audit.flags",
        "audit.verify",
        "directory.networks",
        "directory.network",
        "directory.new_network",
        "directory.edit_network",
        "directory.network_calendar",
        "directory.organizations",
        "directory.new_organization",
        "directory.edit_organization",
        "directory.service_directory",
        "directory.service_detail",
        "directory.new_service",
        "directory.edit_service",
        "notifications.index",
        "notifications.follow",  # marks that one notification read, as read_all does
        "notifications.escalations",
        "notifications.escalation_detail",  # one overdue referral's timings, recorded as referral.escalation_view
        "api.me",
        "api.openapi",
        "api.organizations",
        "api.directory_services",  # a page of public directory entries, not the data set
        "api.list_notifications",
        "api.verify_audit",  # recomputes the chain (recorded as audit.verify); hands out no events
        "statistics.index",  # protected aggregates, recorded as statistics.view
        "statistics.releases_index",
        "statistics.release",  # one release's protected numbers, recorded as statistics.release_view
        "statistics.requests_index",
        "api.stats_releases",  # the list of published releases, without their numbers
        # coordination pages and reads, each recorded as meeting.list / meeting.view / action_point.*
        "coordination.index",
        "coordination.network",
        "coordination.meeting",
        "coordination.action_points",
        "coordination.action_point",
        "api.list_meetings",
        "api.get_meeting",
        "api.list_action_points",
        "meeting_pack.view",  # the pack on screen, recorded as meeting_pack.view
        "meeting_pack.status",  # a pack's state and version only (polled), no content
    }
)


def walk(s: Scene) -> list[str]:
    """Perform every call of the table and of the allow-list; returns what went wrong."""
    problems: list[str] = []
    calls = [(key, build) for key, builders in TABLE.items() for build in builders]
    calls += [(key, build) for key, (_reason, build) in NOT_AUDITED.items()]
    for (endpoint, method), build in calls:
        call = build(s)
        label = f"{method} {endpoint} ({call.path}, {call.who})"
        if call.method != method:
            problems.append(f"{label}: the call is a {call.method}")
            continue
        response = s.perform(call)
        body = response.get_data()  # a streamed export is read to its end
        if response.status_code not in DONE:
            problems.append(f"{label}: answered {response.status_code}")
            continue
        if call.mimetype and (response.mimetype != call.mimetype or not body):
            problems.append(f"{label}: answered {response.mimetype}, not {call.mimetype}")
        written = s.events(response.headers["X-Request-ID"])
        if sorted(e.action for e in written) != sorted(call.expect):
            problems.append(f"{label}: wrote {sorted(e.action for e in written)}, not {sorted(call.expect)}")
        actor_id = s.accounts[call.who].id if call.who else None
        planted = (PLANT, *call.typed)
        for e in written:
            if e.action not in ACTIONS:
                problems.append(f"{label}: {e.action!r} is not in the registry")
            if e.route != endpoint or e.actor_id != actor_id or e.outcome != call.outcome:
                problems.append(f"{label}: {e.action} names {e.route}, {e.actor_id}, {e.outcome}")
            problems += [f"{label}: {e.action}.{where} holds {value!r}" for where, value in _holding(e, planted)]
    return problems


def _holding(row: AuditEvent, planted: tuple[str, ...]) -> Iterator[tuple[str, str]]:
    """(column, planted value) for every planted value found in any column of the event."""
    for name in (c.key for c in AuditEvent.__table__.columns):
        value = getattr(row, name)
        text = value.hex() if isinstance(value, bytes) else repr(value)
        for value_planted in planted:
            if value_planted.lower() in text.lower():
                yield name, value_planted


@pytest.fixture
def scene(app: Flask, world: World, factory: Factory) -> Iterator[Scene]:
    yield Scene(app, world, factory)


def test_every_route_that_changes_or_exports_is_placed(app: Flask) -> None:
    routes = outside_case_data(app)
    changes = {key for key in routes if key[1] in CHANGES}
    unplaced = sorted(f"{m} {e}" for e, m in changes if (e, m) not in TABLE and (e, m) not in NOT_AUDITED)
    assert not unplaced, f"add it to TABLE (or NOT_AUDITED, with the reason) in {__name__}: {unplaced}"
    gets = {e for e, m in routes if m == "GET"}
    exports = {e for e, m in TABLE if m == "GET"}
    unread = sorted(gets - READS - exports)
    assert not unread, f"a GET outside the case file: an export (TABLE) or a page (READS)? {unread}"
    assert not READS & exports
    stale = sorted(f"{m} {e}" for e, m in [*TABLE, *NOT_AUDITED] if (e, m) not in routes)
    stale += sorted(READS - gets)
    assert not stale, f"no such route any more: {stale}"
    assert not set(TABLE) & set(NOT_AUDITED)
    assert all(TABLE[key] for key in TABLE), "every route in the table has at least one request"


def test_every_change_and_export_writes_exactly_its_events(scene: Scene) -> None:
    problems = walk(scene)
    assert not problems, "\n".join(problems)
    with scene.app.app_context():  # nor did anything written on the way (sign-ins, fixtures)
        rows = list(db.session.scalars(select(AuditEvent).order_by(AuditEvent.id)))
        assert len(rows) > 60
        found = [(row.action, where) for row in rows for where, _ in _holding(row, (PLANT,))]
        assert not found


# ---------------------------------------------------------------------------------- the write fails
def _count(app: Flask, model: Any, *where: Any) -> int:
    with app.app_context():
        return int(db.session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def test_if_the_event_cannot_be_written_the_change_is_not_made(scene: Scene) -> None:
    s, app = scene, scene.app
    # everyone signed in, holding tokens, and every target made before the store goes down
    for who in ("org_admin", "sysadmin", "coordinator", "auditor", "caseworker"):
        s.client(who)
    s.token("caseworker")
    promoted, deactivated = s.fresh(), s.fresh()
    signing = s.fresh()
    half = s.half_signed_in(signing)
    mfa_token = csrf(half, "/login/mfa")
    with app.app_context():
        weekend_before = list(db.session.get(Network, s.network_id).weekend_days)
    counts_before = {
        "events": _count(app, AuditEvent),
        "networks": _count(app, Network),
        "tokens": _count(app, ApiToken),
        "holidays": _count(app, NetworkHoliday),
    }
    refused: list[str] = []
    restore = refuse_audit_inserts(refused)
    try:
        answers = {
            "sign-in": half.post("/login/mfa", data={"csrf_token": mfa_token, "code": s.accounts[signing].totp()}),
            "role": s.perform(
                Call("org_admin", f"/admin/users/{s.accounts[promoted].id}", (), form={"role-role": "supervisor"})
            ),
            "deactivate": s.perform(Call("org_admin", f"/admin/users/{s.accounts[deactivated].id}/deactivate", ())),
            "token": s.perform(_issue_token(s)),
            "network": s.perform(Call("sysadmin", "/networks/new", (), form=_network_form(s))),
            "calendar": s.perform(_calendar(s)),
            "holiday": s.perform(_add_holiday(s)),
            "export": s.perform(
                Call("auditor", "/audit/export", (), form={"action": "user.*"}),
            ),
            "hsds": s.perform(Call("caseworker", "/api/v1/directory/hsds", (), method="GET")),
        }
    finally:
        restore()
    assert {name: r.status_code for name, r in answers.items()} == dict.fromkeys(answers, 500)
    assert {
        "auth.mfa_verified",  # the first of the sign-in's two events
        "user.role_change",
        "user.deactivate",
        "token.issue",
        "network.create",
        "network.calendar_update",
        "network.holiday_add",
        "audit.export",
        "directory.export",
    } <= set(refused)
    # nothing was handed out: no CSV, no directory, no token
    assert answers["export"].mimetype != "text/csv" and b"event_id" not in answers["export"].get_data()
    assert b"organizations" not in answers["hsds"].get_data()
    assert b"shb_" not in answers["token"].get_data()
    # and nothing changed: she is not signed in, the accounts, network and calendar are as they were
    assert half.get("/account/").status_code == 302
    with app.app_context():
        assert db.session.get(User, s.accounts[promoted].id).role == "caseworker"
        assert db.session.get(User, s.accounts[deactivated].id).active
        assert list(db.session.get(Network, s.network_id).weekend_days) == weekend_before
    assert {
        "events": _count(app, AuditEvent),
        "networks": _count(app, Network),
        "tokens": _count(app, ApiToken),
        "holidays": _count(app, NetworkHoliday),
    } == counts_before


# ---------------------------------------------------------------------------------- key commands
def _cli(app: Flask, *args: str) -> Any:
    return app.test_cli_runner().invoke(args=list(args))


def _key_events(app: Flask) -> list[AuditEvent]:
    with app.app_context():
        rows = list(
            db.session.scalars(select(AuditEvent).where(AuditEvent.action.like("keys.%")).order_by(AuditEvent.id))
        )
        db.session.expunge_all()
        return rows


def _data_keys(app: Flask, scope: str) -> list[tuple[int, str]]:
    with app.app_context():
        rows = db.session.execute(
            select(DataKey.id, DataKey.root_key_id)
            .where(DataKey.scope == scope, DataKey.purpose == "data")
            .order_by(DataKey.id)
        )
        return [(int(key_id), str(root)) for key_id, root in rows]


def _pending(app: Flask) -> int:
    with app.app_context():
        return rotation.pending(db.session)


def _org_with_secrets(factory: Factory, users: int) -> Organization:
    """An organisation whose staff's TOTP seeds are encrypted under its data key."""
    org = factory.organization()
    for _ in range(users):
        factory.user(organization=org)
    return org


def test_key_commands_record_their_events(app: Flask, settings: Settings, make_app: Any, factory: Factory) -> None:
    org = _org_with_secrets(factory, 5)
    [(old_key, _)] = _data_keys(app, org.id)

    rotated = _cli(app, "keys", "rotate", "--org", org.id)
    assert rotated.exit_code == 0, rotated.output
    [(_, _), (new_key, _)] = _data_keys(app, org.id)
    [rotate] = _key_events(app)
    assert (rotate.action, rotate.organization_id, rotate.details) == (
        "keys.rotate",
        org.id,
        {"key_id": new_key, "version": 2},
    )

    assert _pending(app) == 5
    moved = _cli(app, "keys", "reencrypt", "--batch", "2")
    assert moved.exit_code == 0, moved.output
    reencrypted = _key_events(app)[1:]
    # one event per batch, in the transaction that moved it
    assert [(e.action, e.details["values"]) for e in reencrypted] == [("keys.reencrypt", 2)] * 2 + [
        ("keys.reencrypt", 1)
    ]
    assert _pending(app) == 0
    assert _cli(app, "keys", "reencrypt").exit_code == 0
    assert len(_key_events(app)) == 1 + 3  # nothing left to move: nothing moved, nothing recorded

    retired = _cli(app, "keys", "retire", str(old_key))
    assert retired.exit_code == 0, retired.output
    assert (_key_events(app)[-1].action, _key_events(app)[-1].details) == ("keys.retire", {"key_id": old_key})

    rotating = make_app(replace(settings, root_key=b"\x07" * 32, previous_root_keys=(settings.root_key,)))
    rewrapped = _cli(rotating, "keys", "rotate-root")
    assert rewrapped.exit_code == 0, rewrapped.output
    last = _key_events(app)[-1]
    with app.app_context():
        keys_total = int(db.session.scalar(select(func.count()).select_from(DataKey)) or 0)
    assert (last.action, last.details) == ("keys.rotate_root", {"rewrapped": keys_total})

    for e in _key_events(app):  # done by an operator at the command line: no account, no request
        assert e.actor_id is None and e.route is None and e.request_id is None and e.outcome == "success"


def test_a_key_command_whose_event_cannot_be_written_changes_nothing(
    app: Flask, settings: Settings, make_app: Any, factory: Factory
) -> None:
    org = _org_with_secrets(factory, 3)
    keys_before = _data_keys(app, org.id)
    refused: list[str] = []

    restore = refuse_audit_inserts(refused)
    try:
        assert _cli(app, "keys", "rotate", "--org", org.id).exit_code != 0
    finally:
        restore()
    assert _data_keys(app, org.id) == keys_before  # no new version

    assert _cli(app, "keys", "rotate", "--org", org.id).exit_code == 0
    [(old_key, _), _current] = _data_keys(app, org.id)
    restore = refuse_audit_inserts(refused)
    try:
        assert _cli(app, "keys", "reencrypt", "--batch", "2").exit_code != 0
    finally:
        restore()
    assert _pending(app) == 3  # not one batch moved

    assert _cli(app, "keys", "reencrypt").exit_code == 0
    restore = refuse_audit_inserts(refused)
    try:
        assert _cli(app, "keys", "retire", str(old_key)).exit_code != 0
    finally:
        restore()
    assert old_key in [key_id for key_id, _ in _data_keys(app, org.id)]  # not destroyed

    wrapped = _data_keys(app, org.id)
    rotating = make_app(replace(settings, root_key=b"\x07" * 32, previous_root_keys=(settings.root_key,)))
    restore = refuse_audit_inserts(refused)
    try:
        assert _cli(rotating, "keys", "rotate-root").exit_code != 0
    finally:
        restore()
    assert _data_keys(app, org.id) == wrapped  # still under the old root key
    assert refused == ["keys.rotate", "keys.reencrypt", "keys.retire", "keys.rotate_root"]
    assert [e.action for e in _key_events(app)] == ["keys.rotate", "keys.reencrypt"]
