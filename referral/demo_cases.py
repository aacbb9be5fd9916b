"""Fictional demo cases and referrals, so that `make run` shows the referral loop in every
state: sent, accepted, in progress, completed, declined and withdrawn, in both directions
between a legal aid centre and a social development directorate, and one to a hospital outside
the network. Everything goes through the
services, so the timelines, consents, audit events and notifications are the real ones.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from .accounts.models import User
from .cases import consent as consents
from .cases import services as cases
from .followups.models import ReminderStep
from .models_base import DbSession, utcnow
from .referrals import services as referrals
from .referrals.models import Referral
from .text import with_check_digit

FIRST_NAMES = ("هدى", "سناء", "ريم", "أمل", "نور", "رنا", "دعاء", "سماح", "لينا", "منى", "وفاء", "عبير")
FAMILY_NAMES = ("الخطيب", "النجار", "العلي", "حمدان", "يوسف", "عودة", "سلامة", "داود", "منصور", "شاهين")


@dataclass(frozen=True)
class DemoReferral:
    """One demo case and its referral: who refers to whom, and how far the loop has gone."""

    sender: str  # username
    receiver_org: str  # username of a member of the receiving organisation
    priority: str
    path: tuple[str, ...]  # transitions after sending
    gbv_type: str
    risk_level: str
    age: timedelta = timedelta(0)  # how long ago it was sent


# The emergency referral waiting for an answer: sent a little under two days ago, so its answer
# is a day overdue, its focal points and supervisors are due to be told at once (the first
# sweep, a minute after `make run` starts), and the network's coordinator a few minutes later.
EMERGENCY_AGE = timedelta(days=2) - timedelta(minutes=5)


def _days(n: int) -> timedelta:
    return timedelta(days=n)


def _plan(p: str) -> tuple[DemoReferral, ...]:
    mosd, legal = f"{p}.mosd", f"{p}.caseworker"
    return (
        DemoReferral(mosd, legal, "normal", (), "psychological_abuse", "low"),
        DemoReferral(mosd, legal, "urgent", ("accepted",), "physical_assault", "medium"),
        DemoReferral(mosd, legal, "normal", ("accepted", "in_progress"), "denial_of_resources", "medium", _days(3)),
        DemoReferral(
            mosd, legal, "urgent", ("accepted", "in_progress", "completed"), "forced_marriage", "high", _days(9)
        ),
        DemoReferral(mosd, legal, "normal", ("declined",), "psychological_abuse", "low", _days(5)),
        DemoReferral(legal, mosd, "emergency", (), "physical_assault", "high", EMERGENCY_AGE),
        DemoReferral(legal, mosd, "normal", ("withdrawn",), "sexual_assault", "medium", _days(4)),
    )


def _identity(rng: random.Random, governorate: str, item: DemoReferral) -> dict[str, Any]:
    return {
        "full_name": f"{rng.choice(FIRST_NAMES)} {rng.choice(FAMILY_NAMES)}",
        "national_id": with_check_digit(f"9{rng.randrange(10**6, 10**7)}"),
        "date_of_birth": f"{rng.randrange(1975, 2004)}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 28):02d}",
        "phone": f"+970 59 {rng.randrange(100, 999)} {rng.randrange(1000, 9999)}",
        "address": "عنوان تجريبي – حي تجريبي",
        "safe_contact": {
            "safe_to_call": True,
            "safe_to_text": False,
            "safe_voicemail": False,
            "safe_hours": "10:00-13:00",
            "instructions": "اسألي عن أم محمد",
        },
        "narrative": "رواية تجريبية لحالة متخيّلة في بيانات العرض.",
        "governorate": governorate,
        "age_group": "25-59",
        "sex": "female",
        "disability": False,
        "gbv_type": item.gbv_type,
        "perpetrator_relationship": "intimate_partner",
        "risk_level": item.risk_level,
        "reporting_delay": rng.choice(("0-3d", "4-5d", "6-14d", "15-30d", "1-3m")),
        "statistics_consent": rng.random() < 0.9,
    }


def _supervisor_of(session: DbSession, organization_id: str) -> User:
    stmt = (
        select(User).where(User.organization_id == organization_id, User.role == "supervisor").order_by(User.username)
    )
    found = session.scalars(stmt).first()
    if found is None:
        raise RuntimeError("demo organisation without a supervisor")
    return found


def seed_referrals(session: DbSession, governorates: dict[str, str]) -> int:
    """Cases and referrals in `governorates` ({governorate: user prefix}). Returns how many."""
    rng = random.Random(20260301)  # noqa: S311 - fictional demo data, reproducible on purpose
    users = {u.username: u for u in session.scalars(select(User))}
    made = 0
    for governorate, prefix in governorates.items():
        for item in _plan(prefix):
            sender = users[item.sender]
            receiver = users[item.receiver_org]
            case, _ = cases.create_case(session, sender, cases.CaseInput(_identity(rng, governorate, item)))
            grant = consents.record_consent(
                session,
                sender,
                case.id,
                consents.ConsentInput(
                    given_by="survivor",
                    method=rng.choice(("written", "verbal")),
                    organization_ids=[receiver.organization_id],
                    field_groups=["identity", "contact", "assessment"],
                    purpose="الإحالة لتلقي الخدمة",
                ),
            )
            referral = referrals.create(
                session,
                sender,
                referrals.ReferralInput(
                    case_id=case.id,
                    to_organization_id=receiver.organization_id,
                    priority=item.priority,
                    reason="طلب خدمة تجريبي في بيانات العرض.",
                    field_groups=["identity", "contact"],
                    consent_id=grant.id,
                ),
            )
            focal = _supervisor_of(session, receiver.organization_id)
            if item.path:
                referrals.assign(session, focal, referral.id, receiver.id)
            for state in item.path:
                actor = sender if state == "withdrawn" else focal
                referrals.transition(
                    session,
                    actor,
                    referral.id,
                    state,
                    reason={"declined": "no_capacity", "withdrawn": "تغيّرت خطة الحالة"}.get(state),
                    outcome="قُدّمت الخدمة وأُغلقت الحلقة." if state == "completed" else None,
                )
            _age(session, referral.id, item.age)
            made += 1
    extra = random.Random(20260302)  # noqa: S311 - its own seed: the cases above stay as they were
    for governorate, prefix in governorates.items():
        _seed_external(session, extra, governorate, users[f"{prefix}.caseworker"])
        made += 1
    session.flush()
    return made


def _seed_external(session: DbSession, rng: random.Random, governorate: str, sender: User) -> None:
    """A referral to a hospital outside the network, accepted: its sender records each step."""
    item = DemoReferral(sender.username, "", "urgent", ("accepted",), "physical_assault", "high", _days(1))
    case, _ = cases.create_case(session, sender, cases.CaseInput(_identity(rng, governorate, item)))
    grant = consents.record_consent(
        session,
        sender,
        case.id,
        consents.ConsentInput(
            method="verbal", sectors=["health"], field_groups=["identity", "contact"], purpose="فحص طبي وتوثيق"
        ),
    )
    referral = referrals.create(
        session,
        sender,
        referrals.ReferralInput(
            case_id=case.id,
            to_organization_id=None,
            priority="urgent",
            reason="فحص طبي وتوثيق الإصابات (تجريبي).",
            field_groups=["identity", "contact"],
            consent_id=grant.id,
            external_provider="المستشفى الحكومي (تجريبي)",
            external_sector="health",
        ),
    )
    referrals.transition(
        session, sender, referral.id, "accepted", note="وافقت الأخصائية الاجتماعية في المستشفى هاتفيًا."
    )
    _age(session, referral.id, item.age)


def _age(session: DbSession, referral_id: str, shift: timedelta) -> None:
    """Move a demo referral's dates into the past, so the lists show time left and overdue, and
    its reminder rungs with them: the clocks tell the same story as the dates (an overdue
    referral has its reminders due, and escalates)."""
    if not shift:
        return
    referral = session.get(Referral, referral_id)
    assert referral is not None
    for name in ("created_at", "sent_at", "due_at", "answered_at", "closed_at"):
        value = getattr(referral, name)
        if value is not None:
            setattr(referral, name, value - shift)
    for step in referral.transitions:
        step.at = step.at - shift
    _shift_rungs(session, [referral_id], shift)


def _shift_rungs(session: DbSession, target_ids: list[str], shift: timedelta) -> None:
    session.flush()
    for rung in session.scalars(select(ReminderStep).where(ReminderStep.target_id.in_(target_ids))):
        rung.due_at = rung.due_at - shift


# Follow-ups of each governorate's legal aid caseworker, on her own cases: how far from now each
# falls due (negative: overdue), and its kind. Their reminder rungs move with them.
FOLLOWUPS = (
    (-timedelta(days=2), "call"),
    (-timedelta(hours=5), "visit"),
    (timedelta(hours=3), "service_check"),
    (timedelta(days=3), "safety_plan_review"),
)


def seed_followups(session: DbSession, prefixes: list[str]) -> int:
    """Open follow-ups, two of them overdue, for the caseworkers' "my day" and home page and the
    reminder ladder (the overdue ones escalate to the supervisor 48 working hours after their time)."""
    from .cases.models import Case
    from .followups import clocks
    from .followups import services as followups

    made = 0
    users = {u.username: u for u in session.scalars(select(User))}
    for prefix in prefixes:
        worker = users[f"{prefix}.caseworker"]
        cases_of = list(
            session.scalars(
                select(Case.id).where(Case.owner_id == worker.id, Case.status != "closed").order_by(Case.case_code)
            )
        )
        for number, (offset, kind) in enumerate(FOLLOWUPS if cases_of else ()):
            case_id = cases_of[number % len(cases_of)]
            planned = utcnow() + max(offset, timedelta(hours=1))  # a follow-up is made for later...
            followup = followups.create(
                session, worker, case_id, followups.FollowUpInput(due_at=planned, kind=kind, note=None)
            )
            if offset < timedelta(hours=1):  # ... then moved to when it fell due, its ladder with it
                shift = planned - (utcnow() + offset)
                followup.due_at = followup.due_at - shift
                followup.created_at = followup.created_at - shift
                clocks.restart_followup(session, followup)
            made += 1
    session.flush()
    return made
