"""One transaction per request or task, committed at the edge, with after-commit hooks.

Services flush and never commit. The request edge commits when the response succeeded
(status below 400, or a view that asked for its record to be kept, such as a failed login
that must stay audited) and rolls back otherwise. Side effects (queued tasks, session-store
changes in Redis) are registered with `after_commit` and run only once the data is durable.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from flask import Response, g
from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction, scoped_session
from sqlalchemy.orm.exc import StaleDataError

from .extensions import db
from .models_base import DbSession

log = logging.getLogger(__name__)
_HOOKS = "shabaka_after_commit"


def after_commit(callback: Callable[[], None], session: DbSession | None = None) -> None:
    """Run `callback` once the current transaction commits; drop it if it rolls back."""
    target = session if session is not None else db.session
    if isinstance(target, scoped_session):
        target = target()
    if not target.in_transaction():
        target.begin()  # so that a rollback, even of an empty transaction, drops the hook
    target.info.setdefault(_HOOKS, []).append(callback)


@contextmanager
def undone_on_error(session: DbSession | None = None) -> Iterator[None]:
    """Run a block in a savepoint: if it raises, what it wrote is rolled back and the after-commit
    side effects it queued are dropped, while the rest of the transaction stands."""
    target = session if session is not None else db.session
    if isinstance(target, scoped_session):
        target = target()
    queued = len(target.info.get(_HOOKS, []))
    try:
        with target.begin_nested():
            yield
    except BaseException:
        hooks = target.info.get(_HOOKS)
        if hooks is not None:
            del hooks[queued:]
        raise


def keep_on_error() -> None:
    """Ask the request edge to commit even though the response is an error status."""
    g.keep_on_error = True


@event.listens_for(Session, "after_commit")
def _run_hooks(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint was released: the work is not durable until the outer commit
    hooks = session.info.pop(_HOOKS, [])
    for hook in hooks:
        try:
            hook()
        except Exception:  # a side effect failing must not undo a durable commit
            log.exception("after-commit hook failed")


@event.listens_for(Session, "after_soft_rollback")
def _drop_hooks(session: DbSession, previous_transaction: SessionTransaction) -> None:
    if previous_transaction.parent is None:  # the whole transaction, not a savepoint
        session.info.pop(_HOOKS, None)


def finish_request(response: Response) -> Response:
    """Commit or roll back the request's transaction; a failed commit becomes a 500."""
    from .audit.services import take_denials, write
    from .followups.audit_alerts import integrity_failures
    from .replica import note_commit
    from .security.fields import take_unreadable

    keep = g.get("keep_on_error", False)
    denials = take_denials(db.session)
    failures = take_unreadable(db.session)
    if response.status_code < 400 or keep:
        try:
            write(db.session, denials + integrity_failures(db.session, _actor(), failures))
            db.session.commit()
            note_commit(_actor())  # with a read replica: her reporting reads will hold this write
        except StaleDataError:  # someone else saved the same record first
            db.session.rollback()
            from .errors import error_response

            return error_response(409)
        except Exception:
            log.exception("commit failed")
            db.session.rollback()
            from .errors import error_response

            return error_response(500)
    else:
        db.session.rollback()
        # refusals and integrity failures are recorded even though the request changed nothing
        kept = denials + integrity_failures(db.session, _actor(), failures)
        if kept:
            write(db.session, kept)
            db.session.commit()
            note_commit(_actor())
    return response


def _actor() -> object | None:
    """Who made the request: the API token's user or the signed-in user (None if neither)."""
    from flask_login import current_user

    api_user = g.get("api_user")
    if api_user is not None:
        return api_user
    return current_user if getattr(current_user, "is_authenticated", False) else None
