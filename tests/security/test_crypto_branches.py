"""The cryptography module checked against the standards it claims: the stored layout read back
with AES-GCM directly, keys and indexes recomputed with HMAC by hand, and every way a stored value
or an encrypted file can be cut, altered, moved or mislabelled refused with its own error."""

from __future__ import annotations

import hashlib
import hmac
import io
import os
import struct

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from referral.security import crypto
from referral.security.crypto import (
    Context,
    CryptoError,
    DecryptionError,
    FieldCipher,
    TamperedValue,
    UnknownKey,
    blind_index,
    decrypt_stream,
    encrypt_stream,
    normalise_for_index,
    read_exactly,
    stream_key_id,
)

PLACE = Context("case_file", "full_name", "row-1", "org-1")
KEY_ID = 0x01020304  # four distinct bytes: the header's byte order shows


def hkdf_sha256(key: bytes, info: bytes, length: int = 32) -> bytes:
    """RFC 5869 with no salt, written out."""
    prk = hmac.new(bytes(32), key, hashlib.sha256).digest()
    out, block, counter = b"", b"", 1
    while len(out) < length:
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        out, counter = out + block, counter + 1
    return out[:length]


class Keys:
    """A keyring that hands out `current` for new values and notes what it was asked."""

    def __init__(self, key_id: int = KEY_ID, key: bytes | None = None) -> None:
        self.current_id, self.keys = key_id, {key_id: key or os.urandom(32)}
        self.asked: list[object] = []

    def current(self, context: Context) -> tuple[int, bytes]:
        self.asked.append(context)
        return self.current_id, self.keys[self.current_id]

    def key(self, key_id: int) -> bytes:
        self.asked.append(key_id)
        if key_id not in self.keys:
            raise UnknownKey(str(key_id))
        return self.keys[key_id]


# ------------------------------------------------------------------------------ places and keys
def test_the_associated_data_names_the_place_field_by_field() -> None:
    assert PLACE.associated_data() == b"case_file\x1ffull_name\x1frow-1\x1forg-1"
    assert Context("t", "c", "r").associated_data() == b"t\x1fc\x1fr\x1f"  # no owner: still four fields
    assert crypto.associated_data("t", "c", "r", "o") == b"t\x1fc\x1fr\x1fo"


def test_derived_keys_are_hkdf_sha256_per_purpose() -> None:
    root = os.urandom(32)
    assert crypto.derive_key(root, "shabaka/fields") == hkdf_sha256(root, b"shabaka/fields")
    assert crypto.derive_key(root, "a") != crypto.derive_key(root, "b")
    assert len(crypto.new_key()) == 32 and crypto.new_key() != crypto.new_key()


def test_a_root_keys_fingerprint_is_public_and_short() -> None:
    root = os.urandom(32)
    expected = hashlib.sha256(b"shabaka root key id\x00" + root).hexdigest()[:16]
    assert crypto.key_fingerprint(root) == expected and len(expected) == 16


def test_a_wrapped_data_key_is_aes_gcm_bound_to_its_label() -> None:
    root, data_key = os.urandom(32), os.urandom(32)
    wrapped = crypto.wrap_key(root, data_key, b"key 3")
    assert len(wrapped) == 12 + 32 + 16 and data_key not in wrapped
    assert AESGCM(root).decrypt(wrapped[:12], wrapped[12:], b"key 3") == data_key
    assert crypto.unwrap_key(root, wrapped, b"key 3") == data_key
    assert crypto.wrap_key(root, data_key, b"key 3") != wrapped  # a fresh nonce each time
    for root_key, label in ((root, b"key 4"), (os.urandom(32), b"key 3")):
        with pytest.raises(DecryptionError, match=r"^data key does not unwrap under this root key$"):
            crypto.unwrap_key(root_key, wrapped, label)


# ------------------------------------------------------------------------------ field values
def test_a_stored_value_is_version_key_id_nonce_and_aes_gcm_of_the_value() -> None:
    keys = Keys()
    blob = FieldCipher(keys).encrypt("Amal Khalil", PLACE)
    assert keys.asked == [PLACE]
    assert blob[:5] == b"\x01\x01\x02\x03\x04" and FieldCipher.key_id_of(blob) == KEY_ID
    assert len(blob) == 5 + 12 + len(b"Amal Khalil") + 16
    plain = AESGCM(keys.keys[KEY_ID]).decrypt(blob[5:17], blob[17:], PLACE.associated_data())
    assert plain == b"Amal Khalil"


