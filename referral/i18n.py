"""Arabic first, English complete: choosing the locale and the writing direction."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flask import current_app, session
from flask_babel import get_locale
from flask_login import current_user
from markupsafe import Markup

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


# How a displayed list is joined: the Arabic comma in Arabic, the Latin one otherwise.
LIST_SEPARATORS = {"ar": "، "}


def list_separator(locale: str | None = None) -> str:
    return LIST_SEPARATORS.get(locale or current_locale_code(), ", ")


def list_join(items: Iterable[Any], locale: str | None = None) -> str:
    """A list as a reader reads it: "أ، ب، ج" on an Arabic page, "a, b, c" on an English one."""
    return list_separator(locale).join(str(item) for item in items)


def isolate(value: Any) -> Markup:
    """User-typed text (a name, an organisation's name, a code, a note) isolated from the text around
    it, so that an Arabic name reads right on an English page and a Latin one on an Arabic page."""
    return Markup("<bdi>%s</bdi>") % ("" if value is None else value)  # <bdi> takes its direction from its text


def install_translation_memory(app: Any) -> None:
    """Let each request find its catalogue once: flask-babel looks the locale and the catalogue up
    again for every string it translates (about 14 us each, hundreds of strings on a list page).
    The catalogue found is kept on the request's babel context next to the locale it is for, so
    a `force_locale` (another locale object) still gets its own."""
    from flask_babel import _get_current_context, get_babel

    with app.app_context():
        domain = get_babel().instance.domain_instance
    looked_up = domain.get_translations

    def get_translations() -> Any:
        ctx = _get_current_context()
        if ctx is not None:
            locale = getattr(ctx, "babel_locale", None)
            kept = getattr(ctx, "shabaka_translations", None)
            if locale is not None and kept is not None and kept[0] is locale:
                return kept[1]
        found = looked_up()
        if ctx is not None and getattr(ctx, "babel_locale", None) is not None:
            ctx.shabaka_translations = (ctx.babel_locale, found)
        return found

    domain.get_translations = get_translations

    # A string without variables translates the same way for the whole life of the process (the
    # catalogues do not change while it runs): each catalogue remembers its answers, so a list page's
    # hundreds of labels cost one dictionary read each instead of flask-babel's look-up.
    translate = domain.gettext

    def gettext(string: str, **variables: Any) -> str:
        if variables:
            return translate(string, **variables)  # type: ignore[no-any-return]
        catalogue = get_translations()
        answers = getattr(catalogue, "shabaka_answers", None)
        if answers is None:
            answers = catalogue.shabaka_answers = {}
        found = answers.get(string)
        if found is None:
            found = answers[string] = translate(string)
        return found  # type: ignore[no-any-return]

    domain.gettext = gettext
