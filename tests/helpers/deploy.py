"""Reading deploy/: the systemd units, the example environment file and the Procfile, and checking
that each command line is one the app really accepts (its programs, options and import paths)."""

from __future__ import annotations

import ast
import importlib
import inspect
import re
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from config import BASE_DIR

DEPLOY = BASE_DIR / "deploy"
UNITS = DEPLOY / "systemd"
BIN = Path(sys.executable).parent
_VARIABLE = re.compile(r"\$\{(\w+)(?::-([^}]*))?\}|\$(\w+)")


@dataclass
class Unit:
    """A systemd unit file: each section's settings, a key keeping every value it was given."""

    name: str
    sections: dict[str, dict[str, list[str]]] = field(default_factory=dict)

    def get(self, section: str, key: str) -> list[str]:
        return self.sections.get(section, {}).get(key, [])

    def one(self, section: str, key: str) -> str:
        values = self.get(section, key)
        assert len(values) == 1, f"{self.name}: [{section}] {key}= given {len(values)} times"
        return values[0]

    def environment(self, instance: str = "1") -> dict[str, str]:
        """Environment= assignments, specifiers resolved as systemd would for `instance`."""
        found: dict[str, str] = {}
        for line in self.get("Service", "Environment"):
            for item in shlex.split(line):
                name, _, value = item.partition("=")
                found[name] = specifiers(value, instance)
        return found


def read_unit(path: Path) -> Unit:
    unit = Unit(path.name)
    section = None
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            unit.sections.setdefault(section, {})
            continue
        assert section is not None, f"{path.name}: a setting before any section: {line}"
        key, sep, value = line.partition("=")
        assert sep, f"{path.name}: not a Key=Value line: {line}"
        unit.sections[section].setdefault(key.strip(), []).append(value.strip())
    return unit


def units() -> dict[str, Unit]:
    return {p.name: read_unit(p) for p in sorted(UNITS.iterdir()) if p.suffix in (".service", ".target")}


def specifiers(value: str, instance: str = "1") -> str:
    """systemd's specifiers in a value: %i the instance, %H the host, %d the credentials
    directory, %% a percent sign; any other is refused so that a typo cannot pass."""
    table = {"i": instance, "H": "host.example.org", "d": "/run/credentials/unit", "%": "%"}

    def one(match: re.Match[str]) -> str:
        letter = match.group(1)
        assert letter in table, f"unexpected specifier %{letter} in {value!r}"
        return table[letter]

    return re.sub(r"%(.)", one, value)


def env_file(path: Path) -> dict[str, str]:
    """An EnvironmentFile: NAME=value lines (comments and blank lines skipped)."""
    found = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            name, sep, value = line.partition("=")
            assert sep and re.fullmatch(r"[A-Z_][A-Z0-9_]*", name), f"{path.name}: not NAME=value: {line}"
            found[name] = value
    return found


def expand(command: str, env: dict[str, str]) -> str:
    """$NAME, ${NAME} and ${NAME:-default}; a variable neither set nor defaulted is an error."""

    def one(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(3)
        if name in env:
            return env[name]
        assert match.group(2) is not None, f"${name} is not set and has no default in {command!r}"
        return match.group(2)

    return _VARIABLE.sub(one, command)


def procfile() -> dict[str, str]:
    found = {}
    for line in (DEPLOY / "Procfile").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, sep, command = line.partition(":")
            assert sep and re.fullmatch(r"[a-z][a-z0-9_-]*", name), f"Procfile: not 'name: command': {line}"
            found[name] = command.strip()
    return found


def without_env_prefix(argv: list[str]) -> tuple[list[str], list[str]]:
    """`env -u NAME ... program args` -> (the names it removes, [program, args...])."""
    removed: list[str] = []
    if argv and argv[0] == "env":
        argv = argv[1:]
        while argv and argv[0] == "-u":
            removed.append(argv[1])
            argv = argv[2:]
    return removed, argv


# ---------------------------------------------------------------------------------- the checks
def check_program(argv: list[str]) -> str:
    """The program exists in this installation's environment; returns its name."""
    program = Path(argv[0]).name
    assert (BIN / program).exists(), f"{program} is not installed in {BIN}"
    return program


def check_gunicorn(argv: list[str]) -> Any:
    """gunicorn's own parser accepts the options, and the application path names a callable of
    the app that needs no argument."""
    from gunicorn.config import Config

    args = Config().parser().parse_args(argv[1:])
    assert len(args.args) == 1, f"gunicorn expects one application path, got {args.args}"
    module_name, _, expression = args.args[0].partition(":")
    module = importlib.import_module(module_name)
    tree = ast.parse(expression or "application", mode="eval").body
    name = tree.func.id if isinstance(tree, ast.Call) and isinstance(tree.func, ast.Name) else None
    assert name is not None or isinstance(tree, ast.Name), f"not an app path gunicorn loads: {args.args[0]}"
    target = getattr(module, name or expression)
    assert callable(target), f"{args.args[0]} does not name a callable"
    if isinstance(tree, ast.Call):
        assert not tree.args and not tree.keywords, "the factory is called without arguments"
        inspect.signature(target).bind()  # callable without arguments
    return args


def check_celery(argv: list[str]) -> tuple[str, dict[str, Any], Any]:
    """celery -A target command options: the target is the Celery app, the command exists and
    celery's own parser takes its options. Returns (command, parsed options, app)."""
    from celery import Celery
    from celery.app.utils import find_app
    from celery.bin.base import CLIContext
    from celery.bin.celery import celery as cli

    rest = argv[1:]
    assert rest[:1] in (["-A"], ["--app"]), f"celery needs -A first: {argv}"
    app = find_app(rest[1])
    assert isinstance(app, Celery), f"{rest[1]} is not a Celery application"
    command, options = rest[2], rest[3:]
    assert command in cli.commands, f"celery has no command {command!r}"
    obj = CLIContext(app=app, no_color=True, workdir=None, quiet=True)
    ctx = cli.commands[command].make_context(command, list(options), obj=obj)
    return command, ctx.params, app


def check_scheduler(name: str) -> type:
    from celery.utils.imports import symbol_by_name

    found = symbol_by_name(name)
    assert isinstance(found, type), f"{name} is not a scheduler class"
    return found
