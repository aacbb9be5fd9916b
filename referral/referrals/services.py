"""The referral state machine (DOMAIN.md, "Referral lifecycle"): who may make each transition,
what it requires, what it records. Every transition is a row; sending needs a valid consent
that covers the receiving organisation and every shared field group, or an override with a
legal basis by a user allowed to make one (flagged to auditors).

    draft -> sent -> accepted | declined (coded reason)
    accepted -> in_progress -> completed (outcome) | closed_unresolved (reason)
    draft, sent, accepted, in_progress -> withdrawn (by the sending side)

A referral to a provider outside the network (`external`) follows the same consent rules, by the
provider's sector, and the same states; but nobody on Shabaka receives it, so the sending side
records every step of its follow-up by hand, each with a note, and nobody is notified.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, func, not_, or_, select

from ..access.policy import can, referral_box, scope_referrals
from ..audit.services import record, record_denial
from ..cases import consent as consent_rules
from ..cases.models import FIELD_GROUPS, Case, Consent
from ..cases.services import _visible as visible_case
from ..directory.models import Organization
from ..enums import SECTORS
from ..errors import Conflict, Forbidden, InvalidInput, NotFound, PreconditionFailed, RuleRefused, refusal
from ..followups import clocks, notifications
from ..followups.calendar import WorkCalendar, receiving_calendar
from ..models_base import DbSession, get_by_id, new_id, utcnow
from ..pagination import decode_cursor, pack, unpack, uuid_text
from ..runtime import runtime
from . import disclosure
from .models import DECLINE_REASONS, OPEN_STATES, PRIORITIES, STATES, Referral, ReferralTransition

RESPONSE_TARGETS = {
    "emergency": timedelta(hours=24),
    "urgent": timedelta(hours=72),
    "normal": timedelta(days=14),
}
# Which clock each target runs on: an emergency on the plain calendar (nights, weekends and
# holidays count), the others in working time on the receiving network's calendar.
WORKING_TIME_PRIORITIES = frozenset({"urgent", "normal"})
LEGAL_BASES = ("child_protection", "threat_to_life")

# (from, to) -> which side may make it
TRANSITIONS: dict[tuple[str, str], str] = {
    ("draft", "sent"): "sender",
    ("sent", "accepted"): "receiver",
    ("sent", "declined"): "receiver",
    ("accepted", "in_progress"): "receiver",
    ("in_progress", "completed"): "receiver",
    ("in_progress", "closed_unresolved"): "receiver",
    ("draft", "withdrawn"): "sender",
    ("sent", "withdrawn"): "sender",
    ("accepted", "withdrawn"): "sender",
    ("in_progress", "withdrawn"): "sender",
}


class InvalidTransition(Conflict):
    code = "invalid_transition"


class ConsentRequired(InvalidInput):
    status, code = 422, "consent_required"


@dataclass
class ReferralInput:
    """To a member organisation (`to_organization_id`) or, exactly one or the other, to a provider
    outside the network (`external_provider`, its name, and `external_sector`)."""

    case_id: str
    to_organization_id: str | None
    priority: str
    reason: str
    field_groups: list[str] = field(default_factory=list)
    consent_id: str | None = None
    service_id: str | None = None
    override_legal_basis: str | None = None
    external_provider: str | None = None
    external_sector: str | None = None


def _side(actor: Any, referral: Referral) -> str | None:
    if actor.organization_id == referral.from_organization_id:
        return "sender"
    if referral.to_organization_id is not None and actor.organization_id == referral.to_organization_id:
        return "receiver"
    return None


def _record_transition(
    session: DbSession, actor: Any, referral: Referral, to_state: str, reason: str | None, note: str | None = None
) -> None:
    session.add(_transition(actor, referral, referral.state, to_state, reason=reason, note=note))
    referral.state = to_state


def _transition(
    actor: Any, referral: Referral, from_state: str | None, to_state: str, **extra: str | None
) -> ReferralTransition:
    """A step of the referral by `actor`, noted on the referral as its side's last step at the
    step's own time (see `_news_of`)."""
    at = utcnow()
    if actor.organization_id == referral.from_organization_id:
        referral.sender_step_at = at
    elif actor.organization_id == referral.to_organization_id:
        referral.receiver_step_at = at
    return ReferralTransition(
        id=new_id(),
        referral_id=referral.id,
        from_state=from_state,
        to_state=to_state,
        actor_id=actor.id,
        organization_id=actor.organization_id,
        at=at,
        **extra,
    )


