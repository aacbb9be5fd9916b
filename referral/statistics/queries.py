"""The SQL behind every table: aggregation over statistical columns only.

Each measure is a population with a base query (its rows, its scope, its period) and, for each
dimension, a clear SQL expression of that row. A table is one `GROUP BY` over its dimensions;
the sector of an organisation (its first listed sector) is applied to the aggregated rows, since
organisations keep their sectors as a list. No encrypted column is read, selected or filtered on:
tests/statistics/test_queries.py inspects the SQL these functions emit.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import ARRAY, Select, and_, case, cast, func, literal, or_, select, text, true, tuple_
from sqlalchemy import Float as SAFloat
from sqlalchemy.sql.elements import ColumnElement

from ..cases.models import Case
from ..directory.models import Organization, Service
from ..followups.models import FollowUp
from ..models_base import DbSession
from ..referrals.models import Referral
from ..referrals.services import RESPONSE_TARGETS
from .indicators import UNKNOWN, TableSpec

ORG_DIMS = {"sector", "from_sector", "to_sector"}
# Targets by priority when a referral carries no due time (DOMAIN.md): hours.
TARGET_HOURS = {p: target.total_seconds() / 3600.0 for p, target in RESPONSE_TARGETS.items()}


@dataclass(frozen=True)
class Scope:
    """Whose numbers: a network (its governorate, consenting cases only), the nation (every
    network, consenting cases only) or one organisation (all its own cases)."""

    kind: str  # "network" | "national" | "organization"
    governorates: tuple[str, ...] = ()
    organization_id: str | None = None
    network_id: str | None = None

    @property
    def fixed(self) -> dict[str, str]:
        """Dimensions every table of this scope holds fixed (part of each cell's identity)."""
        if self.kind == "network":
            return {"governorate": self.governorates[0]}
        if self.kind == "organization":
            return {"organization": str(self.organization_id)}
        return {}


@dataclass(frozen=True)
class Window:
    """A run of whole months: [first day of `first`, first day after `last`)."""

    first: date
    last: date

    @property
    def start(self) -> datetime:
        return datetime(self.first.year, self.first.month, 1, tzinfo=UTC)

    @property
    def end(self) -> datetime:
        y, m = (self.last.year + 1, 1) if self.last.month == 12 else (self.last.year, self.last.month + 1)
        return datetime(y, m, 1, tzinfo=UTC)

    @property
    def months(self) -> list[str]:
        out, y, m = [], self.first.year, self.first.month
        while (y, m) <= (self.last.year, self.last.month):
            out.append(f"{y:04d}-{m:02d}")
            y, m = (y + 1, 1) if m == 12 else (y, m + 1)
        return out

    @property
    def label(self) -> tuple[str, str]:
        months = self.months
        return months[0], months[-1]

    def previous(self) -> Window:
        """The run of as many months just before this one."""
        n = len(self.months)
        y, m = self.first.year, self.first.month - n
        while m < 1:
            y, m = y - 1, m + 12
        last_y, last_m = (self.first.year, self.first.month - 1) if self.first.month > 1 else (self.first.year - 1, 12)
        return Window(date(y, m, 1), date(last_y, last_m, 1))


@dataclass
class Lookups:
    """Each organisation's main sector and each service's sector, read once per computation."""

    org_sector: dict[str, str]
    service_sector: dict[str, str]

    @classmethod
    def load(cls, session: DbSession) -> Lookups:
        orgs = {
            oid: (sectors[0] if sectors else UNKNOWN)
            for oid, sectors in session.execute(select(Organization.id, Organization.sectors))
        }
        services = {sid: sector for sid, sector in session.execute(select(Service.id, Service.sector))}
        return cls({str(k): v for k, v in orgs.items()}, {str(k): v for k, v in services.items()})

    def organizations_of_sector(self, sector: str) -> list[str]:
        return [oid for oid, s in self.org_sector.items() if s == sector]


def month_of(session: DbSession, column: Any) -> ColumnElement[str]:
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM")
    return func.substr(column, 1, 7)


def hours_between(session: DbSession, start: Any, end: Any) -> ColumnElement[Any]:
    if session.get_bind().dialect.name == "postgresql":
        return func.extract("epoch", end - start) / 3600.0
    return (func.julianday(end) - func.julianday(start)) * 24.0


def _coded(column: Any) -> ColumnElement[str]:
    return func.coalesce(column, UNKNOWN)


# ------------------------------------------------------------------------------- the measures
@dataclass(frozen=True)
class Request:
    session: DbSession
    scope: Scope
    window: Window
    now: datetime
    lookups: Lookups
    sector: str | None = None  # only organisations of this main sector


def _case_scope(req: Request) -> list[ColumnElement[bool]]:
    scope = req.scope
    where: list[ColumnElement[bool]] = []
    if scope.kind == "organization":
        where.append(Case.organization_id == scope.organization_id)
    else:
        where += [Case.governorate.in_(scope.governorates), Case.statistics_consent.is_(True)]
    if req.sector:
        where.append(Case.organization_id.in_(req.lookups.organizations_of_sector(req.sector)))
    return where


def _referral_scope(req: Request) -> list[ColumnElement[bool]]:
    scope = req.scope
    where: list[ColumnElement[bool]] = [Referral.sent_at.is_not(None)]
    if scope.kind == "organization":
        where.append(
            or_(
                Referral.from_organization_id == scope.organization_id,
                and_(Referral.to_organization_id == scope.organization_id, Case.statistics_consent.is_(True)),
            )
        )
    else:
        where += [Case.governorate.in_(scope.governorates), Case.statistics_consent.is_(True)]
    if req.sector:
        where.append(Referral.from_organization_id.in_(req.lookups.organizations_of_sector(req.sector)))
    return where


def _ratio_band(session: DbSession, answered: Any) -> ColumnElement[str]:
    target = func.coalesce(
        hours_between(session, Referral.sent_at, Referral.due_at),
        case(
            *((Referral.priority == p, literal(h)) for p, h in TARGET_HOURS.items()),
            else_=literal(TARGET_HOURS["normal"]),
        ),
    )
    used = cast(hours_between(session, Referral.sent_at, answered), SAFloat)
    return case(
        (used <= target * 0.25, "le_25"),
        (used <= target * 0.5, "le_50"),
        (used <= target, "le_100"),
        (used <= target * 2, "le_200"),
        else_="gt_200",
    )


def _case_dims(req: Request) -> dict[str, Any]:
    return {
        "month": month_of(req.session, Case.opened_at),
        "governorate": Case.governorate,
        "sector": Case.organization_id,
        "gbv_type": _coded(Case.gbv_type),
        "age_group": _coded(Case.age_group),
        "disability": case((Case.disability.is_(True), "yes"), (Case.disability.is_(False), "no"), else_=UNKNOWN),
        "perpetrator": _coded(Case.perpetrator_relationship),
        "risk_level": _coded(Case.risk_level),
        "reporting_delay": _coded(Case.reporting_delay),
        "assessed": case((Case.assessed_at.is_not(None), "yes"), else_="no"),
        "safety_plan": case((Case.safety_plan_at.is_not(None), "yes"), else_="no"),
        "action_plan": case(
            (Case.plan_approved_at.is_not(None), "approved"),
            (Case.plan_submitted_by.is_not(None), "submitted"),
            else_="none",
        ),
    }


def _referral_dims(req: Request) -> dict[str, Any]:
    s = req.session
    outcome = case(
        (Referral.state == "declined", "declined"),
        (Referral.state == "completed", "completed"),
        (Referral.state == "closed_unresolved", "closed_unresolved"),
        (and_(Referral.state == "withdrawn", Referral.answered_at.is_not(None)), "withdrawn"),
        (Referral.state.in_(("accepted", "in_progress")), "accepted"),
        else_="unanswered",
    )
    waited_until = func.coalesce(Referral.closed_at, literal(req.now, type_=Referral.sent_at.type))
    response = case(
        (Referral.answered_at.is_not(None), _ratio_band(s, Referral.answered_at)),
        (Referral.due_at < waited_until, "waiting_late"),
        else_="waiting",
    )
    return {
        "month": month_of(s, Referral.sent_at),
        "governorate": Case.governorate,
        "from_sector": Referral.from_organization_id,
        "to_sector": (Referral.service_id, Referral.to_organization_id, Referral.external_sector),
        "priority": Referral.priority,
        "outcome": outcome,
        "response": response,
        "reason": _coded(Referral.decline_reason),
    }


def _base(req: Request, measure: str) -> tuple[Select[Any], dict[str, Any], list[ColumnElement[bool]]]:
    """The FROM, the dimension expressions and the WHERE of one measure."""
    w = req.window
    if measure == "cases_new":
        where = [*_case_scope(req), Case.opened_at >= w.start, Case.opened_at < w.end]
        return select(), _case_dims(req), where
    if measure == "cases_closed":
        days = hours_between(req.session, Case.opened_at, Case.closed_at) / 24.0
        dims = {
            **_case_dims(req),
            "month": month_of(req.session, Case.closed_at),
            "closure_time": case((days < 30.5, "lt_1m"), (days < 91.5, "1_3m"), (days < 183, "3_6m"), else_="gt_6m"),
        }
        where = [*_case_scope(req), Case.status == "closed", Case.closed_at >= w.start, Case.closed_at < w.end]
        return select(), dims, where
    if measure in ("referrals_sent", "referrals_open_late"):
        where = _referral_scope(req)
        if measure == "referrals_sent":
            where += [Referral.sent_at >= w.start, Referral.sent_at < w.end]
        else:
            where += [Referral.state == "sent", Referral.due_at < req.now]
        return select().select_from(Referral).join(Case, Case.id == Referral.case_id), _referral_dims(req), where
    if measure == "followups":
        where = [*_case_scope(req), FollowUp.due_at >= w.start, FollowUp.due_at < w.end, FollowUp.state != "cancelled"]
        dims = {"month": month_of(req.session, FollowUp.due_at)}
        return select().select_from(FollowUp).join(Case, Case.id == FollowUp.case_id), dims, where
    raise KeyError(measure)


def _fold(req: Request, dim: str, raw: Any) -> str:
    """An organisation's (or a service's) main sector, from the ids a row was grouped by."""
    lookups = req.lookups
    if dim in ("sector", "from_sector"):
        return lookups.org_sector.get(str(raw), UNKNOWN)
    service_id, to_org, external = raw
    if service_id is not None and str(service_id) in lookups.service_sector:
        return lookups.service_sector[str(service_id)]
    if to_org is not None:
        return lookups.org_sector.get(str(to_org), UNKNOWN)
    return external or UNKNOWN


def count_table(req: Request, spec: TableSpec) -> dict[tuple[str, ...], int]:
    """The full cells of one table: {category per dimension, in `spec.dims` order: count}."""
    if spec.measure == "cases_followed":
        return _cases_followed(req)
    stmt_from, dims, where = _base(req, spec.measure)
    where = list(where)
    for dim, code in spec.fixed:
        where.append(dims[dim] == code)
    columns: list[Any] = []
    widths: list[int] = []
    for dim in spec.dims:
        expr = dims[dim]
        parts = list(expr) if isinstance(expr, tuple) else [expr]
        columns += parts
        widths.append(len(parts))
    stmt = stmt_from.add_columns(*columns, func.count()).where(*where)
    if columns:
        stmt = stmt.group_by(*columns)
    out: dict[tuple[str, ...], int] = {}
    for row in req.session.execute(stmt):
        values, i = [], 0
        for dim, width in zip(spec.dims, widths, strict=True):
            raw = row[i] if width == 1 else tuple(row[i : i + width])
            i += width
            values.append(_fold(req, dim, raw) if dim in ORG_DIMS else str(raw))
        key = tuple(values)
        out[key] = out.get(key, 0) + int(row[-1])
    return out


def _cases_followed(req: Request) -> dict[tuple[str, ...], int]:
    """Cases with follow-ups due in the period, by how many they had."""
    w = req.window
    per_case = (
        select(FollowUp.case_id, func.count().label("n"))
        .join(Case, Case.id == FollowUp.case_id)
        .where(*_case_scope(req), FollowUp.due_at >= w.start, FollowUp.due_at < w.end, FollowUp.state != "cancelled")
        .group_by(FollowUp.case_id)
        .subquery()
    )
    bucket = case((per_case.c.n == 1, "1"), (per_case.c.n == 2, "2"), (per_case.c.n <= 5, "3_5"), else_="6_plus")
    rows = req.session.execute(select(bucket, func.count()).select_from(per_case).group_by(bucket))
    return {(str(b),): int(n) for b, n in rows}


def quantiles(req: Request, which: str, qs: Sequence[float] = (0.5, 0.9)) -> dict[str, dict[float, float]]:
    """Nearest-rank quantiles of hours to first response (`response`) or to completion
    (`completion`) by priority, for referrals sent in the period. One windowed query."""
    s = req.session
    w = req.window
    stmt_from, _, where = _base(req, "referrals_sent")
    if which == "response":
        hours = hours_between(s, Referral.sent_at, Referral.answered_at)
        where = [*where, Referral.answered_at.is_not(None)]
    else:
        hours = hours_between(s, Referral.sent_at, Referral.closed_at)
        where = [*where, Referral.state == "completed", Referral.closed_at.is_not(None)]
    del w
    if s.get_bind().dialect.name == "postgresql":  # an ordered-set aggregate: one sort per priority
        fractions = [float(q) for q in qs]
        grouped = stmt_from.add_columns(
            Referral.priority,
            func.percentile_disc(literal(fractions, type_=ARRAY(SAFloat))).within_group(hours),
        ).where(*where)
        found: dict[str, dict[float, float]] = {}
        for priority, values in s.execute(grouped.group_by(Referral.priority)):
            found[priority] = {q: round(float(v), 1) for q, v in zip(qs, values, strict=True) if v is not None}
        return found
    inner = (
        stmt_from.add_columns(
            Referral.priority.label("priority"),
            hours.label("hours"),
            func.row_number().over(partition_by=Referral.priority, order_by=hours).label("rn"),
            func.count().over(partition_by=Referral.priority).label("n"),
        )
        .where(*where)
        .subquery()
    )
    conditions = [inner.c.rn == (inner.c.n * int(q * 100) + 99) // 100 for q in qs]
    rows = s.execute(
        select(inner.c.priority, inner.c.rn, inner.c.n, inner.c.hours).where(or_(*conditions) if conditions else true())
    )
    out: dict[str, dict[float, float]] = {}
    for priority, rn, n, value in rows:
        for q in qs:
            if rn == (n * int(q * 100) + 99) // 100:
                out.setdefault(priority, {})[q] = round(float(value), 1)
    return out


def all_counts(req: Request, specs: Iterable[TableSpec]) -> dict[str, dict[tuple[str, ...], int]]:
    """The full cells of many tables. On PostgreSQL the tables of one measure are counted by
    one statement (one scan, `GROUPING SETS`); elsewhere, and for `cases_followed`, one
    statement per table. Both give the same cells (tests/statistics/test_queries.py)."""
    specs = list(specs)
    out: dict[str, dict[tuple[str, ...], int]] = {}
    by_measure: dict[str, list[TableSpec]] = {}
    for spec in specs:
        batched = req.session.get_bind().dialect.name == "postgresql" and spec.measure != "cases_followed"
        if batched and not (ORG_DIMS & {d for d, _ in spec.fixed}):
            by_measure.setdefault(spec.measure, []).append(spec)
        else:
            out[spec.id] = count_table(req, spec)
    if by_measure:
        # Grouping sets hashed in memory, not sorted on disk; no JIT compilation for a query this
        # short (both for this transaction only).
        req.session.execute(text("SET LOCAL work_mem = '64MB'"))
        req.session.execute(text("SET LOCAL jit = off"))
    for measure, group in by_measure.items():
        out.update(_count_grouped(req, measure, group))
    return {spec.id: out[spec.id] for spec in specs}


def _count_grouped(req: Request, measure: str, specs: list[TableSpec]) -> dict[str, dict[tuple[str, ...], int]]:
    """Every table of one measure from one scan: the rows' dimensions are computed once (a
    subquery) and grouped by each table's dimension set (`GROUPING SETS`); `GROUPING(...)`
    tells which set a row belongs to, and a table with fixed categories keeps its rows."""
    stmt_from, dims, where = _base(req, measure)
    used = list(dict.fromkeys(d for spec in specs for d in (*spec.dims, *(f for f, _ in spec.fixed))))
    parts: dict[str, list[str]] = {}
    labelled: list[Any] = []
    for dim in used:
        expr = dims[dim]
        exprs = list(expr) if isinstance(expr, tuple) else [expr]
        parts[dim] = [f"c{len(labelled) + i}" for i in range(len(exprs))]
        labelled += [e.label(f"c{len(labelled) + i}") for i, e in enumerate(exprs)]
    if len(specs) == 1 or not labelled or len(labelled) > 31:  # GROUPING() takes 1 to 31 columns
        return {spec.id: count_table(req, spec) for spec in specs}
    rows = stmt_from.add_columns(*labelled).where(*where).subquery()
    columns = [rows.c[c.name] for c in labelled]
    position = {c.name: i for i, c in enumerate(labelled)}
    sets: dict[frozenset[str], list[TableSpec]] = {}
    for spec in specs:
        sets.setdefault(frozenset((*spec.dims, *(f for f, _ in spec.fixed))), []).append(spec)
    grouping = [tuple_(*(rows.c[name] for dim in used if dim in s for name in parts[dim])) for s in sets]
    stmt = select(*columns, func.grouping(*columns), func.count()).group_by(func.grouping_sets(*grouping))
    by_mask: dict[int, list[TableSpec]] = {}
    width = len(columns)
    for s, members in sets.items():
        grouped = {position[name] for dim in s for name in parts[dim]}
        by_mask[sum(1 << (width - 1 - i) for i in range(width) if i not in grouped)] = members
    out: dict[str, dict[tuple[str, ...], int]] = {spec.id: {} for spec in specs}
    for row in req.session.execute(stmt):
        mask, n = int(row[-2]), int(row[-1])

        def raw(dim: str, row: Any = row) -> Any:
            cols = [row[position[name]] for name in parts[dim]]
            return cols[0] if len(cols) == 1 else tuple(cols)

        for spec in by_mask.get(mask, ()):
            if any(str(raw(f)) != code for f, code in spec.fixed):
                continue
            key = tuple(_fold(req, d, raw(d)) if d in ORG_DIMS else str(raw(d)) for d in spec.dims)
            cells = out[spec.id]
            cells[key] = cells.get(key, 0) + n
    return out
