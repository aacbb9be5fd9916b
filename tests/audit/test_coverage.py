"""Audit coverage: every route and service that touches case data writes its event, in the same
transaction as the action, with ids and codes only.

The walk goes through the URL map: every endpoint of a domain that holds case data must be in
`TABLE` below (what the request looks like and which event it must write), or the suite fails
naming it. A route added without an audit entry therefore fails here first.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.datastructures import FileStorage

from referral.access import breakglass
from referral.accounts import services as accounts
from referral.audit.actions import ACTIONS
from referral.audit.models import AuditEvent
from referral.cases import consent as consents
from referral.cases import documents
from referral.cases import services as cases
from referral.cases.models import FIELD_GROUPS, Case
from referral.extensions import db
from referral.followups import services as followups
from referral.models_base import utcnow
from referral.referrals import services as referrals
from referral.referrals import transfers
from referral.referrals.models import Referral
from tests.audit.helpers import refuse_audit_inserts, request_events
from tests.cases.conftest import MARKER_ID, MARKER_NAME, MARKER_PHONE, World, intake, user
from tests.cases.conftest import world as world
from tests.conftest import Account, Factory, csrf, sign_in

# Free text planted in every field a request or fixture fills: none of it may reach an event.
PLANT = "Planted-Hq7"
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

# Endpoints of the domains that hold case data; the API by path. Notifications and the
# directory hold none (a notification carries a case code at most and is the user's own).
CASE_DATA_BLUEPRINTS = ("cases", "documents", "referrals", "transfers", "followups", "breakglass", "conferences")
CASE_DATA_API = re.compile(r"^/api/v1/(cases|referrals|followups|consents)(/|$)")


def case_data_routes(app: Flask) -> dict[tuple[str, str], str]:
    """(endpoint, method) -> rule, for every route of the case-data domains."""
    found: dict[tuple[str, str], str] = {}
    for rule in app.url_map.iter_rules():
        blueprint = rule.endpoint.split(".", 1)[0]
        if blueprint in CASE_DATA_BLUEPRINTS or (blueprint == "api" and CASE_DATA_API.match(rule.rule)):
            for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
                found[(rule.endpoint, method)] = rule.rule
    return found


# ---------------------------------------------------------------------------------- the scene
@dataclass
class Call:
    """One request, who makes it, and the event it must write."""

    who: str
    path: str
    expect: tuple[str, ...]
    case_code: str | None = None  # the case the event names (None for a list of many cases)
    method: str = "GET"
    form: dict[str, Any] | None = None
    body: dict[str, Any] | None = None  # JSON for the API
    headers: dict[str, str] = field(default_factory=dict)
    files: dict[str, tuple[bytes, str]] = field(default_factory=dict)  # form name -> (content, file name)


class Scene:
    """Real data made through the services, and signed-in clients and API tokens by role.

    Shared objects serve the reading routes; routes that change state get fresh ones."""

    def __init__(self, app: Flask, world: World, factory: Factory) -> None:
        self.app, self.world, self.factory = app, world, factory
        third_network = factory.network()
        third = factory.organization(third_network)
        self.accounts: dict[str, Account] = {
            "owner": world.mine.caseworker,
            "colleague": world.mine.colleague,
            "supervisor": world.mine.supervisor,
            "receiver": world.other.supervisor,
            "receiver_worker": world.other.caseworker,
            "third": factory.user("caseworker", third),
            "third_supervisor": factory.user("supervisor", third),
            "coordinator": world.coordinator,
            "third_coordinator": factory.user("coordinator", third, network=third_network),
        }
        self._clients: dict[str, tuple[FlaskClient, str]] = {}
        self._tokens: dict[str, str] = {}
        self.case_id = self.new_case()
        self.code = self.code_of(self.case_id)
        self.consent_id = self.consent(self.case_id)
        self.document_id = self.document(self.case_id)
        self.referral_id = self.referral("sent")
        self.followup_id = self.followup(self.case_id)
        self.other_case = self.new_case()
        self.transfer_id = self.transfer(self.other_case)

    # ------------------------------------------------------------------ data
    def run(self, work: Callable[[], Any]) -> Any:
        with self.app.app_context():
            done = work()
            db.session.commit()
            return done

    def new_case(self, **extra: Any) -> str:
        values = intake(self.world, **extra)
        values["safe_contact"]["instructions"] = f"Ask for Um Ahmad {PLANT}"

        def work() -> str:
            case, _ = cases.create_case(db.session, user(self.world.mine.caseworker), cases.CaseInput(values))
            return str(case.id)

        return str(self.run(work))

    def code_of(self, case_id: str) -> str:
        with self.app.app_context():
            return str(db.session.get(Case, case_id).case_code)

    def consent(self, case_id: str) -> str:
        data = consents.ConsentInput(
            given_by="survivor",
            method="verbal",
            organization_ids=[self.world.other.id],
            field_groups=list(FIELD_GROUPS),
            purpose=f"legal aid {PLANT}",
        )
        return str(
            self.run(lambda: consents.record_consent(db.session, user(self.world.mine.caseworker), case_id, data).id)
        )

    def document(self, case_id: str) -> str:
        pdf = io.BytesIO(b"%PDF-1.7\n" + MARKER_NAME.encode() + b"\n%%EOF")
        return str(
            self.run(
                lambda: (
                    documents.upload(
                        db.session,
                        user(self.world.mine.caseworker),
                        case_id,
                        f"Title {PLANT}",
                        "identity",
                        pdf,
                        "a.pdf",
                    ).id
                )
            )
        )

    def referral(self, state: str = "sent", case_id: str | None = None) -> str:
        case_id = case_id or self.case_id
        consent_id = self.consent_id if case_id == self.case_id else self.consent(case_id)
        data = referrals.ReferralInput(
            case_id=case_id,
            to_organization_id=self.world.other.id,
            priority="urgent",
            reason=f"needs legal representation {PLANT}",
            field_groups=["identity", "contact"],
            consent_id=consent_id,
        )
        referral_id = str(self.run(lambda: referrals.create(db.session, user(self.world.mine.caseworker), data).id))
        path = {"sent": (), "accepted": ("accepted",), "in_progress": ("accepted", "in_progress")}[state]
        for step in path:
            self.run(
                lambda step=step: referrals.transition(db.session, user(self.world.other.supervisor), referral_id, step)
            )
        return referral_id

    def followup(self, case_id: str) -> str:
        # overdue, yet due today in the network's zone (a follow-up may not be due before today)
        now = utcnow()
        due = max(now - timedelta(hours=2), followups.start_of_day(now, followups.DEFAULT_ZONE))
        data = followups.FollowUpInput(due_at=due, kind="call", note=f"Call her {PLANT}")
        return str(self.run(lambda: followups.create(db.session, user(self.world.mine.caseworker), case_id, data).id))

    def followup_version(self, followup_id: str) -> int:
        with self.app.app_context():
            return int(followups.visible(db.session, user(self.world.mine.caseworker), followup_id).version)

    def transfer(self, case_id: str) -> str:
        consent_id = self.consent(case_id)
        data = transfers.TransferInput(
            case_id=case_id, to_organization_id=self.world.other.id, reason=f"moved {PLANT}", consent_id=consent_id
        )
        return str(self.run(lambda: transfers.request_transfer(db.session, user(self.world.mine.caseworker), data).id))

    def grant(self, case_id: str) -> str:
        code = self.code_of(case_id)
        return str(
            self.run(
                lambda: (
                    breakglass.open_grant(
                        db.session, user(self.world.other.supervisor), code, f"She is at the hospital now {PLANT}", 2
                    ).id
                )
            )
        )

    def case_at(self, status: str) -> str:
        """A fresh case moved through the steps to `status` (intake, assessment or action_plan)."""
        case_id = self.new_case()
        owner = self.world.mine.caseworker
        steps: list[Callable[[], Any]] = []
        if status in ("assessment", "action_plan"):
            steps += [
                lambda: cases.record_step_content(
                    db.session,
                    user(owner),
                    case_id,
                    "consent_for_services",
                    {"given": True, "limits_explained": True, "method": "verbal"},
                ),
                lambda: cases.move(db.session, user(owner), case_id, "assessment"),
            ]
        if status == "action_plan":
            steps += [
                lambda: cases.record_step_content(
                    db.session, user(owner), case_id, "assessment", {"needs": [f"legal {PLANT}"], "risk_level": "low"}
                ),
                lambda: cases.move(db.session, user(owner), case_id, "action_plan"),
                lambda: cases.record_step_content(
                    db.session, user(owner), case_id, "action_plan", {"actions": [f"refer {PLANT}"]}
                ),
            ]
        for step in steps:
            self.run(step)
        return case_id

    def conference(self, requested: bool = False) -> str:
        """A conference on the shared case, convened by its supervisor (or asked of the coordinator)."""
        from referral.conferences import services as conferences

        data = conferences.ConveneInput(
            case_code=self.code,
            grounds="judgement",
            reason=f"her family hides her {PLANT}",
            minutes_allotted=15,
            starts_at=None if requested else utcnow() + timedelta(days=2),
            place=None if requested else f"Room {PLANT}",
            ask_coordinator=requested,
        )
        return str(self.run(lambda: conferences.convene(db.session, user(self.world.mine.supervisor), data).id))

    def conference_item(self, conference_id: str) -> str:
        from referral.conferences.models import CaseConference

        with self.app.app_context():
            return str(db.session.get(CaseConference, conference_id).items[0].id)

    # ------------------------------------------------------------------ clients
    def client(self, who: str) -> tuple[FlaskClient, str]:
        if who not in self._clients:
            web = self.app.test_client()
            sign_in(web, self.app, self.accounts[who])
            self._clients[who] = (web, csrf(web, "/account/"))
        return self._clients[who]

    def token(self, who: str) -> str:
        if who not in self._tokens:
            with self.app.app_context():
                _, raw = accounts.issue_token(db.session, user(self.accounts[who]), days=1)
                db.session.commit()
            self._tokens[who] = raw
        return self._tokens[who]

    def perform(self, call: Call, who: str | None = None) -> Any:
        who = who or call.who
        if call.path.startswith("/api/"):
            headers = {"Authorization": f"Bearer {self.token(who)}", **call.headers}
            return self.app.test_client().open(call.path, method=call.method, json=call.body, headers=headers)
        web, token = self.client(who)
        if call.method == "GET":
            return web.get(call.path)
        data: dict[str, Any] = {"csrf_token": token, **(call.form or {})}
        for name, (content, filename) in call.files.items():
            data[name] = FileStorage(io.BytesIO(content), filename=filename, content_type="application/pdf")
        return web.open(call.path, method=call.method, data=data)

    def events(self, request_id: str) -> list[AuditEvent]:
        return request_events(self.app, request_id)


# ---------------------------------------------------------------------------------- the table
Builder = Callable[[Scene], Call]


def _case_form(s: Scene, **changes: str) -> dict[str, str]:
    values = intake(s.world)
    form = {k: v for k, v in values.items() if isinstance(v, str)}
    form.update({"safe_to_call": "y", "safe_hours": "09:00-12:00", "instructions": "Um Ahmad", "disability": "no"})
    form.update(changes)
    return form


def _incident_form() -> dict[str, str]:
    from referral.cases.classification import QUESTIONS

    answers = {f"q_{key}": "yes" if key == "physical_violence" else "no" for key in QUESTIONS}
    return {**answers, "perpetrator_relationship": "family", "narrative": f"He hit her {PLANT}"}


def _step(part: str, content: dict[str, str]) -> Builder:
    return lambda s: Call(
        "owner",
        f"/cases/{s.new_case()}/steps/{part}",
        ("case.update",),
        method="POST",
        form={f"{part}-{k}": v for k, v in content.items()},
    )


def _web_act(action: str, state: str, who: str, form: dict[str, str] | None = None) -> Builder:
    def build(s: Scene) -> Call:
        referral_id = s.referral(state)
        return Call(who, f"/referrals/{referral_id}/{action}", (f"referral.{action}",), method="POST", form=form or {})

    return build


def _api_act(action: str, state: str, who: str, body: dict[str, str] | None = None) -> Builder:
    def build(s: Scene) -> Call:
        referral_id = s.referral(state)
        return Call(
            who, f"/api/v1/referrals/{referral_id}/{action}", (f"referral.{action}",), method="POST", body=body or {}
        )

    return build


def _complete(s: Scene) -> Call:
    followup_id = s.followup(s.case_id)
    prefix = f"f{followup_id.replace('-', '')[:12]}"
    form = {f"{prefix}-version": str(s.followup_version(followup_id)), f"{prefix}-back": "day"}
    return Call("owner", f"/followups/{followup_id}/complete", ("followup.complete",), method="POST", form=form)


def _cancel(s: Scene) -> Call:
    followup_id = s.followup(s.case_id)
    return Call(
        "owner",
        f"/followups/{followup_id}/cancel",
        ("followup.cancel",),
        method="POST",
        form={"version": str(s.followup_version(followup_id)), "back": "day"},
    )


def _approve(s: Scene) -> Call:
    case_id = s.case_at("action_plan")
    return Call(
        "supervisor", f"/cases/{case_id}/approve", ("case.approve",), method="POST", form={"what": "action_plan"}
    )


def _transfer_answer(action: str, expect: str, form: Callable[[Scene], dict[str, str]]) -> Builder:
    def build(s: Scene) -> Call:
        transfer_id = s.transfer(s.new_case())
        return Call("receiver", f"/transfers/{transfer_id}/{action}", (expect,), method="POST", form=form(s))

    return build


# (endpoint, method) -> the requests that exercise it. `Call.case_code` is filled in by the walk
# from the path when left empty and the route names one case; a list names none (`LISTS`).
TABLE: dict[tuple[str, str], list[Builder]] = {
    # ---- the case file
    ("cases.index", "GET"): [lambda s: Call("owner", "/cases", ("case.list",))],
    ("cases.index", "POST"): [
        lambda s: Call("owner", "/cases", ("case.search_identifier",), method="POST", form={"q": MARKER_ID})
    ],
    ("cases.new", "POST"): [lambda s: Call("owner", "/cases/new", ("case.create",), method="POST", form=_case_form(s))],
    ("cases.show", "GET"): [lambda s: Call("owner", f"/cases/{s.case_id}", ("case.view",))],
    ("cases.reveal", "POST"): [
        lambda s: Call("supervisor", f"/cases/{s.case_id}/reveal", ("case.reveal",), method="POST")
    ],
    ("cases.record_step", "POST"): [
        _step("consent_for_services", {"given": "y", "limits_explained": "y", "method": "verbal"}),
        _step("assessment", {"needs": f"legal aid {PLANT}", "risk_level": "medium", "notes": PLANT}),
        _step("action_plan", {"actions": f"refer {PLANT}"}),
        _step("safety_plan", {"safety_plan": f"stay with her sister {PLANT}"}),
        _step("closure", {"reason": "needs_met", "survivor_told_can_return": "y", "notes": PLANT}),
    ],
    ("cases.move", "POST"): [
        lambda s: Call(
            "owner",
            f"/cases/{_consented(s)}/move",
            ("case.transition",),
            method="POST",
            form={"to_status": "assessment"},
        )
    ],
    ("cases.approve", "POST"): [_approve],
    ("cases.return_for_changes", "POST"): [
        lambda s: Call(
            "supervisor",
            f"/cases/{s.case_at('action_plan')}/return",
            ("case.return",),
            method="POST",
            form={"return-what": "action_plan", "return-comment": f"add the shelter {PLANT}"},
        )
    ],
    ("cases.add_note", "POST"): [
        lambda s: Call(
            "owner",
            f"/cases/{s.case_id}/notes",
            ("case.note",),
            method="POST",
            form={"note-body": f"She called {PLANT}"},
        )
    ],
    ("cases.add_member", "POST"): [
        lambda s: Call(
            "supervisor",
            f"/cases/{s.new_case()}/members",
            ("case.assign",),
            method="POST",
            form={"member-user_id": s.world.mine.colleague.id},
        )
    ],
    ("cases.edit", "GET"): [lambda s: Call("owner", f"/cases/{s.case_id}/edit", ("case.reveal",))],
    ("cases.edit", "POST"): [
        lambda s: Call(
            "owner",
            f"/cases/{s.new_case()}/edit",
            ("case.update",),
            method="POST",
            form=_case_form(s, risk_level="high"),
        )
    ],
    ("cases.new_incident", "GET"): [lambda s: Call("owner", f"/cases/{s.case_id}/incidents/new", ("case.view",))],
    ("cases.new_incident", "POST"): [
        lambda s: Call(
            "owner", f"/cases/{s.case_id}/incidents/new", ("case.incident",), method="POST", form=_incident_form()
        )
    ],
    ("cases.approvals", "GET"): [lambda s: Call("supervisor", "/cases/approvals", ("case.list",))],
    # ---- documents
    ("documents.case_documents", "GET"): [lambda s: Call("owner", f"/cases/{s.case_id}/documents", ("case.view",))],
    ("documents.upload", "POST"): [
        lambda s: Call(
            "owner",
            f"/cases/{s.case_id}/documents",
            ("document.upload",),
            method="POST",
            form={"title": f"Report {PLANT}", "field_group": "assessment"},
            files={"file": (b"%PDF-1.7\n" + PLANT.encode() + b"\n%%EOF", f"{PLANT}.pdf")},
        )
    ],
    ("documents.download", "GET"): [
        lambda s: Call("owner", f"/documents/{s.document_id}/download", ("document.download",))
    ],
    # ---- follow-ups
    ("followups.case_followups", "GET"): [lambda s: Call("owner", f"/cases/{s.new_case()}/followups", ("case.view",))],
    ("followups.add", "POST"): [
        lambda s: Call(
            "owner",
            f"/cases/{s.case_id}/followups",
            ("followup.create",),
            method="POST",
            form={
                "followup-kind": "call",
                "followup-due_at": (utcnow() + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M"),
                "followup-assignee_id": s.world.mine.caseworker.id,
                "followup-note": f"Ask about court {PLANT}",
            },
        )
    ],
    ("followups.complete", "POST"): [_complete],
    ("followups.cancel", "POST"): [_cancel],
    ("followups.my_day", "GET"): [lambda s: Call("owner", "/followups", ("followup.list",))],
    ("followups.team_overdue", "GET"): [lambda s: Call("supervisor", "/followups/team", ("followup.list",))],
    # ---- consent and referrals
    ("referrals.new_consent", "GET"): [lambda s: Call("owner", f"/cases/{s.case_id}/consents/new", ("case.view",))],
    ("referrals.new_consent", "POST"): [
        lambda s: Call(
            "owner",
            f"/cases/{s.case_id}/consents/new",
            ("consent.record",),
            method="POST",
            form={
                "given_by": "survivor",
                "method": "written",
                "organization_ids": s.world.other.id,
                "field_groups": "contact",
                "purpose": f"shelter {PLANT}",
            },
        )
    ],
    ("referrals.new_mandatory_report", "GET"): [
        lambda s: Call("owner", f"/cases/{s.case_id}/mandatory-reports/new", ("case.view",))
    ],
    ("referrals.new_mandatory_report", "POST"): [
        lambda s: Call(
            "owner",
            f"/cases/{s.new_case(age_group='12-17')}/mandatory-reports/new",
            ("case.mandatory_report",),
            method="POST",
            form={
                "authority": f"child protection counsellor {PLANT}",
                "reported_on": utcnow().date().isoformat(),
                "told_first": "caregiver",
                "notes": PLANT,
            },
        )
    ],
    ("referrals.withdraw_consent", "POST"): [
        lambda s: Call("owner", f"/consents/{s.consent(s.case_id)}/withdraw", ("consent.withdraw",), method="POST")
    ],
    ("referrals.case_referrals", "GET"): [lambda s: Call("owner", f"/cases/{s.case_id}/referrals", ("case.view",))],
    ("referrals.case_referrals", "POST"): [
        lambda s: Call(
            "owner",
            f"/cases/{s.case_id}/referrals",
            ("referral.create", "referral.send"),
            method="POST",
            form={
                "receiver_kind": "member",
                "to_organization_id": s.world.other.id,
                "priority": "normal",
                "field_groups": "contact",
                "consent_id": s.consent_id,
                "reason": f"legal aid {PLANT}",
            },
        )
    ],
    ("referrals.index", "GET"): [
        lambda s: Call("receiver", "/referrals?box=inbox", ("referral.list",)),
        lambda s: Call("owner", "/referrals?box=outbox", ("referral.list",)),
    ],
    ("referrals.show", "GET"): [
        lambda s: Call("owner", f"/referrals/{s.referral_id}", ("referral.view",)),
        lambda s: Call("receiver", f"/referrals/{s.referral_id}", ("referral.view",)),
    ],
    ("referrals.print_form", "GET"): [
        lambda s: Call("owner", f"/referrals/{s.referral_id}/print", ("referral.print",))
    ],
    ("referrals.print_pdf", "GET"): [
        lambda s: Call("owner", f"/referrals/{s.referral_id}/print.pdf", ("referral.print",))
    ],
    ("referrals.shared_document", "GET"): [
        lambda s: Call("receiver", f"/referrals/{s.referral_id}/documents/{s.document_id}", ("document.download",))
    ],
    ("referrals.act", "POST"): [
        _web_act("accept", "sent", "receiver"),
        _web_act("decline", "sent", "receiver", {"reason_code": "no_capacity", "note": PLANT}),
        _web_act("start", "accepted", "receiver"),
        _web_act("complete", "in_progress", "receiver", {"outcome": f"hearing attended {PLANT}", "note": PLANT}),
        _web_act("close", "in_progress", "receiver", {"reason": "no contact"}),
        _web_act("withdraw", "sent", "owner", {"reason": "plan changed"}),
        lambda s: Call(
            "receiver",
            f"/referrals/{s.referral('sent')}/assign",
            ("referral.assign",),
            method="POST",
            form={"user_id": s.world.other.caseworker.id},
        ),
    ],
    ("referrals.add_log", "POST"): [
        lambda s: Call(
            "receiver",
            f"/referrals/{s.referral('accepted')}/log",
            ("referral.log",),
            method="POST",
            form={"text": f"Met her at the centre {PLANT}", "next_step": f"Court on Monday {PLANT}"},
        )
    ],
    ("referrals.open_case", "POST"): [
        lambda s: Call(
            "receiver", f"/referrals/{s.referral('accepted')}/open-case", ("referral.open_case",), method="POST"
        )
    ],
    # ---- transfers
    ("transfers.new", "GET"): [lambda s: Call("owner", f"/cases/{s.case_id}/transfer", ("case.view",))],
    ("transfers.new", "POST"): [
        lambda s: (
            lambda case_id: Call(
                "owner",
                f"/cases/{case_id}/transfer",
                ("case.transfer_request",),
                method="POST",
                form={
                    "to_organization_id": s.world.other.id,
                    "consent_id": s.consent(case_id),
                    "reason": f"moved {PLANT}",
                },
            )
        )(s.new_case())
    ],
    ("transfers.index", "GET"): [
        lambda s: Call("receiver", "/transfers?box=incoming", ("case.transfer_list",)),
        lambda s: Call("owner", "/transfers?box=outgoing", ("case.transfer_list",)),
    ],
    ("transfers.show", "GET"): [
        lambda s: Call("owner", f"/transfers/{s.transfer_id}", ("case.transfer_view",)),
        lambda s: Call("receiver", f"/transfers/{s.transfer_id}", ("case.transfer_view",)),
    ],
    ("transfers.accept", "POST"): [
        _transfer_answer("accept", "case.transfer", lambda s: {"new_owner_id": s.world.other.caseworker.id})
    ],
    ("transfers.decline", "POST"): [
        _transfer_answer("decline", "case.transfer_decline", lambda s: {"reason_code": "no_capacity"})
    ],
    ("transfers.cancel", "POST"): [
        lambda s: Call(
            "owner", f"/transfers/{s.transfer(s.new_case())}/cancel", ("case.transfer_cancel",), method="POST"
        )
    ],
    # ---- emergency access
    ("breakglass.index", "GET"): [lambda s: _with_grant(s, Call("receiver", "/breakglass", ("breakglass.list",)))],
    ("breakglass.index", "POST"): [
        lambda s: (
            lambda case_id: Call(
                "receiver",
                "/breakglass",
                ("breakglass.open",),
                method="POST",
                form={"case_code": s.code_of(case_id), "reason": f"She is at the hospital now {PLANT}", "hours": "2"},
            )
        )(s.new_case())
    ],
    ("breakglass.end", "POST"): [
        lambda s: Call("receiver", f"/breakglass/{s.grant(s.new_case())}/end", ("breakglass.end",), method="POST")
    ],
    ("breakglass.ours", "GET"): [lambda s: Call("supervisor", "/breakglass/ours", ("breakglass.list",))],
    ("breakglass.revoke", "POST"): [
        lambda s: Call(
            "supervisor", f"/breakglass/{s.grant(s.new_case())}/revoke", ("breakglass.revoke",), method="POST"
        )
    ],
    # ---- the API
    ("api.create_case", "POST"): [
        lambda s: Call("owner", "/api/v1/cases", ("case.create",), method="POST", body=intake(s.world))
    ],
    ("api.list_cases", "GET"): [
        lambda s: Call("owner", "/api/v1/cases", ("case.list",)),
    ],
    ("api.search_cases", "POST"): [
        lambda s: Call(
            "owner",
            "/api/v1/cases/search",
            ("case.list", "case.search_identifier"),
            method="POST",
            body={"q": MARKER_ID},
        ),
    ],
    ("api.get_case", "GET"): [
        lambda s: Call("owner", f"/api/v1/cases/{s.case_id}", ("case.view",)),
        lambda s: Call("supervisor", f"/api/v1/cases/{s.case_id}?reveal=true", ("case.reveal",)),
        lambda s: Call("receiver", f"/api/v1/cases/{s.case_id}", ("case.view",)),
    ],
    ("api.update_case", "PATCH"): [
        lambda s: Call(
            "owner", f"/api/v1/cases/{s.new_case()}", ("case.update",), method="PATCH", body={"risk_level": "high"}
        )
    ],
    ("api.record_consent", "POST"): [
        lambda s: Call(
            "owner",
            f"/api/v1/cases/{s.case_id}/consents",
            ("consent.record",),
            method="POST",
            body={
                "organization_ids": [s.world.other.id],
                "field_groups": ["contact"],
                "method": "verbal",
                "purpose": f"shelter {PLANT}",
            },
        )
    ],
    ("api.withdraw_consent", "POST"): [
        lambda s: Call(
            "owner", f"/api/v1/consents/{s.consent(s.case_id)}/withdraw", ("consent.withdraw",), method="POST", body={}
        )
    ],
    ("api.send_referral", "POST"): [
        lambda s: Call(
            "owner",
            "/api/v1/referrals",
            ("referral.create", "referral.send"),
            method="POST",
            body={
                "case_id": s.case_id,
                "to_organization_id": s.world.other.id,
                "priority": "emergency",
                "reason": f"shelter tonight {PLANT}",
                "field_groups": ["contact"],
                "consent_id": s.consent_id,
            },
        )
    ],
    ("api.list_referrals", "GET"): [
        lambda s: Call("receiver", "/api/v1/referrals?box=inbox", ("referral.list",)),
        lambda s: Call("owner", "/api/v1/referrals?box=outbox", ("referral.list",)),
    ],
    ("api.get_referral", "GET"): [
        lambda s: Call("owner", f"/api/v1/referrals/{s.referral_id}", ("referral.view",)),
        lambda s: Call("receiver", f"/api/v1/referrals/{s.referral_id}", ("referral.view",)),
    ],
    ("api.move_referral", "POST"): [
        _api_act("accept", "sent", "receiver"),
        _api_act("decline", "sent", "receiver", {"reason_code": "not_eligible", "note": PLANT}),
        _api_act("start", "accepted", "receiver"),
        _api_act("complete", "in_progress", "receiver", {"outcome": f"done {PLANT}"}),
        _api_act("close", "in_progress", "receiver", {"reason": "no contact"}),
        _api_act("withdraw", "accepted", "owner", {"reason": "plan changed"}),
    ],
    ("api.log_progress", "POST"): [
        lambda s: Call(
            "receiver",
            f"/api/v1/referrals/{s.referral('in_progress')}/log",
            ("referral.log",),
            method="POST",
            body={"text": f"Second session {PLANT}", "next_step": f"Call her {PLANT}"},
        )
    ],
    ("api.open_own_case", "POST"): [
        lambda s: Call(
            "receiver", f"/api/v1/referrals/{s.referral('accepted')}/open-case", ("referral.open_case",), method="POST"
        )
    ],
    ("api.create_followup", "POST"): [
        lambda s: Call(
            "owner",
            f"/api/v1/cases/{s.case_id}/followups",
            ("followup.create",),
            method="POST",
            body={
                "due_at": (utcnow() + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "kind": "visit",
                "note": f"Bring the forms {PLANT}",
            },
        )
    ],
    ("api.list_followups", "GET"): [lambda s: Call("owner", "/api/v1/followups", ("followup.list",))],
    ("api.get_followup", "GET"): [lambda s: Call("owner", f"/api/v1/followups/{s.followup_id}", ("followup.view",))],
    ("api.complete_followup", "POST"): [
        lambda s: Call(
            "owner",
            f"/api/v1/followups/{s.followup(s.case_id)}/complete",
            ("followup.complete",),
            method="POST",
            body={"note": f"Done {PLANT}"},
        )
    ],
    ("api.cancel_followup", "POST"): [
        lambda s: Call(
            "owner", f"/api/v1/followups/{s.followup(s.case_id)}/cancel", ("followup.cancel",), method="POST", body={}
        )
    ],
    ("api.update_followup", "PATCH"): [
        lambda s: Call(
            "owner",
            f"/api/v1/followups/{s.followup(s.case_id)}",
            ("followup.update",),
            method="PATCH",
            body={"due_at": (utcnow() + timedelta(days=4)).strftime("%Y-%m-%dT%H:%M:%SZ")},
        )
    ],
}


def _later() -> str:
    """A local time three days ahead, as a form types it."""
    return (utcnow() + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M")


def _conference_call(
    who: str, tail: str, expect: tuple[str, ...], form: Callable[[Scene, str], dict[str, str]]
) -> Builder:
    """A POST to a part of a fresh conference (`tail` may name its item as {item})."""

    def build(s: Scene) -> Call:
        conference_id = s.conference()
        item_id = s.conference_item(conference_id)
        path = f"/conferences/{conference_id}/{tail.format(item=item_id)}"
        return Call(who, path, expect, case_code=s.code, method="POST", form=form(s, item_id.replace("-", "")[:12]))

    return build


def _add_to_agenda(s: Scene) -> Call:
    case_id = s.new_case(risk_level="high")
    form = {"agenda-case_code": s.code_of(case_id), "agenda-grounds": "high_risk", "agenda-minutes_allotted": "10"}
    path = f"/conferences/{s.conference()}/cases"
    return Call("supervisor", path, ("conference.case_add",), case_code=s.code_of(case_id), method="POST", form=form)


def _convene_requested(s: Scene) -> Call:
    form = {"schedule-starts_at": _later(), "schedule-place": f"Room {PLANT}"}
    path = f"/conferences/{s.conference(requested=True)}/convene"
    return Call("coordinator", path, ("conference.convene",), case_code=s.code, method="POST", form=form)


TABLE.update(
    {
        ("conferences.repeat_incident", "POST"): [
            lambda s: Call(
                "owner",
                f"/conferences/cases/{s.new_case()}/repeat-incident",
                ("case.repeat_incident",),
                method="POST",
                form={"flagged": "1"},
            )
        ],
        ("conferences.index", "GET"): [lambda s: Call("supervisor", "/conferences", ("conference.list",))],
        ("conferences.new", "POST"): [
            lambda s: Call(
                "supervisor",
                "/conferences/new",
                ("conference.create",),
                case_code=s.code,
                method="POST",
                form={
                    "case_code": s.code,
                    "grounds": "judgement",
                    "reason": f"judgement {PLANT}",
                    "minutes_allotted": "15",
                    "starts_at": _later(),
                    "place": f"Room {PLANT}",
                },
            )
        ],
        ("conferences.show", "GET"): [
            lambda s: Call("supervisor", f"/conferences/{s.conference()}", ("conference.view",), case_code=s.code),
            lambda s: Call("receiver", f"/conferences/{s.conference()}", ("conference.view",), case_code=s.code),
            lambda s: Call("coordinator", f"/conferences/{s.conference()}", ("conference.view",), case_code=s.code),
        ],
        ("conferences.convene", "POST"): [_convene_requested],
        ("conferences.add_case", "POST"): [_add_to_agenda],
        ("conferences.summary", "POST"): [
            _conference_call(
                "supervisor",
                "items/{item}/summary",
                ("conference.risk_summary",),
                lambda s, key: {f"s{key}-risk_summary": f"he threatened her {PLANT}"},
            )
        ],
        ("conferences.add_action", "POST"): [
            _conference_call(
                "supervisor",
                "items/{item}/actions",
                ("conference.action", "followup.create"),
                lambda s, key: {
                    f"a{key}-description": f"accompany her {PLANT}",
                    f"a{key}-assignee_id": s.world.mine.caseworker.id,
                    f"a{key}-kind": "visit",
                    f"a{key}-due_at": _later(),
                },
            )
        ],
        ("conferences.timer", "POST"): [
            _conference_call(
                "coordinator", "items/{item}/timer", ("conference.timer",), lambda s, key: {"move": "start"}
            )
        ],
        ("conferences.minutes", "POST"): [
            _conference_call(
                "owner", "minutes", ("conference.minutes",), lambda s, key: {"minutes-minutes": f"agreed {PLANT}"}
            )
        ],
        ("conferences.close", "POST"): [
            _conference_call("coordinator", "close", ("conference.close",), lambda s, key: {})
        ],
    }
)
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


def _with_grant(s: Scene, call: Call) -> Call:
    """The call, once the receiving supervisor holds an emergency access to show in her list."""
    s.grant(s.new_case())
    return call


def _consented(s: Scene) -> str:
    """A fresh case at intake whose consent for services is recorded, so it may move on."""
    case_id = s.new_case()
    s.run(
        lambda: cases.record_step_content(
            db.session,
            user(s.world.mine.caseworker),
            case_id,
            "consent_for_services",
            {"given": True, "limits_explained": True, "method": "verbal"},
        )
    )
    return case_id


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


def _stranger(who: str) -> str:
    """The same role in a third organisation, which is party to nothing."""
    if who == "coordinator":
        return "third_coordinator"  # another network's
    return "third_supervisor" if who in ("supervisor", "receiver") else "third"


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
                refused = s.perform(call, _stranger(call.who))
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

    refused = scene.perform(Call("owner", "/cases/new", (), method="POST", form=_case_form(scene, full_name="")))
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
            Call("owner", f"/cases/{scene.case_id}/edit", (), method="POST", form=_case_form(scene, risk_level="high"))
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
