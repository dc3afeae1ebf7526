"""Regenerate docs/images/agent-home.png: the demo shop's agent home page in Chromium.

.venv/bin/python scripts/screenshot.py
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
PORT = 8765
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "xiaoer",
                "demo",
                "--port",
                str(PORT),
                "--db",
                str(Path(tmp) / "demo.sqlite"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            for _ in range(600):
                try:
                    httpx.get(f"http://127.0.0.1:{PORT}/healthz", timeout=1)
                    break
                except httpx.HTTPError:
                    time.sleep(0.1)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
                page = browser.new_page(viewport={"width": 1200, "height": 720})
                page.goto(f"http://127.0.0.1:{PORT}/login")
                page.get_by_label("用户名").fill("agent")
                page.get_by_label("密码").fill("xiaoer-demo")
                page.get_by_role("button", name="登录").click()
                page.wait_for_selector("#agent-home")
                out = ROOT / "docs" / "images" / "agent-home.png"
                page.screenshot(path=str(out), full_page=True)
                browser.close()
                print(f"wrote {out}")
        finally:
            server.terminate()
            server.wait(timeout=10)


if __name__ == "__main__":
    main()
