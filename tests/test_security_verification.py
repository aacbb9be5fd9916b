"""docs/security-verification.md stays true: every test it names exists, every row has a known
status and a unique id, every Verified row names a test, and its summary counts its rows.

The page is read as Markdown tables; the tests it names are found with `ast`, never imported.
"""

from __future__ import annotations

import ast
import functools
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "security-verification.md"
STATUSES = ("Verified", "N/A", "Gap", "in progress")
REFERENCE = re.compile(r"tests/[\w/]+\.py(?:::\w+)*")
ROW_ID = re.compile(r"(V(\d+)\.\d+\.\d+|F\d+)")
CHAPTERS = {f"V{n}" for n in range(1, 18)}


@dataclass(frozen=True)
class Row:
    line: int
    cells: dict[str, str]

    @property
    def id(self) -> str:
        return self.cells["ID"]

    @property
    def status(self) -> str:
        return self.cells["Status"]

    @property
    def references(self) -> list[str]:
        return REFERENCE.findall(self.cells.get("Evidence", ""))


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def tables(text: str) -> list[tuple[list[str], list[tuple[int, list[str]]]]]:
    """Every Markdown table of `text`: its header and its rows (with their line numbers)."""
    found: list[tuple[list[str], list[tuple[int, list[str]]]]] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        if lines[i].startswith("|") and i + 1 < len(lines) and re.fullmatch(r"\|( *:?-+:? *\|)+", lines[i + 1]):
            header, rows = _cells(lines[i]), []
            i += 2
            while i < len(lines) and lines[i].startswith("|"):
                rows.append((i + 1, _cells(lines[i])))
                i += 1
            found.append((header, rows))
        else:
            i += 1
    return found


def requirement_rows(text: str) -> list[Row]:
    """The rows of the tables that have an ID, a Status and an Evidence column."""
    rows = []
    for header, body in tables(text):
        if not {"ID", "Status", "Evidence"} <= set(header):
            continue
        for line, cells in body:
            assert len(cells) == len(header), f"line {line}: {len(cells)} cells under {len(header)} columns"
            rows.append(Row(line, dict(zip(header, cells, strict=True))))
    return rows


@functools.cache
def _definitions(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def missing(reference: str) -> str | None:
    """Why `tests/....py::name` (or `::Class::name`) names no test, or None when it does."""
    path, *names = reference.split("::")
    file = ROOT / path
    if not file.is_file():
        return f"{reference}: there is no {path}"
    if not names:
        return f"{reference}: names no test"
    scope: list[ast.stmt] = _definitions(file).body
    for name in names:
        found = next(
            (
                node
                for node in scope
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and node.name == name
            ),
            None,
        )
        if found is None:
            return f"{reference}: {path} defines no {name}"
        scope = found.body if isinstance(found, ast.ClassDef) else []
    if not names[-1].startswith(("test_", "Test")):
        return f"{reference}: {names[-1]} is not a test"
    return None


@pytest.fixture(scope="module")
def rows() -> list[Row]:
    found = requirement_rows(PAGE.read_text(encoding="utf-8"))
    assert len(found) > 250
    return found


def test_every_row_has_a_known_status_and_a_unique_id(rows: list[Row]) -> None:
    problems = [f"line {r.line}: {r.id} has status {r.status!r}" for r in rows if r.status not in STATUSES]
    problems += [f"line {r.line}: {r.id!r} is not an ASVS or finding id" for r in rows if not ROW_ID.fullmatch(r.id)]
    problems += [f"line {r.line}: level {r.cells['Level']!r}" for r in rows if r.cells.get("Level", "1") not in "123"]
    twice = sorted(ident for ident, n in Counter(r.id for r in rows).items() if n > 1)
    assert not problems and not twice, "\n".join(problems + [f"{ident} appears more than once" for ident in twice])


def test_every_chapter_has_its_requirements(rows: list[Row]) -> None:
    chapters = {match.group(1).split(".")[0] for r in rows if (match := ROW_ID.fullmatch(r.id)) and match.group(2)}
    assert chapters == CHAPTERS


def test_every_test_named_exists(rows: list[Row]) -> None:
    problems = [
        f"line {r.line} ({r.id}): {problem}"
        for r in rows
        for reference in r.references
        if "::" in reference and (problem := missing(reference))
    ]
    assert not problems, "\n".join(problems)


def test_verified_rows_name_a_test_and_the_others_give_a_reason(rows: list[Row]) -> None:
    problems = []
    for r in rows:
        named = [ref for ref in r.references if "::" in ref]
        if r.status == "Verified" and not named:
            problems.append(f"line {r.line}: {r.id} is Verified but names no test")
        if r.status in ("N/A", "Gap") and len(r.cells["Evidence"].split()) < 2:
            problems.append(f"line {r.line}: {r.id} is {r.status} without a reason")
        if r.status != "in progress" and len(named) != len(r.references):
            problems.append(f"line {r.line}: {r.id} names a file without its test (allowed only in progress)")
    assert not problems, "\n".join(problems)


def test_the_summary_counts_the_rows(rows: list[Row]) -> None:
    text = PAGE.read_text(encoding="utf-8")
    [(header, body)] = [(h, b) for h, b in tables(text) if h and h[0] == "Chapter"]
    asvs = [r for r in rows if r.id.startswith("V")]
    problems = []
    for line, cells in body:
        chapter = cells[0].split()[0]
        counted = Counter(r.status for r in asvs if chapter == "All" or r.id.split(".")[0] == chapter)
        said = {status: int(value) for status, value in zip(header[1:], cells[1:], strict=True)}
        if said != {status: counted[status] for status in header[1:]}:
            problems.append(f"line {line}: {chapter} says {said}, the rows give {dict(counted)}")
    assert body and body[-1][1][0] == "All" and not problems, "\n".join(problems)


def test_the_check_would_catch_a_test_that_is_gone() -> None:
    """Not vacuous: a name that no longer exists, a file that is gone and a helper are refused."""
    assert missing("tests/test_text.py::test_free_text_refuses_controls") is None
    assert missing("tests/test_text.py::test_free_text_refuses_controls_renamed")
    assert missing("tests/test_gone.py::test_free_text_refuses_controls")
    assert missing("tests/test_text.py::fold_digits")
    doc = (
        "| ID | Level | Requirement (short) | Status | Evidence |\n| --- | --- | --- | --- | --- |\n"
        "| V1.1.1 | 2 | x | Verified | `tests/test_text.py::test_nothing_by_this_name` |\n"
    )
    [row] = requirement_rows(doc)
    assert [missing(ref) for ref in row.references] == [
        "tests/test_text.py::test_nothing_by_this_name: tests/test_text.py defines no test_nothing_by_this_name"
    ]
