"""The meeting pack: one document per meeting, in Arabic and English, as HTML and PDF.

The coordinator asks for it on the meeting page; a worker (`workers.generate_meeting_pack`) then
freezes its content as JSON (the agenda, the previous action points with their status, the
network's numbers for the period since the last meeting, counted and protected by the statistics
package exactly as its pages are, the activity plan's progress, the engagement table) and draws
the PDF in both languages from that JSON (referral/pdf.py, the app's one way of drawing Arabic).
The pack then reads the same for ever: new cases change nothing in it; generating again makes a
new version and keeps the old ones. It holds no case data (aggregates and network records only),
so it is stored in the clear.

Who reads it: the network's coordinator (and the national one) and the staff of its member
organisations; anyone else is not found. Every generation, view and download is audited.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import or_, select, update

from ..accounts.models import User
from ..audit.services import record, record_denial
from ..directory.models import Network, Organization
from ..dispatch import enqueue
from ..errors import Conflict, InvalidInput, NotFound
from ..followups.calendar import zone_for
from ..i18n import RTL, list_separator
from ..models_base import DbSession, get_by_id, utcnow
from ..pdf import Document
from ..plans.services import Progress, ProgressRow, plan_for, plan_progress
from ..statistics import exports as stat_exports
from ..statistics import services as statistics
from ..statistics.queries import Scope, Window
from . import services
from .models import REVIEW_KIND, Meeting, MeetingPack

TASK = "workers.generate_meeting_pack"
LOCALES = ("ar", "en")
PENDING = ("queued", "generating")
STALE_AFTER = timedelta(minutes=15)  # a pack still pending after this is taken as lost
DEFAULT_MONTHS = 3  # the period when the network has held no meeting before this one
CONTENT_VERSION = 1


# ------------------------------------------------------------------------------- who reads which pack
def packs_of(session: DbSession, meeting: Meeting) -> list[MeetingPack]:
    """Every version of the meeting's pack, the newest first."""
    stmt = select(MeetingPack).where(MeetingPack.meeting_id == meeting.id).order_by(MeetingPack.version.desc())
    return list(session.scalars(stmt))


def pack_for(session: DbSession, actor: Any, pack_id: str) -> MeetingPack:
    """The pack, if `actor` reads its meeting's network; else NotFound (recorded as a denial)."""
    found = get_by_id(session, MeetingPack, pack_id)
    if found is None or not services.reads(session, actor, found.network_id):
        record_denial(actor, "meeting_pack", str(pack_id), session)
        raise NotFound("meeting_pack")
    return found


def locale_of(asked: str | None, reader_locale: str) -> str:
    """`?lang=ar|en`, else the reader's language; anything else is a field error."""
    if asked in (None, ""):
        return reader_locale if reader_locale in LOCALES else LOCALES[0]
    if asked not in LOCALES:
        raise InvalidInput("invalid_language", fields={"lang": "unknown"})
    return str(asked)


# ------------------------------------------------------------------------------- asking for one
def request_pack(session: DbSession, actor: Any, meeting_id: str, now: datetime | None = None) -> MeetingPack:
    """A new version of the meeting's pack, queued for the worker (published after commit). Only
    the network's coordinator asks; while a version is still being made, a second one is refused
    (one that has been pending longer than `STALE_AFTER` is marked failed and replaced)."""
    now = now or utcnow()
    meeting = services.meeting_for(session, actor, meeting_id, write=True)
    if meeting.state == "cancelled":
        raise Conflict("meeting_cancelled")
    latest = session.scalar(
        select(MeetingPack)
        .where(MeetingPack.meeting_id == meeting.id)
        .order_by(MeetingPack.version.desc())
        .limit(1)
        .with_for_update()
    )
    if latest is not None and latest.state in PENDING:
        if (latest.started_at or latest.requested_at) > now - STALE_AFTER:
            raise Conflict("pack_pending")
        latest.state, latest.failure, latest.finished_at = "failed", "lost", now
    pack = MeetingPack(
        meeting_id=meeting.id,
        network_id=meeting.network_id,
        version=(latest.version if latest is not None else 0) + 1,
        state="queued",
        requested_by=actor.id,
        requested_at=now,
    )
    session.add(pack)
    session.flush()
    record(
        "meeting_pack.generate", actor, pack, network_id=meeting.network_id, meeting_id=meeting.id, version=pack.version
    )
    enqueue(TASK, pack.id)
    return pack


