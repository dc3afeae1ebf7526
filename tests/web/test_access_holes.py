"""The holes found by trying xiaoer as an attacker, each held by its own test.

(a) another agent's order task: finished through the JSON route, and its message (with
    the receiver's full phone and address) read by its number;
(b) another agent's conversation read through the assistant's suggestions, and another
    team's waiting conversation read through the workbench's JSON route;
(c) the workbench socket carrying colleagues' fines, judged shifts and drafts to a buyer.

Everything here goes through the routes and sockets users reach; the set-up uses only
the shop's own API and the services every release has had.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from websockets.asyncio.client import connect

from tests.conftest import MakeStaff, app_settings, csrf_from, sign_in
from tests.live import serving
from xiaoer.buyers.service import do_get_or_create_customer
from xiaoer.core.broker import get_broker
from xiaoer.core.clock import utcnow
from xiaoer.core.db import Database
from xiaoer.orders.models import Order, OrderTask
from xiaoer.performance.attendance import judge_entry
from xiaoer.performance.models import RosterEntry
from xiaoer.reception.bridge import do_add_bridge_channel
from xiaoer.reception.service import do_receive_buyer_message, do_set_presence
from xiaoer.shops.models import Shop
from xiaoer.staff.models import StaffAccount
from xiaoer.web.app import create_app

PHONE = "13955556666"
ADDRESS = "上海市静安区南京西路1266号恒隆广场"
BUYER_SECRET = "我下周要出国，帮我改地址到我公司"


@pytest.fixture
async def served(db: Database, database_url: str) -> AsyncIterator[str]:
    app = create_app(app_settings(database_url), db=db, broker=get_broker())
    async with serving(app, log_level="warning") as address:
        yield address


async def _csrf(client: httpx.AsyncClient) -> str:
    return csrf_from((await client.get("/")).text)


async def _signed_in(address: str, username: str) -> httpx.AsyncClient:
    client = httpx.AsyncClient(base_url=f"http://{address}")
    assert (await sign_in(client, username)).status_code == 303
    return client


async def _bos_task(db: Database, shop: Shop, address: str) -> int:
    """A paid order of the shop's own site that ``bo`` flagged as his sale: its
    confirmation task is his."""
    async with db.session() as session:
        channel, secret = await do_add_bridge_channel(session, shop_id=shop.id, name="官网")
        await session.commit()
    auth = {"Authorization": f"Bearer {secret}"}
    order = {
        "number": "S-100", "buyer_id": "b-100", "items": [{"title": "窗帘", "price_fen": 9900}],
        "receiver_name": "周先生", "receiver_phone": PHONE, "receiver_address": ADDRESS,
    }  # fmt: skip
    async with httpx.AsyncClient(base_url=f"http://{address}") as site:
        created = await site.post(f"/site/{channel.id}/orders", json=order, headers=auth)
        assert created.status_code == 201, created.text
        async with db.session() as session:
            order_id = await session.scalar(
                select(Order.id).where(Order.platform_order_id == "S-100")
            )
        bo = await _signed_in(address, "bo")
        flagged = await bo.post(f"/orders/{order_id}/flag",
                                data={"flag": "1", "csrf_token": await _csrf(bo)})  # fmt: skip
        assert flagged.status_code == 303, flagged.text
        await bo.aclose()
        paid = await site.post(f"/site/{channel.id}/orders/S-100/pay", json={}, headers=auth)
        assert paid.status_code == 200, paid.text
    async with db.session() as session:
        task = await session.scalar(select(OrderTask).where(OrderTask.order_id == order_id))
        assert task is not None and task.kind == "confirm" and task.status == "open"
        return task.id


async def _task_state(db: Database, task_id: int) -> tuple[str, str]:
    async with db.session() as session:
        task = await session.get(OrderTask, task_id)
        assert task is not None
        return task.status, task.outcome


async def test_a_hole_an_agent_cannot_finish_another_agents_task(
    db: Database, shop: Shop, make_staff: MakeStaff, served: str
) -> None:
    await make_staff("mei", "agent")
    await make_staff("bo", "agent")
    task_id = await _bos_task(db, shop, served)
    mei = await _signed_in(served, "mei")
    finished = await mei.post(f"/api/orders/tasks/{task_id}/finish",
                              json={"outcome": "confirmed_by_phone"},
                              headers={"X-CSRF-Token": await _csrf(mei)})  # fmt: skip
    assert finished.status_code == 403
    assert await _task_state(db, task_id) == ("open", "")
    await mei.aclose()


async def test_a_hole_an_agent_cannot_read_the_contact_in_another_agents_task(
    db: Database, shop: Shop, make_staff: MakeStaff, served: str
) -> None:
    await make_staff("mei", "agent")
    await make_staff("bo", "agent")
    task_id = await _bos_task(db, shop, served)
    mei = await _signed_in(served, "mei")
    preview = await mei.get(f"/api/orders/tasks/{task_id}/message")
    assert preview.status_code == 403
    assert PHONE not in preview.text and ADDRESS not in preview.text
    # Bo, whose task it is, reads it in full.
    bo = await _signed_in(served, "bo")
    mine = await bo.get(f"/api/orders/tasks/{task_id}/message")
    assert mine.status_code == 200 and PHONE in mine.json()["text"]
    await mei.aclose()
    await bo.aclose()


async def _chat(db: Database, shop: Shop, agent: StaffAccount | None, team: str) -> int:
    """A buyer's conversation: routed to ``agent`` (online for it), or left waiting."""
    async with db.session() as session:
        if agent is not None:
            await do_set_presence(session, agent=agent, status="online")
        found = await session.get(Shop, shop.id)
        assert found is not None
        buyer = await do_get_or_create_customer(
            session, shop_id=shop.id, channel="widget", buyer_id=f"w-{team}", nick="小周"
        )
        posted = await do_receive_buyer_message(
            session, shop=found, customer=buyer, text=BUYER_SECRET, team=team
        )
        assert posted.conversation.agent_id == (agent.id if agent else None)
        if agent is not None:
            await do_set_presence(session, agent=agent, status="offline")
        await session.commit()
        return posted.conversation.id


