"""Every rule of `can`, asked by every kind of person about the same objects: who may see and
change what. The objects are plain stand-ins (and unsaved cases), so the rules are read on their
own; the list scopes and emergency grants are asked of the database at the end."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from referral.access import breakglass
from referral.access.policy import can, scope_cases, scope_users
from referral.accounts.models import User
from referral.cases.models import Case, CaseMember
from referral.extensions import db
from referral.models_base import new_id
from tests.conftest import Factory
from tests.helpers.access import NETWORK, PEOPLE, A, B, C, allowed, case_a, case_of, person, referral
from tests.helpers.cases import World, open_case, user


# ------------------------------------------------------------------------------ can() itself
def test_nobody_signed_out_inactive_or_unknown_is_allowed_anything() -> None:
    sysadmin = PEOPLE["sysadmin"]
    assert can(sysadmin, "network.manage") is True
    assert can(None, "network.manage") is False
    for changed in ({"is_authenticated": False}, {"active": False}):
        assert can(SimpleNamespace(**{**vars(sysadmin), **changed}), "network.manage") is False
    for missing in ("is_authenticated", "active"):  # an object that does not say is not trusted
        stand_in = SimpleNamespace(**{k: v for k, v in vars(sysadmin).items() if k != missing})
        assert can(stand_in, "network.manage") is False
    assert can(sysadmin, "network.destroy") is False  # an action with no rule is refused
    assert can(sysadmin, "") is False


def test_the_answer_is_a_bool_even_when_a_rule_returns_an_object() -> None:
    org_admin = PEOPLE["org admin A"]
    assert can(org_admin, "service.manage", SimpleNamespace(id="service-1", organization_id=A)) is True
    assert can(org_admin, "service.manage", SimpleNamespace(id="service-2", organization_id=B)) is False


# ------------------------------------------------------------------------------ platform administration
def test_the_platform_is_run_by_system_administrators() -> None:
    for action in ("network.manage", "organization.manage"):
        assert allowed(action, None) == {"sysadmin"}, action
    network = SimpleNamespace(id=NETWORK)
    for action in ("membership.manage", "network.calendar"):
        assert allowed(action, network) == {"sysadmin", "coordinator"}, action
        # the supervisor belongs to the network, but only its coordinator keeps it
        assert allowed(action, None) == {"sysadmin"}, action
        assert allowed(action, SimpleNamespace(id="network-3")) == {"sysadmin"}, action


def test_accounts_are_listed_by_administrators() -> None:
    assert allowed("user.list", None) == {"sysadmin", "org admin A"}


def test_an_org_admin_manages_her_own_organisations_staff_and_nobody_manages_herself() -> None:
    targets = {
        "caseworker A": PEOPLE["caseworker A"],
        "supervisor A": PEOPLE["supervisor A"],
        "another org admin A": person("org_admin", A, "another org admin A"),
        "auditor in A": person("auditor", A, "auditor in A"),  # a platform role: not hers to manage
        "caseworker B": PEOPLE["caseworker B"],
    }
    managers = {label: who for label, who in PEOPLE.items() if label in ("sysadmin", "org admin A", "supervisor A")}
    got = {
        (manager, target)
        for manager, who in managers.items()
        for target, account in targets.items()
        if can(who, "user.manage", account)
    }
    assert got == {("sysadmin", target) for target in targets} | {
        ("org admin A", "caseworker A"),
        ("org admin A", "supervisor A"),
        ("org admin A", "another org admin A"),
    }
    for label, who in PEOPLE.items():
        assert not can(who, "user.manage", who), label
        assert not can(who, "user.manage", None), label


def test_roles_are_granted_within_what_each_administrator_may_give() -> None:
    grants = {
        ("caseworker", A): {"sysadmin", "org admin A"},
        ("org_admin", A): {"sysadmin", "org admin A"},
        ("auditor", A): {"sysadmin"},
        ("caseworker", B): {"sysadmin"},
        ("auditor", B): {"sysadmin"},
        ("superuser", A): set(),  # not a role at all
        ("superuser", B): set(),
    }
    for grant, expected in grants.items():
        assert allowed("user.grant_role", grant) == expected, grant


def test_the_audit_trail_is_read_by_auditors_and_a_case_history_by_its_own_supervisors() -> None:
    assert allowed("audit.read", None) == {"auditor"}
    assert allowed("audit.case_history", case_a()) == {"auditor", "supervisor A"}
    assert allowed("audit.case_history", None) == {"auditor"}


# ------------------------------------------------------------------------------ case files
def test_case_staff_open_cases() -> None:
    assert allowed("case.create", None) == {
        "supervisor A",
        "owner A",
        "member A",
        "caseworker A",
        "supervisor B",
        "caseworker B",
        "former member B",
        "supervisor C",
    }


CASE_RULES = {
    # the team and the owning organisation's supervisors; nobody of another organisation
    "case.view": {"owner A", "member A", "supervisor A"},
    "case.reveal": {"owner A", "member A", "supervisor A"},
    "case.edit": {"owner A", "member A"},
    "case.approve": {"supervisor A"},
    "case.assign": {"owner A", "supervisor A"},
    "case.transfer": {"owner A", "supervisor A"},
    "consent.override": {"supervisor A"},
    "followup.create": {"owner A", "member A", "supervisor A"},
    "followup.assignee": {"owner A", "member A", "supervisor A"},
}


@pytest.mark.parametrize("action", list(CASE_RULES))
def test_who_may_see_and_change_a_case(action: str) -> None:
    assert allowed(action, case_a()) == CASE_RULES[action]
    assert allowed(action, None) == set()


def test_a_supervisor_approves_any_case_of_hers() -> None:
    assert allowed("case.approve_any", None) == {"supervisor A", "supervisor B", "supervisor C"}


def test_a_team_member_of_another_organisation_gains_nothing() -> None:
    """After a transfer the old team may still be listed: membership alone opens nothing."""
    moved = case_of(B, ("owner A", "owner"), ("caseworker B", "owner"))
    assert allowed("case.view", moved) == {"caseworker B", "supervisor B"}
    assert allowed("case.edit", moved) == {"caseworker B"}
    assert allowed("case.assign", moved) == {"caseworker B", "supervisor B"}


def test_a_member_who_is_not_the_owner_does_not_assign() -> None:
    case = case_of(A, ("member A", "member"), ("owner A", "member"))
    assert allowed("case.assign", case) == {"supervisor A"}


# ------------------------------------------------------------------------------ referrals


def test_both_sides_see_a_sent_referral_each_as_its_role_allows() -> None:
    sent = referral()
    assert allowed("referral.view", sent) == {"owner A", "member A", "supervisor A", "supervisor B", "caseworker B"}
    assert allowed("referral.act_as_sender", sent) == {"owner A", "member A", "supervisor A"}
    assert allowed("referral.act_as_receiver", sent) == {"supervisor B", "caseworker B"}
    assert allowed("referral.assign", sent) == {"supervisor B"}
    assert allowed("referral.list", None) == allowed("case.create", None)


def test_a_draft_is_the_sending_sides_alone() -> None:
    draft = referral("draft")
    assert allowed("referral.view", draft) == {"owner A", "member A", "supervisor A"}
    assert allowed("referral.act_as_receiver", draft) == set()


def test_an_unassigned_referral_is_seen_by_the_receiving_focal_points_only() -> None:
    assert allowed("referral.view", referral(assigned_to=None)) == {
        "owner A",
        "member A",
        "supervisor A",
        "supervisor B",
    }


def test_whoever_sent_a_referral_keeps_it_after_the_case_moved_away() -> None:
    moved = referral(case=case_of(C, ("supervisor C", "owner")))
    # the case's new organisation is no party to the referral
    assert allowed("referral.view", moved) == {"owner A", "supervisor A", "supervisor B", "caseworker B"}
    assert allowed("referral.act_as_sender", moved) == {"owner A", "supervisor A"}


def test_a_sender_taken_off_a_case_still_at_her_organisation_loses_its_referrals() -> None:
    off_the_team = referral(case=case_of(A, ("member A", "owner")))
    assert allowed("referral.view", off_the_team) == {"member A", "supervisor A", "supervisor B", "caseworker B"}


def test_nobody_acts_on_a_missing_referral() -> None:
    for action in ("referral.view", "referral.act_as_sender", "referral.act_as_receiver", "referral.assign"):
        assert allowed(action, None) == set(), action


# ------------------------------------------------------------------------------ transfers
def transfer(case: Case | None = None, **changes: Any) -> SimpleNamespace:
    values: dict[str, Any] = {
        "from_organization_id": A,
        "to_organization_id": B,
        "case": case if case is not None else case_a(),
        "requested_by": "member A",  # she owned the case when she asked
        "new_owner_id": "caseworker B",
    }
    values.update(changes)
    return SimpleNamespace(**values)


def test_who_sees_answers_and_cancels_a_waiting_transfer() -> None:
    waiting = transfer()
    assert allowed("transfer.view", waiting) == {"owner A", "member A", "supervisor A", "supervisor B", "caseworker B"}
    assert allowed("transfer.answer", waiting) == {"supervisor B"}
    assert allowed("transfer.cancel", waiting) == {"owner A", "member A", "supervisor A"}


def test_after_the_move_the_old_team_keeps_only_the_requesters_record() -> None:
    done = transfer(case_of(B, ("caseworker B", "owner"), ("owner A", "member")))
    assert allowed("transfer.view", done) == {"member A", "supervisor A", "supervisor B", "caseworker B"}
    assert allowed("transfer.cancel", done) == {"member A"}  # the case is no longer theirs to assign


def test_the_new_owner_is_named_on_the_transfer_only() -> None:
    unnamed = transfer(new_owner_id=None)
    assert allowed("transfer.view", unnamed) == {"owner A", "member A", "supervisor A", "supervisor B"}


def test_nobody_acts_on_a_missing_transfer() -> None:
    for action in ("transfer.view", "transfer.answer", "transfer.cancel"):
        assert allowed(action, None) == set(), action


# ------------------------------------------------------------------------------ follow-ups
def test_follow_ups_are_managed_by_the_team_and_completed_by_their_assignee() -> None:
    followup = SimpleNamespace(case=case_a(), organization_id=A, assignee_id="caseworker A")
    assert allowed("followup.manage", followup) == {"owner A", "member A", "supervisor A"}
    assert allowed("followup.complete", followup) == {"owner A", "member A", "caseworker A"}
    assert allowed("followup.manage", None) == set()
    assert allowed("followup.complete", None) == set()
    assert allowed("followup.team", None) == {"supervisor A", "supervisor B", "supervisor C"}


def test_a_follow_up_that_moved_with_its_case_is_completed_by_the_new_team() -> None:
    moved = case_of(B, ("caseworker B", "owner"), ("owner A", "member"))
    followup = SimpleNamespace(case=moved, organization_id=B, assignee_id="caseworker A")
    assert allowed("followup.complete", followup) == {"caseworker B"}
    assert allowed("followup.manage", followup) == {"caseworker B", "supervisor B"}
    admins = SimpleNamespace(case=case_a(), organization_id=A, assignee_id="org admin A")
    assert "org admin A" not in allowed("followup.complete", admins)  # not case staff


# ------------------------------------------------------------------------------ emergency access
def test_emergency_access_is_opened_reviewed_and_ended_by_supervisors() -> None:
    supervisors = {"supervisor A", "supervisor B", "supervisor C"}
    assert allowed("breakglass.open", None) == supervisors
    assert allowed("breakglass.review", None) == supervisors
    grant = SimpleNamespace(user_id="supervisor C", case_organization_id=A)
    assert allowed("breakglass.end", grant) == {"supervisor C"}
    assert allowed("breakglass.revoke", grant) == {"supervisor A"}
    assert allowed("breakglass.end", None) == set()
    assert allowed("breakglass.revoke", None) == set()


# ------------------------------------------------------------------------------ the service directory
def test_directory_services_are_kept_by_their_organisation() -> None:
    ours = SimpleNamespace(id="service-1", organization_id=A)
    theirs = SimpleNamespace(id="service-2", organization_id=B)
    organization_a, organization_b = SimpleNamespace(id=A), SimpleNamespace(id=B)
    assert allowed("service.manage", None) == {"sysadmin", "org admin A"}
    assert allowed("service.manage", ours) == {"sysadmin", "org admin A"}
    assert allowed("service.manage", organization_a) == {"sysadmin", "org admin A"}
    assert allowed("service.manage", theirs) == {"sysadmin"}
    assert allowed("service.manage", organization_b) == {"sysadmin"}


# ------------------------------------------------------------------------------ against the database
def test_an_emergency_grant_opens_reading_and_nothing_else(app: Flask, world: World, factory: Factory) -> None:
    case_id = open_case(app, world)
    other_supervisor = factory.user("supervisor", SimpleNamespace(id=world.other.id))  # type: ignore[arg-type]
    with app.app_context():
        case = db.session.get(Case, case_id)
        grantee = user(world.other.supervisor)
        assert not can(grantee, "case.view", case)  # in a session, but no grant yet
        breakglass.open_grant(db.session, grantee, case.case_code, "Police call: she may be at risk tonight")
        db.session.flush()
        reading = {action for action in CASE_RULES if can(grantee, action, case)}
        assert reading == {"case.view", "case.reveal"}
        assert not can(grantee, "audit.case_history", case)
        assert not can(user(other_supervisor), "case.view", case)  # the grant is hers alone
        assert not can(user(world.other.caseworker), "case.view", case)
        db.session.rollback()


def test_lists_hold_exactly_the_cases_each_person_may_open(app: Flask, world: World) -> None:
    mine = open_case(app, world, world.mine.caseworker)
    colleagues = open_case(app, world, world.mine.colleague)
    theirs = open_case(app, world, world.other.caseworker)
    with app.app_context():
        # a caseworker of the other organisation listed on our team (as after a transfer) sees it not
        db.session.add(CaseMember(id=new_id(), case_id=mine, user_id=world.other.caseworker.id, role="member"))
        db.session.commit()
        expected = [
            (world.mine.caseworker, {mine}),
            (world.mine.colleague, {colleagues}),
            (world.mine.supervisor, {mine, colleagues}),
            (world.mine.org_admin, set()),
            (world.other.caseworker, {theirs}),
            (world.other.supervisor, {theirs}),
            (world.auditor, set()),
            (world.sysadmin, set()),
            (world.coordinator, set()),
        ]
        every_case = list(db.session.scalars(select(Case)))
        for account, cases in expected:
            actor = user(account)
            listed = set(db.session.scalars(scope_cases(actor, select(Case.id))))
            assert listed == cases, account.username
            assert listed == {c.id for c in every_case if can(actor, "case.view", c)}, account.username


def test_administrators_list_the_accounts_they_manage(app: Flask, world: World) -> None:
    with app.app_context():
        everyone = set(db.session.scalars(select(User.id)))
        ours = set(db.session.scalars(select(User.id).where(User.organization_id == world.mine.id)))
        assert len(ours) == 4 and everyone > ours
        expected = [(world.sysadmin, everyone), (world.mine.org_admin, ours), (world.mine.supervisor, set())]
        for account, ids in expected:
            assert set(db.session.scalars(scope_users(user(account), select(User.id)))) == ids, account.role
