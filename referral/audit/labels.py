"""Labels of the audit trail's codes for the auditors' workspace and its CSV: every registered
action, object kind (table name) and detail key, the coded detail values, and the area of the
application a route belongs to. The codes stay what is stored and exported; these are what a
person reads. Names of people and organisations are resolved by the views (one query a page);
nothing here ever resolves anything of a case."""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from ..i18n import list_join
from ..labels import (
    CASE_STATUS_LABELS,
    CLOSURE_REASON_LABELS,
    DECLINE_REASON_LABELS,
    FIELD_GROUP_NAMES,
    GBV_TYPE_LABELS,
    LEGAL_BASIS_LABELS,
    LOCALE_LABELS,
    MOVE_LABELS,
    REFERRAL_STATE_LABELS,
    RISK_LABELS,
    ROLE_LABELS,
    SECTOR_LABELS,
    TRANSFER_STATE_LABELS,
)

# Every action of the registry (referral/audit/actions.py); a test keeps them in step.
ACTION_LABELS: dict[str, Any] = {
    "auth.login": _l("Signed in"),
    "auth.login_failed": _l("Sign-in failed"),
    "auth.login_throttled": _l("Sign-in blocked after too many attempts"),
    "auth.mfa_verified": _l("Second sign-in step passed"),
    "auth.mfa_failed": _l("Second sign-in step failed"),
    "auth.mfa_enrolled": _l("Authenticator set up"),
    "auth.recovery_code_used": _l("Recovery code used"),
    "auth.logout": _l("Signed out"),
    "auth.session_ended": _l("Own session ended"),
    "auth.password_changed": _l("Own password changed"),
    "user.create": _l("User account created"),
    "user.role_change": _l("User role changed"),
    "user.deactivate": _l("User account deactivated"),
    "user.reactivate": _l("User account reactivated"),
    "user.password_reset": _l("User password reset"),
    "user.mfa_reset": _l("User's two-step sign-in reset"),
    "user.time_zone_change": _l("Own time zone changed"),
    "user.sessions_ended": _l("User's sessions ended"),
    "user.locale_change": _l("Interface language changed"),
    "user.notification_preference": _l("Notification preference changed"),
    "token.issue": _l("API token issued"),
    "token.revoke": _l("API token revoked"),
    "network.create": _l("Network created"),
    "network.update": _l("Network updated"),
    "network.calendar_update": _l("Network calendar updated"),
    "network.holiday_add": _l("Holiday added"),
    "network.holiday_remove": _l("Holiday removed"),
    "organization.create": _l("Organisation created"),
    "organization.update": _l("Organisation updated"),
    "membership.add": _l("Organisation added to a network"),
    "membership.remove": _l("Organisation removed from a network"),
    "organization.delete": _l("Organisation deleted"),
    "service.create": _l("Service created"),
    "service.update": _l("Service updated"),
    "directory.export": _l("Directory exported"),
    "keys.rotate": _l("Data key rotated"),
    "keys.reencrypt": _l("Data re-encrypted"),
    "keys.rotate_root": _l("Root key rotated"),
    "keys.retire": _l("Old key retired"),
    "case.create": _l("Case opened"),
    "case.view": _l("Case file viewed"),
    "case.list": _l("Case list viewed"),
    "case.reveal": _l("Identifying data revealed"),
    "case.update": _l("Case file changed"),
    "case.note": _l("Case note added"),
    "case.incident": _l("Incident recorded"),
    "case.transition": _l("Case status changed"),
    "case.approve": _l("Case step approved"),
    "case.return": _l("Case step returned for changes"),
    "case.assign": _l("Case team changed"),
    "case.search_identifier": _l("Search by identifier"),
    "case.purge": _l("Case data purged"),
    "case.mandatory_report": _l("Mandatory report recorded"),
    "case.transfer_request": _l("Case transfer requested"),
    "case.transfer_view": _l("Case transfer viewed"),
    "case.transfer_list": _l("Case transfers listed"),
    "case.transfer": _l("Case transferred"),
    "case.transfer_decline": _l("Case transfer declined"),
    "case.transfer_cancel": _l("Case transfer cancelled"),
    "consent.record": _l("Consent recorded"),
    "consent.withdraw": _l("Consent withdrawn"),
    "consent.override": _l("Shared without consent"),
    "referral.create": _l("Referral drafted"),
    "referral.view": _l("Referral viewed"),
    "referral.list": _l("Referral list viewed"),
    "referral.send": _l("Referral sent"),
    "referral.accept": _l("Referral accepted"),
    "referral.decline": _l("Referral declined"),
    "referral.start": _l("Referral service started"),
    "referral.complete": _l("Referral service completed"),
    "referral.close": _l("Referral closed"),
    "referral.withdraw": _l("Referral withdrawn"),
    "referral.assign": _l("Referral assigned"),
    "referral.log": _l("Referral progress recorded"),
    "referral.open_case": _l("Own case file opened from a referral"),
    "referral.escalation_view": _l("Overdue referral viewed by the coordinator"),
    "referral.escalations_view": _l("Overdue referrals viewed"),
    "referral.remind": _l("Referral reminder sent"),
    "referral.print": _l("Referral printed"),
    "document.upload": _l("Document uploaded"),
    "document.download": _l("Document downloaded"),
    "followup.create": _l("Follow-up created"),
    "followup.view": _l("Follow-up viewed"),
    "followup.list": _l("Follow-ups listed"),
    "followup.reminder": _l("Follow-up reminder sent"),
    "followup.update": _l("Follow-up changed"),
    "followup.complete": _l("Follow-up completed"),
    "followup.cancel": _l("Follow-up cancelled"),
    "audit.search": _l("Audit trail searched"),
    "audit.case_history": _l("Case access history viewed"),
    "audit.user_history": _l("User activity viewed"),
    "audit.export": _l("Audit trail exported"),
    "audit.verify": _l("Audit trail verified"),
    "audit.checkpoints": _l("Audit checkpoints viewed"),
    "statistics.view": _l("Statistics viewed"),
    "statistics.export": _l("Statistics exported"),
    "statistics.release_prepare": _l("Statistics release prepared"),
    "statistics.release_submit": _l("Statistics release submitted"),
    "statistics.release_approve": _l("Statistics release approved"),
    "statistics.release_refuse": _l("Statistics release refused"),
    "statistics.release_publish": _l("Statistics release published"),
    "statistics.release_view": _l("Statistics release viewed"),
    "statistics.release_export": _l("Statistics release exported"),
    "statistics.request_record": _l("Data request recorded"),
    "statistics.request_decide": _l("Data request decided"),
    "representative.add": _l("Representative added"),
    "representative.remove": _l("Representative removed"),
    "meeting.series_create": _l("Meeting series created"),
    "meeting.create": _l("Meeting created"),
    "meeting.list": _l("Meetings listed"),
    "meeting.view": _l("Meeting viewed"),
    "meeting.agenda": _l("Meeting agenda changed"),
    "meeting.invite": _l("Meeting invitations sent"),
    "meeting.ics": _l("Meeting calendar file downloaded"),
    "meeting.respond": _l("Meeting invitation answered"),
    "meeting.change": _l("Meeting time or place changed"),
    "meeting.cancel": _l("Meeting cancelled"),
    "attendance.record": _l("Attendance recorded"),
    "minutes.taker": _l("Minute-taker named"),
    "minutes.edit": _l("Minutes edited"),
    "minutes.circulate": _l("Minutes circulated"),
    "minutes.comment": _l("Comment on minutes"),
    "minutes.approve": _l("Minutes approved"),
    "minutes.reopen": _l("Minutes reopened"),
    "action_point.create": _l("Action point created"),
    "action_point.list": _l("Action points listed"),
    "action_point.view": _l("Action point viewed"),
    "action_point.update": _l("Action point changed"),
    "coordination.engagement": _l("Engagement report viewed"),
    "coordination.home": _l("Network coordination page viewed"),
    "coordination.national_home": _l("National coordination page viewed"),
    "meeting_pack.generate": _l("Meeting pack generated"),
    "meeting_pack.view": _l("Meeting pack viewed"),
    "meeting_pack.download": _l("Meeting pack downloaded"),
    "plan.create": _l("Plan created"),
    "plan.list": _l("Plans listed"),
    "plan.view": _l("Plan viewed"),
    "plan.export": _l("Plan exported"),
    "activity.create": _l("Activity created"),
    "activity.list": _l("Activities listed"),
    "activity.view": _l("Activity viewed"),
    "activity.update": _l("Activity changed"),
    "activity.transition": _l("Activity status changed"),
    "activity.delivery": _l("Activity delivery recorded"),
    "activity.attachment_download": _l("Activity attachment downloaded"),
    "case.repeat_incident": _l("Repeat incident flagged"),
    "conference.list": _l("Case conferences listed"),
    "conference.view": _l("Case conference viewed"),
    "conference.create": _l("Case conference created"),
    "conference.request": _l("Case conference requested"),
    "conference.convene": _l("Case conference convened"),
    "conference.case_add": _l("Case added to a conference"),
    "conference.risk_summary": _l("Risk summary recorded"),
    "conference.timer": _l("Conference timer changed"),
    "conference.action": _l("Conference action agreed"),
    "conference.minutes": _l("Conference minutes recorded"),
    "conference.close": _l("Case conference closed"),
    "access.denied": _l("Access refused"),
    "breakglass.open": _l("Emergency access opened"),
    "breakglass.refused": _l("Emergency access refused"),
    "breakglass.end": _l("Emergency access ended"),
    "breakglass.revoke": _l("Emergency access revoked"),
    "breakglass.list": _l("Emergency accesses listed"),
    "security.integrity_failure": _l("Stored value failed its integrity check"),
}

