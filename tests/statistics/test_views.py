"""The statistics pages as their users reach them: who sees what, hostile filters, exports."""

from __future__ import annotations

import io
from datetime import date

import openpyxl
import pytest
from flask import Flask

from referral.audit.models import AuditEvent
from referral.extensions import db
from tests.conftest import sign_in
from tests.helpers.statistics import StatsWorld, at


def _client(app: Flask, account: object) -> object:
    client = app.test_client()
    sign_in(client, app, account)
    return client


def _some_cases(w: StatsWorld) -> None:
    for i in range(9):
        w.case(w.members[0], at(3, 1 + i), gbv_type="physical_assault")
    for i in range(2):
        w.case(w.members[1], at(4, 1 + i), gbv_type="rape")


def test_the_coordinator_page_shows_tables_and_suppressed_cells_and_no_case_code(
    app: Flask, stats_world: StatsWorld
) -> None:
    w = stats_world
    _some_cases(w)
    client = _client(app, w.coordinator)
    page = client.get("/statistics?from=2026-01&to=2026-12")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'data-testid="stats-table-cases_new_by_gbv_type"' in html
    assert "&lt;5" in html
    assert "TST-" not in html  # no case code
    with app.app_context():
        from referral.directory.models import Organization

        for org in db.session.scalars(db.select(Organization)):
            assert org.name_ar not in html.split('id="chart-data"')[0].split("</nav>")[-1]
        assert (
            db.session.scalar(
                db.select(AuditEvent).where(AuditEvent.action == "statistics.view").order_by(AuditEvent.id)
            )
            is not None
        )


@pytest.mark.parametrize(
    "query",
    [
        "from=2026-13",
        "from=abc&to=2026-01",
        "from=2026-06&to=2026-01",
        "from=1990-01&to=2026-01",
        "sector=nope",
        "from=2026-01&from=2026-02",
        "from=%00%27%22&to=%E2%80%AE",
    ],
)
def test_hostile_filters_name_the_problem(app: Flask, stats_world: StatsWorld, query: str) -> None:
    client = _client(app, stats_world.coordinator)
    page = client.get(f"/statistics?{query}")
    assert page.status_code in (400, 422), page.status_code
    assert "invalid-feedback" in page.get_data(as_text=True) or "alert" in page.get_data(as_text=True)


def test_others_read_releases_only(app: Flask, stats_world: StatsWorld) -> None:
    w = stats_world
    for account in (w.members[0].caseworker, w.auditor):
        client = _client(app, account)
        assert client.get("/statistics").status_code == 302
        assert client.get("/statistics/releases").status_code == 200
        assert client.get("/statistics/export.csv").status_code == 404
        assert client.get("/statistics/requests").status_code == 404
    client = _client(app, w.coordinator)
    assert client.get(f"/statistics?network={w.other_governorate}").status_code == 404


def test_exports_are_audited_and_suppressed_as_on_screen(app: Flask, stats_world: StatsWorld) -> None:
    w = stats_world
    _some_cases(w)
    client = _client(app, w.coordinator)
    csv_answer = client.get("/statistics/export.csv?from=2026-01&to=2026-12")
    text = csv_answer.get_data(as_text=True)
    assert csv_answer.status_code == 200 and "<5" in text
    with app.app_context():
        from referral.directory.models import Organization

        for org in db.session.scalars(db.select(Organization)):
            assert org.name_en not in text and org.name_ar not in text
    assert "TST-" not in text
    xlsx = client.get("/statistics/export.xlsx?from=2026-01&to=2026-12")
    assert xlsx.status_code == 200
    book = openpyxl.load_workbook(io.BytesIO(xlsx.data))
    values = {
        str(c.value) for sheet in book.worksheets for row in sheet.iter_rows() for c in row if c.value is not None
    }
    assert "<5" in values
    with app.app_context():
        assert (
            db.session.scalar(
                db.select(AuditEvent).where(AuditEvent.action == "statistics.export").order_by(AuditEvent.id)
            )
            is not None
        )


def test_release_pages_through_approval(app: Flask, stats_world: StatsWorld) -> None:
    from tests.conftest import csrf_from

    w = stats_world
    _some_cases(w)
    coordinator = _client(app, w.coordinator)
    page = coordinator.get("/statistics/releases")
    token = csrf_from(page.get_data(as_text=True))
    bad = coordinator.post(
        "/statistics/releases", data={"csrf_token": token, "period_from": "2026-13", "period_to": "x"}
    )
    assert bad.status_code == 400 and 'value="2026-13"' in bad.get_data(as_text=True)
    made = coordinator.post(
        "/statistics/releases", data={"csrf_token": token, "period_from": "2026-01", "period_to": "2026-06"}
    )
    assert made.status_code == 303
    url = made.headers["Location"]
    release_page = coordinator.get(url)
    assert release_page.status_code == 200
    token = csrf_from(release_page.get_data(as_text=True))
    assert coordinator.post(url + "/submit", data={"csrf_token": token}).status_code == 303
    for member in w.members:
        admin = _client(app, member.admin)
        shown = admin.get(url)
        assert shown.status_code == 200 and 'data-testid="decision-form"' in shown.get_data(as_text=True)
        t = csrf_from(shown.get_data(as_text=True))
        refused_empty = admin.post(url + "/decision", data={"csrf_token": t, "decision": "refused", "note": ""})
        assert refused_empty.status_code in (400, 422)
        assert admin.post(url + "/decision", data={"csrf_token": t, "decision": "approved"}).status_code == 303
    assert coordinator.post(url + "/publish", data={"csrf_token": token}).status_code == 303
    reader = _client(app, w.members[0].caseworker)
    assert reader.get(url).status_code == 200
    assert reader.get(url + "/export.xlsx").status_code == 200
    assert _client(app, w.other_coordinator).get(url).status_code == 404


