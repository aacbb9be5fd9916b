"""A network of organisations of several sectors, and quick ways to add cases and referrals with
chosen dates and states: statistics read clear columns only, so the rows are written directly."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask

from referral.cases.models import Case
from referral.extensions import db
from referral.models_base import new_id
from referral.referrals.models import Referral
from tests.conftest import Account, Factory

YEAR = 2026


def at(month: int, day: int = 10, hour: int = 9) -> datetime:
    return datetime(YEAR, month, day, hour, tzinfo=UTC)


@dataclass
class Member:
    id: str
    sector: str
    caseworker: Account
    admin: Account
    supervisor: Account


@dataclass
class StatsWorld:
    app: Flask
    governorate: str
    network_id: str
    members: list[Member]
    coordinator: Account
    auditor: Account
    other_governorate: str
    other_coordinator: Account
    national: Account
    counter: list[int] = field(default_factory=lambda: [0])

    def case(self, member: Member, opened: datetime, *, consent: bool = True, **stats: Any) -> str:
        """A case owned by `member`, opened at `opened`; statistical fields as given."""
        with self.app.app_context():
            self.counter[0] += 1
            values = {"governorate": self.governorate, "age_group": "25-59", "sex": "female", **stats}
            case = Case(
                id=new_id(),
                case_code=f"TST-{YEAR}-{self.counter[0]:06d}",
                organization_id=member.id,
                owner_id=member.caseworker.id,
                status=values.pop("status", "intake"),
                opened_at=opened,
                statistics_consent=consent,
                **values,
            )
            db.session.add(case)
            db.session.commit()
            return case.id

    def referral(
        self,
        case_id: str,
        sender: Member,
        receiver: Member | None,
        *,
        sent: datetime,
        priority: str = "normal",
        state: str = "sent",
        answered_after: timedelta | None = None,
        closed_after: timedelta | None = None,
        decline_reason: str | None = None,
        external_sector: str | None = None,
    ) -> str:
        target = {"emergency": timedelta(hours=24), "urgent": timedelta(hours=72), "normal": timedelta(days=14)}
        with self.app.app_context():
            code = db.session.get(Case, case_id).case_code
            r = Referral(
                id=new_id(),
                case_id=case_id,
                case_code=code,
                from_organization_id=sender.id,
                to_organization_id=receiver.id if receiver else None,
                external_sector=external_sector if receiver is None else None,
                priority=priority,
                state=state,
                field_groups=[],
                created_by=sender.caseworker.id,
                created_at=sent,
                sent_at=sent,
                due_at=sent + target[priority],
                answered_at=sent + answered_after if answered_after else None,
                closed_at=sent + closed_after if closed_after else None,
                decline_reason=decline_reason,
            )
            db.session.add(r)
            db.session.commit()
            return r.id


@pytest.fixture
def stats_world(app: Flask, factory: Factory) -> StatsWorld:
    net = factory.network()
    members = []
    for sector in ("legal_aid", "social", "health"):
        org = factory.organization(net, sectors=[sector])
        members.append(
            Member(
                org.id,
                sector,
                factory.user("caseworker", org),
                factory.user("org_admin", org),
                factory.user("supervisor", org),
            )
        )
    centre = factory.organization(net, sectors=["other"])
    other = factory.network()
    return StatsWorld(
        app,
        net.governorate,
        net.id,
        members,
        factory.user("coordinator", centre, network=net),
        factory.user("auditor", centre),
        other.governorate,
        factory.user("coordinator", factory.organization(other), network=other),
        factory.user("coordinator", centre),
    )