# The domains of the actions (the search form's "domain.*" choices).
DOMAIN_LABELS: dict[str, Any] = {
    "access": _l("Access"),
    "action_point": _l("Action points"),
    "activity": _l("Activities"),
    "attendance": _l("Attendance"),
    "audit": _l("Audit trail"),
    "auth": _l("Sign-in"),
    "breakglass": _l("Emergency access"),
    "case": _l("Case files"),
    "conference": _l("Case conferences"),
    "consent": _l("Consent"),
    "coordination": _l("Network coordination"),
    "directory": _l("Directory"),
    "document": _l("Documents"),
    "followup": _l("Follow-ups"),
    "keys": _l("Encryption keys"),
    "meeting": _l("Meetings"),
    "meeting_pack": _l("Meeting packs"),
    "membership": _l("Network membership"),
    "minutes": _l("Minutes"),
    "network": _l("Networks"),
    "organization": _l("Organisations"),
    "plan": _l("Plans"),
    "referral": _l("Referrals"),
    "representative": _l("Representatives"),
    "security": _l("Security"),
    "service": _l("Services"),
    "statistics": _l("Statistics"),
    "token": _l("API tokens"),
    "user": _l("User accounts"),
}

# Object kinds: the table names events name (and "audit_trail" for a refused read of it).
OBJECT_LABELS: dict[str, Any] = {
    "action_point": _l("Action point"),
    "activity": _l("Activity"),
    "activity_attachment": _l("Activity attachment"),
    "activity_delivery": _l("Activity delivery"),
    "activity_plan": _l("Activity plan"),
    "agenda_item": _l("Agenda item"),
    "api_token": _l("API token"),
    "audit_checkpoint": _l("Audit checkpoint"),
    "audit_event": _l("Audit event"),
    "audit_trail": _l("Audit trail"),
    "auth_session": _l("Session"),
    "breakglass_grant": _l("Emergency access"),
    "case_conference": _l("Case conference"),
    "case_document": _l("Case document"),
    "case_file": _l("Case file"),
    "case_member": _l("Case team member"),
    "case_note": _l("Case note"),
    "case_sequence": _l("Case code sequence"),
    "case_transfer": _l("Case transfer"),
    "case_approval_return": _l("Case step returned"),
    "case_transition": _l("Case status change"),
    "conference_action": _l("Conference action"),
    "conference_item": _l("Conference agenda case"),
    "consent": _l("Consent"),
    "data_key": _l("Data key"),
    "email_outbox": _l("Outgoing e-mail"),
    "followup": _l("Follow-up"),
    "incident": _l("Incident"),
    "login_failure": _l("Failed sign-in"),
    "mandatory_report": _l("Mandatory report"),
    "meeting": _l("Meeting"),
    "meeting_attendance": _l("Meeting attendance"),
    "meeting_invitation": _l("Meeting invitation"),
    "meeting_minutes": _l("Meeting minutes"),
    "meeting_pack": _l("Meeting pack"),
    "meeting_series": _l("Meeting series"),
    "minute_entry": _l("Minutes entry"),
    "minutes_comment": _l("Comment on minutes"),
    "network": _l("Network"),
    "network_holiday": _l("Network holiday"),
    "network_membership": _l("Network membership"),
    "network_representative": _l("Network representative"),
    "notification": _l("Notification"),
    "organization": _l("Organisation"),
    "recovery_code": _l("Recovery code"),
    "referral": _l("Referral"),
    "referral_transition": _l("Referral status change"),
    "referral_assignment": _l("Referral assignment"),
    "referral_log_entry": _l("Referral service log entry"),
    "reminder_step": _l("Reminder step"),
    "reminder_sweep": _l("Reminder run"),
    "service": _l("Service"),
    "statistics_data_request": _l("Data request"),
    "statistics_release": _l("Statistics release"),
    "statistics_release_approval": _l("Statistics release approval"),
    "statistics_snapshot": _l("Statistics snapshot"),
    "user_account": _l("User account"),
}

