"""Documents attached to a case: upload by the case team, listing, download by whoever may view
the case. The bytes are encrypted while they are written (AES-256-GCM per 64 KiB chunk under the
organisation's data key, see `security.crypto.encrypt_stream`); the title is an encrypted column.

Rules:
- The file's type is read from its first bytes (PDF, PNG, JPEG, WebP, TIFF), never from its name
  or the browser's declared type; executables and anything else are refused. The declared file
  name is neither trusted nor stored (it may itself name the survivor).
- At most 20 MB, counted while streaming: a larger file is refused part-way and nothing is kept.
- Audit events carry ids and the case code, never the title.

A file and its row must live or die together. The file is written first (its id is bound into
the encryption, so the row's id is chosen before), then the row is added in the caller's
transaction. Until that transaction commits, the file's key is held in the session as pending:
if the service fails after the write, the file is deleted at once; if the transaction ends in
any other way than a commit (rollback, failed commit, closed session), a session listener
deletes it. A crash between the write and the commit can leave an encrypted file no row names:
unreadable without its row's context and harmless, but worth a periodic sweep.
Deletions that must wait for a commit (purging a case's documents) use `after_commit`.
"""

from __future__ import annotations

import functools
import uuid
from collections import Counter
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, BinaryIO

from sqlalchemy import delete, event, select
from sqlalchemy.orm import Session, SessionTransaction

from ..access.breakglass import audit_mark
from ..access.policy import can
from ..audit.services import record, record_denial
from ..errors import Conflict, InvalidInput, NotFound
from ..models_base import DbSession, new_id
from ..runtime import runtime
from ..security.crypto import Context, Readable, decrypt_stream, encrypt_stream, read_exactly, stream_key_id
from ..security.rotation import SealedStore, register_store
from ..storage import Storage, StorageError, document_storage
from ..transaction import after_commit
from .models import FIELD_GROUPS, Case, CaseDocument
from .services import _visible

MAX_BYTES = 20 * 1024 * 1024
TITLE_MAX = 200
_SNIFF_BYTES = 16
_PENDING = "shabaka.documents.pending"


@dataclass(frozen=True)
class FileType:
    content_type: str
    extension: str


PDF = FileType("application/pdf", "pdf")
PNG = FileType("image/png", "png")
JPEG = FileType("image/jpeg", "jpg")
WEBP = FileType("image/webp", "webp")
TIFF = FileType("image/tiff", "tiff")
ACCEPTED = (PDF, PNG, JPEG, WEBP, TIFF)
_BY_CONTENT_TYPE = {t.content_type: t for t in ACCEPTED}

_SIGNATURES: tuple[tuple[bytes, FileType], ...] = (
    (b"%PDF-", PDF),
    (b"\x89PNG\r\n\x1a\n", PNG),
    (b"\xff\xd8\xff", JPEG),
    (b"II*\x00", TIFF),
    (b"MM\x00*", TIFF),
)
# Windows PE, ELF, Mach-O (32/64, both byte orders, universal), scripts with a shebang.
_EXECUTABLES = (
    b"MZ",
    b"\x7fELF",
    b"\xfe\xed\xfa\xce",
    b"\xfe\xed\xfa\xcf",
    b"\xce\xfa\xed\xfe",
    b"\xcf\xfa\xed\xfe",
    b"\xca\xfe\xba\xbe",
    b"#!",
)


@dataclass(frozen=True)
class DocumentSummary:
    """What a list shows of a document: never its storage key or who uploaded it."""

    id: str
    title: str
    content_type: str
    size: int
    uploaded_at: datetime


@dataclass
class DocumentDownload:
    """An authorised download: the plaintext as chunks (a generator to close), and its headers."""

    chunks: Iterator[bytes]
    content_type: str
    size: int
    filename: str


def document_context(document_id: str, organization_id: str) -> Context:
    """Where a document's bytes belong: the encryption binds them to this document and owner."""
    return Context("case_document", "content", str(document_id), str(organization_id))


def _case(session: DbSession, actor: Any, case_id: str) -> Case:
    """The case if the actor may see it, else NotFound; a malformed id never reaches the database
    (PostgreSQL would fail the whole transaction on it)."""
    try:
        uuid.UUID(str(case_id))
    except ValueError:
        record_denial(actor, "case_file", str(case_id))
        raise NotFound("case") from None
    return _visible(session, actor, case_id)


