"""A network of organisations of several sectors, and quick ways to add cases and referrals with
chosen dates and states: statistics read clear columns only, so the rows are written directly.
And a protected payload built by hand, for the exports and the charts."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

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


SECTORS3 = ["health", "police", "legal_aid"]


GBV = [
    "rape",
    "sexual_assault",
    "physical_assault",
    "forced_marriage",
    "denial_of_resources",
    "psychological_abuse",
    "non_gbv",
    "unknown",
]


def _table(
    id: str, indicator: str, period: str, measure: str, categories: dict[str, list[str]], cells: list[Any]
) -> dict[str, Any]:
    first, last = ("2026-01", "2026-03") if period == "current" else ("2025-01", "2025-03")
    return {
        "id": id,
        "indicator": indicator,
        "period": period,
        "from": first,
        "to": last,
        "measure": measure,
        "dims": list(categories),
        "fixed": {},
        "categories": categories,
        "cells": [{"key": key, "count": count} for key, count in cells],
    }


def payload() -> dict[str, Any]:
    """A protected payload built by hand: suppressed cells, a 2-D table, a null derived value and
    a previous period."""
    gbv_current = [12, "<5", "<5", 0, 8, 15, 0, "<5"]
    gbv_previous = ["<5", 6, 0, 0, 7, 11, 0, 5]
    flow = {
        ("health", "health"): 0,
        ("health", "police"): "<5",
        ("health", "legal_aid"): 9,
        ("police", "health"): 14,
        ("police", "police"): 0,
        ("police", "legal_aid"): "<5",
        ("legal_aid", "health"): 6,
        ("legal_aid", "police"): 21,
        ("legal_aid", "legal_aid"): 7,
    }
    flow_cells: list[Any] = [({"from_sector": a, "to_sector": b}, v) for (a, b), v in flow.items()]
    flow_cells += [({"from_sector": "health"}, 12), ({"from_sector": "police"}, 17), ({"from_sector": "legal_aid"}, 34)]
    flow_cells += [({"to_sector": "health"}, 20), ({"to_sector": "police"}, 24), ({"to_sector": "legal_aid"}, 19)]
    flow_cells.append(({}, 63))
    outcomes = {"to_sector": ["health", "police"], "outcome": ["declined", "accepted"]}
    return {
        "threshold": 5,
        "suppressed_label": "<5",
        "scope": {"kind": "network", "network": "hebron"},
        "from": "2026-01",
        "to": "2026-03",
        "previous": {"from": "2025-01", "to": "2025-03"},
        "sector": None,
        "generated_at": "2026-04-02T08:00:00+00:00",
        "tables": [
            _table(
                "cases_new_by_month",
                "new_cases",
                "current",
                "cases_new",
                {"month": ["2026-01", "2026-02", "2026-03"]},
                [({"month": "2026-01"}, 10), ({"month": "2026-02"}, "<5"), ({"month": "2026-03"}, 20), ({}, 33)],
            ),
            _table(
                "cases_new_by_month",
                "new_cases",
                "previous",
                "cases_new",
                {"month": ["2025-01", "2025-02", "2025-03"]},
                [({"month": "2025-01"}, 7), ({"month": "2025-02"}, 9), ({"month": "2025-03"}, "<5"), ({}, 19)],
            ),
            _table(
                "cases_new_by_gbv_type",
                "case_profile",
                "current",
                "cases_new",
                {"gbv_type": list(GBV)},
                [({"gbv_type": g}, v) for g, v in zip(GBV, gbv_current, strict=True)] + [({}, 40)],
            ),
            _table(
                "cases_new_by_gbv_type",
                "case_profile",
                "previous",
                "cases_new",
                {"gbv_type": list(GBV)},
                [({"gbv_type": g}, v) for g, v in zip(GBV, gbv_previous, strict=True)] + [({}, 32)],
            ),
            _table(
                "referral_flow",
                "flow",
                "current",
                "referrals_sent",
                {"from_sector": list(SECTORS3), "to_sector": list(SECTORS3)},
                flow_cells,
            ),
            _table(
                "referral_outcomes",
                "outcomes",
                "current",
                "referrals_sent",
                outcomes,
                [
                    ({"to_sector": "health", "outcome": "declined"}, "<5"),
                    ({"to_sector": "health", "outcome": "accepted"}, 8),
                    ({"to_sector": "police", "outcome": "declined"}, 6),
                    ({"to_sector": "police", "outcome": "accepted"}, "<5"),
                    ({"to_sector": "health"}, 12),
                    ({"to_sector": "police"}, 9),
                    ({"outcome": "declined"}, 9),
                    ({"outcome": "accepted"}, 12),
                    ({}, 21),
                ],
            ),
            _table(
                "referral_outcomes",
                "outcomes",
                "previous",
                "referrals_sent",
                outcomes,
                [
                    ({"to_sector": "health", "outcome": "declined"}, 5),
                    ({"to_sector": "health", "outcome": "accepted"}, "<5"),
                    ({"to_sector": "police", "outcome": "declined"}, 0),
                    ({"to_sector": "police", "outcome": "accepted"}, 7),
                    ({}, 15),
                ],
            ),
        ],
        "derived": [
            {
                "id": "acceptance_rate",
                "indicator": "outcomes",
                "period": "current",
                "kind": "percent",
                "by": "to_sector",
                "values": [
                    {"key": {"to_sector": "health"}, "percent": 66.7},
                    {"key": {"to_sector": "police"}, "percent": None},
                ],
            },
            {
                "id": "response_median",
                "indicator": "response_time",
                "period": "current",
                "kind": "median",
                "by": "priority",
                "values": [{"key": {"priority": "emergency"}, "median": 18.5}],
            },
        ],
    }


def stats_network(app: Flask, factory: Factory, sectors: tuple[str, ...], **world: Any) -> StatsWorld:
    """A network with one member organisation per sector (a caseworker, an admin and a supervisor
    each), its coordinator and an auditor in a centre of its own, another network with its
    coordinator, and a national coordinator."""
    net = factory.network()
    members = []
    for sector in sectors:
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
        **world,
    )
