"""The web application as the benchmarks serve it with gunicorn, from the environment (as
`make run` and a deployment do), with three switches for side-by-side measurements:

- BENCH_AUDIT_OFF=1: the audit write (`referral.audit.services.write`, which every `record`
  goes through) does nothing: the same request, the same queries and commit, no audit row.
- BENCH_CIPHER_OFF=1: no decryption on load. The field cipher answers each (ciphertext, place)
  from a memory of what it decrypted before in this process, so once a page has been read the
  AES-GCM work and the key unwrapping are out of the path while the same bytes still come from
  the database and every page still shows real values (leaving values sealed, as
  bench/case_list.py's "cipher off" does, would break the pages' templates). Encryption is left
  as it is: the reads measured against this server write no encrypted value, and a sealed value
  it wrote must stay readable by the other servers on the same database.
- BENCH_POLICY_OFF=1: the access policy's machinery skipped while every page shows the same
  rows as the full server, so that the ratio compares like with like. Every rule of `can` is
  replaced by one check, "it belongs to the actor's organisation (or to nobody)": the rule
  lookup, the role and team conditions and the per-row checks are gone. The list scopes keep
  their result and their plan: the same organisation and case-team predicates, written here
  directly (a supervisor's cases are her organisation's; a caseworker's those of her case teams;
  her referrals those assigned to her in the inbox, and of her team's cases or sent by her in the
  outbox). Giving the query the team's ids as a list instead (read once per process) was tried
  and is slower than the semi-join on case_member at 1,000+ team cases, which would again
  compare two different queries.

The switches are read here only: the application's own settings never see them, and only the
benchmarks load this module.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from flask import Flask
from sqlalchemy import Select, false, or_, select

from referral import create_app
from referral.access import policy
from referral.audit import services
from referral.security.crypto import FieldCipher

_MEMORY_LIMIT = 500_000  # values remembered per process (a page decrypts tens to hundreds)


def _no_audit_write(_session: Any, _events: Sequence[Any]) -> None:
    return None


class RememberingCipher(FieldCipher):
    """A field cipher that decrypts each (ciphertext, place) once per process."""

    def __init__(self, inner: FieldCipher) -> None:
        self.__dict__.update(inner.__dict__)
        self._memory: dict[tuple[bytes, bytes], bytes] = {}

    def decrypt_bound(self, blob: bytes, associated: bytes) -> bytes:
        key = (blob, associated)
        found = self._memory.get(key)
        if found is None:
            found = super().decrypt_bound(blob, associated)
            if len(self._memory) < _MEMORY_LIMIT:
                self._memory[key] = found
        return found


_ORGANISATION_ATTRIBUTES = ("organization_id", "from_organization_id", "to_organization_id")


def _same_organisation(actor: Any, obj: Any) -> bool:
    if obj is None:
        return True
    owners = [getattr(obj, a, None) for a in _ORGANISATION_ATTRIBUTES if hasattr(obj, a)]
    return not owners or actor.organization_id in owners


def _team(actor: Any) -> Any:
    """The ids of the caseworker's team cases, as the policy's own subquery."""
    from referral.cases.models import CaseMember

    return select(CaseMember.case_id).where(CaseMember.user_id == actor.id)


def _scope_cases(actor: Any, stmt: Select[Any]) -> Select[Any]:
    from referral.cases.models import Case

    stmt = stmt.where(Case.organization_id == actor.organization_id)
    if actor.role == "caseworker":
        return stmt.where(Case.id.in_(_team(actor)))
    return stmt if actor.role == "supervisor" else stmt.where(false())


def _scope_referrals(actor: Any, box: str) -> Any:
    from referral.referrals.models import Referral

    inbox, outbox = policy.referral_box(actor, "inbox"), policy.referral_box(actor, "outbox")
    if actor.role == "caseworker":
        inbox = inbox & (Referral.assigned_to == actor.id)
        outbox = outbox & or_(Referral.case_id.in_(_team(actor)), Referral.created_by == actor.id)
    return inbox if box == "inbox" else outbox if box == "outbox" else or_(inbox, outbox)


def _policy_off() -> None:
    for action in list(policy._RULES):
        policy._RULES[action] = _same_organisation
    swaps = {policy.scope_cases: _scope_cases, policy.scope_referrals: _scope_referrals}
    for name, module in list(sys.modules.items()):  # every module that imported a scope by name
        if name == "referral" or name.startswith("referral."):
            for attribute, value in list(vars(module).items()):
                for original, reduced in swaps.items():
                    if value is original:
                        setattr(module, attribute, reduced)


def create() -> Flask:
    app = create_app()
    if os.environ.get("BENCH_AUDIT_OFF") == "1":
        services.write = _no_audit_write
    if os.environ.get("BENCH_CIPHER_OFF") == "1":
        rt = app.extensions["shabaka"]
        app.extensions["shabaka"] = replace(rt, cipher=RememberingCipher(rt.cipher))
    if os.environ.get("BENCH_POLICY_OFF") == "1":
        _policy_off()
    return app