def detect_type(head: bytes) -> FileType:
    """The file's type from its first bytes; InvalidInput naming the problem otherwise."""
    if not head:
        raise InvalidInput("empty_file", fields={"file": "empty_file"})
    if head.startswith(_EXECUTABLES):
        raise InvalidInput("executable_file", fields={"file": "executable_file"})
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    for signature, found in _SIGNATURES:
        if head.startswith(signature):
            return found
    raise InvalidInput("unsupported_file_type", fields={"file": "unsupported_file_type"})


class _CountedUpload:
    """The upload as the cipher reads it: the sniffed head, then the rest, refused past the limit."""

    def __init__(self, head: bytes, stream: Readable, limit: int) -> None:
        self._head = head
        self._stream = stream
        self._limit = limit
        self.count = 0

    def read(self, size: int = -1, /) -> bytes:
        if self._head:
            data = self._head if size < 0 else self._head[:size]
            self._head = self._head[len(data) :]
        else:
            data = self._stream.read(size)
        self.count += len(data)
        if self.count > self._limit:
            raise InvalidInput("file_too_large", fields={"file": "file_too_large"})
        return data


def _clean(title: str | None, field_group: str | None) -> tuple[str, str]:
    problems: dict[str, str] = {}
    clean_title = " ".join((title or "").split())
    if not clean_title:
        problems["title"] = "required"
    elif len(clean_title) > TITLE_MAX:
        problems["title"] = "too_long_title"
    group = (field_group or "").strip()
    if group not in FIELD_GROUPS:
        problems["field_group"] = "unknown"
    if problems:
        raise InvalidInput("invalid_document", fields=problems)
    return clean_title, group


# ---------------------------------------------------------------------------------- upload
def upload(
    session: DbSession,
    actor: Any,
    case_id: str,
    title: str | None,
    field_group: str | None,
    stream: BinaryIO | Readable | None,
    declared_filename: str | None = None,
    *,
    storage: Storage | None = None,
) -> CaseDocument:
    """Attach a file to a case (the case team only): checked, encrypted while written, audited.

    `declared_filename` is what the browser sent; it decides nothing and is not kept.
    """
    case = _case(session, actor, case_id)
    if not can(actor, "case.edit", case):
        raise NotFound("case")
    if case.status in ("closed", "transferred") or case.purged_at is not None:
        raise Conflict("case_closed")
    clean_title, group = _clean(title, field_group)
    if stream is None:
        raise InvalidInput("file_required", fields={"file": "file_required"})
    head = read_exactly(stream, _SNIFF_BYTES)
    file_type = detect_type(head)

    store = storage or document_storage()
    document_id = new_id()
    context = document_context(document_id, case.organization_id)
    key_id, key = runtime().keyring.current(context)
    counted = _CountedUpload(head, stream, MAX_BYTES)
    storage_key = store.put(encrypt_stream(counted, key_id, key, context))
    _delete_unless_committed(session, store, storage_key)
    try:
        document = CaseDocument(
            id=document_id,
            case_id=case.id,
            organization_id=case.organization_id,
            title=clean_title,
            content_type=file_type.content_type,
            size=counted.count,
            field_group=group,
            storage_key=storage_key,
            uploaded_by=actor.id,
        )
        session.add(document)
        session.flush()
        record("document.upload", actor, document, case_code=case.case_code, case_id=case.id)
    except BaseException:
        store.delete(storage_key)
        raise
    return document


def _delete_unless_committed(session: DbSession, storage: Storage, key: str) -> None:
    pending: list[tuple[Storage, str]] = session.info.setdefault(_PENDING, [])
    pending.append((storage, key))


@event.listens_for(Session, "after_commit")
def _keep_written_files(session: Session) -> None:
    session.info.pop(_PENDING, None)


@event.listens_for(Session, "after_transaction_end")
def _delete_uncommitted_files(session: Session, transaction: SessionTransaction) -> None:
    """A transaction that ended without a commit takes its documents' files with it."""
    if transaction.parent is not None:
        return
    for storage, key in session.info.pop(_PENDING, []):
        storage.delete(key)


