"""How long `xiaoer demo` takes to answer on a fresh machine (target: 30 s).

Measures, in one run: a fresh start (create the SQLite file, migrate, seed the
demo shop, serve) until `/healthz` answers and `/login` shows the Chinese page;
a restart on the existing file; and, as the reference, a bare Uvicorn server
with one route started the same way. Prints the figures and the ratios.

    python benchmarks/demo_start.py [--json]
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

TARGET_SECONDS = 30.0
BARE_APP = """
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
import uvicorn, sys
app = Starlette(routes=[Route("/healthz", lambda r: PlainTextResponse("ok"))])
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
"""


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _time_until_ready(command: list[str], port: int, check_login: bool) -> float:
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{command} exited with {process.returncode}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.05)
        if check_login:
            page = httpx.get(f"http://127.0.0.1:{port}/login", timeout=5)
            if "用户名" not in page.text:
                raise RuntimeError("the login page is not the Chinese one")
        return time.perf_counter() - started
    finally:
        process.terminate()
        process.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", action="store_true", help="print one JSON object last")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "demo.sqlite"
        xiaoer = [sys.executable, "-m", "xiaoer", "demo", "--db", str(db), "--port"]
        port = _port()
        fresh = _time_until_ready([*xiaoer, str(port)], port, check_login=True)
        port = _port()
        restart = _time_until_ready([*xiaoer, str(port)], port, check_login=True)
        port = _port()
        bare = _time_until_ready([sys.executable, "-c", BARE_APP, str(port)], port, False)
    figures = {
        "fresh_start_s": round(fresh, 2),
        "restart_s": round(restart, 2),
        "bare_uvicorn_s": round(bare, 2),
        "fresh_ratio_to_bare": round(fresh / bare, 1),
        "restart_ratio_to_bare": round(restart / bare, 1),
        "target_s": TARGET_SECONDS,
        "meets_target": fresh <= TARGET_SECONDS,
    }
    print(f"fresh demo start (create, migrate, seed, serve): {fresh:6.2f} s")
    print(f"restart on the existing file:                   {restart:6.2f} s")
    print(f"reference: bare Uvicorn with one route:         {bare:6.2f} s")
    print(f"ratios to the reference: fresh {fresh / bare:.1f}x, restart {restart / bare:.1f}x")
    print(f"target {TARGET_SECONDS:.0f} s: {'met' if fresh <= TARGET_SECONDS else 'MISSED'}")
    if args.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