# Detail keys (ids, codes and counts only; never free text).
DETAIL_LABELS: dict[str, Any] = {
    "acting_organization_id": _l("Acting organisation"),
    "active": _l("Active"),
    "active_changed": _l("Active status changed"),
    "activity_id": _l("Activity"),
    "assignee_id": _l("Assignee"),
    "attachments": _l("Attachments"),
    "attendee_organization_id": _l("Attending organisation"),
    "box": _l("List"),
    "state": _l("State filter"),
    "priority": _l("Priority filter"),
    "assigned": _l("Assigned filter"),
    "news": _l("With news filter"),
    "entry_id": _l("Log entry"),
    "receiver_case_id": _l("Own case file"),
    "return_id": _l("Return"),
    "breakglass": _l("Emergency access"),
    "case_id": _l("Case file"),
    "checked": _l("Events checked"),
    "clock": _l("Clock"),
    "column": _l("Column"),
    "consent_id": _l("Consent"),
    "count": _l("Count"),
    "day": _l("Day"),
    "days": _l("Days"),
    "decision": _l("Decision"),
    "delivery_id": _l("Delivery"),
    "due": _l("Due"),
    "email": _l("By e-mail"),
    "entry": _l("Own directory entry"),
    "expires_at": _l("Expires"),
    "external_sector": _l("Outside provider's sector"),
    "fields": _l("Field groups"),
    "filter_action": _l("Filter: action"),
    "filter_case_code": _l("Filter: case code"),
    "filter_flag": _l("Filter: flag"),
    "filter_organization_id": _l("Filter: organisation"),
    "filter_outcome": _l("Filter: outcome"),
    "filter_since": _l("Filter: from"),
    "filter_until": _l("Filter: until"),
    "filter_user_id": _l("Filter: user"),
    "first_bad_position": _l("First bad position"),
    "flagged": _l("Flagged"),
    "follows_id": _l("Follows"),
    "followup_id": _l("Follow-up"),
    "format": _l("Format"),
    "from_organization_id": _l("From organisation"),
    "from_status": _l("From status"),
    "gbv_type": _l("Type of violence"),
    "governorate": _l("Governorate"),
    "grant_id": _l("Emergency access"),
    "grounds": _l("Grounds"),
    "hours": _l("Hours"),
    "invited": _l("Invited"),
    "item_id": _l("Item"),
    "kind": _l("Kind of record"),
    "lang": _l("Language"),
    "legal_basis": _l("Legal basis"),
    "limit": _l("Limit"),
    "locale": _l("Language"),
    "meeting_id": _l("Meeting"),
    "minor": _l("Minor"),
    "move": _l("Move"),
    "network": _l("Network"),
    "network_id": _l("Network"),
    "new_owner_id": _l("New owner"),
    "next_page": _l("Next page"),
    "note_id": _l("Note"),
    "organizations": _l("Organisations"),
    "overdue_points": _l("Overdue action points"),
    "overdue_referrals": _l("Overdue referrals"),
    "page": _l("Page"),
    "participants": _l("Participants"),
    "period": _l("Period"),
    "plan_id": _l("Plan"),
    "previous_role": _l("Previous role"),
    "problem": _l("Problem"),
    "queue": _l("Queue"),
    "reason_code": _l("Reason"),
    "recipients": _l("Recipients"),
    "recovery_codes_replaced": _l("Recovery codes replaced"),
    "referral_id": _l("Referral"),
    "referrals_withdrawn": _l("Referrals withdrawn"),
    "release_id": _l("Release"),
    "remaining": _l("Remaining"),
    "report_id": _l("Report"),
    "request_id": _l("Request"),
    "response": _l("Response"),
    "risk_level": _l("Risk level"),
    "role": _l("Role"),
    "rows": _l("Rows"),
    "rung": _l("Step"),
    "scope": _l("Scope"),
    "seat": _l("Seat"),
    "sector": _l("Sector"),
    "sequence": _l("Sequence"),
    "series_id": _l("Series"),
    "services": _l("Services"),
    "shared": _l("Shared field groups"),
    "status": _l("Status"),
    "status_from": _l("From status"),
    "store": _l("Store"),
    "table": _l("Table"),
    "target_id": _l("Target"),
    "time_zone": _l("Time zone"),
    "to_organization_id": _l("To organisation"),
    "to_status": _l("To status"),
    "told": _l("Told"),
    "transfer_id": _l("Transfer"),
    "user_id": _l("User"),
    "values": _l("Values"),
    "values_moved": _l("Values moved"),
    "version": _l("Version"),
    "via_referral": _l("Through a referral"),
    "view": _l("View"),
    "weekend": _l("Weekend"),
    "what": _l("What"),
    "year": _l("Year"),
}

