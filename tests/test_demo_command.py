"""`xiaoer demo` and `xiaoer seed-demo` as a new user runs them."""

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import create_scratch_database, drop_scratch_database
from tests.e2e.conftest import free_port


def test_demo_creates_the_shop_prints_the_logins_and_serves(tmp_path: Path) -> None:
    port = free_port()
    db = tmp_path / "demo.sqlite"
    log = tmp_path / "demo.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("XIAOER_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "xiaoer", "demo", "--port", str(port), "--db", str(db)],
        env={**env, "COLUMNS": "200"},
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        assert health.json()["database"] == "sqlite"
        login = httpx.get(f"http://127.0.0.1:{port}/login")
        assert '<html lang="zh-CN">' in login.text and "用户名" in login.text
        printed = log.read_text("utf-8")
        assert "Demo logins" in printed and "xiaoer-demo" in printed
        for username in ("agent", "supervisor", "manager", "auditor", "warehouse", "admin"):
            assert f" {username} " in printed
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert db.exists()


def _without_xiaoer_settings() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("XIAOER_")}


def test_demo_beyond_this_machine_refuses_the_shipped_secret_key(tmp_path: Path) -> None:
    db = tmp_path / "demo.sqlite"
    port = free_port()
    done = subprocess.run(
        [sys.executable, "-m", "xiaoer", "demo", "--host", "0.0.0.0", "--port", str(port),
         "--db", str(db)],
        env={**_without_xiaoer_settings(), "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=60,
    )  # fmt: skip
    assert done.returncode == 1
    assert "the demo listens on 0.0.0.0, beyond this machine, but XIAOER_SECRET_KEY" in done.stderr
    assert "or listen on 127.0.0.1" in done.stderr
    assert not db.exists()  # refused before anything was made
    assert done.stdout == ""


def test_demo_beyond_this_machine_serves_with_a_secret_key_of_its_own(tmp_path: Path) -> None:
    port = free_port()
    db = tmp_path / "demo.sqlite"
    log = tmp_path / "demo.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "xiaoer", "demo", "--host", "0.0.0.0", "--port", str(port),
         "--db", str(db)],
        env={**_without_xiaoer_settings(), "COLUMNS": "200",
             "XIAOER_SECRET_KEY": "a-demo-key-of-its-own-0123456789"},
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        assert health.json()["status"] == "ok"
        assert f"xiaoer demo shop at http://0.0.0.0:{port}/" in log.read_text("utf-8")
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_seed_demo_fills_the_named_database(tmp_path: Path) -> None:
    url = create_scratch_database(tmp_path, "seed")
    try:
        env = {**os.environ, "XIAOER_DATABASE_URL": url, "COLUMNS": "200"}
        seeded = subprocess.run(
            [sys.executable, "-m", "xiaoer", "seed-demo"],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert seeded.returncode == 0, seeded.stderr
        assert "300 customers" in seeded.stdout
        listed = subprocess.run(
            [sys.executable, "-m", "xiaoer", "shop", "list", "--json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        shops = json.loads(listed.stdout)
        assert [s["code"] for s in shops] == ["demo"]
        again = subprocess.run(
            [sys.executable, "-m", "xiaoer", "seed-demo"],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert again.returncode == 0
        assert "exists already" in again.stdout
        asyncio.run(_the_assistant_in_the_demo(url))
    finally:
        drop_scratch_database(url)


async def _the_assistant_in_the_demo(url: str) -> None:
    """The demo answers a comparing bargainer and stops its junior agent's 20-yuan cut."""
    from sqlalchemy import select

    from xiaoer.assistant.approvals import findings_for
    from xiaoer.assistant.knowledge import suggest
    from xiaoer.core.db import Database
    from xiaoer.core.policy_store import policy_on
    from xiaoer.shops.service import shop_by_code
    from xiaoer.staff.models import StaffAccount

    db = Database(url)
    try:
        async with db.session() as session:
            shop = await shop_by_code(session, "demo")
            assert shop is not None
            found = await suggest(
                session,
                shop=shop,
                policy=await policy_on(session, shop.id),
                text="能便宜点吗？别家才卖八十",
            )
            assert (found.classification.intent, found.classification.bargain_type) == (
                "bargain",
                "compare",
            )
            assert found.suggestions[0].bargain_type == "compare"
            agent = await session.scalar(
                select(StaffAccount).where(StaffAccount.username == "agent")
            )
            assert agent is not None
            findings = await findings_for(
                session, shop_id=shop.id, level=agent.level, text="亲，给您便宜20块吧"
            )
            assert [f.code for f in findings if f.severity == "block"] == ["beyond_authority"]
    finally:
        await db.dispose()
