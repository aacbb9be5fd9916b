"""Who may see which numbers, and the numbers themselves: every table of a view is counted by
SQL, protected together with everything shown beside it (disclosure.py), and only then turned
into what pages, exports and the API show. Nothing shows a count that did not pass through
`protect`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from itertools import product
from typing import Any

from sqlalchemy import delete, select

from ..audit.services import record
from ..directory.models import Network, NetworkMembership, Organization
from ..enums import SECTORS
from ..errors import DomainError, Forbidden, NotFound, refusal
from ..models_base import DbSession, utcnow
from ..runtime import runtime
from .disclosure import Protected, Table, protect, suppressed_label
from .indicators import DIMENSIONS, INDICATORS, TABLES, Derived, TableSpec, tables_for
from .queries import Lookups, Request, Scope, Window, all_counts, quantiles

STATS_ROLES = ("coordinator", "org_admin", "supervisor")
MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
MAX_MONTHS = 36
SNAPSHOT_READ_DAYS = 7  # a snapshot read within this many days is kept counted by the worker
# what no schema can say about a period (a 422 when these are the only problems)
PERIOD_RULES = frozenset({"before_from", "period_too_long", "too_early"})
CodeKey = tuple[str | None, ...]  # a category per dimension; None is the margin ("all")


# ------------------------------------------------------------------------------- who sees what
def governorates(session: DbSession) -> list[str]:
    return list(
        session.scalars(select(Network.governorate).where(Network.active.is_(True)).order_by(Network.governorate))
    )


def may_compute(actor: Any) -> bool:
    """Coordinators (their network, or every network for the national coordinator) and an
    organisation's admins and supervisors (their own organisation) see live numbers; everyone
    else reads published releases only."""
    return getattr(actor, "role", None) in STATS_ROLES


def scope_for(session: DbSession, actor: Any, network: str | None = None) -> Scope:
    """The scope the actor asks for, if she may see it: a network's governorate code, "national"
    or nothing (her default)."""
    role = getattr(actor, "role", None)
    if role == "coordinator":
        if actor.network_id is not None:  # her own network only
            own = session.get(Network, actor.network_id)
            if own is None or (network not in (None, "", own.governorate)):
                raise NotFound("network")
            return Scope("network", (own.governorate,), network_id=own.id)
        known = governorates(session)
        if network in (None, "", "national"):
            return Scope("national", tuple(known))
        if network not in known:
            raise NotFound("network")
        found = session.scalar(select(Network).where(Network.governorate == network))
        return Scope("network", (network,), network_id=found.id if found else None)
    if role in ("org_admin", "supervisor"):
        if network not in (None, ""):
            raise NotFound("network")
        return Scope("organization", organization_id=actor.organization_id)
    raise Forbidden("statistics.view")


def parse_window(first: str | None, last: str | None, today: date | None = None) -> Window:
    """Whole months from `first` to `last` (YYYY-MM); by default this year up to this month."""
    today = today or utcnow().date()
    fields: dict[str, str] = {}

    def month(value: str | None, name: str, default: date) -> date:
        if value in (None, ""):
            return default
        m = MONTH.match(str(value))
        if not m:
            fields[name] = "invalid_month"
            return default
        return date(int(m.group(1)), int(m.group(2)), 1)

    start = month(first, "from", date(today.year, 1, 1))
    end = month(last, "to", date(today.year, today.month, 1))
    if not fields and end < start:
        fields["to"] = "before_from"
    if not fields:
        window = Window(start, end)
        if len(window.months) > MAX_MONTHS:
            fields["to"] = "period_too_long"
        elif start.year < 2000:
            fields["from"] = "too_early"
    if fields:
        raise refusal("invalid_period", fields, PERIOD_RULES)
    return Window(start, end)


def period_window(kind: str, year: int, part: int = 1) -> Window:
    """A calendar month, quarter or year."""
    if kind == "month":
        return Window(date(year, part, 1), date(year, part, 1))
    if kind == "quarter":
        return Window(date(year, 3 * part - 2, 1), date(year, 3 * part, 1))
    return Window(date(year, 1, 1), date(year, 12, 1))


# ------------------------------------------------------------------------------- shown numbers
@dataclass
class ShownTable:
    """One protected table as it may be shown: `shown[key]` is a count, or None when hidden."""

    spec: TableSpec
    role: str  # "current" or "previous"
    period: tuple[str, str]
    categories: dict[str, list[str]]
    fixed: dict[str, str]
    shown: dict[CodeKey, int | None]

    @property
    def dims(self) -> tuple[str, ...]:
        return self.spec.dims

    def value(self, *codes: str | None) -> int | None:
        return self.shown.get(tuple(codes))

    def rows(self) -> list[str | None]:
        return [*self.categories[self.dims[0]], None] if self.dims else [None]

    def columns(self) -> list[str | None]:
        return [*self.categories[self.dims[1]], None] if len(self.dims) > 1 else []


@dataclass
class DerivedValues:
    spec: Derived
    role: str
    values: dict[str | None, float | None]


@dataclass
class View:
    scope: Scope
    window: Window
    previous: Window | None
    threshold: int
    generated_at: datetime
    sector: str | None = None
    tables: dict[tuple[str, str], ShownTable] = field(default_factory=dict)
    derived: dict[tuple[str, str], DerivedValues] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return suppressed_label(self.threshold)

    def table(self, table_id: str, role: str = "current") -> ShownTable | None:
        return self.tables.get((table_id, role))

    def derived_for(self, derived_id: str, role: str = "current") -> DerivedValues | None:
        return self.derived.get((derived_id, role))


def _categories(spec: TableSpec, window: Window, all_governorates: Sequence[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for dim in spec.dims:
        if dim == "month":
            out[dim] = window.months
        elif dim == "governorate":
            out[dim] = list(all_governorates)
        else:
            out[dim] = list(DIMENSIONS[dim].categories)
    return out


def _full_cells(
    counts: dict[tuple[str, ...], int], categories: dict[str, list[str]], dims: Sequence[str]
) -> dict[CodeKey, int]:
    """Every cell and every margin of a table of zero to two dimensions."""
    cells: dict[CodeKey, int] = {}
    for combo in product(*(categories[d] for d in dims)):
        cells[tuple(combo)] = 0
    for raw, n in counts.items():
        fixed = tuple(
            c if c in categories[d] else ("unknown" if "unknown" in categories[d] else c)
            for c, d in zip(raw, dims, strict=True)
        )
        if fixed in cells:
            cells[fixed] += n
    if not dims:
        return {(): sum(counts.values())}
    full: dict[CodeKey, int] = dict(cells)
    for margin_mask in product((False, True), repeat=len(dims)):
        if not any(margin_mask):
            continue
        for cell_key, n in cells.items():
            margin: CodeKey = tuple(None if m else c for c, m in zip(cell_key, margin_mask, strict=True))
            full[margin] = full.get(margin, 0) + n
    return full


def _engine_key(dims: Sequence[str], key: CodeKey) -> frozenset[tuple[str, str]]:
    return frozenset((d, c) for d, c in zip(dims, key, strict=True) if c is not None)


def _code_key(dims: Sequence[str], key: frozenset[tuple[str, str]]) -> CodeKey:
    as_dict = dict(key)
    return tuple(as_dict.get(d) for d in dims)


def _to_table(
    spec: TableSpec,
    role: str,
    window: Window,
    categories: dict[str, list[str]],
    fixed: dict[str, str],
    cells: dict[CodeKey, int],
) -> Table:
    return Table(
        id=f"{spec.id}@{role}",
        measure=spec.measure,
        dims=spec.dims,
        categories=categories,
        period=window.label,
        cells={_engine_key(spec.dims, k): v for k, v in cells.items()},
        fixed=fixed,
    )


def compute(
    session: DbSession,
    actor: Any,
    scope: Scope,
    window: Window,
    *,
    sector: str | None = None,
    compare: bool = True,
    indicator_ids: Iterable[str] | None = None,
    audit_action: str | None = "statistics.view",
    now: datetime | None = None,
    with_published: bool = False,
) -> View:
    """Count, protect together, derive. `compare` adds the previous period of the same length,
    protected with the current one (they are shown side by side). `with_published` protects the
    numbers together with every published release of an overlapping period (a release does; a
    live page of one's own network or organisation does not: it does not leave it)."""
    settings = runtime().settings
    threshold = int(settings.statistics_threshold)
    now = now or utcnow()
    wanted = set(indicator_ids) if indicator_ids is not None else None
    specs = [s for s in tables_for(scope.kind) if wanted is None or _indicator_of(s.id) in wanted]
    if sector:  # only organisations of one main sector: its own breakdown says nothing more
        specs = [s for s in specs if not {"sector", "from_sector"} & set(s.dims)]
    lookups = Lookups.load(session)
    all_govs = governorates(session)
    windows = {"current": window}
    if compare:
        windows["previous"] = window.previous()
    pending: list[tuple[TableSpec, str, Window, dict[str, list[str]], dict[str, str]]] = []
    tables: list[Table] = []
    for role, w in windows.items():
        req = Request(session, scope, w, now, lookups, sector)
        # open referrals past target are a snapshot of now, not of a period
        mine = [s for s in specs if role == "current" or s.measure != "referrals_open_late"]
        counts = all_counts(req, mine)
        for spec in mine:
            categories = _categories(spec, w, all_govs)
            fixed = {**scope.fixed, **dict(spec.fixed)}
            if sector:
                fixed["from_sector" if spec.measure.startswith("referrals") else "sector"] = sector
            cells = _full_cells(counts[spec.id], categories, spec.dims)
            pending.append((spec, role, w, categories, fixed))
            tables.append(_to_table(spec, role, w, categories, fixed, cells))
    context = published_context(session, scope, [*windows.values()]) if with_published and not sector else []
    protected = protect(tables, threshold, context=context, complete_dims={"governorate": all_govs})
    view = View(scope, window, windows.get("previous"), threshold, now, sector)
    for (spec, role, w, categories, fixed), result in zip(pending, protected, strict=True):
        shown = {_code_key(spec.dims, k): v for k, v in result.shown.items()}
        view.tables[(spec.id, role)] = ShownTable(spec, role, w.label, categories, fixed, shown)
    for role, w in windows.items():
        _derive(session, view, role, Request(session, scope, w, now, lookups, sector), wanted)
    if audit_action:
        _record_view(audit_action, actor, scope, window, sector)
    return view


def _record_view(action: str, actor: Any, scope: Scope, window: Window, sector: str | None) -> None:
    """The audit event of a view or an export of live numbers: the scope and period, no number."""
    record(
        action,
        actor,
        None,
        scope=scope.kind,
        network=scope.governorates[0] if scope.kind == "network" else None,
        period=f"{window.label[0]}..{window.label[1]}",
        sector=sector,
    )


def _indicator_of(table_id: str) -> str:
    from .indicators import TABLE_INDICATOR

    return TABLE_INDICATOR[table_id].id


def _derive(session: DbSession, view: View, role: str, req: Request, wanted: set[str] | None) -> None:
    t = view.threshold
    cache: dict[str, dict[str, dict[float, float]]] = {}
    for indicator in INDICATORS:
        if wanted is not None and indicator.id not in wanted:
            continue
        for d in indicator.derived:
            table = view.table(d.table, role)
            if table is None:
                continue
            by_values: list[str | None] = [*table.categories[d.by]] if d.by else [None]
            values: dict[str | None, float | None] = {}
            for b in by_values:
                values[b] = _one_derived(session, d, table, b, t, req, cache)
            view.derived[(d.id, role)] = DerivedValues(d, role, values)


def _cells_over(table: ShownTable, d: Derived, by_value: str | None, categories: Sequence[str]) -> int | None:
    """The sum of the shown cells of `categories` of `d.over` (at `by_value`), or None if any is hidden."""
    total = 0
    for c in categories:
        key = tuple(by_value if dim == d.by else c if dim == d.over else None for dim in table.dims)
        v = table.shown.get(key)
        if v is None:
            return None
        total += v
    return total


def _one_derived(
    session: DbSession, d: Derived, table: ShownTable, by_value: str | None, t: int, req: Request, cache: dict[str, Any]
) -> float | None:
    numerator = _cells_over(table, d, by_value, d.numerator)
    if d.kind == "percent":
        if d.denominator:
            denominator = _cells_over(table, d, by_value, d.denominator)
        else:
            denominator = table.shown.get(tuple(by_value if dim == d.by else None for dim in table.dims))
        if numerator is None or denominator is None or denominator < t:
            return None
        return round(100.0 * numerator / denominator, 1)
    # a median or a percentile: shown only when the count it rests on is shown and large enough
    if numerator is None or numerator < t:
        return None
    which = "response" if d.id.startswith("response") else "completion"
    if which not in cache:
        cache[which] = quantiles(req, which)
    q = 0.9 if d.id.endswith("p90") else 0.5
    return cache[which].get(str(by_value), {}).get(q)


# ------------------------------------------------------------------------------- payloads
def cell_value(value: int | None, label: str) -> int | str:
    return label if value is None else value


def to_payload(view: View) -> dict[str, Any]:
    """The view as JSON: the API's answer and a release's frozen numbers. Every number is a
    `count` (0, at least the threshold, or the suppression label), a `percent`, a `median` or a
    `p90` (null when it rests on fewer than the threshold or on a hidden count)."""
    label = view.label
    tables = []
    for (table_id, role), table in view.tables.items():
        tables.append(
            {
                "id": table_id,
                "indicator": _indicator_of(table_id),
                "period": role,
                "from": table.period[0],
                "to": table.period[1],
                "measure": table.spec.measure,
                "dims": list(table.dims),
                "fixed": {k: v for k, v in table.fixed.items() if k not in ("organization",)},
                "categories": table.categories,
                "cells": [
                    {
                        "key": {d: c for d, c in zip(table.dims, key, strict=True) if c is not None},
                        "count": cell_value(v, label),
                    }
                    for key, v in table.shown.items()
                ],
            }
        )
    derived = []
    for (derived_id, role), values in view.derived.items():
        field_name = {"percent": "percent"}.get(values.spec.kind, "p90" if derived_id.endswith("p90") else "median")
        derived.append(
            {
                "id": derived_id,
                "indicator": _indicator_of(values.spec.table),
                "period": role,
                "kind": "p90" if field_name == "p90" else values.spec.kind,
                "by": values.spec.by,
                "values": [
                    {"key": {values.spec.by: b} if values.spec.by else {}, field_name: v}
                    for b, v in values.values.items()
                ],
            }
        )
    scope = view.scope
    return {
        "threshold": view.threshold,
        "suppressed_label": label,
        "scope": {
            "kind": scope.kind,
            "network": scope.governorates[0] if scope.kind == "network" else None,
        },
        "from": view.window.label[0],
        "to": view.window.label[1],
        "previous": {"from": view.previous.label[0], "to": view.previous.label[1]} if view.previous else None,
        "sector": view.sector,
        "generated_at": view.generated_at.isoformat(),
        "tables": tables,
        "derived": derived,
    }


def from_payload(payload: dict[str, Any]) -> View:
    """A stored release read back for display: the same shape as a freshly computed view."""
    threshold = int(payload["threshold"])
    scope_info = payload.get("scope") or {}
    kind = scope_info.get("kind", "network")
    scope = Scope(kind, (scope_info["network"],) if scope_info.get("network") else ())
    first, last = payload["from"], payload["to"]
    window = Window(date.fromisoformat(first + "-01"), date.fromisoformat(last + "-01"))
    prev = payload.get("previous")
    previous = (
        Window(date.fromisoformat(prev["from"] + "-01"), date.fromisoformat(prev["to"] + "-01")) if prev else None
    )
    view = View(
        scope, window, previous, threshold, datetime.fromisoformat(payload["generated_at"]), payload.get("sector")
    )
    for t in payload["tables"]:
        spec = TABLES.get(t["id"])
        if spec is None:
            continue
        shown: dict[CodeKey, int | None] = {}
        for cell in t["cells"]:
            key = tuple(cell["key"].get(d) for d in spec.dims)
            shown[key] = cell["count"] if isinstance(cell["count"], int) else None
        view.tables[(t["id"], t["period"])] = ShownTable(
            spec, t["period"], (t["from"], t["to"]), t["categories"], t.get("fixed") or {}, shown
        )
    derived_specs = {d.id: d for i in INDICATORS for d in i.derived}
    for d in payload.get("derived", []):
        spec_d = derived_specs.get(d["id"])
        if spec_d is None:
            continue
        name = "percent" if spec_d.kind == "percent" else ("p90" if d["id"].endswith("p90") else "median")
        values = {(v["key"].get(spec_d.by) if spec_d.by else None): v.get(name) for v in d["values"]}
        view.derived[(d["id"], d["period"])] = DerivedValues(spec_d, d["period"], values)
    return view


# ------------------------------------------------------------------------------- context
def scope_key(scope: Scope) -> str:
    if scope.kind == "organization":
        return f"organization:{scope.organization_id}"
    return "national" if scope.kind == "national" else f"network:{scope.governorates[0]}"


def published_context(session: DbSession, scope: Scope, windows: Sequence[Window]) -> list[Protected]:
    """Every published release (current or superseded: both were public) that a user of this
    scope may also hold and whose period overlaps: the new numbers are protected with them."""
    if scope.kind == "organization":
        return []
    from .models import StatisticsRelease

    keys = {"national", *(f"network:{g}" for g in scope.governorates)}
    first = min(w.label[0] for w in windows)
    last = max(w.label[1] for w in windows)
    rows = session.scalars(
        select(StatisticsRelease).where(
            StatisticsRelease.scope_key.in_(sorted(keys)),
            StatisticsRelease.published_at.is_not(None),
            StatisticsRelease.period_first <= last,
            StatisticsRelease.period_last >= first,
        )
    )
    out: list[Protected] = []
    for release in rows:
        out += protected_from_payload(release.payload, prefix=release.id)
    return out


def protected_from_payload(payload: dict[str, Any], prefix: str = "") -> list[Protected]:
    """The public face of stored tables: what was shown, with hidden cells unknown."""
    out: list[Protected] = []
    for t in payload["tables"]:
        dims = tuple(t["dims"])
        shown = {frozenset(c["key"].items()): (c["count"] if isinstance(c["count"], int) else None) for c in t["cells"]}
        fixed = dict(t.get("fixed") or {})
        if (payload.get("scope") or {}).get("network"):
            fixed.setdefault("governorate", payload["scope"]["network"])
        table = Table(
            id=f"{prefix}:{t['id']}@{t['period']}",
            measure=t["measure"],
            dims=dims,
            categories=t["categories"],
            period=(t["from"], t["to"]),
            cells={k: (v if v is not None else 0) for k, v in shown.items()},
            fixed=fixed,
        )
        out.append(Protected(table=table, shown=shown))
    return out


def network_members(session: DbSession, scope: Scope) -> list[str]:
    """The organisations whose agreement a release of this scope needs: every member
    organisation with an active administrator to answer for it."""
    from ..accounts.models import User

    admins = select(User.organization_id).where(User.role == "org_admin", User.active.is_(True))
    stmt = select(NetworkMembership.organization_id).distinct().where(NetworkMembership.organization_id.in_(admins))
    if scope.kind == "network":
        stmt = stmt.join(Network, Network.id == NetworkMembership.network_id).where(
            Network.governorate == scope.governorates[0]
        )
    return [str(x) for x in session.scalars(stmt)]


def member_networks(session: DbSession, organization_id: str) -> list[str]:
    """The governorate codes of the networks an organisation belongs to."""
    stmt = (
        select(Network.governorate)
        .join(NetworkMembership, NetworkMembership.network_id == Network.id)
        .where(NetworkMembership.organization_id == organization_id)
    )
    return list(session.scalars(stmt))


# ------------------------------------------------------------------------------- snapshots
def snapshot_key(scope: Scope, window: Window, sector: str | None, compare: bool = False) -> str:
    return f"{scope_key(scope)}|{window.label[0]}|{window.label[1]}|{sector or '-'}|{'compare' if compare else 'alone'}"


def live(
    session: DbSession,
    actor: Any,
    scope: Scope,
    window: Window,
    *,
    sector: str | None = None,
    compare: bool = False,
    audit_action: str = "statistics.view",
    now: datetime | None = None,
    read: DbSession | None = None,
) -> tuple[View, dict[str, Any]]:
    """A live view and its payload: the stored snapshot while it is fresh (`STATISTICS_SNAPSHOT_SECONDS`),
    else counted and protected now and stored. Audited either way. `read`: where the counting
    queries run (the read replica, replica.reporting); the snapshot and the audit event are
    read and written in `session`."""
    from .models import StatisticsSnapshot

    now = now or utcnow()
    key = snapshot_key(scope, window, sector, compare)
    fresh_after = now.timestamp() - int(runtime().settings.statistics_snapshot_seconds)
    found = session.get(StatisticsSnapshot, key)
    if found is not None and found.computed_at.timestamp() >= fresh_after:
        payload = found.payload
        view = from_payload(payload)
        view.scope = scope
        if found.read_at is None or found.read_at < now - timedelta(hours=1):
            found.read_at = now  # the worker keeps refreshing what is read (at most one write an hour)
    else:
        counted_in = read if read is not None else session
        view = compute(counted_in, actor, scope, window, sector=sector, compare=compare, audit_action=None, now=now)
        payload = to_payload(view)
        store_snapshot(session, key, payload, now, read=True)
    _record_view(audit_action, actor, scope, window, sector)
    return view, payload


def store_snapshot(session: DbSession, key: str, payload: dict[str, Any], now: datetime, read: bool = False) -> None:
    """Insert or replace one snapshot (two requests computing at once: the later one wins).
    `read`: a user asked for it now (the worker's own refresh is not a read)."""
    from sqlalchemy.exc import IntegrityError

    from .models import StatisticsSnapshot

    def update(found: StatisticsSnapshot) -> None:
        found.payload, found.computed_at = payload, now
        if read:
            found.read_at = now

    found = session.get(StatisticsSnapshot, key)
    if found is not None:
        update(found)
        return
    try:
        with session.begin_nested():
            session.add(StatisticsSnapshot(key=key, payload=payload, computed_at=now, read_at=now if read else None))
    except IntegrityError:
        found = session.get(StatisticsSnapshot, key)
        if found is not None:
            update(found)


def default_window(today: date | None = None) -> Window:
    """What a page shows when no period is asked: this year up to this month."""
    return parse_window(None, None, today)


def quick_windows(today: date) -> dict[str, Window]:
    """The usual reporting periods, offered as links on the page: last month, this quarter so
    far, last quarter, this year so far (the default), last year, and the last twelve whole months."""
    this_month = date(today.year, today.month, 1)
    y, m, q = today.year, today.month, (today.month - 1) // 3 + 1
    last_month = Window(this_month, this_month).previous()
    py, pq = (y, q - 1) if q > 1 else (y - 1, 4)
    return {
        "last_month": last_month,
        "this_quarter": Window(period_window("quarter", y, q).first, this_month),
        "last_quarter": period_window("quarter", py, pq),
        "this_year": default_window(today),
        "last_year": period_window("year", y - 1),
        "last_12_months": Window(date(y - 1, m, 1), last_month.first),
    }


def usual_windows(today: date) -> list[Window]:
    """The periods the worker keeps counted: every quick period, each once."""
    return list(dict.fromkeys(quick_windows(today).values()))


def refresh_snapshots(session: DbSession, now: datetime | None = None, commit: Callable[[], None] | None = None) -> int:
    """The worker's refresh: each network's and the national view of every usual period
    (`usual_windows`), and every other snapshot someone read in the last `SNAPSHOT_READ_DAYS`
    days (an organisation's page, a custom period, a sector, a comparison) once it is half its
    freshness old. Snapshots not read for that long are dropped. `commit` runs after each one,
    so no write lock is held across the whole refresh. Returns how many were stored."""
    from .models import StatisticsSnapshot

    now = now or utcnow()
    known = governorates(session)
    scopes = [Scope("national", tuple(known))]
    for governorate in known:
        network = session.scalar(select(Network).where(Network.governorate == governorate))
        scopes.append(Scope("network", (governorate,), network_id=network.id if network else None))
    wanted: dict[str, tuple[Scope, Window, str | None, bool]] = {
        snapshot_key(scope, window, None): (scope, window, None, False)
        for window in usual_windows(now.date())
        for scope in scopes
    }
    recently = now - timedelta(days=SNAPSHOT_READ_DAYS)
    half_fresh = now - timedelta(seconds=int(runtime().settings.statistics_snapshot_seconds) // 2)
    dropped: list[str] = []
    stored_at = select(StatisticsSnapshot.key, StatisticsSnapshot.read_at, StatisticsSnapshot.computed_at)
    for key, read_at, computed_at in session.execute(stored_at).all():  # not the payloads
        if key in wanted:
            continue
        parsed = _parse_snapshot_key(session, key, known)
        if (read_at or computed_at) < recently or parsed is None:
            dropped.append(key)
        elif computed_at < half_fresh:
            wanted[key] = parsed
    if dropped:
        session.execute(delete(StatisticsSnapshot).where(StatisticsSnapshot.key.in_(dropped)))
    if commit:
        commit()
    stored = 0
    for key, (scope, window, sector, compare) in wanted.items():
        view = compute(session, None, scope, window, sector=sector, compare=compare, audit_action=None, now=now)
        store_snapshot(session, key, to_payload(view), now)
        stored += 1
        if commit:
            commit()
    return stored


def _parse_snapshot_key(
    session: DbSession, key: str, known: Sequence[str]
) -> tuple[Scope, Window, str | None, bool] | None:
    """The view a snapshot key names (`snapshot_key`), or None if it names one that no longer exists."""
    parts = key.split("|")
    if len(parts) != 5:
        return None
    where, first, last, sector, compare = parts
    try:
        window = parse_window(first, last)
    except DomainError:
        return None
    if where == "national":
        scope = Scope("national", tuple(known))
    elif where.startswith("network:") and where[8:] in known:
        network = session.scalar(select(Network).where(Network.governorate == where[8:]))
        scope = Scope("network", (where[8:],), network_id=network.id if network else None)
    elif where.startswith("organization:") and session.get(Organization, where[13:]) is not None:
        scope = Scope("organization", organization_id=where[13:])
    else:
        return None
    if sector != "-" and sector not in SECTORS:
        return None
    return scope, window, None if sector == "-" else sector, compare == "compare"
