"""The audit trail's hash chain: sealing, and tampering found at the position where it happened."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from config import Settings
from referral.audit import chain, checkpoints
from referral.audit.models import AuditCheckpoint, AuditEvent
from referral.audit.services import record
from referral.extensions import db
from referral.models_base import new_id, utcnow
from referral.security import signing
from tests.conftest import Factory, audit_guards_lifted, sign_in

T = AuditEvent.__table__


def _events(n: int, **ids: str | int) -> None:
    for i in range(n):
        record("case.view", None, case_code=f"NBL-2026-{i:06d}", organization_id=new_id(), n=i, **ids)
    db.session.commit()


def _seal(**kwargs: object) -> chain.SealResult:
    return chain.seal(db.session, db.session.commit, signer=checkpoints.signer(), **kwargs)  # type: ignore[arg-type]


def _positions() -> list[int]:
    return list(db.session.scalars(select(T.c.chain_position).order_by(T.c.chain_position)))


@pytest.fixture
def sealed(ctx: Flask) -> Iterator[Flask]:
    """Ten events, sealed in two runs, with a checkpoint at 6 and at 10."""
    _events(6)
    _seal(checkpoint_every=None)
    _events(4)
    _seal(checkpoint_every=None)
    yield ctx


def test_the_sealer_chains_events_in_order_and_signs_the_head(sealed: Flask) -> None:
    assert _positions() == list(range(1, 11))
    rows = db.session.execute(select(T.c.prev_hash, T.c.event_hash).order_by(T.c.chain_position)).all()
    assert rows[0].prev_hash == chain.GENESIS
    assert all(rows[i].prev_hash == rows[i - 1].event_hash for i in range(1, 10))
    marks = db.session.execute(select(AuditCheckpoint).order_by(AuditCheckpoint.chain_position)).scalars().all()
    assert [m.chain_position for m in marks] == [6, 10]
    assert marks[-1].head_hash == rows[-1].event_hash
    result = chain.verify(db.session)
    assert result.ok and result.checked == 10 and result.first_bad_position is None
    assert result.keys_pinned and result.checkpoints_checked == 2
    assert result.checkpoint is not None and result.checkpoint.position == 10


def test_a_second_run_with_nothing_new_changes_nothing(sealed: Flask) -> None:
    again = _seal(checkpoint_every=None)
    assert again.sealed == 0 and again.checkpoint_position is None and again.head_position == 10
    assert db.session.scalar(select(func.count()).select_from(AuditCheckpoint)) == 2


def test_checkpoints_wait_for_their_interval(ctx: Flask) -> None:
    start = utcnow()
    _events(2)
    assert _seal(now=lambda: start).checkpoint_position == 2
    _events(2)
    assert _seal(now=lambda: start + timedelta(seconds=30)).checkpoint_position is None
    assert _seal(now=lambda: start + timedelta(seconds=61)).checkpoint_position == 4  # the head moved meanwhile


def _tamper(statement: object) -> None:
    with audit_guards_lifted(db.session):
        db.session.execute(statement)  # type: ignore[call-overload]
    db.session.commit()


def _alter_checkpoint(position: int, **values: object) -> None:
    """Change the stored checkpoint at `position` as an intruder would; `signature=None` flips a
    bit of its signature."""
    mark = db.session.scalar(select(AuditCheckpoint).where(AuditCheckpoint.chain_position == position))
    if "signature" in values and values["signature"] is None:
        values["signature"] = bytes([mark.signature[0] ^ 1]) + bytes(mark.signature[1:])
    _tamper(update(AuditCheckpoint.__table__).where(AuditCheckpoint.id == mark.id).values(**values))


def test_an_edited_event_is_found_at_its_position(sealed: Flask) -> None:
    _tamper(update(T).where(T.c.chain_position == 4).values(case_code="NBL-2026-999999"))
    result = chain.verify(db.session)
    assert not result.ok
    assert (result.first_bad_position, result.problem) == (4, "hash")


def test_a_deleted_event_is_found_as_a_gap_at_its_position(sealed: Flask) -> None:
    _tamper(delete(T).where(T.c.chain_position == 5))
    result = chain.verify(db.session)
    assert (result.ok, result.first_bad_position, result.problem) == (False, 5, "gap")


def test_two_reordered_events_are_found_at_the_first_swapped_position(sealed: Flask) -> None:
    with audit_guards_lifted(db.session):
        db.session.execute(update(T).where(T.c.chain_position == 3).values(chain_position=-3))
        db.session.execute(update(T).where(T.c.chain_position == 7).values(chain_position=3))
        db.session.execute(update(T).where(T.c.chain_position == -3).values(chain_position=7))
    db.session.commit()
    result = chain.verify(db.session)
    assert (result.ok, result.first_bad_position) == (False, 3)


def _shift_up_from(position: int) -> None:
    """Make room at `position` by moving every later event one place up (last first)."""
    for pos in range(10, position - 1, -1):
        db.session.execute(update(T).where(T.c.chain_position == pos).values(chain_position=pos + 1))


def _forged_event(position: int, prev_hash: bytes, event_hash: bytes) -> dict[str, object]:
    return {
        "event_id": new_id(),
        "occurred_at": utcnow(),
        "action": "case.view",
        "outcome": "success",
        "case_code": "NBL-2026-000777",
        "details": {},
        "chain_position": position,
        "prev_hash": prev_hash,
        "event_hash": event_hash,
    }


def test_an_inserted_event_is_found_at_its_position(sealed: Flask) -> None:
    """Put in with a plausible seal copied from the event it displaces: its own link fails."""
    with audit_guards_lifted(db.session):
        displaced = db.session.execute(select(T.c.prev_hash, T.c.event_hash).where(T.c.chain_position == 5)).one()
        _shift_up_from(5)
        db.session.execute(T.insert().values(**_forged_event(5, displaced.prev_hash, displaced.event_hash)))
    db.session.commit()
    result = chain.verify(db.session)
    assert (result.ok, result.first_bad_position, result.problem) == (False, 5, "hash")


def test_an_inserted_event_with_a_valid_link_is_found_at_the_next_position(sealed: Flask) -> None:
    """An intruder who knows the algorithm chains the new event correctly after position 4;
    it is indistinguishable by itself, and the event after it no longer links."""
    with audit_guards_lifted(db.session):
        prev = db.session.scalar(select(T.c.event_hash).where(T.c.chain_position == 4))
        forged = _forged_event(5, prev, b"")
        forged["event_hash"] = chain.link(prev, chain.canonical(forged))
        _shift_up_from(5)
        db.session.execute(T.insert().values(**forged))
    db.session.commit()
    result = chain.verify(db.session)
    assert (result.ok, result.first_bad_position, result.problem) == (False, 6, "link")


def test_a_rewritten_history_is_caught_by_the_signed_checkpoint(sealed: Flask) -> None:
    """Edit event 8 and recompute every hash from there: the chain holds, checkpoint 10 does not."""
    with audit_guards_lifted(db.session):
        db.session.execute(update(T).where(T.c.chain_position == 8).values(case_code="NBL-2026-999999"))
        prev = db.session.scalar(select(T.c.event_hash).where(T.c.chain_position == 7))
        for pos in (8, 9, 10):
            row = db.session.execute(select(T).where(T.c.chain_position == pos)).one()._asdict()
            new_hash = chain.link(prev, chain.canonical(row))
            db.session.execute(update(T).where(T.c.chain_position == pos).values(prev_hash=prev, event_hash=new_hash))
            prev = new_hash
    db.session.commit()
    result = chain.verify(db.session)
    assert (result.ok, result.first_bad_position, result.problem) == (False, 10, "checkpoint_hash")


def test_events_removed_from_the_end_are_caught_by_the_last_checkpoint(sealed: Flask) -> None:
    _tamper(delete(T).where(T.c.chain_position >= 9))
    result = chain.verify(db.session)
    assert (result.ok, result.first_bad_position, result.problem) == (False, 9, "truncated")


def test_a_forged_checkpoint_signature_is_found(sealed: Flask) -> None:
    _alter_checkpoint(6, signature=None)
    result = chain.verify(db.session)
    assert (result.ok, result.first_bad_position, result.problem) == (False, 6, "checkpoint_signature")


def test_a_checkpoint_signed_with_another_key_is_refused_when_the_key_is_pinned(sealed: Flask) -> None:
    """An intruder replaces checkpoint 10 with her own signature and her own public key."""
    intruder = signing.Signer(signing.new_private_key())
    mark = db.session.scalar(select(AuditCheckpoint).where(AuditCheckpoint.chain_position == 10))
    values = {
        "key_id": intruder.key_id,
        "public_key": intruder.public_key,
        "signature": intruder.sign(checkpoints.message(10, mark.head_hash, mark.signed_at, mark.previous_digest)),
    }
    _tamper(update(AuditCheckpoint.__table__).where(AuditCheckpoint.id == mark.id).values(**values))
    result = chain.verify(db.session)
    assert (result.ok, result.first_bad_position, result.problem) == (False, 10, "checkpoint_key")
    unpinned = chain.verify(db.session, trusted_keys={})  # only the stored key: the forgery holds
    assert unpinned.ok and not unpinned.keys_pinned


def test_each_checkpoint_signs_the_one_before_and_one_signature_vouches_for_the_run(sealed: Flask) -> None:
    _events(2)
    _seal(checkpoint_every=None)
    marks = list(db.session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.chain_position)))
    assert [m.chain_position for m in marks] == [6, 10, 12]
    assert bytes(marks[0].previous_digest) == checkpoints.NO_LINK
    assert [bytes(m.previous_digest) for m in marks[1:]] == [checkpoints.digest(m) for m in marks[:-1]]
    result = chain.verify(db.session)
    assert result.ok and result.checkpoints_checked == 3 and result.signatures_checked == 1


def test_a_checkpoint_whose_link_was_rewritten_is_found_at_its_position(sealed: Flask) -> None:
    """Checkpoint 10's link rewritten (to none): 10 is checked alone and its signature no longer
    holds, while 6's own does, so the verifier names 10."""
    _alter_checkpoint(10, previous_digest=bytes(32))
    result = chain.verify(db.session)
    assert (result.ok, result.first_bad_position, result.problem) == (False, 10, "checkpoint_signature")


