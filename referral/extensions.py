"""The Flask extensions, created once and bound in create_app()."""

from __future__ import annotations

from typing import Any

from flask_babel import Babel
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import MetaData, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
babel = Babel()


def use_sqlite_properly(engine: Engine) -> None:
    """SQLite (the embedded default): real transactions, savepoints, WAL and foreign keys.

    pysqlite delays BEGIN until the first write and would let a SAVEPOINT commit on its own;
    taking over BEGIN (SQLAlchemy's documented recipe) makes rollbacks and savepoints exact.

    Every transaction begins IMMEDIATE: it takes the database's one write lock up front, waiting
    for it up to the busy timeout (the connection's `timeout`, SQLITE_BUSY_SECONDS). A deferred
    transaction that read first and wrote later fails at once ("database is locked") whenever
    another connection committed in between, and no timeout can help it, since its snapshot is
    stale; nearly every transaction here writes (views and lists are audited), so all of them
    take the lock first. WAL readers outside a transaction are never blocked.
    """

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, connection_record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


# SQLAlchemy's identity map holds its objects weakly: a row a service looked up and let go is
# read again by the next lookup of the same id (a referral's page asked for its consent six
# times). Within a request the session keeps a strong hold on what it loaded, up to HELD_MAX
# objects, so that a repeated lookup by id is answered from memory. Work outside a request
# (workers, commands, exports of whole tables) keeps the weak map and its bounded memory.
HELD_MAX = 2_000
_HELD = "shabaka_held"


@event.listens_for(db.session.session_factory.class_, "loaded_as_persistent")
def _hold_loaded(session: Any, instance: Any) -> None:
    from flask import has_request_context

    held = session.info.get(_HELD)
    if held is None:
        if not has_request_context():
            return
        held = session.info[_HELD] = []
    if len(held) < HELD_MAX:
        held.append(instance)
