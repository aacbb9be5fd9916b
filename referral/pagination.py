"""Keyset cursors: a page of a list hands out the sort key of its last row as an opaque,
URL-safe string, and the next request hands it back. A cursor not made here is refused with
a 400 (`invalid_cursor`), never a 500."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

from .errors import InvalidInput, RuleRefused

T = TypeVar("T")


def pack(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def unpack(cursor: str) -> str:
    try:
        return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise _invalid() from None


def encode_cursor(at: datetime, ident: object) -> str:
    """The cursor after a row sorted by (time, id)."""
    return pack(f"{at.isoformat()}|{ident}")


def decode_cursor(cursor: str, ident: Callable[[str], T]) -> tuple[datetime, T]:
    """The (aware time, id) of a cursor from `encode_cursor`; `ident` parses the id (`int`, or
    a UUID check) and may raise ValueError, as any malformed part does."""
    try:
        stamp, raw_id = unpack(cursor).split("|", 1)
        at = datetime.fromisoformat(stamp)
        if at.tzinfo is None:
            raise ValueError("naive time")
        return at, ident(raw_id)
    except ValueError:
        raise _invalid() from None


def uuid_text(value: str) -> str:
    """An id parser for `decode_cursor`: a UUID, in its canonical text."""
    import uuid

    return str(uuid.UUID(value))


def unpack_id(cursor: str) -> str:
    """The id packed in a cursor after a row sorted by id (a UUID)."""
    try:
        return uuid_text(unpack(cursor))
    except ValueError:
        raise _invalid() from None


def _invalid() -> InvalidInput:
    """A cursor of the right shape (a string) that names no page this API gave out: a 422."""
    return RuleRefused("invalid_cursor", fields={"cursor": "invalid cursor"})
