"""Keyset cursors round-trip, and anything else handed back is a 400, never a 500."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from referral.errors import InvalidInput
from referral.pagination import decode_cursor, encode_cursor, pack, uuid_text


def test_a_cursor_gives_back_the_time_and_id_it_was_made_from() -> None:
    at, ident = datetime(2026, 11, 29, 7, 17, 12, 345678, tzinfo=UTC), str(uuid.uuid4())
    assert decode_cursor(encode_cursor(at, ident), uuid_text) == (at, ident)
    assert decode_cursor(encode_cursor(at, 42), int) == (at, 42)


@pytest.mark.parametrize(
    "cursor",
    [
        "%%%",  # not base64
        pack("no separator"),
        pack("2026-11-29T07:17:12|not-a-uuid"),
        pack(f"2026-11-29T07:17:12|{uuid.uuid4()}"),  # a time without its zone
        pack(f"yesterday+00:00|{uuid.uuid4()}"),
        "gA",  # bytes that are not UTF-8
    ],
)
def test_a_cursor_not_made_here_is_refused_as_invalid_input(cursor: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        decode_cursor(cursor, uuid_text)
    assert refused.value.fields == {"cursor": "invalid cursor"}
