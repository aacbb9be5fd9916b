"""Case transfer (DOMAIN.md): ownership of the whole case moves to another organisation. A
different act from a referral (a service request while the owner keeps the case); both need
consent.

    requested -> accepted (by a receiving supervisor, naming the new owner)
              -> declined (by a receiving supervisor, coded reason)
              -> cancelled (by the requesting side)

Asking needs a consent in force that reaches the receiving organisation for every field group
(the whole case moves), or a supervisor's override with a legal basis (flagged to auditors).
Accepting moves the case in one transaction (see `cases/ownership.py`): every value it owns
is sealed again for the new owner, the old case team leaves, and the old organisation's open
referrals for the case are withdrawn with the coded reason `transferred`; its referrals and
this transfer record stay with it as its history of the case.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, select

from ..access.policy import can, scope_transfers
from ..accounts.models import User
from ..audit.services import record, record_denial
from ..cases import consent as consent_rules
from ..cases import ownership
from ..cases.models import FIELD_GROUPS, Case, Consent
from ..cases.services import _visible as visible_case
from ..directory.models import Organization
from ..errors import Conflict, Forbidden, InvalidInput, NotFound
from ..followups import notifications
from ..models_base import DbSession, get_by_id, new_id, utcnow
from ..storage import Storage
from .models import DECLINE_REASONS, OPEN_STATES, CaseTransfer, Referral
from .services import LEGAL_BASES, ConsentRequired, InvalidTransition, _move_clocks, _record_transition, _tell

WITHDRAWN_BY_TRANSFER = "transferred"  # the coded reason on referrals a transfer withdraws
CLOSED_CASE_STATUSES = ("closed", "transferred")
NEW_OWNER_ROLES = ("caseworker", "supervisor")


@dataclass
class TransferInput:
    case_id: str
    to_organization_id: str
    reason: str
    consent_id: str | None = None
    override_legal_basis: str | None = None


# ---------------------------------------------------------------------------------- helpers
def visible(session: DbSession, actor: Any, transfer_id: str) -> CaseTransfer:
    """The transfer if the actor's organisation is a party to it and her role may see it."""
    transfer = get_by_id(session, CaseTransfer, transfer_id)
    if transfer is None or not can(actor, "transfer.view", transfer):
        record_denial(actor, "case_transfer", str(transfer_id))
        raise NotFound("transfer")
    return transfer


def pending_for(session: DbSession, case: Case) -> CaseTransfer | None:
    stmt = select(CaseTransfer).where(CaseTransfer.case_id == case.id, CaseTransfer.state == "requested")
    return session.scalar(stmt)


def _check_consent(session: DbSession, case: Case, receiver: Organization, consent_id: str | None) -> Consent:
    consent = get_by_id(session, Consent, consent_id) if consent_id else None
    if consent is None or consent.case_id != case.id:
        raise ConsentRequired("consent_required", fields={"consent_id": "required"})
    if not consent_rules.is_valid(consent, case):
        raise ConsentRequired("consent_not_valid", fields={"consent_id": "expired_or_withdrawn"})
    if not consent_rules.covers(consent, receiver, FIELD_GROUPS):
        raise ConsentRequired("consent_does_not_cover", fields={"consent_id": "not_covered_by_consent"})
    return consent


def _case_is_open(case: Case) -> None:
    if case.status in CLOSED_CASE_STATUSES or case.purged_at is not None:
        raise InvalidTransition("case_closed")


