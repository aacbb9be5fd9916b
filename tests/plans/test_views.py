"""The plans on the web and in the API: who reads and who writes, hostile input answered with the
problem named and nothing kept, delivery files encrypted at rest, the exports in Arabic."""

from __future__ import annotations

import io
import re
from datetime import date
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from fontTools.ttLib import TTFont
from jsonschema import Draft202012Validator
from openpyxl import load_workbook
from pypdf import PdfReader
from sqlalchemy import func, select, text

from referral.api.openapi import document
from referral.directory.models import Network, Organization
from referral.extensions import db
from referral.plans.models import Activity, ActivityDelivery, DeliveryAttachment
from referral.storage import EXTENSION
from tests.conftest import Account, arabic, csrf, sign_in
from tests.helpers.plans import YEAR, PlanWorld, add_activity, deliver, token

CASE_CODE = "Remove the case code: plans and reports never name a case."

PDF_BYTES = b"%PDF-1.4\n% Attendance sheet without names: marker-Zq81 \n%%EOF\n"


def _signed_in(app: Flask, account: Account) -> FlaskClient:
    client = app.test_client()
    sign_in(client, app, account)
    return client


def _count(app: Flask, model: Any) -> int:
    with app.app_context():
        return int(db.session.scalar(select(func.count()).select_from(model)) or 0)


def _stored_files(app: Flask) -> list[bytes]:
    root = app.extensions[EXTENSION].root
    return [p.read_bytes() for p in root.rglob("*") if p.is_file()] if root.exists() else []


def _delivery_form(pw: PlanWorld, **extra: Any) -> dict[str, Any]:
    form: dict[str, Any] = {
        "delivered_from": f"{YEAR}-01-04",
        "p_female_18_24": "12",
        "p_female_60plus": "٣",  # Arabic-Indic digits are read as digits
        "p_male_25_59": "4",
        "organization_ids": [pw.world.other.id],
        "report": "Sessions on the referral pathway",
    }
    form.update(extra)
    return form


# ---------------------------------------------------------------------------------- reading
def test_members_read_the_plan_and_other_networks_get_404(app: Flask, pw: PlanWorld) -> None:
    activity_id = add_activity(app, pw, title="Training for nurses")
    deliver(app, pw, activity_id)
    for account in (pw.world.other.caseworker, pw.world.mine.org_admin, pw.world.coordinator, pw.national):
        web = _signed_in(app, account)
        page = web.get(f"/plans/{pw.plan_id}")
        assert page.status_code == 200, account.role
        assert "Training for nurses" in page.get_data(as_text=True)
        assert web.get(f"/plans/activities/{activity_id}").status_code == 200
        listed = web.get("/plans").get_data(as_text=True)
        assert f"/plans/{pw.plan_id}" in listed
    for account in (pw.stranger, pw.stranger_coordinator):
        web = _signed_in(app, account)
        for path in (
            f"/plans/{pw.plan_id}",
            f"/plans/{pw.plan_id}/calendar",
            f"/plans/{pw.plan_id}/export.xlsx",
            f"/plans/{pw.plan_id}/export.pdf",
            f"/plans/activities/{activity_id}",
            f"/plans/activities/{activity_id}/edit",
        ):
            assert web.get(path).status_code == 404, (account.role, path)
        assert f"/plans/{pw.plan_id}" not in web.get("/plans").get_data(as_text=True)


