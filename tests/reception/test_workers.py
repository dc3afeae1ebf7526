"""`xiaoer serve --workers 2`: one port, two processes; one killed under load loses nothing.

Buyers send over their sockets, each message until it is acknowledged, reconnecting
when their socket drops and sending again what was not acknowledged, as the widget
does. Meanwhile the worker holding the most of their sockets is killed with SIGKILL.
Every message is then stored exactly once, in the order sent, and the buyers whose
socket died went on through the other worker (or the one started in its place).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
from collections import Counter
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.e2e.conftest import start_server
from xiaoer.buyers.models import Customer
from xiaoer.core.db import Database
from xiaoer.reception.models import Conversation, Message
from xiaoer.shops.models import Shop

REDIS_URL = os.environ.get("XIAOER_TEST_REDIS_URL", "")
pytestmark = pytest.mark.skipif(not REDIS_URL, reason="XIAOER_TEST_REDIS_URL is not set")

BUYERS = 16
MESSAGES = 12


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rpartition(")")[2].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in (Path("/proc") / str(pid) / "fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def _server_sides(port: int) -> set[str]:
    """Inodes of the server's ends of connections accepted on ``port``."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if local_port == port and fields[3] == "01":  # ESTABLISHED
                inodes.add(fields[9])
    return inodes


class Buyer:
    def __init__(self, base: str, index: int) -> None:
        self.base = base
        self.index = index
        self.acked: list[int] = []
        self.reconnects = 0
        self.token = ""

    async def _open(self) -> ClientConnection:
        ws = await connect(f"ws://{self.base.removeprefix('http://')}/b/tea/ws")
        await ws.send(json.dumps({"type": "auth", "token": self.token}))
        return ws

    async def run(self, started: asyncio.Event) -> None:
        async with httpx.AsyncClient(base_url=self.base) as http:
            opened = (await http.post("/b/tea/session", json={"nick": f"买家{self.index}"})).json()
        self.token = opened["token"]
        ws = await self._open()
        try:
            for n in range(MESSAGES):
                while True:
                    try:
                        await ws.send(
                            json.dumps({"type": "send", "client_id": f"m{n}", "text": f"第{n}条"})
                        )
                        frame = await self._answer(ws, f"m{n}")
                    except (ConnectionClosed, OSError):
                        self.reconnects += 1
                        await asyncio.sleep(0.2)
                        try:
                            ws = await self._open()
                        except OSError:
                            continue
                        continue
                    if frame["type"] == "ack":
                        self.acked.append(int(frame["message_id"]))
                        break
                    assert frame.get("retry"), frame  # only "try again" may refuse it
                    await asyncio.sleep(0.3)
                if n == 2:
                    started.set()
                await asyncio.sleep(0.15)
        finally:
            await ws.close()

    async def _answer(self, ws: ClientConnection, client_id: str) -> dict[str, object]:
        async with asyncio.timeout(20):
            while True:
                frame = json.loads(await ws.recv())
                if frame.get("type") in ("ack", "error") and frame.get("client_id") == client_id:
                    return frame  # type: ignore[no-any-return]


async def test_a_worker_killed_with_sigkill_loses_no_message(
    database_url: str, tmp_path: Path, db: Database, shop: Shop
) -> None:
    server, base = start_server(
        database_url, tmp_path / "serve.log", "--workers", "2", XIAOER_REDIS_URL=REDIS_URL
    )
    try:
        workers = _children(server.pid)
        workers = [pid for pid in workers if _socket_inodes(pid)]  # not the resource tracker
        assert len(workers) >= 2, workers
        buyers = [Buyer(base, i) for i in range(BUYERS)]
        started = [asyncio.Event() for _ in buyers]
        running = [asyncio.create_task(b.run(s)) for b, s in zip(buyers, started, strict=True)]
        await asyncio.wait_for(asyncio.gather(*(s.wait() for s in started)), 60)
        port = int(base.rsplit(":", 1)[1])
        held = _server_sides(port)
        holding = Counter({pid: len(_socket_inodes(pid) & held) for pid in workers})
        victim, sockets = holding.most_common(1)[0]
        assert sockets > 0, holding
        os.kill(victim, signal.SIGKILL)
        await asyncio.wait_for(asyncio.gather(*running), 120)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
    assert sum(b.reconnects for b in buyers) >= 1  # the kill cut some of them off
    async with db.session() as session:
        for buyer in buyers:
            customer = await session.scalar(
                select(Customer).where(
                    Customer.shop_id == shop.id, Customer.nick == f"买家{buyer.index}"
                )
            )
            assert customer is not None
            rows = list(
                await session.execute(
                    select(Message.id, Message.text)
                    .join(Conversation, Conversation.id == Message.conversation_id)
                    .where(Conversation.customer_id == customer.id, Message.sender == "buyer")
                    .order_by(Message.id)
                )
            )
            assert [text for _, text in rows] == [f"第{n}条" for n in range(MESSAGES)]
            assert [i for i, _ in rows] == buyer.acked
