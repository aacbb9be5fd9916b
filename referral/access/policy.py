"""`can(actor, action, obj)` and the query scopes that match it.

Every rule lives here; a view or service that needs a decision asks this module. The rules are
plain functions, named against their actions in one table at the end (`_RULES`); an action with
no rule is refused. Lists are scoped in SQL with the `scope_*` functions, so a list can never
hold a row that `can` would refuse.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Select, and_, false, or_, select
from sqlalchemy.orm import object_session

from ..enums import ORG_GRANTABLE_ROLES, ROLES

Rule = Callable[[Any, Any], bool]


def can(actor: Any, action: str, obj: Any = None) -> bool:
    if actor is None or not getattr(actor, "is_authenticated", False) or not getattr(actor, "active", False):
        return False
    check = _RULES.get(action)
    return bool(check and check(actor, obj))


# ----------------------------------------------------------------------- platform administration
def _network_manage(actor: Any, obj: Any) -> bool:
    return actor.role == "sysadmin"


def _organization_manage(actor: Any, obj: Any) -> bool:
    return actor.role == "sysadmin"


def _organization_edit_entry(actor: Any, org: Any) -> bool:
    """An organisation's directory entry: the system admin any; an org admin her own."""
    if actor.role == "sysadmin":
        return True
    return bool(actor.role == "org_admin" and org is not None and org.id == actor.organization_id)


def _membership_manage(actor: Any, network: Any) -> bool:
    if actor.role == "sysadmin":
        return True
    return actor.role == "coordinator" and network is not None and actor.network_id == network.id


def _network_calendar(actor: Any, network: Any) -> bool:
    """Weekend days, time zone and holidays: the network's own coordinator, or a sysadmin."""
    if actor.role == "sysadmin":
        return True
    return actor.role == "coordinator" and network is not None and actor.network_id == network.id


# ------------------------------------------------------------------------------ user accounts
def _user_list(actor: Any, obj: Any) -> bool:
    return actor.role in ("sysadmin", "org_admin")


def _user_manage(actor: Any, target: Any) -> bool:
    """Deactivate, reset, end sessions, change role: sysadmin anyone; org admin her own org's staff."""
    if target is None or target.id == actor.id:
        return False
    if actor.role == "sysadmin":
        return True
    return (
        actor.role == "org_admin"
        and target.organization_id == actor.organization_id
        and target.role in ORG_GRANTABLE_ROLES
    )


def _user_grant_role(actor: Any, grant: Any) -> bool:
    """`grant` is (role, organization_id)."""
    role, organization_id = grant
    if role not in ROLES:
        return False
    if actor.role == "sysadmin":
        return True
    return actor.role == "org_admin" and role in ORG_GRANTABLE_ROLES and organization_id == actor.organization_id


def _audit_read(actor: Any, obj: Any) -> bool:
    """The whole audit trail (event metadata, never case content): auditors."""
    return actor.role == "auditor"


def _audit_case_history(actor: Any, case: Any) -> bool:
    """Who opened a case file: auditors (any case code), and the supervisors of the
    organisation the case belongs to now."""
    if actor.role == "auditor":
        return True
    return actor.role == "supervisor" and case is not None and case.organization_id == actor.organization_id


# ------------------------------------------------------------------------------ case files
CASE_ROLES = ("caseworker", "supervisor")


def _on_team(actor: Any, case: Any) -> bool:
    return any(member.user_id == actor.id for member in case.members)


def _case_create(actor: Any, obj: Any) -> bool:
    return actor.role in CASE_ROLES


def _case_view(actor: Any, case: Any) -> bool:
    """The case team; the owning organisation's supervisors (identifiers masked until revealed);
    a supervisor of another organisation only through an emergency grant in force."""
    if case is None or actor.role not in CASE_ROLES:
        return False
    if case.organization_id != actor.organization_id:
        return _break_glass(actor, case)
    return actor.role == "supervisor" or _on_team(actor, case)


