"""All of Shabaka's cryptography: AES-256-GCM field encryption with associated data, wrapping
of data keys under the root key, key derivation and blind indexes.

Stored format of a field: ``format version (1 byte) | key id (4 bytes, big endian) | nonce
(12) | ciphertext+tag``. The associated data binds a value to its place (table, column, row
id, owning organisation), so a value copied elsewhere, or with a flipped bit, fails to decrypt
with `DecryptionError`; nothing here ever returns None for a bad value.

Keys come from a `Keyring` (see `keys.py`, which stores data keys wrapped by the root key).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import struct
from dataclasses import dataclass
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

FORMAT_VERSION = 1
_HEADER = struct.Struct(">BI")
_NONCE_BYTES = 12


class CryptoError(Exception):
    """Base of every cryptographic failure."""


class DecryptionError(CryptoError):
    """The value was altered, moved to another place, or the key is gone."""


class UnknownKey(CryptoError):
    """The key id in a stored value is not known to the keyring."""


@dataclass(frozen=True)
class Context:
    """Where a value lives; encoded into the associated data."""

    table: str
    column: str
    row_id: str
    organization_id: str = ""

    def associated_data(self) -> bytes:
        parts = (self.table, self.column, self.row_id, self.organization_id)
        return b"\x1f".join(p.encode() for p in parts)


class Keyring(Protocol):
    def current(self, context: Context) -> tuple[int, bytes]:
        """The key id and key to use for a new value in this context."""

    def key(self, key_id: int) -> bytes:
        """The key with this id; raise UnknownKey if there is none."""


def derive_key(root_key: bytes, purpose: str) -> bytes:
    """A 256-bit key for one purpose, derived from the root key with HKDF-SHA256."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose.encode()).derive(root_key)


class FieldCipher:
    def __init__(self, keyring: Keyring) -> None:
        self._keyring = keyring

    def encrypt(self, value: bytes | str, context: Context) -> bytes:
        data = value.encode() if isinstance(value, str) else value
        key_id, key = self._keyring.current(context)
        nonce = os.urandom(_NONCE_BYTES)
        sealed = AESGCM(key).encrypt(nonce, data, context.associated_data())
        return _HEADER.pack(FORMAT_VERSION, key_id) + nonce + sealed

    def decrypt(self, blob: bytes, context: Context) -> bytes:
        if len(blob) < _HEADER.size + _NONCE_BYTES + 16:
            raise DecryptionError("stored value is too short")
        version, key_id = _HEADER.unpack_from(blob)
        if version != FORMAT_VERSION:
            raise DecryptionError(f"unknown format version {version}")
        nonce = blob[_HEADER.size : _HEADER.size + _NONCE_BYTES]
        try:
            return AESGCM(self._keyring.key(key_id)).decrypt(
                nonce, blob[_HEADER.size + _NONCE_BYTES :], context.associated_data()
            )
        except InvalidTag:
            raise DecryptionError("value does not authenticate in this place") from None

    def decrypt_text(self, blob: bytes, context: Context) -> str:
        return self.decrypt(blob, context).decode()

    @staticmethod
    def key_id_of(blob: bytes) -> int:
        return int(_HEADER.unpack_from(blob)[1])


# ------------------------------------------------------------------------------ key wrapping
def wrap_key(wrapping_key: bytes, key: bytes, associated: bytes) -> bytes:
    """A data key sealed under a root key (AES-256-GCM): ``nonce | ciphertext+tag``."""
    nonce = os.urandom(_NONCE_BYTES)
    return nonce + AESGCM(wrapping_key).encrypt(nonce, key, associated)


def unwrap_key(wrapping_key: bytes, wrapped: bytes, associated: bytes) -> bytes:
    try:
        return AESGCM(wrapping_key).decrypt(wrapped[:_NONCE_BYTES], wrapped[_NONCE_BYTES:], associated)
    except InvalidTag:
        raise DecryptionError("data key does not unwrap under this root key") from None


def new_key() -> bytes:
    return os.urandom(32)


def key_fingerprint(key: bytes) -> str:
    """A short public name for a root key (never the key itself)."""
    return hashlib.sha256(b"shabaka root key id\x00" + key).hexdigest()[:16]


# ------------------------------------------------------------------------------ blind indexes
BLIND_INDEX_BYTES = 16
_NON_DIGITS = re.compile(r"\D+")


def normalise_for_index(value: str, kind: str) -> str:
    """Digits only for phone numbers and national ids (phones in the national 0-prefixed form);
    trimmed, case-folded text otherwise."""
    if kind in ("phone", "national_id"):
        digits = _NON_DIGITS.sub("", value.translate(_ARABIC_DIGITS))
        if kind == "phone":
            if digits.startswith("00"):
                digits = digits[2:]
            if len(digits) == 12 and digits.startswith(("970", "972")):
                digits = "0" + digits[3:]  # +970 59x xxx xxx and 059x xxx xxx are one number
        return digits
    return " ".join(value.split()).casefold()


_ARABIC_DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "01234567890123456789")


def blind_index(index_key: bytes, column: str, value: str, kind: str = "text") -> str | None:
    """HMAC-SHA256 of the normalised value under a key derived for this column, truncated.

    Equal values in one organisation's column give equal indexes; nothing else can be learnt.
    None when the value normalises to nothing.
    """
    normal = normalise_for_index(value, kind)
    if not normal:
        return None
    column_key = derive_key(index_key, f"shabaka/blind-index/{column}")
    return hmac.new(column_key, normal.encode(), hashlib.sha256).digest()[:BLIND_INDEX_BYTES].hex()
