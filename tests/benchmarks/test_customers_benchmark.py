"""``benchmarks/customers.py`` runs end to end at a tiny scale: the customer base filled,
its stats refreshed, every case asked bare (and through HTTP where the route is built),
and its figures printed as one JSON object last.

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


def test_customers_benchmark_at_a_tiny_scale() -> None:
    command = [
        sys.executable, str(ROOT / "benchmarks" / "customers.py"), "--customers", "1500",
        "--requests", "2", "--pg-url", SERVER_URL, "--json",
    ]  # fmt: skip
    done = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    counts = figures["fill"]["counts"]
    assert counts["customer"] == 1500
    # One buyer in 12.5 is merged into another (not among the first 25 rows), a few erased.
    assert 1500 - counts["persons"] in range(100, 130)
    assert counts["paid_orders"] > 1500 and counts["message"] > 0
    assert figures["build"]["stats_rows"] >= counts["persons"]  # and the erased ones
    bare = figures["bare"]
    assert bare["group hand-picked 5,000"]["set"] == f"{counts['persons']:,}"
    for label, case in bare.items():
        assert "timed_out" not in case, label
        assert case["p95_ms"] > 0, label
    assert figures["http"]["reference /healthz"]["p95_ms"] > 0
    reference = figures["plans"]["reference"]
    assert 0 < reference["accepting"] < counts["persons"]
    assert "target p95 < 200" in done.stdout
