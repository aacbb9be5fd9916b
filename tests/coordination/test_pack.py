"""The meeting pack: content frozen at generation (new cases change neither the stored numbers nor
the PDF), a regeneration is a new version with the new numbers, the network's numbers suppressed
exactly as the statistics pages suppress them, Arabic drawn as text in the PDF, who reads it (the
network's members; 404 for anyone else), hostile input never a 500, and the real worker making it."""

from __future__ import annotations

import contextlib
import io
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from pypdf import PdfReader
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from config import Settings
from referral.audit.models import AuditEvent
from referral.cases.models import Case
from referral.coordination import pack
from referral.coordination.models import Meeting, MeetingPack
from referral.directory.models import Network, Organization
from referral.errors import Conflict, NotFound
from referral.extensions import db
from referral.models_base import new_id, utcnow
from referral.statistics import services as statistics
from referral.statistics.queries import Scope
from tests.conftest import Account, Factory, csrf, sign_in
from tests.helpers import plans as plan_helpers
from tests.helpers.cases import World, user
from tests.helpers.coordination import action_point, attended, meeting, name_representatives, network_id, run


def _signed_in(app: Flask, account: Account) -> FlaskClient:
    client = app.test_client()
    sign_in(client, app, account)
    return client


def _cases(app: Flask, world: World, meeting_id: str, n: int) -> None:
    """`n` consenting cases of the network opened in the pack's period (statistical fields only)."""
    with app.app_context():
        found = db.session.get(Meeting, meeting_id)
        window, _previous = pack.period_for(db.session, found, utcnow())
        opened = window.start + timedelta(days=3, hours=9)
        for _ in range(n):
            db.session.add(
                Case(
                    id=new_id(),
                    case_code=f"PCK-2026-{new_id()[:6]}",
                    organization_id=world.mine.id,
                    owner_id=world.mine.caseworker.id,
                    status="intake",
                    opened_at=opened,
                    statistics_consent=True,
                    governorate=world.governorate,
                    age_group="25-59",
                    sex="female",
                    gbv_type="physical_assault",
                )
            )
        db.session.commit()


def _generate(app: Flask, world: World, meeting_id: str) -> str:
    """Ask for a version as the coordinator, then make it as the worker does."""
    pack_id = str(run(app, lambda: pack.request_pack(db.session, user(world.coordinator), meeting_id).id))
    with app.app_context():
        assert pack.generate(db.session, pack_id, commit=db.session.commit) == "ready"
        db.session.commit()
    return pack_id


def _stored(app: Flask, pack_id: str) -> MeetingPack:
    with app.app_context():
        found = db.session.get(MeetingPack, pack_id)
        db.session.expunge(found)
        return found


def _total(content: dict[str, Any], table_id: str = "cases_new_by_month") -> Any:
    table = next(t for t in content["statistics"]["tables"] if t["id"] == table_id)
    return next(c["count"] for c in table["cells"] if not c["key"])


def _text_of(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


@pytest.fixture
def team(app: Flask, world: World) -> World:
    name_representatives(app, world)
    return world


@pytest.fixture
def held(app: Flask, team: World) -> str:
    """A meeting held yesterday, both members attending, one action point from an earlier meeting."""
    earlier = meeting(app, team, days=-40, title="Earlier meeting")
    action_point(app, team, earlier, description="Map the shelters' capacity")
    found = meeting(app, team)
    attended(app, team, found)
    return found


# ------------------------------------------------------------------------------- frozen content
def test_the_pack_is_frozen_at_generation_and_a_regeneration_is_a_new_version(
    app: Flask, team: World, held: str
) -> None:
    _cases(app, team, held, 6)
    first = _generate(app, team, held)
    stored = _stored(app, first)
    assert stored.version == 1 and stored.state == "ready" and _total(stored.content) == 6
    assert [p["description"] for p in stored.content["action_points"]] == ["Map the shelters' capacity"]
    assert [i["kind"] for i in stored.content["agenda"]] == ["review", "item"]
    engaged = {e["organization"]["en"]: e for e in stored.content["engagement"]}
    assert len(engaged) >= 2 and all(e["attended"] == 1 and e["invited"] >= 1 for e in engaged.values() if e["owned"])
    web = _signed_in(app, team.mine.caseworker)
    pdf_before = web.get(f"/coordination/packs/{first}/pack.pdf?lang=ar").data
    html_before = web.get(f"/coordination/packs/{first}?lang=en").get_data(as_text=True)

    _cases(app, team, held, 3)  # new cases after the pack was made
    again = _stored(app, first)
    assert again.content == stored.content and again.pdf_ar == stored.pdf_ar and again.pdf_en == stored.pdf_en
    assert web.get(f"/coordination/packs/{first}/pack.pdf?lang=ar").data == pdf_before
    html_after = web.get(f"/coordination/packs/{first}?lang=en").get_data(as_text=True)
    assert _without_csrf(html_after) == _without_csrf(html_before)

    second = _generate(app, team, held)
    newer = _stored(app, second)
    assert newer.version == 2 and _total(newer.content) == 9
    assert _total(_stored(app, first).content) == 6  # the old version is kept as it was
    page = web.get(f"/coordination/meetings/{held}").get_data(as_text=True)
    assert page.count('data-testid="pack-status"') == 2


def _without_csrf(html: str) -> str:
    import re

    return re.sub(r'value="[^"]+"(?=[^>]*csrf)|name="csrf_token" value="[^"]+"', "", html)


def test_a_second_run_of_the_same_version_changes_nothing(app: Flask, team: World, held: str) -> None:
    pack_id = _generate(app, team, held)
    before = _stored(app, pack_id)
    _cases(app, team, held, 5)
    with app.app_context():
        assert pack.generate(db.session, pack_id, commit=db.session.commit) == "ready"
        db.session.commit()
    after = _stored(app, pack_id)
    assert after.content == before.content and after.pdf_ar == before.pdf_ar
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(MeetingPack)) == 1