def test_the_list_filters_and_refuses_a_bad_filter(app: Flask, pw: PlanWorld) -> None:
    add_activity(app, pw, title="Alpha training")
    add_activity(
        app,
        pw,
        title="Beta campaign",
        activity_type="awareness_campaign",
        planned_start=f"{YEAR}-07-01",
        planned_end=f"{YEAR}-07-02",
        responsible_organization_id=pw.world.other.id,
        partner_organization_ids=[],
    )
    web = _signed_in(app, pw.world.mine.caseworker)

    def titles(query: str) -> set[str]:
        page = web.get(f"/plans/{pw.plan_id}?{query}")
        assert page.status_code == 200, query
        body = page.get_data(as_text=True)
        return {t for t in ("Alpha training", "Beta campaign") if f">{t}<" in body}

    assert titles("") == {"Alpha training", "Beta campaign"}
    assert titles("type=awareness_campaign") == {"Beta campaign"}
    assert titles("quarter=1") == {"Alpha training"}
    assert titles("status=completed") == set()
    assert titles(f"organization={pw.world.other.id}") == {"Alpha training", "Beta campaign"}  # partner, responsible
    assert titles(f"organization={pw.world.mine.id}") == {"Alpha training"}
    for bad in ("type=party", "quarter=5", "status=x", "organization=nope", "type=training&type=other"):
        refused = web.get(f"/plans/{pw.plan_id}?{bad}")
        assert refused.status_code == 400, bad
        assert "Alpha training" not in refused.get_data(as_text=True)


def test_the_calendar_shows_each_activity_on_its_days(app: Flask, pw: PlanWorld) -> None:
    add_activity(app, pw, title="Three-day training", planned_start=f"{YEAR}-02-10", planned_end=f"{YEAR}-02-12")
    web = _signed_in(app, pw.world.mine.caseworker)
    page = web.get(f"/plans/{pw.plan_id}/calendar?month={YEAR}-02").get_data(as_text=True)
    days = re.findall(r'data-day="([0-9-]+)"><bdi>Three-day training</bdi><', page)
    assert days == [f"{YEAR}-02-10", f"{YEAR}-02-11", f"{YEAR}-02-12"]
    assert "Three-day training" not in web.get(f"/plans/{pw.plan_id}/calendar?month={YEAR}-03").get_data(as_text=True)
    for bad in ("13", f"{YEAR + 1}-02", "February"):
        assert web.get(f"/plans/{pw.plan_id}/calendar?month={bad}").status_code == 400, bad


# ---------------------------------------------------------------------------------- writing
def test_the_coordinator_adds_an_activity_and_bad_input_is_named_and_kept(app: Flask, pw: PlanWorld) -> None:
    web = _signed_in(app, pw.world.coordinator)
    path = f"/plans/{pw.plan_id}/activities/new"
    form = {
        "csrf_token": csrf(web, path),
        "title": "Awareness week",
        "activity_type": "awareness_campaign",
        "responsible_organization_id": pw.world.other.id,
        "partner_organization_ids": [pw.world.mine.id],
        "planned_start": f"{YEAR + 1}-03-08",
        "planned_end": f"{YEAR}-03-01",
        "governorate": pw.world.governorate,
        "target_sectors": ["health"],
        "target_participants": "abc",
        "decision_ref": "Decision 4 about NBL-2026-000011",
    }
    refused = web.post(path, data=form)
    assert refused.status_code == 400
    body = refused.get_data(as_text=True)
    assert 'value="Awareness week"' in body  # the input is kept
    assert arabic(app, "The date must fall in the plan's year.") in body
    assert arabic(app, CASE_CODE) in body and arabic(app, "Enter a whole number from 0 to 100,000.") in body
    assert _count(app, Activity) == 0
    form.update(planned_start=f"{YEAR}-03-01", planned_end=f"{YEAR}-03-08", target_participants="٤٠", decision_ref="4")
    done = web.post(path, data=form)
    assert done.status_code == 303, done.get_data(as_text=True)[:400]
    with app.app_context():
        [activity] = db.session.scalars(select(Activity)).all()
        assert (activity.title, activity.target_participants, activity.partner_organization_ids) == (
            "Awareness week",
            40,
            [pw.world.mine.id],
        )