# ------------------------------------------------------------------------------- the worker's part
def generate(session: DbSession, pack_id: str, *, commit: Callable[[], None], now: datetime | None = None) -> str:
    """Make one pack version: claim it (queued, or lost while generating), show it as generating
    (committed, so the meeting page sees it), freeze its content and draw its PDFs, then ready.
    A second run for the same version does nothing; a failure marks it failed and is raised."""
    now = now or utcnow()
    claimed = session.execute(
        update(MeetingPack)
        .where(
            MeetingPack.id == pack_id,
            or_(
                MeetingPack.state == "queued",
                (MeetingPack.state == "generating") & (MeetingPack.started_at < now - STALE_AFTER),
            ),
        )
        .values(state="generating", started_at=now)
        .execution_options(synchronize_session=False)
    )
    if not claimed.rowcount:  # type: ignore[attr-defined]
        found = session.get(MeetingPack, pack_id)
        return found.state if found is not None else "missing"
    commit()
    try:
        pack = session.get(MeetingPack, pack_id)
        assert pack is not None
        meeting = session.get(Meeting, pack.meeting_id)
        assert meeting is not None
        content = build_content(session, meeting, requested_by=pack.requested_by, now=now)
        commit()  # nothing written: the reads end here, so the drawing holds no lock (SQLite has one writer)
        drawn = {locale: render_pdf(content, locale) for locale in LOCALES}
        pack = session.get(MeetingPack, pack_id)
        assert pack is not None
        pack.content, pack.pdf_ar, pack.pdf_en = content, drawn["ar"], drawn["en"]
        pack.state, pack.finished_at, pack.failure = "ready", utcnow(), ""
        session.flush()
    except Exception:
        session.rollback()
        failed = session.get(MeetingPack, pack_id)
        if failed is not None:
            failed.state, failed.finished_at, failed.failure = "failed", utcnow(), "error"
            commit()
        raise
    return pack.state


# ------------------------------------------------------------------------------- the frozen content
def period_for(session: DbSession, meeting: Meeting, now: datetime) -> tuple[Window, Meeting | None]:
    """Whole months since the network's previous meeting: from its month to the month before this
    meeting (at most the month of generation); with no previous meeting, the last three whole
    months before this one. At least one month, at most the statistics' longest period."""
    tz = zone_for(session, meeting.network_id)
    previous = session.scalar(
        select(Meeting)
        .where(
            Meeting.network_id == meeting.network_id,
            Meeting.state != "cancelled",
            Meeting.starts_at < meeting.starts_at,
            Meeting.id != meeting.id,
        )
        .order_by(Meeting.starts_at.desc())
        .limit(1)
    )
    day = meeting.starts_at.astimezone(tz).date()
    last = _add_months(date(day.year, day.month, 1), -1)
    today = now.astimezone(tz).date()
    last = min(last, date(today.year, today.month, 1))
    if previous is not None:
        since = previous.starts_at.astimezone(tz).date()
        first = min(date(since.year, since.month, 1), last)
    else:
        first = _add_months(last, 1 - DEFAULT_MONTHS)
    first = max(first, _add_months(last, 1 - statistics.MAX_MONTHS))
    return Window(first, last), previous


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def _names(row: Any) -> dict[str, str]:
    return {"ar": row.name_ar, "en": row.name_en}


def _progress(progress: Progress) -> dict[str, Any]:
    def row(r: ProgressRow) -> dict[str, Any]:
        return {**asdict(r), "share_delivered": r.share_delivered, "share_reached": r.share_reached}

    return {
        "rows": [row(r) for r in progress.by_type if r.planned or r.cancelled] + [row(r) for r in progress.by_quarter],
        "total": row(progress.total),
    }


