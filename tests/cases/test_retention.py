"""Retention: a case closed more than the retention period ago keeps only its statistics."""

from __future__ import annotations

import base64
import importlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
from flask import Flask
from sqlalchemy import func, select

from config import Settings
from referral.audit.models import AuditEvent
from referral.cases import retention, services
from referral.cases.models import Case, CaseDocument, CaseNote, Incident
from referral.extensions import db
from referral.security.fields import Sealed
from referral.storage import FileSystemStorage, document_storage
from tests.helpers.cases import MARKER_ID, MARKER_NAME, World, closed_case, open_case

NOW = datetime(2033, 6, 15, 12, 0, tzinfo=UTC)
SEVEN_YEARS_AND_A_DAY = retention.retention_cutoff(NOW, 7) - timedelta(days=1)
SIX_YEARS = retention.retention_cutoff(NOW, 6)
ENCRYPTED = (
    "full_name",
    "national_id",
    "date_of_birth",
    "phone",
    "address",
    "safe_contact",
    "caregiver",
    "consent_for_services",
    "assessment",
    "action_plan",
    "safety_plan",
    "closure",
)
STATISTICAL = (
    "governorate",
    "age_group",
    "sex",
    "disability",
    "marital_status",
    "gbv_type",
    "perpetrator_relationship",
    "risk_level",
    "case_code",
    "organization_id",
    "opened_at",
    "closed_at",
    "status",
)


def _raw(case_id: str) -> dict[str, Any]:
    """The stored row, read with Core: encrypted columns as stored, nothing decrypted."""
    table = Case.__table__
    return dict(db.session.execute(select(table).where(table.c.id == case_id)).mappings().one())


def _statistics(case_id: str) -> dict[str, Any]:
    case = db.session.get(Case, case_id)
    return {name: getattr(case, name) for name in STATISTICAL}


def _count(model: Any, case_id: str) -> int:
    return int(db.session.scalar(select(func.count()).select_from(model).where(model.case_id == case_id)) or 0)


def _stored_files(case_id: str) -> list[Path]:
    store = document_storage()
    assert isinstance(store, FileSystemStorage)
    keys = db.session.scalars(select(CaseDocument.storage_key).where(CaseDocument.case_id == case_id))
    return [store.path(key) for key in keys]


def _purge_events(case_id: str | None = None) -> list[AuditEvent]:
    stmt = select(AuditEvent).where(AuditEvent.action == "case.purge")
    if case_id is not None:
        stmt = stmt.where(AuditEvent.object_id == case_id)
    return list(db.session.scalars(stmt))


def test_a_case_closed_past_retention_keeps_only_its_statistics(app: Flask, world: World) -> None:
    old = closed_case(app, world, SEVEN_YEARS_AND_A_DAY)
    recent = closed_case(app, world, SIX_YEARS)
    with time_machine.travel(NOW - timedelta(days=8 * 365), tick=False):
        still_open = open_case(app, world)  # opened eight years ago, never closed

    with app.app_context():
        before = {case_id: _statistics(case_id) for case_id in (old, recent, still_open)}
        assert _raw(old)["national_id_index"] and _raw(old)["full_name"] is not None
        (old_file,), (recent_file,) = _stored_files(old), _stored_files(recent)
        assert old_file.exists() and recent_file.exists()
        db.session.expunge_all()

        with time_machine.travel(NOW, tick=False):
            assert retention.purge_closed_cases(db.session) == 1  # retention_years from the settings: 7
            assert old_file.exists()  # the stored file goes only once the purge commits
            db.session.commit()
        assert not old_file.exists() and recent_file.exists()

        db.session.expunge_all()
        raw = _raw(old)
        assert all(raw[column] is None for column in ENCRYPTED), {c: raw[c] for c in ENCRYPTED if raw[c]}
        assert raw["national_id_index"] is None and raw["phone_index"] is None
        purged = db.session.get(Case, old)
        assert purged.purged_at == NOW
        assert purged.full_name is None and purged.safety_plan is None and purged.closure is None
        assert _statistics(old) == before[old]  # statistical fields, dates and status survive
        assert _count(CaseNote, old) == 0
        assert _count(CaseDocument, old) == 0
        incidents = list(db.session.scalars(select(Incident).where(Incident.case_id == old)))
        assert len(incidents) == 1
        assert incidents[0].narrative is None
        assert (incidents[0].gbv_type, incidents[0].perpetrator_relationship) == (
            "physical_assault",
            "intimate_partner",
        )
        assert incidents[0].month == (SEVEN_YEARS_AND_A_DAY - timedelta(days=30)).strftime("%Y-%m")

        (event,) = _purge_events()
        assert (event.object_type, event.object_id, event.case_code) == ("case_file", old, purged.case_code)
        assert event.actor_id is None and event.organization_id == world.mine.id
        assert event.details == {} and event.reason is None
        assert MARKER_NAME not in repr((event.details, event.reason)) and MARKER_ID not in repr(event.details)

        # the case closed six years ago and the open case are untouched and still read
        for case_id in (recent, still_open):
            case = db.session.get(Case, case_id)
            assert case.purged_at is None and case.full_name.startswith(MARKER_NAME)
            assert _statistics(case_id) == before[case_id]
        recent_case = db.session.get(Case, recent)
        assert recent_case.safety_plan == "Marker safety plan: the blue door"
        assert [n.body for n in services.notes(db.session, recent_case)] == ["Marker note about the home visit"]
        assert _count(CaseDocument, recent) == 1
        assert db.session.scalars(select(Incident.narrative).where(Incident.case_id == recent)).one()

    # a year later the other closed case has its turn; the open case never does
    with app.app_context(), time_machine.travel(NOW + timedelta(days=400), tick=False):
        assert retention.purge_closed_cases(db.session) == 1  # `recent`, now past seven years
        db.session.commit()
        assert db.session.get(Case, still_open).purged_at is None