def _check_sharing(session: DbSession, actor: Any, case: Case, referral: Referral, consent_id: str | None) -> None:
    """Sending needs a valid covering consent, or an allowed override with a legal basis. A
    provider outside the network is reached by a consent that covers its sector."""
    receiver = session.get(Organization, referral.to_organization_id) if referral.to_organization_id else None
    assert receiver is not None or referral.external_sector is not None
    if referral.override_legal_basis:
        if referral.override_legal_basis not in LEGAL_BASES:
            raise InvalidInput("invalid_override", fields={"override_legal_basis": "invalid"})
        if not can(actor, "consent.override", case):
            raise Forbidden("override_not_allowed")
        record(
            "consent.override",
            actor,
            referral,
            case_code=case.case_code,
            legal_basis=referral.override_legal_basis,
            to_organization_id=referral.to_organization_id,
            external_sector=referral.external_sector,  # an external provider by its sector, never its name
        )
        return
    consent = get_by_id(session, Consent, consent_id) if consent_id else None
    if consent is None or consent.case_id != case.id:
        raise ConsentRequired("consent_required", fields={"consent_id": "required"})
    if not consent_rules.is_valid(consent, case):
        raise ConsentRequired("consent_not_valid", fields={"consent_id": "expired_or_withdrawn"})
    if receiver is None:
        if referral.external_sector not in consent.sectors:
            raise ConsentRequired("consent_does_not_cover", fields={"external_sector": "not_covered_by_consent"})
        if not consent_rules.covers_sector(consent, referral.external_sector or "", referral.field_groups):
            raise ConsentRequired("consent_does_not_cover", fields={"field_groups": "not_covered_by_consent"})
    elif not consent_rules.covers(consent, receiver, referral.field_groups):
        raise ConsentRequired("consent_does_not_cover", fields={"field_groups": "not_covered_by_consent"})


# What a well-formed referral can still be refused for (422 in the API): a receiver or service
# not in the directory, the sender's own organisation, one not taking referrals.
REFERRAL_RULES = frozenset({"unknown", "own_organization", "not_accepting_referrals"})


def _check_receiver(session: DbSession, case: Case, data: ReferralInput, fields: dict[str, str]) -> bool:
    """Validate the one receiver of a new referral; True when it is a provider outside the network."""
    name = (data.external_provider or "").strip()
    if data.to_organization_id and (name or data.external_sector):
        fields["to_organization_id"] = fields["external_provider"] = "exactly_one_receiver"
        return False
    if name or data.external_sector:
        if not name or len(name) > 200:
            fields["external_provider"] = "required"
        if data.external_sector not in SECTORS:
            fields["external_sector"] = "invalid"
        if data.service_id:
            fields["service_id"] = "not_for_external_provider"
        return True
    if not data.to_organization_id:
        fields["to_organization_id"] = "required"
        return False
    receiver = get_by_id(session, Organization, data.to_organization_id)
    if receiver is None or not receiver.active:
        fields["to_organization_id"] = "unknown"
    elif receiver.id == case.organization_id:
        fields["to_organization_id"] = "own_organization"
    elif not receiver.accepts_referrals:
        fields["to_organization_id"] = "not_accepting_referrals"
    if data.service_id:
        from ..directory.models import Service

        service = get_by_id(session, Service, data.service_id)
        if service is None or not service.active or service.organization_id != data.to_organization_id:
            fields["service_id"] = "unknown"
        elif not service.accepting_referrals:
            fields["service_id"] = "not_accepting_referrals"
    return False


