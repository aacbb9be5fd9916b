"""All of Shabaka's field cryptography: AES-256-GCM with associated data, and key lookup.

Stored format: ``format version (1 byte) | key id (4 bytes, big endian) | nonce (12) |
ciphertext+tag``. The associated data binds a value to its place (table, column, row id,
owning organisation), so a value copied elsewhere, or with a flipped bit, fails to decrypt
with `DecryptionError`; nothing here ever returns None for a bad value.

Keys come from a `Keyring`. The root key lives outside the database (environment or file);
`PlatformKeyring` derives the platform key used for account secrets from it.
"""

from __future__ import annotations

import os
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


class PlatformKeyring:
    """Key id 0: the platform key for account secrets (TOTP seeds), derived from the root key."""

    PLATFORM_KEY_ID = 0

    def __init__(self, root_key: bytes) -> None:
        if len(root_key) != 32:
            raise CryptoError("the root key must be 32 bytes")
        self._platform = derive_key(root_key, "shabaka/platform/v1")

    def current(self, context: Context) -> tuple[int, bytes]:
        return self.PLATFORM_KEY_ID, self._platform

    def key(self, key_id: int) -> bytes:
        if key_id != self.PLATFORM_KEY_ID:
            raise UnknownKey(f"unknown key id {key_id}")
        return self._platform


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
