"""Where a redirect that takes its target from the request may go: a path on this site, nothing else.

Browsers forgive a great deal in a `Location` header: they drop tabs and newlines, read a backslash
as a slash, take `//host` as another site, and some decode percent-escapes before deciding. So a
target is accepted only when it is plainly a same-site path: printable ASCII, one leading slash,
no backslash, no whitespace or control character, no scheme or host; and every percent-decoded form of it
is still such a path, with no control character or backslash in it. Anything else falls back to the default.
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

MAX_LENGTH = 2048
_DECODE_ROUNDS = 3  # "%252f" is "%2f" once decoded and "/" twice


def _plain_path(text: str, *, decoded: bool) -> bool:
    if not text.startswith("/") or text.startswith(("//", "/\\")) or "\\" in text:
        return False
    if decoded:  # an escaped space is harmless; an escaped control character or slash is not
        if any(ord(ch) < 0x20 or ord(ch) == 0x7F or 0x80 <= ord(ch) < 0xA0 for ch in text):
            return False
    elif any(not ("!" <= ch <= "~") for ch in text):  # spaces, tabs, controls and non-ASCII look-alikes
        return False
    parts = urlsplit(text)
    return not parts.scheme and not parts.netloc


def is_same_site_path(target: object) -> bool:
    """True when `target` can only lead to a page of this site."""
    if not isinstance(target, str) or not target or len(target) > MAX_LENGTH:
        return False
    text = target
    for round_ in range(_DECODE_ROUNDS + 1):
        if not _plain_path(text, decoded=round_ > 0):
            return False
        decoded = unquote(text)
        if decoded == text:
            return True
        text = decoded
    return False  # still changing after several rounds of decoding: nobody writes such a link


def safe_next(target: object, default: str) -> str:
    """`target` when it is a same-site path, else `default`."""
    return target if is_same_site_path(target) and isinstance(target, str) else default
