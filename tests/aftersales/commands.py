"""Running the ``xiaoer`` command against the test database."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def _run(database_url: str, args: tuple[str, ...]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "XIAOER_DATABASE_URL": database_url, "PYTHONPATH": str(ROOT / "src")}
    return subprocess.run(
        [sys.executable, "-m", "xiaoer", *args],
        capture_output=True, text=True, env=env, timeout=120, check=True, cwd=ROOT,
    )  # fmt: skip


async def xiaoer(database_url: str, *args: str) -> tuple[dict[str, Any], str]:
    """Run the command (in a worker thread); its last line as JSON, and its stderr."""
    done = await asyncio.to_thread(_run, database_url, args)
    return json.loads(done.stdout.strip().splitlines()[-1]), done.stderr