def _case_view_in_organisation(actor: Any, case: Any) -> bool:
    """`case.view` without emergency grants: the case team and the owning organisation's supervisors."""
    return case is not None and case.organization_id == actor.organization_id and _case_view(actor, case)


def _break_glass(actor: Any, case: Any) -> bool:
    """An emergency grant in force lets a supervisor read (never change) another organisation's
    case. Asked only across organisations, so the usual checks never query for it."""
    if actor.role != "supervisor":
        return False
    from .breakglass import active_grant

    session = object_session(case)
    return session is not None and active_grant(session, actor, case) is not None


def _case_edit(actor: Any, case: Any) -> bool:
    return case is not None and case.organization_id == actor.organization_id and _on_team(actor, case)


def _case_reveal(actor: Any, case: Any) -> bool:
    return _case_view(actor, case)


def _case_approve(actor: Any, case: Any) -> bool:
    return actor.role == "supervisor" and case is not None and case.organization_id == actor.organization_id


def _case_approve_any(actor: Any, obj: Any) -> bool:
    return actor.role == "supervisor"


def _case_assign(actor: Any, case: Any) -> bool:
    if case is None or case.organization_id != actor.organization_id:
        return False
    return actor.role == "supervisor" or any(m.user_id == actor.id and m.role == "owner" for m in case.members)


def _case_member(user: Any, case: Any) -> bool:
    """Who may join a case's team: case staff (a caseworker or a supervisor) of the organisation
    that owns it; asked about the person joining, not the actor."""
    return case is not None and user.role in CASE_ROLES and user.organization_id == case.organization_id


# ------------------------------------------------------------------------------ consent and referrals
def _consent_override(actor: Any, case: Any) -> bool:
    """Sharing without consent (child protection, threat to life): supervisors of the owning organisation."""
    return actor.role == "supervisor" and case is not None and case.organization_id == actor.organization_id


def _referral_list(actor: Any, obj: Any) -> bool:
    return actor.role in CASE_ROLES


def _referral_view(actor: Any, referral: Any) -> bool:
    """Both organisations' case staff; on the receiving side the focal points (supervisors) and
    the caseworker the referral is assigned to; on the sending side the case's owners."""
    if referral is None or actor.role not in CASE_ROLES:
        return False
    if actor.organization_id == referral.from_organization_id:
        if actor.role == "supervisor" or _on_team(actor, referral.case):
            return True
        # the case was transferred away: whoever sent the referral keeps its record
        return referral.case.organization_id != actor.organization_id and referral.created_by == actor.id
    if actor.organization_id == referral.to_organization_id and referral.state != "draft":
        return actor.role == "supervisor" or referral.assigned_to == actor.id
    return False


def _referral_sender(actor: Any, referral: Any) -> bool:
    return _referral_view(actor, referral) and actor.organization_id == referral.from_organization_id


def _referral_assign(actor: Any, referral: Any) -> bool:
    """The receiving organisation's focal points (supervisors) assign a referral to a caseworker."""
    return referral is not None and actor.role == "supervisor" and actor.organization_id == referral.to_organization_id


def _referral_receiver(actor: Any, referral: Any) -> bool:
    return _referral_view(actor, referral) and actor.organization_id == referral.to_organization_id


def _referral_assignee(user: Any, referral: Any) -> bool:
    """Who may be given a referral to work on: case staff (a caseworker or a supervisor) of the
    receiving organisation; asked about the assignee, not the actor."""
    return referral is not None and user.role in CASE_ROLES and user.organization_id == referral.to_organization_id


def _referral_escalations(actor: Any, obj: Any) -> bool:
    """The list of overdue referrals (codes, organisations and delays, nothing about the survivor):
    coordinators, each for her own network."""
    return actor.role == "coordinator"


def referral_box(actor: Any, box: str) -> Any:
    """The organisation's inbox (referrals sent to it, never a draft) or its outbox (referrals
    from it), as a SQL condition; who in the organisation sees which is `scope_referrals`."""
    from ..referrals.models import Referral

    if box == "inbox":
        return and_(Referral.to_organization_id == actor.organization_id, Referral.state != "draft")
    return Referral.from_organization_id == actor.organization_id