def test_text_and_bytes_round_trip_and_every_value_gets_its_own_nonce() -> None:
    cipher = FieldCipher(Keys())
    name = "أمل خليل"
    first, second = cipher.encrypt(name, PLACE), cipher.encrypt(name.encode(), PLACE)
    assert first[5:17] != second[5:17]
    assert cipher.decrypt_text(first, PLACE) == cipher.decrypt_text(second, PLACE) == name
    assert cipher.decrypt(first, PLACE) == name.encode()
    assert cipher.decrypt_bound(first, PLACE.associated_data()) == name.encode()
    empty = cipher.encrypt("", PLACE)
    assert len(empty) == 33 and cipher.decrypt(empty, PLACE) == b""  # the shortest valid value


def test_a_key_handed_out_again_with_other_bytes_is_used_as_given() -> None:
    keys = Keys()
    cipher = FieldCipher(keys)
    cipher.decrypt(cipher.encrypt("before", PLACE), PLACE)
    keys.keys[KEY_ID] = os.urandom(32)  # say, a keyring reloaded with the id reused
    blob = cipher.encrypt("after", PLACE)
    assert AESGCM(keys.keys[KEY_ID]).decrypt(blob[5:17], blob[17:], PLACE.associated_data()) == b"after"
    assert cipher.decrypt(blob, PLACE) == b"after"