# The part of the application a route belongs to (its blueprint).
AREA_LABELS: dict[str, Any] = {
    "account": _l("Own account pages"),
    "admin": _l("User administration"),
    "api": _l("API"),
    "audit": _l("Audit workspace"),
    "auth": _l("Sign-in pages"),
    "breakglass": _l("Emergency access pages"),
    "cases": _l("Case pages"),
    "conferences": _l("Case conference pages"),
    "coordination": _l("Coordination pages"),
    "directory": _l("Directory pages"),
    "documents": _l("Document pages"),
    "followups": _l("Follow-up pages"),
    "home": _l("Home page"),
    "meeting_pack": _l("Meeting pack pages"),
    "notifications": _l("Notification pages"),
    "plans": _l("Plan pages"),
    "referrals": _l("Referral pages"),
    "statistics": _l("Statistics pages"),
    "transfers": _l("Transfer pages"),
}

_OWN_VALUES: dict[str, dict[str, Any]] = {
    "box": {"inbox": _l("Received"), "outbox": _l("Sent"), "all": _l("All")},
    "view": {"day": _l("My day"), "team": _l("Team"), "flags": _l("Flags")},
    "queue": {"approvals": _l("Approvals")},
    "what": {"action_plan": _l("Action plan"), "closure": _l("Closure")},
    "format": {
        "csv": _l("CSV"),
        "pdf": _l("PDF"),
        "xlsx": _l("Spreadsheet (XLSX)"),
        "ics": _l("Calendar (ICS)"),
        "json": _l("JSON"),
        "html": _l("Web page"),
    },
    "decision": {"approved": _l("Approved"), "refused": _l("Refused")},
    "response": {
        "attending": _l("Attending"),
        "excused": _l("Excused"),
        "delegating": _l("Delegating"),
        "pending": _l("No answer yet"),
    },
}
_STATES = {**CASE_STATUS_LABELS, **REFERRAL_STATE_LABELS, **TRANSFER_STATE_LABELS}
_REASONS = {**DECLINE_REASON_LABELS, **CLOSURE_REASON_LABELS}
# Which labels a detail key's coded value takes (the key's own list first).
VALUE_LABELS: dict[str, dict[str, Any]] = {
    **_OWN_VALUES,
    "status": _STATES,
    "status_from": _STATES,
    "from_status": _STATES,
    "to_status": _STATES,
    "role": ROLE_LABELS,
    "previous_role": ROLE_LABELS,
    "fields": FIELD_GROUP_NAMES,
    "shared": FIELD_GROUP_NAMES,
    "gbv_type": GBV_TYPE_LABELS,
    "risk_level": RISK_LABELS,
    "legal_basis": LEGAL_BASIS_LABELS,
    "locale": LOCALE_LABELS,
    "lang": LOCALE_LABELS,
    "reason_code": _REASONS,
    "sector": SECTOR_LABELS,
    "external_sector": SECTOR_LABELS,
    "move": MOVE_LABELS,
}
# Detail keys holding the id of a user or of an organisation: shown by name (staff and member
# organisations are not survivor data). No other id is ever resolved.
USER_KEYS = frozenset({"user_id", "assignee_id", "new_owner_id", "filter_user_id"})
ORG_KEYS = frozenset(
    {
        "acting_organization_id",
        "attendee_organization_id",
        "from_organization_id",
        "to_organization_id",
        "filter_organization_id",
    }
)
# Detail keys whose value is an action name or an outcome (the audit trail's own filters).
_ACTION_KEYS = frozenset({"filter_action"})


