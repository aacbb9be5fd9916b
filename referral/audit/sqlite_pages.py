"""The verifier's read of the chain on SQLite: a page of events formatted by one statement.

Read a row at a time, SQLite and Python take turns: the driver needs Python's lock for every
row it hands over, so the reader thread hardly overlaps the hashing. Here one aggregate
statement formats a whole page (`chain.VERIFY_PAGE` events) while Python hashes the page
before, and hands it over as a few long strings:

- each event's canonical JSON (`chain.canonical`) in pieces: the runs of fields between the
  UUIDs and `details` with their keys, each value as `json_quote` of the stored text (the
  timestamp as `chain._normalised_columns` gives it), and the four UUIDs as stored (32
  characters, no dashes; NULL as nothing); the pieces joined by 0x1F;
- the stored `details` of every event, joined by 0x1E;
- the event and previous hashes in hex, and the positions.

Python puts empty text to null, adds the UUIDs with their dashes and the canonical `details`
(`chain._details`), hashes every event, and compares the page's hashes and links with the
stored ones at once. The bytes hashed are `canonical`'s when three things hold, checked on every
page: every value came in its plain form (text stored as text, a UUID of 32 ASCII letters and
digits; anything else comes as the byte 0x01, or fails the check, and the page is refused); the
separators cut the page into exactly its events' pieces; SQLite's `json_quote` writes every
character as Python's JSON encoder does (checked once per process on every code point; where it
does not, this path is not used).

A page that does not pass in bulk (a refused value, a hash or link that does not hold, a
checkpoint that disagrees) is read again event by event through `chain`'s exact path, which
finds the first bad position and its problem, or passes the page.
"""

from __future__ import annotations

import hashlib
import sqlite3
import sys
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from .chain import _details, _quote

_PIECE = "\x1f"
_ROW = "\x1e"
_REFUSED = "\x01"  # a value with no plain form: the page goes the exact way


def _text(name: str) -> str:
    """A text field as JSON: quoted when stored as text, null when NULL, refused otherwise."""
    return f"CASE typeof({name}) WHEN 'text' THEN json_quote({name}) WHEN 'null' THEN 'null' ELSE char(1) END"


def _uuid(name: str) -> str:
    """A UUID as stored when 32 bytes of text (Python checks the characters), '' when NULL."""
    null = f" WHEN {name} IS NULL THEN ''" if name != "event_id" else ""  # event_id is never NULL
    return f"CASE WHEN typeof({name}) = 'text' AND length(CAST({name} AS BLOB)) = 32 THEN {name}{null} ELSE char(1) END"


def _run(*names: str, first: bool = False, last: bool = False) -> str:
    """Consecutive fields of the canonical order with their keys (`chain_position` a number)."""
    parts = []
    for i, name in enumerate(names):
        key = ("{" if first and i == 0 else ",") + f'"{name}":'
        if name == "chain_position":
            value = name
        elif name == "occurred_at":  # as chain._normalised_columns on SQLite, then quoted
            value = f"json_quote(replace({name}, ' ', 'T') || 'Z')"
        else:
            value = _text(name)
        parts.append(f"'{key}' || {value}")
    if last:
        parts.append("'}'")
    return " || ".join(parts)


# The pieces of an event, in the order of `chain.HASHED_FIELDS`; `_hash_page` puts them together
# (tests compare the result with `canonical`).
_PIECES = (
    _run("action", first=True),
    _uuid("actor_id"),
    _uuid("actor_organization_id"),
    _run("actor_role", "case_code", "chain_position"),
    # details: apart
    _uuid("event_id"),
    _run("object_id", "object_type", "occurred_at"),
    _uuid("organization_id"),
    _run("outcome", "reason", "request_id", "route", last=True),
)
_WIDTH = len(_PIECES)
_AT_EVENT_ID = 4
_DETAILS = "CASE typeof(details) WHEN 'text' THEN details WHEN 'null' THEN 'null' ELSE char(1) END"
_HEX = "hex(CASE typeof({0}) WHEN 'blob' THEN {0} END)"  # anything else: no hex, the page fails
# Only our own expressions: nothing from outside reaches this text (the range is bound).
_SQL = (
    "SELECT count(*), group_concat(line, char(31)), group_concat(details, char(30)), "  # noqa: S608
    "group_concat(event_hash, ''), group_concat(prev_hash, ''), group_concat(chain_position) FROM ("
    f"SELECT {' || char(31) || '.join(_PIECES)} AS line, {_DETAILS} AS details, "
    f"{_HEX.format('event_hash')} AS event_hash, {_HEX.format('prev_hash')} AS prev_hash, chain_position "
    "FROM audit_event WHERE chain_position BETWEEN ? AND ? ORDER BY chain_position)"
)

