"""Encrypted columns that keep models plain: `full_name: Mapped[str | None] = encrypted_column()`.

In Python the attribute holds the plain value. When the ORM flushes, each new or changed value
is encrypted with the context of its place (table, column, row id, owning organisation); when a
row loads, its values are decrypted; a value is never silently missing (see below). Values
can only be written through the ORM; a raw string reaching the column is refused.

A value that does not authenticate in its place (altered, or moved from another row, column
or organisation) does not stop the row from loading: the attribute holds an `Unreadable` marker
instead (truthy, shown as a marked blank on a page, which no JSON encoder accepts), and the
failure is noted on the session for the request edge to audit and report (`take_unreadable`).
The rest of the row, which still authenticates, stays readable. A marker is never sealed again.

A model opts in by naming its owning organisation column: ``__encryption_owner__ =
"organization_id"``. When that column changes (a case moves to another organisation), every
encrypted value of the row is encrypted again for the new owner.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from flask import current_app
from flask.globals import _cv_app
from sqlalchemy import LargeBinary, TypeDecorator, event, inspect
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Mapper, Session, mapped_column, scoped_session
from sqlalchemy.orm.attributes import set_committed_value

from ..models_base import new_id
from .crypto import Context, CryptoError, FieldCipher, TamperedValue, associated_data


class PlaintextRefused(CryptoError):
    """A plain value reached an encrypted column outside the ORM's flush."""


@dataclass(frozen=True)
class Sealed:
    """Ciphertext as stored; what the column holds between the database and the ORM events."""

    blob: bytes

    @property
    def key_id(self) -> int:
        return FieldCipher.key_id_of(self.blob)


class Unreadable:
    """What an encrypted attribute holds when its stored value failed its integrity check: the
    place of the value (ids only), never the value. Truthy, so that a page shows it rather than
    "none"; rendered as a marked blank; as text, empty. Not a dataclass or a tuple, so that no
    JSON encoder turns it into an object or a list: an API answer that meets it fails."""

    __slots__ = ("case_code", "column", "organization_id", "row_id", "table")

    def __init__(
        self, table: str, column: str, row_id: str, organization_id: str = "", case_code: str | None = None
    ) -> None:
        self.table, self.column, self.row_id = table, column, row_id
        self.organization_id, self.case_code = organization_id, case_code

    def _place(self) -> tuple[str, str, str, str, str | None]:
        return (self.table, self.column, self.row_id, self.organization_id, self.case_code)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Unreadable) and self._place() == other._place()

    def __hash__(self) -> int:
        return hash(self._place())

    def __repr__(self) -> str:
        return f"Unreadable({self.table}.{self.column}, row {self.row_id})"

    def __str__(self) -> str:
        return ""

    def __html__(self) -> str:
        from flask_babel import gettext
        from markupsafe import escape

        label = escape(gettext("Failed its integrity check"))
        return f'<span class="badge text-bg-danger" data-testid="integrity-failure">{label}</span>'


def readable(obj: Any, attribute: str) -> Any:
    """The attribute's value, or None when it is empty or failed its integrity check: for code
    that works with the value (fills a form, reads a key of a JSON value) rather than shows it."""
    value = getattr(obj, attribute)
    return None if isinstance(value, Unreadable) or not value else value


_UNREADABLE = "shabaka.unreadable"


def note_unreadable(session: Session | None, marker: Unreadable) -> None:
    """Keep a failure aside on the session (once per place) for the request edge."""
    if session is not None:
        session.info.setdefault(_UNREADABLE, {})[(marker.table, marker.column, marker.row_id)] = marker


def unreadable_values(session: Session | scoped_session[Any]) -> list[Unreadable]:
    """The failures met by this session so far (kept for `take_unreadable`)."""
    return list(session.info.get(_UNREADABLE, {}).values())


def take_unreadable(session: Session | scoped_session[Any]) -> list[Unreadable]:
    """The failures met by this session, handed over once."""
    return list(session.info.pop(_UNREADABLE, {}).values())


class Encrypted(TypeDecorator[Any]):
    """Bytes in the database; `kind` is "text" or "json"."""

    impl = LargeBinary
    cache_ok = True

    def __init__(self, kind: str = "text") -> None:
        super().__init__()
        if kind not in ("text", "json"):
            raise ValueError(kind)
        self.kind = kind

    def process_bind_param(self, value: Any, dialect: Dialect) -> bytes | None:
        if value is None:
            return None
        if isinstance(value, Sealed):
            return value.blob
        raise PlaintextRefused("encrypted columns are written through the ORM only")

    def process_result_value(self, value: Any, dialect: Dialect) -> Sealed | None:
        return None if value is None else Sealed(bytes(value))


def encrypted_column(kind: str = "text", **kwargs: Any) -> Any:
    return mapped_column(Encrypted(kind), nullable=True, **kwargs)


def _cipher() -> FieldCipher:
    context = _cv_app.get(None)  # the application context, without the LocalProxy's cost
    app = context.app if context is not None else current_app
    return app.extensions["shabaka"].cipher  # type: ignore[no-any-return]


_ENCRYPTED_BY_MAPPER: dict[Mapper[Any], dict[str, str]] = {}


