"""The reference table's instrument works: on a tiny data set (the demo network) its measuring
core signs a caseworker in through the real login, measures a page and a write through gunicorn
with two requests each, and the table it prints and writes into docs/benchmarks.md has those
rows with their numbers and targets, replacing its own section and keeping the rest.
No timing is asserted: the table is a measurement.
"""

from __future__ import annotations

import argparse
import importlib
import os
import secrets
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from urllib.parse import quote

import psycopg
import pytest
from psycopg import sql

from config import BASE_DIR

pytestmark = pytest.mark.skipif(
    os.environ.get("SHABAKA_TEST_BACKEND", "sqlite") != "postgres" or not os.environ.get("TEST_REDIS_URL"),
    reason="the table is measured on PostgreSQL, with sessions in Redis",
)
PASSWORD = "Bench-table-test-pass-9"


@pytest.fixture
def table() -> ModuleType:
    bench = str(BASE_DIR / "bench")
    if bench not in sys.path:
        sys.path.insert(0, bench)
    return importlib.import_module("table")


@pytest.fixture
def schema_url() -> Iterator[str]:
    """A schema of its own in the test database, dropped afterwards."""
    url = os.environ["TEST_DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://", 1)
    name = f"bench_table_{secrets.token_hex(4)}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
    joiner = "&" if "?" in url else "?"
    yield f"{url}{joiner}options={quote(f'-csearch_path={name}')}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(name)))


def test_the_table_has_each_measured_row_with_numbers_and_target(
    table: ModuleType, schema_url: str, tmp_path: Path
) -> None:
    import pyotp

    root_key, secret = secrets.token_bytes(32), pyotp.random_base32()
    app = table.app_for(table._psycopg(schema_url), root_key, tmp_path)
    sample = table.demo_data_set(app, PASSWORD, secret)
    args = argparse.Namespace(
        only=["my day", "add follow-up"], runs=1, clients=1, requests=2, ratio_clients=2, ratio_rounds=1
    )

    results = table.run(args, schema_url, os.environ["TEST_REDIS_URL"], root_key, sample, PASSWORD, secret)
    results.update(scale="demo", counts={"case_file": 12})

    rows = results["rows"]
    assert list(rows) == ["my day", "add follow-up"]
    for name, target in (("my day", 50.0), ("add follow-up", 80.0)):
        assert "error" not in rows[name], rows[name]
        assert rows[name]["requests"] == 2
        assert 0 < rows[name]["p50_ms"] <= rows[name]["p95_ms"]
        assert rows[name]["target_ms"] == target
        assert rows[name]["meets_target"] == (rows[name]["p95_ms"] < target)
    assert results["other"]["peak_rss_mb"]["gunicorn_workers"]

    docs = tmp_path / "benchmarks.md"
    docs.write_text("# Benchmarks\n\nIntro.\n\n## The reference table\n\nold figures\n\n## Statistics\n\nkept\n")
    table.write_docs(table.markdown(results), docs)
    text = docs.read_text()
    assert "old figures" not in text and "## Statistics\n\nkept" in text and text.startswith("# Benchmarks")
    section = text.split("## The reference table", 1)[1].split("## Statistics", 1)[0]
    for name, target in (("my day", "< 50 ms"), ("add follow-up", "< 80 ms")):
        line = next(line for line in section.splitlines() if line.startswith(f"| {name} |"))
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert float(cells[1].replace(",", "")) == round(rows[name]["p50_ms"], 1)
        assert float(cells[2].replace(",", "")) == round(rows[name]["p95_ms"], 1)
        assert cells[3] == target and cells[4] in ("pass", "MISS")
    assert f"{results['machine']['cpus']} CPUs" in section
