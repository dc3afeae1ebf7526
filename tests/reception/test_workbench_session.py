"""An open workbench socket ends when its session does: sign-out, a new password,
a disabled account. A Uvicorn server in the test's loop, a real WebSocket client."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.conftest import MakeStaff, app_settings, csrf_from, sign_in
from tests.live import serving
from xiaoer.core.broker import get_broker
from xiaoer.core.db import Database
from xiaoer.shops.models import Shop
from xiaoer.staff.models import StaffAccount
from xiaoer.staff.service import do_set_active
from xiaoer.web.app import create_app

CHECK_SECONDS = 0.2


@pytest.fixture
async def live(db: Database, database_url: str) -> AsyncIterator[str]:
    settings = app_settings(database_url, session_check_seconds=CHECK_SECONDS)
    app = create_app(settings, db=db, broker=get_broker())
    async with serving(app, log_level="warning") as address:
        yield address


def cookie_of(http: httpx.AsyncClient) -> str:
    return "; ".join(f"{k}={v}" for k, v in http.cookies.items())


async def test_an_open_workbench_socket_closes_when_its_session_signs_out(
    live: str, shop: Shop, make_staff: MakeStaff
) -> None:
    await make_staff("lina", "agent")
    async with httpx.AsyncClient(base_url=f"http://{live}") as http:
        await sign_in(http, "lina")
        cookie = cookie_of(http)
        async with connect(
            f"ws://{live}/ws/workbench?after=0", additional_headers={"Cookie": cookie}
        ) as ws:
            assert json.loads(await ws.recv())["type"] == "hello"
            await asyncio.sleep(CHECK_SECONDS * 3)  # checked, and still signed in
            assert ws.close_code is None
            token = csrf_from((await http.get("/")).text)
            assert (await http.post("/logout", data={"csrf_token": token})).status_code == 303
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(ws.recv(), CHECK_SECONDS * 10)
            assert (ws.close_code, ws.close_reason) == (4401, "signed out")
    with pytest.raises(InvalidStatus, match="HTTP 403"):
        async with connect(
            f"ws://{live}/ws/workbench?after=0", additional_headers={"Cookie": cookie}
        ):
            pass


async def test_an_open_workbench_socket_closes_when_the_account_is_disabled(
    live: str, db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    lina = await make_staff("lina", "agent")
    async with httpx.AsyncClient(base_url=f"http://{live}") as http:
        await sign_in(http, "lina")
        async with connect(
            f"ws://{live}/ws/workbench?after=0", additional_headers={"Cookie": cookie_of(http)}
        ) as ws:
            assert json.loads(await ws.recv())["type"] == "hello"
            async with db.session() as session:
                account = await session.get(StaffAccount, lina.id)
                assert account is not None
                await do_set_active(session, account, False, actor="admin")
                await session.commit()
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(ws.recv(), CHECK_SECONDS * 10)
            assert ws.close_code == 4401


@pytest.fixture
async def slow_check(db: Database, database_url: str) -> AsyncIterator[str]:
    """A server whose sockets check their session only once a minute."""
    settings = app_settings(database_url, session_check_seconds=60)
    app = create_app(settings, db=db, broker=get_broker())
    async with serving(app, log_level="warning") as address:
        yield address


async def test_a_reply_over_the_socket_is_stored_once_and_not_after_sign_out(
    slow_check: str, db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    """The workbench replies over its socket; the session is checked in the transaction
    that would store the reply, not only every minute."""
    from tests.reception.test_conversations import say
    from xiaoer.buyers.service import do_get_or_create_customer
    from xiaoer.reception.models import Message
    from xiaoer.reception.service import do_set_presence

    lina = await make_staff("lina", "agent", name="李娜")
    async with db.session() as session:
        await do_set_presence(session, agent=lina, status="online")
        buyer = await do_get_or_create_customer(
            session, shop_id=shop.id, channel="widget", buyer_id="w1", nick="小鱼"
        )
        await session.commit()
    posted = await say(db, shop, buyer, "在吗")
    cid = posted.conversation.id
    assert posted.conversation.agent_id == lina.id

    async def answer(ws: Any, client_id: str) -> dict[str, Any]:
        async with asyncio.timeout(10):
            while True:
                frame = json.loads(await ws.recv())
                if frame.get("client_id") == client_id:
                    return frame  # type: ignore[no-any-return]

    def send(text: str, client_id: str, conversation: Any = cid) -> str:
        frame = {"type": "send", "conversation_id": conversation, "text": text}
        return json.dumps({**frame, "client_id": client_id})

    async with httpx.AsyncClient(base_url=f"http://{slow_check}") as http:
        await sign_in(http, "lina")
        async with connect(
            f"ws://{slow_check}/ws/workbench?after=0",
            additional_headers={"Cookie": cookie_of(http)},
        ) as ws:
            await ws.send(send("在的亲", "c1"))
            first = await answer(ws, "c1")
            assert first["type"] == "ack" and first["duplicate"] is False
            await ws.send(send("在的亲", "c1"))  # sent again: stored once
            again = await answer(ws, "c1")
            assert again["message_ids"] == first["message_ids"] and again["duplicate"] is True
            await ws.send(send("", "c2"))
            empty = await answer(ws, "c2")
            assert empty["type"] == "error" and empty["message"] == "消息不能为空"
            await ws.send('{"type": "send", "conversation_id": "x", "text": "hi"}')
            token = csrf_from((await http.get("/")).text)
            assert (await http.post("/logout", data={"csrf_token": token})).status_code == 303
            await ws.send(send("还有别的问题吗", "c3"))
            with pytest.raises(ConnectionClosed):
                await answer(ws, "c3")
            assert (ws.close_code, ws.close_reason) == (4401, "signed out")
    async with db.session() as session:
        texts = list(
            await session.scalars(
                select(Message.text).where(
                    Message.conversation_id == cid, Message.sender == "agent"
                )
            )
        )
    assert texts == ["在的亲"]
