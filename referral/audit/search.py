"""The auditors' workspace: search the trail, a case's access history, a user's timeline, the
flags that call for a look, the CSV export, and the chain's verification status.

Only event metadata is read here (ids, codes, roles, routes, request ids): events never hold
decrypted values, and nothing here joins to case tables for names or content. Auditors read
the whole trail; the supervisors of an organisation read the history of its own cases and
nothing else. Every read of the trail is itself an audit event (`audit.search`,
`audit.case_history`, `audit.user_history`, `audit.export`).

Lists are newest first, paged by keyset on (occurred_at, id) with an opaque cursor, so a page
costs the same at any depth and uses the (case_code | actor_id | organization_id, occurred_at)
indexes.
"""

from __future__ import annotations

import csv
import io
import json
import re
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Select, and_, false, func, literal_column, or_, select

from ..access.policy import can
from ..errors import Forbidden, InvalidInput, NotFound, refusal
from ..models_base import DbSession, utcnow
from ..pagination import decode_cursor, encode_cursor
from . import chain, checkpoints
from .actions import ACTIONS, OUTCOMES
from .chain import timestamp  # the trail's own time format, also the export's
from .models import AuditEvent
from .services import record, record_denial

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
EXPORT_BATCH = 1000

# ---------------------------------------------------------------------------------- flags
# A user revealing identifiers or searching by identifier more than RATE_PER_HOUR times within
# one clock hour is flagged (a caseworker's normal day is a handful; a bulk harvest is not).
RATE_ACTIONS = ("case.reveal", "case.search_identifier")
RATE_PER_HOUR = 20
# Working time: 07:00 to 19:00 local time in Asia/Hebron, not on Friday or Saturday (the
# networks' default weekend). Reading or changing case data outside it is flagged. One calendar
# for the whole trail: events do not say which network a user worked for.
WORK_ZONE = ZoneInfo("Asia/Hebron")
WORK_START = time(7, 0)
WORK_END = time(19, 0)
WEEKEND = frozenset({4, 5})  # Python weekday numbers: Friday, Saturday
# Exports: the audit export, the printed referral, and any future `*.export` action.
EXPORT_ACTIONS = ("audit.export", "referral.print")

FLAG_KINDS = ("breakglass", "consent_override", "denied", "high_rate", "out_of_hours", "export", "integrity")
LISTED_FLAGS = tuple(k for k in FLAG_KINDS if k != "high_rate")  # the ones that are lists of events
FLAG_WINDOW = timedelta(days=7)  # the flags page's default window
# A period that ends before it starts, or too long for the out-of-hours flag: well-formed
# filters that a rule refuses (422 in the API).
PERIOD_RULES = frozenset({"before_since", "window_too_long"})
MAX_FLAG_WINDOW = timedelta(days=31)  # the out-of-hours flag is built from one range per day
FLAG_ROWS = 100

# What a case history calls "opened the file" (the rest of its events changed it).
READ_ACTIONS = frozenset(
    {
        "case.view",
        "case.reveal",
        "case.transfer_view",
        "document.download",
        "referral.view",
        "referral.print",
        "followup.view",
        "breakglass.open",
    }
)

_CASE_CODE = re.compile(r"^[A-Z0-9][A-Z0-9-]{0,31}$")
_ACTION = re.compile(r"^[a-z_]+\.(\*|[a-z_]+)$")
DOMAINS = frozenset(name.split(".", 1)[0] for name in ACTIONS)
COLUMNS: tuple[str, ...] = tuple(column.name for column in AuditEvent.__table__.columns)
# A spreadsheet runs a cell starting with one of these as a formula: such a cell gets a leading
# ' (and so does one that starts with ' itself, so that removing one ' always restores it).
FORMULA_START = ("=", "+", "-", "@", "'", "\t", "\r")


