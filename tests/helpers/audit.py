"""Helpers of the audit tests: the events one request wrote, a database refusing audit inserts, and the
scene and table of calls that walk every case-data route (tests/audit/test_coverage.py)."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, event, select
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
from tests.conftest import Account, Factory, csrf, sign_in
from tests.helpers.cases import MARKER_ID, MARKER_NAME, World, intake, user


def refuse_audit_inserts(refused: list[str]) -> Callable[[], None]:
    """From now on an INSERT into the audit table fails on every engine, as a full disk or a
    revoked grant would (its action names are
    noted in `refused`); returns the undo."""

    def fail(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO AUDIT_EVENT"):
            for row in parameters if many else [parameters]:
                values = row.values() if isinstance(row, dict) else row
                refused.extend(v for v in values if isinstance(v, str) and v in ACTIONS)
            raise RuntimeError("the audit store refused the insert")

    event.listen(Engine, "before_cursor_execute", fail)
    return lambda: event.remove(Engine, "before_cursor_execute", fail)


def request_events(app: Flask, request_id: str) -> list[AuditEvent]:
    """The events one request wrote (by its request id), detached."""
    with app.app_context():
        rows = list(
            db.session.scalars(select(AuditEvent).where(AuditEvent.request_id == request_id).order_by(AuditEvent.id))
        )
        db.session.expunge_all()
        return rows


# Free text planted in every field a request or fixture fills: none of it may reach an event.
PLANT = "Planted-Hq7"

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


def case_form(s: Scene, **changes: str) -> dict[str, str]:
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
    ("cases.new", "POST"): [lambda s: Call("owner", "/cases/new", ("case.create",), method="POST", form=case_form(s))],
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
            form=case_form(s, risk_level="high"),
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


def stranger_of(who: str) -> str:
    """The same role in a third organisation, which is party to nothing."""
    if who == "coordinator":
        return "third_coordinator"  # another network's
    return "third_supervisor" if who in ("supervisor", "receiver") else "third"


# ---------------------------------------------------------------------------------- conferences
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
