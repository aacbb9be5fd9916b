"""Ed25519 signatures for the audit trail's checkpoints.

The private key lives with the worker that seals the audit trail, never with the web process;
the public key is published to auditors, who pin it. A key is named by its `key_id`, a short
fingerprint of the public key, so that checkpoints signed before a key change still verify.
Keys travel as base64 of their 32 raw bytes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from .crypto import CryptoError

KEY_BYTES = 32
SIGNATURE_BYTES = 64


class BadKey(CryptoError):
    """A key is not base64 of 32 bytes."""


class Signer:
    """Signs with one Ed25519 private key (the worker's)."""

    def __init__(self, private_seed: bytes) -> None:
        if len(private_seed) != KEY_BYTES:
            raise BadKey("an Ed25519 private key is 32 bytes")
        self._key = Ed25519PrivateKey.from_private_bytes(private_seed)
        self.public_key = self._key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.key_id = key_id(self.public_key)

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message)


def new_private_key() -> bytes:
    """32 random bytes: a fresh Ed25519 private key (its seed)."""
    from cryptography.hazmat.primitives.serialization import NoEncryption, PrivateFormat

    return Ed25519PrivateKey.generate().private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())


def public_key_of(private_seed: bytes) -> bytes:
    return Signer(private_seed).public_key


def key_id(public_key: bytes) -> str:
    """A short public name for a verification key: 16 hex digits of its SHA-256."""
    return hashlib.sha256(b"shabaka audit key\x00" + public_key).hexdigest()[:16]


def verify(public_key: bytes, signature: bytes, message: bytes) -> bool:
    """Whether `signature` is this key's signature of `message` (never raises for bad input)."""
    if len(public_key) != KEY_BYTES or len(signature) != SIGNATURE_BYTES:
        return False
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


def decode_key(text: str, name: str = "key") -> bytes:
    """32 bytes from base64 text; BadKey names `name` otherwise."""
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise BadKey(f"{name} must be base64 of 32 bytes") from None
    if len(raw) != KEY_BYTES:
        raise BadKey(f"{name} must be base64 of 32 bytes")
    return raw


def encode_key(raw: bytes) -> str:
    return base64.b64encode(raw).decode()
