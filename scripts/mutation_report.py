"""The mutation score of each module after `mutmut run` (`make mutation`, docs/mutation.md).

    python scripts/mutation_report.py PATTERN...

Reads mutmut's results (mutants/<file>.meta) for the mutants that match the patterns (the same
ones `make mutation` ran), and prints per module how many were killed, timed out (the tests
never finished: also caught), survived or were not run, then each survivor. Exits 1 when a
module catches fewer than 90 %.
"""

from __future__ import annotations

import fnmatch
import json
import sys
from collections import Counter
from pathlib import Path

THRESHOLD = 0.9
KILLED = {1, 3}
TIMEOUT = {36, 24, -24, 152, 255}


def status(exit_code: int | None) -> str:
    if exit_code is None:
        return "not run"
    if exit_code in KILLED:
        return "killed"
    if exit_code in TIMEOUT:
        return "timeout"
    if exit_code == 0:
        return "survived"
    if exit_code in (5, 33):
        return "no tests"
    return f"other ({exit_code})"


def main(patterns: list[str]) -> int:
    if not patterns:
        print(__doc__)
        return 2
    results: dict[str, dict[str, str]] = {}
    for meta in sorted(Path("mutants").rglob("*.py.meta")):
        exit_codes = json.loads(meta.read_text())["exit_code_by_key"]
        module = str(meta.relative_to("mutants"))[: -len(".meta")]
        chosen = {
            name: status(code)
            for name, code in exit_codes.items()
            if any(fnmatch.fnmatch(name, pattern) for pattern in patterns)
        }
        if chosen:
            results[module] = chosen
    if not results:
        print("no results: run `mutmut run` first (make mutation)")
        return 2
    failing = False
    print(f"{'module':36} {'killed':>7} {'timeout':>8} {'survived':>9} {'other':>6} {'total':>6} {'score':>7}")
    for module, statuses in results.items():
        counts = Counter(statuses.values())
        caught = counts["killed"] + counts["timeout"]
        total = len(statuses)
        other = total - caught - counts["survived"]
        score = caught / total
        failing |= score < THRESHOLD
        row = f"{counts['killed']:>7} {counts['timeout']:>8} {counts['survived']:>9} {other:>6} {total:>6}"
        print(f"{module:36} {row} {score:>7.1%}")
    for module, statuses in results.items():
        left = sorted(name for name, found in statuses.items() if found not in ("killed", "timeout"))
        if left:
            print(f"\n{module}: not caught (see docs/mutation.md; `mutmut show NAME` for the change)")
            for name in left:
                print(f"  {statuses[name]:9} {name}")
    return 1 if failing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