# The least each sector needs to act on a referral: the form preselects these groups, narrowed
# to what the consent covers (DOMAIN.md, "Field groups": share the minimum the service needs).
SECTOR_MINIMUM: dict[str, tuple[str, ...]] = {
    "shelter": ("identity", "contact", "assessment"),
    "health": ("identity", "contact", "incident"),
    "psychosocial": ("contact", "assessment"),
    "social": ("identity", "contact", "assessment"),
    "legal_aid": ("identity", "contact", "incident"),
    "police": ("identity", "contact", "incident"),
    "justice": ("identity", "incident"),
    "economic": ("identity", "contact"),
    "other": ("contact",),
}


def referable_services(session: DbSession, case: Case, valid_consents: list[Consent]) -> list[tuple[Any, Consent]]:
    """The directory's services a referral of this case may go to now: active, accepting, of
    another active member organisation, and reached by a consent in force (by the organisation or
    by the service's sector), each with the first consent that reaches it."""
    from ..directory.models import Service

    stmt = (
        select(Service, Organization)
        .join(Organization, Organization.id == Service.organization_id)
        .where(
            Service.active.is_(True),
            Service.accepting_referrals.is_(True),
            Organization.active.is_(True),
            Organization.accepts_referrals.is_(True),
            Organization.id != case.organization_id,
        )
        .order_by(Service.sector, Service.name_en)
    )
    found: list[tuple[Any, Consent]] = []
    for service, org in session.execute(stmt):
        for grant in valid_consents:
            if org.id in (grant.organization_ids or []) or service.sector in (grant.sectors or []):
                found.append((service, grant))
                break
    return found


def suggested_groups(service: Any, grant: Consent) -> list[str]:
    """The sector's minimum, narrowed to what the consent covers and not withheld from its organisation."""
    withheld = consent_rules.withheld_from(grant, service.organization_id)
    return [
        g
        for g in SECTOR_MINIMUM.get(service.sector, ("contact",))
        if g in (grant.field_groups or []) and g not in withheld
    ]


# A request the schema cannot refuse: a note is needed only because the receiver is outside the network.
TRANSITION_RULES = frozenset({"required_outside_network"})


def create(session: DbSession, actor: Any, data: ReferralInput, *, send: bool = True) -> Referral:
    """Open a referral from the actor's organisation (the case team), sent at once unless `send`
    is False (a draft)."""
    case = visible_case(session, actor, data.case_id)
    if not can(actor, "case.edit", case):
        raise NotFound("case")
    fields: dict[str, str] = {}
    external = _check_receiver(session, case, data, fields)
    if data.priority not in PRIORITIES:
        fields["priority"] = "invalid"
    if not data.field_groups or any(g not in FIELD_GROUPS for g in data.field_groups):
        fields["field_groups"] = "invalid"
    if not data.reason.strip():
        fields["reason"] = "required"
    if fields:
        raise refusal("invalid_referral", fields, REFERRAL_RULES)
    # a consent that is not this case's is as none (sending then asks for one, or the override)
    consent = get_by_id(session, Consent, data.consent_id) if data.consent_id else None
    referral = Referral(
        id=new_id(),
        case_id=case.id,
        case_code=case.case_code,
        from_organization_id=case.organization_id,
        to_organization_id=None if external else data.to_organization_id,
        external_provider=(data.external_provider or "").strip() if external else None,
        external_sector=data.external_sector if external else None,
        service_id=data.service_id,
        priority=data.priority,
        state="draft",
        field_groups=sorted(set(data.field_groups)),
        consent_id=consent.id if consent is not None and consent.case_id == case.id else None,
        override_legal_basis=data.override_legal_basis,
        reason=data.reason.strip()[:5000],
        created_by=actor.id,
    )
    session.add(referral)
    session.add(_transition(actor, referral, None, "draft"))
    session.flush()
    record("referral.create", actor, referral, case_code=case.case_code)
    if send:
        send_referral(session, actor, referral.id)
    return referral