# ---------------------------------------------------------------------------------- filters
@dataclass(frozen=True)
class Filters:
    """What a search asks for. `since` is inclusive, `until` exclusive; `action` is a name or
    `domain.*`; `flag` is one of LISTED_FLAGS."""

    user_id: str | None = None
    organization_id: str | None = None
    case_code: str | None = None
    action: str | None = None
    outcome: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    flag: str | None = None

    def details(self) -> dict[str, str]:
        """The filters as audit details (ids, codes and times only), prefixed `filter_`."""
        out: dict[str, str] = {}
        for name in ("user_id", "organization_id", "case_code", "action", "outcome", "flag"):
            value = getattr(self, name)
            if value:
                out[f"filter_{name}"] = value
        for name in ("since", "until"):
            value = getattr(self, name)
            if value is not None:
                out[f"filter_{name}"] = timestamp(value)
        return out

    def query_args(self) -> dict[str, str]:
        """The filters as query-string values (what the HTML form and links carry)."""
        return {k.removeprefix("filter_"): v for k, v in self.details().items()}

    @property
    def empty(self) -> bool:
        return not self.details()


def parse_filters(values: Mapping[str, Any]) -> Filters:
    """Filters from query values; InvalidInput names each bad one. Unknown names are ignored
    (the API refuses them with its schema first). A `since`/`until` given as a date alone is that
    local day (Asia/Hebron): `since` from its start, `until` to its end."""
    problems: dict[str, str] = {}

    def text(name: str) -> str | None:
        raw = values.get(name)
        return str(raw).strip() or None if raw is not None else None

    def an_id(name: str) -> str | None:
        raw = text(name)
        if raw is None:
            return None
        try:
            return str(uuid.UUID(raw))
        except ValueError:
            problems[name] = "invalid"
            return None

    case_code = text("case_code")
    if case_code is not None:
        case_code = case_code.upper()
        if not _CASE_CODE.match(case_code):
            problems["case_code"] = "invalid"
    action = text("action")
    if action is not None and not (
        action in ACTIONS or (_ACTION.match(action) and action.endswith(".*") and action[:-2] in DOMAINS)
    ):
        problems["action"] = "unknown"
    outcome = text("outcome")
    if outcome is not None and outcome not in OUTCOMES:
        problems["outcome"] = "unknown"
    flag = text("flag")
    if flag is not None and flag not in LISTED_FLAGS:
        problems["flag"] = "unknown"
    since = _moment(text("since"), "since", problems)
    until = _moment(text("until"), "until", problems)
    if since is not None and until is not None and since >= until:
        problems["until"] = "before_since"
    filters = Filters(
        user_id=an_id("user_id"),
        organization_id=an_id("organization_id"),
        case_code=case_code,
        action=action,
        outcome=outcome,
        since=since,
        until=until,
        flag=flag,
    )
    if flag == "out_of_hours" and "since" not in problems and "until" not in problems:
        start, end = _window(filters.since, filters.until, MAX_FLAG_WINDOW)
        if end - start > MAX_FLAG_WINDOW:
            problems["since"] = "window_too_long"
    if problems:
        raise refusal("invalid_filters", problems, PERIOD_RULES)
    return filters


def _moment(raw: str | None, name: str, problems: dict[str, str]) -> datetime | None:
    if raw is None:
        return None
    try:
        if len(raw) == 10:
            day = date.fromisoformat(raw)
            if name == "until":
                day += timedelta(days=1)
            return _local(day, time(0, 0))
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        problems[name] = "invalid"
        return None
    if moment.tzinfo is None:
        problems[name] = "invalid"
        return None
    return moment.astimezone(UTC)


def _local(day: date, at: time) -> datetime:
    return datetime.combine(day, at, tzinfo=WORK_ZONE).astimezone(UTC)


