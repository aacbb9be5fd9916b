"""Consent to share (DOMAIN.md, consent rules 1-5): recorded per grant, specific, expiring,
withdrawable at once; under 18 it needs the caregiver plus the child's assent or a recorded
best-interest reason. Services never depend on it: it governs sharing only.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from ..access.policy import can
from ..audit.services import record
from ..directory.models import Organization
from ..enums import SECTORS
from ..errors import Conflict, InvalidInput, NotFound, refusal
from ..models_base import DbSession, new_id, utcnow
from .models import CONSENT_METHODS, FIELD_GROUPS, GIVERS, Case, Consent, MandatoryReport
from .services import _visible

DEFAULT_MONTHS = 12
MINOR_AGE_GROUPS = ("0-11", "12-17")


@dataclass
class ConsentInput:
    given_by: str = "survivor"
    method: str = ""
    organization_ids: list[str] = field(default_factory=list)
    sectors: list[str] = field(default_factory=list)
    field_groups: list[str] = field(default_factory=list)
    purpose: str = ""
    expires_at: datetime | None = None
    withheld: list[dict[str, Any]] = field(default_factory=list)
    minor_assent: bool | None = None
    best_interest_reason: str | None = None


def is_minor(case: Case) -> bool:
    return case.age_group in MINOR_AGE_GROUPS


# What a well-formed grant can still be refused for: organisations not in the directory, an
# expiry already past, a minor's consent without a caregiver or her assent (422 in the API).
CONSENT_RULES = frozenset(
    {"unknown", "must_be_future", "caregiver_required_for_minor", "assent_or_best_interest_required"}
)


def record_consent(session: DbSession, actor: Any, case_id: str, data: ConsentInput) -> Consent:
    """Record a grant of consent on a case (the case team only)."""
    case = _visible(session, actor, case_id)
    if not can(actor, "case.edit", case):
        raise NotFound("case")
    now = utcnow()
    fields: dict[str, str] = {}
    if data.given_by not in GIVERS:
        fields["given_by"] = "invalid"
    if data.method not in CONSENT_METHODS:
        fields["method"] = "required"
    if not data.organization_ids and not data.sectors:
        fields["organization_ids"] = "organisations_or_sectors_required"
    if any(s not in SECTORS for s in data.sectors):
        fields["sectors"] = "invalid"
    if data.organization_ids:
        try:
            wanted = {str(uuid.UUID(str(i))) for i in data.organization_ids}
        except ValueError:
            wanted = set()
            fields["organization_ids"] = "invalid"
        known = set(session.scalars(select(Organization.id).where(Organization.id.in_(wanted)))) if wanted else set()
        if wanted - known:
            fields["organization_ids"] = "unknown"
    if not data.field_groups or any(g not in FIELD_GROUPS for g in data.field_groups):
        fields["field_groups"] = "invalid"
    if not data.purpose.strip():
        fields["purpose"] = "required"
    expires_at = data.expires_at or now + timedelta(days=round(DEFAULT_MONTHS * 365 / 12))
    if expires_at <= now:
        fields["expires_at"] = "must_be_future"
    withheld = _clean_withheld(data.withheld, fields)
    minor = is_minor(case)
    if minor:
        if data.given_by != "caregiver":
            fields["given_by"] = "caregiver_required_for_minor"
        if not data.minor_assent and not (data.best_interest_reason or "").strip():
            fields["minor_assent"] = "assent_or_best_interest_required"
    if fields:
        raise refusal("invalid_consent", fields, CONSENT_RULES)
    consent = Consent(
        id=new_id(),
        case_id=case.id,
        organization_id=case.organization_id,
        given_by=data.given_by,
        method=data.method,
        recorded_by=actor.id,
        organization_ids=sorted(set(data.organization_ids)),
        sectors=sorted(set(data.sectors)),
        field_groups=sorted(set(data.field_groups)),
        withheld=withheld,
        purpose=data.purpose.strip()[:2000],
        expires_at=expires_at,
        minor=minor,
        minor_assent=data.minor_assent if minor else None,
        best_interest_reason=(data.best_interest_reason or "").strip() or None if minor else None,
    )
    session.add(consent)
    session.flush()
    record("consent.record", actor, consent, case_code=case.case_code, case_id=case.id, minor=minor)
    return consent


def _clean_withheld(items: Iterable[dict[str, Any]], fields: dict[str, str]) -> list[dict[str, Any]]:
    clean = []
    for item in items:
        org, groups = item.get("organization_id"), item.get("field_groups") or []
        if not isinstance(org, str) or not groups or any(g not in FIELD_GROUPS for g in groups):
            fields["withheld"] = "invalid"
            continue
        clean.append({"organization_id": org, "field_groups": sorted(set(groups))})
    return clean


def withdraw(session: DbSession, actor: Any, consent_id: str) -> Consent:
    """Withdraw a consent now (spoken is enough): no new sharing relies on it from this moment."""
    consent = session.get(Consent, consent_id)
    if consent is None:
        raise NotFound("consent")
    case = _visible(session, actor, consent.case_id)
    if not can(actor, "case.edit", case):
        raise NotFound("consent")
    if consent.withdrawn_at is not None:
        raise Conflict("already_withdrawn")
    consent.withdrawn_at, consent.withdrawn_by = utcnow(), actor.id
    record("consent.withdraw", actor, consent, case_code=case.case_code, case_id=case.id)
    return consent


def is_valid(consent: Consent, case: Case, now: datetime | None = None) -> bool:
    """In force: not withdrawn, not expired, and the case is not closed (our default rule)."""
    now = now or utcnow()
    return consent.withdrawn_at is None and consent.expires_at > now and case.status not in ("closed", "transferred")


def covers(consent: Consent, organization: Organization, field_groups: Iterable[str]) -> bool:
    """Whether the consent reaches this organisation (by name or sector) for all these groups,
    none of which the survivor asked to withhold from it."""
    groups = set(field_groups)
    reaches = organization.id in consent.organization_ids or bool(set(organization.sectors) & set(consent.sectors))
    if not reaches or not groups <= set(consent.field_groups):
        return False
    return not (groups & withheld_from(consent, organization.id))


def covers_sector(consent: Consent, sector: str, field_groups: Iterable[str]) -> bool:
    """Whether the consent reaches a provider outside the network (of this sector) for all these
    groups. Such a provider is not an organisation of the network, so only a consent by sector can
    name it, and withholding (which names organisations) does not concern it."""
    return sector in consent.sectors and set(field_groups) <= set(consent.field_groups)


def withheld_from(consent: Consent, organization_id: str) -> set[str]:
    return {g for item in consent.withheld if item["organization_id"] == organization_id for g in item["field_groups"]}


def consents(session: DbSession, case: Case) -> list[Consent]:
    return list(session.scalars(select(Consent).where(Consent.case_id == case.id).order_by(Consent.recorded_at)))


TOLD_FIRST = ("child", "caregiver", "both", "neither")


def record_mandatory_report(
    session: DbSession,
    actor: Any,
    case_id: str,
    *,
    authority: str,
    reported_on: str,
    told_first: str,
    notes: str | None = None,
) -> MandatoryReport:
    """Record a mandatory report for a child's case (the case team only)."""
    from datetime import date

    case = _visible(session, actor, case_id)
    if not can(actor, "case.edit", case):
        raise NotFound("case")
    fields: dict[str, str] = {}
    if not is_minor(case):
        fields["case"] = "only_for_children"
    if not authority.strip() or len(authority) > 200:
        fields["authority"] = "required"
    try:
        when = date.fromisoformat(reported_on)
        if when > utcnow().date():
            fields["reported_on"] = "invalid_date"
    except ValueError:
        fields["reported_on"] = "invalid_date"
    if told_first not in TOLD_FIRST:
        fields["told_first"] = "required"
    if fields:
        raise InvalidInput("invalid_report", fields=fields)
    report = MandatoryReport(
        id=new_id(),
        case_id=case.id,
        organization_id=case.organization_id,
        authority=authority.strip(),
        reported_on=reported_on,
        told_first=told_first,
        notes=(notes or "").strip()[:5000] or None,
        recorded_by=actor.id,
    )
    session.add(report)
    session.flush()
    record("case.mandatory_report", actor, case, case_code=case.case_code, report_id=report.id)
    return report


def mandatory_reports(session: DbSession, case: Case) -> list[MandatoryReport]:
    return list(
        session.scalars(
            select(MandatoryReport).where(MandatoryReport.case_id == case.id).order_by(MandatoryReport.recorded_at)
        )
    )