def visible(session: DbSession, actor: Any, referral_id: str) -> Referral:
    """The referral if the actor's organisation is a party to it and her role may see it."""
    referral = get_by_id(session, Referral, referral_id)
    if referral is None or not can(actor, "referral.view", referral):
        record_denial(actor, "referral", str(referral_id))
        raise NotFound("referral")
    return referral


def view(session: DbSession, actor: Any, referral_id: str) -> Referral:
    """Open a referral for reading; audited, with the field groups it showed of the case."""
    referral = visible(session, actor, referral_id)
    shown = ",".join(sorted(shared_groups(session, actor, referral)))
    record("referral.view", actor, referral, case_code=referral.case_code, shared=shown or None)
    return referral


def response_due(
    session: DbSession, referral: Referral, sent_at: datetime, calendar: WorkCalendar | None = None
) -> datetime:
    """When the receiving side must have answered a referral sent at `sent_at`: 24 hours for an
    emergency, 72 working hours when urgent, 14 working days (336 working hours) when normal,
    on the receiving side's calendar (`calendar`, looked up when not given)."""
    target = RESPONSE_TARGETS[referral.priority]
    if referral.priority not in WORKING_TIME_PRIORITIES:
        return sent_at + target
    return (calendar or receiving_calendar(session, referral)).add_working(sent_at, target)


def send_referral(session: DbSession, actor: Any, referral_id: str) -> Referral:
    referral = visible(session, actor, referral_id)
    case = session.get(Case, referral.case_id)
    assert case is not None
    _allowed(actor, referral, "sent")
    _check_sharing(session, actor, case, referral, referral.consent_id)
    now = utcnow()
    calendar = receiving_calendar(session, referral)  # once per send: the target and its ladder
    referral.sent_at = now
    referral.due_at = response_due(session, referral, now, calendar)
    _record_transition(session, actor, referral, "sent", None)
    clocks.start_referral_response(
        session,
        referral,
        RESPONSE_TARGETS[referral.priority],
        working=referral.priority != "emergency",
        calendar=calendar,
    )
    record(
        "referral.send",
        actor,
        referral,
        case_code=referral.case_code,
        to_organization_id=referral.to_organization_id,
        external_sector=referral.external_sector,
    )
    if referral.to_organization_id is not None:  # a provider outside the network is told on paper
        _tell(session, referral, "sent", notifications.focal_points(session, referral.to_organization_id))
    return referral


def _move_clocks(session: DbSession, referral: Referral, previous: str, to_state: str, now: datetime) -> None:
    """An answer stops the response clock; acceptance starts the completion clock, which stops
    when the referral ends."""
    if previous == "sent":
        clocks.stop(session, "referral_response", referral.id)
    if to_state == "accepted":
        clocks.start_referral_completion(session, referral, runtime().settings.referral_completion_days, now)
    if to_state in ("completed", "closed_unresolved", "withdrawn", "declined"):
        clocks.stop(session, "referral_completion", referral.id)


def _tell(session: DbSession, referral: Referral, state: str, user_ids: list[str]) -> None:
    """Notify after commit: the case code and what happened to the referral, nothing else."""
    kind = notifications.REFERRAL_STATE_KINDS.get(state, "referral.answered")
    message = notifications.Message(
        kind, referral.case_code, "referral", referral.id, key=f"referral:{referral.id}:{state}"
    )
    notifications.notify(user_ids, message, session)


def _allowed(actor: Any, referral: Referral, to_state: str) -> None:
    side = TRANSITIONS.get((referral.state, to_state))
    if side is None:
        raise InvalidTransition("invalid_transition")
    if referral.external:  # nobody on Shabaka receives it: the sender records the provider's answers
        side = "sender"
    if _side(actor, referral) != side or not can(actor, f"referral.act_as_{side}", referral):
        raise Forbidden(f"only_the_{side}")