_quotes_like_python: bool | None = None


def usable(connection: sqlite3.Connection) -> bool:
    """Whether SQLite's `json_quote` writes every character as Python's JSON encoder does (both
    map one character at a time: one string of every code point shows it). Asked once."""
    global _quotes_like_python
    if _quotes_like_python is None:
        points = array("I", range(0xD800))  # every code point but the surrogates
        points.extend(range(0xE000, 0x110000))
        probe = points.tobytes().decode(f"utf-32-{'le' if sys.byteorder == 'little' else 'be'}")
        try:
            (quoted,) = connection.execute("SELECT json_quote(?)", (probe,)).fetchone()
        except sqlite3.Error:  # an SQLite without JSON functions
            quoted = None
        _quotes_like_python = quoted == _quote(probe)
    return _quotes_like_python


@dataclass
class Page:
    """Events `first` to `last` as one statement formatted them (see the module's notes)."""

    first: int
    last: int
    count: int = 0
    pieces: str | None = None
    details: str | None = None
    hashes: str | None = None
    prevs: str | None = None
    positions: str | None = None

    def digests(self, prev: bytes) -> list[bytes] | None:
        """Every event's recomputed hash, when the whole page holds after `prev`; None when
        anything does not (or came in no plain form): the exact path decides then."""
        size = self.last - self.first + 1
        if self.count != size or self.pieces is None or self.details is None or _REFUSED in self.pieces:
            return None
        if self.positions != ",".join(map(str, range(self.first, self.last + 1))):
            return None
        # `:""` is only ever a key followed by empty text (quotes inside JSON text are escaped)
        pieces = self.pieces.replace(':""', ":null").split(_PIECE)
        details = self.details.split(_ROW)
        if len(pieces) != size * _WIDTH or len(details) != size:
            return None
        # The event ids are sliced below without a check each: here, all at once, 32 ASCII
        # characters each (SQLite gave 32 bytes), letters and digits, no capitals.
        event_ids = "".join(pieces[_AT_EVENT_ID::_WIDTH])
        if len(event_ids) != size * 32 or not (event_ids.isascii() and event_ids.isalnum()):
            return None
        if event_ids != event_ids.lower():
            return None
        try:
            digests = _hash_page(pieces, details, prev)
            stored = bytes.fromhex(self.hashes or "")
            links = bytes.fromhex(self.prevs or "")
        except ValueError:  # details that are not JSON, a UUID in no plain form
            return None
        computed = b"".join(digests)
        if computed != stored or links != prev + computed[:-32]:
            return None
        return digests


class _Uuids(dict[str, str]):
    """A UUID as stored (32 letters and digits, or '' for NULL) to its canonical JSON,
    remembered: the same actors and organisations come back event after event."""

    def __missing__(self, stored: str) -> str:
        if len(self) >= 10_000:
            self.clear()
        if len(stored) == 32 and stored.isascii() and stored.isalnum():
            value = stored.lower()
            canonical = f'"{value[:8]}-{value[8:12]}-{value[12:16]}-{value[16:20]}-{value[20:]}"'
        elif not stored:
            canonical = "null"
        else:
            raise ValueError("not a plain UUID")
        self[stored] = canonical
        return canonical


def _hash_page(pieces: list[str], details: list[str], prev: bytes) -> list[bytes]:
    """Hash the page's events in order after `prev`, each over `canonical`'s bytes."""
    sha256 = hashlib.sha256
    uuids = _Uuids()
    out: list[bytes] = []
    append = out.append
    each = iter(pieces)
    for (head, actor, actor_org, middle, e, objects, org, tail), stored in zip(
        zip(*[each] * _WIDTH, strict=True), details, strict=True
    ):
        encoded = (
            f'{head},"actor_id":{uuids[actor]},"actor_organization_id":{uuids[actor_org]}{middle},'
            f'"details":{_details(stored)},"event_id":"{e[:8]}-{e[8:12]}-{e[12:16]}-{e[16:20]}-{e[20:]}"'
            f'{objects},"organization_id":{uuids[org]}{tail}'
        )
        prev = sha256(prev + encoded.encode()).digest()
        append(prev)
    return out


def read(connection: sqlite3.Connection, upto: int, size: int, stopped: Callable[[], bool]) -> Iterator[Page]:
    """The pages of positions 1 to `upto`, each formatted by one statement on `connection`."""
    for first in range(1, upto + 1, size):
        if stopped():
            return
        last = min(first + size - 1, upto)
        try:
            row = connection.execute(_SQL, (first, last)).fetchone()
        except (sqlite3.Error, ValueError):  # e.g. text that is not UTF-8: the exact path tells
            yield Page(first, last)
            continue
        yield Page(first, last, *row)


__all__ = ["Page", "read", "usable"]