def scope_referrals(actor: Any, box: str) -> Any:
    """Who sees which referrals of a box ("inbox", "outbox" or "all"), as a SQL condition: focal
    points (supervisors) the whole inbox, caseworkers the ones assigned to them; the outbox to its
    case team (a caseworker: her cases and her sends)."""
    from ..cases.models import CaseMember
    from ..referrals.models import Referral

    inbox, outbox = referral_box(actor, "inbox"), referral_box(actor, "outbox")
    if actor.role == "caseworker":
        inbox = inbox & (Referral.assigned_to == actor.id)
        mine = select(CaseMember.case_id).where(CaseMember.user_id == actor.id)
        outbox = outbox & or_(Referral.case_id.in_(mine), Referral.created_by == actor.id)
    if box == "inbox":
        return inbox
    if box == "outbox":
        return outbox
    return or_(inbox, outbox)


# ------------------------------------------------------------------------------ break-the-glass
def _breakglass_open(actor: Any, obj: Any) -> bool:
    """Any supervisor may ask for emergency access (the service refuses her own organisation's cases)."""
    return actor.role == "supervisor"


def _breakglass_end(actor: Any, grant: Any) -> bool:
    return grant is not None and grant.user_id == actor.id


def _breakglass_review(actor: Any, obj: Any) -> bool:
    """The supervisors of an organisation see the emergency accesses to its cases."""
    return actor.role == "supervisor"


def _breakglass_revoke(actor: Any, grant: Any) -> bool:
    return grant is not None and actor.role == "supervisor" and grant.case_organization_id == actor.organization_id


# ------------------------------------------------------------------------------ case transfers
def _case_transfer(actor: Any, case: Any) -> bool:
    """Ask to move a case to another organisation: its owner or the owning organisation's supervisors."""
    return _case_assign(actor, case)


def _transfer_view(actor: Any, transfer: Any) -> bool:
    """The requesting organisation's supervisors, the requester and the case team (while the case
    is still theirs); the receiving organisation's supervisors and the new owner."""
    if transfer is None or actor.role not in CASE_ROLES:
        return False
    if actor.organization_id == transfer.from_organization_id:
        if actor.role == "supervisor" or transfer.requested_by == actor.id:
            return True
        return transfer.case.organization_id == actor.organization_id and _on_team(actor, transfer.case)
    if actor.organization_id == transfer.to_organization_id:
        return actor.role == "supervisor" or transfer.new_owner_id == actor.id
    return False


def scope_transfers(actor: Any, box: str) -> Select[Any]:
    """Transfers to the actor's organisation ("incoming") or from it ("outgoing") she may see, the
    same rule as `transfer.view`: the supervisors all of them; on the receiving side the new
    owner hers; on the requesting side the requester and the case team while the case is theirs."""
    from ..cases.models import Case, CaseMember
    from ..referrals.models import CaseTransfer

    stmt = select(CaseTransfer)
    if box == "incoming":
        stmt = stmt.where(CaseTransfer.to_organization_id == actor.organization_id)
        if actor.role != "supervisor":
            stmt = stmt.where(CaseTransfer.new_owner_id == actor.id)
        return stmt
    stmt = stmt.join(Case, Case.id == CaseTransfer.case_id).where(
        CaseTransfer.from_organization_id == actor.organization_id
    )
    if actor.role != "supervisor":
        team = select(CaseMember.case_id).where(CaseMember.user_id == actor.id)
        stmt = stmt.where(
            or_(
                CaseTransfer.requested_by == actor.id,
                (Case.organization_id == actor.organization_id) & CaseTransfer.case_id.in_(team),
            )
        )
    return stmt


def _transfer_answer(actor: Any, transfer: Any) -> bool:
    """Accept or decline: the receiving organisation's supervisors."""
    return transfer is not None and actor.role == "supervisor" and actor.organization_id == transfer.to_organization_id