def transition(
    session: DbSession,
    actor: Any,
    referral_id: str,
    to_state: str,
    *,
    reason: str | None = None,
    outcome: str | None = None,
    note: str | None = None,
    expected_version: int | None = None,
) -> Referral:
    """Accept, decline, start, complete, close unresolved or withdraw a referral. For a referral
    outside the network the sending side records each step, with a note (what the provider said)."""
    referral = visible(session, actor, referral_id)
    if expected_version is not None and referral.version != expected_version:
        raise PreconditionFailed("changed_meanwhile")
    if to_state == "sent":  # sending checks the consent: `send_referral`
        raise InvalidTransition("invalid_transition")
    _allowed(actor, referral, to_state)
    previous = referral.state
    fields: dict[str, str] = {}
    if to_state == "declined" and reason not in DECLINE_REASONS:
        fields["reason_code"] = "required"
    if to_state == "completed" and not (outcome or "").strip():
        fields["outcome"] = "required"
    if to_state in ("closed_unresolved", "withdrawn") and not (reason or "").strip():
        fields["reason"] = "required"
    if referral.external and not (note or "").strip():
        fields["note"] = "required_outside_network"  # what the provider outside the network said
    if fields:
        raise refusal("invalid_transition_input", fields, TRANSITION_RULES)
    now = utcnow()
    if to_state in ("accepted", "declined"):
        referral.answered_at = now
    if to_state == "declined":
        referral.decline_reason = reason
    if to_state == "completed":
        referral.outcome = (outcome or "").strip()[:5000]
    if note and note.strip():
        referral.note = note.strip()[:5000]
    if to_state in ("declined", "completed", "closed_unresolved", "withdrawn"):
        referral.closed_at = now
    coded = reason if to_state == "declined" else None  # only codes go into the clear timeline
    if to_state in ("closed_unresolved", "withdrawn") and reason:
        # free text may name someone: it is kept encrypted with the referral, never in the clear
        referral.note = "\n".join(part for part in (reason.strip(), referral.note or "") if part)[:5000]
    step_note = None
    if referral.external:
        free = reason if to_state in ("closed_unresolved", "withdrawn") else None
        step_note = "\n".join(part.strip() for part in (free or "", note or "") if part.strip())[:5000]
    _record_transition(session, actor, referral, to_state, coded, step_note)
    _move_clocks(session, referral, previous, to_state, now)
    action = {
        "accepted": "accept",
        "declined": "decline",
        "in_progress": "start",
        "completed": "complete",
        "closed_unresolved": "close",
        "withdrawn": "withdraw",
    }[to_state]
    record(f"referral.{action}", actor, referral, case_code=referral.case_code)
    if referral.to_organization_id is None:
        return referral  # outside the network: nobody to tell, the sending side made the step itself
    if to_state == "withdrawn" and previous != "draft":
        receivers = notifications.focal_points(session, referral.to_organization_id)
        _tell(session, referral, to_state, receivers + ([referral.assigned_to] if referral.assigned_to else []))
    elif to_state != "withdrawn":
        _tell(session, referral, to_state, [referral.created_by])
    return referral


def shared_groups(session: DbSession, actor: Any, referral: Referral) -> set[str]:
    """The field groups of the case the actor may see through this referral, right now.

    The sending side (its case team) sees what the case file allows anyway; the receiving side
    sees the shared groups only while the referral is open and its consent still holds. The
    decision is `disclosure.shown_groups`, the one place for it."""
    return set(disclosure.shown_groups(session, actor, referral))


PRINT_FORMATS = ("html", "pdf")


def printable(session: DbSession, actor: Any, referral_id: str, fmt: str) -> tuple[Referral, disclosure.Disclosure]:
    """Open a referral to print its form for the provider, with what of the case it may hold.

    Only the sending side's case team prints (a supervisor off the team sees identifiers masked,
    so she does not print them either); anyone else gets NotFound. The form is a disclosure, so
    it is printed only while the referral is open and its consent (or override) still holds, and
    holds what `disclosure` lets the receiving party see; it is audited with its format."""
    referral = get_by_id(session, Referral, referral_id)
    if (
        referral is None
        or fmt not in PRINT_FORMATS
        or _side(actor, referral) != "sender"
        or not can(actor, "referral.view", referral)
        or not can(actor, "case.edit", referral.case)
    ):
        record_denial(actor, "referral", str(referral_id))
        raise NotFound("referral")
    refused = disclosure.standing(session, referral)
    if refused == "closed":
        raise InvalidTransition("referral_closed")
    if refused == "consent":
        raise ConsentRequired("consent_not_valid", fields={"consent_id": "expired_or_withdrawn"})
    shown = disclosure.disclose(session, actor, referral, printing=True)
    record(
        "referral.print",
        actor,
        referral,
        case_code=referral.case_code,
        format=fmt,
        shared=",".join(sorted(shown.codes)) or None,
    )
    return referral, shown


