"""Presence that tells the truth (C7): an agent whose last workbench page closed is away
after the grace and offline after the policy's minutes; nobody is routed to them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from websockets.asyncio.client import connect

from tests.conftest import MakeStaff, app_settings, sign_in
from tests.live import serving
from xiaoer.buyers.service import do_get_or_create_customer
from xiaoer.core.broker import get_broker
from xiaoer.core.clock import utcnow
from xiaoer.core.db import Database
from xiaoer.core.models import Event, Timer
from xiaoer.core.timers import fire_all_due
from xiaoer.reception import api as reception_api
from xiaoer.reception.models import AgentPresence, Conversation
from xiaoer.reception.presence import watch_everyone_online
from xiaoer.reception.service import do_receive_buyer_message, do_set_presence
from xiaoer.shops.models import Shop
from xiaoer.web.app import create_app


@pytest.fixture
async def live(db: Database, database_url: str) -> AsyncIterator[str]:
    # Sockets look at their session (and stamp the page as open) every 0.1 s here.
    app = create_app(app_settings(database_url, session_check_seconds=0.1), db=db,
                     broker=get_broker())  # fmt: skip
    async with serving(app, log_level="warning") as address:
        yield address


async def _status(db: Database, staff_id: int) -> str:
    async with db.session() as session:
        presence = await session.get(AgentPresence, staff_id)
        assert presence is not None
        return presence.status


async def _page(live: str, cookie: str) -> AsyncIterator[None]:
    async with connect(f"ws://{live}/ws/workbench?after=0",
                       additional_headers={"Cookie": cookie}) as ws:  # fmt: skip
        await asyncio.wait_for(ws.recv(), 5)  # hello
        yield


async def _closing_seen(db: Database, staff_id: int, count: int) -> None:
    """Wait until the server has set ``count`` grace timers for the agent's closed pages."""
    for _ in range(100):
        async with db.session() as session:
            found = await session.scalar(
                select(func.count()).select_from(Timer)
                .where(Timer.kind == "presence.gone", Timer.subject == str(staff_id))
            )  # fmt: skip
        if found and found >= count:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the server did not see the page close")


async def _buyer_routed_to(db: Database, shop: Shop, buyer: str) -> int | None:
    async with db.session() as session:
        customer = await do_get_or_create_customer(
            session, shop_id=shop.id, channel="widget", buyer_id=buyer, nick=buyer
        )
        posted = await do_receive_buyer_message(session, shop=shop, customer=customer, text="在吗")
        await session.commit()
        conversation = await session.get(Conversation, posted.conversation.id)
        assert conversation is not None
        return conversation.agent_id


async def test_the_last_page_closed_makes_the_agent_away_then_offline(
    live: str, db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    lina = await make_staff("lina", "agent", name="李娜")
    async with httpx.AsyncClient(base_url=f"http://{live}") as http:
        await sign_in(http, "lina")
        cookie = "; ".join(f"{k}={v}" for k, v in http.cookies.items())
        first, second = _page(live, cookie), _page(live, cookie)
        await anext(first)
        await anext(second)
        async with db.session() as session:
            await do_set_presence(session, agent=lina, status="online")
            await session.commit()
        await first.aclose()  # one of two pages closes
        await _closing_seen(db, lina.id, 1)
        closed_one = utcnow()
        await asyncio.sleep(0.5)  # the other page stamps itself meanwhile
        await fire_all_due(db, now=closed_one + timedelta(seconds=61))
        assert await _status(db, lina.id) == "online"
        await second.aclose()  # the last page closes
        await _closing_seen(db, lina.id, 2)
        closed = utcnow()
    await fire_all_due(db, now=closed + timedelta(seconds=59))
    assert await _status(db, lina.id) == "online"
    await fire_all_due(db, now=closed + timedelta(seconds=61))
    assert await _status(db, lina.id) == "away"
    assert await _buyer_routed_to(db, shop, "b-1") is None  # queued, told nobody serves
    await fire_all_due(db, now=closed + timedelta(seconds=61, minutes=30))
    assert await _status(db, lina.id) == "offline"


async def test_a_server_that_starts_gives_agents_left_online_the_grace_only(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    """No page open at all (the agent was online when the last server stopped)."""
    wang = await make_staff("wang", "agent", name="王芳")
    async with db.session() as session:
        await do_set_presence(session, agent=wang, status="online")
        await session.commit()
    started = utcnow()
    assert await watch_everyone_online(db, now=started) == 1
    await fire_all_due(db, now=started + timedelta(seconds=61))
    assert await _status(db, wang.id) == "away"
    assert await _buyer_routed_to(db, shop, "b-2") is None


async def test_the_workbench_state_misses_no_change_made_while_it_is_read(
    client: httpx.AsyncClient,
    db: Database,
    shop: Shop,
    make_staff: MakeStaff,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given lina, offline, opening her workbench
    lina = await make_staff("lina", "agent", name="李娜")
    await sign_in(client, "lina")
    real_last_seq = reception_api.last_seq

    async def chosen_meanwhile(session: AsyncSession, shop_id: int, topic: str = "") -> int:
        # when she chooses to be online while the state is being read
        monkeypatch.setattr(reception_api, "last_seq", real_last_seq)
        async with db.session() as other:
            await do_set_presence(other, agent=lina, status="online")
            await other.commit()
        return await real_last_seq(session, shop_id, topic)

    monkeypatch.setattr(reception_api, "last_seq", chosen_meanwhile)
    state = (await client.get("/api/reception/state")).json()
    # then her choice is in the state, or among the events its cursor replays
    async with db.session() as session:
        replayed = await session.scalar(
            select(func.count())
            .select_from(Event)
            .where(
                Event.shop_id == shop.id,
                Event.seq > state["after"],
                Event.kind == "agent.presence",
            )
        )
    assert state["me"]["status"] == "online" or replayed
