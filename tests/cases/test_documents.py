"""Case documents: encrypted at rest chunk by chunk, typed by content, limited in size, readable only
by those who may view the case, audited, and never left behind by a failed upload."""

from __future__ import annotations

import io
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, text
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from referral.audit.models import AuditEvent
from referral.cases import documents
from referral.cases.models import Case, CaseDocument
from referral.errors import Conflict, InvalidInput, NotFound
from referral.extensions import db
from referral.security.crypto import (
    Context,
    CryptoError,
    DecryptionError,
    UnknownKey,
    decrypt_stream,
    encrypt_stream,
    new_key,
)
from referral.storage import EXTENSION, FileSystemStorage, StorageError
from tests.conftest import csrf, sign_in
from tests.helpers.cases import MARKER_NAME, World, open_case, user
from tests.helpers.documents import CHUNK, TITLE_MARKER, download, pdf, upload

RECORD = 12 + CHUNK + 16
HEADER = 16


@pytest.fixture
def storage(app: Flask) -> FileSystemStorage:
    store = app.extensions[EXTENSION]
    assert isinstance(store, FileSystemStorage)
    return store


def stored_files(store: FileSystemStorage) -> set[Path]:
    return {p for p in store.root.rglob("*") if p.is_file()} if store.root.exists() else set()


def count_documents(app: Flask) -> int:
    with app.app_context():
        return int(db.session.scalar(select(func.count(CaseDocument.id))) or 0)


def file_of(app: Flask, store: FileSystemStorage, document_id: str) -> Path:
    with app.app_context():
        return store.path(db.session.get(CaseDocument, document_id).storage_key)


# ---------------------------------------------------------------------------------- the cipher
CONTEXT = Context("case_document", "content", "doc-1", "org-1")


def seal(data: bytes, chunk_size: int = 16, context: Context = CONTEXT, key: bytes | None = None) -> bytes:
    return b"".join(encrypt_stream(io.BytesIO(data), 7, key or KEY, context, chunk_size))


def key_for(key_id: int) -> bytes:
    if key_id != 7:
        raise UnknownKey(str(key_id))
    return KEY


def unseal(blob: bytes, context: Context = CONTEXT) -> bytes:
    return b"".join(decrypt_stream(io.BytesIO(blob), key_for, context))


KEY = new_key()


