"""The indicators' numbers against hand-computed fixtures, and what they may never read."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event

from referral.accounts.models import User
from referral.extensions import db
from referral.security.fields import encrypted_attributes
from referral.statistics import indicators, services
from referral.statistics.queries import Window
from tests.helpers.statistics import StatsWorld, at

YEAR_WINDOW = Window(date(2026, 1, 1), date(2026, 12, 1))


def _view(app: Flask, account_id: str, network: str | None = None, **kw: Any) -> services.View:
    with app.app_context():
        actor = db.session.get(User, account_id)
        scope = services.scope_for(db.session, actor, network)
        view = services.compute(db.session, actor, scope, kw.pop("window", YEAR_WINDOW), **kw)
        db.session.commit()
        return view


def test_every_measure_publishes_a_decomposable_family_of_tables() -> None:
    for kind in ("network", "national", "organization"):
        assert indicators.decomposable(indicators.tables_for(kind), ("governorate",))
    # and the check can fail: three tables linked in a cycle
    cyc = [indicators.TableSpec(f"t{i}", "m", dims) for i, dims in enumerate((("a", "b"), ("b", "c"), ("c", "a")))]
    assert not indicators.decomposable(cyc)


def test_volume_counts_by_month_and_category(app: Flask, stats_world: StatsWorld) -> None:
    w, legal = stats_world, stats_world.members[0]
    for i in range(7):
        w.case(legal, at(3, 1 + i), gbv_type="physical_assault")
    for i in range(6):
        w.case(legal, at(4, 1 + i), gbv_type="psychological_abuse")
    view = _view(app, w.coordinator.id)
    by_month = view.table("cases_new_by_month")
    assert by_month is not None
    assert by_month.value("2026-03") == 7 and by_month.value("2026-04") == 6 and by_month.value("2026-05") == 0
    assert by_month.value(None) == 13
    by_type = view.table("cases_new_by_gbv_type")
    assert by_type.value("physical_assault") == 7 and by_type.value("psychological_abuse") == 6
    assert view.table("cases_new_by_month", "previous").value(None) == 0


def test_acceptance_rate_flow_and_response_times(app: Flask, stats_world: StatsWorld) -> None:
    w = stats_world
    legal, social, health = w.members
    hours = timedelta(hours=1)
    # 15 urgent referrals from legal aid to social services (target 72 hours): 10 accepted, five within a
    # quarter of the target and five within half of it; 5 declined for no capacity after 80 hours (late)
    answers = (6, 8, 10, 12, 14, 20, 24, 28, 30, 36)
    for i, h in enumerate(answers):
        c = w.case(legal, at(2, 1 + i))
        w.referral(c, legal, social, sent=at(2, 1 + i), priority="urgent", state="accepted", answered_after=h * hours)
    for i in range(5):
        c = w.case(legal, at(2, 15 + i))
        w.referral(
            c,
            legal,
            social,
            sent=at(2, 15 + i),
            priority="urgent",
            state="declined",
            answered_after=80 * hours,
            closed_after=80 * hours,
            decline_reason="no_capacity",
        )
    # 5 normal referrals from social services to health, all answered in a day and completed in 10 days
    for i in range(5):
        c = w.case(social, at(5, 1 + i))
        w.referral(
            c, social, health, sent=at(5, 1 + i), state="completed", answered_after=24 * hours, closed_after=240 * hours
        )
    view = _view(app, w.coordinator.id)
    flow = view.table("referral_flow")
    assert flow.value("legal_aid", "social") == 15
    assert flow.value("social", "health") == 5
    assert flow.value("legal_aid", None) == 15 and flow.value(None, None) == 20
    outcomes = view.table("referral_outcomes")
    assert outcomes.value("social", "accepted") == 10 and outcomes.value("social", "declined") == 5
    assert view.derived_for("acceptance_rate").values["social"] == 66.7
    assert view.derived_for("acceptance_rate").values["health"] == 100.0
    assert view.derived_for("share_completed").values["health"] == 100.0
    assert view.derived_for("share_completed").values["social"] == 0.0
    # answers in hours, sorted: 6 8 10 12 14 20 24 28 30 36 80 80 80 80 80; nearest rank: the 8th and the 14th
    assert view.derived_for("response_median").values["urgent"] == pytest.approx(28.0)
    assert view.derived_for("response_p90").values["urgent"] == pytest.approx(80.0)
    assert view.derived_for("response_median").values["emergency"] is None  # none sent
    late = view.derived_for("share_late")
    assert late.values["urgent"] == 33.3  # the five declines answered after the target
    assert late.values["normal"] == 0.0
    response = view.table("referrals_by_priority_response")
    assert response.value("urgent", "le_25") == 5 and response.value("urgent", "le_50") == 5
    assert response.value("urgent", "le_200") == 5
    assert view.table("declines_by_sector_reason").value("social", "no_capacity") == 5
    assert view.derived_for("completion_median").values["normal"] == pytest.approx(240.0)


def test_quality_buckets(app: Flask, stats_world: StatsWorld) -> None:
    w, legal = stats_world, stats_world.members[0]
    for i in range(5):
        w.case(legal, at(1, 1 + i), status="closed", closed_at=at(1, 1 + i) + timedelta(days=10))
    for i in range(6):
        w.case(legal, at(1, 1 + i), status="closed", closed_at=at(1, 1 + i) + timedelta(days=100))
    for i in range(5):
        w.case(
            legal,
            at(2, 1 + i),
            reporting_delay="0-3d",
            risk_level="high",
            safety_plan_at=at(2, 2),
            assessed_at=at(2, 2),
        )
    view = _view(app, w.coordinator.id)
    closed = view.table("cases_closed_by_time")
    assert closed.value("lt_1m") == 5 and closed.value("3_6m") == 6 and closed.value("1_3m") == 0
    assert view.table("cases_new_by_reporting_delay").value("0-3d") == 5
    assert view.derived_for("share_safety_plan").values["high"] == 100.0


def test_a_case_without_statistical_consent_counts_only_for_its_organisation(
    app: Flask, stats_world: StatsWorld
) -> None:
    w, legal = stats_world, stats_world.members[0]
    for i in range(6):
        w.case(legal, at(3, 1 + i))
    for i in range(5):
        w.case(legal, at(3, 1 + i), consent=False)
    network = _view(app, w.coordinator.id)
    assert network.table("cases_new_by_month").value(None) == 6
    own = _view(app, legal.admin.id)
    assert own.table("cases_new_by_month").value(None) == 11


def _encrypted_columns() -> set[str]:
    names: set[str] = set()
    for mapper in db.Model.registry.mappers:
        for attr in encrypted_attributes(mapper):
            names.add(f"{mapper.local_table.name}.{attr}")
    return names


def test_no_statistics_query_touches_an_encrypted_column(app: Flask, stats_world: StatsWorld) -> None:
    w, legal, social = stats_world, *stats_world.members[:2]
    c = w.case(legal, at(3))
    w.referral(
        c, legal, social, sent=at(3), state="declined", answered_after=timedelta(hours=2), decline_reason="other"
    )
    seen: list[str] = []

    def capture(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    with app.app_context():
        engine = db.engine
        event.listen(engine, "before_cursor_execute", capture)
        try:
            actor = db.session.get(User, w.national.id)
            for network in (None, w.governorate):
                scope = services.scope_for(db.session, actor, network)
                services.compute(db.session, actor, scope, YEAR_WINDOW, audit_action=None)
        finally:
            event.remove(engine, "before_cursor_execute", capture)
            db.session.rollback()
    statistics_sql = [s for s in seen if "count(" in s.lower()]
    assert statistics_sql, "the indicators emitted no aggregate"
    encrypted = _encrypted_columns()
    assert "case_file.full_name" in encrypted and "referral.outcome" in encrypted
    for statement in statistics_sql:
        for qualified in encrypted:
            table, column = qualified.split(".")
            assert not re.search(rf"\b{table}\.{column}\b", statement), (qualified, statement)


def test_one_statement_per_measure_gives_the_cells_of_one_statement_per_table(
    app: Flask, stats_world: StatsWorld
) -> None:
    """On PostgreSQL the tables of a measure are counted together (GROUPING SETS); every cell
    must be the one its own GROUP BY gives, for every scope and for a sector filter."""
    from referral.statistics.queries import Lookups, Request, all_counts, count_table

    w = stats_world
    legal, social, health = w.members
    kinds = ("physical_assault", "psychological_abuse", "sexual_violence")
    for i in range(24):
        member = w.members[i % 3]
        c = w.case(
            member,
            at(1 + i % 11, 1 + i % 27),
            consent=i % 5 != 0,
            gbv_type=kinds[i % 3],
            risk_level=("high", "medium", "low")[i % 3],
            disability=(True, False, None)[i % 3],
            status="closed" if i % 4 == 0 else "intake",
            closed_at=at(1 + i % 11, 28) if i % 4 == 0 else None,
        )
        receiver = w.members[(i + 1) % 3] if i % 6 else None
        w.referral(
            c,
            member,
            receiver,
            sent=at(1 + i % 11, 2 + i % 20),
            priority=("emergency", "urgent", "normal")[i % 3],
            state=("sent", "declined", "accepted", "completed")[i % 4],
            answered_after=timedelta(hours=5 + i) if i % 4 else None,
            closed_after=timedelta(days=3) if i % 4 == 3 else None,
            decline_reason="no_capacity" if i % 4 == 1 else None,
            external_sector="health" if receiver is None else None,
        )
    del legal, social, health
    with app.app_context():
        actor = db.session.get(User, w.national.id)
        lookups = Lookups.load(db.session)
        statements: list[str] = []

        def capture(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            statements.append(statement)

        event.listen(db.engine, "before_cursor_execute", capture)
        for scope, sector in (
            (services.scope_for(db.session, actor, None), None),
            (services.scope_for(db.session, actor, w.governorate), None),
            (services.scope_for(db.session, actor, w.governorate), "social"),
            (services.Scope("organization", organization_id=w.members[0].id), None),
        ):
            req = Request(db.session, scope, YEAR_WINDOW, at(12, 1), lookups, sector)
            specs = indicators.tables_for(scope.kind)
            del statements[:]
            together = all_counts(req, specs)
            if db.engine.dialect.name == "postgresql":
                measures = {s.measure for s in specs}
                selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
                assert len(selects) <= len(measures), selects
                assert any("GROUPING SETS" in s for s in statements)
            for spec in specs:
                assert together[spec.id] == count_table(req, spec), spec.id
            assert any(together.values())
        event.remove(db.engine, "before_cursor_execute", capture)
        db.session.rollback()


@pytest.mark.parametrize("n", [1, 7, 10, 13])
def test_quantiles_are_nearest_rank_on_every_backend(app: Flask, stats_world: StatsWorld, n: int) -> None:
    """Median and p90 of hours to first response are the nearest-rank values (rank ceil(q*n)),
    whichever SQL computes them (an ordered-set aggregate on PostgreSQL, ranks elsewhere)."""
    import math

    from referral.statistics.queries import Lookups, Request, quantiles

    w = stats_world
    legal, social = w.members[:2]
    hours = [3 * i + 1 for i in range(n)]
    for i, h in enumerate(reversed(hours)):
        c = w.case(legal, at(2 + i % 9))
        w.referral(
            c, legal, social, sent=at(2 + i % 9), priority="urgent", state="accepted", answered_after=timedelta(hours=h)
        )
    with app.app_context():
        actor = db.session.get(User, w.national.id)
        req = Request(
            db.session,
            services.scope_for(db.session, actor, w.governorate),
            YEAR_WINDOW,
            at(12, 1),
            Lookups.load(db.session),
        )
        found = quantiles(req, "response")
        db.session.rollback()
    assert found["urgent"][0.5] == pytest.approx(hours[math.ceil(0.5 * n) - 1])
    assert found["urgent"][0.9] == pytest.approx(hours[math.ceil(0.9 * n) - 1])
