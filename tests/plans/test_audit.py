"""Every plan read, change and export is audited in the same transaction: if the event cannot be
written, the change is not made and nothing is handed out."""

from __future__ import annotations

import io

from flask import Flask
from sqlalchemy import func, select

from referral.extensions import db
from referral.plans.models import Activity, ActivityDelivery, DeliveryAttachment
from referral.storage import EXTENSION
from tests.conftest import csrf, sign_in
from tests.helpers.audit import refuse_audit_inserts
from tests.helpers.plans import PDF, YEAR, PlanWorld, add_activity, token


def _count(app: Flask, model: object) -> int:
    with app.app_context():
        return int(db.session.scalar(select(func.count()).select_from(model)) or 0)  # type: ignore[arg-type]


def test_if_the_event_cannot_be_written_nothing_is_changed_or_handed_out(app: Flask, pw: PlanWorld) -> None:
    activity_id = add_activity(app, pw)
    coordinator, supervisor = app.test_client(), app.test_client()
    sign_in(coordinator, app, pw.world.coordinator)
    sign_in(supervisor, app, pw.world.mine.supervisor)
    new_path = f"/plans/{pw.plan_id}/activities/new"
    new_token = csrf(coordinator, new_path)
    activity_path = f"/plans/activities/{activity_id}"
    delivery_token = csrf(supervisor, activity_path)
    api = token(app, pw.world.coordinator)
    root = app.extensions[EXTENSION].root
    files_before = len([p for p in root.rglob("*") if p.is_file()]) if root.exists() else 0
    refused: list[str] = []
    restore = refuse_audit_inserts(refused)
    try:
        answers = {
            "add": coordinator.post(
                new_path,
                data={
                    "csrf_token": new_token,
                    "title": "Refused",
                    "activity_type": "training",
                    "responsible_organization_id": pw.world.mine.id,
                    "planned_start": f"{YEAR}-06-01",
                    "planned_end": f"{YEAR}-06-01",
                    "governorate": pw.world.governorate,
                    "target_participants": "3",
                },
            ),
            "deliver": supervisor.post(
                f"{activity_path}/delivery",
                data={
                    "csrf_token": delivery_token,
                    "delivered_from": f"{YEAR}-01-02",
                    "p_female_18_24": "2",
                    "files": (io.BytesIO(PDF), "sheet.pdf"),
                },
                content_type="multipart/form-data",
            ),
            "export": coordinator.get(f"/plans/{pw.plan_id}/export.xlsx"),
            "api": app.test_client().post(
                "/api/v1/activities",
                json={
                    "network": pw.world.governorate,
                    "title": "Refused",
                    "type": "other",
                    "responsible_organization_id": pw.world.mine.id,
                    "planned_start": f"{YEAR}-06-01",
                    "planned_end": f"{YEAR}-06-01",
                },
                headers=api,
            ),
        }
    finally:
        restore()
    assert {name: r.status_code for name, r in answers.items()} == dict.fromkeys(answers, 500)
    assert answers["export"].mimetype != "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert {"plan.view", "activity.view", "plan.export"} <= set(refused)
    assert _count(app, Activity) == 1 and _count(app, ActivityDelivery) == 0 and _count(app, DeliveryAttachment) == 0
    assert (len([p for p in root.rglob("*") if p.is_file()]) if root.exists() else 0) == files_before