@pytest.mark.parametrize("size", [0, 1, 15, 16, 17, 48, 100])
def test_stream_round_trip_at_every_boundary(size: int) -> None:
    data = os.urandom(size)
    blob = seal(data)
    assert unseal(blob) == data
    chunks = max(1, -(-size // 16))
    assert len(blob) == HEADER + chunks * 28 + size


def test_stream_is_bound_to_its_document_and_organisation() -> None:
    blob = seal(b"marker text of a survivor")
    for elsewhere in (
        Context("case_document", "content", "doc-2", "org-1"),
        Context("case_document", "content", "doc-1", "org-2"),
    ):
        with pytest.raises(DecryptionError):
            unseal(blob, elsewhere)


def test_stream_refuses_every_reordering_drop_cut_and_extension() -> None:
    data = os.urandom(16 * 4 + 5)
    blob = seal(data)
    size = 12 + 16 + 16
    header, records = blob[:HEADER], [blob[HEADER + i * size : HEADER + (i + 1) * size] for i in range(5)]
    assert b"".join([header, *records]) == blob
    bad = {
        "swapped": header + records[1] + records[0] + b"".join(records[2:]),
        "dropped middle": header + b"".join(records[:2] + records[3:]),
        "dropped last": header + b"".join(records[:4]),
        "cut mid-chunk": blob[:-3],
        "repeated": header + records[0] + b"".join(records),
        "extended": blob + records[4],
        "header only": header,
        "empty": b"",
        "other chunk size": header[:12] + (32).to_bytes(4, "big") + b"".join(records),
    }
    for name, tampered in bad.items():
        with pytest.raises(DecryptionError):
            unseal(tampered)
        assert name
    for position in range(len(blob)):
        flipped = bytearray(blob)
        flipped[position] ^= 0x01
        with pytest.raises(CryptoError):
            unseal(bytes(flipped))


# ---------------------------------------------------------------------------------- upload
def test_a_marker_inside_an_uploaded_pdf_never_reaches_the_disk_or_the_database(
    app: Flask, world: World, storage: FileSystemStorage
) -> None:
    case_id = open_case(app, world)
    data = pdf(200_000)
    document_id = upload(app, world.mine.caseworker, case_id, data)
    path = file_of(app, storage, document_id)
    on_disk = path.read_bytes()
    assert MARKER_NAME.encode() not in on_disk and b"%PDF" not in on_disk
    assert data[200:300] not in on_disk
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(storage.root.stat().st_mode) == 0o700
    assert document_id not in str(path) and "report" not in str(path)
    with app.app_context():
        rows = "\n".join(repr(tuple(r)) for r in db.session.execute(text("SELECT * FROM case_document")))
        assert "Zubaida-Title" not in rows and "report.pdf" not in rows
        document = db.session.get(CaseDocument, document_id)
        assert document.title == TITLE_MARKER
        assert (document.content_type, document.size, document.field_group) == (
            "application/pdf",
            200_000,
            "assessment",
        )


@pytest.mark.parametrize("size", [1_000, CHUNK, 2 * CHUNK, 200_000])
def test_download_returns_exactly_what_was_uploaded(app: Flask, world: World, size: int) -> None:
    case_id = open_case(app, world)
    data = pdf(size)
    document_id = upload(app, world.mine.caseworker, case_id, data)
    assert download(app, world.mine.caseworker, document_id) == data
    assert download(app, world.mine.supervisor, document_id) == data


@pytest.mark.parametrize(
    ("head", "content_type"),
    [
        (b"\x89PNG\r\n\x1a\n", "image/png"),
        (b"\xff\xd8\xff\xe0", "image/jpeg"),
        (b"RIFF\x00\x01\x00\x00WEBPVP8 ", "image/webp"),
        (b"II*\x00", "image/tiff"),
        (b"MM\x00*", "image/tiff"),
    ],
)
def test_the_type_comes_from_the_content_not_the_name(app: Flask, world: World, head: bytes, content_type: str) -> None:
    case_id = open_case(app, world)
    document_id = upload(app, world.mine.caseworker, case_id, head + os.urandom(500), name="scan.pdf")
    with app.app_context():
        assert db.session.get(CaseDocument, document_id).content_type == content_type


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"MZ\x90\x00\x03" + os.urandom(2000), "executable_file"),
        (b"\x7fELF\x02\x01\x01" + os.urandom(2000), "executable_file"),
        (b"#!/bin/sh\nrm -rf /\n", "executable_file"),
        (b"PK\x03\x04" + os.urandom(200), "unsupported_file_type"),
        (b"<html><script>alert(1)</script>", "unsupported_file_type"),
        (b"", "empty_file"),
    ],
)
def test_a_renamed_executable_or_unknown_type_is_refused_and_nothing_is_stored(
    app: Flask, world: World, storage: FileSystemStorage, data: bytes, code: str
) -> None:
    case_id = open_case(app, world)
    before = stored_files(storage)
    with pytest.raises(InvalidInput) as refused:
        upload(app, world.mine.caseworker, case_id, data, name="x.pdf")
    assert refused.value.fields == {"file": code}
    assert count_documents(app) == 0
    assert stored_files(storage) == before


def test_more_than_20_mb_is_refused_while_streaming_and_nothing_is_stored(
    app: Flask, world: World, storage: FileSystemStorage
) -> None:
    case_id = open_case(app, world)
    before = stored_files(storage)
    with pytest.raises(InvalidInput) as refused:
        upload(app, world.mine.caseworker, case_id, b"%PDF-" + bytes(documents.MAX_BYTES - 4))
    assert refused.value.fields == {"file": "file_too_large"}
    assert count_documents(app) == 0
    assert stored_files(storage) == before  # not even the partial file
    exactly = upload(app, world.mine.caseworker, case_id, b"%PDF-" + bytes(documents.MAX_BYTES - 5))
    with app.app_context():
        assert db.session.get(CaseDocument, exactly).size == documents.MAX_BYTES


def test_title_and_field_group_are_checked_before_anything_is_written(
    app: Flask, world: World, storage: FileSystemStorage
) -> None:
    case_id = open_case(app, world)
    before = stored_files(storage)
    with pytest.raises(InvalidInput) as refused:
        upload(app, world.mine.caseworker, case_id, pdf(100), title="  ", field_group="secrets")
    assert refused.value.fields == {"title": "required", "field_group": "unknown"}
    assert stored_files(storage) == before


