"""Arabic first, English complete: every string in the source is translated in both catalogues, the
Arabic keeps the placeholders of the English, and a real page renders in Arabic and then, after the
language switch, in English.

The app reads compiled catalogues (gitignored .mo files) from referral/translations, and Flask-Babel
keeps a catalogue for the life of the app once it has loaded it; so this module compiles them when it
is imported, which pytest does while collecting, before any test of the session requests a page.
"""

from __future__ import annotations

import gettext
import importlib.util
import re
from pathlib import Path
from types import ModuleType

import pytest
from babel.messages.catalog import Catalog, Message
from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import csrf_from

ROOT = Path(__file__).resolve().parent.parent


def _load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("shabaka_i18n", ROOT / "scripts" / "i18n.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


i18n = _load_script()
i18n.compile_catalogs()

PLACEHOLDER = re.compile(r"%\((\w+)\)([a-z])|%%")


def _ids(message: Message) -> tuple[str, ...]:
    """The msgid, or the msgid and msgid_plural."""
    return (message.id,) if isinstance(message.id, str) else tuple(message.id)


def _forms(message: Message) -> tuple[str, ...]:
    """The msgstr, or every msgstr[i]."""
    string = message.string
    return tuple(string) if isinstance(string, (list, tuple)) else (string or "",)


def _placeholders(text: str) -> set[tuple[str, str]]:
    return {(name, kind) for name, kind in PLACEHOLDER.findall(text) if name}


def _single_value_forms(catalog: Catalog) -> set[int]:
    """Plural forms chosen for exactly one n (Arabic: 0, 1 and 2), which may leave the number out."""
    choose = gettext.c2py(catalog.plural_expr)
    seen: dict[int, int] = {}
    for n in range(1000):
        seen[choose(n)] = seen.get(choose(n), 0) + 1
    return {form for form, count in seen.items() if count == 1}


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    """A fresh extraction of the source, not the committed messages.pot."""
    return i18n.read_catalog(i18n.extract(tmp_path_factory.mktemp("i18n") / "messages.pot"))


@pytest.mark.parametrize("locale", i18n.LOCALES)
def test_every_source_string_is_translated(source: Catalog, locale: str) -> None:
    catalog = i18n.read_catalog(i18n.po_path(locale), locale)
    problems = []
    for wanted in source:
        if not wanted.id:
            continue
        message = catalog.get(wanted.id, wanted.context)
        if message is None:
            problems.append(f"missing: {wanted.id!r}")
        elif message.fuzzy:
            problems.append(f"fuzzy: {wanted.id!r}")
        elif len(_forms(message)) != (catalog.num_plurals if wanted.pluralizable else 1):
            problems.append(f"wrong number of forms: {wanted.id!r}")
        elif not all(form.strip() for form in _forms(message)):
            problems.append(f"untranslated: {wanted.id!r}")
    assert not problems, f"{locale}: run `python scripts/i18n.py update` and translate:\n" + "\n".join(problems)


def test_english_is_the_source_text() -> None:
    catalog = i18n.read_catalog(i18n.po_path("en"), "en")
    different = [m.id for m in catalog if m.id and _forms(m) != _ids(m)]
    assert not different, f"English msgstr differs from its msgid: {different}"


def test_arabic_keeps_the_placeholders() -> None:
    catalog = i18n.read_catalog(i18n.po_path("ar"), "ar")
    single = _single_value_forms(catalog)
    assert single == {0, 1, 2}
    problems = []
    for message in catalog:
        if not message.id:
            continue
        expected = set().union(*(_placeholders(text) for text in _ids(message)))
        for index, form in enumerate(_forms(message)):
            found = _placeholders(form)
            # a form used for a single n ("حساب واحد", "حسابان") may leave the number out, but nothing else
            ok = found <= expected if message.pluralizable and index in single else found == expected
            if not ok:
                problems.append(f"{message.id!r}[{index}]: {sorted(found)} instead of {sorted(expected)}")
            if "%" in PLACEHOLDER.sub("", form):
                problems.append(f"{message.id!r}[{index}]: a bare % (write %%)")
    assert not problems, "\n".join(problems)


def test_compiled_arabic_catalogue_has_six_plural_forms(tmp_path: Path) -> None:
    i18n.compile_catalogs(tmp_path)
    with (tmp_path / "ar" / "LC_MESSAGES" / "messages.mo").open("rb") as fh:
        arabic = gettext.GNUTranslations(fh)
    numbers = (0, 1, 2, 3, 10, 11, 99, 100, 101, 102, 103, 111, 1000)
    assert [arabic.plural(n) for n in numbers] == [0, 1, 2, 3, 3, 4, 4, 5, 5, 5, 3, 4, 5]  # type: ignore[attr-defined]


def test_login_page_is_arabic_first_then_english_after_the_switch(client: FlaskClient) -> None:
    page = client.get("/login")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'lang="ar"' in html and 'dir="rtl"' in html
    assert re.search(r"<h1[^>]*>تسجيل الدخول</h1>", html), html[:2000]
    assert "Sign in" not in html

    switched = client.post("/locale", data={"csrf_token": csrf_from(html), "locale": "en", "next": "/login"})
    assert switched.status_code == 302 and switched.headers["Location"].endswith("/login")

    html = client.get("/login").get_data(as_text=True)
    assert 'lang="en"' in html and 'dir="ltr"' in html
    assert re.search(r"<h1[^>]*>Sign in</h1>", html), html[:2000]
    assert "تسجيل الدخول" not in html


def test_a_request_keeps_its_catalogue_and_a_forced_locale_still_gets_its_own(app: Flask) -> None:
    from flask_babel import force_locale
    from flask_babel import gettext as translate

    with app.test_request_context("/"):
        assert translate("Cancel") == "إلغاء" and translate("Cancel") == "إلغاء"  # the second from memory
        with force_locale("en"):
            assert translate("Cancel") == "Cancel"
        assert translate("Cancel") == "إلغاء"
