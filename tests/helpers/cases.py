"""Case files: a network with two organisations and staff of every role in each, the intake values with
planted markers, cases opened through the services, and the signed-in web client of the case pages."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import time_machine
from flask import Flask
from flask.testing import FlaskClient

from referral.accounts.models import User
from referral.cases import documents, services
from referral.cases.models import Case
from referral.extensions import db
from tests.conftest import Account, csrf, sign_in

MARKER_NAME = "Zubaida-Marker-Qx7"


MARKER_ID = "987654324"  # nine digits, its check digit right


MARKER_PHONE = "+970 59 111 2233"


@dataclass
class Org:
    id: str
    caseworker: Account
    colleague: Account
    supervisor: Account
    org_admin: Account


@dataclass
class World:
    governorate: str
    mine: Org
    other: Org
    coordinator: Account
    auditor: Account
    sysadmin: Account


def user(account: Account) -> User:
    return db.session.get(User, account.id)


def intake(world: World, **extra: Any) -> dict[str, Any]:
    values = {
        "full_name": MARKER_NAME + " Saleh",
        "national_id": MARKER_ID,
        "date_of_birth": "1994-03-02",
        "phone": MARKER_PHONE,
        "address": "Old City, near the marker mosque",
        "safe_contact": {
            "safe_to_call": True,
            "safe_to_text": False,
            "safe_voicemail": False,
            "safe_hours": "09:00-12:00",
            "instructions": "Ask for Um Ahmad",
        },
        "narrative": "Marker narrative of what happened",
        "governorate": world.governorate,
        "age_group": "25-59",
        "sex": "female",
        "disability": False,
        "gbv_type": "physical_assault",
        "perpetrator_relationship": "intimate_partner",
        "risk_level": "medium",
    }
    values.update(extra)
    return values


def open_case(app: Flask, world: World, by: Account | None = None, **extra: Any) -> str:
    with app.app_context():
        case, _ = services.create_case(
            db.session, user(by or world.mine.caseworker), services.CaseInput(intake(world, **extra))
        )
        db.session.commit()
        return case.id


def _english(app: Flask, *accounts: Account) -> None:
    """Show these users the English pages, so messages can be matched as written in the code."""
    with app.app_context():
        for account in accounts:
            db.session.get(User, account.id).locale = "en"
        db.session.commit()


def signed_in(client: FlaskClient, app: Flask, account: Account) -> FlaskClient:
    _english(app, account)
    sign_in(client, app, account)
    return client


def csrf_post(client: FlaskClient, path: str, data: dict[str, Any] | None = None) -> Any:
    return client.post(path, data={"csrf_token": csrf(client, "/account/"), **(data or {})})


def intake_form(world: World, **changes: str) -> dict[str, str]:
    values = intake(world)
    form = {k: v for k, v in values.items() if isinstance(v, str)}
    form.update(
        {"safe_to_call": "y", "safe_hours": "09:00-12:00", "instructions": "Ask for Um Ahmad", "disability": "no"}
    )
    form.update(changes)
    return form


def case_row(app: Flask, case_id: str) -> Case:
    with app.app_context():
        case = db.session.get(Case, case_id)
        db.session.expunge(case)
        return case


PDF = b"%PDF-1.7\n" + b"0" * 500 + b"\n%%EOF\n"


def closed_case(app: Flask, world: World, closed_at: datetime, *, reopen: bool = False) -> str:
    """A case opened a month before `closed_at` and walked through every step to closure."""
    with time_machine.travel(closed_at - timedelta(days=30), tick=False):
        case_id = open_case(app, world, caregiver={"name": "Marker caregiver"})
    with app.app_context():
        w, s = user(world.mine.caseworker), user(world.mine.supervisor)
        with time_machine.travel(closed_at - timedelta(days=20), tick=False):
            services.add_note(db.session, w, case_id, "Marker note about the home visit")
            services.record_step_content(
                db.session,
                w,
                case_id,
                "consent_for_services",
                {"given": True, "method": "verbal", "limits_explained": True},
            )
            services.move(db.session, w, case_id, "assessment")
            services.record_step_content(
                db.session, w, case_id, "assessment", {"needs": ["Marker need"], "risk_level": "high"}
            )
            services.move(db.session, w, case_id, "action_plan")
            services.record_step_content(db.session, w, case_id, "action_plan", {"actions": ["Marker action"]})
            services.approve(db.session, s, case_id, "action_plan")
            services.record_step_content(db.session, w, case_id, "safety_plan", "Marker safety plan: the blue door")
            services.move(db.session, w, case_id, "implementation")
            documents.upload(
                db.session, w, case_id, "Marker medical report", "assessment", io.BytesIO(PDF), "report.pdf"
            )
            services.record_step_content(
                db.session, w, case_id, "closure", {"reason": "needs_met", "survivor_told_can_return": True}
            )
            services.move(db.session, w, case_id, "closure_pending")
            db.session.commit()
        with time_machine.travel(closed_at, tick=False):
            services.approve(db.session, s, case_id, "closure")
            if reopen:
                services.move(db.session, w, case_id, "reopened", "new_needs")
            db.session.commit()
    return case_id
