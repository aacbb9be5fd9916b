"""The one registry of audit action names (`domain.verb`). Recording an unknown name is an error."""

from __future__ import annotations

ACTIONS: frozenset[str] = frozenset(
    {
        # sign-in and sessions
        "auth.login",
        "auth.login_failed",
        "auth.login_throttled",
        "auth.mfa_verified",
        "auth.mfa_failed",
        "auth.mfa_enrolled",
        "auth.recovery_code_used",
        "auth.logout",
        "auth.session_ended",
        "auth.password_changed",
        # administration of accounts
        "user.create",
        "user.role_change",
        "user.deactivate",
        "user.reactivate",
        "user.password_reset",
        "user.sessions_ended",
        "user.locale_change",
        "user.notification_preference",
        # API tokens
        "token.issue",
        "token.revoke",
        # networks and organisations
        "network.create",
        "network.update",
        "organization.create",
        "organization.update",
        "membership.add",
        "membership.remove",
        "organization.delete",
        "service.create",
        "service.update",
        # keys
        "keys.rotate",
        "keys.reencrypt",
        "keys.rotate_root",
        "keys.retire",
        # case files
        "case.create",
        "case.view",
        "case.reveal",
        "case.update",
        "case.note",
        "case.incident",
        "case.transition",
        "case.approve",
        "case.assign",
        "case.search_identifier",
        "case.purge",
        "case.mandatory_report",
        "case.transfer_request",
        "case.transfer_view",
        "case.transfer",
        "case.transfer_decline",
        "case.transfer_cancel",
        "consent.record",
        "consent.withdraw",
        "consent.override",
        "referral.create",
        "referral.view",
        "referral.send",
        "referral.accept",
        "referral.decline",
        "referral.start",
        "referral.complete",
        "referral.close",
        "referral.withdraw",
        "referral.assign",
        "referral.print",
        "document.upload",
        "document.download",
        # follow-up tasks
        "followup.create",
        "followup.view",
        "followup.update",
        "followup.complete",
        "followup.cancel",
        # access
        "access.denied",
        "breakglass.open",
        "breakglass.end",
        "breakglass.revoke",
        "breakglass.list",
    }
)

OUTCOMES = ("success", "failure", "denied")