def test_members_may_not_add_or_change_activities(app: Flask, pw: PlanWorld) -> None:
    activity_id = add_activity(app, pw)
    web = _signed_in(app, pw.world.mine.supervisor)
    token_ = csrf(web, f"/plans/activities/{activity_id}")
    assert web.get(f"/plans/{pw.plan_id}/activities/new").status_code == 403
    assert (
        web.post(f"/plans/activities/{activity_id}/edit", data={"csrf_token": token_, "title": "x"}).status_code == 403
    )
    assert web.post("/plans", data={"csrf_token": token_, "network": pw.network_id, "year": "2031"}).status_code == 404


def test_a_delivery_with_a_file_is_encrypted_at_rest(app: Flask, pw: PlanWorld) -> None:
    activity_id = add_activity(app, pw)
    web = _signed_in(app, pw.world.mine.supervisor)
    path = f"/plans/activities/{activity_id}"
    form = _delivery_form(pw, csrf_token=csrf(web, path), completes="y", files=(io.BytesIO(PDF_BYTES), "names.pdf"))
    answer = web.post(f"{path}/delivery", data=form, content_type="multipart/form-data")
    assert answer.status_code == 303, answer.get_data(as_text=True)[:600]
    with app.app_context():
        delivery = db.session.scalars(select(ActivityDelivery)).one()
        assert delivery.participants_total == 19 and delivery.activity.status == "completed"
        [attachment] = delivery.attachments
        raw_report = bytes(db.session.execute(text("SELECT report FROM activity_delivery")).scalar_one())
        attachment_id, storage_key = attachment.id, attachment.storage_key
    assert b"referral pathway" not in raw_report  # the report is encrypted in its column
    stored = app.extensions[EXTENSION].path(storage_key).read_bytes()
    assert b"marker-Zq81" not in stored and b"%PDF" not in stored and len(stored) > len(PDF_BYTES)
    # every member reads it back as it was sent; another network does not reach it at all
    reader = _signed_in(app, pw.world.other.caseworker)
    download = reader.get(f"/plans/attachments/{attachment_id}")
    assert download.status_code == 200 and download.data == PDF_BYTES
    assert download.headers["Cache-Control"] == "no-store" and download.mimetype == "application/pdf"
    assert _signed_in(app, pw.stranger).get(f"/plans/attachments/{attachment_id}").status_code == 404


def test_refused_deliveries_keep_nothing(app: Flask, pw: PlanWorld) -> None:
    activity_id = add_activity(app, pw)
    path = f"/plans/activities/{activity_id}"
    files_before = len(_stored_files(app))
    web = _signed_in(app, pw.world.mine.supervisor)
    coded = web.post(
        f"{path}/delivery",
        data=_delivery_form(
            pw, csrf_token=csrf(web, path), report="About case NBL-2026-000009", files=(io.BytesIO(PDF_BYTES), "a.pdf")
        ),
        content_type="multipart/form-data",
    )
    assert coded.status_code == 400
    body = coded.get_data(as_text=True)
    assert arabic(app, CASE_CODE) in body and 'value="12"' in body  # named, and the counts kept
    program = web.post(
        f"{path}/delivery",
        data=_delivery_form(pw, csrf_token=csrf(web, path), files=(io.BytesIO(b"MZ\x90\x00program"), "x.pdf")),
        content_type="multipart/form-data",
    )
    assert program.status_code == 400 and 'id="form-error"' in program.get_data(as_text=True)
    hostile = web.post(
        f"{path}/delivery",
        data=_delivery_form(
            pw, csrf_token=csrf(web, path), delivered_from="2026-13-45", p_male_0_11="-1", report="a\x00b"
        ),
    )
    assert hostile.status_code == 400
    # not the responsible organisation: refused, nothing kept
    other = _signed_in(app, pw.world.other.supervisor)
    refused = other.post(
        f"{path}/delivery",
        data=_delivery_form(pw, csrf_token=csrf(other, path), files=(io.BytesIO(PDF_BYTES), "a.pdf")),
        content_type="multipart/form-data",
    )
    assert refused.status_code == 403
    assert "delivery-form" not in other.get(path).get_data(as_text=True)  # no form offered either
    assert _count(app, ActivityDelivery) == 0 and _count(app, DeliveryAttachment) == 0
    assert len(_stored_files(app)) == files_before