def encrypted_attributes(mapper: Mapper[Any]) -> dict[str, str]:
    """{attribute: kind} of a mapper's encrypted columns."""
    found = _ENCRYPTED_BY_MAPPER.get(mapper)
    if found is None:
        found = {
            attr.key: attr.columns[0].type.kind
            for attr in mapper.column_attrs
            if isinstance(attr.columns[0].type, Encrypted)
        }
        _ENCRYPTED_BY_MAPPER[mapper] = found
    return found


def context_for(obj: Any, attribute: str) -> Context:
    owner = getattr(type(obj), "__encryption_owner__", None)
    organization = str(getattr(obj, owner) or "") if owner else ""
    return Context(obj.__tablename__, attribute, str(obj.id), organization)


def _encode(kind: str, value: Any) -> bytes:
    if kind == "json":
        return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()
    if not isinstance(value, str):
        raise TypeError("an encrypted text column takes str")
    return value.encode()


def _decode(kind: str, data: bytes) -> Any:
    return json.loads(data) if kind == "json" else data.decode()


def seal(obj: Any, attribute: str, value: Any) -> Sealed:
    kind = encrypted_attributes(inspect(type(obj)))[attribute]
    return Sealed(_cipher().encrypt(_encode(kind, value), context_for(obj, attribute)))


def unseal(obj: Any, attribute: str, sealed: Sealed) -> Any:
    kind = encrypted_attributes(inspect(type(obj)))[attribute]
    return _decode(kind, _cipher().decrypt(sealed.blob, context_for(obj, attribute)))


_RESTORE = "shabaka.encrypted_restore"


def _encrypt_before_flush(session: Session, flush_context: Any, instances: Any) -> None:
    restore = session.info[_RESTORE] = []  # a flush that failed leaves nothing for the next one
    for obj in list(session.new) + list(session.dirty):
        state = inspect(obj)
        attrs = encrypted_attributes(state.mapper)
        if not attrs:
            continue
        if getattr(obj, "id", None) is None:
            obj.id = new_id()  # the row id is part of every value's context
        owner = getattr(type(obj), "__encryption_owner__", None)
        owner_moved = bool(owner and state.attrs[owner].history.has_changes() and not state.pending)
        for attribute in attrs:
            value = state.dict.get(attribute)
            if value is None or isinstance(value, Sealed):
                continue
            if state.pending or owner_moved or state.attrs[attribute].history.has_changes():
                if isinstance(value, Unreadable):
                    raise TamperedValue("a value that failed its integrity check cannot be sealed again")
                setattr(obj, attribute, seal(obj, attribute, value))
                restore.append((obj, attribute, value))


def _restore_after_flush(session: Session, flush_context: Any) -> None:
    for obj, attribute, value in session.info.pop(_RESTORE, []):
        set_committed_value(obj, attribute, value)


event.listen(Session, "before_flush", _encrypt_before_flush)
event.listen(Session, "after_flush_postexec", _restore_after_flush)


def _decrypt_loaded(target: Any, *_: Any) -> None:
    """Decrypt a loaded row's sealed values; the per-row work (cipher, context) is done once.

    The row has just been loaded, so its values carry no change history: the plain value simply
    replaces the sealed one in the instance's dict (what `set_committed_value` would do, for less).
    This runs for every row of every list, so it stays lean.
    """
    state = target._sa_instance_state
    state_dict = state.dict
    sealed = [
        (a, k, v) for a, k in encrypted_attributes(state.mapper).items() if type(v := state_dict.get(a)) is Sealed
    ]
    if not sealed:
        return
    cipher = _cipher()
    owner_name = getattr(type(target), "__encryption_owner__", None)
    organization = str(state_dict.get(owner_name) or getattr(target, owner_name) or "") if owner_name else ""
    table, row_id = target.__tablename__, str(target.id)
    for attribute, kind, value in sealed:
        bound = associated_data(table, attribute, row_id, organization)
        try:
            state_dict[attribute] = _decode(kind, cipher.decrypt_bound(value.blob, bound))
        except TamperedValue:  # a missing or unwrappable key is an operations failure: it propagates
            code = state_dict.get("case_code")
            marker = Unreadable(table, attribute, row_id, organization, code if isinstance(code, str) else None)
            state_dict[attribute] = marker
            note_unreadable(state.session, marker)


def register_model(cls: type) -> None:
    """Decrypt a model's encrypted columns whenever its rows load or refresh."""
    event.listen(cls, "load", _decrypt_loaded, restore_load_context=True)
    event.listen(cls, "refresh", _decrypt_loaded, restore_load_context=True)


def move_owner(obj: Any, organization_id: str) -> int:
    """Give a row to another owning organisation; its values are sealed again for it at flush.

    Every encrypted value is read (decrypted under the old owner) before the owner changes, so
    none is left unloaded and sealed for the old owner. Returns how many values will move.
    """
    state = inspect(obj)
    mapper_attrs = encrypted_attributes(state.mapper)
    owner = getattr(type(obj), "__encryption_owner__", None)
    if not owner:
        raise ValueError(f"{type(obj).__name__} has no encryption owner")
    values = {attribute: getattr(obj, attribute) for attribute in mapper_attrs}
    if any(isinstance(value, Sealed) for value in values.values()):
        raise CryptoError("a value is still sealed")  # never expected: loading decrypts
    if any(isinstance(value, Unreadable) for value in values.values()):
        raise TamperedValue("a value that failed its integrity check cannot move to another owner")
    setattr(obj, owner, organization_id)
    return sum(1 for value in values.values() if value is not None)
