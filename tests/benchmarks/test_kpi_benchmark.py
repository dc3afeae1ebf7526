"""``benchmarks/kpi.py`` runs end to end at a tiny scale, checks itself against DuckDB and
prints its figures as one JSON object last.

On SQLite always; on PostgreSQL too when a server is named (``tests/benchmarks``: the
benchmark then creates and drops its own scratch database beside it). Needs the
``bench`` extra (DuckDB): skipped without it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.benchmarks import PG_SERVER

pytest.importorskip("duckdb")
pytestmark = pytest.mark.database_free

ROOT = Path(__file__).resolve().parents[2]
SERVER_URL = PG_SERVER
KEYS = {
    "seconds",
    "ratio_to_duckdb",
    "day_seconds",
    "day_again_seconds",
    "duckdb_seconds",
    "export_seconds",
    "sqlite_seconds",
    "sqlite_rollup_seconds",
    "sqlite_payroll_seconds",
    "sqlite_day_seconds",
    "sqlite_ratio_to_duckdb",
    "sizes",
    "peak_rss_mb",
    "mismatches",
    "ok",
}


def test_kpi_benchmark_at_a_tiny_scale() -> None:
    on_postgres = SERVER_URL.startswith("postgresql")
    command = [
        sys.executable,
        str(ROOT / "benchmarks" / "kpi.py"),
        "--scale", "0.002",
        "--database", "both" if on_postgres else "sqlite",
        "--json",
    ]  # fmt: skip
    if on_postgres:
        command += ["--pg-url", SERVER_URL, "--quarter", "--requests", "3"]
    done = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures.keys() >= KEYS, KEYS - figures.keys()
    assert figures["ok"] is True
    assert figures["mismatches"] == 0
    assert figures["sizes"]["conversation"] == 600
    assert figures["sizes"]["message"] > 5_000
    assert figures["sizes"]["agents"] == 100
    assert figures["duckdb_seconds"] > 0
    assert figures["sqlite_seconds"] > 0
    assert figures["sqlite_payroll_lines"] == 100
    if on_postgres:
        assert figures["seconds"] == figures["pg_seconds"] > 0
        assert figures["ratio_to_duckdb"] > 0
        assert figures["day_seconds"] > 0
        assert figures["pg_kpi_rows"] == figures["sqlite_kpi_rows"]
        # The quarter's page answered per agent, team and shop through HTTP.
        assert figures["earlier_sizes"]["conversation"] > 1_000
        for scope in ("agent", "team", "shop"):
            assert figures["quarter_page_ms"][scope]["p50_ms"] > 0
            assert figures["quarter_page_ms"][scope]["bytes"] > 10_000
    else:
        assert figures["seconds"] is None
