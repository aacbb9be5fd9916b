"""The verifier page by page: SQLite's formatted pages hash `canonical`'s bytes, refuse what has
no plain form (the exact path decides then), and tampering is found at the same position and
with the same problem whichever way a page went."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select, text, update

from referral.audit import chain, checkpoints, sqlite_pages
from referral.audit.models import AuditCheckpoint, AuditEvent
from referral.extensions import db
from tests.conftest import audit_guards_lifted
from tests.helpers.chain_rows import event, insert_and_seal, tricky_events

T = AuditEvent.__table__


@pytest.fixture
def pages_per_three(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chain, "VERIFY_PAGE", 3)


@pytest.fixture
def sqlite_only(ctx: Flask) -> Flask:
    if db.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's formatted pages")
    return ctx


def _raw_pages(size: int) -> Iterator[sqlite_pages.Page]:
    with db.engine.connect() as connection:
        raw: Any = connection.connection.driver_connection
        assert sqlite_pages.usable(raw)
        head = db.session.scalar(select(T.c.chain_position).order_by(T.c.chain_position.desc()).limit(1))
        yield from list(sqlite_pages.read(raw, head, size, lambda: False))


def _stored_hashes() -> list[bytes]:
    return list(db.session.scalars(select(T.c.event_hash).order_by(T.c.chain_position)))


def test_sqlite_pages_hash_the_canonical_bytes_of_tricky_values(sqlite_only: Flask) -> None:
    """Every text field with quotes, backslashes, control characters (the separators too), NUL,
    Arabic, emoji, empty text and `:""`; details of every kind: the page is vouched for in bulk
    and its hashes are the sealer's, which are `canonical`'s."""
    insert_and_seal(tricky_events())
    for row in db.session.execute(select(T).order_by(T.c.chain_position)):
        values = row._asdict()
        assert values["event_hash"] == chain.link(values["prev_hash"], chain.canonical(values))
    stored = _stored_hashes()
    for size in (len(stored), 4):
        prev, digests = chain.GENESIS, []
        for page in _raw_pages(size):
            got = page.digests(prev)
            assert got is not None, (page.first, page.last)
            digests += got
            prev = got[-1]
        assert digests == stored


def _odd(position: int, column: str, value: str) -> None:
    """Store a value the application never writes, as an intruder (or a bug) would."""
    with audit_guards_lifted(db.session):
        db.session.execute(
            text(f"UPDATE audit_event SET {column} = :value WHERE chain_position = :position"),
            {"value": value, "position": position},
        )
    db.session.commit()


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("actor_id", "not-a-uuid"),
        ("actor_id", ""),
        ("actor_id", "a" * 31 + "\x1f"),  # a separator inside
        ("actor_id", "a" * 29 + ':""'),
        ("actor_organization_id", 'abcdefabcdefabcdefabcdefabcdef"\\'),  # 32 characters, JSON escapes
        ("organization_id", "ابجدهوزحطيكلمنسع"),  # 32 bytes, 16 characters
        ("organization_id", "é" * 32),
        ("event_id", "0B6E1D2C11114222833344445555666F"),  # capitals: lower-cased when hashed
    ],
)
def test_values_without_a_plain_form_go_the_exact_way_and_verify(sqlite_only: Flask, column: str, value: str) -> None:
    """Sealed with such a value, an event verifies; its page is refused in bulk, and the exact
    path (the sealer's own encoding) passes it."""
    db.session.execute(T.insert(), [event(1), event(2), event(3)])
    db.session.commit()
    with audit_guards_lifted(db.session):
        db.session.execute(
            text(f"UPDATE audit_event SET {column} = :value WHERE case_code = 'NBL-2026-000002'"),
            {"value": value},
        )
    db.session.commit()
    chain.seal(db.session, db.session.commit, signer=checkpoints.signer(), checkpoint_every=None)
    (page,) = _raw_pages(10)
    assert page.digests(chain.GENESIS) is None
    result = chain.verify(db.session)
    assert (result.ok, result.checked, result.checkpoints_checked) == (True, 3, 1)


def test_capitals_in_an_actor_id_are_lower_cased_in_bulk(sqlite_only: Flask) -> None:
    insert_and_seal([event(1), event(2)])
    capitals = db.session.scalar(select(text("upper(actor_id)")).select_from(T).where(T.c.chain_position == 2))
    _odd(2, "actor_id", capitals)
    (page,) = _raw_pages(10)
    assert page.digests(chain.GENESIS) is not None
    assert chain.verify(db.session).ok


def test_details_stored_as_bytes_are_not_vouched_for_in_bulk(sqlite_only: Flask) -> None:
    """Nor does the exact path take them: JSON is text."""
    insert_and_seal([event(1), event(2)])
    with audit_guards_lifted(db.session):
        db.session.execute(text("UPDATE audit_event SET details = CAST(details AS BLOB)"))
    db.session.commit()
    (page,) = _raw_pages(10)
    assert page.digests(chain.GENESIS) is None
    with pytest.raises(TypeError):
        chain.verify(db.session)


def _flip(hex_text: str, at: int) -> str:
    return hex_text[:at] + ("1" if hex_text[at] == "0" else "0") + hex_text[at + 1 :]


def test_a_page_is_refused_when_its_pieces_do_not_add_up(sqlite_only: Flask) -> None:
    insert_and_seal([event(i) for i in range(3)])
    (page,) = _raw_pages(10)
    assert page.digests(chain.GENESIS) is not None
    assert page.details and page.pieces and page.hashes and page.prevs
    for changed in (
        {"details": page.details + "\x1e{}"},
        {"pieces": page.pieces + "\x1f"},
        {"pieces": page.pieces.replace("NBL-2026-000001", "NBL-2026-000009")},
        {"positions": "1,3,2"},
        {"count": 2},
        {"hashes": _flip(page.hashes, -1)},
        {"prevs": _flip(page.prevs, 0)},
        {"prevs": _flip(page.prevs, 70)},
    ):
        assert sqlite_pages.Page(**{**page.__dict__, **changed}).digests(chain.GENESIS) is None, changed


def test_sqlite_quoting_unlike_python_is_not_used(sqlite_only: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqlite_pages, "_quotes_like_python", False)
    monkeypatch.setattr(sqlite_pages, "read", None)  # would fail if called
    insert_and_seal(tricky_events())
    assert chain.verify(db.session).ok
    with audit_guards_lifted(db.session):
        db.session.execute(update(T).where(T.c.chain_position == 3).values(reason="changed"))
    db.session.commit()
    result = chain.verify(db.session)
    assert (result.first_bad_position, result.problem) == (3, "hash")


@pytest.fixture
def ten(ctx: Flask, pages_per_three: None) -> Flask:
    """Ten events sealed in two runs (checkpoints at 6 and 10), read three to a page."""
    insert_and_seal([event(i) for i in range(6)])
    insert_and_seal([event(i, details=None if i == 7 else {}) for i in range(6, 10)])
    return ctx


def _tampered(statement: Any) -> chain.VerifyResult:
    with audit_guards_lifted(db.session):
        db.session.execute(statement)
    db.session.commit()
    return chain.verify(db.session)


def test_pages_of_three_verify_with_both_checkpoints(ten: Flask) -> None:
    result = chain.verify(db.session)
    assert (result.ok, result.checked, result.checkpoints_checked) == (True, 10, 2)


@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        ("UPDATE audit_event SET case_code = 'NBL-2026-999999' WHERE chain_position = 5", (5, "hash", 5)),
        ("UPDATE audit_event SET case_code = '' WHERE chain_position = 9", (9, "hash", 9)),
        ("UPDATE audit_event SET details = '\"\"' WHERE chain_position = 8", (8, "hash", 8)),  # null to ""
        ("UPDATE audit_event SET prev_hash = event_hash WHERE chain_position = 7", (7, "link", 7)),
        ("DELETE FROM audit_event WHERE chain_position = 4", (4, "gap", 4)),
    ],
)
def test_tampering_in_a_later_page_is_found_at_its_position(
    ten: Flask, statement: str, expected: tuple[int, str, int]
) -> None:
    result = _tampered(text(statement))
    assert (result.first_bad_position, result.problem, result.checked) == expected


