"""The receiving calendar has one home, below both packages: `referral/followups/calendar.py`.
Follow-ups never call back into the referrals' services for it, and a send looks it up once
(for the response target and for the reminder ladder alike)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from referral.extensions import db
from referral.followups import calendar as work_calendar
from referral.followups.models import ReminderStep
from referral.referrals.models import Referral
from referral.referrals.services import RESPONSE_TARGETS
from tests.helpers.cases import World
from tests.helpers.followups import send_referral

PACKAGE = Path(__file__).resolve().parents[2] / "referral"


def _imports(path: Path) -> set[str]:
    """Every module a file imports, at module level or inside a function, as an absolute name."""
    found: set[str] = set()
    package = ["referral", *path.relative_to(PACKAGE).parent.parts]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def test_the_import_reader_sees_relative_and_local_imports() -> None:
    sample = PACKAGE / "followups" / "clocks.py"
    names = _imports(sample)
    assert "referral.followups.calendar" in names
    assert "referral.referrals.models.Referral" in names  # imported inside a function


@pytest.mark.parametrize("path", sorted((PACKAGE / "followups").glob("*.py")), ids=lambda p: p.name)
def test_no_followups_module_calls_back_into_the_referrals_services(path: Path) -> None:
    assert not {name for name in _imports(path) if name.startswith("referral.referrals.services")}


def test_the_calendar_module_imports_nothing_from_referrals() -> None:
    names = _imports(PACKAGE / "followups" / "calendar.py")
    assert not {name for name in names if name.startswith("referral.referrals")}


@pytest.mark.parametrize("priority", ["urgent", "normal"])
def test_a_send_looks_the_receiving_calendar_up_once(
    app: Flask, world: World, priority: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    looked_up: list[str | None] = []
    real = work_calendar.calendar_for

    def counting(session: object, network_id: str | None) -> work_calendar.WorkCalendar:
        looked_up.append(network_id)
        return real(session, network_id)  # type: ignore[arg-type]

    monkeypatch.setattr(work_calendar, "calendar_for", counting)
    sent = send_referral(app, world, priority)
    assert len(looked_up) == 1
    with app.app_context():
        found = db.session.get(Referral, sent.id)
        assert found is not None
        steps = {
            s.step: s.due_at
            for s in db.session.scalars(
                select(ReminderStep).where(ReminderStep.clock == "referral_response", ReminderStep.target_id == sent.id)
            )
        }
        # the ladder was worked out on the same calendar as the target it is anchored to
        assert steps["target"] == found.due_at
        cal = real(db.session, work_calendar.receiving_network_id(db.session, found))
        assert steps["half"] == cal.add_working(found.sent_at, RESPONSE_TARGETS[priority] / 2)
        assert steps["twice"] == cal.add_working(found.sent_at, RESPONSE_TARGETS[priority] * 2)