@pytest.mark.parametrize("who", ["supervisor_other", "auditor", "colleague", "org_admin", "coordinator"])
def test_only_the_case_team_uploads(app: Flask, world: World, who: str) -> None:
    case_id = open_case(app, world)
    account = {
        "supervisor_other": world.other.supervisor,
        "auditor": world.auditor,
        "colleague": world.mine.colleague,
        "org_admin": world.mine.org_admin,
        "coordinator": world.coordinator,
    }[who]
    with pytest.raises(NotFound):
        upload(app, account, case_id, pdf(100))
    assert count_documents(app) == 0


def test_the_own_supervisor_off_the_team_may_read_but_not_upload(app: Flask, world: World) -> None:
    case_id = open_case(app, world)
    with pytest.raises(NotFound):
        upload(app, world.mine.supervisor, case_id, pdf(100))


def test_a_closed_case_takes_no_new_documents(app: Flask, world: World) -> None:
    case_id = open_case(app, world)
    with app.app_context():
        db.session.get(Case, case_id).status = "closed"
        db.session.commit()
    with pytest.raises(Conflict):
        upload(app, world.mine.caseworker, case_id, pdf(100))


# ---------------------------------------------------------------------------------- no orphans
def test_a_rolled_back_upload_leaves_no_file(app: Flask, world: World, storage: FileSystemStorage) -> None:
    case_id = open_case(app, world)
    before = stored_files(storage)
    with app.app_context():
        documents.upload(
            db.session, user(world.mine.caseworker), case_id, "Report", "assessment", io.BytesIO(pdf(70_000))
        )
        assert len(stored_files(storage) - before) == 1  # written, not yet committed
        db.session.rollback()
    assert stored_files(storage) == before
    assert count_documents(app) == 0


