"""A year of network coordination for the demo networks, made through the coordination and
plan services so that every row is one the app itself would write: a monthly series of
meetings with agendas, invitations, attendance and minutes (approved, the last one circulated
and not yet approved), action points (done, open, overdue), the member organisations'
representatives, the next meeting, and this year's activity plan with delivered and planned
activities. Nothing in it names a survivor or a case.

Seeding must not flood anyone's inbox: the meetings of the past year are made before the
representatives are named, so they tell nobody (their invitations and attendance are recorded
as the history they are); only the next meeting invites, once per representative. The open action
points past their due date start their reminder ladders, which the demo worker then delivers:
the demo shows overdue ones, as it should.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import Any

from sqlalchemy import func, select

from .accounts.models import User
from .coordination import services as coordination
from .coordination.models import Attendance, Invitation, Meeting, Representative
from .directory.models import Network
from .models_base import DbSession, new_id
from .plans import services as plans
from .runtime import Runtime

SEED = 20260115
MONTHS = 12  # meetings held in the past year, the last one's minutes still circulated

AGENDA = (
    ("التحديات التي تواجه النساء في الوصول إلى الخدمات", 30, "مركز المساعدة القانونية"),
    ("أرقام الشبكة منذ الاجتماع السابق", 20, "منسقة الشبكة"),
    ("الأنشطة والتدريبات المخطط لها حتى نهاية العام", 25, "منسقة الشبكة"),
)
DISCUSSION = (
    "ناقش الأعضاء تأخر الردود على التحويلات العاجلة ونقص أماكن الإيواء في المحافظة.",
    "عُرضت أرقام الشبكة للفترة؛ ارتفعت التحويلات بين القطاع الصحي والقطاع القانوني.",
    "راجع الأعضاء خطة الأنشطة وتوزيع المسؤوليات على المؤسسات الشريكة.",
)
DECISIONS = (
    "اعتماد نقطة اتصال واحدة لكل مؤسسة للتحويلات العاجلة.",
    "مشاركة جدول الأرقام مع الأعضاء قبل الاجتماع القادم بأسبوع.",
    "تنفيذ ورشة تدريبية مشتركة حول مسار التحويل خلال الربع القادم.",
)
ACTIONS = (
    "تحديث قائمة نقاط الاتصال للتحويلات العاجلة",
    "إعداد تقرير عن أسباب رفض التحويلات",
    "تنسيق زيارة ميدانية لمراكز الخدمة",
    "مراجعة نموذج التحويل المشترك",
    "تجهيز مواد حملة التوعية",
    "متابعة توفر أماكن الإيواء الطارئ",
)
# (title, type, month, day, target participants, responsible organisation key, partner keys)
ACTIVITIES = (
    ("تدريب على مسار التحويل الوطني", "training", 2, 10, 25, "legal", ("mosd",)),
    ("حملة توعية بمناسبة يوم المرأة", "awareness_campaign", 3, 8, 120, "women", ("counselling",)),
    ("ورشة بناء قدرات لمقدمي الخدمات الصحية", "capacity_building", 4, 21, 20, "hospital", ("mosd",)),
    ("لقاء مشترك مع وحدات حماية الأسرة", "joint_event", 6, 16, 30, "police", ("legal", "prosecution")),
    ("تدريب على إدارة الحالة", "training", 9, 14, 18, "mosd", ("counselling",)),
    ("مبادرة دعم التمكين الاقتصادي للناجيات", "initiative", 10, 5, 15, "women", ("mosd",)),
    ("حملة الستة عشر يومًا لمناهضة العنف", "awareness_campaign", 11, 25, 150, "counselling", ("women", "legal")),
    ("تدريب على السلامة الرقمية", "training", 12, 20, 20, "legal", ("counselling",)),
)
PRIORITIES = ("high", "medium", "low")


def _coordinator(session: DbSession, network_id: str) -> User:
    found = session.scalar(select(User).where(User.role == "coordinator", User.network_id == network_id).limit(1))
    if found is None:
        raise RuntimeError("a demo network has its coordinator")
    return found


def _representative_users(session: DbSession, prefix: str, members: dict[str, str], locked_hash: str) -> dict[str, str]:
    """One representative per member organisation (key -> user id): its demo caseworker where it
    has one, else a representative account of its own that nobody can sign in to."""
    chosen: dict[str, str] = {}
    for key, org_id in sorted(members.items()):
        staff = session.scalar(
            select(User.id).where(User.organization_id == org_id, User.role == "caseworker").order_by(User.username)
        )
        if staff is None:
            person = User(
                id=new_id(),
                organization_id=org_id,
                role="caseworker",
                username=f"{prefix}.{key}.rep",
                locale="ar",
                password_hash=locked_hash,
                must_change_password=True,
            )
            session.add(person)
            staff = person.id
        chosen[key] = str(staff)
    session.flush()
    return chosen


def _name(session: DbSession, network_id: str, org_id: str, user_id: str) -> None:
    """Through the service when the organisation has an administrator to name her; else the row."""
    admin = session.scalar(
        select(User).where(User.organization_id == org_id, User.role == "org_admin").order_by(User.username).limit(1)
    )
    if admin is not None:
        coordination.name_representative(session, admin, network_id, user_id)
        return
    session.add(Representative(id=new_id(), network_id=network_id, organization_id=org_id, user_id=user_id))
    session.flush()


def seed_coordination(
    session: DbSession, rt: Runtime, networks: dict[str, str], members: dict[str, dict[str, str]]
) -> int:
    """`networks`: governorate -> case prefix of the networks to fill; `members`: governorate ->
    {organisation key: id}. A network that already has meetings is left as it is. Returns the
    number of meetings made."""
    rng = random.Random(SEED)  # noqa: S311 (fictional demo data, the same every time)
    locked_hash = rt.passwords.hash(new_id())  # a password nobody holds: these accounts only represent
    made = 0
    for governorate, prefix in networks.items():
        net = session.scalar(select(Network).where(Network.governorate == governorate))
        orgs = members.get(governorate)
        if net is None or not orgs:
            continue
        if session.scalar(select(func.count()).where(Meeting.network_id == net.id)):
            continue
        made += _seed_network(session, rng, net, prefix.lower(), orgs, locked_hash)
    return made


def _seed_network(
    session: DbSession,
    rng: random.Random,
    net: Network,
    prefix: str,
    orgs: dict[str, str],
    locked_hash: str,
) -> int:
    coordinator = _coordinator(session, net.id)
    member_orgs = {k: v for k, v in orgs.items() if k != "owner"}
    reps = _representative_users(session, prefix, member_orgs, locked_hash)
    today = coordination.today_in(session, net.id)
    first = date(today.year - 1, today.month, 1)
    series, _first_meeting = coordination.create_series(
        session,
        coordinator,
        net.id,
        coordination.SeriesInput(
            title="الاجتماع الشهري للشبكة",
            recurrence="monthly_weekday",
            local_time="10:00",
            first_on_or_after=first,
            week_of_month=2,
            weekday=1,  # the second Tuesday
            duration_minutes=120,
            place="قاعة المحافظة",
        ),
        [coordination.AgendaInput(t, m, p) for t, m, p in AGENDA],
    )
    meetings = [_first_meeting]
    day = first
    for _ in range(MONTHS - 1):
        day = (day.replace(day=28) + timedelta(days=7)).replace(day=1)
        on = coordination.occurrence_in(series, day.year, day.month)
        if on >= today:
            break
        meetings.append(
            coordination.create_meeting(
                session,
                coordinator,
                net.id,
                coordination.MeetingInput(
                    title=series.title,
                    starts_at=coordination.local_start(session, net.id, on, series.local_time),
                    duration_minutes=series.duration_minutes,
                    place=series.place,
                    agenda=[coordination.AgendaInput(t, m, p) for t, m, p in AGENDA],
                ),
                series_id=series.id,
            )
        )
    keys = sorted(member_orgs)
    for n, meeting in enumerate(meetings):
        last = n == len(meetings) - 1
        held_on = meeting.starts_at.astimezone(coordination.zone_for(session, net.id)).date()
        for key in keys:
            status = rng.choices(("attended", "excused", "absent"), weights=(8, 1, 1), k=1)[0]
            # attendance as recorded history (one row each, written together: 200-odd service calls
            # with their audit events would double the demo's seeding time)
            session.add(
                Attendance(
                    id=new_id(),
                    meeting_id=meeting.id,
                    organization_id=member_orgs[key],
                    status=status,
                    representative="ممثلة المؤسسة" if status == "attended" else "",
                    role="نقطة الاتصال" if status == "attended" else "",
                    recorded_by=coordinator.id,
                    recorded_at=meeting.starts_at + timedelta(hours=3),
                )
            )
            # the invitation, as the history it is now (it was answered before the meeting)
            session.add(
                Invitation(
                    id=new_id(),
                    meeting_id=meeting.id,
                    organization_id=member_orgs[key],
                    user_id=reps[key],
                    response="attending" if status == "attended" else "excused",
                    responded_at=meeting.starts_at - timedelta(days=2),
                )
            )
        items = [i for i in meeting.items if i.position > 0]
        entries = {i.id: (DISCUSSION[k % 3], DECISIONS[k % 3]) for k, i in enumerate(items)}
        coordination.save_minutes(session, coordinator, meeting.id, entries)
        coordination.circulate_minutes(session, coordinator, meeting.id)
        if not last:
            coordination.approve_minutes(session, coordinator, meeting.id)
        for k in range(2):
            owner = keys[(2 * n + k) % len(keys)]
            # the last meeting's points run past the next meeting (up to five weeks away), so some
            # open point is always still ahead, whatever day the demo is seeded
            due = held_on + timedelta(days=rng.choice((42, 49, 56) if last else (14, 21, 28)))
            point = coordination.create_action_point(
                session,
                coordinator,
                meeting.id,
                coordination.ActionPointInput(
                    description=ACTIONS[(2 * n + k) % len(ACTIONS)],
                    owner_organization_id=member_orgs[owner],
                    due_date=due,
                    priority=PRIORITIES[(n + k) % 3],
                    agenda_item_id=items[k % len(items)].id if items else None,
                ),
            )
            age = (today - due).days
            if age > 60 or (age > 0 and k == 0 and n % 2 == 0):
                coordination.update_action_point(session, coordinator, point.id, "done", "تم التنفيذ")
                late = rng.random() < 0.25
                point.closed_at = coordination.local_start(
                    session, net.id, due + timedelta(days=5 if late else -2), "12:00"
                )
            elif age > 0 and k == 1 and n % 3 == 0:
                coordination.update_action_point(session, coordinator, point.id, "in_progress", "قيد المتابعة")
            # the others stay open: overdue if past their date, carried into the next meeting
    for key in keys:
        _name(session, net.id, member_orgs[key], reps[key])
    coordination.schedule_next(session, coordinator, series.id)  # invites the representatives, once
    _seed_plan(session, coordinator, net, member_orgs, today)
    session.flush()
    return len(meetings) + 1


def _seed_plan(session: DbSession, coordinator: Any, net: Network, orgs: dict[str, str], today: date) -> None:
    plan = plans.plan_for(session, net.id, today.year) or plans.create_plan(session, coordinator, net.id, today.year)
    for n, (title, kind, month, day, target, responsible, partners) in enumerate(ACTIVITIES):
        if responsible not in orgs:
            continue
        start = date(today.year, month, day)
        activity = plans.add_activity(
            session,
            coordinator,
            plan.id,
            plans.ActivityInput(
                title=title,
                activity_type=kind,
                responsible_organization_id=orgs[responsible],
                partner_organization_ids=[orgs[p] for p in partners if p in orgs],
                planned_start=start.isoformat(),
                planned_end=(start + timedelta(days=1)).isoformat(),
                governorate=net.governorate,
                target_sectors=["social", "legal_aid"],
                target_participants=target,
            ),
        )
        if start + timedelta(days=1) >= today:
            continue  # still planned
        women, men = max(1, target * 3 // 5), max(0, target // 5)
        plans.record_delivery(
            session,
            coordinator,
            activity.id,
            plans.DeliveryInput(
                delivered_from=start.isoformat(),
                delivered_to=(start + timedelta(days=1)).isoformat(),
                participants={
                    "female": {"18-24": women // 3, "25-59": women - women // 3 - 1, "60+": 1},
                    "male": {"25-59": men},
                },
                organization_ids=[orgs[p] for p in (responsible, *partners) if p in orgs],
                report="نُفذ النشاط كما خُطط له بمشاركة المؤسسات الشريكة.",
                completes=n % 4 != 3,  # one in four is still ongoing (a second session due)
            ),
        )
