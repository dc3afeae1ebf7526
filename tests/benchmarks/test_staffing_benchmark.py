"""``benchmarks/staffing.py`` runs end to end at a tiny scale and every plan checks out."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.database_free


def test_staffing_benchmark_at_a_tiny_scale() -> None:
    command = [sys.executable, str(ROOT / "benchmarks" / "staffing.py"), "--base", "30",
               "--teams", "2"]  # fmt: skip
    done = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures["intervals"] == 192 and figures["failed"] == 0
    assert figures["largest_load"] == 30.0
    assert figures["erlang_c_most_agents"] >= figures["erlang_a_most_agents"] > 0