async def test_b_hole_suggestions_do_not_read_another_agents_conversation(
    db: Database, shop: Shop, make_staff: MakeStaff, served: str
) -> None:
    await make_staff("mei", "agent")
    bo = await make_staff("bo", "agent")
    bos_chat = await _chat(db, shop, bo, "presale")
    mei = await _signed_in(served, "mei")
    suggested = await mei.post(
        "/api/assistant/suggestions",
        json={"conversation_id": bos_chat},
        headers={"X-CSRF-Token": await _csrf(mei)},
    )
    assert suggested.status_code == 403 and BUYER_SECRET not in suggested.text
    await mei.aclose()


async def test_b_hole_a_presale_agent_cannot_open_an_aftersale_queued_conversation(
    db: Database, shop: Shop, make_staff: MakeStaff, served: str
) -> None:
    await make_staff("mei", "agent")
    waiting = await _chat(db, shop, None, "aftersale")
    mei = await _signed_in(served, "mei")
    panel = await mei.get(f"/api/reception/conversations/{waiting}")
    assert panel.status_code == 403 and BUYER_SECRET not in panel.text
    await mei.aclose()


async def _events(address: str, client: httpx.AsyncClient) -> list[dict[str, Any]]:
    """The workbench socket's frames from the shop's first event until it is quiet."""
    cookie = "; ".join(f"{name}={value}" for name, value in client.cookies.items())
    frames: list[dict[str, Any]] = []
    async with connect(
        f"ws://{address}/ws/workbench?after=0", additional_headers={"Cookie": cookie}
    ) as ws:
        while True:
            try:
                frames.append(json.loads(await asyncio.wait_for(ws.recv(), 1.0)))
            except TimeoutError:
                return [f for f in frames if f.get("type") == "event"]


async def test_c_hole_the_socket_carries_no_colleagues_fines_shifts_or_drafts(
    db: Database, shop: Shop, make_staff: MakeStaff, served: str
) -> None:
    await make_staff("mei", "agent")
    bo = await make_staff("bo", "agent")
    await make_staff("boss", "supervisor")
    bos_chat = await _chat(db, shop, bo, "presale")
    draft = "亲，给您便宜20块吧"
    bo_client = await _signed_in(served, "bo")
    asked = await bo_client.post(
        "/api/assistant/approvals",
        json={"conversation_id": bos_chat, "text": draft},
        headers={"X-CSRF-Token": await _csrf(bo_client)},
    )
    assert asked.status_code == 200, asked.text
    boss = await _signed_in(served, "boss")
    boss_token = await _csrf(boss)
    fined = await boss.post("/performance/violations", data={
        "agent_id": str(bo.id), "rule": "tracking_neglect", "note": "三天没查件",
        "csrf_token": boss_token,
    })  # fmt: skip
    assert fined.status_code == 303, fined.text
    today = utcnow().date().isoformat()
    rostered = await boss.post("/performance/roster", data={
        "staff_id": str(bo.id), "day": today, "shift": "early", "csrf_token": boss_token,
    })  # fmt: skip
    assert rostered.status_code == 303, rostered.text
    async with db.session() as session:
        entry = await session.scalar(select(RosterEntry).where(RosterEntry.staff_id == bo.id))
        assert entry is not None
        await judge_entry(session, entry, utcnow() + timedelta(days=1))
        await session.commit()
    # The supervisor's socket carries them all; Mei's none of Bo's.
    kinds = {e["kind"] for e in await _events(served, boss)}
    assert {"approval.requested", "violation.added", "roster.judged"} <= kinds
    mei = await _signed_in(served, "mei")
    seen = await _events(served, mei)
    assert seen, "the socket sent nothing at all"
    personal = ("violation.", "roster.", "approval.")
    assert [e for e in seen if e["kind"].startswith(personal)] == []
    assert draft not in json.dumps(seen, ensure_ascii=False)
    assert BUYER_SECRET not in json.dumps(seen, ensure_ascii=False)
    for client in (bo_client, boss, mei):
        await client.aclose()
