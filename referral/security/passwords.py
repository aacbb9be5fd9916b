"""Password hashing (argon2id, rehash on login) and the password policy."""

from __future__ import annotations

import functools
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from zxcvbn import zxcvbn

MIN_LENGTH = 12
MAX_LENGTH = 128
MIN_STRENGTH = 3  # zxcvbn score out of 4
_COMMON = Path(__file__).with_name("common_passwords.txt")


class PasswordHashing:
    """argon2id with the settings' cost; a hash made with weaker parameters is flagged for rehash."""

    def __init__(self, time_cost: int, memory_kib: int, parallelism: int) -> None:
        self._hasher = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism, type=Type.ID
        )
        # A fixed hash to verify against when the account does not exist, so timing is alike.
        self._dummy = self._hasher.hash("not a real password, only here for even timing")

    def hash(self, password: str) -> str:
        return self._hasher.hash(_normalise(password))

    def verify(self, stored: str | None, password: str) -> bool:
        try:
            return self._hasher.verify(stored or self._dummy, _normalise(password)) and stored is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored: str) -> bool:
        return self._hasher.check_needs_rehash(stored)


@dataclass(frozen=True)
class PolicyProblem:
    code: str  # too_short, too_long, common, weak, contains_username


def _normalise(password: str) -> str:
    return unicodedata.normalize("NFKC", password)


@functools.cache
def common_passwords() -> frozenset[str]:
    lines = _COMMON.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip() for line in lines if line.strip() and not line.startswith("#"))


def check_policy(password: str, username: str = "") -> PolicyProblem | None:
    """None when the password may be used; otherwise the first problem found."""
    value = _normalise(password)
    if len(value) < MIN_LENGTH:
        return PolicyProblem("too_short")
    if len(value) > MAX_LENGTH:
        return PolicyProblem("too_long")
    lowered = value.lower()
    if lowered in common_passwords():
        return PolicyProblem("common")
    if username and username.lower() in lowered:
        return PolicyProblem("contains_username")
    if zxcvbn(value[:64], user_inputs=[username, "shabaka"])["score"] < MIN_STRENGTH:
        return PolicyProblem("weak")
    return None
