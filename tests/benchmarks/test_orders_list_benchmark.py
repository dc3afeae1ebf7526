"""``benchmarks/orders_list.py`` runs end to end at a tiny scale and prints its figures
as one JSON object last: every filter and search answered, with the set it found.

PostgreSQL only (the benchmark's database): skipped unless a server is named
(``tests/benchmarks``), beside which the benchmark creates and drops its scratch database.
"""

from __future__ import annotations

import json
import subprocess
import sys

from tests.benchmarks import ON_POSTGRES, PG_SERVER, ROOT

SERVER_URL = PG_SERVER

pytestmark = ON_POSTGRES


def test_orders_list_benchmark_at_a_tiny_scale() -> None:
    command = [
        sys.executable, str(ROOT / "benchmarks" / "orders_list.py"),
        "--orders", "3000", "--requests", "3", "--pg-url", SERVER_URL, "--json",
    ]  # fmt: skip
    done = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures["orders"] == 3000
    queries = figures["queries"]
    assert queries["everything"]["set"] == "3000"
    assert int(queries["status finished (70 %)"]["set"]) == 2100
    assert int(queries["agent none"]["set"]) == 600  # one in five unflagged
    assert queries["search order number"]["set"] == "1"
    for label, query in queries.items():
        assert query["p95_ms"] > 0 and query["sum_p95_ms"] > 0, label
        assert query["set"].isdigit(), label
    assert "target p95 < 150" in done.stdout