def test_a_forged_signature_at_the_last_checkpoint_is_found_after_pages_in_bulk(ten: Flask) -> None:
    mark = db.session.scalar(select(AuditCheckpoint).where(AuditCheckpoint.chain_position == 10))
    forged = bytes([mark.signature[0] ^ 1]) + bytes(mark.signature[1:])
    result = _tampered(update(AuditCheckpoint.__table__).where(AuditCheckpoint.id == mark.id).values(signature=forged))
    assert (result.first_bad_position, result.problem, result.checked, result.checkpoints_checked) == (
        10,
        "checkpoint_signature",
        10,
        1,
    )


def test_a_forged_signature_in_a_page_with_a_later_checkpoint_is_found(ctx: Flask) -> None:
    """Both checkpoints fall in one page; the first is forged. The second no longer links to it
    (the forged signature changes its digest), so the first is checked alone when the walk
    reaches the second: found at 6, with the page's ten events read."""
    insert_and_seal([event(i) for i in range(6)])
    insert_and_seal([event(i) for i in range(6, 10)])
    mark = db.session.scalar(select(AuditCheckpoint).where(AuditCheckpoint.chain_position == 6))
    forged = bytes([mark.signature[0] ^ 1]) + bytes(mark.signature[1:])
    result = _tampered(update(AuditCheckpoint.__table__).where(AuditCheckpoint.id == mark.id).values(signature=forged))
    assert (result.first_bad_position, result.problem, result.checked) == (6, "checkpoint_signature", 10)
    assert result.checkpoints_checked == 0