# ---------------------------------------------------------------------------------- request
def request_transfer(session: DbSession, actor: Any, data: TransferInput) -> CaseTransfer:
    """Ask another organisation to take over a case (its owner or the owning supervisors)."""
    case = visible_case(session, actor, data.case_id)
    if not can(actor, "case.transfer", case):
        raise NotFound("case")
    _case_is_open(case)
    if pending_for(session, case) is not None:
        raise Conflict("transfer_pending")
    fields: dict[str, str] = {}
    receiver = get_by_id(session, Organization, data.to_organization_id)
    if receiver is None or not receiver.active:
        fields["to_organization_id"] = "invalid"
    elif receiver.id == case.organization_id:
        fields["to_organization_id"] = "own_organization"
    elif not notifications.focal_points(session, receiver.id):
        fields["to_organization_id"] = "no_supervisor"
    reason = (data.reason or "").strip()
    if not reason:
        fields["reason"] = "required"
    if data.override_legal_basis and data.override_legal_basis not in LEGAL_BASES:
        fields["override_legal_basis"] = "invalid"
    if fields:
        raise InvalidInput("invalid_transfer", fields=fields)
    assert receiver is not None
    transfer = CaseTransfer(
        id=new_id(),
        case_id=case.id,
        case_code=case.case_code,
        from_organization_id=case.organization_id,
        to_organization_id=receiver.id,
        state="requested",
        reason=reason[:5000],
        requested_by=actor.id,
    )
    if data.override_legal_basis:
        if not can(actor, "consent.override", case):
            raise Forbidden("override_not_allowed")
        transfer.override_legal_basis = data.override_legal_basis
    else:
        transfer.consent_id = _check_consent(session, case, receiver, data.consent_id).id
    session.add(transfer)
    session.flush()
    if transfer.override_legal_basis:
        record(
            "consent.override",
            actor,
            transfer,
            case_code=case.case_code,
            legal_basis=transfer.override_legal_basis,
            to_organization_id=receiver.id,
        )
    record(
        "case.transfer_request",
        actor,
        transfer,
        case_code=case.case_code,
        case_id=case.id,
        to_organization_id=receiver.id,
        consent_id=transfer.consent_id,
    )
    message = notifications.Message(
        "case.transfer_requested", case.case_code, "transfer", transfer.id, key=f"transfer:{transfer.id}:requested"
    )
    notifications.notify(notifications.focal_points(session, receiver.id), message, session)
    return transfer


def view(session: DbSession, actor: Any, transfer_id: str) -> CaseTransfer:
    """Open a transfer for reading (its reason may be shown): audited."""
    transfer = visible(session, actor, transfer_id)
    record("case.transfer_view", actor, transfer, case_code=transfer.case_code)
    return transfer


def shows_reason(actor: Any, transfer: CaseTransfer) -> bool:
    """Whether the actor may read the transfer's reason: whoever holds the case now, and both
    sides while the transfer waits; never the old organisation once the case has gone."""
    if transfer.state == "requested":
        return True
    return bool(transfer.case.organization_id == actor.organization_id and can(actor, "case.view", transfer.case))


# ---------------------------------------------------------------------------------- answers
def cancel(session: DbSession, actor: Any, transfer_id: str) -> CaseTransfer:
    """The requesting side withdraws its request while it waits."""
    transfer = visible(session, actor, transfer_id)
    if not can(actor, "transfer.cancel", transfer):
        raise Forbidden("only_the_requesting_side")
    if transfer.state != "requested":
        raise InvalidTransition("invalid_transition")
    transfer.state, transfer.answered_by, transfer.answered_at = "cancelled", actor.id, utcnow()
    record("case.transfer_cancel", actor, transfer, case_code=transfer.case_code, case_id=transfer.case_id)
    return transfer


def decline(session: DbSession, actor: Any, transfer_id: str, reason_code: str | None) -> CaseTransfer:
    """A receiving supervisor refuses the case, with a coded reason; nothing else changes."""
    transfer = visible(session, actor, transfer_id)
    if not can(actor, "transfer.answer", transfer):
        raise Forbidden("only_the_receiver")
    if transfer.state != "requested":
        raise InvalidTransition("invalid_transition")
    if reason_code not in DECLINE_REASONS:
        raise InvalidInput("invalid_decline", fields={"reason_code": "required"})
    transfer.state, transfer.answered_by, transfer.answered_at = "declined", actor.id, utcnow()
    transfer.decline_reason = reason_code
    record("case.transfer_decline", actor, transfer, case_code=transfer.case_code, reason_code=reason_code)
    _tell_requester(session, transfer)
    return transfer


