"""``benchmarks/stock.py`` runs end to end at a tiny scale: orders reserved and shipped
by concurrent clients, none oversold, the ledger equal to its projections.

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


def test_stock_benchmark_at_a_tiny_scale() -> None:
    command = [
        sys.executable, str(ROOT / "benchmarks" / "stock.py"), "--skus", "300",
        "--moves", "6000", "--hot", "5", "--clients", "2", "--seconds", "2",
        "--pg-url", SERVER_URL, "--json",
    ]  # fmt: skip
    done = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures["skus"] == 300 and figures["moves"] >= 6000
    assert figures["orders"] > 0
    assert (figures["oversold"], figures["negative"], figures["drift"]) == (0, 0, 0)
    assert figures["rebuild_s"] > 0 and figures["group_by_s"] > 0
