"""The verifier's read of the chain on PostgreSQL: a page of events in one statement.

Read a row at a time, the driver builds a Python object for every field of every event while
holding Python's lock, and the exact path then quotes each field on its own: together they cost
more than the hashing. Here one statement per page (`chain.VERIFY_PAGE` events) hands over the
page as a few long values, formatted by PostgreSQL in its own process while Python hashes the
page before:

- the events' fields as `chain._normalised_columns` gives them (UUIDs and the UTC timestamp as
  text, NULL and empty text as nothing), but `details`, joined by 0x1F, the
  events joined by 0x1E;
- the stored `details` of every event, joined by 0x1E;
- the stored hashes and links, each the concatenation of the page's 32-byte values.

Python quotes the whole page text at once with the JSON encoder's own function, so 0x1F and 0x1E
come out as the escapes `\\u001f` and `\\u001e` and every field as its JSON string's inside;
it cuts the page into events and fields at those escapes, puts each event's fields into the
canonical template (empty as null, as `canonical` does), with its canonical
`details` (`chain._details`), and hashes every event. The page is taken only when it holds every
position once, every event cuts into exactly its fields (a field holding a separator, or the
text of its escape, would cut into more) and the recomputed hashes and links are the stored
ones; anything else sends the page to `chain`'s exact path, event by event, which finds the
first bad position and its problem or passes the page. A page that passes is hashed over
`canonical`'s bytes, so nothing here can make a changed event pass; at worst a page is read twice.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from .chain import HASHED_FIELDS, _details, _normalised_columns, _quote

ENABLED = True  # False: the verifier reads PostgreSQL row by row, the exact way (tests do)
_FIELD, _ROW = "\x1f", "\x1e"
_FIELD_QUOTED, _ROW_QUOTED = _quote(_FIELD)[1:-1], _quote(_ROW)[1:-1]  # \\u001f and \\u001e
# The fields of the page text: every hashed field but details, in canonical order; the template
# quotes each but the position (a number) and details (canonical JSON, put in apart).
_LINE = tuple(name for name in HASHED_FIELDS if name != "details")
_DETAILS_AT = HASHED_FIELDS.index("details")
_TEMPLATE = (
    "{"
    + ",".join(f'"{name}":%s' if name in ("chain_position", "details") else f'"{name}":"%s"' for name in HASHED_FIELDS)
    + "}"
)


def _line_sql() -> str:
    columns = {column.name: str(column.element) for column in _normalised_columns("postgresql")}
    columns["chain_position"] = "CAST(chain_position AS TEXT)"
    return " || chr(31) || ".join(f"coalesce({columns[name]}, '')" for name in _LINE)


@functools.lru_cache(maxsize=4096)
def _canonical_details(stored: str) -> str:
    """Stored details to their canonical JSON, remembered: the same few come back again and again."""
    return _details(stored)


# Only our own expressions: nothing from outside reaches this text (the range is bound).
_SQL = (
    "SELECT count(*), string_agg(line, chr(30) ORDER BY chain_position), "  # noqa: S608
    "string_agg(coalesce(CAST(details AS TEXT), 'null'), chr(30) ORDER BY chain_position), "
    "string_agg(event_hash, ''::bytea ORDER BY chain_position), "
    "string_agg(prev_hash, ''::bytea ORDER BY chain_position) FROM ("
    f"SELECT chain_position, event_hash, prev_hash, details, {_line_sql()} AS line "
    "FROM audit_event WHERE chain_position BETWEEN %s AND %s) AS page"
)


@dataclass
class Page:
    """Events `first` to `last` as one statement formatted them (see the module's notes)."""

    first: int
    last: int
    count: int = 0
    lines: str | None = None
    details: str | None = None
    hashes: bytes | None = None
    prevs: bytes | None = None

    def digests(self, prev: bytes) -> list[bytes] | None:
        """Every event's recomputed hash, when the whole page holds after `prev`; None when
        anything does not: the exact path decides then."""
        size = self.last - self.first + 1
        if self.count != size or self.lines is None or self.details is None:
            return None
        events = _quote(self.lines)[1:-1].split(_ROW_QUOTED)
        details = self.details.split(_ROW)
        if len(events) != size or len(details) != size:
            return None
        try:
            canonical = [_canonical_details(stored) for stored in details]
        except ValueError:  # details that are not JSON: the exact path tells
            return None
        width = len(_LINE)
        texts: list[str] = []
        append_text = texts.append
        for event, item in zip(events, canonical, strict=True):
            fields = event.split(_FIELD_QUOTED)
            if len(fields) != width:
                return None
            fields.insert(_DETAILS_AT, item)
            append_text(_TEMPLATE % tuple(fields))
        # `:""` is only ever a field's empty text, which is null: made so for the whole page at
        # once, unless some details are an empty string or hold one (`"details":""`, `"k":""`),
        # which must stay as they are: such a page goes the exact way
        if any(item == '""' or ':""' in item for item in set(canonical)):
            return None
        rows = "\x1e".join(texts).replace(':""', ":null").encode().split(b"\x1e")
        sha256 = hashlib.sha256
        digests: list[bytes] = []
        append = digests.append
        running = prev
        for row in rows:
            running = sha256(running + row).digest()
            append(running)
        computed = b"".join(digests)
        if computed != self.hashes or self.prevs != prev + computed[:-32]:
            return None
        return digests


def read(connection: Any, upto: int, size: int, stopped: Callable[[], bool]) -> Iterator[Page]:
    """The pages of positions 1 to `upto`, each formatted by one statement on `connection`."""
    with connection.cursor() as cursor:
        for first in range(1, upto + 1, size):
            if stopped():
                return
            last = min(first + size - 1, upto)
            cursor.execute(_SQL, (first, last))
            count, lines, details, hashes, prevs = cursor.fetchone()
            yield Page(first, last, int(count or 0), lines, details, _bytes(hashes), _bytes(prevs))


def _bytes(value: Any) -> bytes | None:
    return None if value is None else bytes(value)


__all__ = ["Page", "read"]
