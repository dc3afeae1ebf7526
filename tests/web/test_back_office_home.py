"""The auditor's and the warehouse's home pages show their work: the paid orders to
audit and ship with their notes, and the changes made to orders."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import MakeStaff, sign_in
from xiaoer.core.db import Database
from xiaoer.orders.changes import ChangeRequest, do_change_order
from xiaoer.orders.marks import do_flag, do_write_note
from xiaoer.orders.service import load_order
from xiaoer.orders.site_orders import NewItem, NewOrder, do_create_order, do_pay_order
from xiaoer.shops.models import Shop

NOTE = "宽2米 高2.5米 按原图 12月20日发货 自提"


async def _paid_order_with_a_change(db: Database, shop: Shop, make_staff: MakeStaff) -> None:
    agent = await make_staff("mei", "agent", name="小梅")
    async with db.session() as session:
        new = NewOrder(number="BO-7", buyer_id="tea-lover", items=(NewItem("定制窗帘", 50000),),
                       postage_fen=2000, receiver_address="上海市黄浦区1号")  # fmt: skip
        order = await do_create_order(session, shop_id=shop.id, new=new)
        await do_flag(session, order=order, agent=agent, flag=1)
        await session.commit()
        order_id = order.id
    async with db.session() as session:
        order = await load_order(session, shop.id, order_id)
        await do_change_order(
            session, order=order, agent=agent,
            request=ChangeRequest(receiver_address="上海市徐汇区2号", reason="买家搬家"),
        )  # fmt: skip
        await do_pay_order(session, order=order)
        await do_write_note(session, order=order, author=agent, text=NOTE)
        await session.commit()


@pytest.mark.parametrize("role", ["auditor", "warehouse"])
async def test_the_back_office_home_lists_orders_to_ship_and_changes(
    role: str, client: httpx.AsyncClient, db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    await _paid_order_with_a_change(db, shop, make_staff)
    await make_staff("back", role)
    await sign_in(client, "back")
    home = (await client.get("/")).text
    to_ship = home[home.index('id="to-ship"') : home.index('id="changes-made"')]
    assert "BO-7" in to_ship and "tea-lover" in to_ship and NOTE in to_ship
    assert "上海市徐汇区2号" in to_ship
    assert ('href="/orders/' in to_ship) == (role == "warehouse")  # the slip to print
    changes = home[home.index('id="changes-made"') :]
    assert "收货地址：上海市黄浦区1号 → 上海市徐汇区2号" in changes
    assert "小梅" in changes and "已生效" in changes
