"""Response clocks, reminder ladders and their delivery (DESIGN.md, "Follow-ups, reminders and
escalation").

The database is the source of truth. Starting a clock writes its ladder of `ReminderStep` rows
in the same transaction as the change that started it; stopping it cancels the pending rungs.
A sweeper (every minute, from the one beat) claims the rungs that are due and publishes one
delivery task per rung after its commit; a delivery writes the in-app notifications with a key
per (rung, user), so running it twice tells nobody twice. No reminder is ever scheduled with a
broker ETA: a lost task is found again by the next sweep once its claim has gone stale.

Ladders:
- referral_response (started when a referral is sent): the receiving focal points at half the
  target, the receiving organisation's supervisors at the target, the network coordinator at
  twice the target. Stopped by an answer (accepted, declined) or a withdrawal.
- referral_completion (started when accepted): the same rungs over the completion time
  (`REFERRAL_COMPLETION_DAYS` working days). Stopped by completion, closure or withdrawal.
- followup: the assignee a day before and at the due time; her supervisors 48 working hours
  after it if still open. Stopped when done or cancelled; restarted when rescheduled.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, literal_column, or_, select, update

from ..accounts.models import User
from ..audit import services as audit
from ..directory.models import NetworkMembership
from ..models_base import DbSession, new_id, utcnow
from . import notifications
from .calendar import WorkCalendar, receiving_calendar
from .models import FollowUp, ReminderStep, SweepRun

log = logging.getLogger(__name__)

FOLLOWUP_LEAD = timedelta(hours=24)  # the reminder before a follow-up is due
FOLLOWUP_ESCALATION = timedelta(hours=48)  # working time after the due time
CLAIM_STALE = timedelta(minutes=2)  # a claimed rung not delivered by then is published again
ALERT_LATE = timedelta(minutes=5)  # a due rung later than this alerts the system administrators
SWEEP_BATCH = 500
# The referral states in which each referral clock runs (an answer or an ending stops it).
LIVE_STATES = {"referral_response": ("sent",), "referral_completion": ("accepted", "in_progress")}
DELIVERY_BATCH = 50  # rungs per delivery task: a task's own cost is paid once per batch
# The predicate of the partial index `ix_reminder_step_pending_due`, written as a literal: with
# `state = $1` a prepared statement's generic plan could not prove it and would scan the table.
PENDING = ReminderStep.state == literal_column("'pending'")

# (clock, step) -> notification kind
KINDS = {
    ("referral_response", "half"): "referral.reminder",
    ("referral_response", "target"): "referral.escalation",
    ("referral_response", "twice"): "referral.escalation",
    ("referral_completion", "half"): "referral.reminder",
    ("referral_completion", "target"): "referral.escalation",
    ("referral_completion", "twice"): "referral.escalation",
    ("followup", "before"): "followup.reminder",
    ("followup", "due"): "followup.due",
    ("followup", "escalate"): "followup.escalation",
    ("action_point", "before"): "action_point.reminder",
    ("action_point", "escalate"): "action_point.escalation",
    ("minutes_approval", "day3"): "minutes.reminder",
    ("minutes_approval", "day7"): "minutes.reminder",
}
# Clocks of network coordination (referral/coordination/reminders.py): they name no case.
COORDINATION_CLOCKS = ("action_point", "minutes_approval")


# ------------------------------------------------------------------------------- working time
AddWorking = Callable[[datetime, timedelta], datetime]


def _calendar_time(start: datetime, amount: timedelta) -> datetime:
    return start + amount


def working_time(session: DbSession, network_id: str | None) -> AddWorking:
    """How to add working time on a network's calendar (weekends and holidays skipped)."""
    from .calendar import calendar_for

    return calendar_for(session, network_id).add_working


def _receiving_time(session: DbSession, referral: Any, calendar: WorkCalendar | None = None) -> AddWorking:
    """How to add working time on a referral's receiving side (`calendar` when the caller has it)."""
    return (calendar or receiving_calendar(session, referral)).add_working


def network_of(session: DbSession, organization_id: str) -> str | None:
    """The network whose calendar an organisation's clocks run on: the one it joined first (the
    same rule as a referral's receiving side, `calendar.receiving_network_id`)."""
    stmt = (
        select(NetworkMembership.network_id)
        .where(NetworkMembership.organization_id == organization_id)
        .order_by(NetworkMembership.joined_at, NetworkMembership.network_id)
        .limit(1)
    )
    return session.scalar(stmt)