def _transfer_cancel(actor: Any, transfer: Any) -> bool:
    """Cancel a waiting transfer: the requester, the case's owner or the requesting organisation's supervisors."""
    if transfer is None or actor.organization_id != transfer.from_organization_id:
        return False
    return transfer.requested_by == actor.id or _case_transfer(actor, transfer.case)


# ------------------------------------------------------------------------------ follow-ups
def _followup_create(actor: Any, case: Any) -> bool:
    """Add, cancel or reschedule a case's follow-ups: its team, or a supervisor of its organisation
    (an emergency grant lets a supervisor read them, never change them)."""
    return _case_view_in_organisation(actor, case)


def _followup_manage(actor: Any, followup: Any) -> bool:
    return followup is not None and _case_view_in_organisation(actor, followup.case)


def _followup_complete(actor: Any, followup: Any) -> bool:
    """Mark a follow-up done: the person it is assigned to, or the case team."""
    if followup is None or actor.role not in CASE_ROLES or followup.organization_id != actor.organization_id:
        return False
    return followup.assignee_id == actor.id or _on_team(actor, followup.case)


def _followup_assignee(user: Any, case: Any) -> bool:
    """Who may be given a follow-up of a case: anyone who may see the case (its team, or a
    supervisor of its organisation, not through an emergency grant); asked about the assignee,
    not the actor."""
    return _case_view_in_organisation(user, case)


def _followup_team(actor: Any, obj: Any) -> bool:
    """The team's overdue follow-ups: supervisors, for their own organisation."""
    return actor.role == "supervisor"


def scope_cases(actor: Any, stmt: Select[Any]) -> Select[Any]:
    """Cases the actor may see, as a SQL condition: the same rule as `case.view`."""
    from ..cases.models import Case, CaseMember

    if actor.role == "supervisor":
        return stmt.where(Case.organization_id == actor.organization_id)
    if actor.role == "caseworker":
        team = select(CaseMember.case_id).where(CaseMember.user_id == actor.id)
        return stmt.where(Case.organization_id == actor.organization_id, Case.id.in_(team))
    return stmt.where(false())


def scope_users(actor: Any, stmt: Select[Any]) -> Select[Any]:
    """Users the actor may list and manage."""
    from ..accounts.models import User

    if actor.role == "sysadmin":
        return stmt
    if actor.role == "org_admin":
        return stmt.where(User.organization_id == actor.organization_id)
    return stmt.where(false())


# ------------------------------------------------------------------------------ service directory
def _service_manage(actor: Any, obj: Any) -> bool:
    """Add and maintain directory services: sysadmin any organisation's; an org admin her own
    organisation's. `obj` is a service or an organisation (or None: "may she add any at all")."""
    if actor.role == "sysadmin":
        return True
    if actor.role != "org_admin":
        return False
    if obj is None:
        return True
    organization_id = obj.organization_id if hasattr(obj, "organization_id") else obj.id
    return bool(organization_id == actor.organization_id)


def _service_view(actor: Any, service: Any) -> bool:
    """One directory service: anyone, while it and its organisation are active; an inactive one
    only those who may manage it."""
    if service is None:
        return False
    return bool(service.active and service.organization.active) or _service_manage(actor, service)


def scope_services(actor: Any, stmt: Select[Any], *, include_inactive: bool = False) -> Select[Any]:
    """Directory services as a list shows them, as a SQL condition (the statement joins
    Organization): active services of active organisations; with `include_inactive`, a manager
    also the inactive ones she may manage (a sysadmin all, an org admin her organisation's)."""
    from ..directory.models import Organization, Service

    listed = Service.active.is_(True) & Organization.active.is_(True)
    if include_inactive and can(actor, "service.manage"):
        if actor.role == "sysadmin":
            return stmt
        return stmt.where(or_(listed, Service.organization_id == actor.organization_id))
    return stmt.where(listed)


# ------------------------------------------------------------------------------ activity plans
def _plan_network_id(obj: Any) -> str | None:
    """The network a plan, an activity or a network itself belongs to."""
    if obj is None:
        return None
    if getattr(obj, "__tablename__", None) == "network":
        return str(obj.id)
    network_id = getattr(obj, "network_id", None)
    return str(network_id) if network_id is not None else None


