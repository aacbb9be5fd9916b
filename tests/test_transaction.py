"""Side effects wait for the outermost commit: a released savepoint is not durable yet."""

from __future__ import annotations

from flask import Flask

from referral.extensions import db
from referral.transaction import after_commit


def test_after_commit_hooks_wait_for_the_outer_commit_not_a_savepoint(app: Flask) -> None:
    ran: list[str] = []
    with app.app_context():
        after_commit(lambda: ran.append("first"))
        with db.session.begin_nested():
            after_commit(lambda: ran.append("inside"))
        assert ran == []  # the savepoint was released, but nothing is durable yet
        db.session.commit()
        assert ran == ["first", "inside"]


def test_a_rollback_drops_hooks_registered_before_and_inside_a_savepoint(app: Flask) -> None:
    ran: list[str] = []
    with app.app_context():
        after_commit(lambda: ran.append("first"))
        with db.session.begin_nested():
            after_commit(lambda: ran.append("inside"))
        db.session.rollback()
        db.session.commit()
        assert ran == []
