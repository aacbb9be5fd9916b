"""The layout of the tests: shared helpers live in tests/helpers (by domain) and fixtures used across
folders in tests/helpers/fixtures.py, registered by the root conftest. No module imports from a test
module (`tests/**/test_*.py`) or from a conftest other than the root one: doing so runs that module
a second time under another name, ties the importer to the other module's private details, and
breaks when the other module is renamed or removed."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent
ROOT_CONFTEST = "tests.conftest"


def _module_of(path: Path) -> str:
    parts = path.relative_to(TESTS.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _forbidden(module: str) -> bool:
    """A test module or a conftest other than the root one."""
    if module == ROOT_CONFTEST:
        return False
    last = module.rsplit(".", 1)[-1]
    return last.startswith("test_") or last == "conftest"


def bad_imports(source: str, module: str) -> list[str]:
    """The imports of `source` (the text of `module`) that reach a test module or a non-root conftest."""
    package = module.rsplit(".", 1)[0] if "." in module else ""
    found = []
    for node in ast.walk(ast.parse(source)):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        for target in targets:
            if (target == "tests" or target.startswith("tests.")) and _forbidden(target):
                found.append(f"{module}:{node.lineno} imports {target}")
    return found


def test_no_module_imports_from_a_test_module_or_a_folder_conftest() -> None:
    # the check itself catches each kind of import it forbids, and lets the allowed ones through
    samples = {
        "from tests.referrals.test_services import _refer": True,
        "from tests.cases.conftest import world as world": True,
        "import tests.api.test_api": True,
        "from tests.browser import conftest": True,
        "from . import test_cases": True,
        "from .conftest import nav_link": True,
        "from tests.conftest import Factory, sign_in": False,
        "from tests.helpers.cases import World, open_case": False,
        "from tests.helpers import coordination": False,
        "from referral.cases import services": False,
    }
    for source, refused in samples.items():
        assert bool(bad_imports(source, "tests.browser.test_sample")) is refused, source

    modules = sorted(p for p in TESTS.rglob("*.py") if "vendor" not in p.parts)
    assert TESTS / "helpers" / "fixtures.py" in modules and len(modules) > 100
    found = [line for p in modules for line in bad_imports(p.read_text(encoding="utf-8"), _module_of(p))]
    assert not found, "import shared helpers from tests/helpers instead:\n" + "\n".join(found)
