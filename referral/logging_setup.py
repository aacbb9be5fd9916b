"""Logging with a request id on every line, and no request bodies, ever."""

from __future__ import annotations

import logging
import sys

from flask import g, has_request_context

FORMAT = "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = g.get("request_id", "-") if has_request_context() else "-"
        return True


def configure(level: str) -> None:
    root = logging.getLogger()
    if any(getattr(h, "_shabaka", False) for h in root.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.addFilter(RequestIdFilter())
    handler._shabaka = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