# ---------------------------------------------------------------------------------- read
def list_documents(session: DbSession, case: Case, field_groups: set[str] | None = None) -> list[DocumentSummary]:
    """The documents of a case the caller has already been allowed to see, newest first; only
    those of the given field groups when `field_groups` is given (what a referral shares)."""
    stmt = select(CaseDocument).where(CaseDocument.case_id == case.id)
    if field_groups is not None:
        stmt = stmt.where(CaseDocument.field_group.in_(field_groups or {""}))
    rows = session.scalars(stmt.order_by(CaseDocument.uploaded_at.desc(), CaseDocument.id))
    return [DocumentSummary(d.id, d.title or "", d.content_type, d.size, d.uploaded_at) for d in rows]


def open_case(session: DbSession, actor: Any, case_id: str) -> Case:
    """The case whose documents the actor asks to see (audited as a view of the case)."""
    case = _case(session, actor, case_id)
    record("case.view", actor, case, case_code=case.case_code, **audit_mark(session, actor, case))
    return case


def download(session: DbSession, actor: Any, document_id: str, *, storage: Storage | None = None) -> DocumentDownload:
    """The plaintext of a document, for whoever may view its case; audited.

    The key is fetched and the first chunk authenticated before this returns, so a missing key
    or a damaged start fails here, before any byte is sent; later damage raises mid-stream.
    """
    try:
        document = session.get(CaseDocument, str(uuid.UUID(str(document_id))))
    except ValueError:  # not an id at all: PostgreSQL would refuse the query
        document = None
    if document is None:
        record_denial(actor, "case_document", str(document_id))
        raise NotFound("document")
    case = _visible(session, actor, document.case_id)
    if document.organization_id != case.organization_id:
        raise NotFound("document")
    return open_document(session, actor, document, case, storage=storage)


def open_document(
    session: DbSession,
    actor: Any,
    document: CaseDocument,
    case: Case,
    *,
    storage: Storage | None = None,
    via_referral: str | None = None,
) -> DocumentDownload:
    """Decrypt a document for someone the caller has already allowed to read it; audited.

    Callers: `download` (the case's own staff) and the referrals package (a receiving
    organisation, for documents whose field group the referral shares)."""
    if via_referral is None:
        mark = audit_mark(session, actor, case)
        record("document.download", actor, document, case_code=case.case_code, case_id=case.id, **mark)
    else:
        record(
            "document.download", actor, document, case_code=case.case_code, case_id=case.id, referral_id=via_referral
        )
    store = storage or document_storage()
    keyring = runtime().keyring
    handle = store.open(document.storage_key)
    plain = _plaintext(handle, decrypt_stream(handle, keyring.key, document_context(document.id, case.organization_id)))
    try:
        first = next(plain)
    except BaseException:
        plain.close()
        raise
    file_type = _BY_CONTENT_TYPE.get(document.content_type, PDF)
    return DocumentDownload(
        _resume(first, plain), document.content_type, document.size, f"document.{file_type.extension}"
    )


def _plaintext(handle: BinaryIO, chunks: Iterator[bytes]) -> Generator[bytes, None, None]:
    with handle:
        yield from chunks


def _resume(first: bytes, rest: Generator[bytes, None, None]) -> Generator[bytes, None, None]:
    try:
        yield first
        yield from rest
    finally:
        rest.close()


# ---------------------------------------------------------------------------------- housekeeping
def purge_documents(session: DbSession, case_ids: list[str], *, storage: Storage | None = None) -> int:
    """Delete the documents of these cases (retention): rows now, files once the deletion commits.

    A rollback keeps both. Returns how many documents were deleted.
    """
    store = storage or document_storage()
    rows = session.execute(
        select(CaseDocument.id, CaseDocument.storage_key).where(CaseDocument.case_id.in_(case_ids))
    ).all()
    if not rows:
        return 0
    session.execute(
        delete(CaseDocument).where(CaseDocument.id.in_([r.id for r in rows])),
        execution_options={"synchronize_session": "fetch"},
    )
    keys = [r.storage_key for r in rows]

    def delete_files() -> None:
        for key in keys:
            store.delete(key)

    after_commit(delete_files, session)
    return len(rows)


def key_ids_in_use(session: DbSession, organization_id: str, *, storage: Storage | None = None) -> Counter[int]:
    """How many stored files of an organisation use each data key (read from the files' headers).

    Key retirement must consult this besides the encrypted columns: a title re-encrypted under
    a new key says nothing about the key its file was sealed with.
    """
    store = storage or document_storage()
    counts: Counter[int] = Counter()
    keys = session.scalars(select(CaseDocument.storage_key).where(CaseDocument.organization_id == organization_id))
    for key in keys:
        try:
            with store.open(key) as handle:
                counts[stream_key_id(handle)] += 1
        except StorageError:
            continue
    return counts