def test_a_version_still_pending_refuses_another_and_a_lost_one_is_replaced(app: Flask, team: World, held: str) -> None:
    first = str(run(app, lambda: pack.request_pack(db.session, user(team.coordinator), held).id))
    with app.app_context(), pytest.raises(Conflict):
        pack.request_pack(db.session, user(team.coordinator), held)
    with app.app_context():
        db.session.rollback()
        later = utcnow() + pack.STALE_AFTER + timedelta(minutes=1)
        second = pack.request_pack(db.session, user(team.coordinator), held, now=later)
        db.session.commit()
        assert second.version == 2 and db.session.get(MeetingPack, first).state == "failed"


def test_the_period_runs_from_the_previous_meeting_or_covers_three_months(app: Flask, team: World) -> None:
    alone = meeting(app, team, days=-1)
    with app.app_context():
        found = db.session.get(Meeting, alone)
        window, previous = pack.period_for(db.session, found, utcnow())
        assert previous is None and len(window.months) == 3
        meeting_month = found.starts_at.strftime("%Y-%m")
        assert window.label[1] < meeting_month
    later = meeting(app, team, days=65)
    with app.app_context():
        found = db.session.get(Meeting, later)
        window, previous = pack.period_for(db.session, found, utcnow() + timedelta(days=66))
        assert previous is not None and previous.id == alone
        assert window.label[0] == previous.starts_at.strftime("%Y-%m")


# ------------------------------------------------------------------------------- suppression
def test_the_numbers_are_suppressed_as_on_the_statistics_pages(app: Flask, team: World, held: str) -> None:
    _cases(app, team, held, 3)
    pack_id = _generate(app, team, held)
    stored = _stored(app, pack_id)
    payload = stored.content["statistics"]
    assert _total(stored.content) == "<5" == payload["suppressed_label"]
    with app.app_context():
        found = db.session.get(Meeting, held)
        window, _previous = pack.period_for(db.session, found, utcnow())
        net = db.session.get(Network, found.network_id)
        page = statistics.compute(
            db.session,
            user(team.coordinator),
            Scope("network", (net.governorate,), network_id=net.id),
            window,
            compare=False,
            audit_action=None,
        )
        assert statistics.to_payload(page)["tables"] == payload["tables"]
    web = _signed_in(app, team.other.caseworker)
    html = web.get(f"/coordination/packs/{pack_id}?lang=en").get_data(as_text=True)
    assert "&lt;5" in html and 'data-testid="stats-cases_new_by_month"' in html
    assert ">3<" not in html.split('data-testid="pack-statistics"')[1].split("</section>")[0]
    assert "<5" in _text_of(stored.pdf_en)