def test_a_forged_time_on_a_vouched_checkpoint_is_found(sealed: Flask) -> None:
    """Checkpoint 6's time moved: its digest changes, so 10 no longer vouches for it and 6 is
    checked alone."""
    mark = db.session.scalar(select(AuditCheckpoint).where(AuditCheckpoint.chain_position == 6))
    _alter_checkpoint(6, signed_at=mark.signed_at - timedelta(days=1))
    result = chain.verify(db.session)
    assert (result.ok, result.first_bad_position, result.problem) == (False, 6, "checkpoint_signature")


def test_the_sealer_does_not_link_to_a_checkpoint_whose_signature_fails(sealed: Flask) -> None:
    _alter_checkpoint(10, signature=None)
    _events(2)
    assert _seal(checkpoint_every=None).checkpoint_position == 12
    newest = db.session.scalar(select(AuditCheckpoint).where(AuditCheckpoint.chain_position == 12))
    assert bytes(newest.previous_digest) == checkpoints.NO_LINK
    result = chain.verify(db.session)
    assert (result.ok, result.first_bad_position, result.problem) == (False, 10, "checkpoint_signature")


def test_checkpoints_signed_before_links_verify_one_by_one(ctx: Flask) -> None:
    """A version 1 checkpoint (no link, as written before links): checked by its own signature,
    and the next linked checkpoint links to it."""
    own = checkpoints.signer()
    assert own is not None
    _events(4)
    head = chain.seal(db.session, db.session.commit, signer=None)
    at = utcnow()
    db.session.add(
        AuditCheckpoint(
            chain_position=4,
            head_hash=head.head_hash,
            signed_at=at,
            key_id=own.key_id,
            public_key=own.public_key,
            signature=own.sign(checkpoints.message(4, head.head_hash or b"", at)),
        )
    )
    db.session.commit()
    _events(2)
    _seal(checkpoint_every=None)
    old = db.session.scalar(select(AuditCheckpoint).where(AuditCheckpoint.chain_position == 4))
    newest = db.session.scalar(select(AuditCheckpoint).where(AuditCheckpoint.chain_position == 6))
    assert old.previous_digest is None and bytes(newest.previous_digest) == checkpoints.digest(old)
    result = chain.verify(db.session)
    assert result.ok and result.checkpoints_checked == 2 and result.signatures_checked == 1
    forged = bytes([old.signature[0] ^ 1]) + bytes(old.signature[1:])
    _tamper(update(AuditCheckpoint.__table__).where(AuditCheckpoint.id == old.id).values(signature=forged))
    result = chain.verify(db.session)
    assert (result.ok, result.first_bad_position, result.problem) == (False, 4, "checkpoint_signature")


