"""The benchmarks run end to end at a tiny scale, each on a scratch database of its own.

They touch no database of the test run (``database_free``), so the pass on SQLite runs
them, PostgreSQL included: ``XIAOER_TEST_PG_SERVER`` (set by ``scripts/test``) or else a
PostgreSQL ``XIAOER_TEST_DATABASE_URL`` names the server beside which they create and
drop their databases. The PostgreSQL-only ones are skipped when neither names one.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

_RUN_URL = os.environ.get("XIAOER_TEST_DATABASE_URL", "")
PG_SERVER = os.environ.get("XIAOER_TEST_PG_SERVER", "") or (
    _RUN_URL if _RUN_URL.startswith("postgresql") else ""
)

ROOT = Path(__file__).resolve().parents[2]

# The marks of a benchmark that runs on PostgreSQL only.
ON_POSTGRES = [
    pytest.mark.database_free,
    pytest.mark.skipif(not PG_SERVER, reason="the benchmark runs on PostgreSQL"),
]
