"""Access rules: people of every role and a case and referral to ask the policy about, and transfers
made by a chosen account."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from flask import Flask

from referral.access.policy import can
from referral.cases import consent as consents
from referral.cases.models import FIELD_GROUPS, Case, CaseMember
from referral.extensions import db
from referral.models_base import new_id
from referral.referrals import transfers
from tests.conftest import Account
from tests.helpers.cases import World, open_case, user


def consent_by(app: Flask, world: World, account: Account, case_id: str, **extra: Any) -> str:
    values: dict[str, Any] = {
        "given_by": "caregiver",
        "minor_assent": True,
        "method": "verbal",
        "organization_ids": [world.other.id],
        "field_groups": list(FIELD_GROUPS),
        "purpose": "legal aid for custody",
    }
    values.update(extra)
    with app.app_context():
        grant = consents.record_consent(db.session, user(account), case_id, consents.ConsentInput(**values))
        db.session.commit()
        return grant.id


def transfer_by(app: Flask, world: World, account: Account) -> str:
    case_id = open_case(app, world, account)
    grant = consent_by(app, world, account, case_id)
    data = transfers.TransferInput(
        case_id=case_id, to_organization_id=world.other.id, reason="She moved away", consent_id=grant
    )
    with app.app_context():
        made = transfers.request_transfer(db.session, user(account), data)
        db.session.commit()
        return made.id


A, B, C = "org-a", "org-b", "org-c"  # B receives A's referrals and transfers; C is a third party
NETWORK = "network-1"


def person(role: str, organization: str, name: str, **extra: Any) -> SimpleNamespace:
    values = {"network_id": None, "active": True, "is_authenticated": True}
    values.update(extra)
    return SimpleNamespace(id=name, role=role, organization_id=organization, **values)


PEOPLE = {
    "sysadmin": person("sysadmin", "org-platform", "sysadmin"),
    "auditor": person("auditor", "org-platform", "auditor"),
    "coordinator": person("coordinator", "org-platform", "coordinator", network_id=NETWORK),
    "other coordinator": person("coordinator", "org-platform", "other coordinator", network_id="network-2"),
    "org admin A": person("org_admin", A, "org admin A"),
    "supervisor A": person("supervisor", A, "supervisor A", network_id=NETWORK),
    "owner A": person("caseworker", A, "owner A"),
    "member A": person("caseworker", A, "member A"),
    "caseworker A": person("caseworker", A, "caseworker A"),  # not on the case's team
    "supervisor B": person("supervisor", B, "supervisor B"),
    "caseworker B": person("caseworker", B, "caseworker B"),
    "former member B": person("caseworker", B, "former member B"),  # still listed on A's team
    "supervisor C": person("supervisor", C, "supervisor C"),
}


def allowed(action: str, obj: Any) -> set[str]:
    return {label for label, who in PEOPLE.items() if can(who, action, obj)}


def case_of(organization: str, *team: tuple[str, str]) -> Case:
    """An unsaved case (so no emergency grant can exist for it) with its team as (user, role)."""
    return Case(
        id=new_id(),
        organization_id=organization,
        members=[CaseMember(id=new_id(), user_id=who, role=role) for who, role in team],
    )


def case_a() -> Case:
    return case_of(A, ("owner A", "owner"), ("member A", "member"), ("former member B", "member"))


def referral(state: str = "sent", **changes: Any) -> SimpleNamespace:
    values: dict[str, Any] = {
        "from_organization_id": A,
        "to_organization_id": B,
        "state": state,
        "case": case_a(),
        "created_by": "owner A",
        "assigned_to": "caseworker B",
    }
    values.update(changes)
    return SimpleNamespace(**values)
