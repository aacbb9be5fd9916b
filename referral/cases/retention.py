"""Retention: a case closed longer ago than the retention period loses everything but its
statistics.

Purging a case sets every encrypted column of the case file to NULL and blanks its blind
indexes, deletes its notes and documents (the rows at once, the stored files after the commit),
and clears the narrative of its incidents (their GBV
type, contexts, month and perpetrator relationship stay, as do the case's statistical columns,
dates, steps and team). `purged_at` records when. Each purged case writes a `case.purge` audit
event with ids and the case code only.

The work is done with UPDATE/DELETE statements, without loading (or decrypting) the values it
erases, so a case whose key is already gone is purged like any other. Cases are taken in
batches; each batch re-checks, in its UPDATE, that the case is still closed and unpurged, so a
case reopened meanwhile is left alone. Running it again finds nothing to do.

Other domains that keep case data of their own (referrals, for instance) register a hook with
`on_purge`; it is called with the ids of each batch of purged cases, inside the same
transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, inspect, select, update

from ..audit.services import record
from ..models_base import DbSession, utcnow
from ..security.fields import encrypted_attributes
from .documents import purge_documents
from .models import Case, CaseNote, Incident

PurgeHook = Callable[[DbSession, list[str]], None]
_HOOKS: list[PurgeHook] = []


def on_purge(hook: PurgeHook) -> PurgeHook:
    """Register `hook(session, case_ids)`, run for every batch of purged cases (usable as a decorator)."""
    if hook not in _HOOKS:
        _HOOKS.append(hook)
    return hook


@dataclass(frozen=True)
class _CaseRef:
    """What the audit record needs to name a case, without loading it."""

    __tablename__ = "case_file"

    id: str
    organization_id: str


def retention_cutoff(now: datetime, years: int) -> datetime:
    """The same instant `years` calendar years before `now` (29 February becomes the 28th)."""
    try:
        return now.replace(year=now.year - years)
    except ValueError:
        return now.replace(year=now.year - years, day=28)


def purge_closed_cases(
    session: DbSession,
    now: datetime | None = None,
    years: int | None = None,
    *,
    batch_size: int = 200,
    commit: Callable[[], None] | None = None,
) -> int:
    """Purge every case closed more than `years` ago (default: the `retention_years` setting).

    Flushes, and calls `commit` after each batch when given (the Celery task passes the
    session's commit so that a long run keeps its progress). Returns how many cases it purged.
    """
    if now is None:
        now = utcnow()
    if now.tzinfo is None:
        raise ValueError("purge_closed_cases needs an aware datetime")
    if years is None:
        from ..runtime import runtime

        years = runtime().settings.retention_years
    if years < 1:
        raise ValueError("the retention period is at least one year")
    if batch_size < 1:
        raise ValueError("batch_size must be positive")

    cutoff = retention_cutoff(now, years)
    due = (Case.status == "closed") & Case.closed_at.is_not(None) & (Case.closed_at < cutoff) & Case.purged_at.is_(None)
    erased: dict[str, Any] = {attribute: None for attribute in encrypted_attributes(inspect(Case))}
    erased.update(national_id_index=None, phone_index=None, purged_at=now, version=Case.version + 1)

    total = 0
    while True:
        candidates = list(
            session.scalars(select(Case.id).where(due).order_by(Case.closed_at, Case.id).limit(batch_size))
        )
        if not candidates:
            break
        purged = session.execute(
            update(Case)
            .where(Case.id.in_(candidates), due)
            .values(erased)
            .returning(Case.id, Case.case_code, Case.organization_id),
            execution_options={"synchronize_session": "fetch"},
        ).all()
        ids = [str(row.id) for row in purged]
        if ids:
            _purge_dependents(session, ids)
            for row in purged:
                record(
                    "case.purge",
                    None,
                    _CaseRef(str(row.id), str(row.organization_id)),
                    case_code=row.case_code,
                    session=session,
                )
            session.flush()
        total += len(ids)
        if commit is not None:
            commit()
    return total


def _purge_dependents(session: DbSession, case_ids: list[str]) -> None:
    fetch = {"synchronize_session": "fetch"}
    session.execute(delete(CaseNote).where(CaseNote.case_id.in_(case_ids)), execution_options=fetch)
    incident_values = dict.fromkeys(encrypted_attributes(inspect(Incident)))  # the narrative
    session.execute(
        update(Incident).where(Incident.case_id.in_(case_ids)).values(incident_values), execution_options=fetch
    )
    purge_documents(session, case_ids)  # rows now, stored files once the transaction commits
    for hook in _HOOKS:
        hook(session, case_ids)