def build_content(session: DbSession, meeting: Meeting, *, requested_by: str | None, now: datetime) -> dict[str, Any]:
    """Everything the pack shows, as JSON, in codes and both languages' names (so it renders in
    either language without reading anything again)."""
    network = session.get(Network, meeting.network_id)
    assert network is not None
    tz = zone_for(session, network.id)
    orgs = {o.id: o for o in session.scalars(select(Organization))}
    view = services.meeting_view(session, meeting)
    people = dict(session.execute(select(User.id, User.username)).all())
    points = [
        {
            "description": p.description,
            "owner": _names(orgs[p.owner_organization_id]) if p.owner_organization_id in orgs else {},
            "owner_person": people.get(p.owner_user_id, "") if p.owner_user_id else "",
            "due_date": p.due_date.isoformat(),
            "priority": p.priority,
            "status": p.status,
            "note": p.status_note,
            "overdue": services.is_overdue(session, p, now),
        }
        for p in view.review
    ]
    window, previous = period_for(session, meeting, now)
    scope = Scope("network", (network.governorate,), network_id=network.id)
    actor = session.get(User, requested_by) if requested_by else None
    numbers = statistics.compute(session, actor, scope, window, compare=False, audit_action=None, now=now)
    local = meeting.starts_at.astimezone(tz)
    quarter = (local.month - 1) // 3 + 1
    plan = plan_for(session, network.id, local.year)
    return {
        "content_version": CONTENT_VERSION,
        "generated_at": now.isoformat(),
        "meeting": {
            "id": meeting.id,
            "title": meeting.title,
            "starts": local.strftime("%Y-%m-%d %H:%M"),
            "time_zone": network.time_zone,
            "duration_minutes": meeting.duration_minutes,
            "place": meeting.place,
            "online_link": meeting.online_link,
            "network": {"governorate": network.governorate, **_names(network)},
        },
        "agenda": [
            {"kind": i.kind, "title": i.title, "minutes": i.minutes, "presenter": i.presenter} for i in meeting.items
        ],
        "action_points": points,
        "period": {
            "from": window.label[0],
            "to": window.label[1],
            "since": previous.starts_at.astimezone(tz).date().isoformat() if previous is not None else None,
        },
        "statistics": statistics.to_payload(numbers),
        "plan": {
            "year": local.year,
            "quarter": quarter,
            "exists": plan is not None,
            "year_progress": _progress(plan_progress(session, network.id, local.year)),
            "quarter_progress": _progress(plan_progress(session, network.id, local.year, quarter)),
        },
        "engagement": [
            {
                "organization": _names(e.organization),
                "invited": e.invited,
                "attended": e.attended,
                "owned": e.owned,
                "done_on_time": e.done_on_time,
                "overdue": e.overdue,
            }
            for e in services.engagement(session, network.id, now)
        ],
    }


# ------------------------------------------------------------------------------- what both formats show
@dataclass
class Table:
    caption: str
    header: list[str]
    rows: list[list[str]]
    testid: str = ""


@dataclass
class Section:
    key: str
    title: str
    notes: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    boxes: list[str] = field(default_factory=list)  # an empty framed space under each of these


@dataclass
class Sheet:
    title: str
    lines: list[str]
    sections: list[Section]


def _name(names: dict[str, str], locale: str) -> str:
    return names.get(locale) or names.get("en") or ""


def _percent(value: int | None) -> str:
    return "—" if value is None else f"{value}%"


def _count(value: Any) -> str:
    return str(value)


def _statistics_tables(payload: dict[str, Any], locale: str, names: dict[str, str]) -> list[Table]:
    """Every protected table of the payload, its counts as they stand (a hidden one is the
    suppression label): one-way tables as a column, two-way ones as a matrix."""
    out: list[Table] = []
    for table in payload.get("tables", []):
        if table.get("period") != "current":
            continue
        dims: list[str] = table.get("dims", [])
        caption = stat_exports.table_title(table, locale, names)
        cells = {tuple(c["key"].get(d) for d in dims): c["count"] for c in table.get("cells", [])}
        categories: dict[str, list[str]] = table.get("categories") or {}

        def label(dim: str, code: str | None) -> str:
            return _("Total") if code is None else stat_exports.category_label(dim, code, locale, names)

        if len(dims) == 2:
            cols: list[str | None] = [*categories.get(dims[1], []), None]
            header = [stat_exports.dimension_label(dims[0]), *(label(dims[1], c) for c in cols)]
            rows = [
                [label(dims[0], r), *(_count(cells.get((r, c), "—")) for c in cols)]
                for r in [*categories.get(dims[0], []), None]
            ]
        elif len(dims) == 1:
            header = [stat_exports.dimension_label(dims[0]), _("Count")]
            rows = [[label(dims[0], r), _count(cells.get((r,), "—"))] for r in [*categories.get(dims[0], []), None]]
        else:
            header, rows = [_("Total"), _("Count")], [[_("Total"), _count(cells.get((), "—"))]]
        out.append(Table(caption, header, rows, testid=f"stats-{table['id']}"))
    return out