def test_one_aes_gcm_object_serves_each_key(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[bytes] = []

    def counted(key: bytes) -> AESGCM:
        built.append(key)
        return AESGCM(key)

    monkeypatch.setattr(crypto, "AESGCM", counted)
    keys = Keys()
    keys.keys[8] = os.urandom(32)
    cipher = FieldCipher(keys)
    blobs = [cipher.encrypt(f"value {i}", PLACE) for i in range(3)]
    assert [cipher.decrypt(blob, PLACE) for blob in blobs] == [b"value 0", b"value 1", b"value 2"]
    assert built == [keys.keys[KEY_ID]]  # the hot path builds nothing per value
    keys.current_id = 8
    other = cipher.encrypt("other key", PLACE)
    assert cipher.decrypt(other, PLACE) == b"other key" and cipher.decrypt(blobs[0], PLACE) == b"value 0"
    assert built == [keys.keys[KEY_ID], keys.keys[8]]


def test_values_too_short_for_a_tag_are_tampered() -> None:
    cipher = FieldCipher(Keys())
    blob = cipher.encrypt("", PLACE)
    for cut in (b"", b"\x01", blob[:5], blob[:32]):
        with pytest.raises(TamperedValue, match=r"^stored value is too short$"):
            cipher.decrypt(cut, PLACE)


def test_an_unknown_format_version_is_tampered() -> None:
    cipher = FieldCipher(Keys())
    blob = bytearray(cipher.encrypt("secret", PLACE))
    blob[0] = 2
    with pytest.raises(TamperedValue, match=r"^unknown format version 2$"):
        cipher.decrypt(bytes(blob), PLACE)


def test_a_value_read_elsewhere_or_altered_is_tampered_but_a_missing_key_is_not() -> None:
    keys = Keys()
    cipher = FieldCipher(keys)
    blob = cipher.encrypt("secret", PLACE)
    altered = bytearray(blob)
    altered[-1] ^= 1
    for value, place in ((blob, Context("case_file", "full_name", "row-2", "org-1")), (bytes(altered), PLACE)):
        with pytest.raises(TamperedValue, match=r"^value does not authenticate in this place$"):
            cipher.decrypt(value, place)
    keys.asked.clear()
    unknown = b"\x01\x00\x00\x00\x09" + blob[5:]
    with pytest.raises(UnknownKey) as missing:
        cipher.decrypt(unknown, PLACE)
    assert not isinstance(missing.value, DecryptionError) and isinstance(missing.value, CryptoError)
    assert keys.asked == [9]


# ------------------------------------------------------------------------------ blind indexes
@pytest.mark.parametrize(
    ("typed", "kind", "normal"),
    [
        ("+970 59 111 2233", "phone", "0591112233"),
        ("00970591112233", "phone", "0591112233"),
        ("972-52-123-4567", "phone", "0521234567"),
        ("٠٥٩١١١٢٢٣٣", "phone", "0591112233"),  # Arabic-Indic digits
        ("0591112233", "phone", "0591112233"),
        ("961123456789", "phone", "961123456789"),  # twelve digits, not a Palestinian prefix
        ("97059111223", "phone", "97059111223"),  # eleven digits
        ("9705911122334", "phone", "9705911122334"),  # thirteen digits
        ("0097", "phone", "97"),
        ("00 12 34", "national_id", "001234"),  # a leading 00 is dropped from phones only
        ("970591112233", "national_id", "970591112233"),
        ("  Amal   KHALIL\t", "text", "amal khalil"),
        ("Straße", "text", "strasse"),
    ],
)
def test_values_are_normalised_before_indexing(typed: str, kind: str, normal: str) -> None:
    assert normalise_for_index(typed, kind) == normal


def test_a_blind_index_is_a_truncated_hmac_under_a_key_for_its_column() -> None:
    index_key = os.urandom(32)
    column_key = hkdf_sha256(index_key, b"shabaka/blind-index/phone")
    expected = hmac.new(column_key, b"0591112233", hashlib.sha256).digest()[:16].hex()
    assert blind_index(index_key, "phone", "+970 59 111 2233", "phone") == expected
    assert blind_index(index_key, "phone", "0591112233", "phone") == expected
    assert len(expected) == 32
    assert blind_index(index_key, "national_id", "0591112233", "phone") != expected  # another column
    assert blind_index(index_key, "full_name", " Amal ") == blind_index(index_key, "full_name", "amal", "text")


def test_a_value_with_nothing_to_index_has_no_index() -> None:
    index_key = os.urandom(32)
    assert blind_index(index_key, "phone", "no digits", "phone") is None
    assert blind_index(index_key, "full_name", "   ") is None


# ------------------------------------------------------------------------------ encrypted files
class Trickle:
    """A raw stream that gives at most `step` bytes a read and notes each request."""

    def __init__(self, data: bytes, step: int = 1) -> None:
        self.data, self.step = data, step
        self.requests: list[int] = []

    def read(self, size: int = -1, /) -> bytes:
        self.requests.append(size)
        part, self.data = self.data[: min(size, self.step)], self.data[min(size, self.step) :]
        return part


def test_read_exactly_gathers_short_reads_and_stops_at_the_end() -> None:
    trickle = Trickle(b"abcdefgh", step=2)
    assert read_exactly(trickle, 5) == b"abcde"
    assert trickle.requests == [5, 3, 1]
    assert read_exactly(trickle, 10) == b"fgh"
    assert read_exactly(trickle, 10) == b""
    silent = Trickle(b"data")
    assert read_exactly(silent, 0) == b"" and silent.requests == []


def _binding(header: bytes, place: Context, index: int, final: bool) -> bytes:
    return b"shabaka/stream/v1\x1f" + place.associated_data() + b"\x1f" + header + struct.pack(">Q?", index, final)


def _records(pieces: list[bytes]) -> list[bytes]:
    return pieces[1:]


@pytest.mark.parametrize("size", [0, 1, 15, 16, 17, 48, 50])
def test_a_file_is_a_header_then_one_aes_gcm_record_per_chunk(size: int) -> None:
    key, data = os.urandom(32), os.urandom(size)
    pieces = list(encrypt_stream(io.BytesIO(data), KEY_ID, key, PLACE, chunk_size=16))
    header = pieces[0]
    assert header == struct.pack(">7sBII", b"SHBKDOC", 1, KEY_ID, 16)
    chunks = [data[i : i + 16] for i in range(0, len(data), 16)] or [b""]
    records = _records(pieces)
    assert len(records) == len(chunks)
    for index, (record, chunk) in enumerate(zip(records, chunks, strict=True)):
        final = index == len(chunks) - 1
        assert len(record) == 12 + len(chunk) + 16
        assert AESGCM(key).decrypt(record[:12], record[12:], _binding(header, PLACE, index, final)) == chunk
    blob = b"".join(pieces)
    assert stream_key_id(io.BytesIO(blob)) == KEY_ID
    asked: list[int] = []
    plain = list(decrypt_stream(Trickle(blob, step=7), lambda k: asked.append(k) or key, PLACE))  # type: ignore[func-returns-value]
    assert plain == chunks and asked == [KEY_ID]


def test_the_largest_chunk_size_is_allowed_and_nothing_outside_the_range() -> None:
    key = os.urandom(32)
    largest = 16 * 1024 * 1024
    blob = b"".join(encrypt_stream(io.BytesIO(b"small"), 1, key, PLACE, chunk_size=largest))
    assert list(decrypt_stream(io.BytesIO(blob), lambda _: key, PLACE)) == [b"small"]
    for chunk_size in (0, -1, largest + 1):
        with pytest.raises(ValueError, match=r"^chunk size out of range$"):
            list(encrypt_stream(io.BytesIO(b"x"), 1, key, PLACE, chunk_size=chunk_size))
    smallest = b"".join(encrypt_stream(io.BytesIO(b"xyz"), 1, key, PLACE, chunk_size=1))
    assert smallest[12:16] == b"\x00\x00\x00\x01"
    assert list(decrypt_stream(io.BytesIO(smallest), lambda _: key, PLACE)) == [b"x", b"y", b"z"]


def _file(size: int = 40, key: bytes = b"k" * 32) -> tuple[bytes, list[bytes]]:
    pieces = list(encrypt_stream(io.BytesIO(os.urandom(size)), KEY_ID, key, PLACE, chunk_size=16))
    return pieces[0], _records(pieces)


def _read(blob: bytes, place: Context = PLACE) -> list[bytes]:
    return list(decrypt_stream(io.BytesIO(blob), lambda _: b"k" * 32, place))


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (b"SHBKDOC\x01", "^not an encrypted file: header cut short$"),
        (b"", "^not an encrypted file: header cut short$"),
        (struct.pack(">7sBII", b"SHBKPDF", 1, 1, 16), "^not an encrypted file of a known format$"),
        (struct.pack(">7sBII", b"SHBKDOC", 2, 1, 16), "^not an encrypted file of a known format$"),
        (struct.pack(">7sBII", b"SHBKDOC", 1, 1, 0), "^encrypted file header is not valid$"),
        (struct.pack(">7sBII", b"SHBKDOC", 1, 1, 16 * 1024 * 1024 + 1), "^encrypted file header is not valid$"),
    ],
)
def test_a_file_with_a_bad_header_is_refused_before_any_key_is_asked(header: bytes, message: str) -> None:
    def no_key(key_id: int) -> bytes:
        raise AssertionError("no key is needed to refuse a bad header")

    with pytest.raises(DecryptionError, match=message):
        list(decrypt_stream(io.BytesIO(header + (os.urandom(40) if len(header) == 16 else b"")), no_key, PLACE))
    with pytest.raises(DecryptionError, match=message):
        stream_key_id(io.BytesIO(header))