def test_status_moves_on_the_web(app: Flask, pw: PlanWorld) -> None:
    activity_id = add_activity(app, pw)
    path = f"/plans/activities/{activity_id}"
    web = _signed_in(app, pw.world.mine.supervisor)
    page = web.get(path).get_data(as_text=True)
    assert 'data-move="ongoing"' in page and 'data-move="cancelled"' not in page  # cancelling is the coordinator's
    assert web.post(f"{path}/status", data={"csrf_token": csrf(web, path), "status": "ongoing"}).status_code == 303
    again = web.post(f"{path}/status", data={"csrf_token": csrf(web, path), "status": "planned"})
    assert again.status_code == 409
    assert web.post(f"{path}/status", data={"csrf_token": csrf(web, path), "status": "<script>"}).status_code == 400
    with app.app_context():
        assert db.session.get(Activity, activity_id).status == "ongoing"


# ---------------------------------------------------------------------------------- exports
def test_the_xlsx_export_opens_and_is_arabic(app: Flask, pw: PlanWorld) -> None:
    activity_id = add_activity(app, pw, title="تدريب حول مسار التحويل")
    deliver(app, pw, activity_id)
    web = _signed_in(app, pw.world.mine.caseworker)  # her locale is Arabic
    answer = web.get(f"/plans/{pw.plan_id}/export.xlsx")
    assert answer.status_code == 200 and answer.headers["Cache-Control"] == "no-store"
    book = load_workbook(io.BytesIO(answer.data))
    assert all(sheet.sheet_view.rightToLeft for sheet in book.worksheets)
    listing = book.worksheets[1]
    header = [c.value for c in listing[1]]
    assert header[0] == "العنوان" and header[2] == "الوضع"  # Title, Status in Arabic
    with app.app_context():
        mine = db.session.get(Organization, pw.world.mine.id)
        network = db.session.get(Network, pw.network_id)
        names = (mine.name_ar, network.name_ar)
    row = [c.value for c in listing[2]]
    assert row[0] == "تدريب حول مسار التحويل" and row[3] == names[0] and row[10] == 18
    assert names[1] in str(book.worksheets[0]["A1"].value)


def test_the_pdf_export_holds_the_arabic_shaped(app: Flask, pw: PlanWorld) -> None:
    add_activity(app, pw, title="حملة توعية")
    web = _signed_in(app, pw.world.mine.caseworker)
    answer = web.get(f"/plans/{pw.plan_id}/export.pdf")
    assert answer.status_code == 200 and answer.data.startswith(b"%PDF-") and answer.mimetype == "application/pdf"
    reader = PdfReader(io.BytesIO(answer.data))
    extracted = "\n".join(p.extract_text() for p in reader.pages)
    with app.app_context():
        network_ar = db.session.get(Network, pw.network_id).name_ar
    # the Arabic letters of the title, the network's name and the labels are drawn as text
    assert set("حملةتوعية") <= set(extracted) and set(network_ar.replace(" ", "")) - set("0123456789") <= set(extracted)
    font = reader.pages[0]["/Resources"]["/Font"]
    embedded = [
        f.get_object()["/DescendantFonts"][0].get_object()["/FontDescriptor"].get_object() for f in font.values()
    ]
    assert any("NotoNaskhArabic" in str(d["/FontName"]) for d in embedded)
    glyphs: set[str] = set()
    for descriptor in embedded:
        glyphs |= set(TTFont(io.BytesIO(descriptor["/FontFile2"].get_object().get_data())).getGlyphOrder())
    assert any(re.fullmatch(r"uniFE[89A-F][0-9A-F]", g) for g in glyphs)  # contextual forms: shaped


