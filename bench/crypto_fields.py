"""Micro-benchmark of the column cipher on a 200-byte field, side by side with Fernet.

    .venv/bin/python bench/crypto_fields.py [--repetitions 20000] [--rounds 7]

Measures `FieldCipher.encrypt` / `decrypt` (AES-256-GCM with the place of the value as
associated data, the stored header, a random nonce) through a keyring whose keys are cached,
as they are in a running process, and `blind_index`; then `cryptography.fernet.Fernet` on the
same bytes. Each figure is the median over rounds of the mean time per call. Prints a table and
writes bench/results/crypto_fields-*.json. Goals (issue): decrypt <= 3 µs, encrypt <= 5 µs.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import os
import uuid
from collections.abc import Callable

from _common import rounds_ns, summary, table, us, write_results
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from referral.security.crypto import Context, FieldCipher, blind_index, derive_key
from referral.security.keys import DATA, DatabaseKeyring, LocalRootKeys, _Cached

FIELD_BYTES = 200
GOALS_NS = {"cipher.decrypt": 3_000, "cipher.encrypt": 5_000}


class StaticKeyring:
    """One key, no lookup: the cipher alone."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def current(self, context: Context) -> tuple[int, bytes]:
        return 1, self._key

    def key(self, key_id: int) -> bytes:
        return self._key


def cached_database_keyring(organization: str, key: bytes) -> DatabaseKeyring:
    """The production keyring with its cache primed, as after the first request of a process."""
    keyring = DatabaseKeyring(LocalRootKeys(os.urandom(32)), ttl_seconds=1e9)
    keyring._remember(_Cached(7, key, float("inf")), (organization, DATA))
    return keyring


def operations() -> dict[str, tuple[str, Callable[[], object]]]:
    organization = str(uuid.uuid4())
    context = Context("case_file", "safety_plan", str(uuid.uuid4()), organization)
    plaintext = os.urandom(FIELD_BYTES // 2).hex().encode()  # 200 printable bytes
    assert len(plaintext) == FIELD_BYTES
    text_value = plaintext.decode()
    key, index_key = os.urandom(32), os.urandom(32)

    cipher = FieldCipher(cached_database_keyring(organization, key))
    sealed = cipher.encrypt(plaintext, context)
    assert cipher.decrypt(sealed, context) == plaintext
    bare = FieldCipher(StaticKeyring(key))
    bare_sealed = bare.encrypt(plaintext, context)

    aad = context.associated_data()
    aead = AESGCM(key)
    nonce = os.urandom(12)
    aead_sealed = aead.encrypt(nonce, plaintext, aad)

    fernet = Fernet(Fernet.generate_key())
    token = fernet.encrypt(plaintext)
    assert fernet.decrypt(token) == plaintext

    column_key = derive_key(index_key, "shabaka/blind-index/safety_plan")

    return {
        "cipher.encrypt": ("FieldCipher.encrypt (keyring cached)", lambda: cipher.encrypt(plaintext, context)),
        "cipher.decrypt": ("FieldCipher.decrypt (keyring cached)", lambda: cipher.decrypt(sealed, context)),
        "cipher.encrypt.static": ("FieldCipher.encrypt (static keyring)", lambda: bare.encrypt(plaintext, context)),
        "cipher.decrypt.static": ("FieldCipher.decrypt (static keyring)", lambda: bare.decrypt(bare_sealed, context)),
        "blind_index": (
            "blind_index (200-byte text)",
            lambda: blind_index(index_key, "safety_plan", text_value, "text"),
        ),
        "blind_index.national_id": (
            "blind_index (national id)",
            lambda: blind_index(index_key, "national_id", "987 654 321", "national_id"),
        ),
        "hmac.precomputed_key": (
            "HMAC-SHA256, column key precomputed",
            lambda: hmac.new(column_key, plaintext, hashlib.sha256).digest()[:16],
        ),
        "hkdf.column_key": (
            "derive_key (HKDF; blind_index per call)",
            lambda: derive_key(index_key, "shabaka/blind-index/safety_plan"),
        ),
        "aesgcm.construct": ("AESGCM(key) (FieldCipher per call)", lambda: AESGCM(key)),
        "aesgcm.encrypt.reused": ("AESGCM.encrypt, object reused", lambda: aead.encrypt(nonce, plaintext, aad)),
        "aesgcm.decrypt.reused": ("AESGCM.decrypt, object reused", lambda: aead.decrypt(nonce, aead_sealed, aad)),
        "fernet.encrypt": ("Fernet.encrypt", lambda: fernet.encrypt(plaintext)),
        "fernet.decrypt": ("Fernet.decrypt", lambda: fernet.decrypt(token)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repetitions", type=int, default=20_000, help="calls per round")
    parser.add_argument("--rounds", type=int, default=7, help="rounds per operation (the median is reported)")
    args = parser.parse_args()

    ops = operations()
    results: dict[str, dict[str, float | str]] = {}
    for name, (label, fn) in ops.items():
        stats = summary(rounds_ns(fn, args.repetitions, args.rounds))
        results[name] = {"label": label, **{f"{k}_ns" if k != "rounds" else k: v for k, v in stats.items()}}

    rows = []
    for name, entry in results.items():
        median = float(entry["median_ns"])
        goal = GOALS_NS.get(name)
        verdict = "" if goal is None else ("meets goal" if median <= goal else "MISSES goal") + f" ({us(goal)})"
        rows.append([str(entry["label"]), us(median), us(float(entry["min_ns"])), us(float(entry["max_ns"])), verdict])
    fernet_ratio = {
        "encrypt": float(results["fernet.encrypt"]["median_ns"]) / float(results["cipher.encrypt"]["median_ns"]),
        "decrypt": float(results["fernet.decrypt"]["median_ns"]) / float(results["cipher.decrypt"]["median_ns"]),
    }
    print(f"Column cipher on a {FIELD_BYTES}-byte field: median of {args.rounds} rounds x {args.repetitions} calls")
    print(table(["operation", "median", "min", "max", "goal"], rows))
    print(
        f"Fernet / FieldCipher: encrypt {fernet_ratio['encrypt']:.2f}x, decrypt {fernet_ratio['decrypt']:.2f}x "
        "(above 1: the field cipher is faster)"
    )
    path = write_results(
        "crypto_fields",
        {
            "field_bytes": FIELD_BYTES,
            "repetitions": args.repetitions,
            "rounds": args.rounds,
            "goals_ns": GOALS_NS,
            "results": results,
            "fernet_over_field_cipher": fernet_ratio,
            "meets_goals": {k: float(results[k]["median_ns"]) <= v for k, v in GOALS_NS.items()},
        },
    )
    print(f"results: {path}")


if __name__ == "__main__":
    main()