def _coordinates(actor: Any, network_id: str | None) -> bool:
    """The network's own coordinator, or the national coordinator (a coordinator of no network)."""
    return actor.role == "coordinator" and network_id is not None and actor.network_id in (None, network_id)


def _plan_read(actor: Any, obj: Any) -> bool:
    """A network's plan and its activities: its coordinators, and the staff of every member organisation."""
    network_id = _plan_network_id(obj)
    if network_id is None:
        return False
    if actor.role == "coordinator":
        return _coordinates(actor, network_id)
    from ..directory.models import NetworkMembership

    session = object_session(obj)
    if session is None:
        return False
    found = session.scalar(
        select(NetworkMembership.id).where(
            NetworkMembership.network_id == network_id, NetworkMembership.organization_id == actor.organization_id
        )
    )
    return found is not None


def _plan_manage(actor: Any, obj: Any) -> bool:
    """Make a plan, add and change its activities: the network's coordinator or the national one."""
    return _coordinates(actor, _plan_network_id(obj))


REPORTING_ROLES = ("org_admin", "supervisor")


def _activity_report(actor: Any, activity: Any) -> bool:
    """Report progress and record delivery: the coordinators, and the administrators and
    supervisors of the organisation responsible for the activity (its focal persons)."""
    if activity is None:
        return False
    if _plan_manage(actor, activity):
        return True
    return actor.role in REPORTING_ROLES and activity.responsible_organization_id == actor.organization_id


def scope_plans(actor: Any, stmt: Select[Any]) -> Select[Any]:
    """Plans the actor may read, as a SQL condition: the same rule as `plan.read`."""
    from ..directory.models import NetworkMembership
    from ..plans.models import ActivityPlan

    if actor.role == "coordinator":
        return stmt if actor.network_id is None else stmt.where(ActivityPlan.network_id == actor.network_id)
    member_of = select(NetworkMembership.network_id).where(NetworkMembership.organization_id == actor.organization_id)
    return stmt.where(ActivityPlan.network_id.in_(member_of))


# ------------------------------------------------------------------------------ every action and its rule
_RULES: dict[str, Rule] = {
    "network.manage": _network_manage,
    "organization.manage": _organization_manage,
    "organization.edit_entry": _organization_edit_entry,
    "membership.manage": _membership_manage,
    "network.calendar": _network_calendar,
    "user.list": _user_list,
    "user.manage": _user_manage,
    "user.grant_role": _user_grant_role,
    "audit.read": _audit_read,
    "audit.case_history": _audit_case_history,
    "case.create": _case_create,
    "case.view": _case_view,
    "case.edit": _case_edit,
    "case.reveal": _case_reveal,
    "case.approve": _case_approve,
    "case.approve_any": _case_approve_any,
    "case.assign": _case_assign,
    "case.member": _case_member,
    "consent.override": _consent_override,
    "referral.list": _referral_list,
    "referral.view": _referral_view,
    "referral.act_as_sender": _referral_sender,
    "referral.assign": _referral_assign,
    "referral.act_as_receiver": _referral_receiver,
    "referral.assignee": _referral_assignee,
    "referral.escalations": _referral_escalations,
    "breakglass.open": _breakglass_open,
    "breakglass.end": _breakglass_end,
    "breakglass.review": _breakglass_review,
    "breakglass.revoke": _breakglass_revoke,
    "case.transfer": _case_transfer,
    "transfer.view": _transfer_view,
    "transfer.answer": _transfer_answer,
    "transfer.cancel": _transfer_cancel,
    "followup.create": _followup_create,
    "followup.manage": _followup_manage,
    "followup.complete": _followup_complete,
    "followup.assignee": _followup_assignee,
    "followup.team": _followup_team,
    "service.manage": _service_manage,
    "service.view": _service_view,
    "plan.read": _plan_read,
    "plan.manage": _plan_manage,
    "activity.report": _activity_report,
}