def scope(actor: Any, box: str) -> Select[Any]:
    """The organisation's inbox (referrals to it) or outbox (referrals from it)."""
    return select(Referral).where(referral_box(actor, box))


BOXES = ("inbox", "outbox", "all")


def _box(actor: Any, box: str) -> Any:
    """Who sees which referrals of a box (the rule is the policy's `scope_referrals`)."""
    return scope_referrals(actor, box)


# The list filters (GET parameters of the list page and the API): a state, or `overdue` (sent and
# unanswered past its target, derived from the clock); a priority; and `assigned=me`.
FILTER_STATES = (*STATES, "overdue")
ORDERS = ("newest", "urgency")


@dataclass(frozen=True)
class Filters:
    state: str | None = None
    priority: str | None = None
    assigned_to_me: bool = False
    news: bool = False  # the other side made a step in the last `NEWS_DAYS` days

    @classmethod
    def parse(
        cls, state: str | None, priority: str | None, assigned: str | None, news: str | None = None
    ) -> tuple[Filters, dict[str, str]]:
        """The filters from their raw values, and the ones refused ({field: code}); a refused
        value is left out of the filters."""
        problems: dict[str, str] = {}
        if state and state not in FILTER_STATES:
            problems["state"] = "invalid"
        if priority and priority not in PRIORITIES:
            problems["priority"] = "invalid"
        if assigned and assigned != "me":
            problems["assigned"] = "invalid"
        if news and news != "1":
            problems["news"] = "invalid"
        return cls(
            state=state if state and "state" not in problems else None,
            priority=priority if priority and "priority" not in problems else None,
            assigned_to_me=assigned == "me",
            news=news == "1",
        ), problems

    def where(self, actor: Any, now: datetime) -> list[Any]:
        found: list[Any] = []
        if self.state == "overdue":
            found += [Referral.state == "sent", Referral.due_at < now]
        elif self.state:
            found.append(Referral.state == self.state)
        if self.priority:
            found.append(Referral.priority == self.priority)
        if self.assigned_to_me:
            found.append(Referral.assigned_to == actor.id)
        if self.news:
            found.append(_news_of(actor, now))
        return found


NEWS_DAYS = 7


def _news_of(actor: Any, now: datetime) -> Any:
    """Referrals on which the other side made a step (sent, answered, started, completed,
    withdrew) in the last `NEWS_DAYS` days: a condition on the step times each side's
    transitions keep on the referral, read from an index of each side's box."""
    since = now - timedelta(days=NEWS_DAYS)
    org = actor.organization_id
    return or_(
        and_(Referral.from_organization_id == org, Referral.receiver_step_at >= since),
        and_(Referral.to_organization_id == org, Referral.sender_step_at >= since),
    )


