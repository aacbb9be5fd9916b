#!/usr/bin/env python3
"""Shabaka's message catalogues: extract, update, compile and check (needs only Babel).

    python scripts/i18n.py extract   # source -> referral/translations/messages.pot (babel.cfg)
    python scripts/i18n.py update    # messages.pot -> ar and en messages.po, keeping translations
    python scripts/i18n.py compile   # messages.po -> messages.mo (gitignored; run at install/test time)
    python scripts/i18n.py check     # exit 1 listing what is missing, untranslated, fuzzy or malformed

English is the source language: `update` fills every empty or fuzzy English entry with its msgid,
so only Arabic needs a translator. `check` extracts afresh, so it also catches strings added to the
code since the last `extract`. Run from anywhere; paths are relative to the project root.
"""

from __future__ import annotations

import argparse
import io
import os
import re
import sys
import tempfile
import tomllib
from collections.abc import Callable
from pathlib import Path

from babel import Locale
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "referral" / "translations"
POT = TRANSLATIONS / "messages.pot"
LOCALES = ("ar", "en")
SOURCE_LOCALE = "en"
KEYWORDS = {"_l": None, "lazy_gettext": None}  # lazy_gettext as _l, besides gettext, _ and ngettext
PLURAL_FORMS = {
    "ar": "nplurals=6; plural=(n==0 ? 0 : n==1 ? 1 : n==2 ? 2 : n%100>=3 && n%100<=10 ? 3 : n%100>=11 ? 4 : 5);",
    "en": "nplurals=2; plural=(n != 1);",
}
HEADER = """\
# {title} for Shabaka.
# Copyright (C) YEAR Shabaka contributors
# This file is distributed under the same license as the Shabaka project.
#"""
_CREATION_DATE = re.compile(rb'^"POT-Creation-Date: .*\\n"\n', re.MULTILINE)


def po_path(locale: str) -> Path:
    return TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po"


def read_catalog(path: Path, locale: str | None = None) -> Catalog:
    with path.open("rb") as fh:
        return read_po(fh, locale=locale)


def _write_if_changed(path: Path, catalog: Catalog, writer: Callable[..., None], **options: bool) -> bool:
    """Write `catalog` to `path` atomically, unless only the POT-Creation-Date would change."""
    buffer = io.BytesIO()
    writer(buffer, catalog, **options)
    new = buffer.getvalue()
    if path.exists() and _CREATION_DATE.sub(b"", path.read_bytes()) == _CREATION_DATE.sub(b"", new):
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "wb") as fh:
        fh.write(new)
    os.replace(tmp, path)
    return True


def extract(output: Path = POT) -> Path:
    """Extract every translatable string (Python and templates, as mapped in babel.cfg) into `output`.

    The same as `pybabel extract -F babel.cfg -k _l -k lazy_gettext --add-location=file -o <output> .`
    run in the project root.
    """
    with (ROOT / "babel.cfg").open() as fh:
        method_map, options_map = parse_mapping_cfg(fh)
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    template = Catalog(header_comment=HEADER.format(title="Translations template"), project="Shabaka", version=version)
    for filename, lineno, message, comments, context in extract_from_dir(
        ROOT, method_map, options_map, keywords={**DEFAULT_KEYWORDS, **KEYWORDS}
    ):
        template.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    _write_if_changed(output, template, write_po, include_lineno=False)
    return output


def update(pot: Path = POT) -> None:
    """Merge the template into each locale's catalogue, creating it if missing; fill English from the msgids."""
    template = read_catalog(pot)
    for locale in LOCALES:
        path = po_path(locale)
        if path.exists():
            catalog = read_catalog(path, locale)
        else:
            name = Locale.parse(locale).english_name or locale
            header = HEADER.format(title=f"{name} translations")
            catalog = Catalog(locale, header_comment=header, project=template.project, version=template.version)
            catalog.fuzzy = False
            catalog.language_team = name
            catalog.mime_headers = [*catalog.mime_headers, ("Plural-Forms", PLURAL_FORMS[locale])]
        catalog.update(template)
        if locale == SOURCE_LOCALE:
            for message in catalog:
                if message.id and (message.fuzzy or not all(_forms(message))):
                    message.string = tuple(message.id) if message.pluralizable else message.id
                    message.flags.discard("fuzzy")
        changed = _write_if_changed(path, catalog, write_po, ignore_obsolete=True, include_lineno=False)
        print(f"{path.relative_to(ROOT)}: {'updated' if changed else 'unchanged'}")


def compile_catalogs(directory: Path = TRANSLATIONS) -> list[Path]:
    """Compile each locale's messages.po into `directory`/<locale>/LC_MESSAGES/messages.mo (fuzzy entries left out)."""
    written = []
    for locale in LOCALES:
        target = directory / locale / "LC_MESSAGES" / "messages.mo"
        _write_if_changed(target, read_catalog(po_path(locale), locale), write_mo)
        written.append(target)
    return written


def _forms(message: Message) -> tuple[str, ...]:
    """The msgstr, or every plural msgstr[i], as a tuple."""
    string = message.string
    return tuple(string) if isinstance(string, (list, tuple)) else (string or "",)


def _key(message: Message) -> str:
    return message.id if isinstance(message.id, str) else message.id[0]


def problems() -> list[str]:
    """Everything wrong with the catalogues, compared with a fresh extraction of the source."""
    found: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        source = read_catalog(extract(Path(tmp) / "messages.pot"))
    wanted = {_key(message): message for message in source if message.id}
    committed = {_key(message) for message in read_catalog(POT)} if POT.exists() else set()
    for msgid in sorted(set(wanted) - committed):
        found.append(f"messages.pot: not extracted yet (run extract and update): {msgid!r}")
    for locale in LOCALES:
        path = po_path(locale)
        if not path.exists():
            found.append(f"{locale}: no catalogue at {path.relative_to(ROOT)} (run update)")
            continue
        catalog = read_catalog(path, locale)
        for msgid, expected in wanted.items():
            message = catalog.get(expected.id, expected.context)
            if message is None:
                found.append(f"{locale}: missing: {msgid!r}")
            elif message.fuzzy:
                found.append(f"{locale}: fuzzy: {msgid!r}")
            elif message.pluralizable != expected.pluralizable or not all(_forms(message)):
                found.append(f"{locale}: untranslated: {msgid!r}")
        for message, errors in catalog.check():
            found += [f"{locale}: {error}: {message.id!r}" for error in errors]
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=("extract", "update", "compile", "check"))
    command = parser.parse_args(argv).command
    if command == "extract":
        print(extract().relative_to(ROOT))
    elif command == "update":
        update()
    elif command == "compile":
        for path in compile_catalogs():
            print(path.relative_to(ROOT))
    else:
        found = problems()
        for line in found:
            print(line, file=sys.stderr)
        print(f"{len(found)} problem(s)" if found else "catalogues complete", file=sys.stderr if found else sys.stdout)
        return 1 if found else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
