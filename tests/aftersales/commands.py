"""Running the ``xiaoer`` command against the test database."""

from __future__ import annotations

import json
import subprocess
from typing import Any

from tests.test_cli import xiaoer as run_command


async def xiaoer(database_url: str, *args: str) -> tuple[dict[str, Any], str]:
    """Run the command; its last line as JSON, and its stderr (it must succeed)."""
    done = run_command(database_url, *args)
    if done.returncode != 0:
        raise subprocess.CalledProcessError(done.returncode, done.args, done.stdout, done.stderr)
    return json.loads(done.stdout.strip().splitlines()[-1]), done.stderr
