"""The members page and a person's points page, as a supervisor and an agent use them."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from tests.conftest import MakeStaff, csrf_from, sign_in
from tests.customers.points_world import at, paid_order
from xiaoer.catalog.models import Product, Sku
from xiaoer.core.db import Database
from xiaoer.customers.models import MemberPrice, PointsMove
from xiaoer.shops.models import Shop


async def _adjust(
    client: httpx.AsyncClient, buyer: int | None, reason: str, token: str
) -> httpx.Response:
    form = {"points": "10", "reason": reason, "csrf_token": token}
    return await client.post(f"/customers/{buyer}/points/adjust", data=form)


async def _tea(db: Database, shop: Shop) -> int:
    async with db.session() as session:
        tea = Product(shop_id=shop.id, code="TEA", title="龙井茶", price_fen=10000)
        session.add(tea)
        await session.flush()
        sku = Sku(shop_id=shop.id, product_id=tea.id, code="TEA-1", price_fen=10000)
        session.add(sku)
        await session.commit()
        return sku.id


async def test_a_supervisor_sets_and_deletes_a_member_price(
    db: Database, shop: Shop, client: httpx.AsyncClient, make_staff: MakeStaff
) -> None:
    sku = await _tea(db, shop)
    await make_staff("boss", "supervisor")
    assert (await sign_in(client, "boss")).status_code == 303
    page = await client.get("/customers/members")
    assert page.status_code == 200
    assert "gold" in page.text and "TEA-1" in page.text
    token = csrf_from(page.text)
    # a price at the list price is refused, shown again with what was typed, nothing kept
    high = await client.post("/customers/members/prices", data={
        "sku_id": str(sku), "level": "gold", "price": "100", "csrf_token": token})  # fmt: skip
    assert high.status_code == 422
    assert "会员价须低于该 SKU 的原价 100.00 元" in high.text
    bad = await client.post("/customers/members/prices", data={
        "sku_id": str(sku), "level": "gold", "price": "八十", "csrf_token": token})  # fmt: skip
    assert bad.status_code == 422 and "八十" in bad.text
    async with db.session() as session:
        assert await session.scalar(select(MemberPrice.sku_id)) is None
    # 80 yuan is kept and shown
    saved = await client.post("/customers/members/prices", data={
        "sku_id": str(sku), "level": "gold", "price": "80", "csrf_token": token})  # fmt: skip
    assert saved.status_code == 303
    assert "80.00" in (await client.get("/customers/members")).text
    gone = await client.post("/customers/members/prices/delete", data={
        "sku_id": str(sku), "level": "gold", "csrf_token": token})  # fmt: skip
    assert gone.status_code == 303
    async with db.session() as session:
        assert await session.scalar(select(MemberPrice.sku_id)) is None


async def test_an_agent_reads_points_and_a_manager_adjusts_them(
    db: Database, shop: Shop, client: httpx.AsyncClient, make_staff: MakeStaff
) -> None:
    async with db.session() as session:
        order = await paid_order(session, shop.id, "PG-1", 150, paid=at("2026-05-01"))
        buyer = order.customer_id
        await session.commit()
    await make_staff("mei", "agent")
    await make_staff("man", "manager")
    await sign_in(client, "mei")
    page = await client.get(f"/customers/{buyer}/points")
    assert page.status_code == 200
    assert "付款获得" in page.text and "+150" in page.text
    assert "adjust-points" not in page.text
    assert (await client.get("/customers/members")).status_code == 403
    token = csrf_from(page.text)
    denied = await _adjust(client, buyer, "补偿", token)
    assert denied.status_code == 403
    await client.post("/logout", data={"csrf_token": token})
    await sign_in(client, "man")
    page = await client.get(f"/customers/{buyer}/points")
    assert "adjust-points" in page.text
    token = csrf_from(page.text)
    blank = await _adjust(client, buyer, " ", token)
    assert blank.status_code == 422 and "请写明调整积分的原因" in blank.text
    done = await _adjust(client, buyer, "物流慢", token)
    assert done.status_code == 303
    async with db.session() as session:
        kinds = list(await session.scalars(select(PointsMove.kind).order_by(PointsMove.id)))
    assert kinds == ["earn", "adjust"]
    assert (await client.get(f"/customers/{buyer + 999}/points")).status_code == 404