def _progress_table(caption: str, progress: dict[str, Any], testid: str) -> Table:
    from ..plans.labels import QUARTER_LABELS, TYPE_LABELS

    def row(r: dict[str, Any]) -> list[str]:
        kind = str(TYPE_LABELS.get(r["activity_type"], r["activity_type"])) if r["activity_type"] else _("All types")
        quarter = str(QUARTER_LABELS[r["quarter"]]) if r["quarter"] else _("The whole year")
        return [
            kind,
            quarter,
            str(r["planned"]),
            str(r["delivered"]),
            str(r["cancelled"]),
            _percent(r["share_delivered"]),
            str(r["target"]),
            str(r["participants"]),
            _percent(r["share_reached"]),
        ]

    header = [
        _("Type of activity"),
        _("Quarter"),
        _("Planned"),
        _("Delivered"),
        _("Cancelled"),
        _("Delivered of planned"),
        _("Target participants"),
        _("Participants reached"),
        _("Reached of target"),
    ]
    return Table(caption, header, [row(r) for r in progress["rows"]] + [row(progress["total"])], testid=testid)


def _status_label(labels: dict[str, Any], point: dict[str, Any]) -> str:
    label = str(labels.get(point["status"], point["status"]))
    return f"{label} · {_('Overdue')}" if point["overdue"] else label


def sheet(content: dict[str, Any], locale: str) -> Sheet:
    """The pack's sections in `locale` (call inside `force_locale`): what the HTML view and the
    PDF both show, from the frozen content only."""
    from .views import PRIORITY_LABELS, REVIEW_LABEL, STATUS_LABELS

    meeting = content["meeting"]
    network_name = _name(meeting["network"], locale)
    names = {meeting["network"]["governorate"]: network_name}
    title = _("Meeting pack: %(title)s", title=meeting["title"])
    lines = [
        f"{_('Network')}: {network_name}",
        f"{_('Date and time')}: {meeting['starts']} ({meeting['time_zone']})",
        _("%(n)d minutes", n=meeting["duration_minutes"]),
    ]
    if meeting.get("place"):
        lines.append(f"{_('Place')}: {meeting['place']}")
    if meeting.get("online_link"):
        lines.append(f"{_('Online link')}: {meeting['online_link']}")
    lines.append(f"{_('Prepared on')}: {content['generated_at'][:16].replace('T', ' ')} UTC")

    def item_title(item: dict[str, Any]) -> str:
        return str(REVIEW_LABEL) if item["kind"] == REVIEW_KIND else str(item["title"])

    agenda = Section(
        "agenda",
        _("Agenda"),
        tables=[
            Table(
                "",
                ["#", _("Item"), _("Duration"), _("Presenter")],
                [
                    [str(n), item_title(i), _("%(n)d minutes", n=i["minutes"]), i["presenter"] or "—"]
                    for n, i in enumerate(content["agenda"], start=1)
                ],
                testid="pack-agenda",
            )
        ],
    )
    points = Section(
        "action_points",
        _("Previous action points"),
        tables=[
            Table(
                "",
                [_("Action"), _("Owner"), _("Due"), _("Priority"), _("Status"), _("Note")],
                [
                    [
                        p["description"],
                        _name(p["owner"], locale) + (f" ({p['owner_person']})" if p["owner_person"] else ""),
                        p["due_date"],
                        str(PRIORITY_LABELS.get(p["priority"], p["priority"])),
                        str(STATUS_LABELS.get(p["status"], p["status"]))
                        + (f" · {_('Overdue')}" if p["overdue"] else ""),
                        p["note"] or "—",
                    ]
                    for p in content["action_points"]
                ],
                testid="pack-action-points",
            )
        ]
        if content["action_points"]
        else [],
        notes=[] if content["action_points"] else [_("No open action point.")],
    )
    payload = content["statistics"]
    period = content["period"]
    stats_notes = [
        f"{_('Period')}: {stat_exports.period_label(period['from'], period['to'])}",
        _("Since the previous meeting of %(day)s.", day=period["since"])
        if period.get("since")
        else _("No earlier meeting: the last three whole months."),
        stat_exports.suppression_note(payload),
    ]
    numbers = Section(
        "statistics", _("The network's numbers"), notes=stats_notes, tables=_statistics_tables(payload, locale, names)
    )
    plan = content["plan"]
    plan_section = Section("plan", _("Activity plan progress %(year)s", year=plan["year"]))
    if not plan["exists"]:
        plan_section.notes.append(_("The network has no activity plan for %(year)s.", year=plan["year"]))
    plan_section.tables = [
        _progress_table(_("The whole year"), plan["year_progress"], "pack-plan-year"),
        _progress_table(_("This quarter"), plan["quarter_progress"], "pack-plan-quarter"),
    ]
    engagement = Section(
        "engagement",
        _("Engagement of the member organisations"),
        tables=[
            Table(
                "",
                [
                    _("Organisation"),
                    _("Meetings attended"),
                    _("Meetings invited to"),
                    _("Action points owned"),
                    _("Done on time"),
                    _("Overdue"),
                ],
                [
                    [
                        _name(e["organization"], locale),
                        str(e["attended"]),
                        str(e["invited"]),
                        str(e["owned"]),
                        str(e["done_on_time"]),
                        str(e["overdue"]),
                    ]
                    for e in content["engagement"]
                ],
                testid="pack-engagement",
            )
        ],
    )
    decisions = Section(
        "decisions",
        _("Decisions"),
        notes=[_("Space to write the decisions taken under each item.")],
        boxes=[f"{n}. {item_title(i)}" for n, i in enumerate(content["agenda"], start=1)],
    )
    return Sheet(title, lines, [agenda, points, numbers, plan_section, engagement, decisions])


