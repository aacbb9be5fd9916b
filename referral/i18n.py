"""Arabic first, English complete: choosing the locale and the writing direction."""

from __future__ import annotations

from flask import current_app, session
from flask_babel import get_locale
from flask_login import current_user

from .enums import LOCALES

RTL = frozenset({"ar"})


def select_locale() -> str:
    """The signed-in user's choice, else the browser session's, else Arabic."""
    if getattr(current_user, "is_authenticated", False):
        return str(current_user.locale)
    chosen = session.get("locale")
    if chosen in LOCALES:
        return str(chosen)
    return str(current_app.config["BABEL_DEFAULT_LOCALE"])


def current_locale_code() -> str:
    locale = get_locale()
    return locale.language if locale is not None else "ar"


def current_direction() -> str:
    return "rtl" if current_locale_code() in RTL else "ltr"
