"""The field cipher: values are bound to their place; tampering and moving fail loudly."""

from __future__ import annotations

import os

import pytest

from referral.security.crypto import Context, DecryptionError, FieldCipher, UnknownKey

PLACE = Context("user_account", "totp_secret", "row-1", "org-1")


class OneKey:
    """A keyring with a single key, id 7: enough for the cipher's own rules."""

    def __init__(self) -> None:
        self._key = os.urandom(32)

    def current(self, context: Context) -> tuple[int, bytes]:
        return 7, self._key

    def key(self, key_id: int) -> bytes:
        if key_id != 7:
            raise UnknownKey(str(key_id))
        return self._key


@pytest.fixture
def cipher() -> FieldCipher:
    return FieldCipher(OneKey())


def test_round_trip_and_random_nonce(cipher: FieldCipher) -> None:
    first, second = cipher.encrypt("JBSWY3DPEHPK3PXP", PLACE), cipher.encrypt("JBSWY3DPEHPK3PXP", PLACE)
    assert first != second
    assert b"JBSWY3DPEHPK3PXP" not in first
    assert cipher.decrypt_text(first, PLACE) == "JBSWY3DPEHPK3PXP"
    assert first[0] == 1 and FieldCipher.key_id_of(first) == 7


@pytest.mark.parametrize(
    "elsewhere",
    [
        Context("user_account", "totp_secret", "row-2", "org-1"),
        Context("user_account", "email", "row-1", "org-1"),
        Context("other_table", "totp_secret", "row-1", "org-1"),
        Context("user_account", "totp_secret", "row-1", "org-2"),
    ],
)
def test_a_value_moved_elsewhere_does_not_decrypt(cipher: FieldCipher, elsewhere: Context) -> None:
    blob = cipher.encrypt("secret", PLACE)
    with pytest.raises(DecryptionError):
        cipher.decrypt(blob, elsewhere)


def test_every_flipped_bit_is_detected(cipher: FieldCipher) -> None:
    blob = cipher.encrypt("secret", PLACE)
    for index in range(5, len(blob)):  # past the header, every byte of nonce and ciphertext
        tampered = bytearray(blob)
        tampered[index] ^= 0x01
        with pytest.raises(DecryptionError):
            cipher.decrypt(bytes(tampered), PLACE)


def test_unknown_key_and_short_values_raise(cipher: FieldCipher) -> None:
    blob = bytearray(cipher.encrypt("secret", PLACE))
    blob[4] = 9  # key id 9
    with pytest.raises(UnknownKey):
        cipher.decrypt(bytes(blob), PLACE)
    with pytest.raises(DecryptionError):
        cipher.decrypt(b"\x01\x00", PLACE)


def test_another_root_key_cannot_read(cipher: FieldCipher) -> None:
    blob = cipher.encrypt("secret", PLACE)
    with pytest.raises(DecryptionError):
        FieldCipher(OneKey()).decrypt(blob, PLACE)