# ---------------------------------------------------------------------------------- conditions
def _where(stmt: Select[Any], f: Filters) -> Select[Any]:
    if f.user_id:
        stmt = stmt.where(AuditEvent.actor_id == f.user_id)
    if f.organization_id:
        # The organisation's own objects, or what its staff did elsewhere.
        stmt = stmt.where(
            or_(AuditEvent.organization_id == f.organization_id, AuditEvent.actor_organization_id == f.organization_id)
        )
    if f.case_code:
        stmt = stmt.where(AuditEvent.case_code == f.case_code)
    if f.action:
        if f.action.endswith(".*"):
            stmt = stmt.where(AuditEvent.action.startswith(f.action[:-1], autoescape=True))
        else:
            stmt = stmt.where(AuditEvent.action == f.action)
    if f.outcome:
        stmt = stmt.where(AuditEvent.outcome == f.outcome)
    if f.since is not None:
        stmt = stmt.where(AuditEvent.occurred_at >= f.since)
    if f.until is not None:
        stmt = stmt.where(AuditEvent.occurred_at < f.until)
    if f.flag:
        since, until = _window(f.since, f.until, MAX_FLAG_WINDOW)
        stmt = stmt.where(flag_condition(f.flag, since, until))
    return stmt


def flag_condition(kind: str, since: datetime, until: datetime) -> ColumnElement[bool]:
    """The SQL condition of a listed flag (the window matters only to `out_of_hours`)."""
    if kind == "breakglass":  # emergency openings, and the ones refused beyond the daily limit
        return AuditEvent.action.in_(("breakglass.open", "breakglass.refused"))
    if kind == "consent_override":
        return AuditEvent.action == "consent.override"
    if kind == "denied":
        return AuditEvent.action == "access.denied"
    if kind == "integrity":
        return AuditEvent.action == "security.integrity_failure"
    if kind == "export":
        return or_(AuditEvent.action.in_(EXPORT_ACTIONS), AuditEvent.action.endswith(".export"))
    if kind == "out_of_hours":
        spans = off_hours(since, until)
        if not spans:
            return false()
        return and_(
            AuditEvent.case_code.is_not(None),
            AuditEvent.actor_id.is_not(None),
            ~AuditEvent.action.startswith("audit."),
            or_(*(and_(AuditEvent.occurred_at >= a, AuditEvent.occurred_at < b) for a, b in spans)),
        )
    raise ValueError(f"unknown flag {kind!r}")


def off_hours(since: datetime, until: datetime) -> list[tuple[datetime, datetime]]:
    """The UTC spans of [since, until) outside working time: before WORK_START and after WORK_END
    local time on working days, all of a weekend day; adjacent spans joined."""
    spans: list[tuple[datetime, datetime]] = []
    day = since.astimezone(WORK_ZONE).date()
    last = until.astimezone(WORK_ZONE).date()
    while day <= last:
        start, end = _local(day, time(0, 0)), _local(day + timedelta(days=1), time(0, 0))
        if day.weekday() in WEEKEND:
            parts = [(start, end)]
        else:
            parts = [(start, _local(day, WORK_START)), (_local(day, WORK_END), end)]
        for a, b in parts:
            a, b = max(a, since), min(b, until)
            if a >= b:
                continue
            if spans and spans[-1][1] == a:
                spans[-1] = (spans[-1][0], b)
            else:
                spans.append((a, b))
        day += timedelta(days=1)
    return spans


def _window(since: datetime | None, until: datetime | None, default: timedelta) -> tuple[datetime, datetime]:
    end = until or utcnow()
    return (since or end - default), end


# ---------------------------------------------------------------------------------- pages
@dataclass(frozen=True)
class Page:
    items: list[AuditEvent]
    next_cursor: str | None


