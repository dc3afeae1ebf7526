"""A real ``xiaoer serve`` process and Debian's Chromium driven by Playwright."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, async_playwright

from tests.conftest import create_scratch_database, drop_scratch_database
from xiaoer.core.migrate import upgrade

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(
    database_url: str, log: Path, *args: str, **env: str
) -> tuple[subprocess.Popen[bytes], str]:
    """``xiaoer serve`` on a free port (``args`` added to its command), once it is ready."""
    port = free_port()
    command = [sys.executable, "-m", "xiaoer", "serve", "--host", "127.0.0.1", "--port", str(port)]
    process = subprocess.Popen(
        [*command, *args],
        env={
            **os.environ,
            "XIAOER_DATABASE_URL": database_url,
            "XIAOER_SECRET_KEY": "e2e-secret-key-0123456789",
            # Tests set the clock of deadlines themselves; a timer loop in the server
            # would fire them against the shared test database at the real time.
            "XIAOER_RUN_TIMERS": "false",
            **env,
        },
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    # Up once /healthz answers and the assistant has trained its classifier.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {log.read_text()}")
        try:
            health = httpx.get(f"{base}/healthz", timeout=1)
            if health.status_code == 200 and health.json()["assistant"] == "ready":
                return process, base
            time.sleep(0.2)
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"server was not ready within 60 s: {log.read_text()}")


@pytest.fixture
def scratch_url(tmp_path: Path) -> Iterator[str]:
    """A scratch database of its own, migrated, for a test that seeds the demo in it."""
    url = create_scratch_database(tmp_path, "e2e")
    upgrade(url)
    yield url
    drop_scratch_database(url)


@pytest.fixture(scope="session")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("server") / "serve.log"
    process, base = start_server(database_url, log)
    yield base
    process.terminate()
    process.wait(timeout=10)


def _chromium_installed() -> bool:
    return Path(CHROMIUM).exists()


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    if not _chromium_installed():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        yield launched
        await launched.close()