def _lazy_import_labels() -> None:
    """Labels kept with their own domain (follow-up kinds, conference grounds and seats, statistics
    scopes): read when first needed, so that importing this module pulls in no other blueprint."""
    if "kind" in VALUE_LABELS:
        return
    from ..conferences.forms import GROUND_LABELS
    from ..followups.forms import KIND_LABELS as FOLLOWUP_KINDS

    VALUE_LABELS["kind"] = FOLLOWUP_KINDS
    VALUE_LABELS["grounds"] = GROUND_LABELS


def action_label(code: str | None) -> str:
    if not code:
        return "—"
    if code.endswith(".*"):
        domain = code[:-2]
        return _("%(domain)s: every action", domain=str(DOMAIN_LABELS.get(domain, domain)))
    return str(ACTION_LABELS.get(code, code))


def object_label(code: str | None) -> str:
    return str(OBJECT_LABELS.get(code, code)) if code else "—"


def area_label(route: str | None) -> str:
    """The part of the application an endpoint belongs to ("cases.show" → the case pages)."""
    if not route:
        return "—"
    area = route.split(".", 1)[0]
    return str(AREA_LABELS.get(area, area))


def detail_key_label(key: str) -> str:
    return str(DETAIL_LABELS.get(key, key))


def detail_value_label(key: str, value: Any, names: dict[str, dict[str, str]] | None = None) -> str:
    """A detail's value for a person: a coded value by its label, a list item by item, a user or
    an organisation by name (from `names`, resolved for the whole page), yes/no for a flag, and
    anything else (ids, counts, codes, times) as stored."""
    names = names or {"users": {}, "orgs": {}}
    if isinstance(value, bool):
        return _("Yes") if value else _("No")
    if value is None:
        return "—"
    if isinstance(value, list):
        return list_join(detail_value_label(key, item, names) for item in value)
    text = str(value)
    _lazy_import_labels()
    if "," in text and key in VALUE_LABELS:  # codes recorded as one comma-separated string ("contact,identity")
        return list_join(detail_value_label(key, part, names) for part in text.split(","))
    if key in USER_KEYS:
        return names.get("users", {}).get(text, text)
    if key in ORG_KEYS:
        return names.get("orgs", {}).get(text, text)
    if key in _ACTION_KEYS:
        return action_label(text)
    if key == "filter_outcome":
        from .views import OUTCOME_LABELS

        return str(OUTCOME_LABELS.get(text, text))
    if key == "filter_flag":
        from .views import FLAG_LABELS

        return str(FLAG_LABELS.get(text, text))
    if key == "problem":
        from .views import PROBLEM_LABELS

        return str(PROBLEM_LABELS.get(text, text))
    _lazy_import_labels()
    known = VALUE_LABELS.get(key)
    if known is not None and text in known:
        return str(known[text])
    return text


def details_labelled(
    details: dict[str, Any] | None, names: dict[str, dict[str, str]] | None = None
) -> list[tuple[str, str]]:
    """An event's details as (label, value) pairs, sorted by key."""
    return [(detail_key_label(k), detail_value_label(k, v, names)) for k, v in sorted((details or {}).items())]


def detail_ids(details: dict[str, Any] | None) -> tuple[set[str], set[str]]:
    """The user ids and organisation ids named in an event's details (to resolve by name)."""
    users: set[str] = set()
    orgs: set[str] = set()
    for key, value in (details or {}).items():
        if isinstance(value, str) and value:
            if key in USER_KEYS:
                users.add(value)
            elif key in ORG_KEYS:
                orgs.add(value)
    return users, orgs
