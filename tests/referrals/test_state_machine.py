"""The referral state machine, transition by transition: in every state only the listed steps are
open, each to the side that makes it; each step records its row, times, reason or outcome, moves
the response and completion clocks, writes its audit event and tells the people it concerns.

Scope: `TRANSITIONS`, `_side`, `_allowed`, `_record_transition`, `_check_sharing`,
`send_referral`, `transition`, `_move_clocks` and `_tell` in referral/referrals/services.py."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
import time_machine
from flask import Flask
from sqlalchemy import select

from referral.audit.models import AuditEvent
from referral.cases import consent as consents
from referral.errors import Forbidden, InvalidInput, NotFound, PreconditionFailed
from referral.extensions import db
from referral.followups import notifications
from referral.followups.calendar import DEFAULT_CALENDAR
from referral.followups.models import ReminderStep
from referral.referrals import services as referrals
from referral.referrals.models import STATES, Referral, ReferralTransition
from referral.runtime import runtime
from tests.conftest import Account
from tests.helpers.cases import World, open_case, user
from tests.helpers.referrals import consent

T0 = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)  # a Thursday morning: two days on, the weekend
LATER = T0 + timedelta(hours=5)

# Written out from DOMAIN.md's lifecycle, not copied from the code.
ALLOWED = {
    ("draft", "sent"): "sender",
    ("draft", "withdrawn"): "sender",
    ("sent", "accepted"): "receiver",
    ("sent", "declined"): "receiver",
    ("sent", "withdrawn"): "sender",
    ("accepted", "in_progress"): "receiver",
    ("accepted", "withdrawn"): "sender",
    ("in_progress", "completed"): "receiver",
    ("in_progress", "closed_unresolved"): "receiver",
    ("in_progress", "withdrawn"): "sender",
}
# How to reach each state from a draft, and what each step needs.
PATHS = {
    "draft": [],
    "sent": ["sent"],
    "accepted": ["sent", "accepted"],
    "declined": ["sent", "declined"],
    "in_progress": ["sent", "accepted", "in_progress"],
    "completed": ["sent", "accepted", "in_progress", "completed"],
    "closed_unresolved": ["sent", "accepted", "in_progress", "closed_unresolved"],
    "withdrawn": ["sent", "withdrawn"],
}
NEEDS: dict[str, dict[str, str]] = {
    "declined": {"reason": "no_capacity"},
    "completed": {"outcome": "custody case filed"},
    "closed_unresolved": {"reason": "no safe way to reach her"},
    "withdrawn": {"reason": "the plan changed"},
}


@dataclass
class Desk:
    """One case of organisation `mine` with a consent reaching `other`, and what was told."""

    world: World
    case_id: str
    consent_id: str
    told: list[tuple[list[str], notifications.Message]] = field(default_factory=list)

    @property
    def sender(self) -> Account:
        return self.world.mine.caseworker

    @property
    def receiver(self) -> Account:
        return self.world.other.supervisor

    def refer(self, *, send: bool = False, **changes: Any) -> Referral:
        data = referrals.ReferralInput(
            case_id=self.case_id,
            to_organization_id=self.world.other.id,
            priority="urgent",
            reason="needs legal representation",
            field_groups=["identity", "contact"],
            consent_id=self.consent_id,
        )
        for key, value in changes.items():
            setattr(data, key, value)
        referral = referrals.create(db.session, user(self.sender), data, send=send)
        db.session.commit()
        return referral

    def external(self, **changes: Any) -> Referral:
        return self.refer(
            to_organization_id=None, external_provider="Bethlehem Law Clinic", external_sector="legal_aid", **changes
        )

    def send(self, referral: Referral, by: Account | None = None) -> Referral:
        done = referrals.send_referral(db.session, user(by or self.sender), referral.id)
        db.session.commit()
        return done

    def act(self, referral: Referral, to_state: str, by: Account | None = None, **kwargs: Any) -> Referral:
        who = by or (self.sender if ALLOWED.get((referral.state, to_state)) == "sender" else self.receiver)
        done = referrals.transition(db.session, user(who), referral.id, to_state, **kwargs)
        db.session.commit()
        return done

    def walk(self, to_state: str) -> Referral:
        referral = self.refer()
        for step in PATHS[to_state]:
            if step == "sent":
                self.send(referral)
            else:
                self.act(referral, step, **NEEDS.get(step, {}))
        return referral

    def rows(self, referral: Referral) -> list[tuple[Any, ...]]:
        found = db.session.scalars(select(ReferralTransition).where(ReferralTransition.referral_id == referral.id))
        # the clock is frozen: steps taken at one instant come in the order of the lifecycle
        ordered = sorted(found, key=lambda t: (t.at, STATES.index(t.to_state)))
        return [(t.from_state, t.to_state, t.actor_id, t.organization_id, t.reason, t.note) for t in ordered]

    def rungs(self, referral: Referral, clock: str) -> dict[str, tuple[datetime, str]]:
        steps = db.session.scalars(
            select(ReminderStep).where(ReminderStep.clock == clock, ReminderStep.target_id == referral.id)
        )
        return {step.step: (step.due_at, step.state) for step in steps}

    def audited(self, referral: Referral) -> list[str]:
        return list(
            db.session.scalars(
                select(AuditEvent.action).where(AuditEvent.object_id == referral.id).order_by(AuditEvent.id)
            )
        )


@pytest.fixture
def desk(app: Flask, world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[Desk]:
    case_id = open_case(app, world)
    made = Desk(world, case_id, consent(app, world, case_id))

    def notify(user_ids: Any, message: notifications.Message, session: Any = None) -> None:
        assert session is db.session  # told after this transaction commits, not another one
        made.told.append((sorted(user_ids), message))

    monkeypatch.setattr(notifications, "notify", notify)
    with app.app_context(), time_machine.travel(T0, tick=False):
        yield made
        db.session.rollback()


def _told(referral: Referral, kind: str, state: str, *user_ids: str) -> tuple[list[str], notifications.Message]:
    return sorted(user_ids), notifications.Message(
        kind, referral.case_code, "referral", referral.id, key=f"referral:{referral.id}:{state}"
    )


# ------------------------------------------------------------------------------ which steps are open
def _attempt(desk: Desk, referral_id: str, to_state: str, who: Account) -> str:
    try:
        done = referrals.transition(
            db.session, user(who), referral_id, to_state, reason="no_capacity", outcome="done", note="noted"
        )
        return "done" if done.state == to_state else f"left in {done.state}"
    except NotFound:
        return "not found"
    except referrals.InvalidTransition as refused:
        return f"invalid:{refused.message}"
    except Forbidden as refused:
        return f"forbidden:{refused.message}"
    finally:
        db.session.rollback()


def test_every_state_opens_exactly_its_steps_to_the_side_that_makes_them(desk: Desk) -> None:
    sides = {"sender": desk.sender, "receiver": desk.receiver, "third": desk.world.other.colleague}
    got, expected = {}, {}
    for state in STATES:
        referral = desk.walk(state)
        assert referral.state == state
        for to_state in (*STATES, "archived"):
            for side, who in sides.items():
                got[state, to_state, side] = _attempt(desk, referral.id, to_state, who)
                owner = ALLOWED.get((state, to_state))
                if side == "third" or (side == "receiver" and state == "draft"):
                    expected[state, to_state, side] = "not found"  # she cannot see it at all
                elif owner is None or to_state == "sent":  # sending is `send_referral`, with its consent check
                    expected[state, to_state, side] = "invalid:invalid_transition"
                elif owner != side:
                    expected[state, to_state, side] = f"forbidden:only_the_{owner}"
                else:
                    expected[state, to_state, side] = "done"
    assert got == expected


def test_only_a_draft_is_sent_and_only_by_its_sender(desk: Desk) -> None:
    sides = {"sender": desk.sender, "receiver": desk.receiver, "third": desk.world.other.colleague}
    got, expected = {}, {}
    for state in STATES:
        referral = desk.walk(state)
        for side, who in sides.items():
            try:
                referrals.send_referral(db.session, user(who), referral.id)
                got[state, side] = "done"
            except NotFound:
                got[state, side] = "not found"
            except referrals.InvalidTransition:
                got[state, side] = "invalid"
            except Forbidden as refused:
                got[state, side] = refused.message
            finally:
                db.session.rollback()
            if side == "third" or (side == "receiver" and state == "draft"):
                expected[state, side] = "not found"
            elif state != "draft":
                expected[state, side] = "invalid"
            else:
                expected[state, side] = "done"
    assert got == expected


def test_sides_of_a_referral() -> None:
    internal = SimpleNamespace(from_organization_id="a", to_organization_id="b")
    external = SimpleNamespace(from_organization_id="a", to_organization_id=None)
    assert referrals._side(SimpleNamespace(organization_id="a"), internal) == "sender"
    assert referrals._side(SimpleNamespace(organization_id="b"), internal) == "receiver"
    assert referrals._side(SimpleNamespace(organization_id="c"), internal) is None
    assert referrals._side(SimpleNamespace(organization_id=None), external) is None  # nobody receives it


# ------------------------------------------------------------------------------ sending
def test_sending_starts_the_response_clock_and_tells_the_receiving_focal_points(desk: Desk) -> None:
    referral = desk.refer(priority="emergency")
    assert desk.told == []  # a draft tells nobody
    desk.send(referral, by=desk.world.mine.supervisor)  # the sending organisation's supervisor may send it
    assert (referral.state, referral.sent_at, referral.due_at) == ("sent", T0, T0 + timedelta(hours=24))
    assert desk.rows(referral) == [
        (None, "draft", desk.sender.id, desk.world.mine.id, None, None),
        ("draft", "sent", desk.world.mine.supervisor.id, desk.world.mine.id, None, None),
    ]
    hours = timedelta(hours=1)
    assert desk.rungs(referral, "referral_response") == {  # an emergency runs on the plain clock
        "half": (T0 + 12 * hours, "pending"),
        "target": (T0 + 24 * hours, "pending"),
        "twice": (T0 + 48 * hours, "pending"),
    }
    assert desk.told == [_told(referral, "referral.received", "sent", desk.receiver.id)]
    assert desk.audited(referral) == ["referral.create", "referral.send"]
    event = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "referral.send").order_by(AuditEvent.id)
    ).one()
    assert (event.actor_id, event.case_code) == (desk.world.mine.supervisor.id, referral.case_code)
    assert event.details == {"to_organization_id": desk.world.other.id, "external_sector": None}
    with pytest.raises(referrals.InvalidTransition):
        desk.send(referral)


def test_an_urgent_referral_is_answered_in_working_time(desk: Desk) -> None:
    referral = desk.refer(priority="urgent", send=True)
    add = DEFAULT_CALENDAR.add_working
    hours = timedelta(hours=1)
    assert referral.due_at == add(T0, 72 * hours)
    assert desk.rungs(referral, "referral_response") == {
        "half": (add(T0, 36 * hours), "pending"),
        "target": (add(T0, 72 * hours), "pending"),
        "twice": (add(T0, 144 * hours), "pending"),
    }


def test_sending_without_a_consent_in_force_that_covers_it_is_refused(desk: Desk, app: Flask) -> None:
    def refused(referral: Referral) -> tuple[str, dict[str, str]]:
        with pytest.raises(referrals.ConsentRequired) as caught:
            referrals.send_referral(db.session, user(desk.sender), referral.id)
        db.session.rollback()
        return caught.value.message, caught.value.fields

    required = ("consent_required", {"consent_id": "required"})
    assert refused(desk.refer(consent_id=None)) == required
    other_case = open_case(app, desk.world)
    assert refused(desk.refer(consent_id=consent(app, desk.world, other_case))) == required
    narrow = consent(app, desk.world, desk.case_id, field_groups=["contact"])
    not_covered = ("consent_does_not_cover", {"field_groups": "not_covered_by_consent"})
    assert refused(desk.refer(consent_id=narrow)) == not_covered
    withdrawn = desk.refer()
    consents.withdraw(db.session, user(desk.sender), desk.consent_id)
    db.session.commit()
    assert refused(withdrawn) == ("consent_not_valid", {"consent_id": "expired_or_withdrawn"})
    assert db.session.get(Referral, withdrawn.id).state == "draft"
    assert desk.told == []


def test_a_provider_outside_the_network_is_reached_by_a_consent_for_its_sector(desk: Desk, app: Flask) -> None:
    def refused(referral: Referral) -> tuple[str, dict[str, str]]:
        with pytest.raises(referrals.ConsentRequired) as caught:
            referrals.send_referral(db.session, user(desk.sender), referral.id)
        db.session.rollback()
        return caught.value.message, caught.value.fields

    # the desk's consent names organisation `other`, no sector
    assert refused(desk.external()) == ("consent_does_not_cover", {"external_sector": "not_covered_by_consent"})
    narrow = consent(
        app, desk.world, desk.case_id, organization_ids=[], sectors=["legal_aid"], field_groups=["contact"]
    )
    assert refused(desk.external(consent_id=narrow)) == (
        "consent_does_not_cover",
        {"field_groups": "not_covered_by_consent"},
    )
    by_sector = consent(app, desk.world, desk.case_id, organization_ids=[], sectors=["legal_aid"])
    referral = desk.send(desk.external(consent_id=by_sector))
    assert referral.state == "sent" and referral.sent_at == T0
    assert desk.rungs(referral, "referral_response") == {}  # followed up by hand
    assert desk.told == []  # told on paper
    event = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "referral.send").order_by(AuditEvent.id)
    ).one()
    assert event.details == {"to_organization_id": None, "external_sector": "legal_aid"}


def test_an_override_needs_a_listed_legal_basis_and_a_supervisor_and_is_flagged(desk: Desk) -> None:
    supervisor = desk.world.mine.supervisor
    for basis, error, message, fields in (
        ("curiosity", InvalidInput, "invalid_override", {"override_legal_basis": "invalid"}),
        ("threat_to_life", Forbidden, "override_not_allowed", {}),
    ):
        referral = desk.refer(consent_id=None, override_legal_basis=basis)
        with pytest.raises(error) as caught:
            referrals.send_referral(db.session, user(desk.sender), referral.id)
        assert (caught.value.message, caught.value.fields) == (message, fields)
        db.session.rollback()
    for basis in referrals.LEGAL_BASES:
        referral = desk.send(desk.refer(consent_id=None, override_legal_basis=basis), by=supervisor)
        assert referral.state == "sent"
        flagged = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "consent.override", AuditEvent.object_id == referral.id)
        ).one()
        assert (flagged.actor_id, flagged.case_code) == (supervisor.id, referral.case_code)
        assert flagged.details == {
            "legal_basis": basis,
            "to_organization_id": desk.world.other.id,
            "external_sector": None,
        }
    outside = desk.send(desk.external(consent_id=None, override_legal_basis="child_protection"), by=supervisor)
    flagged = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "consent.override", AuditEvent.object_id == outside.id)
    ).one()
    assert flagged.details == {
        "legal_basis": "child_protection",
        "to_organization_id": None,
        "external_sector": "legal_aid",
    }


# ------------------------------------------------------------------------------ answering and following up
def test_accepting_stops_the_response_clock_and_starts_the_completion_clock(desk: Desk) -> None:
    referral = desk.refer(send=True)
    desk.told.clear()
    with time_machine.travel(LATER, tick=False):
        desk.act(referral, "accepted", note="  we will call her on Sunday  ")
    assert (referral.state, referral.answered_at, referral.closed_at) == ("accepted", LATER, None)
    assert referral.note == "we will call her on Sunday"
    assert desk.rows(referral)[-1] == ("sent", "accepted", desk.receiver.id, desk.world.other.id, None, None)
    assert {state for _, state in desk.rungs(referral, "referral_response").values()} == {"cancelled"}
    add, days = DEFAULT_CALENDAR.add_working, timedelta(days=runtime().settings.referral_completion_days)
    assert desk.rungs(referral, "referral_completion") == {
        "half": (add(LATER, days / 2), "pending"),
        "target": (add(LATER, days), "pending"),
        "twice": (add(LATER, days * 2), "pending"),
    }
    assert desk.told == [_told(referral, "referral.accepted", "accepted", desk.sender.id)]
    assert desk.audited(referral)[-1] == "referral.accept"
    event = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "referral.accept").order_by(AuditEvent.id)
    ).one()
    assert (event.actor_id, event.case_code, event.object_id) == (desk.receiver.id, referral.case_code, referral.id)


def test_declining_needs_a_coded_reason_which_the_timeline_keeps(desk: Desk) -> None:
    referral = desk.refer(send=True)
    desk.told.clear()
    for reason in (None, "", "we are busy"):
        with pytest.raises(InvalidInput) as caught:
            desk.act(referral, "declined", reason=reason)
        assert (caught.value.message, caught.value.fields) == ("invalid_transition_input", {"reason_code": "required"})
        db.session.rollback()
    with time_machine.travel(LATER, tick=False):
        desk.act(referral, "declined", reason="no_capacity")
    assert (referral.state, referral.decline_reason) == ("declined", "no_capacity")
    assert referral.answered_at == referral.closed_at == LATER
    assert referral.note is None
    assert desk.rows(referral)[-1] == ("sent", "declined", desk.receiver.id, desk.world.other.id, "no_capacity", None)
    assert {state for _, state in desk.rungs(referral, "referral_response").values()} == {"cancelled"}
    assert desk.rungs(referral, "referral_completion") == {}
    assert desk.told == [_told(referral, "referral.declined", "declined", desk.sender.id)]
    assert desk.audited(referral)[-1] == "referral.decline"


def test_starting_and_completing_keep_the_answer_time_and_record_the_outcome(desk: Desk) -> None:
    referral = desk.walk("accepted")
    desk.told.clear()
    with time_machine.travel(LATER, tick=False):
        desk.act(referral, "in_progress", note="   ")
    assert (referral.state, referral.answered_at, referral.closed_at, referral.note) == ("in_progress", T0, None, None)
    assert desk.audited(referral)[-1] == "referral.start"
    for outcome in (None, "", "   "):
        with pytest.raises(InvalidInput) as caught:
            desk.act(referral, "completed", outcome=outcome)
        assert caught.value.fields == {"outcome": "required"}
        db.session.rollback()
    with time_machine.travel(LATER + timedelta(days=3), tick=False):
        desk.act(referral, "completed", outcome="  hearing attended " + "x" * 6000)
    assert referral.outcome == "hearing attended " + "x" * (5000 - 17)
    assert (referral.answered_at, referral.closed_at) == (T0, LATER + timedelta(days=3))
    assert desk.rows(referral)[-1] == ("in_progress", "completed", desk.receiver.id, desk.world.other.id, None, None)
    assert {state for _, state in desk.rungs(referral, "referral_completion").values()} == {"cancelled"}
    assert desk.told == [
        _told(referral, "referral.in_progress", "in_progress", desk.sender.id),
        _told(referral, "referral.completed", "completed", desk.sender.id),
    ]
    assert desk.audited(referral)[-1] == "referral.complete"


def test_closing_unresolved_keeps_its_reason_encrypted_not_in_the_timeline(desk: Desk) -> None:
    referral = desk.walk("accepted")
    desk.act(referral, "in_progress", note="she asked for Sundays")
    for reason in (None, "  "):
        with pytest.raises(InvalidInput) as caught:
            desk.act(referral, "closed_unresolved", reason=reason)
        assert caught.value.fields == {"reason": "required"}
        db.session.rollback()
    desk.act(referral, "closed_unresolved", reason="  no safe way to reach her ")
    assert referral.note == "no safe way to reach her\nshe asked for Sundays"
    long = desk.walk("in_progress")
    desk.act(long, "closed_unresolved", reason=" tried " + "again " * 1000)
    assert len(long.note) == 5000 and long.note.startswith("tried again")
    assert referral.closed_at == T0 and referral.outcome is None
    assert desk.rows(referral)[-1] == (
        "in_progress",
        "closed_unresolved",
        desk.receiver.id,
        desk.world.other.id,
        None,
        None,
    )
    assert {state for _, state in desk.rungs(referral, "referral_completion").values()} == {"cancelled"}
    assert desk.audited(referral)[-1] == "referral.close"


def test_a_withdrawal_after_sending_tells_the_receiving_side(desk: Desk) -> None:
    assigned = desk.walk("accepted")
    referrals.assign(db.session, user(desk.receiver), assigned.id, desk.world.other.caseworker.id)
    db.session.commit()
    unassigned = desk.refer(send=True)
    desk.told.clear()
    for reason in (None, " "):
        with pytest.raises(InvalidInput) as caught:
            desk.act(assigned, "withdrawn", reason=reason)
        assert caught.value.fields == {"reason": "required"}
        db.session.rollback()
    desk.act(assigned, "withdrawn", reason="the plan changed", note="she moved to Jenin")
    assert assigned.note == "the plan changed\nshe moved to Jenin" and assigned.closed_at == T0
    assert desk.rows(assigned)[-1] == ("accepted", "withdrawn", desk.sender.id, desk.world.mine.id, None, None)
    assert {state for _, state in desk.rungs(assigned, "referral_completion").values()} == {"cancelled"}
    desk.act(unassigned, "withdrawn", reason="sent by mistake")
    assert {state for _, state in desk.rungs(unassigned, "referral_response").values()} == {"cancelled"}
    assert desk.told == [
        _told(assigned, "referral.withdrawn", "withdrawn", desk.receiver.id, desk.world.other.caseworker.id),
        _told(unassigned, "referral.withdrawn", "withdrawn", desk.receiver.id),
    ]
    assert desk.audited(assigned)[-1] == desk.audited(unassigned)[-1] == "referral.withdraw"


def test_a_draft_withdrawn_tells_nobody(desk: Desk) -> None:
    draft = desk.refer()
    desk.act(draft, "withdrawn", reason="written by mistake")
    assert (draft.state, draft.closed_at, draft.note) == ("withdrawn", T0, "written by mistake")
    assert desk.told == []
    assert desk.audited(draft) == ["referral.create", "referral.withdraw"]


def test_a_step_taken_on_a_version_already_changed_is_refused(desk: Desk) -> None:
    referral = desk.refer(send=True)
    seen = referral.version
    desk.act(referral, "accepted", expected_version=seen)
    with pytest.raises(PreconditionFailed) as caught:
        desk.act(referral, "in_progress", expected_version=seen)
    assert caught.value.message == "changed_meanwhile"
    db.session.rollback()
    assert db.session.get(Referral, referral.id).state == "accepted"
    assert desk.act(referral, "in_progress", expected_version=referral.version).state == "in_progress"


# ------------------------------------------------------------------------------ outside the network
def test_the_sender_records_each_step_of_a_provider_outside_the_network_with_a_note(desk: Desk, app: Flask) -> None:
    grant = consent(app, desk.world, desk.case_id, organization_ids=[], sectors=["legal_aid"])
    referral = desk.send(desk.external(consent_id=grant))
    with pytest.raises(InvalidInput) as caught:
        desk.act(referral, "accepted", by=desk.sender)
    assert caught.value.fields == {"note": "required_outside_network"}
    db.session.rollback()
    with pytest.raises(InvalidInput) as caught:
        desk.act(referral, "declined", by=desk.sender, note=" ")
    assert caught.value.fields == {"reason_code": "required", "note": "required_outside_network"}
    db.session.rollback()
    desk.act(referral, "accepted", by=desk.sender, note="  the clinic called back  ")
    desk.act(referral, "in_progress", by=desk.sender, note="first meeting booked")
    desk.act(referral, "withdrawn", by=desk.sender, reason=" she found a lawyer ", note=" the clinic agreed ")
    assert desk.rows(referral)[-3:] == [
        ("sent", "accepted", desk.sender.id, desk.world.mine.id, None, "the clinic called back"),
        ("accepted", "in_progress", desk.sender.id, desk.world.mine.id, None, "first meeting booked"),
        ("in_progress", "withdrawn", desk.sender.id, desk.world.mine.id, None, "she found a lawyer\nthe clinic agreed"),
    ]
    assert referral.note == "she found a lawyer\nthe clinic agreed"
    assert desk.told == [] and desk.rungs(referral, "referral_completion") == {}
    assert desk.audited(referral)[-3:] == ["referral.accept", "referral.start", "referral.withdraw"]


def test_a_provider_outside_the_network_closed_unresolved_keeps_the_reason_with_the_note(
    desk: Desk, app: Flask
) -> None:
    grant = consent(app, desk.world, desk.case_id, organization_ids=[], sectors=["legal_aid"])
    referral = desk.send(desk.external(consent_id=grant))
    desk.act(referral, "accepted", by=desk.sender, note="called back")
    desk.act(referral, "in_progress", by=desk.sender, note="first meeting")
    desk.act(referral, "closed_unresolved", by=desk.sender, reason="she stopped answering", note="three calls")
    assert desk.rows(referral)[-1][4:] == (None, "she stopped answering\nthree calls")
    assert desk.audited(referral)[-1] == "referral.close"


def test_a_declined_provider_outside_the_network_keeps_the_code_and_the_note_apart(desk: Desk, app: Flask) -> None:
    grant = consent(app, desk.world, desk.case_id, organization_ids=[], sectors=["legal_aid"])
    referral = desk.send(desk.external(consent_id=grant))
    desk.act(referral, "declined", by=desk.sender, reason="no_capacity", note="full until March" + "." * 6000)
    [*_, row] = desk.rows(referral)
    assert row[4] == "no_capacity" and row[5] == ("full until March" + "." * 6000)[:5000]
    assert referral.note == row[5] and referral.decline_reason == "no_capacity"


def test_nobody_on_the_receiving_side_acts_for_a_provider_outside_the_network(desk: Desk, app: Flask) -> None:
    grant = consent(app, desk.world, desk.case_id, organization_ids=[], sectors=["legal_aid"])
    referral = desk.send(desk.external(consent_id=grant))
    with pytest.raises(NotFound):
        desk.act(referral, "accepted", by=desk.receiver, note="we accept")