# ---------------------------------------------------------------------------------- API
def _validator(name: str) -> Draft202012Validator:
    doc = document()
    schema = {**doc["components"]["schemas"][name], "components": doc["components"]}
    return Draft202012Validator(_rebase(schema))


def _rebase(schema: Any) -> Any:
    if isinstance(schema, dict):
        return {
            k: (v.replace("#/components", "#/components") if k == "$ref" else _rebase(v)) for k, v in schema.items()
        }
    if isinstance(schema, list):
        return [_rebase(v) for v in schema]
    return schema


def _api_body(pw: PlanWorld, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "network": pw.world.governorate,
        "title": "Joint legal clinic",
        "type": "joint_event",
        "responsible_organization_id": pw.world.other.id,
        "planned_start": f"{YEAR}-10-01",
        "planned_end": f"{YEAR}-10-01",
        "target_sectors": ["legal_aid"],
        "target_participants": 25,
    }
    body.update(extra)
    return body


def test_the_api_lists_and_adds_activities(app: Flask, pw: PlanWorld, client: FlaskClient) -> None:
    activity_id = add_activity(app, pw)
    deliver(app, pw, activity_id)
    member = token(app, pw.world.other.caseworker)
    answer = client.get("/api/v1/activities", headers=member)
    assert answer.status_code == 200
    page = answer.get_json()
    _validator("ActivityPage").validate(page)
    [item] = page["items"]
    assert item["id"] == activity_id and item["participants_reached"] == 18 and item["quarter"] == 1
    assert "report" not in str(item)
    assert (
        client.get(
            f"/api/v1/activities?network={pw.world.governorate}&year={YEAR}&type=training&status=ongoing",
            headers=member,
        ).get_json()["items"][0]["id"]
        == activity_id
    )
    assert client.get("/api/v1/activities?status=completed", headers=member).get_json()["items"] == []
    stranger = token(app, pw.stranger)
    assert client.get("/api/v1/activities", headers=stranger).get_json()["items"] == []
    assert client.get(f"/api/v1/activities?network={pw.world.governorate}", headers=stranger).status_code == 404
    for bad in ("type=party", "year=abc", "status=x", "limit=0", "network=Bad!", "cursor=AAAA", "colour=red"):
        refused = client.get(f"/api/v1/activities?{bad}", headers=member)
        assert refused.status_code in (400, 422), bad
        assert refused.get_json()["error"]["fields"], bad

    coordinator = token(app, pw.world.coordinator)
    created = client.post("/api/v1/activities", json=_api_body(pw), headers=coordinator)
    assert created.status_code == 201, created.get_json()
    _validator("Activity").validate(created.get_json())
    # next year's plan is made with its first activity
    later = client.post(
        "/api/v1/activities",
        json=_api_body(pw, planned_start=f"{YEAR + 1}-01-10", planned_end=f"{YEAR + 1}-01-11"),
        headers=coordinator,
    )
    assert (
        later.status_code == 201 and later.get_json()["year"] == YEAR + 1 and later.get_json()["plan_id"] != pw.plan_id
    )
    # paging: one at a time, nothing twice, nothing lost
    seen, cursor = [], ""
    while True:
        got = client.get(f"/api/v1/activities?limit=1&cursor={cursor}", headers=member).get_json()
        seen += [i["id"] for i in got["items"]]
        if not got["next_cursor"]:
            break
        cursor = got["next_cursor"]
    assert len(seen) == 3 and len(set(seen)) == 3


