"""A network's activity and training plan for a year, its activities, and what was delivered.

Nothing here is case data: activities are trainings, campaigns and joint events; participants are
counted by sex and age group, never named. The delivery report is encrypted all the same (it is
free text a member organisation writes, and free text is where a name slips in), under the
responsible organisation's data key, as are the bytes of its attachments (docs/decisions.md).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Index, Integer, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from ..models_base import UTCDateTime, created_column, id_column, utcnow
from ..security.fields import encrypted_column, register_model

ACTIVITY_TYPES = ("training", "awareness_campaign", "initiative", "joint_event", "capacity_building", "other")
ACTIVITY_STATUSES = ("planned", "ongoing", "suspended", "completed", "cancelled")
# The 5W statuses and the moves between them. Completed and cancelled are reopened only by a move
# back (a completion recorded in error, a cancelled activity reinstated).
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "planned": ("ongoing", "suspended", "completed", "cancelled"),
    "ongoing": ("suspended", "completed", "cancelled"),
    "suspended": ("ongoing", "cancelled"),
    "completed": ("ongoing",),
    "cancelled": ("planned",),
}
# Moves only the coordinator makes: cancelling an activity of the plan and reinstating it.
COORDINATOR_ONLY = frozenset(
    {("planned", "cancelled"), ("ongoing", "cancelled"), ("suspended", "cancelled"), ("cancelled", "planned")}
)


class ActivityPlan(db.Model):  # type: ignore[name-defined, misc]
    """The plan of one network for one calendar year (one per network and year)."""

    __tablename__ = "activity_plan"
    __table_args__ = (UniqueConstraint("network_id", "year"),)

    id: Mapped[str] = id_column()
    network_id: Mapped[str] = mapped_column(Uuid(as_uuid=False), ForeignKey("network.id", ondelete="CASCADE"))
    year: Mapped[int] = mapped_column(Integer)
    created_by: Mapped[str] = mapped_column(Uuid(as_uuid=False))
    created_at: Mapped[datetime] = created_column()

    activities: Mapped[list[Activity]] = relationship(
        back_populates="plan", cascade="all, delete-orphan", passive_deletes=True, order_by="Activity.planned_start"
    )


class Activity(db.Model):  # type: ignore[name-defined, misc]
    """One activity of a plan: what, who is responsible, with whom, when, where, for whom."""

    __tablename__ = "activity"
    __table_args__ = (
        Index("ix_activity_plan_start", "plan_id", "planned_start"),
        Index("ix_activity_network_status", "network_id", "status"),
    )

    id: Mapped[str] = id_column()
    plan_id: Mapped[str] = mapped_column(Uuid(as_uuid=False), ForeignKey("activity_plan.id", ondelete="CASCADE"))
    network_id: Mapped[str] = mapped_column(Uuid(as_uuid=False), ForeignKey("network.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(200))
    activity_type: Mapped[str] = mapped_column(String(24))
    responsible_organization_id: Mapped[str] = mapped_column(
        Uuid(as_uuid=False), ForeignKey("organization.id"), index=True
    )
    partner_organization_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    planned_start: Mapped[date] = mapped_column(Date)
    planned_end: Mapped[date] = mapped_column(Date)
    governorate: Mapped[str] = mapped_column(String(32))
    target_sectors: Mapped[list[str]] = mapped_column(JSON, default=list)
    target_participants: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(12), default="planned")
    # The meeting whose decision the activity came from (one of the same network's) and the
    # decision's reference in its minutes.
    meeting_id: Mapped[str | None] = mapped_column(
        Uuid(as_uuid=False), ForeignKey("meeting.id", ondelete="SET NULL"), nullable=True, index=True
    )
    decision_ref: Mapped[str] = mapped_column(String(100), default="")
    created_by: Mapped[str] = mapped_column(Uuid(as_uuid=False))
    created_at: Mapped[datetime] = created_column()
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    plan: Mapped[ActivityPlan] = relationship(back_populates="activities")
    deliveries: Mapped[list[ActivityDelivery]] = relationship(
        back_populates="activity",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="ActivityDelivery.delivered_from",
    )

    __mapper_args__ = {"version_id_col": version}

    @property
    def quarter(self) -> int:
        return (self.planned_start.month - 1) // 3 + 1


class ActivityDelivery(db.Model):  # type: ignore[name-defined, misc]
    """What was delivered of an activity, recorded after the fact: when, how many took part (by
    sex and age group, never who), which organisations took part, and a short report."""

    __tablename__ = "activity_delivery"
    __encryption_owner__ = "organization_id"

    id: Mapped[str] = id_column()
    activity_id: Mapped[str] = mapped_column(
        Uuid(as_uuid=False), ForeignKey("activity.id", ondelete="CASCADE"), index=True
    )
    # the responsible organisation when it was recorded: the owner of the report and attachments
    organization_id: Mapped[str] = mapped_column(Uuid(as_uuid=False), ForeignKey("organization.id"))
    delivered_from: Mapped[date] = mapped_column(Date)
    delivered_to: Mapped[date] = mapped_column(Date)
    # {"female": {"18-24": 12, ...}, "male": {...}}: every sex and age group, zeros included
    participants: Mapped[dict[str, Any]] = mapped_column(JSON)
    participants_total: Mapped[int] = mapped_column(Integer, default=0)
    organization_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    report: Mapped[str | None] = encrypted_column()
    recorded_by: Mapped[str] = mapped_column(Uuid(as_uuid=False))
    recorded_at: Mapped[datetime] = created_column()

    activity: Mapped[Activity] = relationship(back_populates="deliveries")
    attachments: Mapped[list[DeliveryAttachment]] = relationship(
        back_populates="delivery",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="DeliveryAttachment.uploaded_at",
    )


class DeliveryAttachment(db.Model):  # type: ignore[name-defined, misc]
    """A file of a delivery (an attendance sheet without names, photos of a campaign, a report),
    its bytes encrypted in storage exactly as a case document's are."""

    __tablename__ = "activity_attachment"

    id: Mapped[str] = id_column()
    delivery_id: Mapped[str] = mapped_column(
        Uuid(as_uuid=False), ForeignKey("activity_delivery.id", ondelete="CASCADE"), index=True
    )
    organization_id: Mapped[str] = mapped_column(Uuid(as_uuid=False), ForeignKey("organization.id"))
    content_type: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    storage_key: Mapped[str] = mapped_column(String(200))
    uploaded_by: Mapped[str] = mapped_column(Uuid(as_uuid=False))
    uploaded_at: Mapped[datetime] = created_column()

    delivery: Mapped[ActivityDelivery] = relationship(back_populates="attachments")


register_model(ActivityDelivery)