# ------------------------------------------------------------------------------- the PDF in Arabic
def test_the_pdf_holds_the_arabic_as_text_in_both_languages(app: Flask, team: World, held: str) -> None:
    plan_helpers.world_activity(app, team)
    pack_id = _generate(app, team, held)
    web = _signed_in(app, team.coordinator)
    answer = web.get(f"/coordination/packs/{pack_id}/pack.pdf?lang=ar")
    assert answer.status_code == 200 and answer.mimetype == "application/pdf" and answer.data.startswith(b"%PDF-")
    assert answer.headers["Cache-Control"] == "no-store"
    with app.app_context():
        network_ar = db.session.get(Network, network_id(app, team)).name_ar
        members_ar = [db.session.get(Organization, o).name_ar for o in (team.mine.id, team.other.id)]
    arabic = _text_of(answer.data)
    # the Arabic names are drawn as text (shaped: compared letter by letter, as tests/plans does)
    for name in (network_ar, *members_ar):
        assert set(name.replace(" ", "")) - set("0123456789") <= set(arabic), name
    font = PdfReader(io.BytesIO(answer.data)).pages[0]["/Resources"]["/Font"]
    embedded = [
        f.get_object()["/DescendantFonts"][0].get_object()["/FontDescriptor"].get_object() for f in font.values()
    ]
    assert any("NotoNaskhArabic" in str(d["/FontName"]) for d in embedded)
    assert "Map the shelters" in arabic  # the action point, as written
    english = _text_of(web.get(f"/coordination/packs/{pack_id}/pack.pdf?lang=en").data)
    assert "Agenda" in english and "Decisions" in english and "Map the shelters" in english
    # the reader's language by default (the test users read Arabic)
    assert web.get(f"/coordination/packs/{pack_id}/pack.pdf").data == answer.data


# ------------------------------------------------------------------------------- who reads it
def test_members_read_it_and_everyone_else_gets_404(app: Flask, team: World, held: str, factory: Factory) -> None:
    pack_id = _generate(app, team, held)
    for account in (team.mine.caseworker, team.other.org_admin, team.coordinator):
        web = _signed_in(app, account)
        assert web.get(f"/coordination/packs/{pack_id}").status_code == 200, account.role
        assert web.get(f"/coordination/packs/{pack_id}/pack.pdf?lang=en").status_code == 200
        assert web.get(f"/coordination/packs/{pack_id}/status").status_code == 200
    other = factory.network()
    outsider_org = factory.organization(other)
    for account in (factory.user("caseworker", outsider_org), factory.user("coordinator", outsider_org, network=other)):
        web = _signed_in(app, account)
        for path in (
            f"/coordination/packs/{pack_id}",
            f"/coordination/packs/{pack_id}/pack.pdf?lang=ar",
            f"/coordination/packs/{pack_id}/status",
        ):
            assert web.get(path).status_code == 404, (account.role, path)
        token = csrf(web, "/account/")
        assert web.post(f"/coordination/meetings/{held}/pack", data={"csrf_token": token}).status_code == 404
    member = _signed_in(app, team.mine.caseworker)  # a member reads, but does not generate
    token = csrf(member, "/account/")
    assert member.post(f"/coordination/meetings/{held}/pack", data={"csrf_token": token}).status_code == 404
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(MeetingPack)) == 1
        with pytest.raises(NotFound):
            pack.pack_for(db.session, user(account), pack_id)


def test_generation_views_and_downloads_are_audited(app: Flask, team: World, held: str) -> None:
    web = _signed_in(app, team.coordinator)
    token = csrf(web, f"/coordination/meetings/{held}")
    answer = web.post(f"/coordination/meetings/{held}/pack", data={"csrf_token": token})
    assert answer.status_code == 303 and answer.headers["Location"].endswith("#pack")
    with app.app_context():
        found = db.session.scalar(select(MeetingPack))
        assert found.state == "queued" and found.requested_by == team.coordinator.id
        pack_id = found.id
    page = web.get(f"/coordination/meetings/{held}").get_data(as_text=True)
    assert 'hx-get="/coordination/packs/' in page and 'hx-trigger="every 2s"' in page  # the status row polls
    assert f'action="/coordination/meetings/{held}/pack"' in page
    member_page = _signed_in(app, team.mine.caseworker).get(f"/coordination/meetings/{held}").get_data(as_text=True)
    assert 'data-testid="pack-status"' in member_page
    assert f'action="/coordination/meetings/{held}/pack"' not in member_page
    assert web.get(f"/coordination/packs/{pack_id}/pack.pdf").status_code == 409  # not ready yet
    with app.app_context():
        pack.generate(db.session, pack_id, commit=db.session.commit)
        db.session.commit()
    row = web.get(f"/coordination/packs/{pack_id}/status").get_data(as_text=True)
    assert 'data-state="ready"' in row and "hx-trigger" not in row
    reader = _signed_in(app, team.mine.caseworker)
    reader.get(f"/coordination/packs/{pack_id}")
    reader.get(f"/coordination/packs/{pack_id}/pack.pdf?lang=en")
    with app.app_context():
        events = {
            (e.action, e.actor_id)
            for e in db.session.scalars(
                select(AuditEvent).where(AuditEvent.action.like("meeting_pack.%")).order_by(AuditEvent.id)
            )
        }
    assert events == {
        ("meeting_pack.generate", team.coordinator.id),
        ("meeting_pack.view", team.mine.caseworker.id),
        ("meeting_pack.download", team.mine.caseworker.id),
    }