def test_the_api_refuses_bad_activities_field_by_field(app: Flask, pw: PlanWorld, client: FlaskClient) -> None:
    coordinator = token(app, pw.world.coordinator)
    before = _count(app, Activity)
    missing = client.post("/api/v1/activities", json={"network": pw.world.governorate}, headers=coordinator)
    assert missing.status_code == 400
    assert {"title", "type", "responsible_organization_id", "planned_start", "planned_end"} <= set(
        missing.get_json()["error"]["fields"]
    )
    unknown = client.post("/api/v1/activities", json=_api_body(pw, colour="red"), headers=coordinator)
    assert unknown.status_code == 400 and unknown.get_json()["error"]["fields"] == {"colour": "unknown field"}
    wrong = client.post(
        "/api/v1/activities",
        json=_api_body(pw, planned_start=f"{YEAR}-02-30", target_participants=-1, type="party"),
        headers=coordinator,
    )
    assert wrong.status_code == 400
    assert set(wrong.get_json()["error"]["fields"]) == {"planned_start", "target_participants", "type"}
    rule = client.post(
        "/api/v1/activities",
        json=_api_body(pw, responsible_organization_id=pw.stranger.organization_id, decision_ref="NBL-2026-000001"),
        headers=coordinator,
    )
    assert rule.status_code == 422
    assert rule.get_json()["error"]["fields"] == {
        "responsible_organization_id": "not_a_member",
        "decision_ref": "case_code",
    }
    assert (
        client.post(
            "/api/v1/activities", data="{", headers={**coordinator, "Content-Type": "application/json"}
        ).status_code
        == 400
    )
    member = token(app, pw.world.mine.supervisor)
    assert client.post("/api/v1/activities", json=_api_body(pw), headers=member).status_code == 403
    elsewhere = token(app, pw.stranger_coordinator)
    assert client.post("/api/v1/activities", json=_api_body(pw), headers=elsewhere).status_code == 404
    assert (
        client.post("/api/v1/activities", json=_api_body(pw, network="atlantis"), headers=coordinator).status_code
        == 404
    )
    assert _count(app, Activity) == before
    assert date.today().year == YEAR


def test_making_a_plan_on_the_web(app: Flask, pw: PlanWorld) -> None:
    web = _signed_in(app, pw.national)  # the national coordinator chooses any network
    page = web.get("/plans").get_data(as_text=True)
    assert 'data-testid="plan-form"' in page and pw.network_id in page
    for year, problem in (
        ("abc", "Enter a year between 2000 and 2100."),
        ("1999", "Enter a year between 2000 and 2100."),
        (str(YEAR), "This network already has a plan for that year."),
    ):
        refused = web.post("/plans", data={"csrf_token": csrf(web, "/plans"), "network": pw.network_id, "year": year})
        assert refused.status_code == 400 and arabic(app, problem) in refused.get_data(as_text=True), year
    made = web.post("/plans", data={"csrf_token": csrf(web, "/plans"), "network": pw.network_id, "year": str(YEAR + 3)})
    assert made.status_code == 303
    member = _signed_in(app, pw.world.mine.caseworker)
    assert 'data-testid="plan-form"' not in member.get("/plans").get_data(as_text=True)


def test_delivery_files_follow_key_rotation(app: Flask, pw: PlanWorld) -> None:
    from referral.security.keys import current_row
    from tests.helpers.plans import PDF as SHEET
    from tests.helpers.plans import world_attachment

    attachment_id = world_attachment(app, pw.world)
    with app.app_context():
        old_key = current_row(db.session, pw.world.mine.id, "data").id  # type: ignore[union-attr]
        before = db.session.get(DeliveryAttachment, attachment_id).storage_key
    runner = app.test_cli_runner()
    assert runner.invoke(args=["keys", "rotate", "--org", pw.world.mine.id]).exit_code == 0
    assert runner.invoke(args=["keys", "retire", str(old_key)]).exit_code != 0  # the file still uses it
    done = runner.invoke(args=["keys", "reencrypt"])
    assert done.exit_code == 0, done.output
    with app.app_context():
        after = db.session.get(DeliveryAttachment, attachment_id).storage_key
    assert after != before and not app.extensions[EXTENSION].path(before).exists()
    assert runner.invoke(args=["keys", "retire", str(old_key)]).exit_code == 0
    download = _signed_in(app, pw.world.other.caseworker).get(f"/plans/attachments/{attachment_id}")
    assert download.status_code == 200 and download.data == SHEET
