"""Translated labels for codes, and the messages shown for error codes."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

ROLE_LABELS = {
    "caseworker": _l("Caseworker"),
    "supervisor": _l("Supervisor"),
    "org_admin": _l("Organisation administrator"),
    "coordinator": _l("Network coordinator"),
    "auditor": _l("Auditor"),
    "sysadmin": _l("System administrator"),
}

KIND_LABELS = {"governmental": _l("Governmental"), "civil": _l("Civil society")}

SECTOR_LABELS = {
    "shelter": _l("Shelter"),
    "health": _l("Health"),
    "psychosocial": _l("Psychosocial support"),
    "social": _l("Social services"),
    "legal_aid": _l("Legal aid"),
    "police": _l("Police family protection"),
    "justice": _l("Prosecution and courts"),
    "economic": _l("Economic empowerment"),
    "other": _l("Other"),
}

LOCALE_LABELS = {"ar": "العربية", "en": "English"}

MESSAGES = {
    "required": _l("This field is required."),
    "invalid": _l("This value is not valid."),
    "taken": _l("This value is already in use."),
    "unknown": _l("Choose one of the listed options."),
    "invalid_username": _l("Use 3 to 64 lower-case letters, digits, dots, dashes or underscores."),
    "username_taken": _l("This username is already in use."),
    "invalid_role": _l("Choose one of the listed roles."),
    "invalid_email": _l("Enter a valid e-mail address."),
    "required_for_coordinator": _l("A coordinator needs a network."),
    "may_not_grant_role": _l("You may not grant this role."),
    "invalid_code": _l("The code is not valid. Enter the current code from your app, or a recovery code."),
    "invalid_credentials": _l("Invalid username or password."),
    "too_many_attempts": _l("Too many attempts. Wait a minute and try again."),
    "mismatch": _l("The two passwords do not match."),
    "wrong_password": _l("The current password is not correct."),
    "too_short": _l("Use at least 12 characters."),
    "too_long": _l("Use at most 128 characters."),
    "common": _l("This password is too common. Choose another."),
    "weak": _l("This password is too easy to guess. Add more words or characters."),
    "contains_username": _l("The password must not contain your username."),
    "unchanged": _l("Choose a password different from the current one."),
    "already_member": _l("This organisation is already a member of the network."),
    "invalid_days": _l("Choose between 1 and 365 days."),
}


def message(code: str) -> str:
    return str(MESSAGES.get(code, MESSAGES["invalid"]))
