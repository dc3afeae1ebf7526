"""The assistant's tests use reception's buyers and online agents."""

import pytest

from tests.conftest import MakeStaff
from tests.reception.conftest import make_agent, make_buyer
from xiaoer.buyers.service import do_get_or_create_customer
from xiaoer.core.db import Database
from xiaoer.reception.service import do_receive_buyer_message, do_set_presence
from xiaoer.shops.models import Shop

__all__ = ["chat", "make_agent", "make_buyer"]


@pytest.fixture
async def chat(db: Database, shop: Shop, make_staff: MakeStaff) -> int:
    """An intermediate agent (may give 5 yuan) online, with a bargaining buyer."""
    agent = await make_staff("lina", "agent", level="intermediate", name="李娜")
    await make_staff("boss", "supervisor", name="王主管")
    async with db.session() as session:
        await do_set_presence(session, agent=agent, status="online")
        buyer = await do_get_or_create_customer(
            session, shop_id=shop.id, channel="widget", buyer_id="w1"
        )
        posted = await do_receive_buyer_message(
            session, shop=shop, customer=buyer, text="能便宜点吗？别家才卖八十"
        )
        await session.commit()
        assert posted.conversation.agent_id == agent.id
        return posted.conversation.id
