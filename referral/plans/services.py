"""The rules of activity and training plans: who reads and who changes what, the checks on every
activity and delivery, the status moves, the encrypted attachments, and progress against plan.

Who (referral/access/policy.py): the network's coordinator and the national coordinator make plans
and activities and change them; the administrators and supervisors of the organisation responsible
for an activity report its progress and record what was delivered; the staff of every member
organisation read the plan; anyone else gets a 404, as if it did not exist. Every read, change and
export is audited here, with ids only.

Progress (`plan_progress`) counts by SQL: an activity falls in the quarter of its planned start;
"planned" counts the activities not cancelled, "delivered" those completed; the target is the sum
of the planned participants of the activities not cancelled, the participants the sum over every
delivery recorded.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any, BinaryIO

from sqlalchemy import String, case, cast, func, select

from ..access.policy import can, scope_plans
from ..audit.services import record, record_denial
from ..cases.documents import (
    _BY_CONTENT_TYPE,
    MAX_BYTES,
    PDF,
    DocumentDownload,
    _CountedUpload,
    _delete_unless_committed,
    _plaintext,
    _resume,
    detect_type,
    reseal,
)
from ..cases.models import AGE_GROUPS, SEXES
from ..directory.models import Network, NetworkMembership, Organization
from ..enums import SECTORS
from ..errors import Conflict, Forbidden, InvalidInput, NotFound, PreconditionFailed, refusal
from ..models_base import DbSession, get_by_id, new_id, utcnow
from ..runtime import runtime
from ..security.crypto import Context, Readable, decrypt_stream, encrypt_stream, read_exactly, stream_key_id
from ..security.rotation import SealedStore, register_store
from ..storage import Storage, StorageError, document_storage
from ..text import contains_case_code, text_problem
from .models import (
    ACTIVITY_STATUSES,
    ACTIVITY_TYPES,
    COORDINATOR_ONLY,
    TRANSITIONS,
    Activity,
    ActivityDelivery,
    ActivityPlan,
    DeliveryAttachment,
)

TITLE_MAX = 200
DECISION_REF_MAX = 100
REPORT_MAX = 4000
MAX_PARTICIPANTS = 100_000
MAX_FILES = 5
FIRST_YEAR, LAST_YEAR = 2000, 2100
QUARTERS = (1, 2, 3, 4)
# refusals no schema can state: they depend on the stored plan, the network or today (a 422)
RULES = frozenset(
    {
        "not_a_member",
        "outside_plan_year",
        "in_the_future",
        "plan_exists",
        "case_code",
        "unknown_meeting",
        "end_before_start",
    }
)


# ---------------------------------------------------------------------------------- reading
def _network_or_404(session: DbSession, actor: Any, network_id: str | None, action: str) -> Network:
    network = get_by_id(session, Network, network_id) if network_id else None
    if network is None or not can(actor, action, network):
        record_denial(actor, "network", str(network_id or ""))
        raise NotFound("network")
    return network


def network_by_code(session: DbSession, governorate: str | None) -> Network | None:
    if not governorate:
        return None
    found: Network | None = session.scalar(select(Network).where(Network.governorate == governorate))
    return found


def _plan(session: DbSession, actor: Any, plan_id: str) -> ActivityPlan:
    plan = get_by_id(session, ActivityPlan, plan_id)
    if plan is None or not can(actor, "plan.read", plan):
        record_denial(actor, "activity_plan", str(plan_id))
        raise NotFound("plan")
    return plan


def _activity(session: DbSession, actor: Any, activity_id: str) -> Activity:
    activity = get_by_id(session, Activity, activity_id)
    if activity is None or not can(actor, "plan.read", activity):
        record_denial(actor, "activity", str(activity_id))
        raise NotFound("activity")
    return activity


def plans(session: DbSession, actor: Any) -> list[tuple[ActivityPlan, Network]]:
    """The plans the actor may read, newest year first; audited as a list."""
    joined: Any = select(ActivityPlan, Network).join(Network, Network.id == ActivityPlan.network_id)
    stmt = scope_plans(actor, joined)
    rows = [(p, n) for p, n in session.execute(stmt.order_by(ActivityPlan.year.desc(), Network.governorate))]
    record("plan.list", actor, count=len(rows))
    return rows


def manageable_networks(session: DbSession, actor: Any) -> list[Network]:
    """The networks whose plans the actor may make: her own, or every one (national coordinator)."""
    if getattr(actor, "role", None) != "coordinator":
        return []
    stmt = select(Network).where(Network.active.is_(True)).order_by(Network.governorate)
    if actor.network_id is not None:
        stmt = stmt.where(Network.id == actor.network_id)
    return list(session.scalars(stmt))


def readable_plan(session: DbSession, actor: Any, plan_id: str) -> ActivityPlan:
    """The plan if the actor may read it (NotFound otherwise); the caller records what she does with it."""
    return _plan(session, actor, plan_id)


def view_plan(session: DbSession, actor: Any, plan_id: str) -> ActivityPlan:
    plan = _plan(session, actor, plan_id)
    record("plan.view", actor, plan, network_id=plan.network_id, year=plan.year)
    return plan


def view_activity(session: DbSession, actor: Any, activity_id: str) -> Activity:
    activity = _activity(session, actor, activity_id)
    record(
        "activity.view", actor, activity, plan_id=activity.plan_id, organization_id=activity.responsible_organization_id
    )
    return activity


def members(session: DbSession, network_id: str) -> list[Organization]:
    """The member organisations of a network, by English name."""
    return list(
        session.scalars(
            select(Organization)
            .join(NetworkMembership, NetworkMembership.organization_id == Organization.id)
            .where(NetworkMembership.network_id == network_id)
            .order_by(Organization.name_en)
        )
    )


# ---------------------------------------------------------------------------------- plans
def create_plan(session: DbSession, actor: Any, network_id: str | None, year: Any) -> ActivityPlan:
    """A network's plan for a year (one per network and year)."""
    network = _network_or_404(session, actor, network_id, "plan.manage")
    number = _whole(year)
    if number is None or not FIRST_YEAR <= number <= LAST_YEAR:
        raise InvalidInput("invalid_plan", fields={"year": "invalid_year"})
    existing = session.scalar(
        select(ActivityPlan.id).where(ActivityPlan.network_id == network.id, ActivityPlan.year == number)
    )
    if existing is not None:
        raise refusal("invalid_plan", {"year": "plan_exists"}, RULES)
    plan = ActivityPlan(id=new_id(), network_id=network.id, year=number, created_by=actor.id)
    session.add(plan)
    session.flush()
    record("plan.create", actor, plan, network_id=network.id, year=number)
    return plan