def accept(
    session: DbSession, actor: Any, transfer_id: str, new_owner_id: str, *, storage: Storage | None = None
) -> CaseTransfer:
    """A receiving supervisor takes the case over, naming its new owner among her organisation's
    case staff. Everything is checked before anything changes; the move itself is one
    transaction with the caller's (files included: see `cases/documents.move_files`)."""
    transfer = visible(session, actor, transfer_id)
    if not can(actor, "transfer.answer", transfer):
        raise Forbidden("only_the_receiver")
    if transfer.state != "requested":
        raise InvalidTransition("invalid_transition")
    case = session.get(Case, transfer.case_id)
    assert case is not None
    if case.organization_id != transfer.from_organization_id:
        raise InvalidTransition("case_moved_meanwhile")
    _case_is_open(case)
    owner = get_by_id(session, User, new_owner_id)
    if (
        owner is None
        or not owner.active
        or owner.organization_id != transfer.to_organization_id
        or owner.role not in NEW_OWNER_ROLES
    ):
        raise InvalidInput("invalid_new_owner", fields={"new_owner_id": "invalid"})
    if not transfer.override_legal_basis:  # a consent withdrawn meanwhile stops the transfer
        receiver = session.get(Organization, transfer.to_organization_id)
        assert receiver is not None
        _check_consent(session, case, receiver, transfer.consent_id)

    withdrawn = _withdraw_open_referrals(session, actor, case, transfer)
    moved = ownership.move_case(session, actor, case, transfer.to_organization_id, owner.id, storage=storage)
    now = utcnow()
    transfer.state, transfer.answered_by, transfer.answered_at = "accepted", actor.id, now
    transfer.new_owner_id = owner.id
    session.flush()
    record(
        "case.transfer",
        actor,
        case,
        case_code=case.case_code,
        transfer_id=transfer.id,
        from_organization_id=transfer.from_organization_id,
        to_organization_id=transfer.to_organization_id,
        new_owner_id=owner.id,
        referrals_withdrawn=len(withdrawn),
        values_moved=sum(moved.values()),
    )
    _tell_requester(session, transfer)
    return transfer


def _withdraw_open_referrals(session: DbSession, actor: Any, case: Case, transfer: CaseTransfer) -> list[Referral]:
    """The old owner's referrals for the case that are still open end with the transfer: the
    receiving organisations lose access, and the records stay the old owner's history."""
    stmt = select(Referral).where(
        Referral.case_id == case.id,
        Referral.from_organization_id == transfer.from_organization_id,
        Referral.state.in_(("draft", *OPEN_STATES)),
    )
    ended = list(session.scalars(stmt))
    now = utcnow()
    for referral in ended:
        previous = referral.state
        _record_transition(session, actor, referral, "withdrawn", WITHDRAWN_BY_TRANSFER)
        referral.closed_at = now
        _move_clocks(session, referral, previous, "withdrawn", now)
        record(
            "referral.withdraw",
            actor,
            referral,
            case_code=referral.case_code,
            reason_code=WITHDRAWN_BY_TRANSFER,
            transfer_id=transfer.id,
        )
        if previous != "draft" and referral.to_organization_id is not None:  # outside the network: no one to tell
            told = notifications.focal_points(session, referral.to_organization_id)
            _tell(session, referral, "withdrawn", told + ([referral.assigned_to] if referral.assigned_to else []))
    return ended


def _tell_requester(session: DbSession, transfer: CaseTransfer) -> None:
    message = notifications.Message(
        "case.transfer_answered",
        transfer.case_code,
        "transfer",
        transfer.id,
        key=f"transfer:{transfer.id}:{transfer.state}",
    )
    notifications.notify([transfer.requested_by], message, session)


# ---------------------------------------------------------------------------------- lists
def scope(actor: Any, box: str) -> Select[Any]:
    """Transfers to the actor's organisation (incoming) or from it (outgoing) she may see (the
    rule is the policy's `scope_transfers`)."""
    return scope_transfers(actor, box)


def listing(session: DbSession, actor: Any, box: str) -> list[CaseTransfer]:
    if box not in ("incoming", "outgoing") or not can(actor, "referral.list"):
        raise NotFound("box")
    stmt = scope(actor, box).order_by(CaseTransfer.requested_at.desc()).limit(200)
    rows = list(session.scalars(stmt))
    record("case.transfer_list", actor, None, organization_id=actor.organization_id, box=box, count=len(rows))
    return rows


def history_only(referral: Referral) -> bool:
    """A referral whose case its sender has transferred away: the sender keeps the record
    (codes, dates, states) but none of the survivor's data, its free text included."""
    return bool(referral.case.organization_id != referral.from_organization_id)
