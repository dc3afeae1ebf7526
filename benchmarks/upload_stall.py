"""Does a large spreadsheet upload stall everyone else? ``/healthz`` during imports.

Starts the demo shop (``xiaoer demo``, SQLite, one process) on a free port, signs in
as its manager and uploads workbooks of about ``--megabytes`` MB each while another
task asks ``/healthz`` every 20 ms: quick phrases that are all refused (reading the
file, nothing stored), knowledge entries, and quick phrases that are all stored.
Printed: ``/healthz`` latency p50 / p99 / max while idle (the reference, same run)
and during the uploads, and how long each upload took. The target: the worst
``/healthz`` during an upload stays under 250 ms (a workbook parsed on the event
loop held it for about 3 s per MB).

    python benchmarks/upload_stall.py
    python benchmarks/upload_stall.py --megabytes 2 --chars 20 --json
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import random
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from openpyxl import Workbook

TARGET_MS = 250.0
XIAOER = str(Path(sys.executable).parent / "xiaoer")  # the command installed beside Python


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _workbook(headers: tuple[str, ...], row: Any, megabytes: float, chars: int) -> bytes:
    """A workbook of rows ``row(i, text)`` of about ``megabytes`` MB: random Chinese
    text, which compresses as little as real answers do."""
    rng = random.Random(7)
    book = Workbook()
    sheet = book.active
    sheet.append(headers)
    for i in range(max(100, int(megabytes * 2400 * 150 / (chars + 25)))):
        text = "".join(chr(rng.randrange(0x4E00, 0x9FA5)) for _ in range(chars))
        sheet.append(row(i, text))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _ms(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "n": len(ordered),
        "p50_ms": round(statistics.median(ordered) * 1000, 1),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 1),
        "max_ms": round(ordered[-1] * 1000, 1),
    }


async def _poll(client: httpx.AsyncClient, stop: asyncio.Event, into: list[float]) -> None:
    while not stop.is_set():
        started = time.perf_counter()
        answer = await client.get("/healthz")
        answer.raise_for_status()
        into.append(time.perf_counter() - started)
        await asyncio.sleep(0.02)


async def _run(base: str, megabytes: float, chars: int) -> dict[str, Any]:
    async with (
        httpx.AsyncClient(base_url=base, timeout=120) as probe,
        httpx.AsyncClient(base_url=base, timeout=120) as staff,
    ):
        page = await staff.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token, "no sign-in form"
        signed = await staff.post(
            "/login",
            data={"username": "manager", "password": "xiaoer-demo", "csrf_token": token[1]},
        )
        assert signed.status_code == 303, signed.text[:300]
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', (await staff.get("/")).text)
        assert csrf
        knowledge = _workbook(
            ("意图", "标题", "回答"),
            lambda i, text: ("product_info", f"问题{i}", text),
            megabytes,
            chars,
        )
        phrases = _workbook(
            ("分组", "快捷编码", "内容"), lambda i, text: ("常用", f"k{i}", text), megabytes, chars
        )
        # Every row lacks its shortcut: the file is read and each row refused, nothing
        # is written, so this isolates reading the workbook from storing its rows.
        unstored = _workbook(
            ("分组", "快捷编码", "内容"), lambda i, text: ("常用", "", text), megabytes, chars
        )

        idle: list[float] = []
        stop = asyncio.Event()
        poller = asyncio.create_task(_poll(probe, stop, idle))
        await asyncio.sleep(3)
        stop.set()
        await poller

        figures: dict[str, Any] = {"idle": _ms(idle)}
        uploads = [
            ("read only", "/reception/phrases/import", {"scope": "shop"}, unstored),
            ("knowledge", "/assistant/knowledge/import", {}, knowledge),
            ("phrases", "/reception/phrases/import", {"scope": "shop"}, phrases),
        ]
        for name, url, extra, data in uploads:
            during: list[float] = []
            stop = asyncio.Event()
            poller = asyncio.create_task(_poll(probe, stop, during))
            await asyncio.sleep(0.2)
            started = time.perf_counter()
            answer = await staff.post(
                url,
                files={"file": (f"{name}.xlsx", data, "application/octet-stream")},
                data={"csrf_token": csrf[1], **extra},
            )
            seconds = time.perf_counter() - started
            await asyncio.sleep(0.2)
            stop.set()
            await poller
            figures[name] = {
                "status": answer.status_code,
                "file_mb": round(len(data) / 1e6, 2),
                "upload_seconds": round(seconds, 2),
                "healthz": _ms(during),
                "max_to_idle_max": round(
                    _ms(during)["max_ms"] / max(figures["idle"]["max_ms"], 0.1), 1
                ),
            }
        worst = max(figures[name]["healthz"]["max_ms"] for name, *_ in uploads)
        figures["worst_healthz_ms"] = worst
        figures["target_ms"] = TARGET_MS
        figures["ok"] = worst < TARGET_MS
        return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=float, default=1.0)
    parser.add_argument(
        "--chars", type=int, default=150, help="characters in each row's text (fewer: more rows)"
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    port = _free_port()
    with tempfile.TemporaryDirectory() as folder:
        env_db = Path(folder) / "demo.sqlite"
        server = subprocess.Popen(
            [XIAOER, "demo", "--port", str(port), "--db", str(env_db)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=folder,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 120
            while True:
                try:
                    if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("the demo server did not start")
                time.sleep(0.2)
            figures = asyncio.run(_run(base, args.megabytes, args.chars))
        finally:
            server.terminate()
            server.wait(30)
    if args.json:
        print(json.dumps(figures))
        return
    idle = figures["idle"]
    print(
        f"/healthz idle:   p50 {idle['p50_ms']} ms  p99 {idle['p99_ms']} ms"
        + f"  max {idle['max_ms']} ms"
    )
    for name in ("read only", "knowledge", "phrases"):
        f = figures[name]
        h = f["healthz"]
        print(
            f"{name:10} {f['file_mb']} MB in {f['upload_seconds']} s (HTTP {f['status']}): "
            f"/healthz p50 {h['p50_ms']} ms  p99 {h['p99_ms']} ms  max {h['max_ms']} ms "
            f"({f['max_to_idle_max']}x idle max)"
        )
    verdict = "within" if figures["ok"] else "OVER"
    print(
        f"worst /healthz during uploads: {figures['worst_healthz_ms']} ms, {verdict} {TARGET_MS} ms"
    )


if __name__ == "__main__":
    main()
