"""Encrypted columns end to end on models made for the test (their own tables, in memory): what is
stored is the cipher's output for the value's place, a changed value is sealed again and nothing
else, a new owner gets every value sealed for her, and a value that does not authenticate
becomes a marked blank that can be neither shown as data, sealed again nor moved."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import pytest
from flask import Flask
from flask_babel import force_locale
from markupsafe import escape
from sqlalchemy import Integer, String, create_engine, insert, select, update
from sqlalchemy.exc import StatementError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, load_only, mapped_column
from sqlalchemy.orm.attributes import set_committed_value

from referral.security import fields
from referral.security.crypto import Context, CryptoError, FieldCipher, TamperedValue, UnknownKey
from referral.security.fields import (
    Encrypted,
    PlaintextRefused,
    Sealed,
    Unreadable,
    encrypted_attributes,
    encrypted_column,
    move_owner,
    readable,
)


class Keys:
    def __init__(self) -> None:
        self.keys = {3: os.urandom(32)}

    def current(self, context: Context) -> tuple[int, bytes]:
        return 3, self.keys[3]

    def key(self, key_id: int) -> bytes:
        if key_id not in self.keys:
            raise UnknownKey(str(key_id))
        return self.keys[key_id]


@dataclass
class Models:
    session: Session
    cipher: FieldCipher
    Note: Any  # owned by an organisation, with a case code
    Memo: Any  # no owner, an integer id
    Tag: Any  # nothing encrypted

    def stored(self, table: str, column: str, row_id: Any) -> bytes:
        """The column as stored (what the database holds, not the ORM's plain value)."""
        columns = self.Note.metadata.tables[table].c
        sealed = self.session.execute(select(columns[column]).where(columns.id == row_id)).scalar_one()
        assert type(sealed) is Sealed
        return sealed.blob

    def opened(self, blob: bytes, table: str, column: str, row_id: str, organization: str = "") -> bytes:
        return self.cipher.decrypt(blob, Context(table, column, row_id, organization))

    def reload(self, model: Any, row_id: Any) -> Any:
        self.session.expunge_all()
        return self.session.get(model, row_id)


@pytest.fixture
def models() -> Iterator[Models]:
    """The models, registered for decryption here (inside the test), on a database of their own."""

    class Base(DeclarativeBase):
        pass

    class Note(Base):
        __tablename__ = "note"
        __encryption_owner__ = "organization_id"
        id: Mapped[str] = mapped_column(String(36), primary_key=True)
        organization_id: Mapped[str | None] = mapped_column(String(36))
        case_code: Mapped[str | None] = mapped_column(String(20))
        body: Mapped[str | None] = encrypted_column()
        details: Mapped[dict[str, Any] | None] = encrypted_column("json")
        code_word: Mapped[str] = encrypted_column()  # declared required: still nullable (purges empty it)

    class Memo(Base):
        __tablename__ = "memo"
        id: Mapped[int] = mapped_column(Integer, primary_key=True)
        text: Mapped[str | None] = encrypted_column()

    class Tag(Base):
        __tablename__ = "tag"
        id: Mapped[int] = mapped_column(Integer, primary_key=True)
        name: Mapped[str] = mapped_column(String(20))

    fields.register_model(Note)
    fields.register_model(Memo)
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    cipher = FieldCipher(Keys())
    app = Flask("fields-test")
    app.extensions["shabaka"] = SimpleNamespace(cipher=cipher)
    with app.app_context(), Session(engine) as session:
        yield Models(session, cipher, Note, Memo, Tag)
    engine.dispose()


# ------------------------------------------------------------------------------ the marker
def test_an_unreadable_marker_names_its_place_and_holds_no_value() -> None:
    marker = Unreadable("case_file", "full_name", "row-1", "org-1", "NBL-2026-000001")
    assert (marker.table, marker.column, marker.row_id) == ("case_file", "full_name", "row-1")
    assert (marker.organization_id, marker.case_code) == ("org-1", "NBL-2026-000001")
    bare = Unreadable("case_file", "full_name", "row-1")
    assert (bare.organization_id, bare.case_code) == ("", None)
    assert str(marker) == "" and bool(marker)
    assert repr(marker) == "Unreadable(case_file.full_name, row row-1)"
    with pytest.raises(AttributeError):
        marker.value = "Amal"  # type: ignore[attr-defined]


def test_markers_are_equal_by_place() -> None:
    one = Unreadable("case_file", "full_name", "row-1", "org-1")
    assert one == Unreadable("case_file", "full_name", "row-1", "org-1")
    assert hash(one) == hash(Unreadable("case_file", "full_name", "row-1", "org-1"))
    others = [
        Unreadable("case_file", "full_name", "row-2", "org-1"),
        Unreadable("case_file", "phone", "row-1", "org-1"),
        Unreadable("case_file", "full_name", "row-1", "org-2"),
        Unreadable("case_file", "full_name", "row-1", "org-1", "NBL-2026-000001"),
    ]
    assert all(one != other for other in others)
    assert len({one, *others}) == 5
    assert len({hash(marker) for marker in (one, *others)}) == 5
    assert one != ("case_file", "full_name", "row-1", "org-1", None) and one != "row-1"


def test_a_marker_shows_as_a_translated_badge(app: Flask) -> None:
    marker = Unreadable("case_file", "full_name", "row-1")
    with app.test_request_context(), force_locale("ar"):
        html = marker.__html__()
        assert str(escape(marker)) == html  # what a template shows
    assert html == '<span class="badge text-bg-danger" data-testid="integrity-failure">لم تجتز فحص السلامة</span>'


def test_readable_gives_only_real_values() -> None:
    holder = SimpleNamespace(broken=Unreadable("t", "c", "r"), empty="", nothing=None, blank={}, name="Amal")
    assert [readable(holder, a) for a in ("broken", "empty", "nothing", "blank", "name")] == [
        None,
        None,
        None,
        None,
        "Amal",
    ]


def test_failures_are_kept_once_per_place_and_handed_over_once() -> None:
    session = Session()
    assert fields.unreadable_values(session) == [] and fields.take_unreadable(session) == []
    first, again, other = (
        Unreadable("case_file", "full_name", "row-1", "org-1"),
        Unreadable("case_file", "full_name", "row-1", "org-1"),
        Unreadable("case_file", "phone", "row-1", "org-1"),
    )
    for marker in (first, again, other):
        fields.note_unreadable(session, marker)
    fields.note_unreadable(None, first)  # nowhere to keep it: nothing happens
    assert fields.unreadable_values(session) == [first, other]
    assert fields.unreadable_values(session) == [first, other]  # looking does not take
    assert fields.take_unreadable(session) == [first, other]
    assert fields.take_unreadable(session) == [] and fields.unreadable_values(session) == []


# ------------------------------------------------------------------------------ the column type
def test_the_column_type_is_text_or_json_bytes_and_nullable() -> None:
    assert Encrypted().kind == "text" and Encrypted("json").kind == "json"
    with pytest.raises(ValueError, match=r"^xml$"):
        Encrypted("xml")
    column = encrypted_column(comment="a name").column
    assert column.type.kind == "text" and column.nullable is True and column.comment == "a name"
    assert encrypted_column("json").column.type.kind == "json"


def test_every_encrypted_column_may_be_emptied(models: Models) -> None:
    assert models.Note.__table__.c.code_word.nullable is True


def test_only_sealed_values_reach_the_database() -> None:
    kind = Encrypted()
    assert kind.process_bind_param(None, None) is None  # type: ignore[arg-type]
    assert kind.process_bind_param(Sealed(b"\x01blob"), None) == b"\x01blob"  # type: ignore[arg-type]
    with pytest.raises(PlaintextRefused, match=r"^encrypted columns are written through the ORM only$"):
        kind.process_bind_param("Amal", None)  # type: ignore[arg-type]
    assert kind.process_result_value(None, None) is None  # type: ignore[arg-type]
    loaded = kind.process_result_value(memoryview(b"\x01\x00\x00\x00\x03rest"), None)  # type: ignore[arg-type]
    assert loaded == Sealed(b"\x01\x00\x00\x00\x03rest") and type(loaded.blob) is bytes and loaded.key_id == 3


def test_a_plain_value_written_with_sql_is_refused(models: Models) -> None:
    with pytest.raises(StatementError) as refused:
        models.session.execute(insert(models.Note.__table__).values(id="n1", body="Amal"))
    assert isinstance(refused.value.orig, PlaintextRefused)


def test_the_cipher_is_the_applications() -> None:
    with pytest.raises(RuntimeError):  # outside an application there is none
        fields._cipher()
    cipher = FieldCipher(Keys())
    app = Flask("another")
    app.extensions["shabaka"] = SimpleNamespace(cipher=cipher)
    with app.app_context():
        assert fields._cipher() is cipher


# ------------------------------------------------------------------------------ places and encodings
def test_the_encrypted_attributes_of_a_model_are_found_once(models: Models) -> None:
    from sqlalchemy import inspect

    note = inspect(models.Note)
    assert encrypted_attributes(note) == {"body": "text", "details": "json", "code_word": "text"}
    assert encrypted_attributes(note) is encrypted_attributes(note)
    assert encrypted_attributes(inspect(models.Tag)) == {}


def test_a_values_place_is_its_table_column_row_and_owner(models: Models) -> None:
    assert fields.context_for(models.Note(id="n1", organization_id="org-1"), "body") == Context(
        "note", "body", "n1", "org-1"
    )
    assert fields.context_for(models.Note(id="n1"), "body") == Context("note", "body", "n1", "")
    assert fields.context_for(models.Memo(id=5), "text") == Context("memo", "text", "5", "")


def test_json_is_encoded_compact_sorted_and_unescaped() -> None:
    assert fields._encode("json", {"b": "ع", "a": [1, None]}) == '{"a":[1,null],"b":"ع"}'.encode()
    assert fields._decode("json", b'{"a":1}') == {"a": 1}
    assert fields._encode("text", "أمل") == "أمل".encode() and fields._decode("text", "أمل".encode()) == "أمل"
    with pytest.raises(TypeError, match=r"^an encrypted text column takes str$"):
        fields._encode("text", 5)


def test_seal_and_unseal_use_the_place_of_the_value(models: Models) -> None:
    note = models.Note(id="n1", organization_id="org-1")
    sealed = fields.seal(note, "details", {"safe": True})
    assert type(sealed) is Sealed and sealed.key_id == 3
    assert models.opened(sealed.blob, "note", "details", "n1", "org-1") == b'{"safe":true}'
    assert fields.unseal(note, "details", sealed) == {"safe": True}
    assert fields.unseal(note, "body", fields.seal(note, "body", "Amal")) == "Amal"
    with pytest.raises(TamperedValue):
        fields.unseal(models.Note(id="n2", organization_id="org-1"), "details", sealed)


# ------------------------------------------------------------------------------ flushing
def test_a_new_row_is_sealed_for_its_place_and_keeps_its_plain_values(models: Models) -> None:
    tag = models.Tag(name="first")  # flushed first, nothing to seal
    note = models.Note(organization_id="org-1", body="Amal Khalil", details={"safe": True})
    memo = models.Memo(id=7, text="call after nine")
    models.session.add_all([tag, note, memo])
    models.session.flush()
    assert note.id and tag.id == 1
    assert (note.body, note.details, memo.text) == ("Amal Khalil", {"safe": True}, "call after nine")
    assert not models.session.dirty  # the plain values are the committed state again
    body = models.stored("note", "body", note.id)
    assert b"Amal" not in body
    assert models.opened(body, "note", "body", note.id, "org-1") == b"Amal Khalil"
    assert models.opened(models.stored("note", "details", note.id), "note", "details", note.id, "org-1") == (
        b'{"safe":true}'
    )
    assert models.opened(models.stored("memo", "text", 7), "memo", "text", "7") == b"call after nine"


def test_a_given_id_is_kept_and_an_empty_value_stored_as_null(models: Models) -> None:
    models.session.add(models.Note(id="chosen", organization_id="org-1", body=None))
    models.session.flush()
    row = models.session.execute(select(models.Note.__table__)).one()
    assert row.id == "chosen" and row.body is None and row.details is None


def test_a_changed_value_is_sealed_again_and_the_others_stay_as_stored(models: Models) -> None:
    note = models.Note(id="n1", organization_id="org-1", body="Amal", details={"safe": True})
    models.session.add(note)
    models.session.flush()
    details_before, body_before = models.stored("note", "details", "n1"), models.stored("note", "body", "n1")
    note.body = "Amal Khalil"
    models.session.flush()
    assert models.stored("note", "details", "n1") == details_before
    body_after = models.stored("note", "body", "n1")
    assert body_after != body_before and models.opened(body_after, "note", "body", "n1", "org-1") == b"Amal Khalil"
    note.case_code = "NBL-2026-000001"  # not encrypted: nothing is sealed again
    models.session.flush()
    assert models.stored("note", "body", "n1") == body_after


def test_a_new_owner_gets_every_value_sealed_for_her(models: Models) -> None:
    note = models.Note(id="n1", organization_id="org-1", body="Amal", details={"safe": True})
    models.session.add(note)
    models.session.flush()
    note.organization_id = "org-2"
    models.session.flush()
    for column, plain in (("body", b"Amal"), ("details", b'{"safe":true}')):
        blob = models.stored("note", column, "n1")
        assert models.opened(blob, "note", column, "n1", "org-2") == plain
        with pytest.raises(TamperedValue):
            models.opened(blob, "note", column, "n1", "org-1")


# ------------------------------------------------------------------------------ loading
def _note(models: Models, **values: Any) -> Any:
    note = models.Note(**{"id": "n1", "organization_id": "org-1", "case_code": "NBL-2026-000001", **values})
    models.session.add(note)
    models.session.commit()
    return note


def test_a_loaded_row_is_decrypted_and_so_is_a_refreshed_one(models: Models) -> None:
    _note(models, body="Amal", details={"safe": True})
    models.session.add(models.Memo(id=7, text="call after nine"))
    models.session.commit()
    note = models.reload(models.Note, "n1")
    assert (note.body, note.details) == ("Amal", {"safe": True})
    assert models.session.get(models.Memo, 7).text == "call after nine"
    models.session.refresh(note)
    assert note.body == "Amal" and not models.session.dirty
    assert fields.take_unreadable(models.session) == []


def test_a_row_without_an_owner_is_sealed_for_no_organisation(models: Models) -> None:
    _note(models, organization_id=None, body="Amal")
    assert models.opened(models.stored("note", "body", "n1"), "note", "body", "n1", "") == b"Amal"
    assert models.reload(models.Note, "n1").body == "Amal"


def test_a_row_loaded_without_its_owner_column_still_decrypts(models: Models) -> None:
    _note(models, body="Amal")
    models.session.expunge_all()
    note = models.session.scalars(select(models.Note).options(load_only(models.Note.body))).one()
    assert note.body == "Amal"


def test_a_row_loaded_without_its_values_decrypts_them_when_they_are_read(models: Models) -> None:
    _note(models, body="Amal")
    models.session.add(models.Memo(id=7, text=None))
    models.session.commit()
    models.session.expunge_all()
    note = models.session.scalars(select(models.Note).options(load_only(models.Note.case_code))).one()
    assert "body" not in note.__dict__
    assert note.body == "Amal"
    assert models.reload(models.Memo, 7).text is None


def _tamper(models: Models, column: str, source: str, target: str) -> None:
    table = models.Note.__table__
    moved = select(table.c[column]).where(table.c.id == source).scalar_subquery()
    models.session.execute(update(table).where(table.c.id == target).values({column: moved}))
    models.session.commit()


def test_a_value_moved_from_another_row_loads_as_a_noted_marker(models: Models) -> None:
    _note(models, body="Amal", details={"safe": True})
    _note(models, id="n2", body="Huda")
    _tamper(models, "body", "n2", "n1")
    note = models.reload(models.Note, "n1")
    marker = Unreadable("note", "body", "n1", "org-1", "NBL-2026-000001")
    assert note.body == marker and note.details == {"safe": True}  # the rest of the row is readable
    assert fields.unreadable_values(models.session) == [marker]
    models.session.expunge_all()
    memo = models.Memo(id=1, text="x")
    models.session.add(memo)
    models.session.commit()
    models.session.execute(update(models.Memo.__table__).values(text=Sealed(models.stored("note", "body", "n2"))))
    models.session.commit()
    assert models.reload(models.Memo, 1).text == Unreadable("memo", "text", "1", "", None)


def test_a_missing_key_is_not_a_tampered_value(models: Models) -> None:
    _note(models, body="Amal")
    models.cipher._keyring.keys.clear()  # type: ignore[attr-defined]
    with pytest.raises(UnknownKey):
        models.reload(models.Note, "n1")


def test_a_marker_is_never_sealed_again(models: Models) -> None:
    _note(models, body="Amal", details={"safe": True})
    _note(models, id="n2", body="Huda")
    _tamper(models, "body", "n2", "n1")
    broken = models.stored("note", "body", "n1")
    note = models.reload(models.Note, "n1")
    note.details = {"safe": False}  # another value may change: the broken one stays as stored
    models.session.commit()
    assert models.stored("note", "body", "n1") == broken
    note = models.reload(models.Note, "n1")
    note.organization_id = "org-2"
    with pytest.raises(TamperedValue, match=r"^a value that failed its integrity check cannot be sealed again$"):
        models.session.flush()
    models.session.rollback()
    other = models.reload(models.Note, "n2")
    other.body = Unreadable("note", "body", "n2")
    with pytest.raises(TamperedValue):
        models.session.flush()


def test_a_failed_flush_leaves_nothing_to_restore_on_the_next(models: Models) -> None:
    _note(models, body="Amal", details={"safe": True})
    _note(models, id="n2", details={"safe": False})
    _tamper(models, "details", "n2", "n1")
    note = models.reload(models.Note, "n1")
    note.body, note.organization_id = "Amal Khalil", "org-2"  # the body is sealed, then the marker refuses
    with pytest.raises(TamperedValue):
        models.session.flush()
    models.session.rollback()
    models.session.add(models.Tag(name="later"))
    models.session.flush()
    assert note.body == "Amal"  # what is stored, not the value of the flush that failed


# ------------------------------------------------------------------------------ moving a row to another owner
def test_moving_a_row_reads_every_value_first_and_seals_them_for_the_new_owner(models: Models) -> None:
    _note(models, body="Amal", details={"safe": True})
    note = models.reload(models.Note, "n1")
    assert move_owner(note, "org-2") == 2  # two values to move; the empty one (code_word) stays empty
    assert note.organization_id == "org-2"
    models.session.commit()
    assert models.opened(models.stored("note", "body", "n1"), "note", "body", "n1", "org-2") == b"Amal"
    assert models.reload(models.Note, "n1").body == "Amal"


def test_only_a_readable_row_of_an_owned_model_moves(models: Models) -> None:
    with pytest.raises(ValueError, match=r"^Memo has no encryption owner$"):
        move_owner(models.Memo(id=1), "org-2")
    _note(models, body="Amal")
    _note(models, id="n2", body="Huda")
    _tamper(models, "body", "n2", "n1")
    broken = models.reload(models.Note, "n1")
    with pytest.raises(TamperedValue, match=r"^a value that failed its integrity check cannot move to another owner$"):
        move_owner(broken, "org-2")
    assert broken.organization_id == "org-1"
    sealed = models.reload(models.Note, "n2")
    set_committed_value(sealed, "body", Sealed(models.stored("note", "body", "n2")))
    with pytest.raises(CryptoError, match=r"^a value is still sealed$"):
        move_owner(sealed, "org-2")
    assert sealed.organization_id == "org-1"
