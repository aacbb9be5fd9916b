"""All of Shabaka's cryptography: AES-256-GCM field encryption with associated data, wrapping
of data keys under the root key, key derivation and blind indexes.

Stored format of a field: ``format version (1 byte) | key id (4 bytes, big endian) | nonce
(12) | ciphertext+tag``. The associated data binds a value to its place (table, column, row
id, owning organisation), so a value copied elsewhere, or with a flipped bit, fails to decrypt
with `DecryptionError`; nothing here ever returns None for a bad value.

Keys come from a `Keyring` (see `keys.py`, which stores data keys wrapped by the root key).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import os
import re
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ..text import fold_digits

FORMAT_VERSION = 1
_HEADER = struct.Struct(">BI")
_NONCE_BYTES = 12


class CryptoError(Exception):
    """Base of every cryptographic failure."""


class DecryptionError(CryptoError):
    """The value was altered, moved to another place, or the key is gone."""


class TamperedValue(DecryptionError):
    """The stored value itself does not authenticate under its key in this place: altered, cut,
    or moved from another row, column or organisation (not a missing or unwrappable key)."""


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
        return associated_data(self.table, self.column, self.row_id, self.organization_id)


def associated_data(table: str, column: str, row_id: str, organization_id: str) -> bytes:
    """The bytes that bind a value to its place: table, column, row id and owning organisation."""
    return f"{table}\x1f{column}\x1f{row_id}\x1f{organization_id}".encode()


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
        self._aead: dict[int, tuple[bytes, AESGCM]] = {}

    def _cipher_for(self, key_id: int, key: bytes) -> AESGCM:
        """One AESGCM object per key (rebuilt if the keyring hands out other bytes for the id)."""
        cached = self._aead.get(key_id)
        if cached is None or cached[0] != key:
            cached = (key, AESGCM(key))
            self._aead[key_id] = cached
        return cached[1]

    def encrypt(self, value: bytes | str, context: Context) -> bytes:
        data = value.encode() if isinstance(value, str) else value
        key_id, key = self._keyring.current(context)
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._cipher_for(key_id, key).encrypt(nonce, data, context.associated_data())
        return _HEADER.pack(FORMAT_VERSION, key_id) + nonce + sealed

    def decrypt(self, blob: bytes, context: Context) -> bytes:
        return self.decrypt_bound(blob, context.associated_data())

    def decrypt_bound(self, blob: bytes, associated: bytes) -> bytes:
        """Decrypt with the associated data already encoded (the ORM's hot path on loading rows)."""
        if len(blob) < _HEADER.size + _NONCE_BYTES + 16:
            raise TamperedValue("stored value is too short")
        version, key_id = _HEADER.unpack_from(blob)
        if version != FORMAT_VERSION:
            raise TamperedValue(f"unknown format version {version}")
        nonce = blob[_HEADER.size : _HEADER.size + _NONCE_BYTES]
        try:
            return self._cipher_for(key_id, self._keyring.key(key_id)).decrypt(
                nonce, blob[_HEADER.size + _NONCE_BYTES :], associated
            )
        except InvalidTag:
            raise TamperedValue("value does not authenticate in this place") from None

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
        digits = _NON_DIGITS.sub("", fold_digits(value))
        if kind == "phone":
            if digits.startswith("00"):
                digits = digits[2:]
            if len(digits) == 12 and digits.startswith(("970", "972")):
                digits = "0" + digits[3:]  # +970 59x xxx xxx and 059x xxx xxx are one number
        return digits
    return " ".join(value.split()).casefold()


def blind_index(index_key: bytes, column: str, value: str, kind: str = "text") -> str | None:
    """HMAC-SHA256 of the normalised value under a key derived for this column, truncated.

    Equal values in one organisation's column give equal indexes; nothing else can be learnt.
    None when the value normalises to nothing.
    """
    normal = normalise_for_index(value, kind)
    if not normal:
        return None
    return hmac.new(_column_key(index_key, column), normal.encode(), hashlib.sha256).digest()[:BLIND_INDEX_BYTES].hex()


@functools.lru_cache(maxsize=1024)
def _column_key(index_key: bytes, column: str) -> bytes:
    return derive_key(index_key, f"shabaka/blind-index/{column}")


# ------------------------------------------------------------------------------ streamed files
# An encrypted file: a header ``magic (7) | format version (1) | key id (4) | chunk size (4)``,
# then one record per chunk of plaintext: ``nonce (12) | ciphertext+tag``. Every chunk is full
# but the last (which may be short, or empty for an empty file: there is always one). Each
# chunk's associated data binds the header, the file's place (a `Context`), the chunk's index
# and whether it is the last: chunks cannot be reordered, dropped, repeated, moved to another
# file or organisation, and the file cannot be cut short or extended, without a DecryptionError.
# Nonces are random per chunk (2^32 chunks under one key is 256 TiB at 64 KiB a chunk).
STREAM_MAGIC = b"SHBKDOC"
STREAM_FORMAT_VERSION = 1
STREAM_CHUNK_BYTES = 64 * 1024
_STREAM_MAX_CHUNK_BYTES = 16 * 1024 * 1024
_STREAM_HEADER = struct.Struct(">7sBII")
_STREAM_POSITION = struct.Struct(">Q?")
_TAG_BYTES = 16


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


def read_exactly(reader: Readable, size: int) -> bytes:
    """`size` bytes, or fewer only at the end of the stream (a raw stream may return less)."""
    parts: list[bytes] = []
    wanted = size
    while wanted > 0:
        part = reader.read(wanted)
        if not part:
            break
        parts.append(part)
        wanted -= len(part)
    return b"".join(parts)


def _stream_binding(header: bytes, context: Context) -> bytes:
    return b"shabaka/stream/v1\x1f" + context.associated_data() + b"\x1f" + header


def encrypt_stream(
    reader: Readable, key_id: int, key: bytes, context: Context, chunk_size: int = STREAM_CHUNK_BYTES
) -> Iterator[bytes]:
    """The encrypted file, as pieces to write in order, read from `reader` one chunk at a time.

    Nothing is held but the current and the next chunk; an exception raised by `reader` (a size
    limit, say) propagates from the generator.
    """
    if not 0 < chunk_size <= _STREAM_MAX_CHUNK_BYTES:
        raise ValueError("chunk size out of range")
    header = _STREAM_HEADER.pack(STREAM_MAGIC, STREAM_FORMAT_VERSION, key_id, chunk_size)
    yield header
    aead = AESGCM(key)
    binding = _stream_binding(header, context)
    index = 0
    current = read_exactly(reader, chunk_size)
    while True:
        following = read_exactly(reader, chunk_size) if len(current) == chunk_size else b""
        final = not following
        nonce = os.urandom(_NONCE_BYTES)
        yield nonce + aead.encrypt(nonce, current, binding + _STREAM_POSITION.pack(index, final))
        if final:
            return
        current, index = following, index + 1


def stream_key_id(reader: Readable) -> int:
    """The id of the data key an encrypted file was sealed with, read from its header."""
    return _read_stream_header(reader)[1]


def _read_stream_header(reader: Readable) -> tuple[bytes, int, int]:
    header = read_exactly(reader, _STREAM_HEADER.size)
    if len(header) != _STREAM_HEADER.size:
        raise DecryptionError("not an encrypted file: header cut short")
    magic, version, key_id, chunk_size = _STREAM_HEADER.unpack(header)
    if magic != STREAM_MAGIC or version != STREAM_FORMAT_VERSION:
        raise DecryptionError("not an encrypted file of a known format")
    if not 0 < chunk_size <= _STREAM_MAX_CHUNK_BYTES:
        raise DecryptionError("encrypted file header is not valid")
    return header, key_id, chunk_size


def decrypt_stream(reader: Readable, key_for: Callable[[int], bytes], context: Context) -> Iterator[bytes]:
    """The plaintext of an encrypted file, chunk by chunk, each authenticated before it is given.

    `key_for` maps the header's key id to the key (a keyring's `key`). A chunk that was altered,
    moved or reordered raises DecryptionError when it is reached; a file cut short or extended
    raises at its end. Callers that must not hand out any plaintext of a bad file should not
    stream it, or should treat an error mid-stream as an aborted transfer.
    """
    header, key_id, chunk_size = _read_stream_header(reader)
    aead = AESGCM(key_for(key_id))
    binding = _stream_binding(header, context)
    record_size = _NONCE_BYTES + chunk_size + _TAG_BYTES
    index = 0
    current = read_exactly(reader, record_size)
    while True:
        if len(current) < _NONCE_BYTES + _TAG_BYTES:
            raise DecryptionError(f"encrypted file cut short at chunk {index}")
        following = read_exactly(reader, record_size) if len(current) == record_size else b""
        final = not following
        try:
            plain = aead.decrypt(
                current[:_NONCE_BYTES], current[_NONCE_BYTES:], binding + _STREAM_POSITION.pack(index, final)
            )
        except InvalidTag:
            raise DecryptionError(f"chunk {index} does not authenticate in this file") from None
        yield plain
        if final:
            return
        current, index = following, index + 1