def test_a_failure_after_the_write_deletes_the_file(
    app: Flask, world: World, storage: FileSystemStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    case_id = open_case(app, world)
    before = stored_files(storage)

    def audit_fails(*args: object, **kwargs: object) -> None:
        raise RuntimeError("audit store unavailable")

    monkeypatch.setattr(documents, "record", audit_fails)
    with app.app_context():
        with pytest.raises(RuntimeError):
            documents.upload(db.session, user(world.mine.caseworker), case_id, "Report", "notes", io.BytesIO(pdf(500)))
        assert stored_files(storage) == before
        db.session.rollback()
    assert count_documents(app) == 0


def test_a_committed_upload_keeps_its_file(app: Flask, world: World, storage: FileSystemStorage) -> None:
    case_id = open_case(app, world)
    document_id = upload(app, world.mine.caseworker, case_id, pdf(500))
    with app.app_context():
        db.session.rollback()  # a later transaction ending without a commit touches nothing
    assert file_of(app, storage, document_id).exists()


def test_purging_a_case_deletes_its_files_after_the_commit(
    app: Flask, world: World, storage: FileSystemStorage
) -> None:
    case_id = open_case(app, world)
    path = file_of(app, storage, upload(app, world.mine.caseworker, case_id, pdf(500)))
    with app.app_context():
        assert documents.purge_documents(db.session, [case_id]) == 1
        db.session.rollback()
    assert path.exists() and count_documents(app) == 1
    with app.app_context():
        documents.purge_documents(db.session, [case_id])
        db.session.commit()
    assert not path.exists() and count_documents(app) == 0


# ---------------------------------------------------------------------------------- tampering
@pytest.fixture
def stored(app: Flask, world: World, storage: FileSystemStorage) -> Iterator[tuple[str, Path, bytes, bytes]]:
    """(document id, its file, the plaintext, the original ciphertext); the file is restored afterwards."""
    case_id = open_case(app, world)
    data = pdf(3 * CHUNK + 3_000)
    document_id = upload(app, world.mine.caseworker, case_id, data)
    path = file_of(app, storage, document_id)
    original = path.read_bytes()
    assert len(original) == HEADER + 4 * 28 + len(data)
    yield document_id, path, data, original
    path.write_bytes(original)


def _records(blob: bytes) -> tuple[bytes, list[bytes]]:
    body = blob[HEADER:]
    return blob[:HEADER], [body[i : i + RECORD] for i in range(0, len(body), RECORD)]


@pytest.mark.parametrize(
    "tamper",
    ["flip_in_chunk", "flip_in_header", "swap_chunks", "drop_chunk", "drop_last_chunk", "cut_mid_chunk", "append"],
)
def test_tampering_with_the_stored_file_fails_the_download(
    app: Flask, world: World, stored: tuple[str, Path, bytes, bytes], tamper: str
) -> None:
    document_id, path, data, original = stored
    header, records = _records(original)
    if tamper == "flip_in_chunk":
        changed = bytearray(original)
        changed[HEADER + RECORD + 500] ^= 0x80
        blob = bytes(changed)
    elif tamper == "flip_in_header":
        blob = header[:-1] + bytes([header[-1] ^ 1]) + b"".join(records)
    elif tamper == "swap_chunks":
        blob = header + records[1] + records[0] + b"".join(records[2:])
    elif tamper == "drop_chunk":
        blob = header + records[0] + b"".join(records[2:])
    elif tamper == "drop_last_chunk":
        blob = header + b"".join(records[:-1])
    elif tamper == "cut_mid_chunk":
        blob = original[:-1000]
    else:
        blob = original + records[1]
    path.write_bytes(blob)
    with pytest.raises(CryptoError):
        download(app, world.mine.caseworker, document_id)
    path.write_bytes(original)
    assert download(app, world.mine.caseworker, document_id) == data


def test_a_file_moved_to_another_document_does_not_decrypt(
    app: Flask, world: World, storage: FileSystemStorage, stored: tuple[str, Path, bytes, bytes]
) -> None:
    _, _, _, original = stored
    other = upload(app, world.mine.caseworker, open_case(app, world), pdf(500))
    other_path = file_of(app, storage, other)
    other_path.write_bytes(original)
    with pytest.raises(DecryptionError):
        download(app, world.mine.caseworker, other)


def test_a_missing_file_is_an_error_not_an_empty_download(
    app: Flask, world: World, stored: tuple[str, Path, bytes, bytes]
) -> None:
    document_id, path, _, original = stored
    path.unlink()
    with pytest.raises(StorageError):
        download(app, world.mine.caseworker, document_id)
    path.write_bytes(original)


# ---------------------------------------------------------------------------------- who may read
@pytest.mark.parametrize("who", ["supervisor_other", "caseworker_other", "auditor", "colleague", "coordinator"])
def test_download_is_refused_as_not_found(app: Flask, world: World, who: str) -> None:
    case_id = open_case(app, world)
    document_id = upload(app, world.mine.caseworker, case_id, pdf(500))
    account = {
        "supervisor_other": world.other.supervisor,
        "caseworker_other": world.other.caseworker,
        "auditor": world.auditor,
        "colleague": world.mine.colleague,
        "coordinator": world.coordinator,
    }[who]
    with pytest.raises(NotFound):
        download(app, account, document_id)
    with pytest.raises(NotFound):
        download(app, account, "not-a-uuid")


def test_download_is_audited_with_ids_only(app: Flask, world: World) -> None:
    case_id = open_case(app, world)
    document_id = upload(app, world.mine.caseworker, case_id, pdf(500))
    with app.app_context():
        found = documents.download(db.session, user(world.mine.supervisor), document_id)
        b"".join(found.chunks)
        db.session.commit()
        events = list(
            db.session.scalars(select(AuditEvent).where(AuditEvent.object_id == document_id).order_by(AuditEvent.id))
        )
        by_action = {e.action: e for e in events}
        assert set(by_action) == {"document.upload", "document.download"}
        event = by_action["document.download"]
        assert (event.actor_id, event.object_type, event.organization_id) == (
            world.mine.supervisor.id,
            "case_document",
            world.mine.id,
        )
        assert event.case_code and event.details == {"case_id": case_id}
        assert "Zubaida" not in repr([(e.details, e.reason) for e in events])


def test_list_shows_title_type_size_and_date_only(app: Flask, world: World) -> None:
    case_id = open_case(app, world)
    document_id = upload(app, world.mine.caseworker, case_id, pdf(3_000))
    with app.app_context():
        (summary,) = documents.list_documents(db.session, db.session.get(Case, case_id))
        assert (summary.id, summary.title, summary.content_type, summary.size) == (
            document_id,
            TITLE_MARKER,
            "application/pdf",
            3_000,
        )
        assert not hasattr(summary, "storage_key")


def test_the_key_of_each_file_can_be_counted(app: Flask, world: World) -> None:
    case_id = open_case(app, world)
    upload(app, world.mine.caseworker, case_id, pdf(500))
    upload(app, world.mine.caseworker, case_id, pdf(500))
    with app.app_context():
        from referral.runtime import runtime

        key_id, _ = runtime().keyring.current(Context("case_document", "content", "x", world.mine.id))
        assert documents.key_ids_in_use(db.session, world.mine.id) == {key_id: 2}
        assert documents.key_ids_in_use(db.session, world.other.id) == {}


# ---------------------------------------------------------------------------------- the web
def _post(client: FlaskClient, case_id: str, data: bytes, name: str = "report.pdf", **fields: str) -> object:
    token = csrf(client, f"/cases/{case_id}/documents")
    form = {"csrf_token": token, "title": TITLE_MARKER, "field_group": "assessment", **fields}
    form["file"] = FileStorage(io.BytesIO(data), filename=name, content_type="application/octet-stream")  # type: ignore[assignment]
    return post_multipart(client, f"/cases/{case_id}/documents", form)


def post_multipart(client: FlaskClient, path: str, form: dict[str, object]) -> object:
    """POST multipart form data encoded in memory (the test client would spool large bodies to a
    temporary file and leave it open when the app refuses the body unread)."""
    boundary, body = encode_multipart(form)
    return client.post(path, data=body, content_type=f"multipart/form-data; boundary={boundary}")


def test_upload_and_download_through_the_web(app: Flask, world: World, client: FlaskClient) -> None:
    case_id = open_case(app, world)
    sign_in(client, app, world.mine.caseworker)
    data = pdf(1_500_000)  # above the app's 1 MB limit for every other request
    response = _post(client, case_id, data, next=f"/cases/{case_id}/documents")
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]  # type: ignore[attr-defined]
    assert response.headers["Location"] == f"/cases/{case_id}/documents"  # type: ignore[attr-defined]
    with app.app_context():
        document = db.session.scalar(select(CaseDocument).where(CaseDocument.case_id == case_id))
        assert document is not None and document.size == len(data)
        document_id = document.id

    page = client.get(f"/cases/{case_id}/documents").get_data(as_text=True)
    assert TITLE_MARKER in page and f"/documents/{document_id}/download" in page
    assert 'for="document-file"' in page and 'enctype="multipart/form-data"' in page

    got = client.get(f"/documents/{document_id}/download")
    assert got.status_code == 200
    assert got.data == data
    assert got.headers["Content-Type"] == "application/pdf"
    assert got.headers["Content-Disposition"] == 'attachment; filename="document.pdf"'
    assert got.headers["Cache-Control"] == "no-store"
    assert got.headers["X-Content-Type-Options"] == "nosniff"
    assert got.headers["Content-Length"] == str(len(data))
    assert "Zubaida" not in repr(dict(got.headers))


