"""Where encrypted files live: a small `Storage` interface and its filesystem implementation.

Storage knows nothing of cases or keys: it stores opaque (already encrypted) bytes under a key it
chooses at random, so nothing about a file (its title, its owner, the survivor's name) can be read
from where it is kept. An object store (S3 and the like) can implement the same three methods.

The filesystem store writes under the app's instance folder (`instance/documents/` unless the
app config names another folder in ``DOCUMENT_STORAGE_PATH``): folders 0700, files 0600. A file
is written to a temporary name and renamed into place once complete, so a failed or refused
write leaves nothing behind and a reader never sees half a file.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO, Protocol

from flask import current_app
from flask.sansio.app import App

EXTENSION = "shabaka.documents"
_KEY = re.compile(r"[0-9a-f]{32}")


class StorageError(Exception):
    """A stored object is missing, or a key is not one this store could have made."""


class Storage(Protocol):
    def put(self, pieces: Iterable[bytes]) -> str:
        """Store the pieces, in order, as one object; return its new random key.

        If iterating `pieces` raises, nothing is stored and the exception propagates."""

    def open(self, key: str) -> BinaryIO:
        """The object for reading (a file-like object to close); StorageError if there is none."""

    def delete(self, key: str) -> None:
        """Remove the object; a missing one is not an error."""


class FileSystemStorage:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, key: str) -> Path:
        """Where the object of `key` is (two-letter fan-out folders keep directories small)."""
        if not _KEY.fullmatch(key):
            raise StorageError("not a storage key")
        return self.root / key[:2] / key

    def put(self, pieces: Iterable[bytes]) -> str:
        key = secrets.token_hex(16)
        final = self.path(key)
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        final.parent.mkdir(mode=0o700, exist_ok=True)
        partial = final.with_name(f".{key}.part")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
        try:
            with os.fdopen(fd, "wb") as out:
                for piece in pieces:
                    out.write(piece)
                out.flush()
                os.fsync(out.fileno())
            os.replace(partial, final)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                partial.unlink()
            raise
        return key

    def open(self, key: str) -> BinaryIO:
        try:
            return self.path(key).open("rb")
        except FileNotFoundError:
            raise StorageError("stored object is missing") from None

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)


def init_app(app: App) -> None:
    """Give the app its document store (once; tests may put another in first)."""
    if EXTENSION not in app.extensions:
        root = app.config.get("DOCUMENT_STORAGE_PATH") or Path(app.instance_path) / "documents"
        app.extensions[EXTENSION] = FileSystemStorage(Path(root))


def document_storage() -> Storage:
    """The current app's document store."""
    return current_app.extensions[EXTENSION]  # type: ignore[no-any-return]
