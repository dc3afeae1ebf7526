"""Two `xiaoer serve` processes share live events through Redis (C1, several processes)."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect

from tests.conftest import MakeStaff, csrf_from, sign_in
from tests.e2e.conftest import start_server
from xiaoer.core.db import Database
from xiaoer.reception.service import do_set_presence
from xiaoer.shops.models import Shop

REDIS_URL = os.environ.get("XIAOER_TEST_REDIS_URL", "")
pytestmark = pytest.mark.skipif(not REDIS_URL, reason="XIAOER_TEST_REDIS_URL is not set")


@pytest.fixture
def two_servers(database_url: str, tmp_path: Path) -> Iterator[tuple[str, str]]:
    first, a = start_server(database_url, tmp_path / "a.log", XIAOER_REDIS_URL=REDIS_URL)
    second, b = start_server(database_url, tmp_path / "b.log", XIAOER_REDIS_URL=REDIS_URL)
    try:
        yield a.removeprefix("http://"), b.removeprefix("http://")
    finally:
        for process in (first, second):
            process.terminate()
            process.wait(timeout=10)


async def _next(ws: object, pred: object) -> dict[str, object]:
    async with asyncio.timeout(10):
        while True:
            frame = json.loads(await ws.recv())  # type: ignore[attr-defined]
            if pred(frame):  # type: ignore[operator]
                return frame  # type: ignore[no-any-return]


async def test_buyer_on_one_process_and_agent_on_the_other(
    two_servers: tuple[str, str], db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    buyer_host, agent_host = two_servers
    agent = await make_staff("lina", "agent", name="李娜")
    async with db.session() as session:
        await do_set_presence(session, agent=agent, status="online")
        await session.commit()
    async with (
        httpx.AsyncClient(base_url=f"http://{buyer_host}") as buyer_http,
        httpx.AsyncClient(base_url=f"http://{agent_host}") as agent_http,
    ):
        opened = (await buyer_http.post("/b/tea/session", json={})).json()
        await sign_in(agent_http, "lina")
        state = (await agent_http.get("/api/reception/state")).json()
        cookie = "; ".join(f"{k}={v}" for k, v in agent_http.cookies.items())
        async with (
            connect(
                f"ws://{buyer_host}/b/tea/ws?token={opened['token']}&after={opened['after']}"
            ) as buyer_ws,
            connect(
                f"ws://{agent_host}/ws/workbench?after={state['after']}",
                additional_headers={"Cookie": cookie},
            ) as agent_ws,
        ):
            await buyer_ws.send(
                json.dumps({"type": "send", "client_id": "x1", "text": "跨进程你好"})
            )
            heard = await _next(
                agent_ws,
                lambda f: f.get("kind") == "message.created" and f["data"]["sender"] == "buyer",
            )
            assert heard["data"]["text"] == "跨进程你好"  # type: ignore[index]
            conversation_id = heard["data"]["conversation_id"]  # type: ignore[index]
            token = csrf_from((await agent_http.get("/")).text)
            sent = await agent_http.post(
                f"/api/reception/conversations/{conversation_id}/messages",
                json={"text": "收到，跨进程回复", "client_id": "y1"},
                headers={"X-CSRF-Token": token},
            )
            assert sent.status_code == 200, sent.text
            answer = await _next(
                buyer_ws,
                lambda f: f.get("kind") == "message.created" and f["data"]["sender"] == "agent",
            )
            assert answer["data"]["text"] == "收到，跨进程回复"  # type: ignore[index]
            assert answer["data"]["agent_name"] == "李娜"  # type: ignore[index]