def test_the_uploaded_plaintext_is_not_spooled_to_a_temporary_file(
    app: Flask, world: World, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    import werkzeug.wrappers.request as werkzeug_request

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the default stream factory spools large uploads to disk")

    case_id = open_case(app, world)
    sign_in(client, app, world.mine.caseworker)
    monkeypatch.setattr(werkzeug_request, "default_stream_factory", refuse)
    assert _post(client, case_id, pdf(900_000)).status_code == 303  # type: ignore[attr-defined]


def test_a_refused_upload_names_the_problem_and_writes_nothing(
    app: Flask, world: World, client: FlaskClient, storage: FileSystemStorage
) -> None:
    case_id = open_case(app, world)
    sign_in(client, app, world.mine.caseworker)
    before = stored_files(storage)
    response = _post(client, case_id, b"MZ\x90\x00" + os.urandom(5000), name="x.pdf")
    assert response.status_code == 400  # type: ignore[attr-defined]
    page = response.get_data(as_text=True)  # type: ignore[attr-defined]
    assert 'id="document-file-error"' in page and TITLE_MARKER in page  # the title is kept as typed
    with app.test_request_context():
        from flask_babel import force_locale

        from referral.cases.document_views import MESSAGES

        with force_locale("ar"):
            assert str(MESSAGES["executable_file"]) in page
    assert count_documents(app) == 0 and stored_files(storage) == before


def test_too_large_uploads_are_refused_over_the_web(app: Flask, world: World, client: FlaskClient) -> None:
    case_id = open_case(app, world)
    sign_in(client, app, world.mine.caseworker)
    over = _post(client, case_id, b"%PDF-" + bytes(documents.MAX_BYTES))
    assert over.status_code == 400 and 'id="document-file-error"' in over.get_data(as_text=True)  # type: ignore[attr-defined]
    far_over = _post(client, case_id, b"%PDF-" + bytes(documents.MAX_BYTES + 2 * 1024 * 1024))
    assert far_over.status_code == 413  # type: ignore[attr-defined]
    assert count_documents(app) == 0


def test_the_raised_limit_is_for_signed_in_uploads_only(app: Flask, world: World, client: FlaskClient) -> None:
    case_id = open_case(app, world)
    sign_in(client, app, world.mine.caseworker)
    token = csrf(client, "/account/")
    big = client.post("/account/tokens", data={"csrf_token": token, "x": "a" * 1_200_000})
    assert big.status_code == 413
    client.post("/logout", data={"csrf_token": csrf(client, "/account/")})
    anonymous = post_multipart(
        client, f"/cases/{case_id}/documents", {"file": FileStorage(io.BytesIO(pdf(1_200_000)), filename="a.pdf")}
    )
    assert anonymous.status_code == 413  # type: ignore[attr-defined]


def test_redirects_after_upload_stay_on_this_site(app: Flask, world: World, client: FlaskClient) -> None:
    case_id = open_case(app, world)
    sign_in(client, app, world.mine.caseworker)
    for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
        response = _post(client, case_id, pdf(300), next=target)
        assert response.headers["Location"] == f"/cases/{case_id}/documents"  # type: ignore[attr-defined]


@pytest.mark.parametrize("who", ["supervisor_other", "auditor"])
def test_other_organisations_and_auditors_get_404_over_the_web(
    app: Flask, world: World, client: FlaskClient, who: str
) -> None:
    case_id = open_case(app, world)
    document_id = upload(app, world.mine.caseworker, case_id, pdf(500))
    sign_in(client, app, world.other.supervisor if who == "supervisor_other" else world.auditor)
    response = client.get(f"/documents/{document_id}/download")
    assert response.status_code == 404
    assert b"%PDF" not in response.data and "Content-Disposition" not in response.headers
    assert client.get(f"/cases/{case_id}/documents").status_code == 404
    with app.app_context():
        denied = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "access.denied", AuditEvent.object_id == case_id)
        ).all()
        assert denied