def test_the_web_process_seals_without_signing(sealed: Flask, settings: Settings) -> None:
    """Without AUDIT_SIGNING_KEY there is no signer and no new checkpoint, but the chain grows;
    the pinned public key (AUDIT_PUBLIC_KEY) still verifies the worker's checkpoints."""
    public = signing.public_key_of(settings.audit_signing_key or b"")
    sealed.config["SHABAKA_SETTINGS"] = replace(settings, audit_signing_key=None, audit_public_keys=(public,))
    try:
        assert checkpoints.signer() is None
        _events(3)
        done = chain.seal(db.session, db.session.commit, signer=None)
        assert (done.sealed, done.checkpoint_position) == (3, None)
        result = chain.verify(db.session)
        assert result.ok and result.keys_pinned and result.checked == 13
    finally:
        sealed.config["SHABAKA_SETTINGS"] = settings


def test_sealed_events_and_checkpoints_refuse_update_and_delete(sealed: Flask) -> None:
    for statement in (
        update(T).where(T.c.chain_position == 2).values(case_code="X"),
        update(T).where(T.c.chain_position == 2).values(chain_position=None, prev_hash=None, event_hash=None),
        update(T).where(T.c.chain_position == 2).values(event_hash=bytes(32)),
        delete(T).where(T.c.chain_position == 2),
        update(AuditCheckpoint.__table__).values(head_hash=bytes(32)),
        delete(AuditCheckpoint.__table__),
    ):
        with pytest.raises(DBAPIError):
            db.session.execute(statement)
        db.session.rollback()
    assert chain.verify(db.session).ok


