"""Every route of the app, with placeholders for its variables."""

from __future__ import annotations

import re

from flask import Flask

PLACEHOLDER = "00000000-0000-4000-8000-000000000000"


def routes(app: Flask) -> list[tuple[str, str, str]]:
    """(endpoint, method, concrete path) for every rule, with placeholders for variables."""
    found = []
    for rule in app.url_map.iter_rules():
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", PLACEHOLDER, rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            found.append((rule.endpoint, method, path))
    return found
