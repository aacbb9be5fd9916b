"""Consent and the referral state machine: who may do what, what sending needs, what the
receiving side may see and when that ends."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from flask import Flask
from sqlalchemy import select

from referral.audit.models import AuditEvent
from referral.cases import consent as consents
from referral.cases.models import Case
from referral.errors import Conflict, Forbidden, InvalidInput, NotFound
from referral.extensions import db
from referral.followups.calendar import DEFAULT_CALENDAR
from referral.models_base import utcnow
from referral.referrals import services as referrals
from referral.referrals.models import Referral
from tests.helpers.cases import World, open_case, user
from tests.helpers.referrals import act, consent, refer


def test_sending_needs_a_covering_consent(app: Flask, world: World) -> None:
    case_id = open_case(app, world)
    with pytest.raises(referrals.ConsentRequired):
        refer(app, world, case_id, None)
    narrow = consent(app, world, case_id, field_groups=["contact"])
    with pytest.raises(referrals.ConsentRequired):  # identity is not covered
        refer(app, world, case_id, narrow)
    elsewhere = consent(app, world, case_id, organization_ids=[world.mine.id])
    with pytest.raises(referrals.ConsentRequired):  # another organisation
        refer(app, world, case_id, elsewhere)
    by_sector = consent(app, world, case_id, organization_ids=[], sectors=["legal_aid"])
    referral_id = refer(app, world, case_id, by_sector)  # the factory's organisations are legal aid
    with app.app_context():
        referral = db.session.get(Referral, referral_id)
        assert referral.state == "sent" and referral.due_at is not None
        # urgent: 72 hours of working time on the default calendar (Friday-Saturday weekend)
        assert DEFAULT_CALENDAR.working_between(referral.sent_at, referral.due_at) == timedelta(hours=72)


def test_withheld_information_is_never_sent_to_the_named_party(app: Flask, world: World) -> None:
    case_id = open_case(app, world)
    grant = consent(app, world, case_id, withheld=[{"organization_id": world.other.id, "field_groups": ["identity"]}])
    with pytest.raises(referrals.ConsentRequired):
        refer(app, world, case_id, grant)
    referral_id = refer(app, world, case_id, grant, field_groups=["contact"])
    with app.app_context():
        referral = db.session.get(Referral, referral_id)
        assert referrals.shared_groups(db.session, user(world.other.supervisor), referral) == {"contact"}


def test_only_the_receiver_answers_and_only_the_sender_withdraws(app: Flask, world: World) -> None:
    case_id = open_case(app, world)
    referral_id = refer(app, world, case_id, consent(app, world, case_id))
    with pytest.raises(Forbidden):
        act(app, world.mine.supervisor, referral_id, "accepted")
    with pytest.raises(Forbidden):
        act(app, world.other.supervisor, referral_id, "withdrawn", reason="mistake")
    with pytest.raises(InvalidInput):
        act(app, world.other.supervisor, referral_id, "declined")  # needs a coded reason
    act(app, world.other.supervisor, referral_id, "accepted")
    with pytest.raises(referrals.InvalidTransition):
        act(app, world.other.supervisor, referral_id, "completed", outcome="done")  # not started
    act(app, world.other.supervisor, referral_id, "in_progress")
    with pytest.raises(InvalidInput):
        act(app, world.other.supervisor, referral_id, "completed")  # needs an outcome
    act(app, world.other.supervisor, referral_id, "completed", outcome="custody case filed")
    with app.app_context():
        referral = db.session.get(Referral, referral_id)
        assert [t.to_state for t in referral.transitions] == ["draft", "sent", "accepted", "in_progress", "completed"]
        assert referral.transitions[2].organization_id == world.other.id
        assert referral.outcome == "custody case filed" and referral.closed_at is not None
        actions = list(
            db.session.scalars(
                select(AuditEvent.action).where(AuditEvent.object_id == referral_id).order_by(AuditEvent.id)
            )
        )
        assert actions == ["referral.create", "referral.send", "referral.accept", "referral.start", "referral.complete"]


def test_the_receiving_side_loses_the_survivors_data_when_the_referral_ends(app: Flask, world: World) -> None:
    case_id = open_case(app, world)
    referral_id = refer(app, world, case_id, consent(app, world, case_id))
    with app.app_context():
        referral = db.session.get(Referral, referral_id)
        assert referrals.shared_groups(db.session, user(world.other.supervisor), referral) == {"identity", "contact"}
    act(app, world.other.supervisor, referral_id, "declined", reason="no_capacity")
    with app.app_context():
        referral = db.session.get(Referral, referral_id)
        assert referrals.shared_groups(db.session, user(world.other.supervisor), referral) == set()
        assert referrals.visible(db.session, user(world.other.supervisor), referral_id).decline_reason == "no_capacity"


def test_withdrawn_or_expired_consent_cuts_the_receiver_off_and_blocks_new_referrals(app: Flask, world: World) -> None:
    case_id = open_case(app, world)
    grant = consent(app, world, case_id)
    referral_id = refer(app, world, case_id, grant)
    with app.app_context():
        consents.withdraw(db.session, user(world.mine.caseworker), grant)
        db.session.commit()
        referral = db.session.get(Referral, referral_id)
        assert referrals.shared_groups(db.session, user(world.other.supervisor), referral) == set()
    with pytest.raises(referrals.ConsentRequired):
        refer(app, world, case_id, grant)
    fresh = consent(app, world, case_id)
    with time_machine.travel(utcnow() + timedelta(days=370)), pytest.raises(referrals.ConsentRequired):
        refer(app, world, case_id, fresh)  # the 12-month default has passed


def test_override_without_consent_needs_the_permission_and_is_flagged(app: Flask, world: World) -> None:
    case_id = open_case(app, world)
    with pytest.raises(Forbidden):  # a caseworker may not override
        refer(app, world, case_id, None, override_legal_basis="threat_to_life")
    with app.app_context():
        case = db.session.get(Case, case_id)
        from referral.cases import services as cases

        cases.add_member(db.session, user(world.mine.supervisor), case.id, world.mine.supervisor.id)
        referral = referrals.create(
            db.session,
            user(world.mine.supervisor),
            referrals.ReferralInput(
                case_id=case_id,
                to_organization_id=world.other.id,
                priority="emergency",
                reason="immediate danger",
                field_groups=["identity", "contact"],
                override_legal_basis="threat_to_life",
            ),
        )
        db.session.commit()
        flagged = db.session.scalar(
            select(AuditEvent).where(AuditEvent.action == "consent.override").order_by(AuditEvent.id)
        )
        assert flagged.object_id == referral.id and flagged.details["legal_basis"] == "threat_to_life"
        assert referral.due_at - referral.sent_at == timedelta(hours=24)  # emergency


def test_minors_need_a_caregiver_and_assent_or_a_best_interest_reason(app: Flask, world: World) -> None:
    case_id = open_case(app, world, age_group="12-17")
    with pytest.raises(InvalidInput) as caught:
        consent(app, world, case_id)
    assert {"given_by", "minor_assent"} <= set(caught.value.fields)
    grant = consent(app, world, case_id, given_by="caregiver", minor_assent=True)
    reason = consent(app, world, case_id, given_by="caregiver", best_interest_reason="caregiver is the abuser")
    with app.app_context():
        from referral.cases.models import Consent

        assert db.session.get(Consent, grant).minor and db.session.get(Consent, reason).best_interest_reason


def test_other_organisations_and_roles_cannot_see_a_referral(app: Flask, world: World) -> None:
    case_id = open_case(app, world)
    referral_id = refer(app, world, case_id, consent(app, world, case_id))
    with app.app_context():
        for who in (
            world.other.caseworker,
            world.other.org_admin,
            world.mine.colleague,
            world.auditor,
            world.coordinator,
        ):
            with pytest.raises(NotFound):
                referrals.visible(db.session, user(who), referral_id)
        # the receiving focal point assigns it; then the assignee sees it
        referrals.assign(db.session, user(world.other.supervisor), referral_id, world.other.caseworker.id)
        db.session.commit()
        assert referrals.visible(db.session, user(world.other.caseworker), referral_id).id == referral_id
        inbox = referrals.listing(db.session, user(world.other.supervisor), "inbox")
        outbox = referrals.listing(db.session, user(world.mine.caseworker), "outbox")
        assert [r.id for r in inbox] == [referral_id] == [r.id for r in outbox]


def test_two_people_answering_at_once_get_one_success_and_one_conflict(app: Flask, world: World) -> None:
    case_id = open_case(app, world)
    referral_id = refer(app, world, case_id, consent(app, world, case_id))
    with app.app_context():
        version = db.session.get(Referral, referral_id).version
    act(app, world.other.supervisor, referral_id, "accepted", expected_version=version)
    with pytest.raises((Conflict, referrals.InvalidTransition)):
        act(app, world.other.supervisor, referral_id, "declined", reason="duplicate", expected_version=version)


def test_reading_a_referral_is_audited_with_what_it_showed(app: Flask, world: World) -> None:
    case_id = open_case(app, world)
    referral_id = refer(app, world, case_id, consent(app, world, case_id))
    with app.app_context():
        referrals.view(db.session, user(world.other.supervisor), referral_id)
        db.session.commit()
        event = db.session.scalar(
            select(AuditEvent).where(AuditEvent.action == "referral.view").order_by(AuditEvent.id)
        )
        assert event.actor_id == world.other.supervisor.id and event.details == {"shared": "contact,identity"}
        assert event.case_code
        assert event.organization_id == world.mine.id  # the case's owning organisation


def test_free_text_reasons_stay_out_of_the_clear_timeline(app: Flask, world: World) -> None:
    case_id = open_case(app, world)
    referral_id = refer(app, world, case_id, consent(app, world, case_id))
    act(app, world.mine.caseworker, referral_id, "withdrawn", reason="Salma asked us to stop")
    with app.app_context():
        referral = db.session.get(Referral, referral_id)
        assert referral.transitions[-1].reason is None
        assert referral.note == "Salma asked us to stop"
        raw = db.session.execute(select(Referral.__table__.c.note)).scalar_one()
        assert b"Salma" not in raw.blob


def test_a_draft_is_sent_only_through_the_consent_check(app: Flask, world: World) -> None:
    """`transition` takes the answering and following-up steps; sending it is refused, not half done."""
    case_id = open_case(app, world)
    data = referrals.ReferralInput(case_id, world.other.id, "urgent", "needs legal representation", ["identity"])
    with app.app_context():
        draft = referrals.create(db.session, user(world.mine.caseworker), data, send=False).id  # no consent
        db.session.commit()
    with pytest.raises(referrals.InvalidTransition):
        act(app, world.mine.caseworker, draft, "sent")
    with app.app_context():
        assert db.session.get(Referral, draft).state == "draft"
