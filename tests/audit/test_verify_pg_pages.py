"""The verifier page by page on PostgreSQL: a page formatted by one statement hashes
`canonical`'s bytes, is taken in bulk when its values are plain and refused when a value could
cut it wrongly (the exact path decides then), and tampering is found as on the exact path."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select, text

from referral.audit import chain, pg_pages
from referral.audit.models import AuditEvent
from referral.extensions import db
from tests.conftest import audit_guards_lifted
from tests.helpers.chain_rows import event, insert_and_seal, tricky_events

T = AuditEvent.__table__


@pytest.fixture
def postgres_only(ctx: Flask) -> Flask:
    if db.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's formatted pages")
    return ctx


def _pages(size: int) -> list[pg_pages.Page]:
    head = db.session.scalar(select(T.c.chain_position).order_by(T.c.chain_position.desc()).limit(1))
    with db.engine.connect() as connection:
        raw: Any = connection.connection.driver_connection
        try:
            return list(pg_pages.read(raw, head, size, lambda: False))
        finally:
            connection.rollback()


def _plain(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """PostgreSQL text holds no NUL; a separator, and an empty string in details, send the page
    the exact way (tested apart)."""
    for row in rows:
        for key, value in row.items():
            if isinstance(value, str):
                row[key] = value.replace("\x00", "").replace("\x1f", "").replace("\x1e", "")
        row["details"] = {
            k: v.replace("\x00", "") if isinstance(v, str) else v for k, v in row["details"].items() if v != ""
        }
    return rows


def _exact_reads(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    seen: list[tuple[int, int]] = []
    read_rows = chain._read_rows

    def spy(engine: Any, first: int, last: int) -> Any:
        seen.append((first, last))
        return read_rows(engine, first, last)

    monkeypatch.setattr(chain, "_read_rows", spy)
    return seen


def test_pages_hash_the_canonical_bytes_of_tricky_values(postgres_only: Flask) -> None:
    """Quotes, backslashes, control characters, Arabic, emoji, U+2028, empty text, `:""`, NULLs,
    and details of every flat kind: each page is taken in bulk with the sealer's hashes."""
    rows = [r for r in _plain(tricky_events()) if "nested" not in r["details"]]
    insert_and_seal(rows)
    stored = list(db.session.scalars(select(T.c.event_hash).order_by(T.c.chain_position)))
    for size in (len(stored), 4, 1):
        prev, digests = chain.GENESIS, []
        for page in _pages(size):
            got = page.digests(prev)
            assert got is not None, (page.first, page.last)
            digests += got
            prev = got[-1]
        assert digests == stored


def test_a_clean_chain_is_verified_without_the_exact_path(
    postgres_only: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(chain, "VERIFY_PAGE", 4)
    exact = _exact_reads(monkeypatch)
    insert_and_seal([event(i) for i in range(10)])
    result = chain.verify(db.session)
    assert (result.ok, result.checked, exact) == (True, 10, [])


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("reason", "a separator \x1f inside"),
        ("reason", "an event separator \x1e inside"),
        ("route", "the escape's text \\u001f"),
        ("case_code", "\\u001e"),
    ],
)
def test_a_value_that_would_cut_its_page_wrongly_goes_the_exact_way_and_verifies(
    postgres_only: Flask, monkeypatch: pytest.MonkeyPatch, column: str, value: str
) -> None:
    exact = _exact_reads(monkeypatch)
    insert_and_seal([event(1), event(2, **{column: value}), event(3)])
    (page,) = _pages(10)
    assert page.digests(chain.GENESIS) is None
    result = chain.verify(db.session)
    assert (result.ok, result.checked, exact) == (True, 3, [(1, 3)])


@pytest.mark.parametrize("details", [{"note": ""}, ""])
def test_details_that_are_or_hold_an_empty_string_go_the_exact_way_and_verify(
    postgres_only: Flask, monkeypatch: pytest.MonkeyPatch, details: Any
) -> None:
    exact = _exact_reads(monkeypatch)
    insert_and_seal([event(1), event(2, details=details), event(3)])
    (page,) = _pages(10)
    assert page.digests(chain.GENESIS) is None
    result = chain.verify(db.session)
    assert (result.ok, result.checked, exact) == (True, 3, [(1, 3)])


def test_nested_details_are_taken_in_bulk_with_their_canonical_form(postgres_only: Flask) -> None:
    insert_and_seal([event(1), event(2, details={"nested": {"b": 1, "a": [1, "x"]}, "big": 10**30})])
    (page,) = _pages(10)
    stored = list(db.session.scalars(select(T.c.event_hash).order_by(T.c.chain_position)))
    assert page.digests(chain.GENESIS) == stored
    assert chain.verify(db.session).ok


def test_a_page_is_refused_when_its_parts_do_not_add_up(postgres_only: Flask) -> None:
    insert_and_seal([event(i) for i in range(3)])
    (page,) = _pages(10)
    assert page.digests(chain.GENESIS) is not None
    assert page.lines and page.details and page.hashes and page.prevs
    for changed in (
        {"details": page.details + "\x1e{}"},
        {"lines": page.lines + "\x1f"},
        {"lines": page.lines.replace("NBL-2026-000001", "NBL-2026-000009")},
        {"count": 2},
        {"hashes": page.hashes[:-1] + bytes([page.hashes[-1] ^ 1])},
        {"prevs": bytes([page.prevs[0] ^ 1]) + page.prevs[1:]},
        {"prevs": page.prevs[:40] + bytes([page.prevs[40] ^ 1]) + page.prevs[41:]},
    ):
        assert replace(page, **changed).digests(chain.GENESIS) is None, changed


def test_an_edited_event_is_found_at_its_position_through_the_pages(postgres_only: Flask) -> None:
    insert_and_seal([event(i) for i in range(8)])
    with audit_guards_lifted(db.session):
        db.session.execute(text("UPDATE audit_event SET reason = 'changed' WHERE chain_position = 6"))
    db.session.commit()
    result = chain.verify(db.session)
    assert (result.ok, result.first_bad_position, result.problem) == (False, 6, "hash")


def test_a_null_in_details_changed_to_empty_text_is_found(postgres_only: Flask) -> None:
    """Empty fields are made null in bulk; an empty string inside details must stay one, so this
    change (null to "") is found, not hashed back to the sealed text."""
    insert_and_seal([event(i, details={"note": None, "n": i}) for i in range(4)])
    with audit_guards_lifted(db.session):
        db.session.execute(text("""UPDATE audit_event SET details = '{"n": 2, "note": ""}' WHERE chain_position = 3"""))
    db.session.commit()
    result = chain.verify(db.session)
    assert (result.ok, result.first_bad_position, result.problem) == (False, 3, "hash")