# ---------------------------------------------------------------------------------- key rotation
def _current_key_id(session: DbSession, organization_id: str) -> int:
    return runtime().keyring.current(Context("case_document", "file", "", organization_id))[0]


def count_file_keys(session: DbSession, *, storage: Storage | None = None) -> Counter[int]:
    """Stored files per data key id, over every organisation (read from the files' headers)."""
    store = storage or document_storage()
    counts: Counter[int] = Counter()
    for key in session.scalars(select(CaseDocument.storage_key)):
        try:
            with store.open(key) as handle:
                counts[stream_key_id(handle)] += 1
        except StorageError:
            continue
    return counts


def reencrypt_files(session: DbSession, commit: Any, *, storage: Storage | None = None) -> int:
    """Seal every file not under its organisation's current data key again, one file per commit.

    The new file is written first; the row then points at it; the old file is deleted once that
    commits. Stopping half-way leaves every row pointing at a complete, readable file.
    """
    store = storage or document_storage()
    moved = 0
    rows = session.execute(select(CaseDocument.id, CaseDocument.organization_id, CaseDocument.storage_key)).all()
    for document_id, organization_id, old_key in rows:
        try:
            with store.open(old_key) as handle:
                used = stream_key_id(handle)
        except StorageError:
            continue
        if used == _current_key_id(session, organization_id):
            continue
        document = session.get(CaseDocument, document_id)
        if document is None:
            continue
        reseal(session, store, document, document_context(document_id, organization_id))
        commit()
        moved += 1
    return moved


def reseal(session: DbSession, store: Storage, row: Any, context: Any) -> None:
    """Seal one stored file again under its context's current key: the new file is written
    first, `row.storage_key` then points at it, and the old file is deleted once that commits
    (a new file whose transaction fails is deleted). Case documents and delivery files share it."""
    keyring = runtime().keyring
    old_key = row.storage_key
    key_id, key = keyring.current(context)
    with store.open(old_key) as handle:
        new_key = store.put(encrypt_stream(_Chunks(decrypt_stream(handle, keyring.key, context)), key_id, key, context))
    _delete_unless_committed(session, store, new_key)
    row.storage_key = new_key
    session.flush()
    after_commit(functools.partial(store.delete, old_key), session)


def move_files(
    session: DbSession, documents: list[CaseDocument], to_organization_id: str, *, storage: Storage | None = None
) -> int:
    """Seal these documents' files again for another owning organisation (a case transfer).

    Each file is decrypted under its current owner and written anew under the new owner's data
    key and context; the row then points at the new file. The new files are deleted unless the
    transaction commits, the old ones once it has: a rollback leaves every row on its old,
    readable file. The rows' owner itself is changed by the caller.
    """
    store = storage or document_storage()
    keyring = runtime().keyring
    written: list[str] = []
    replaced: list[str] = []
    try:
        for document in documents:
            old = document_context(document.id, document.organization_id)
            new = document_context(document.id, to_organization_id)
            key_id, key = keyring.current(new)
            with store.open(document.storage_key) as handle:
                new_key = store.put(encrypt_stream(_Chunks(decrypt_stream(handle, keyring.key, old)), key_id, key, new))
            written.append(new_key)
            _delete_unless_committed(session, store, new_key)
            replaced.append(document.storage_key)
            document.storage_key = new_key
    except BaseException:
        for stored in written:
            store.delete(stored)
        raise
    for stored in replaced:
        after_commit(functools.partial(store.delete, stored), session)
    return len(written)


class _Chunks:
    """A readable over plaintext chunks, for sealing a file again without holding it whole."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buffer = b""

    def read(self, size: int = -1, /) -> bytes:
        while size < 0 or len(self._buffer) < size:
            piece = next(self._chunks, None)
            if piece is None:
                break
            self._buffer += piece
        if size < 0:
            out, self._buffer = self._buffer, b""
        else:
            out, self._buffer = self._buffer[:size], self._buffer[size:]
        return out


register_store(SealedStore("documents", count_file_keys, reencrypt_files))