def test_a_file_cut_short_extended_or_reordered_is_refused_where_it_breaks() -> None:
    header, records = _file(40)  # chunks of 16, 16 and 8
    assert len(_read(header + b"".join(records))) == 3
    broken = {
        "no records": (header, "^encrypted file cut short at chunk 0$"),
        "a stub of a record": (header + records[0][:27], "^encrypted file cut short at chunk 0$"),
        "last dropped": (header + records[0] + records[1], "^chunk 1 does not authenticate in this file$"),
        "last cut": (header + records[0] + records[1] + records[2][:-1], "^chunk 2 does not authenticate"),
        "extended": (header + b"".join(records) + b"\x00", "^chunk 2 does not authenticate"),
        "repeated": (header + records[0] + records[0] + records[1] + records[2], "^chunk 1 does not authenticate"),
        "swapped": (header + records[1] + records[0] + records[2], "^chunk 0 does not authenticate"),
        "after a full stop": (header + records[0] + records[1] + records[2] + records[2], "^chunk 2 does not"),
    }
    for blob, message in broken.values():
        with pytest.raises(DecryptionError, match=message):
            _read(blob)


def test_a_record_short_of_its_tag_is_cut_short() -> None:
    header, records = _file(20)  # chunks of 16 and 4
    with pytest.raises(DecryptionError, match=r"^encrypted file cut short at chunk 1$"):
        _read(header + records[0] + records[1][:27])
    assert len(_read(header + records[0] + records[1])) == 2


def test_a_file_moved_to_another_place_or_header_does_not_decrypt() -> None:
    header, records = _file(20)
    with pytest.raises(DecryptionError, match=r"^chunk 0 does not authenticate in this file$"):
        _read(header + b"".join(records), Context("case_document", "content", "row-2", "org-1"))
    other_header = struct.pack(">7sBII", b"SHBKDOC", 1, KEY_ID + 1, 16)  # another key id, same key
    with pytest.raises(DecryptionError, match=r"^chunk 0 does not authenticate in this file$"):
        _read(other_header + b"".join(records))
