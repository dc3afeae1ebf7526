"""Typing speed (C8) counts the characters typed by hand: a pasted answer is not typing.

Replies go as the workbench sends them, over its socket and over HTTP, to a Uvicorn
server in the test's loop."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from websockets.asyncio.client import connect

from tests.conftest import MakeStaff, app_settings, csrf_from, sign_in
from tests.live import serving
from xiaoer.buyers.service import do_get_or_create_customer
from xiaoer.core.broker import get_broker
from xiaoer.core.db import Database
from xiaoer.reception.models import Message
from xiaoer.reception.service import do_set_presence
from xiaoer.shops.models import Shop
from xiaoer.web.app import create_app

PASTED = "亲，这款茶叶是今年明前采摘的龙井，" * 3  # 51 characters, pasted


@pytest.fixture
async def live(db: Database, database_url: str) -> AsyncIterator[str]:
    app = create_app(app_settings(database_url), db=db, broker=get_broker())
    async with serving(app, log_level="warning") as address:
        yield address


async def _speeds(db: Database, conversation_id: int) -> dict[str, Any]:
    async with db.session() as session:
        rows = await session.execute(
            select(Message.text, Message.meta).where(
                Message.conversation_id == conversation_id, Message.sender == "agent"
            )
        )
        return {text: meta.get("chars_per_minute") for text, meta in rows.all()}


async def test_pasted_text_does_not_count_as_typing(
    live: str, db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    from tests.reception.test_conversations import say

    # given: an agent with a buyer waiting
    lina = await make_staff("lina", "agent", name="李娜")
    async with db.session() as session:
        await do_set_presence(session, agent=lina, status="online")
        buyer = await do_get_or_create_customer(
            session, shop_id=shop.id, channel="widget", buyer_id="w1", nick="小鱼"
        )
        await session.commit()
    cid = (await say(db, shop, buyer, "这茶是新茶吗？")).conversation.id

    async with httpx.AsyncClient(base_url=f"http://{live}") as http:
        await sign_in(http, "lina")
        cookie = "; ".join(f"{k}={v}" for k, v in http.cookies.items())
        # when: a pasted answer with four characters typed in 2 s goes over the socket
        async with connect(
            f"ws://{live}/ws/workbench?after=0", additional_headers={"Cookie": cookie}
        ) as ws:
            frame = {"type": "send", "conversation_id": cid, "client_id": "p1", "text": PASTED}
            await ws.send(json.dumps({**frame, "typing_ms": 2000, "typed_chars": 4}))
            async with asyncio.timeout(10):
                while (answer := json.loads(await ws.recv())).get("client_id") != "p1":
                    pass
            assert answer["type"] == "ack", answer
        # and: over HTTP, an answer typed in full, and one made only of a pasted phrase
        csrf = {"X-CSRF-Token": csrf_from((await http.get("/")).text)}
        url = f"/api/reception/conversations/{cid}/messages"
        typed = {"text": "好的亲", "typing_ms": 3000, "typed_chars": 3}
        assert (await http.post(url, json=typed, headers=csrf)).status_code == 200
        phrase = {"text": "亲，欢迎光临", "typing_ms": 500, "typed_chars": 0}
        assert (await http.post(url, json=phrase, headers=csrf)).status_code == 200
        # an older client that does not count: the whole text was typed
        old = {"text": "稍等", "typing_ms": 1000}
        assert (await http.post(url, json=old, headers=csrf)).status_code == 200

    # then: the speed is what was typed by hand, not 1,530 字/分
    assert await _speeds(db, cid) == {PASTED: 120, "好的亲": 60, "亲，欢迎光临": None, "稍等": 120}