# ------------------------------------------------------------------------------- start / stop
def _write(session: DbSession, clock: str, target_id: str, case_code: str, rungs: dict[str, datetime]) -> None:
    for step, due_at in rungs.items():
        session.add(
            ReminderStep(id=new_id(), clock=clock, target_id=target_id, step=step, case_code=case_code, due_at=due_at)
        )
    session.flush()


def stop(session: DbSession, clock: str, target_id: str) -> int:
    """Cancel the clock's pending rungs (the referral was answered, the follow-up done)."""
    result = session.execute(
        update(ReminderStep)
        .where(ReminderStep.clock == clock, ReminderStep.target_id == target_id, ReminderStep.state == "pending")
        .values(state="cancelled")
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def _ladder(add: AddWorking, start: datetime, target: datetime, amount: timedelta) -> dict[str, datetime]:
    return {"half": add(start, amount / 2), "target": target, "twice": add(start, amount * 2)}


def start_referral_response(
    session: DbSession, referral: Any, amount: timedelta, working: bool, calendar: WorkCalendar | None = None
) -> None:
    """The response ladder of a sent referral; `referral.due_at` is its target. `calendar` is the
    receiving side's, when the caller has already looked it up (it is looked up otherwise)."""
    if referral.to_organization_id is None or referral.sent_at is None or referral.due_at is None:
        return  # a provider outside the network is followed up by hand
    add = _receiving_time(session, referral, calendar) if working else _calendar_time
    rungs = _ladder(add, referral.sent_at, referral.due_at, amount)
    _write(session, "referral_response", referral.id, referral.case_code, rungs)


def start_referral_completion(session: DbSession, referral: Any, days: int, now: datetime) -> None:
    if referral.to_organization_id is None:
        return
    add = _receiving_time(session, referral)
    amount = timedelta(days=days)
    rungs = _ladder(add, now, add(now, amount), amount)
    _write(session, "referral_completion", referral.id, referral.case_code, rungs)


def start_followup(session: DbSession, followup: FollowUp, now: datetime | None = None) -> None:
    """The follow-up's ladder; a reminder "before" that would already be past is left out."""
    now = now or utcnow()
    add = working_time(session, network_of(session, followup.organization_id))
    rungs = {"due": followup.due_at, "escalate": add(followup.due_at, FOLLOWUP_ESCALATION)}
    if followup.due_at - FOLLOWUP_LEAD > now:
        rungs["before"] = followup.due_at - FOLLOWUP_LEAD
    _write(session, "followup", followup.id, followup.case_code, rungs)


def restart_followup(session: DbSession, followup: FollowUp) -> None:
    """A rescheduled follow-up: its old rungs go, new ones come (a new key per rung)."""
    session.execute(
        update(ReminderStep)
        .where(ReminderStep.clock == "followup", ReminderStep.target_id == followup.id)
        .where(ReminderStep.state == "pending")
        .values(state="cancelled")
        .execution_options(synchronize_session=False)
    )
    # the unique key is (clock, target, step): the cancelled rows make way for the new ones
    session.execute(
        ReminderStep.__table__.delete().where(
            ReminderStep.clock == "followup",
            ReminderStep.target_id == followup.id,
            ReminderStep.state == "cancelled",
        )
    )
    start_followup(session, followup)


# ------------------------------------------------------------------------------- the sweeper
def sweep(session: DbSession, now: datetime | None = None, limit: int = SWEEP_BATCH) -> list[str]:
    """Claim the rungs that are due (and those whose claim went stale) and return their ids; the
    caller publishes one delivery task per id after this transaction commits."""
    now = now or utcnow()
    due = (
        select(ReminderStep.id)
        .where(PENDING, ReminderStep.due_at <= now)
        .where(or_(ReminderStep.claimed_at.is_(None), ReminderStep.claimed_at < now - CLAIM_STALE))
        .order_by(ReminderStep.due_at)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)  # two sweepers at once claim different rows
    ids = list(session.scalars(due))
    if ids:
        session.execute(
            update(ReminderStep)
            .where(ReminderStep.id.in_(ids))
            .values(claimed_at=now, attempts=ReminderStep.attempts + 1)
            .execution_options(synchronize_session=False)
        )
    _note_sweep(session, now, len(ids))
    return ids


def _note_sweep(session: DbSession, now: datetime, claimed: int) -> None:
    run = session.get(SweepRun, 1)
    if run is None:
        session.add(SweepRun(id=1, last_run_at=now, last_claimed=claimed))
    else:
        run.last_run_at = now
        run.last_claimed = claimed
    session.flush()


# ------------------------------------------------------------------------------- delivery
@dataclass(frozen=True)
class Delivery:
    step_id: str
    delivered: bool  # False: already sent, cancelled or gone (a repeat is a no-op)
    outbox_ids: tuple[str, ...] = ()  # e-mails to send once this delivery has committed


@dataclass(frozen=True)
class Batch:
    sent: tuple[str, ...]  # the rungs this call delivered (a repeat delivers none)
    outbox_ids: tuple[str, ...]  # e-mails to send once the batch has committed


@dataclass(frozen=True)
class _Target:
    """What a rung is about, read as plain columns (nothing is decrypted to deliver)."""

    live: bool  # the clock still runs (follow-up open, referral in a live state)
    owner_id: str  # the organisation owning the case (whose auditors see the event)
    receiver_id: str | None  # whose supervisors are told: the follow-up's or receiving organisation
    assignee_id: str | None
    link: tuple[str, str]  # (target type, id) the notification points at
    recipients: dict[str, list[str]] | None = None  # step -> users, for clocks that say it themselves


def _targets(session: DbSession, steps: Sequence[ReminderStep]) -> dict[tuple[str, str], _Target]:
    """The follow-ups and referrals of a batch of rungs, one query each."""
    from ..referrals.models import Referral

    found: dict[tuple[str, str], _Target] = {}
    followup_ids = {s.target_id for s in steps if s.clock == "followup"}
    if followup_ids:
        from ..cases.models import Case

        rows = session.execute(
            select(
                FollowUp.id,
                FollowUp.state,
                FollowUp.organization_id,
                FollowUp.assignee_id,
                FollowUp.case_id,
                FollowUp.referral_id,
                Case.organization_id,
            )
            .join(Case, Case.id == FollowUp.case_id)
            .where(FollowUp.id.in_(followup_ids))
        )
        for fid, state, org, assignee, case_id, referral_id, owner in rows:
            # the receiving side's task on a referral leads to the referral (it cannot see the case)
            about = ("referral", referral_id) if referral_id and org != owner else ("case", case_id)
            found[("followup", fid)] = _Target(state == "open", org, org, assignee, about)
    if any(s.clock in COORDINATION_CLOCKS for s in steps):
        from ..coordination import reminders

        found.update(reminders.targets(session, [s for s in steps if s.clock in COORDINATION_CLOCKS]))
    referral_ids = {s.target_id for s in steps if s.clock in LIVE_STATES}
    if referral_ids:
        referral_rows = session.execute(
            select(
                Referral.id,
                Referral.state,
                Referral.from_organization_id,
                Referral.to_organization_id,
                Referral.assigned_to,
            ).where(Referral.id.in_(referral_ids))
        )
        for rid, state, sender, receiver, assigned in referral_rows:
            for clock, states in LIVE_STATES.items():
                found[(clock, rid)] = _Target(state in states, sender, receiver, assigned, ("referral", rid))
    return found


def _coordinators_of(session: DbSession, organization_ids: set[str]) -> dict[str, list[str]]:
    """The active coordinators of the networks each organisation belongs to."""
    found: dict[str, list[str]] = {}
    if not organization_ids:
        return found
    stmt = (
        select(User.id, NetworkMembership.organization_id)
        .join(NetworkMembership, NetworkMembership.network_id == User.network_id)
        .where(NetworkMembership.organization_id.in_(organization_ids))
        .where(User.role == "coordinator", User.active.is_(True))
    )
    for user_id, organization_id in session.execute(stmt):
        found.setdefault(organization_id, []).append(user_id)
    return found


def _recipients(
    step: ReminderStep, target: _Target, supervisors: dict[str, list[str]], coordinators: dict[str, list[str]]
) -> tuple[list[str], str, str]:
    """Who a rung tells, and what the notification points at (type, id)."""
    receiver = target.receiver_id or ""
    if target.recipients is not None:
        return target.recipients.get(step.step, []), *target.link
    if step.clock == "followup":
        if step.step == "escalate":
            return supervisors.get(receiver, []), *target.link
        return [target.assignee_id] if target.assignee_id else [], *target.link
    if step.step == "twice":  # the coordinator sees the escalation list, not the referral
        return coordinators.get(receiver, []), "escalation", step.target_id
    if step.step == "target":
        return supervisors.get(receiver, []), *target.link
    assigned = [target.assignee_id] if target.assignee_id else []
    return supervisors.get(receiver, []) + assigned, *target.link


def deliver_batch(session: DbSession, step_ids: Sequence[str], now: datetime | None = None) -> Batch:
    """Deliver these rungs together: the in-app notifications, once each, with a handful of
    queries for the whole batch (the rungs locked, their targets and recipients read, the
    notifications, events and e-mails written in one flush). Safe to run twice or concurrently:
    the rungs are locked in a fixed order, and a rung already sent or cancelled is left alone."""
    from . import mail

    now = now or utcnow()
    stmt = select(ReminderStep).where(ReminderStep.id.in_(list(step_ids)), PENDING).order_by(ReminderStep.id)
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    steps = list(session.scalars(stmt))
    if not steps:
        return Batch((), ())
    targets = _targets(session, steps)
    receivers = {t.receiver_id for t in targets.values() if t.live and t.receiver_id}
    supervisors = notifications.focal_points_of(session, receivers)
    coordinators = _coordinators_of(session, receivers) if any(s.step == "twice" for s in steps) else {}
    messages: list[tuple[list[str], notifications.Message]] = []
    events: list[audit.Event] = []
    sent: list[str] = []
    for step in steps:
        target = targets.get((step.clock, step.target_id))
        if target is None or not target.live:
            step.state = "cancelled"  # the clock stopped by a path that did not cancel it: nothing to say
            continue
        users, target_type, target_id = _recipients(step, target, supervisors, coordinators)
        kind = KINDS[(step.clock, step.step)]
        messages.append(
            (users, notifications.Message(kind, step.case_code or None, target_type, target_id, key=f"step:{step.id}"))
        )
        step.state, step.sent_at, step.recipients = "sent", now, len(set(users))
        sent.append(step.id)
        events.append(
            audit.event(
                "followup.reminder",
                None,
                step,
                case_code=step.case_code or None,
                organization_id=target.owner_id or None,
                clock=step.clock,
                rung=step.step,
                target_id=step.target_id,
                recipients=step.recipients,
            )
        )
    audit.write(session, events)
    told = notifications.write_many(session, messages)
    outbox = mail.queue_for(session, told)
    session.flush()
    return Batch(tuple(sent), tuple(outbox))


def deliver(session: DbSession, step_id: str, now: datetime | None = None) -> Delivery:
    """Deliver one rung (a batch of one)."""
    batch = deliver_batch(session, [step_id], now)
    return Delivery(step_id, step_id in batch.sent, batch.outbox_ids)


def deliver_many(session: DbSession, step_ids: Sequence[str], now: datetime | None = None) -> int:
    """Deliver several rungs in one transaction (one task for a batch of a sweep). Should the
    batch fail, it is undone and delivered again rung by rung, each in a savepoint: a failing
    rung is logged and left claimed, so the sweep retries it once the claim goes stale, and the
    others still go. Returns how many were delivered."""
    try:
        with session.begin_nested():
            return len(deliver_batch(session, step_ids, now).sent)
    except Exception:
        log.warning("a batch of %d reminder rungs failed; delivering them one by one", len(step_ids))
    delivered = 0
    for step_id in step_ids:
        try:
            with session.begin_nested():
                delivered += deliver(session, step_id, now).delivered
        except Exception:
            log.exception("reminder rung %s could not be delivered", step_id)
    return delivered


# ------------------------------------------------------------------------------- operations
@dataclass(frozen=True)
class Status:
    due_unsent: int
    oldest_due_at: datetime | None
    oldest_lag: timedelta | None
    last_sweep_at: datetime | None
    last_claimed: int


def status(session: DbSession, now: datetime | None = None) -> Status:
    now = now or utcnow()
    count, oldest = session.execute(
        select(func.count(), func.min(ReminderStep.due_at)).where(PENDING, ReminderStep.due_at <= now)
    ).one()
    run = session.get(SweepRun, 1)
    return Status(
        due_unsent=int(count or 0),
        oldest_due_at=oldest,
        oldest_lag=(now - oldest) if oldest else None,
        last_sweep_at=run.last_run_at if run else None,
        last_claimed=run.last_claimed if run else 0,
    )


def alert_if_late(session: DbSession, now: datetime | None = None) -> bool:
    """Tell the system administrators (once an hour at most) when a due rung is more than five
    minutes late: reminders are what keeps a survivor from being forgotten."""
    now = now or utcnow()
    current = status(session, now)
    if current.oldest_lag is None or current.oldest_lag <= ALERT_LATE:
        return False
    admins = list(session.scalars(select(User.id).where(User.role == "sysadmin", User.active.is_(True))))
    hour = now.strftime("%Y%m%d%H")
    notifications.deliver(
        session, admins, notifications.Message("system.alert", None, "system", None, key=f"alert:late:{hour}")
    )
    run = session.get(SweepRun, 1)
    if run is not None:
        run.alerted_at = now
    session.flush()
    log.warning("reminders late: %d due rungs unsent, oldest %s late", current.due_unsent, current.oldest_lag)
    return True