def test_the_case_page_lists_the_documents_and_offers_the_upload_form(
    app: Flask, world: World, client: FlaskClient
) -> None:
    case_id = open_case(app, world)
    document_id = upload(app, world.mine.caseworker, case_id, pdf(3_000))
    sign_in(client, app, world.mine.caseworker)
    page = client.get(f"/cases/{case_id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert TITLE_MARKER in html and f"/documents/{document_id}/download" in html
    assert f'action="/cases/{case_id}/documents"' in html and 'name="next" value="/cases/' in html
    response = _post(client, case_id, pdf(300), next=f"/cases/{case_id}")
    assert response.headers["Location"] == f"/cases/{case_id}"  # type: ignore[attr-defined]


def test_malformed_ids_are_not_found(app: Flask, world: World, client: FlaskClient) -> None:
    sign_in(client, app, world.mine.caseworker)
    assert client.get("/documents/not-a-uuid/download").status_code == 404
    assert client.get("/cases/not-a-uuid/documents").status_code == 404


# ---------------------------------------------------------------------------------- key rotation
def test_files_follow_key_rotation_and_the_old_key_can_then_be_retired(
    app: Flask, world: World, storage: FileSystemStorage
) -> None:
    case_id = open_case(app, world)
    small, large = pdf(1000), pdf(CHUNK * 2 + 77)
    ids = [upload(app, world.mine.caseworker, case_id, data) for data in (small, large)]
    with app.app_context():
        from referral.security.keys import current_row

        old_key = current_row(db.session, world.mine.id, "data").id  # type: ignore[union-attr]
    runner = app.test_cli_runner()
    assert runner.invoke(args=["keys", "rotate", "--org", world.mine.id]).exit_code == 0
    refused = runner.invoke(args=["keys", "retire", str(old_key)])
    assert refused.exit_code != 0  # files (and columns) still use it

    def keys_of_ours() -> set[str]:
        with app.app_context():
            return set(db.session.scalars(select(CaseDocument.storage_key).where(CaseDocument.id.in_(ids))))

    files_before = keys_of_ours()
    done = runner.invoke(args=["keys", "reencrypt"])
    assert done.exit_code == 0, done.output
    status = runner.invoke(args=["keys", "status"]).output
    assert "values waiting for re-encryption: 0" in status
    files_after = keys_of_ours()
    assert not (files_before & files_after)  # every file sealed again under a new storage key
    assert all(not storage.path(key).exists() for key in files_before)  # and the old ones deleted
    retired = runner.invoke(args=["keys", "retire", str(old_key)])
    assert retired.exit_code == 0, retired.output
    assert [download(app, world.mine.caseworker, i) for i in ids] == [small, large]