def plan_for(session: DbSession, network_id: str, year: int) -> ActivityPlan | None:
    found: ActivityPlan | None = session.scalar(
        select(ActivityPlan).where(ActivityPlan.network_id == network_id, ActivityPlan.year == year)
    )
    return found


# ---------------------------------------------------------------------------------- activities
@dataclass
class ActivityInput:
    """An activity as typed in (a form) or sent (the API): strings and lists, checked by `_clean`."""

    title: Any = None
    activity_type: Any = None
    responsible_organization_id: Any = None
    partner_organization_ids: Any = field(default_factory=list)
    planned_start: Any = None
    planned_end: Any = None
    governorate: Any = None
    target_sectors: Any = field(default_factory=list)
    target_participants: Any = 0
    meeting_id: Any = None
    decision_ref: Any = ""


def _whole(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit() and value.strip().isascii():
        return int(value.strip())
    return None


def _day(value: Any) -> date | None:
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            return None
    return None


def _uuid(value: Any) -> str | None:
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        return None


def _member_list(problems: dict[str, str], name: str, raw_ids: Any, member_ids: set[str]) -> list[str]:
    """Organisation ids of the network's members, each once, in the order given; a malformed id
    is `invalid`, another organisation's is `not_a_member` (a rule)."""
    found: list[str] = []
    if not isinstance(raw_ids, list | tuple):
        problems[name] = "invalid"
        return found
    for raw in raw_ids:
        org = _uuid(raw)
        if org is None:
            problems[name] = "invalid"
        elif org not in member_ids:
            problems.setdefault(name, "not_a_member")
        elif org not in found:
            found.append(org)
    return found


def _free_text(problems: dict[str, str], name: str, value: Any, limit: int, *, required: bool) -> str:
    text = " ".join(value.split()) if isinstance(value, str) else ""
    if value is not None and not isinstance(value, str):
        problems[name] = "invalid"
    elif not text and required:
        problems[name] = "required"
    elif len(text) > limit:
        problems[name] = "too_long_text"
    elif text_problem(text, identifying=False):
        problems[name] = "invalid_characters"
    elif contains_case_code(text):
        problems[name] = "case_code"
    return text


def _clean(session: DbSession, plan: ActivityPlan, data: ActivityInput) -> dict[str, Any]:
    """The activity's values, or InvalidInput naming every bad field (RuleRefused when the only
    problems are rules of the plan: a non-member organisation, a date outside the plan's year)."""
    problems: dict[str, str] = {}
    values: dict[str, Any] = {}
    values["title"] = _free_text(problems, "title", data.title, TITLE_MAX, required=True)
    if data.activity_type not in ACTIVITY_TYPES:
        problems["activity_type"] = "unknown"
    values["activity_type"] = data.activity_type
    member_ids = {o.id for o in members(session, plan.network_id)}
    responsible = _uuid(data.responsible_organization_id)
    if not data.responsible_organization_id:
        problems["responsible_organization_id"] = "required"
    elif responsible is None:
        problems["responsible_organization_id"] = "invalid"
    elif responsible not in member_ids:
        problems["responsible_organization_id"] = "not_a_member"
    values["responsible_organization_id"] = responsible
    partners = _member_list(problems, "partner_organization_ids", data.partner_organization_ids, member_ids)
    values["partner_organization_ids"] = [p for p in partners if p != responsible]
    start, end = _day(data.planned_start), _day(data.planned_end)
    for name, raw, day in (("planned_start", data.planned_start, start), ("planned_end", data.planned_end, end)):
        if raw in (None, ""):
            problems[name] = "required"
        elif day is None:
            problems[name] = "invalid_date"
        elif day.year != plan.year:
            problems[name] = "outside_plan_year"
    if start and end and "planned_start" not in problems and "planned_end" not in problems and end < start:
        problems["planned_end"] = "end_before_start"
    values["planned_start"], values["planned_end"] = start, end
    governorates = set(session.scalars(select(Network.governorate)))
    if data.governorate not in governorates:
        problems["governorate"] = "unknown"
    values["governorate"] = data.governorate
    sectors = data.target_sectors
    if not isinstance(sectors, list | tuple) or any(s not in SECTORS for s in sectors):
        problems["target_sectors"] = "unknown"
        sectors = []
    values["target_sectors"] = [s for s in SECTORS if s in sectors]
    target = _whole(data.target_participants if data.target_participants not in (None, "") else 0)
    if target is None or not 0 <= target <= MAX_PARTICIPANTS:
        problems["target_participants"] = "invalid_number"
    values["target_participants"] = target
    meeting = None
    if data.meeting_id not in (None, ""):
        meeting = _uuid(data.meeting_id)
        if meeting is None:
            problems["meeting_id"] = "invalid"
        else:
            from ..coordination.models import Meeting

            found = session.get(Meeting, meeting)
            if found is None or found.network_id != plan.network_id:  # another network's is as unknown
                problems["meeting_id"] = "unknown_meeting"
                meeting = None
    values["meeting_id"] = meeting
    values["decision_ref"] = _free_text(
        problems, "decision_ref", data.decision_ref or "", DECISION_REF_MAX, required=False
    )
    if problems:
        raise refusal("invalid_activity", problems, RULES)
    return values


def add_activity(session: DbSession, actor: Any, plan_id: str, data: ActivityInput) -> Activity:
    """A new activity in a plan (its coordinators), planned."""
    plan = _plan(session, actor, plan_id)
    if not can(actor, "plan.manage", plan):
        raise Forbidden("plan.manage")
    values = _clean(session, plan, data)
    activity = Activity(
        id=new_id(), plan_id=plan.id, network_id=plan.network_id, status="planned", created_by=actor.id, **values
    )
    session.add(activity)
    session.flush()
    record(
        "activity.create",
        actor,
        activity,
        plan_id=plan.id,
        organization_id=activity.responsible_organization_id,
        meeting_id=activity.meeting_id,
    )
    return activity


EDITABLE = (
    "title",
    "activity_type",
    "responsible_organization_id",
    "partner_organization_ids",
    "planned_start",
    "planned_end",
    "governorate",
    "target_sectors",
    "target_participants",
    "meeting_id",
    "decision_ref",
)


def input_of(activity: Activity) -> ActivityInput:
    """The stored activity as input, for a form or a partial change."""
    return ActivityInput(**{name: getattr(activity, name) for name in EDITABLE})


def update_activity(
    session: DbSession, actor: Any, activity_id: str, data: ActivityInput, *, expected_version: int | None = None
) -> Activity:
    """Change an activity (its coordinators); audited with the names of the changed fields."""
    activity = _activity(session, actor, activity_id)
    if not can(actor, "plan.manage", activity):
        raise Forbidden("plan.manage")
    if expected_version is not None and expected_version != activity.version:
        raise PreconditionFailed("The activity changed since you read it; read it again and retry.")
    values = _clean(session, activity.plan, data)
    changed = [name for name in EDITABLE if getattr(activity, name) != values[name]]
    for name in changed:
        setattr(activity, name, values[name])
    if changed:
        session.flush()
        record("activity.update", actor, activity, plan_id=activity.plan_id, fields=",".join(changed))
    return activity


def allowed_moves(actor: Any, activity: Activity) -> list[str]:
    """The statuses the actor may move the activity to now."""
    if not can(actor, "activity.report", activity):
        return []
    manages = can(actor, "plan.manage", activity)
    return [
        to for to in TRANSITIONS.get(activity.status, ()) if manages or (activity.status, to) not in COORDINATOR_ONLY
    ]


def move(
    session: DbSession, actor: Any, activity_id: str, to_status: Any, *, expected_version: int | None = None
) -> Activity:
    """Move an activity to another status: a 409 for a move its status does not allow."""
    activity = _activity(session, actor, activity_id)
    if not can(actor, "activity.report", activity):
        raise Forbidden("activity.report")
    if to_status not in ACTIVITY_STATUSES:
        raise InvalidInput("invalid_status", fields={"status": "unknown"})
    if expected_version is not None and expected_version != activity.version:
        raise PreconditionFailed("The activity changed since you read it; read it again and retry.")
    if to_status not in allowed_moves(actor, activity):
        if to_status in TRANSITIONS.get(activity.status, ()):
            raise Forbidden("coordinator_only")
        raise Conflict("invalid_transition")
    before = activity.status
    activity.status = to_status
    session.flush()
    record("activity.transition", actor, activity, plan_id=activity.plan_id, from_status=before, to_status=to_status)
    return activity


# ---------------------------------------------------------------------------------- deliveries
@dataclass
class DeliveryInput:
    delivered_from: Any = None
    delivered_to: Any = None
    participants: dict[str, dict[str, Any]] = field(default_factory=dict)  # sex -> age group -> count
    organization_ids: Any = field(default_factory=list)
    report: Any = ""
    completes: bool = False


@dataclass
class Upload:
    """A file as it arrives: its stream (the declared name is neither trusted nor kept)."""

    stream: BinaryIO | Readable


def attachment_context(attachment_id: str, organization_id: str) -> Context:
    """Where an attachment's bytes belong: bound to this attachment and its owning organisation."""
    return Context("activity_attachment", "content", str(attachment_id), str(organization_id))


def _clean_delivery(session: DbSession, activity: Activity, data: DeliveryInput) -> dict[str, Any]:
    problems: dict[str, str] = {}
    first, last = _day(data.delivered_from), _day(data.delivered_to)
    if data.delivered_to in (None, ""):
        last = first
    today = utcnow().date()
    for name, raw, day in (("delivered_from", data.delivered_from, first), ("delivered_to", data.delivered_to, last)):
        if raw in (None, "") and name == "delivered_to":
            continue  # one day: the first
        if raw in (None, ""):
            problems[name] = "required"
        elif day is None:
            problems[name] = "invalid_date"
        elif day > today:
            problems[name] = "in_the_future"
    if first and last and not problems and last < first:
        problems["delivered_to"] = "end_before_start"
    counts: dict[str, dict[str, int]] = {}
    total = 0
    given = data.participants if isinstance(data.participants, dict) else None
    if given is None or any(sex not in SEXES or not isinstance(groups, dict) for sex, groups in given.items()):
        problems["participants"] = "invalid"
        given = {}
    for sex in SEXES:
        counts[sex] = {}
        groups = given.get(sex) or {}
        for group in groups:
            if group not in AGE_GROUPS:
                problems["participants"] = "invalid"
        for group in AGE_GROUPS:
            raw = groups.get(group, 0)
            number = _whole(raw if raw not in (None, "") else 0)
            if number is None or not 0 <= number <= MAX_PARTICIPANTS:
                problems[f"participants.{sex}.{group}"] = "invalid_number"
                number = 0
            counts[sex][group] = number
            total += number
    if total > MAX_PARTICIPANTS:
        problems["participants"] = "invalid_number"
    member_ids = {o.id for o in members(session, activity.network_id)}
    taking_part = _member_list(problems, "organization_ids", data.organization_ids, member_ids)
    report = _free_text(problems, "report", data.report or "", REPORT_MAX, required=False)
    if problems:
        raise refusal("invalid_delivery", problems, RULES)
    return {
        "delivered_from": first,
        "delivered_to": last,
        "participants": counts,
        "participants_total": total,
        "organization_ids": taking_part,
        "report": report or None,
    }


def record_delivery(
    session: DbSession,
    actor: Any,
    activity_id: str,
    data: DeliveryInput,
    files: Iterable[Upload] = (),
    *,
    storage: Storage | None = None,
) -> ActivityDelivery:
    """Record what was delivered (the responsible organisation's focal persons, or a coordinator),
    with its files encrypted while written; a planned activity becomes ongoing, or completed when
    the delivery completes it. Nothing is kept if any part is refused."""
    activity = _activity(session, actor, activity_id)
    if not can(actor, "activity.report", activity):
        raise Forbidden("activity.report")
    if activity.status in ("cancelled", "suspended"):
        raise Conflict("activity_not_running")
    values = _clean_delivery(session, activity, data)
    uploads = list(files)
    if len(uploads) > MAX_FILES:
        raise InvalidInput("invalid_delivery", fields={"files": "too_many_files"})
    heads = []
    for upload in uploads:
        head = read_exactly(upload.stream, 16)
        heads.append((detect_type(head), head, upload))
    delivery = ActivityDelivery(
        id=new_id(),
        activity_id=activity.id,
        organization_id=activity.responsible_organization_id,
        recorded_by=actor.id,
        **values,
    )
    session.add(delivery)
    store = storage or document_storage()
    written: list[str] = []
    try:
        for file_type, head, upload in heads:
            attachment_id = new_id()
            context = attachment_context(attachment_id, delivery.organization_id)
            key_id, key = runtime().keyring.current(context)
            counted = _CountedUpload(head, upload.stream, MAX_BYTES)
            storage_key = store.put(encrypt_stream(counted, key_id, key, context))
            written.append(storage_key)
            _delete_unless_committed(session, store, storage_key)
            delivery.attachments.append(
                DeliveryAttachment(
                    id=attachment_id,
                    organization_id=delivery.organization_id,
                    content_type=file_type.content_type,
                    size=counted.count,
                    storage_key=storage_key,
                    uploaded_by=actor.id,
                )
            )
        before = activity.status
        if data.completes and "completed" in TRANSITIONS.get(activity.status, ()):
            activity.status = "completed"
        elif activity.status == "planned":
            activity.status = "ongoing"
        session.flush()
        record(
            "activity.delivery",
            actor,
            delivery,
            plan_id=activity.plan_id,
            activity_id=activity.id,
            attachments=len(written),
            participants=delivery.participants_total,
        )
        if activity.status != before:
            record(
                "activity.transition",
                actor,
                activity,
                plan_id=activity.plan_id,
                from_status=before,
                to_status=activity.status,
            )
    except BaseException:
        for storage_key in written:
            store.delete(storage_key)
        raise
    return delivery


def download_attachment(
    session: DbSession, actor: Any, attachment_id: str, *, storage: Storage | None = None
) -> DocumentDownload:
    """The plaintext of a delivery's file, for whoever may read the plan; audited."""
    attachment = get_by_id(session, DeliveryAttachment, attachment_id)
    activity = attachment.delivery.activity if attachment is not None else None
    if attachment is None or activity is None or not can(actor, "plan.read", activity):
        record_denial(actor, "activity_attachment", str(attachment_id))
        raise NotFound("attachment")
    record(
        "activity.attachment_download",
        actor,
        attachment,
        plan_id=activity.plan_id,
        activity_id=activity.id,
        delivery_id=attachment.delivery_id,
    )
    store = storage or document_storage()
    keyring = runtime().keyring
    handle = store.open(attachment.storage_key)
    context = attachment_context(attachment.id, attachment.organization_id)
    plain = _plaintext(handle, decrypt_stream(handle, keyring.key, context))
    try:
        first = next(plain)
    except BaseException:
        plain.close()
        raise
    file_type = _BY_CONTENT_TYPE.get(attachment.content_type, PDF)
    return DocumentDownload(
        _resume(first, plain), attachment.content_type, attachment.size, f"attachment.{file_type.extension}"
    )


# ---------------------------------------------------------------------------------- lists
@dataclass(frozen=True)
class Filters:
    activity_type: str | None = None
    status: str | None = None
    quarter: int | None = None
    organization_id: str | None = None


def parse_filters(args: Any) -> Filters:
    """The list's filters from a query string (form or API), each checked by name."""
    problems: dict[str, str] = {}
    for name in ("type", "status", "quarter", "organization"):
        if hasattr(args, "getlist") and len(args.getlist(name)) > 1:
            problems[name] = "repeated"
    kind = args.get("type") or None
    if kind is not None and kind not in ACTIVITY_TYPES:
        problems["type"] = "unknown"
    status = args.get("status") or None
    if status is not None and status not in ACTIVITY_STATUSES:
        problems["status"] = "unknown"
    quarter_raw = args.get("quarter") or None
    quarter = _whole(quarter_raw) if quarter_raw is not None else None
    if quarter_raw is not None and quarter not in QUARTERS:
        problems["quarter"] = "unknown"
    org_raw = args.get("organization") or None
    org = _uuid(org_raw) if org_raw is not None else None
    if org_raw is not None and org is None:
        problems["organization"] = "unknown"
    if problems:
        raise InvalidInput("invalid_filter", fields=problems)
    return Filters(kind, status, quarter, org)


def _quarter_of(column: Any) -> Any:
    month = func.extract("month", column)
    return case((month <= 3, 1), (month <= 6, 2), (month <= 9, 3), else_=4)


def activities(
    session: DbSession, actor: Any, plan: ActivityPlan, filters: Filters | None = None, *, audit: bool = True
) -> list[Activity]:
    """The plan's activities (the caller has read the plan), filtered, by planned start; audited
    as a list unless the caller records the read otherwise (an export)."""
    stmt = select(Activity).where(Activity.plan_id == plan.id)
    stmt = _filtered(stmt, filters or Filters())
    rows = list(session.scalars(stmt.order_by(Activity.planned_start, Activity.title, Activity.id)))
    if audit:
        record("activity.list", actor, plan, count=len(rows))
    return rows


def _filtered(stmt: Any, filters: Filters) -> Any:
    if filters.activity_type:
        stmt = stmt.where(Activity.activity_type == filters.activity_type)
    if filters.status:
        stmt = stmt.where(Activity.status == filters.status)
    if filters.quarter:
        stmt = stmt.where(_quarter_of(Activity.planned_start) == filters.quarter)
    if filters.organization_id:  # responsible, or among the partners (ids are canonical UUID text)
        partners = cast(Activity.partner_organization_ids, String)
        stmt = stmt.where(
            (Activity.responsible_organization_id == filters.organization_id)
            | partners.like(f'%"{filters.organization_id}"%')
        )
    return stmt


@dataclass(frozen=True)
class ApiQuery:
    network: str | None = None
    year: int | None = None
    status: str | None = None
    activity_type: str | None = None


def api_page(
    session: DbSession, actor: Any, query: ApiQuery, *, limit: int, after: tuple[date, str] | None
) -> list[tuple[Activity, ActivityPlan, Network]]:
    """Activities of the plans the actor may read (API), by planned start then id; audited as a list.

    An unknown network, or one whose plan she may not read, is a 404 as for any object."""
    stmt: Any = select(Activity, ActivityPlan, Network).join(ActivityPlan, ActivityPlan.id == Activity.plan_id)
    stmt = scope_plans(actor, stmt.join(Network, Network.id == ActivityPlan.network_id))
    if query.network is not None:
        network = network_by_code(session, query.network)
        if network is None or not can(actor, "plan.read", network):
            record_denial(actor, "network", query.network[:64])
            raise NotFound("network")
        stmt = stmt.where(ActivityPlan.network_id == network.id)
    if query.year is not None:
        stmt = stmt.where(ActivityPlan.year == query.year)
    stmt = _filtered(stmt, Filters(query.activity_type, query.status))
    if after is not None:
        start, last_id = after
        stmt = stmt.where(
            (Activity.planned_start > start) | ((Activity.planned_start == start) & (Activity.id > last_id))
        )
    rows = [
        (a, p, n) for a, p, n in session.execute(stmt.order_by(Activity.planned_start, Activity.id).limit(limit + 1))
    ]
    record("activity.list", actor, count=min(len(rows), limit))
    return rows


# ---------------------------------------------------------------------------------- progress
@dataclass(frozen=True)
class ProgressRow:
    """One type in one quarter (either None: every type or every quarter)."""

    activity_type: str | None
    quarter: int | None
    planned: int
    delivered: int
    cancelled: int
    target: int
    participants: int

    @property
    def share_delivered(self) -> int | None:
        """Delivered of planned, in whole per cent (None when nothing is planned)."""
        return round(100 * self.delivered / self.planned) if self.planned else None

    @property
    def share_reached(self) -> int | None:
        """Participants of the target, in whole per cent (None without a target)."""
        return round(100 * self.participants / self.target) if self.target else None


@dataclass(frozen=True)
class Progress:
    network_id: str
    year: int
    quarter: int | None
    rows: list[ProgressRow]  # every type × quarter with an activity
    by_type: list[ProgressRow]
    by_quarter: list[ProgressRow]
    total: ProgressRow

    def cell(self, activity_type: str | None, quarter: int | None) -> ProgressRow | None:
        for row in (*self.rows, *self.by_type, *self.by_quarter, self.total):
            if row.activity_type == activity_type and row.quarter == quarter:
                return row
        return None


def plan_progress(session: DbSession, network_id: str, year: int, quarter: int | None = None) -> Progress:
    """Delivered against planned, by activity type and quarter, and participants against target,
    for a network's plan of a year (one quarter of it when `quarter` is given). Counted by SQL;
    no actor and no audit: the caller (a page, the meeting pack, a home page) has checked who
    reads it and records that read."""
    if quarter is not None and quarter not in QUARTERS:
        raise InvalidInput("invalid_quarter", fields={"quarter": "unknown"})
    reached = (
        select(ActivityDelivery.activity_id, func.sum(ActivityDelivery.participants_total).label("people"))
        .group_by(ActivityDelivery.activity_id)
        .subquery()
    )
    q = _quarter_of(Activity.planned_start).label("q")
    live = Activity.status != "cancelled"
    stmt = (
        select(
            Activity.activity_type,
            q,
            func.sum(case((live, 1), else_=0)),
            func.sum(case((Activity.status == "completed", 1), else_=0)),
            func.sum(case((live, 0), else_=1)),
            func.sum(case((live, Activity.target_participants), else_=0)),
            func.coalesce(func.sum(reached.c.people), 0),
        )
        .join(ActivityPlan, ActivityPlan.id == Activity.plan_id)
        .outerjoin(reached, reached.c.activity_id == Activity.id)
        .where(ActivityPlan.network_id == network_id, ActivityPlan.year == year)
        .group_by(Activity.activity_type, q)
    )
    if quarter is not None:
        stmt = stmt.where(_quarter_of(Activity.planned_start) == quarter)
    rows = [ProgressRow(t, int(qq), *(int(v or 0) for v in values)) for t, qq, *values in session.execute(stmt)]
    rows.sort(
        key=lambda r: (
            ACTIVITY_TYPES.index(r.activity_type) if r.activity_type in ACTIVITY_TYPES else 99,
            r.quarter or 0,
        )
    )

    def summed(items: list[ProgressRow], activity_type: str | None, in_quarter: int | None) -> ProgressRow:
        return ProgressRow(
            activity_type,
            in_quarter,
            sum(r.planned for r in items),
            sum(r.delivered for r in items),
            sum(r.cancelled for r in items),
            sum(r.target for r in items),
            sum(r.participants for r in items),
        )

    by_type = [summed([r for r in rows if r.activity_type == t], t, None) for t in ACTIVITY_TYPES]
    quarters = (quarter,) if quarter is not None else QUARTERS
    by_quarter = [summed([r for r in rows if r.quarter == qq], None, qq) for qq in quarters]
    return Progress(network_id, year, quarter, rows, by_type, by_quarter, summed(rows, None, None))


# ---------------------------------------------------------------------------------- calendar
@dataclass(frozen=True)
class Day:
    day: date | None  # None: a blank cell before the first or after the last day of the month
    activities: list[Activity]


def month_grid(items: list[Activity], year: int, month: int) -> list[list[Day]]:
    """The month as weeks of seven days (Saturday first, as the networks' calendars are), each day
    with the activities planned to run on it."""
    import calendar

    weeks: list[list[Day]] = []
    for week in calendar.Calendar(firstweekday=calendar.SATURDAY).monthdatescalendar(year, month):
        weeks.append(
            [
                Day(d, [a for a in items if a.planned_start <= d <= a.planned_end])
                if d.month == month
                else Day(None, [])
                for d in week
            ]
        )
    return weeks


def record_export(actor: Any, plan: ActivityPlan, fmt: str) -> None:
    record("plan.export", actor, plan, network_id=plan.network_id, year=plan.year, format=fmt)


def iter_attachments(session: DbSession) -> Iterator[tuple[str, str, str]]:
    """(attachment id, organisation id, storage key) of every stored attachment."""
    for row in session.execute(
        select(DeliveryAttachment.id, DeliveryAttachment.organization_id, DeliveryAttachment.storage_key)
    ):
        yield str(row[0]), str(row[1]), str(row[2])


# ---------------------------------------------------------------------------------- key rotation
def count_attachment_keys(session: DbSession, *, storage: Storage | None = None) -> Counter[int]:
    """Stored attachments per data key id (read from the files' headers), so that a key still
    sealing one is never retired."""
    store = storage or document_storage()
    counts: Counter[int] = Counter()
    for _id, _org, key in iter_attachments(session):
        try:
            with store.open(key) as handle:
                counts[stream_key_id(handle)] += 1
        except StorageError:
            continue
    return counts


def reencrypt_attachments(session: DbSession, commit: Any, *, storage: Storage | None = None) -> int:
    """Seal every attachment not under its organisation's current data key again, one per commit
    (the case documents' way: new file first, the row then points at it, the old one deleted
    once that commits)."""
    store = storage or document_storage()
    keyring = runtime().keyring
    moved = 0
    for attachment_id, organization_id, old_key in list(iter_attachments(session)):
        try:
            with store.open(old_key) as handle:
                used = stream_key_id(handle)
        except StorageError:
            continue
        context = attachment_context(attachment_id, organization_id)
        if used == keyring.current(context)[0]:
            continue
        attachment = session.get(DeliveryAttachment, attachment_id)
        if attachment is None:
            continue
        reseal(session, store, attachment, context)
        commit()
        moved += 1
    return moved


register_store(SealedStore("activity_attachments", count_attachment_keys, reencrypt_attachments))