def render_pdf(content: dict[str, Any], locale: str) -> bytes:
    """The pack as an A4 PDF in `locale`: Arabic shaped and right to left."""
    with force_locale(locale):
        rtl = locale in RTL
        separator = list_separator("ar" if rtl else "en")
        drawn = sheet(content, locale)
        pdf = Document(drawn.title, rtl)
        pdf.line(drawn.title, 16, "B", 10)
        for text in drawn.lines:
            pdf.line(text, 10, height=6)
        for section in drawn.sections:
            pdf.ln(4)
            pdf.line(section.title, 13, "B", 9)
            for note in section.notes:
                pdf.line(note, 9, height=5)
            for table in section.tables:
                if table.caption:
                    pdf.line(table.caption, 10, "B", 6)
                for row in table.rows:
                    pdf.line(
                        separator.join(f"{name}: {value}" for name, value in zip(table.header, row, strict=True)),
                        9,
                        height=5,
                    )
            for label in section.boxes:
                pdf.line(label, 10, "B", 6)
                pdf.box(22)
        return pdf.output()


def pdf_of(pack: MeetingPack, locale: str) -> bytes | None:
    return pack.pdf_ar if locale == "ar" else pack.pdf_en


# ------------------------------------------------------------------------------- reads, audited
def view_pack(session: DbSession, actor: Any, pack_id: str) -> MeetingPack:
    """A pack read on screen (any state: the status row polls it); audited as a view."""
    found = pack_for(session, actor, pack_id)
    record("meeting_pack.view", actor, found, network_id=found.network_id, meeting_id=found.meeting_id)
    return found


def ready_pack(session: DbSession, actor: Any, pack_id: str) -> MeetingPack:
    found = pack_for(session, actor, pack_id)
    if found.state != "ready":
        raise Conflict("pack_not_ready")
    return found


def download_pack(session: DbSession, actor: Any, pack_id: str, locale: str) -> tuple[MeetingPack, bytes]:
    found = ready_pack(session, actor, pack_id)
    body = pdf_of(found, locale)
    if body is None:
        raise Conflict("pack_not_ready")
    record(
        "meeting_pack.download",
        actor,
        found,
        network_id=found.network_id,
        meeting_id=found.meeting_id,
        version=found.version,
        lang=locale,
    )
    return found, body