def test_purging_is_idempotent_batched_and_leaves_reopened_cases(app: Flask, world: World) -> None:
    olds = [closed_case(app, world, SEVEN_YEARS_AND_A_DAY - timedelta(days=i)) for i in range(3)]
    reopened = closed_case(app, world, SEVEN_YEARS_AND_A_DAY, reopen=True)
    commits: list[int] = []
    with app.app_context():

        def commit() -> None:
            commits.append(1)
            db.session.commit()

        assert retention.purge_closed_cases(db.session, now=NOW, years=7, batch_size=2, commit=commit) == 3
        assert len(commits) == 2
        assert retention.purge_closed_cases(db.session, now=NOW, years=7) == 0
        db.session.commit()
        assert sorted(e.object_id for e in _purge_events()) == sorted(olds)
        assert db.session.get(Case, reopened).purged_at is None
        assert db.session.get(Case, reopened).full_name.startswith(MARKER_NAME)


def test_a_case_whose_key_is_gone_is_purged_all_the_same(app: Flask, world: World) -> None:
    """Purging reads none of the values it erases: nothing has to decrypt."""
    old = closed_case(app, world, SEVEN_YEARS_AND_A_DAY)
    with app.app_context():
        table = Case.__table__
        db.session.execute(table.update().where(table.c.id == old).values(safety_plan=Sealed(b"\x01not a value")))
        db.session.commit()
        db.session.expunge_all()
        assert retention.purge_closed_cases(db.session, now=NOW, years=7) == 1
        db.session.commit()
        db.session.expunge_all()
        assert db.session.get(Case, old).safety_plan is None


def test_purge_hooks_of_other_domains_run_in_the_same_transaction(app: Flask, world: World) -> None:
    old = closed_case(app, world, SEVEN_YEARS_AND_A_DAY)
    seen: list[list[str]] = []

    def hook(session: Any, case_ids: list[str]) -> None:
        seen.append(list(case_ids))

    retention.on_purge(hook)
    try:
        with app.app_context():
            (stored,) = _stored_files(old)
            retention.purge_closed_cases(db.session, now=NOW, years=7)
            db.session.rollback()
            assert db.session.get(Case, old).purged_at is None  # nothing is kept without the commit
            assert _count(CaseNote, old) == 1 and _stored_files(old) == [stored] and stored.exists()
    finally:
        retention._HOOKS.remove(hook)
    assert seen == [[old]]


def test_bad_arguments_are_refused(app: Flask) -> None:
    with app.app_context():
        with pytest.raises(ValueError):
            retention.purge_closed_cases(db.session, now=NOW, years=0)
        with pytest.raises(ValueError):
            retention.purge_closed_cases(db.session, now=NOW.replace(tzinfo=None), years=7)


def test_the_retention_period_comes_from_the_environment() -> None:
    base = {"REFERRAL_ENV": "development", "SECRET_KEY": "x" * 48}
    base["REFERRAL_ROOT_KEY"] = base64.b64encode(b"k" * 32).decode()
    assert Settings.from_env(base).retention_years == 7
    assert Settings.from_env({**base, "RETENTION_YEARS": "10"}).retention_years == 10
    from config import ConfigError

    with pytest.raises(ConfigError, match="RETENTION_YEARS"):
        Settings.from_env({**base, "RETENTION_YEARS": "0"})


def test_the_daily_task_purges(
    app: Flask, world: World, settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("REFERRAL_ENV", "development")
    monkeypatch.setenv("REFERRAL_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("SECRET_KEY", settings.secret_key)
    monkeypatch.setenv("REFERRAL_ROOT_KEY", base64.b64encode(settings.root_key).decode())
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    tasks = importlib.import_module("workers.tasks")
    from workers.celery_app import celery

    entry = celery.conf.beat_schedule["purge-closed-cases"]
    assert entry["task"] == "workers.purge_closed_cases" and entry["schedule"] == timedelta(days=1)
    assert "workers.purge_closed_cases" in celery.tasks

    old = closed_case(app, world, SEVEN_YEARS_AND_A_DAY)
    with app.app_context(), time_machine.travel(NOW, tick=False):
        assert tasks.purge_closed_cases.run() == 1
        assert tasks.purge_closed_cases.run() == 0
    with app.app_context():
        assert db.session.get(Case, old).purged_at == NOW