# ------------------------------------------------------------------------------- hostile input
@pytest.mark.parametrize(
    "query",
    ["?lang=fr", "?lang=ar&lang=en", "?lang=%00", "?lang=" + "x" * 5000, "?lang=../../etc/passwd"],
)
def test_a_bad_language_is_a_400(app: Flask, team: World, held: str, query: str) -> None:
    pack_id = _generate(app, team, held)
    web = _signed_in(app, team.mine.caseworker)
    for path in (f"/coordination/packs/{pack_id}", f"/coordination/packs/{pack_id}/pack.pdf"):
        assert web.get(path + query).status_code == 400, path + query


@pytest.mark.parametrize("bad", ["not-a-uuid", "00000000-0000-0000-0000-000000000000", "'; drop table x;--", "%00"])
def test_unknown_or_malformed_ids_are_404(app: Flask, team: World, held: str, bad: str) -> None:
    web = _signed_in(app, team.coordinator)
    token = csrf(web, "/account/")
    for path in (
        f"/coordination/packs/{bad}",
        f"/coordination/packs/{bad}/pack.pdf",
        f"/coordination/packs/{bad}/status",
    ):
        assert web.get(path).status_code == 404, path
    assert web.post(f"/coordination/meetings/{bad}/pack", data={"csrf_token": token}).status_code == 404


def test_a_second_request_while_one_is_pending_is_named_and_keeps_one_version(
    app: Flask, team: World, held: str
) -> None:
    web = _signed_in(app, team.coordinator)
    token = csrf(web, f"/coordination/meetings/{held}")
    assert web.post(f"/coordination/meetings/{held}/pack", data={"csrf_token": token}).status_code == 303
    again = web.post(f"/coordination/meetings/{held}/pack", data={"csrf_token": token}, follow_redirects=True)
    assert again.status_code == 200
    assert "still being prepared" in again.get_data(as_text=True) or "قيد" in again.get_data(as_text=True)
    assert web.post(f"/coordination/meetings/{held}/pack", data={}).status_code == 400  # no CSRF token
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(MeetingPack)) == 1


# ------------------------------------------------------------------------------- the real worker
@pytest.mark.worker
def test_a_real_worker_makes_the_pack_the_coordinator_asked_for(
    app: Flask, settings: Settings, team: World, held: str, tmp_path: Path, worker_env: dict[str, str], use_broker: None
) -> None:
    from tests.helpers.workers import broker_url, start_worker

    url = broker_url("embedded", tmp_path)
    app.config["SHABAKA_SETTINGS"] = replace(settings, broker_url=url)
    app.extensions.pop("shabaka.celery", None)
    web = _signed_in(app, team.coordinator)
    token = csrf(web, f"/coordination/meetings/{held}")
    assert web.post(f"/coordination/meetings/{held}/pack", data={"csrf_token": token}).status_code == 303
    worker = start_worker({**worker_env, "CELERY_BROKER_URL": url}, tmp_path / "worker.log")
    try:
        deadline = time.monotonic() + 90
        state = "queued"
        while time.monotonic() < deadline and state != "ready":
            with app.app_context():
                with contextlib.suppress(OperationalError):  # SQLite: the worker is writing
                    state = str(db.session.scalar(select(MeetingPack.state)))
                db.session.rollback()
            time.sleep(0.5)
        assert state == "ready", (tmp_path / "worker.log").read_text(errors="replace")[-3000:]
    finally:
        import os
        import signal

        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=30)
    with app.app_context():
        found = db.session.scalar(select(MeetingPack))
        assert found.pdf_ar and found.pdf_ar.startswith(b"%PDF-") and found.content["meeting"]["id"] == held


def test_a_generation_that_fails_is_shown_failed_and_keeps_nothing_half_made(
    app: Flask, team: World, held: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    pack_id = str(run(app, lambda: pack.request_pack(db.session, user(team.coordinator), held).id))

    def broken(content: dict[str, Any], locale: str) -> bytes:
        raise RuntimeError("the drawing failed")

    monkeypatch.setattr(pack, "render_pdf", broken)
    with app.app_context(), pytest.raises(RuntimeError):
        pack.generate(db.session, pack_id, commit=db.session.commit)
    failed = _stored(app, pack_id)
    assert failed.state == "failed" and failed.content is None and failed.pdf_ar is None
    web = _signed_in(app, team.coordinator)
    page = web.get(f"/coordination/packs/{pack_id}")
    assert page.status_code == 200 and 'data-state="failed"' in page.get_data(as_text=True)
    assert web.get(f"/coordination/packs/{pack_id}/pack.pdf").status_code == 409
    monkeypatch.undo()
    assert _stored(app, _generate(app, team, held)).version == 2  # a failed version does not block the next