def listing(
    session: DbSession,
    actor: Any,
    box: str = "all",
    *,
    limit: int = 200,
    cursor: str | None = None,
    filters: Filters | None = None,
    order: str = "newest",
    now: datetime | None = None,
) -> list[Referral]:
    """A box, newest first: `limit` referrals after `cursor` (from `next_cursor`, or from
    `urgency_cursor` for the urgency order), and one more when there is a further page (the
    caller cuts it off and makes the next cursor).

    `order="urgency"` (the list page): the referrals waiting for an answer first, by their
    answer's due time (so the overdue ones lead, then the least time left), then the rest,
    newest first; a cursor carries on in that same order."""
    if box not in BOXES or order not in ORDERS or not can(actor, "referral.list"):
        raise NotFound("box")
    filters = filters or Filters()
    stmt = select(Referral).where(_box(actor, box), *filters.where(actor, now or utcnow()))
    newest = (Referral.created_at.desc(), Referral.id.desc())
    if order == "urgency":
        # Two reads in the order of an index each, rather than one sort of the whole box: the
        # waiting ones by due time (to_organization_id, state, due_at), then, if the page has
        # room, the rest newest first (to_organization_id, created_at, id).
        waiting = and_(Referral.state == "sent", Referral.due_at.is_not(None))
        part, due_at, created_at, referral_id = _urgency_position(cursor)
        rows: list[Referral] = []
        if part == "waiting":
            first = stmt.where(waiting)
            if due_at is not None and created_at is not None:
                first = first.where(
                    (Referral.due_at > due_at) | ((Referral.due_at == due_at) & _before(created_at, referral_id))
                )
            rows = list(session.scalars(first.order_by(Referral.due_at, *newest).limit(limit + 1)))
            created_at = None
        if len(rows) <= limit:
            rest = stmt.where(not_(waiting))
            if created_at is not None:
                rest = rest.where(_before(created_at, referral_id))
            rows += session.scalars(rest.order_by(*newest).limit(limit + 1 - len(rows)))
    else:
        if cursor:
            at, after_id = decode_cursor(cursor, uuid_text)
            stmt = stmt.where(_before(at, after_id))
        rows = list(session.scalars(stmt.order_by(*newest).limit(limit + 1)))
    record(
        "referral.list",
        actor,
        None,
        organization_id=actor.organization_id,
        box=box,
        count=min(len(rows), limit),
        state=filters.state,
        priority=filters.priority,
        assigned="me" if filters.assigned_to_me else None,
        news=filters.news or None,
    )
    return rows


def _before(at: datetime, referral_id: str | None) -> Any:
    """Rows after (created_at, id) in the newest-first order."""
    return (Referral.created_at < at) | ((Referral.created_at == at) & (Referral.id < referral_id))


def urgency_cursor(row: Referral) -> str:
    """The cursor after `row` in the urgency order: which of the two parts it is in, and its keys."""
    if row.state == "sent" and row.due_at is not None:
        return pack(f"w|{row.due_at.isoformat()}|{row.created_at.isoformat()}|{row.id}")
    return pack(f"r||{row.created_at.isoformat()}|{row.id}")


def _urgency_position(cursor: str | None) -> tuple[str, datetime | None, datetime | None, str | None]:
    """(part, due_at, created_at, id) after which a page of the urgency order starts; a cursor
    not made by `urgency_cursor` is refused like any other (`invalid_cursor`)."""
    if not cursor:
        return "waiting", None, None, None
    try:
        part, due, created, raw_id = unpack(cursor).split("|")
        if part not in ("w", "r"):
            raise ValueError(part)
        due_at = datetime.fromisoformat(due) if part == "w" else None
        created_at = datetime.fromisoformat(created)
        if created_at.tzinfo is None or (due_at is not None and due_at.tzinfo is None):
            raise ValueError("naive time")
        return ("waiting" if part == "w" else "rest"), due_at, created_at, uuid_text(raw_id)
    except ValueError:
        raise RuleRefused("invalid_cursor", fields={"cursor": "invalid cursor"}) from None


def counts(session: DbSession, actor: Any, now: datetime | None = None) -> dict[str, int]:
    """The home page's figures: of the actor's inbox, those waiting for acceptance, overdue, and
    assigned to her (still open); of all she may list, those with news from the other side.
    Counted within what she may list; not audited (no referral is shown, only how many)."""
    if not can(actor, "referral.list"):
        return {"waiting": 0, "overdue": 0, "mine": 0, "news": 0}
    now = now or utcnow()
    inbox = _box(actor, "inbox")

    def count(*conditions: Any) -> Any:  # each count reads its own index, not the whole inbox
        return select(func.count()).select_from(Referral).where(inbox, *conditions).scalar_subquery()

    waiting, overdue, mine = session.execute(
        select(
            count(Referral.state == "sent"),
            count(Referral.state == "sent", Referral.due_at < now),
            count(Referral.assigned_to == actor.id, Referral.state.in_(OPEN_STATES)),
        )
    ).one()
    news = session.scalar(select(func.count()).select_from(Referral).where(_box(actor, "all"), _news_of(actor, now)))
    return {"waiting": int(waiting or 0), "overdue": int(overdue or 0), "mine": int(mine or 0), "news": int(news or 0)}