def test_an_unsealed_event_may_only_be_sealed(ctx: Flask) -> None:
    _events(1)
    with pytest.raises(DBAPIError):
        db.session.execute(update(T).values(case_code="X"))
    db.session.rollback()
    with pytest.raises(DBAPIError):  # sealing must not change the event itself
        db.session.execute(update(T).values(case_code="X", chain_position=1, prev_hash=bytes(32), event_hash=bytes(32)))
    db.session.rollback()


def test_a_rolled_back_request_leaves_no_event_and_no_gap(make_app: Any, settings: Settings, factory: Factory) -> None:
    """A request that recorded an event and then failed (the edge rolls it back) leaves nothing."""
    web = make_app(settings)

    @web.get("/_test/audited/<code>/<int:status>")
    def audited(code: str, status: int) -> tuple[str, int]:
        record("case.view", None, case_code=code)
        return "", status

    browser = web.test_client()
    sign_in(browser, web, factory.user())
    assert browser.get("/_test/audited/NBL-2026-000001/200").status_code == 200
    assert browser.get("/_test/audited/NBL-2026-000002/409").status_code == 409
    assert browser.get("/_test/audited/NBL-2026-000003/200").status_code == 200
    with web.app_context():
        _seal()
        codes = db.session.scalars(select(T.c.case_code).where(T.c.case_code.is_not(None)).order_by(T.c.chain_position))
        assert list(codes) == ["NBL-2026-000001", "NBL-2026-000003"]
        total = db.session.scalar(select(func.count()).select_from(T))
        assert _positions() == list(range(1, total + 1))
        assert chain.verify(db.session).ok


def test_an_event_committed_late_is_sealed_after_those_already_chained(app: Flask, ctx: Flask) -> None:
    """A slow transaction's event (a lower id, an earlier time) takes the next position when it commits."""
    slow = Session(bind=db.engine)
    try:
        slow.add(
            AuditEvent(occurred_at=utcnow() - timedelta(seconds=5), action="case.view", case_code="SLOW", details={})
        )
        slow.flush()  # holds its id; on SQLite it also holds the write lock, so commit it first there
        if db.engine.dialect.name == "sqlite":
            slow.commit()
            _events(2)
            _seal()
        else:
            _events(2)
            _seal()  # only committed events are sealed
            assert _positions() == [1, 2]
            slow.commit()
            _seal()
    finally:
        slow.close()
    assert _positions() == [1, 2, 3]
    assert chain.verify(db.session).ok


