"""The rules that lived outside the policy and now live in it: the referral boxes, the transfer
lists, the directory's visibility, who may join a case team or be given a referral, and the
coordinators' list of overdue referrals. Each list is checked against the database, person by
person, and against `can` for the same rows."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from referral.access.policy import can, scope_referrals, scope_services, scope_transfers
from referral.cases import services as cases
from referral.directory import services as directory
from referral.directory.models import Organization, Service
from referral.errors import InvalidInput
from referral.extensions import db
from referral.referrals import services as referrals
from referral.referrals import transfers
from referral.referrals.models import CaseTransfer, Referral
from tests.conftest import Account, Factory, sign_in
from tests.helpers.access import PEOPLE, allowed, case_a, consent_by, referral, transfer_by
from tests.helpers.cases import World, open_case, user
from tests.helpers.directory import make_service


# ------------------------------------------------------------------------------ the rules alone
def test_a_case_team_takes_case_staff_of_the_owning_organisation() -> None:
    assert allowed("case.member", case_a()) == {"supervisor A", "owner A", "member A", "caseworker A"}
    assert allowed("case.member", None) == set()


def test_a_referral_is_given_to_case_staff_of_the_receiving_organisation() -> None:
    assert allowed("referral.assignee", referral()) == {"supervisor B", "caseworker B", "former member B"}
    assert allowed("referral.assignee", None) == set()


def test_the_overdue_referrals_are_the_coordinators_list() -> None:
    assert allowed("referral.escalations", None) == {"coordinator", "other coordinator"}


def test_a_listed_service_is_read_by_anyone_an_unlisted_one_by_its_keepers() -> None:
    active_org, closed_org = SimpleNamespace(active=True), SimpleNamespace(active=False)
    listed = SimpleNamespace(organization_id="org-a", active=True, organization=active_org)
    assert allowed("service.view", listed) == set(PEOPLE)
    off = SimpleNamespace(organization_id="org-a", active=False, organization=active_org)
    closed = SimpleNamespace(organization_id="org-a", active=True, organization=closed_org)
    assert allowed("service.view", off) == allowed("service.view", closed) == {"sysadmin", "org admin A"}
    assert allowed("service.view", None) == set()


# ------------------------------------------------------------------------------ referral boxes


def _refer_by(app: Flask, world: World, account: Account, *, send: bool = True) -> str:
    case_id = open_case(app, world, account)
    grant = consent_by(app, world, account, case_id)
    data = referrals.ReferralInput(
        case_id=case_id,
        to_organization_id=world.other.id,
        priority="urgent",
        reason="needs legal representation",
        field_groups=["identity", "contact"],
        consent_id=grant,
    )
    with app.app_context():
        made = referrals.create(db.session, user(account), data, send=send)
        db.session.commit()
        return made.id


def _box(actor: Any, box: str) -> set[str]:
    return set(db.session.scalars(select(Referral.id).where(scope_referrals(actor, box))))


def test_each_person_sees_the_referrals_of_a_box_her_role_allows(app: Flask, world: World) -> None:
    sent = _refer_by(app, world, world.mine.caseworker)
    draft = _refer_by(app, world, world.mine.colleague, send=False)
    assigned = _refer_by(app, world, world.mine.colleague)
    with app.app_context():
        referrals.assign(db.session, user(world.other.supervisor), assigned, world.other.caseworker.id)
        db.session.commit()
        expected = [
            # the receiving side: focal points the whole inbox (never a draft), caseworkers theirs
            (world.other.supervisor, "inbox", {sent, assigned}),
            (world.other.caseworker, "inbox", {assigned}),
            (world.other.colleague, "inbox", set()),
            (world.other.supervisor, "outbox", set()),
            # the sending side: the supervisor the whole outbox, caseworkers their cases and sends
            (world.mine.supervisor, "outbox", {sent, draft, assigned}),
            (world.mine.caseworker, "outbox", {sent}),
            (world.mine.colleague, "outbox", {draft, assigned}),
            (world.mine.caseworker, "inbox", set()),
            (world.mine.colleague, "all", {draft, assigned}),
            (world.other.caseworker, "all", {assigned}),
        ]
        for account, box, ids in expected:
            actor = user(account)
            assert _box(actor, box) == ids, (account.username, box)
            # the service lists exactly the scope, and `can` agrees on every row listed
            listed = {r.id for r in referrals.listing(db.session, actor, box)}
            assert listed == ids, (account.username, box)
            assert all(can(actor, "referral.view", db.session.get(Referral, i)) for i in ids)
        every = list(db.session.scalars(select(Referral)))
        for account in (world.other.supervisor, world.other.caseworker, world.other.colleague):
            actor = user(account)
            viewable = {r.id for r in every if can(actor, "referral.view", r)}
            assert _box(actor, "all") == viewable, account.username


def test_a_referral_goes_only_to_case_staff_of_the_receiving_side(app: Flask, world: World) -> None:
    referral_id = _refer_by(app, world, world.mine.caseworker)
    with app.app_context():
        for account in (world.other.org_admin, world.mine.caseworker, world.coordinator):
            with pytest.raises(InvalidInput):
                referrals.assign(db.session, user(world.other.supervisor), referral_id, account.id)
            db.session.rollback()
        assert db.session.get(Referral, referral_id).assigned_to is None


def test_a_case_team_takes_only_case_staff_of_its_organisation(app: Flask, world: World) -> None:
    case_id = open_case(app, world, world.mine.caseworker)
    with app.app_context():
        for account in (world.mine.org_admin, world.other.caseworker, world.auditor):
            with pytest.raises(InvalidInput):
                cases.add_member(db.session, user(world.mine.supervisor), case_id, account.id)
            db.session.rollback()
        member = cases.add_member(db.session, user(world.mine.supervisor), case_id, world.mine.colleague.id)
        assert member.user_id == world.mine.colleague.id


# ------------------------------------------------------------------------------ transfer lists


def test_each_person_sees_the_transfers_her_role_allows(app: Flask, world: World) -> None:
    waiting = transfer_by(app, world, world.mine.caseworker)
    moved = transfer_by(app, world, world.mine.colleague)
    with app.app_context():
        transfers.accept(db.session, user(world.other.supervisor), moved, world.other.caseworker.id)
        db.session.commit()
        expected = [
            (world.other.supervisor, "incoming", {waiting, moved}),
            (world.other.caseworker, "incoming", {moved}),  # the new owner named on it
            (world.other.colleague, "incoming", set()),
            (world.mine.supervisor, "outgoing", {waiting, moved}),
            (world.mine.caseworker, "outgoing", {waiting}),
            (world.mine.colleague, "outgoing", {moved}),  # the requester keeps her record
            (world.mine.supervisor, "incoming", set()),
            (world.other.supervisor, "outgoing", set()),
        ]
        every = list(db.session.scalars(select(CaseTransfer)))
        for account, box, ids in expected:
            actor = user(account)
            scoped = set(db.session.scalars(scope_transfers(actor, box).with_only_columns(CaseTransfer.id)))
            assert scoped == ids, (account.username, box)
            assert {t.id for t in transfers.listing(db.session, actor, box)} == ids, (account.username, box)
            side = "to_organization_id" if box == "incoming" else "from_organization_id"
            viewable = {
                t.id for t in every if getattr(t, side) == actor.organization_id and can(actor, "transfer.view", t)
            }
            assert scoped == viewable, (account.username, box)


# ------------------------------------------------------------------------------ the directory
def test_the_directory_lists_unlisted_services_only_to_their_keepers(app: Flask, factory: Factory) -> None:
    net = factory.network()
    mine, theirs = factory.organization(net), factory.organization(net)
    listed = make_service(app, mine)
    ours_off = make_service(app, mine)
    theirs_off = make_service(app, theirs)
    sysadmin, admin, caseworker = (
        factory.user("sysadmin"),
        factory.user("org_admin", mine),
        factory.user("caseworker", mine),
    )
    with app.app_context():
        for service_id in (ours_off, theirs_off):
            db.session.get(Service, service_id).active = False
        db.session.commit()
        stmt = select(Service.id).join(Organization, Organization.id == Service.organization_id)
        expected = [
            (sysadmin, True, {listed, ours_off, theirs_off}),
            (admin, True, {listed, ours_off}),
            (caseworker, True, {listed}),
            (sysadmin, False, {listed}),
            (admin, False, {listed}),
        ]
        for account, inactive, ids in expected:
            actor = user(account)
            assert set(db.session.scalars(scope_services(actor, stmt, include_inactive=inactive))) == ids
            found = directory.search_services(db.session, actor, directory.ServiceFilters(), include_inactive=inactive)
            assert {s.id for s in found} == ids
            if inactive:  # one service is open to exactly those who find it listed
                every = list(db.session.scalars(select(Service)))
                assert {s.id for s in every if can(actor, "service.view", s)} == ids


# ------------------------------------------------------------------------------ the coordinator gate
def test_only_coordinators_open_the_overdue_referrals(app: Flask, world: World) -> None:
    for account, status in (
        (world.coordinator, 200),
        (world.mine.supervisor, 404),
        (world.sysadmin, 404),
        (world.auditor, 404),
    ):
        client: FlaskClient = app.test_client()
        sign_in(client, app, account)
        assert client.get("/escalations").status_code == status, account.role


def test_a_deactivated_account_joins_no_team_and_is_given_no_referral(app: Flask, world: World) -> None:
    from referral.accounts.models import User

    case_id = open_case(app, world, world.mine.caseworker)
    referral_id = _refer_by(app, world, world.mine.caseworker)
    with app.app_context():
        for account in (world.mine.colleague, world.other.caseworker):
            db.session.get(User, account.id).active = False
        db.session.commit()
        with pytest.raises(InvalidInput):
            cases.add_member(db.session, user(world.mine.supervisor), case_id, world.mine.colleague.id)
        db.session.rollback()
        with pytest.raises(InvalidInput):
            referrals.assign(db.session, user(world.other.supervisor), referral_id, world.other.caseworker.id)
        db.session.rollback()
        assert db.session.get(Referral, referral_id).assigned_to is None