def assign(session: DbSession, actor: Any, referral_id: str, user_id: str) -> Referral:
    """A receiving focal point hands the referral to one of her organisation's caseworkers."""
    from ..accounts.models import User

    referral = visible(session, actor, referral_id)
    if not can(actor, "referral.assign", referral):
        raise NotFound("referral")
    if referral.state not in OPEN_STATES:
        raise InvalidTransition("referral_closed")
    user = get_by_id(session, User, user_id)
    if user is None or not can(user, "referral.assignee", referral):
        raise InvalidInput("invalid_assignee", fields={"user_id": "invalid"})
    referral.assigned_to = user.id
    from .receiving import record_assignment

    record_assignment(session, actor, referral, user.id)
    record("referral.assign", actor, referral, case_code=referral.case_code, user_id=user.id)
    if user.id != actor.id:
        message = notifications.Message(
            "referral.assigned",
            referral.case_code,
            "referral",
            referral.id,
            key=f"referral:{referral.id}:assigned:{user.id}",
        )
        notifications.notify([user.id], message, session)
    return referral


def shared_documents(session: DbSession, actor: Any, referral: Referral) -> list[Any]:
    """The case documents a referral lets the receiving side see: those of its shared groups."""
    from ..cases.documents import list_documents

    groups = shared_groups(session, actor, referral)
    return list_documents(session, referral.case, groups) if groups else []


def open_shared_document(session: DbSession, actor: Any, referral_id: str, document_id: str) -> Any:
    """A document through a referral: only while the referral shares its field group."""
    from ..cases.documents import open_document
    from ..cases.models import CaseDocument

    referral = visible(session, actor, referral_id)
    document = get_by_id(session, CaseDocument, document_id)
    if (
        document is None
        or document.case_id != referral.case_id
        or document.field_group not in shared_groups(session, actor, referral)
    ):
        record_denial(actor, "case_document", str(document_id))
        raise NotFound("document")
    return open_document(session, actor, document, referral.case, via_referral=referral.id)


@dataclass(frozen=True)
class SharedCase:
    """A case as a receiving organisation sees it through its open referrals: only the field
    groups they share, only while they are open and consented."""

    case: Case
    groups: frozenset[str]
    referral_ids: tuple[str, ...]


def case_through_referrals(session: DbSession, actor: Any, case_id: str) -> SharedCase:
    """The shared part of another organisation's case, for a recipient of its referrals; not
    found for anyone else (and for a recipient whose referrals share nothing any more)."""
    case = get_by_id(session, Case, case_id)
    open_to_me = (
        select(Referral)
        .where(
            Referral.case_id == case.id,
            Referral.to_organization_id == actor.organization_id,
            Referral.state.in_(OPEN_STATES),
        )
        .order_by(Referral.sent_at)
        if case is not None
        else None
    )
    groups: set[str] = set()
    through: list[str] = []
    for referral in session.scalars(open_to_me) if open_to_me is not None else []:
        if not can(actor, "referral.view", referral):
            continue
        shared = shared_groups(session, actor, referral)
        if shared:
            groups |= shared
            through.append(referral.id)
    if case is None or not groups:
        record_denial(actor, "case_file", str(case_id))
        raise NotFound("case")
    record(
        "case.view",
        actor,
        case,
        case_code=case.case_code,
        via_referral=",".join(through),
        shared=",".join(sorted(groups)),
    )
    return SharedCase(case, frozenset(groups), tuple(through))