def _page(session: DbSession, stmt: Select[Any], limit: int, cursor: str | None) -> Page:
    if not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput("invalid_limit", fields={"limit": "invalid"})
    if cursor:
        at, ident = decode_cursor(cursor, int)
        stmt = stmt.where(or_(AuditEvent.occurred_at < at, and_(AuditEvent.occurred_at == at, AuditEvent.id < ident)))
    rows = list(session.scalars(stmt.order_by(AuditEvent.occurred_at.desc(), AuditEvent.id.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(rows, encode_cursor(rows[-1].occurred_at, rows[-1].id) if more and rows else None)


def require_reader(session: DbSession, actor: Any, what: str) -> None:
    """Auditors only; anyone else is refused (403 in the API, 404 on pages) and the attempt noted."""
    if not can(actor, "audit.read"):
        record_denial(actor, "audit_trail", what, session=session)
        raise Forbidden("audit.read")


# ---------------------------------------------------------------------------------- services
def search(
    session: DbSession,
    actor: Any,
    filters: Filters,
    *,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
    read: DbSession | None = None,
) -> Page:
    """Events matching the filters, newest first (auditors). `read`, in this and the other
    reads of the trail: where the events are read (the read replica, replica.reporting); the
    read's own audit event is written in `session`."""
    require_reader(session, actor, "search")
    page = _page(read or session, _where(select(AuditEvent), filters), limit, cursor)
    details = filters.details()
    record("audit.search", actor, None, session=session, count=len(page.items), next_page=bool(cursor), **details)
    return page


def user_history(
    session: DbSession,
    actor: Any,
    user_id: str,
    filters: Filters | None = None,
    *,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
    read: DbSession | None = None,
) -> Page:
    """What one user did, newest first (auditors): the events she is the actor of."""
    require_reader(session, actor, "user_history")
    try:
        user_id = str(uuid.UUID(str(user_id)))
    except ValueError:
        raise NotFound("user") from None
    filters = replace(filters or Filters(), user_id=user_id)
    page = _page(read or session, _where(select(AuditEvent), filters), limit, cursor)
    details = {k: v for k, v in filters.details().items() if k != "filter_user_id"}
    record(
        "audit.user_history",
        actor,
        None,
        session=session,
        user_id=user_id,
        count=len(page.items),
        next_page=bool(cursor),
        **details,
    )
    return page


@dataclass(frozen=True)
class CaseHistory:
    case_code: str
    page: Page
    denied: list[AuditEvent]  # refused attempts on the case or its referrals, documents, ...
    organization_id: str | None  # the case's organisation, when a supervisor asked


def normalise_case_code(raw: str) -> str | None:
    code = (raw or "").strip().upper()
    return code if _CASE_CODE.match(code) else None


def case_history(
    session: DbSession,
    actor: Any,
    case_code: str,
    *,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
    read: DbSession | None = None,
) -> CaseHistory:
    """Who opened or changed the case with this code, newest first: auditors for any code (also
    of a purged case); a supervisor for her own organisation's cases. Anything else: not found."""
    code = normalise_case_code(case_code)
    reader = read or session
    owner: str | None = None
    if can(actor, "audit.read"):
        if code is None:
            raise NotFound("case")
    else:
        case = _case(reader, code) if code else None
        if case is None or not can(actor, "audit.case_history", case):
            record_denial(actor, "case_file", (case_code or "")[:64], session=session)
            raise NotFound("case")
        owner = str(case.organization_id)
    assert code is not None
    page = _page(reader, select(AuditEvent).where(AuditEvent.case_code == code), limit, cursor)
    objects = (
        select(AuditEvent.object_id)
        .where(AuditEvent.case_code == code, AuditEvent.object_id.is_not(None))
        .distinct()
        .scalar_subquery()
    )
    denied = list(
        reader.scalars(
            select(AuditEvent)
            .where(AuditEvent.action == "access.denied", AuditEvent.object_id.in_(objects))
            .order_by(AuditEvent.occurred_at.desc(), AuditEvent.id.desc())
            .limit(FLAG_ROWS)
        )
    )
    record(
        "audit.case_history",
        actor,
        None,
        session=session,
        case_code=code,
        organization_id=owner,
        count=len(page.items),
        next_page=bool(cursor),
    )
    return CaseHistory(code, page, denied, owner)


def _case(session: DbSession, code: str) -> Any:
    """The case's id and organisation, nothing else of it (for the supervisors' check)."""
    from ..cases.models import Case

    return session.execute(select(Case.id, Case.organization_id).where(Case.case_code == code)).first()


# ---------------------------------------------------------------------------------- flags
@dataclass(frozen=True)
class FlagList:
    kind: str
    count: int
    events: list[AuditEvent]


@dataclass(frozen=True)
class RateFlag:
    actor_id: str
    action: str
    hour: datetime  # UTC, the start of the clock hour
    count: int

    @property
    def until(self) -> datetime:
        return self.hour + timedelta(hours=1)


@dataclass(frozen=True)
class FlagReport:
    since: datetime
    until: datetime
    lists: dict[str, FlagList] = field(default_factory=dict)
    rates: list[RateFlag] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(f.count for f in self.lists.values()) + len(self.rates)


def flags(
    session: DbSession,
    actor: Any,
    since: datetime | None = None,
    until: datetime | None = None,
    *,
    read: DbSession | None = None,
) -> FlagReport:
    """The events that call for an auditor's look in a window (default: the last 7 days, at most
    31), each kind counted and its newest FLAG_ROWS listed; reveals and identifier searches
    above the normal rate as (user, action, hour, count)."""
    require_reader(session, actor, "flags")
    reader = read or session
    since, until = _window(since, until, FLAG_WINDOW)
    if until - since > MAX_FLAG_WINDOW:
        raise InvalidInput("window_too_long", fields={"since": "window_too_long"})
    in_window = and_(AuditEvent.occurred_at >= since, AuditEvent.occurred_at < until)
    report = FlagReport(since, until)
    for kind in LISTED_FLAGS:
        condition = and_(in_window, flag_condition(kind, since, until))
        count = int(reader.scalar(select(func.count()).select_from(AuditEvent).where(condition)) or 0)
        events = (
            list(
                reader.scalars(
                    select(AuditEvent)
                    .where(condition)
                    .order_by(AuditEvent.occurred_at.desc(), AuditEvent.id.desc())
                    .limit(FLAG_ROWS)
                )
            )
            if count
            else []
        )
        report.lists[kind] = FlagList(kind, count, events)
    hour = _hour(reader)
    rows = reader.execute(
        select(AuditEvent.actor_id, AuditEvent.action, hour.label("hour"), func.count().label("n"))
        .where(in_window, AuditEvent.action.in_(RATE_ACTIONS), AuditEvent.actor_id.is_not(None))
        .group_by(AuditEvent.actor_id, AuditEvent.action, hour)
        .having(func.count() > RATE_PER_HOUR)
        .order_by(hour.desc(), func.count().desc())
        .limit(FLAG_ROWS)
    ).all()
    report.rates.extend(
        RateFlag(str(r.actor_id), r.action, datetime.strptime(r.hour, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC), r.n)
        for r in rows
    )
    record(
        "audit.search",
        actor,
        None,
        session=session,
        view="flags",
        filter_since=timestamp(since),
        filter_until=timestamp(until),
        count=report.total,
    )
    return report


def _hour(session: DbSession) -> ColumnElement[str]:
    """The UTC clock hour of an event as text (literal SQL, so the GROUP BY repeats it exactly).
    Asia/Hebron is a whole number of hours from UTC, so these are local clock hours too."""
    if session.get_bind().dialect.name == "postgresql":
        return literal_column("""to_char(audit_event.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:00:00"Z"')""")
    return literal_column("strftime('%Y-%m-%dT%H:00:00Z', audit_event.occurred_at)")


# ---------------------------------------------------------------------------------- export
@dataclass(frozen=True)
class Export:
    """A CSV export, counted and audited; `lines()` streams it (the events up to `upto`)."""

    filters: Filters
    rows: int
    upto: int


def export(session: DbSession, actor: Any, filters: Filters, *, read: DbSession | None = None) -> Export:
    """Count the events matching the filters as they are now and record the export (with the
    filters and the count); the caller then streams `csv_lines` (from the same `read` session)."""
    require_reader(session, actor, "export")
    reader = read or session
    upto = int(reader.scalar(select(func.max(AuditEvent.id))) or 0)
    stmt = _where(select(func.count()).select_from(AuditEvent), filters).where(AuditEvent.id <= upto)
    rows = int(reader.scalar(stmt) or 0)
    record("audit.export", actor, None, session=session, rows=rows, **filters.details())
    return Export(filters, rows, upto)


def csv_cell(value: Any) -> str:
    """A stored value as CSV text: null as empty, times as UTC to the microsecond, hashes as hex,
    details as canonical JSON (sorted keys); formula-like text gets a leading '."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return timestamp(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dict | list):
        text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    else:
        text = str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


# Extra columns for people (labels and names), after the stored ones: their header, and the
# cells of a batch of rows (one call a batch, so names are resolved once a batch, not a row).
Describer = tuple[Sequence[str], Callable[[Sequence[Any]], list[list[str]]]]


def csv_lines(session: DbSession, job: Export, describe: Describer | None = None) -> Iterator[str]:
    """The header row, then the events oldest first, in batches read by keyset. The stored
    columns come first, as stored (for machines); `describe` adds its columns after them."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([*COLUMNS, *(describe[0] if describe else ())])
    yield buffer.getvalue()
    table = AuditEvent.__table__
    columns = [table.c[name] for name in COLUMNS]
    after: tuple[datetime, int] | None = None
    while True:
        stmt = _where(select(*columns), job.filters).where(AuditEvent.id <= job.upto)
        if after is not None:
            at, ident = after
            later = or_(AuditEvent.occurred_at > at, and_(AuditEvent.occurred_at == at, AuditEvent.id > ident))
            stmt = stmt.where(later)
        rows = session.execute(stmt.order_by(AuditEvent.occurred_at, AuditEvent.id).limit(EXPORT_BATCH)).all()
        if not rows:
            return
        buffer.seek(0)
        buffer.truncate()
        extra = describe[1](rows) if describe else [[] for _row in rows]
        for row, more in zip(rows, extra, strict=True):
            writer.writerow([csv_cell(value) for value in row] + [csv_cell(value) for value in more])
        yield buffer.getvalue()
        if len(rows) < EXPORT_BATCH:
            return
        after = (rows[-1].occurred_at, rows[-1].id)


def export_filename(now: datetime | None = None) -> str:
    return f"audit-events-{(now or utcnow()):%Y%m%dT%H%M%SZ}.csv"


# ---------------------------------------------------------------------------------- verification
@dataclass(frozen=True)
class LastVerification:
    """The latest run of the verifier, from its own `audit.verify` event."""

    at: datetime
    ok: bool
    checked: int
    first_bad_position: int | None
    problem: str | None
    actor_id: str | None  # the auditor who asked; None: the nightly run or an operator's command


@dataclass(frozen=True)
class ChainState:
    """What the chain holds now, read cheaply (no event is rehashed)."""

    head_position: int
    unsealed: int
    checkpoint: Any  # chain.CheckpointInfo | None


def last_verification(session: DbSession) -> LastVerification | None:
    event = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "audit.verify").order_by(AuditEvent.id.desc()).limit(1)
    ).first()
    if event is None:
        return None
    details = event.details or {}
    bad = details.get("first_bad_position")
    return LastVerification(
        at=event.occurred_at,
        ok=event.outcome == "success",
        checked=int(details.get("checked") or 0),  # type: ignore[call-overload]
        first_bad_position=int(bad) if bad is not None else None,  # type: ignore[call-overload]
        problem=str(details["problem"]) if details.get("problem") else None,
        actor_id=event.actor_id,
    )


def chain_state(session: DbSession) -> ChainState:
    head = session.scalar(select(func.max(AuditEvent.chain_position)))
    return ChainState(int(head or 0), chain.unsealed_count(session), checkpoints.info(checkpoints.last(session)))