def test_eight_concurrent_writers_make_one_valid_chain_without_gaps(app: Flask, ctx: Flask) -> None:
    """Eight writers commit events (a plain insert each, no lock) while a sealer runs alongside."""
    per_writer = 25
    errors: list[BaseException] = []
    done = threading.Event()

    def writer(n: int) -> None:
        try:
            with app.app_context():
                for i in range(per_writer):
                    record("case.view", None, case_code=f"W{n}-{i:04d}", writer=n)
                    db.session.commit()
                db.session.remove()
        except BaseException as error:  # reported below
            errors.append(error)

    def sealer() -> None:
        try:
            with app.app_context():
                while not done.is_set():
                    chain.seal(
                        db.session, db.session.commit, signer=checkpoints.signer(), checkpoint_every=None, batch=7
                    )
                db.session.remove()
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    sealing = threading.Thread(target=sealer)
    sealing.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    done.set()
    sealing.join(120)
    assert not errors, errors
    _seal()
    total = 8 * per_writer
    assert _positions() == list(range(1, total + 1))
    result = chain.verify(db.session)
    assert result.ok and result.checked == total and result.unsealed == 0
    assert result.checkpoints_checked >= 1


def test_the_canonical_encoding_is_fixed() -> None:
    """The bytes auditors' own tools reproduce (scripts/verify_audit.py): a change here breaks them."""
    from datetime import UTC, datetime

    event = {
        "event_id": "0B6E1D2C-1111-4222-8333-444455556666",
        "occurred_at": datetime(2026, 11, 29, 10, 0, 0, 5, tzinfo=UTC),
        "action": "case.view",
        "outcome": "success",
        "actor_id": None,
        "actor_role": "caseworker",
        "case_code": "NBL-2026-000042",
        "reason": "",
        "details": {"z": 1, "a": "ح"},
        "chain_position": 42,
    }
    assert (
        chain.canonical(event)
        == (
            '{"action":"case.view","actor_id":null,"actor_organization_id":null,"actor_role":"caseworker",'
            '"case_code":"NBL-2026-000042","chain_position":42,"details":{"a":"ح","z":1},'
            '"event_id":"0b6e1d2c-1111-4222-8333-444455556666","object_id":null,"object_type":null,'
            '"occurred_at":"2026-11-29T10:00:00.000005Z","organization_id":null,"outcome":"success",'
            '"reason":null,"request_id":null,"route":null}'
        ).encode()
    )


def test_the_postgresql_sealer_lock_is_per_transaction(ctx: Flask) -> None:
    """A sealer that does not wait returns at once while another holds the lock."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("advisory locks are PostgreSQL's")
    other = Session(bind=db.engine)
    try:
        other.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": chain._ADVISORY_LOCK})
        _events(1)
        assert chain.seal(db.session, db.session.commit, wait=False).busy
    finally:
        other.rollback()
        other.close()
    assert chain.seal(db.session, db.session.commit, wait=False).sealed == 1


def test_the_database_path_hashes_the_same_bytes_as_the_canonical_encoding(ctx: Flask) -> None:
    """The sealer and verifier let the database format the fields; on tricky values the hash
    must still be the one `canonical` (and the auditors' script) gives."""
    tricky = ['quote " and \\ backslash', "line\nbreak\ttab\x01\x1f\x7f", "حالة 😀 \u2028", "", "a/b"]
    for i, reason in enumerate(tricky):
        record(
            "case.view",
            None,
            reason=reason,
            case_code=f"NBL-2026-{i:06d}",
            text=reason,
            flag=bool(i % 2),
            share=0.1 * i,
            nothing=None,
            count=-i,
            **{"ك": "مفتاح", "B": "upper"},
        )
    record("access.denied", None, outcome="denied")
    db.session.commit()
    _seal()
    for row in db.session.execute(select(T).order_by(T.c.chain_position)):
        values = row._asdict()
        assert values["event_hash"] == chain.link(values["prev_hash"], chain.canonical(values)), values["reason"]
    assert chain.verify(db.session).ok
