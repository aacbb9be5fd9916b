"""The receiving organisation's work on a referral: its service log, the record of each
assignment, its own case file opened from the referral, and the referrals on the sender's case."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import Uuid, bindparam, select, text

from referral.audit.models import AuditEvent
from referral.cases import services as cases
from referral.cases.models import Case, Incident
from referral.errors import Forbidden, InvalidInput, NotFound
from referral.extensions import db
from referral.followups.models import Notification
from referral.referrals import receiving
from referral.referrals import services as referrals
from referral.referrals.models import Referral, ReferralLogEntry
from referral.security.crypto import Context, CryptoError
from tests.conftest import Factory
from tests.helpers.cases import MARKER_ID, MARKER_NAME, World, open_case, user
from tests.helpers.referrals import act, consent, refer


def _raw(table: str, column: str, row_id: str) -> bytes:
    """The stored bytes of an encrypted value, as the database holds them."""
    query = text(f"SELECT {column} FROM {table} WHERE id = :id").bindparams(bindparam("id", type_=Uuid(as_uuid=False)))
    return bytes(db.session.execute(query, {"id": row_id}).scalar_one())


def _accepted(app: Flask, world: World, groups: list[str] | None = None) -> tuple[str, str]:
    case_id = open_case(app, world)
    grant = consent(app, world, case_id, field_groups=["identity", "contact", "incident"])
    referral_id = refer(app, world, case_id, grant, field_groups=groups or ["identity", "contact"])
    act(app, world.other.supervisor, referral_id, "accepted")
    return case_id, referral_id


def _log(app: Flask, who: object, referral_id: str, body: str, next_step: str | None = None) -> str:
    with app.app_context():
        entry = receiving.add_log_entry(db.session, user(who), referral_id, body, next_step)  # type: ignore[arg-type]
        db.session.commit()
        return entry.id


def test_the_receiver_logs_progress_encrypted_under_its_key_and_the_sender_is_told(app: Flask, world: World) -> None:
    _case_id, referral_id = _accepted(app, world)
    entry_id = _log(app, world.other.supervisor, referral_id, "First session held at the centre", "Court on Monday")
    with app.app_context():
        entry = db.session.get(ReferralLogEntry, entry_id)
        assert entry is not None
        assert (entry.text, entry.next_step) == ("First session held at the centre", "Court on Monday")
        assert entry.organization_id == world.other.id and entry.author_id == world.other.supervisor.id
        blob = _raw("referral_log_entry", "text", entry_id)
        assert b"First session" not in blob  # never in the clear
        cipher = app.extensions["shabaka"].cipher
        assert cipher.decrypt_text(blob, Context("referral_log_entry", "text", entry_id, world.other.id)) == (
            "First session held at the centre"
        )
        with pytest.raises(CryptoError):  # bound to the receiving organisation, not the sender
            cipher.decrypt_text(blob, Context("referral_log_entry", "text", entry_id, world.mine.id))
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "referral.log").order_by(AuditEvent.id))
        assert event is not None and event.object_id == referral_id and event.details["entry_id"] == entry_id
        assert "First session" not in str(event.details)
        told = list(db.session.scalars(select(Notification).where(Notification.kind == "referral.progress")))
        assert [(n.user_id, n.target_id) for n in told] == [(world.mine.caseworker.id, referral_id)]
        assert told[0].case_code == event.case_code
        referral = db.session.get(Referral, referral_id)
        # both sides read the log; an outsider has no way to the referral at all
        assert [e.id for e in receiving.log_for(user(world.mine.caseworker), referral)] == [entry_id]
        assert [e.id for e in receiving.log_for(user(world.other.supervisor), referral)] == [entry_id]


def test_the_log_is_refused_outside_the_service_and_to_anyone_but_the_receiver(
    app: Flask, world: World, factory: Factory
) -> None:
    case_id = open_case(app, world)
    grant = consent(app, world, case_id)
    referral_id = refer(app, world, case_id, grant)
    with pytest.raises(receiving.NotInService):  # sent, not yet accepted
        _log(app, world.other.supervisor, referral_id, "too early")
    act(app, world.other.supervisor, referral_id, "accepted")
    with pytest.raises(Forbidden):  # the sending side does not write the receiver's log
        _log(app, world.mine.caseworker, referral_id, "not mine to write")
    stranger = factory.user("supervisor", factory.organization(factory.network()))
    with pytest.raises(NotFound):
        _log(app, stranger, referral_id, "who are you")
    for bad, field, code in (
        ("   ", "text", "required"),
        ("x" * 5001, "text", "log_too_long"),
        ("bad \x00 byte", "text", "invalid_characters"),
    ):
        with pytest.raises(InvalidInput) as refused:
            _log(app, world.other.supervisor, referral_id, bad)
        assert refused.value.fields == {field: code} and refused.value.status == 400
    with pytest.raises(InvalidInput) as refused:
        _log(app, world.other.supervisor, referral_id, "fine", "y" * 2001)
    assert refused.value.fields == {"next_step": "log_too_long"}
    act(app, world.other.supervisor, referral_id, "in_progress")
    _log(app, world.other.supervisor, referral_id, "in progress is fine")
    act(app, world.other.supervisor, referral_id, "completed", outcome="done")
    with pytest.raises(receiving.NotInService):
        _log(app, world.other.supervisor, referral_id, "too late")
    with app.app_context():
        assert db.session.scalar(select(db.func.count()).select_from(ReferralLogEntry)) == 1
        assert (
            db.session.scalar(
                select(db.func.count()).select_from(Notification).where(Notification.kind == "referral.progress")
            )
            == 1
        )


def test_each_assignment_is_on_the_timeline_named_only_for_the_receiving_side(app: Flask, world: World) -> None:
    _case_id, referral_id = _accepted(app, world)
    with app.app_context():
        referrals.assign(db.session, user(world.other.supervisor), referral_id, world.other.caseworker.id)
        db.session.commit()
        referrals.assign(db.session, user(world.other.supervisor), referral_id, world.other.colleague.id)
        db.session.commit()
        referral = db.session.get(Referral, referral_id)
        assert referral is not None
        mine = receiving.timeline(user(world.other.supervisor), referral)
        assert [(r.kind, r.state, r.user_id) for r in mine] == [
            ("state", "draft", None),
            ("state", "sent", None),
            ("state", "accepted", None),
            ("assigned", None, world.other.caseworker.id),
            ("assigned", None, world.other.colleague.id),
        ]
        theirs = receiving.timeline(user(world.mine.caseworker), referral)
        assert [(r.kind, r.user_id) for r in theirs if r.kind == "assigned"] == [("assigned", None), ("assigned", None)]


def test_the_receiver_opens_its_own_case_with_what_the_referral_shares_and_keeps_it(app: Flask, world: World) -> None:
    case_id, referral_id = _accepted(app, world, groups=["identity"])
    with app.app_context():
        own = receiving.open_own_case(db.session, user(world.other.supervisor), referral_id)
        db.session.commit()
        own_id = own.id
        source = db.session.get(Case, case_id)
        assert source is not None
        assert own.organization_id == world.other.id and own.owner_id == world.other.supervisor.id
        assert own.case_code != source.case_code and own.case_code.split("-")[0] == source.case_code.split("-")[0]
        assert (own.full_name, own.national_id) == (source.full_name, source.national_id)
        assert own.phone is None and own.address is None  # contact was not shared
        assert not db.session.scalars(select(Incident).where(Incident.case_id == own_id)).all()  # nor the incident
        referral = db.session.get(Referral, referral_id)
        assert referral is not None and referral.receiver_case_id == own_id
        event = db.session.scalar(
            select(AuditEvent).where(AuditEvent.action == "case.create", AuditEvent.object_id == own_id)
        )
        assert event is not None and event.details["via_referral"] == referral_id
        assert event.details["shared"] == "identity"
        blob = _raw("case_file", "full_name", own_id)
        cipher = app.extensions["shabaka"].cipher
        assert MARKER_NAME in cipher.decrypt_text(blob, Context("case_file", "full_name", own_id, world.other.id))
        with pytest.raises(receiving.CaseAlreadyOpened):
            receiving.open_own_case(db.session, user(world.other.supervisor), referral_id)
        db.session.rollback()
    act(app, world.other.supervisor, referral_id, "in_progress")
    act(app, world.other.supervisor, referral_id, "completed", outcome="done")
    with app.app_context():
        with pytest.raises(NotFound):  # the shared view of the sender's case ends with the referral
            referrals.case_through_referrals(db.session, user(world.other.supervisor), case_id)
        db.session.rollback()
        kept = cases.view_case(db.session, user(world.other.supervisor), own_id)  # her own record stays
        assert kept.national_id == MARKER_ID
        with pytest.raises(receiving.NotInService):
            receiving.open_own_case(db.session, user(world.other.supervisor), referral_id)


def test_opening_an_own_case_needs_the_receiver_and_an_open_service(app: Flask, world: World) -> None:
    case_id = open_case(app, world)
    grant = consent(app, world, case_id)
    referral_id = refer(app, world, case_id, grant)
    with app.app_context():
        with pytest.raises(receiving.NotInService):  # not accepted yet
            receiving.open_own_case(db.session, user(world.other.supervisor), referral_id)
        db.session.rollback()
    act(app, world.other.supervisor, referral_id, "accepted")
    with app.app_context():
        with pytest.raises(Forbidden):
            receiving.open_own_case(db.session, user(world.mine.caseworker), referral_id)
        db.session.rollback()
        with pytest.raises(NotFound):  # a receiving caseworker the referral is not assigned to
            receiving.open_own_case(db.session, user(world.other.caseworker), referral_id)
        db.session.rollback()
        assert db.session.scalar(select(db.func.count()).select_from(Case)) == 1


def test_the_senders_case_lists_its_referrals_with_state_outcome_and_log(app: Flask, world: World) -> None:
    case_id, referral_id = _accepted(app, world)
    _log(app, world.other.supervisor, referral_id, "Met her twice")
    act(app, world.other.supervisor, referral_id, "in_progress")
    act(app, world.other.supervisor, referral_id, "completed", outcome="Custody hearing attended")
    with app.app_context():
        case = db.session.get(Case, case_id)
        made = receiving.of_case(db.session, user(world.mine.caseworker), case)
        assert [(m.referral.id, m.referral.state, m.referral.outcome) for m in made] == [
            (referral_id, "completed", "Custody hearing attended")
        ]
        assert [e.text for e in made[0].log] == ["Met her twice"]
        assert receiving.of_case(db.session, user(world.other.supervisor), case) == []
