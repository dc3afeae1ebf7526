"""A server restart loses nothing: the widget and the workbench resume from their last id."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import connect

from tests.conftest import MakeStaff, csrf_from, sign_in
from tests.e2e.conftest import start_server
from xiaoer.core.db import Database
from xiaoer.reception.service import do_set_presence
from xiaoer.shops.models import Shop


async def _frames(url: str, count: int, **kwargs: Any) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []
    async with connect(url, **kwargs) as ws:
        async with asyncio.timeout(10):
            while len(got) < count:
                frame = json.loads(await ws.recv())
                if frame["type"] in ("event", "skip"):
                    got.append(frame)
    return got


async def test_widget_and_workbench_resume_after_a_restart(
    database_url: str, tmp_path: Path, db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    agent = await make_staff("lina", "agent", name="李娜")
    async with db.session() as session:
        await do_set_presence(session, agent=agent, status="online")
        await session.commit()
    process, base = start_server(database_url, tmp_path / "first.log")
    host = base.removeprefix("http://")
    try:
        async with httpx.AsyncClient(base_url=base) as http:
            opened = (await http.post("/b/tea/session", json={})).json()
            token = opened["token"]
            await http.post(
                "/b/tea/messages", json={"token": token, "text": "在吗", "client_id": "1"}
            )
            first = await _frames(f"ws://{host}/b/tea/ws?token={token}&after=0", 3)
    finally:
        process.terminate()
        process.wait(timeout=10)
    buyer_cursor = first[-1]["seq"]
    # While no server runs nothing can happen; a new server process takes over.
    process, base = start_server(database_url, tmp_path / "second.log")
    host = base.removeprefix("http://")
    try:
        async with (
            httpx.AsyncClient(base_url=base) as buyer,
            httpx.AsyncClient(base_url=base) as staff,
        ):
            await sign_in(staff, "lina")
            workbench_cursor = (await staff.get("/api/reception/state")).json()["after"]
            await buyer.post(
                "/b/tea/messages", json={"token": token, "text": "想问下尺寸", "client_id": "2"}
            )
            conversation = (await staff.get("/api/reception/state")).json()["conversations"][0]
            token_csrf = csrf_from((await staff.get("/")).text)
            reply = await staff.post(
                f"/api/reception/conversations/{conversation['id']}/messages",
                json={"text": "亲，您要多宽的呢", "client_id": "r"},
                headers={"X-CSRF-Token": token_csrf},
            )
            assert reply.status_code == 200
            resumed = await _frames(f"ws://{host}/b/tea/ws?token={token}&after={buyer_cursor}", 2)
            cookie = "; ".join(f"{k}={v}" for k, v in staff.cookies.items())
            staff_frames = await _frames(
                f"ws://{host}/ws/workbench?after={workbench_cursor}",
                2,
                additional_headers={"Cookie": cookie},
            )
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert [f["seq"] for f in resumed] == [buyer_cursor + 1, buyer_cursor + 2]
    assert [(f["data"]["sender"], f["data"]["text"]) for f in resumed] == [
        ("buyer", "想问下尺寸"),
        ("agent", "亲，您要多宽的呢"),
    ]
    assert [f["seq"] for f in staff_frames] == [workbench_cursor + 1, workbench_cursor + 2]
    assert all(f["kind"] == "message.created" for f in staff_frames)