def test_a_live_view_answers_from_its_snapshot_until_it_is_stale(app: Flask, stats_world: StatsWorld) -> None:
    from datetime import timedelta

    from referral.accounts.models import User
    from referral.models_base import utcnow
    from referral.statistics import services
    from referral.statistics.models import StatisticsSnapshot

    w = stats_world
    _some_cases(w)
    with app.app_context():
        actor = db.session.get(User, w.coordinator.id)
        scope = services.scope_for(db.session, actor)
        window = services.parse_window("2026-01", "2026-12")
        first, _ = services.live(db.session, actor, scope, window)
        db.session.commit()
    for i in range(6):
        w.case(w.members[0], at(5, 1 + i))
    with app.app_context():
        actor = db.session.get(User, w.coordinator.id)
        again, _ = services.live(db.session, actor, scope, window)
        assert again.table("cases_new_by_month").value(None) == first.table("cases_new_by_month").value(None) == 11
        later = utcnow() + timedelta(seconds=app.extensions["shabaka"].settings.statistics_snapshot_seconds + 1)
        fresh, _ = services.live(db.session, actor, scope, window, now=later)
        assert fresh.table("cases_new_by_month").value(None) == 17
        db.session.commit()
        # the worker's task (workers.refresh_statistics) refreshes each network's and the national default view
        usual = len(services.usual_windows(utcnow().date()))
        assert services.refresh_snapshots(db.session) == usual * (len(services.governorates(db.session)) + 1)
        assert [w.label for w in services.usual_windows(date(2026, 3, 15))] == [
            ("2026-02", "2026-02"),  # last month
            ("2026-01", "2026-03"),  # this quarter so far, which is also this year so far
            ("2025-10", "2025-12"),  # last quarter
            ("2025-01", "2025-12"),  # last year
            ("2025-03", "2026-02"),  # the last twelve whole months
        ]
        assert len(services.usual_windows(date(2026, 5, 15))) == 6
        db.session.commit()
        keys = set(db.session.scalars(db.select(StatisticsSnapshot.key)))
        assert any(k.startswith(f"network:{w.governorate}|") for k in keys) and any(
            k.startswith("national|") for k in keys
        )


def test_the_worker_keeps_counting_what_is_read_and_drops_what_is_not(app: Flask, stats_world: StatsWorld) -> None:
    """An organisation's page (not a usual network view) read today is refreshed by the worker
    once half stale, with one commit per view; a snapshot nobody read for a week is dropped."""
    from datetime import timedelta

    from referral.accounts.models import User
    from referral.models_base import utcnow
    from referral.statistics import services
    from referral.statistics.models import StatisticsSnapshot

    w = stats_world
    _some_cases(w)
    settings = app.extensions["shabaka"].settings
    with app.app_context():
        admin = db.session.get(User, w.members[0].admin.id)
        own = services.scope_for(db.session, admin)
        window = services.parse_window("2026-02", "2026-05")
        services.live(db.session, admin, own, window)
        stale = services.Scope("organization", organization_id=w.members[1].id)
        old = utcnow() - timedelta(days=services.SNAPSHOT_READ_DAYS + 1)
        services.store_snapshot(db.session, services.snapshot_key(stale, window, None), {}, old, read=True)
        db.session.commit()
        key = services.snapshot_key(own, window, None)
        assert db.session.get(StatisticsSnapshot, key).read_at is not None
        before = db.session.get(StatisticsSnapshot, key).computed_at
    for i in range(5):
        w.case(w.members[0], at(3, 1 + i))
    later = utcnow() + timedelta(seconds=settings.statistics_snapshot_seconds // 2 + 5)
    commits: list[int] = []
    with app.app_context():
        usual = len(services.usual_windows(later.date())) * (len(services.governorates(db.session)) + 1)

        def commit() -> None:
            commits.append(1)
            db.session.commit()

        stored = services.refresh_snapshots(db.session, now=later, commit=commit)
        assert stored == usual + 1 and len(commits) == stored + 1
        kept = db.session.get(StatisticsSnapshot, key)
        assert kept.computed_at > before
        view = services.from_payload(kept.payload)
        assert view.table("cases_new_by_month").value("2026-03") >= 5
        assert db.session.get(StatisticsSnapshot, services.snapshot_key(stale, window, None)) is None
        # read again before half its freshness: the next refresh leaves it alone
        assert services.refresh_snapshots(db.session, now=later + timedelta(seconds=5)) == usual