def test_a_page_refused_in_bulk_hands_the_checkpoints_on(ten: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    """Position 5's event id has capitals (hashed lower-cased, but not sliced in bulk): its page
    is checked the exact way, with checkpoint 6, and the pages after it in bulk again."""
    if db.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's formatted pages")
    capitals = db.session.scalar(select(text("upper(event_id)")).select_from(T).where(T.c.chain_position == 5))
    _odd(5, "event_id", capitals)
    reread: list[tuple[int, int]] = []
    original = chain._read_rows

    def spy(engine: Any, first: int, last: int) -> Any:
        reread.append((first, last))
        return original(engine, first, last)

    monkeypatch.setattr(chain, "_read_rows", spy)
    result = chain.verify(db.session)
    assert (result.ok, result.checked, result.checkpoints_checked) == (True, 10, 2)
    assert reread == [(4, 6)]


def test_a_hash_made_over_another_encoding_does_not_pass_in_bulk(ten: Flask) -> None:
    """An intruder appends an event after the last checkpoint whose id has capitals and hashes
    it as if the id were written that way: `canonical` writes ids in lower case, so it is found."""
    db.session.execute(T.insert(), [event(11)])
    db.session.commit()
    chain.seal(db.session, db.session.commit, checkpoint_every=None)  # no signer: no checkpoint
    row = db.session.execute(select(T).where(T.c.chain_position == 11)).one()._asdict()
    encoded = chain.canonical(row).replace(row["event_id"].encode(), row["event_id"].upper().encode())
    with audit_guards_lifted(db.session):
        db.session.execute(
            text("UPDATE audit_event SET event_id = :id, event_hash = :hash WHERE chain_position = 11"),
            {"id": row["event_id"].replace("-", "").upper(), "hash": chain.link(row["prev_hash"], encoded)},
        )
    db.session.commit()
    result = chain.verify(db.session)
    assert (result.ok, result.first_bad_position, result.problem) == (False, 11, "hash")
