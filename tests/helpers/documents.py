"""Case documents: PDF-looking files with planted markers, uploaded and downloaded through the services."""

from __future__ import annotations

import io
import os

from flask import Flask

from referral.cases import documents
from referral.extensions import db
from tests.conftest import Account
from tests.helpers.cases import MARKER_NAME, user

CHUNK = 64 * 1024


TITLE_MARKER = "Forensic report of Zubaida-Title-Qx7"


def pdf(size: int, marker: bytes = MARKER_NAME.encode()) -> bytes:
    """A PDF-looking file of exactly `size` bytes with the marker planted inside, past the first chunk."""
    body = bytearray(os.urandom(size))
    body[:9] = b"%PDF-1.7\n"
    body[100 : 100 + len(marker)] = marker
    if size > CHUNK + 200:
        body[CHUNK + 100 : CHUNK + 100 + len(marker)] = marker
    return bytes(body)


def upload(app: Flask, account: Account, case_id: str, data: bytes, **kwargs: str) -> str:
    with app.app_context():
        document = documents.upload(
            db.session,
            user(account),
            case_id,
            kwargs.get("title", TITLE_MARKER),
            kwargs.get("field_group", "assessment"),
            io.BytesIO(data),
            kwargs.get("name", "report.pdf"),
        )
        db.session.commit()
        return document.id


def download(app: Flask, account: Account, document_id: str) -> bytes:
    with app.app_context():
        found = documents.download(db.session, user(account), document_id)
        try:
            return b"".join(found.chunks)
        finally:
            db.session.rollback()
