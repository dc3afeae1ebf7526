"""Reception fixtures: agents online, buyers, a fixed afternoon in Shanghai."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import pytest

from tests.conftest import MakeStaff
from xiaoer.buyers.models import Customer
from xiaoer.buyers.service import do_get_or_create_customer
from xiaoer.core.db import Database
from xiaoer.reception.service import do_set_presence
from xiaoer.shops.models import Shop
from xiaoer.staff.models import StaffAccount

AFTERNOON = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)  # 14:00 in Shanghai
NIGHT = datetime(2026, 11, 23, 19, 0, tzinfo=UTC)  # 03:00 in Shanghai

MakeBuyer = Callable[..., Awaitable[Customer]]
MakeAgent = Callable[..., Awaitable[StaffAccount]]


@pytest.fixture
def make_buyer(db: Database, shop: Shop) -> MakeBuyer:
    async def make(buyer_id: str, nick: str = "") -> Customer:
        async with db.session() as session:
            customer = await do_get_or_create_customer(
                session, shop_id=shop.id, channel="widget", buyer_id=buyer_id, nick=nick
            )
            await session.commit()
            return customer

    return make


@pytest.fixture
def make_agent(db: Database, make_staff: MakeStaff) -> MakeAgent:
    async def make(
        username: str,
        *roles: str,
        team: str = "presale",
        online: bool = True,
        name: str = "",
        at: datetime = AFTERNOON,
    ) -> StaffAccount:
        agent = await make_staff(username, *(roles or ("agent",)), team=team, name=name)
        if online:
            async with db.session() as session:
                await do_set_presence(session, agent=agent, status="online", now=at)
                await session.commit()
        return agent

    return make
