"""The codes of API.md, in one place. Labels shown to people are translated in `labels.py`."""

from __future__ import annotations

ROLES = ("caseworker", "supervisor", "org_admin", "coordinator", "auditor", "sysadmin")
# Roles an organisation admin may grant; the rest only a system admin grants.
ORG_GRANTABLE_ROLES = ("caseworker", "supervisor", "org_admin")
PLATFORM_ROLES = ("coordinator", "auditor", "sysadmin")

ORG_KINDS = ("governmental", "civil")
SECTORS = ("shelter", "health", "psychosocial", "social", "legal_aid", "police", "justice", "economic", "other")
GOVERNORATES = ("tubas", "hebron", "jericho", "tulkarm", "qalqilya", "nablus")
LOCALES = ("ar", "en")
