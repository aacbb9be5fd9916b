"""TOTP (RFC 6238) with one-time use, provisioning QR codes drawn locally, recovery codes."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime

import pyotp
import segno

from ..text import fold_digits

STEP_SECONDS = 30
DRIFT_STEPS = 1
RECOVERY_CODE_COUNT = 10
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"


def new_secret() -> str:
    return pyotp.random_base32(length=32)


def provisioning_uri(secret: str, username: str, issuer: str = "Shabaka") -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=issuer)


def qr_svg(uri: str) -> str:
    """The QR code as inline SVG markup, made here: the secret never leaves the server."""
    return segno.make(uri, error="m").svg_inline(scale=5, dark="#000", light="#fff", title="QR")


def match_step(secret: str, code: str, now: datetime, last_step: int | None) -> int | None:
    """The time step the code belongs to, if it is valid now and newer than the last one used."""
    code = fold_digits(code).strip().replace(" ", "")  # an Arabic keyboard types ٠١٢…
    if not (code.isascii() and code.isdigit() and len(code) == 6):
        return None
    totp = pyotp.TOTP(secret)
    current = int(now.timestamp()) // STEP_SECONDS
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if last_step is not None and step <= last_step:
            continue
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def new_recovery_codes() -> list[str]:
    return [
        "-".join("".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(5)) for _ in range(2))
        for _ in range(RECOVERY_CODE_COUNT)
    ]


def normalise_recovery_code(code: str) -> str:
    cleaned = "".join(ch for ch in fold_digits(code).lower() if ch in _RECOVERY_ALPHABET)
    return f"{cleaned[:5]}-{cleaned[5:]}" if len(cleaned) == 10 else ""


def hash_recovery_code(pepper: bytes, code: str) -> str:
    """Keyed hash of a 50-bit random code: a leaked table is useless without the pepper."""
    return hmac.new(pepper, normalise_recovery_code(code).encode(), hashlib.sha256).hexdigest()
