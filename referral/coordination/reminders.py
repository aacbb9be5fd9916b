"""The coordination clocks on the follow-up reminder engine (followups/clocks.py): the same
`ReminderStep` rows, sweeper and exactly-once delivery, on the network's working-day calendar.

- action_point: the owner (her person, else her organisation's representatives in the network)
  on the working day before the due date; the network's coordinator on the first working day
  after it, if still open. Stopped when done or dropped.
- minutes_approval: the network's coordinator 3 and 7 working days after the meeting ends,
  while its minutes are not approved. Stopped by the approval.

Network records carry no case code: their rungs store an empty one.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from ..followups import clocks
from ..followups.calendar import calendar_for
from ..followups.models import ReminderStep
from ..models_base import DbSession, utcnow

ACTION_POINT, MINUTES = "action_point", "minutes_approval"
CLOCKS = (ACTION_POINT, MINUTES)
MINUTES_RUNGS = {"day3": 3, "day7": 7}


def start_action_point(session: DbSession, point: Any) -> None:
    cal = calendar_for(session, point.network_id)
    day_before = point.due_date - timedelta(days=1)
    while not cal.is_working_day(day_before):
        day_before -= timedelta(days=1)
    rungs = {"escalate": cal.day_start(cal.next_working_day(point.due_date + timedelta(days=1)))}
    before = cal.day_start(day_before)
    if before > utcnow():
        rungs["before"] = before
    clocks._write(session, ACTION_POINT, point.id, "", rungs)


def stop_action_point(session: DbSession, point: Any) -> None:
    clocks.stop(session, ACTION_POINT, point.id)


def start_minutes(session: DbSession, meeting: Any) -> None:
    cal = calendar_for(session, meeting.network_id)
    end = meeting.starts_at + timedelta(minutes=meeting.duration_minutes)
    rungs = {step: cal.add_working(end, timedelta(days=days)) for step, days in MINUTES_RUNGS.items()}
    clocks._write(session, MINUTES, meeting.id, "", rungs)


def stop_minutes(session: DbSession, meeting: Any) -> None:
    clocks.stop(session, MINUTES, meeting.id)


def restart_minutes(session: DbSession, meeting: Any) -> None:
    """A moved meeting: its rungs not yet sent go, new ones count from its new end (the unique
    key is (clock, target, step), so the old rows make way)."""
    session.execute(
        ReminderStep.__table__.delete().where(
            ReminderStep.clock == MINUTES,
            ReminderStep.target_id == meeting.id,
            ReminderStep.state.in_(("pending", "cancelled")),
        )
    )
    sent = set(
        session.scalars(
            select(ReminderStep.step).where(ReminderStep.clock == MINUTES, ReminderStep.target_id == meeting.id)
        )
    )
    cal = calendar_for(session, meeting.network_id)
    end = meeting.starts_at + timedelta(minutes=meeting.duration_minutes)
    rungs = {step: cal.add_working(end, timedelta(days=d)) for step, d in MINUTES_RUNGS.items() if step not in sent}
    clocks._write(session, MINUTES, meeting.id, "", rungs)


def targets(session: DbSession, steps: Sequence[ReminderStep]) -> dict[tuple[str, str], Any]:
    """What the coordination rungs of a batch are about, and whom each rung tells."""
    from . import services
    from .models import ActionPoint, Meeting, Minutes

    found: dict[tuple[str, str], Any] = {}
    point_ids = {s.target_id for s in steps if s.clock == ACTION_POINT}
    for point in session.scalars(select(ActionPoint).where(ActionPoint.id.in_(point_ids))) if point_ids else ():
        owners = (
            [point.owner_user_id]
            if point.owner_user_id
            else services.representative_ids(session, point.network_id, [point.owner_organization_id]).get(
                point.owner_organization_id, []
            )
        )
        found[(ACTION_POINT, point.id)] = clocks._Target(
            live=point.status in ("open", "in_progress"),
            owner_id=point.owner_organization_id,
            receiver_id=None,
            assignee_id=None,
            link=("action_point", point.id),
            recipients={"before": owners, "escalate": services.coordinator_ids(session, point.network_id)},
        )
    meeting_ids = {s.target_id for s in steps if s.clock == MINUTES}
    for meeting in session.scalars(select(Meeting).where(Meeting.id.in_(meeting_ids))) if meeting_ids else ():
        state = session.scalar(
            select(Minutes.state).where(Minutes.meeting_id == meeting.id).order_by(Minutes.version.desc()).limit(1)
        )
        coordinators = services.coordinator_ids(session, meeting.network_id)
        found[(MINUTES, meeting.id)] = clocks._Target(
            live=meeting.state != "cancelled" and state in ("draft", "circulated"),
            owner_id="",
            receiver_id=None,
            assignee_id=None,
            link=("meeting", meeting.id),
            recipients=dict.fromkeys(MINUTES_RUNGS, coordinators),
        )
    return found
