"""Returns into stock: the warehouse receives what buyers send back (F2)."""

from __future__ import annotations

import asyncio
import io
from dataclasses import dataclass

import httpx
import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from tests.conftest import MakeStaff, csrf_from, sign_in
from xiaoer.aftersales.models import Refund
from xiaoer.aftersales.refund_states import GoodsStatus, Move, RefundKind, RefundStatus
from xiaoer.aftersales.refunds import do_move_refund, do_open_refund
from xiaoer.catalog.models import Product, Sku
from xiaoer.core.db import Database
from xiaoer.core.errors import NotFound, NotPermitted
from xiaoer.core.models import AuditEntry, Event
from xiaoer.fulfilment.ledger import Document, Line, post
from xiaoer.fulfilment.models import LocationKind, MoveKind, StockLevel, StockLocation, StockMove
from xiaoer.fulfilment.returns import (
    ReceiveLine,
    ReturnError,
    ReturnFilter,
    do_receive_return,
    return_for,
    returns_of,
)
from xiaoer.orders.models import Order, OrderItem
from xiaoer.orders.site_orders import NewItem, NewOrder, do_create_order, do_pay_order
from xiaoer.shops.models import Shop
from xiaoer.shops.service import do_create_shop
from xiaoer.staff.models import StaffAccount


@dataclass
class Setting:
    white: int  # SKU P1-W
    grey: int  # SKU P1-G
    main: int  # the sellable location
    refund: int
    items: list[int]  # the order's items: 2 × P1-W, 1 × an unknown code
    order: int


async def _people(make_staff: MakeStaff) -> dict[str, StaffAccount]:
    return {
        "wu": await make_staff("wu", "warehouse"),
        "cai": await make_staff("cai", team="aftersale"),
        "sup": await make_staff("sup", "supervisor"),
        "aud": await make_staff("aud", "auditor"),
        "mei": await make_staff("mei"),
    }


async def _catalog(db: Database, shop: Shop) -> tuple[int, int, int]:
    async with db.session() as session:
        product = Product(shop_id=shop.id, code="P1", title="棉麻窗帘", price_fen=9900)
        session.add(product)
        await session.flush()
        white = Sku(shop_id=shop.id, product_id=product.id, code="P1-W", price_fen=9900, stock=0)
        grey = Sku(shop_id=shop.id, product_id=product.id, code="P1-G", price_fen=9900, stock=0)
        main = StockLocation(shop_id=shop.id, code="A", name="一号仓", position=1)
        session.add_all([white, grey, main])
        await session.flush()
        await post(session, shop.id, MoveKind.receive, [Line(white.id, main.id, 5)],
                   document=Document("receipt", ref="R-1"))  # fmt: skip
        await session.commit()
        return white.id, grey.id, main.id


async def _return(
    db: Database,
    shop: Shop,
    people: dict[str, StaffAccount],
    number: str,
    *,
    sent: bool = True,
    kind: RefundKind = RefundKind.return_refund,
) -> tuple[int, int, list[int]]:
    """A paid order and its refund, agreed, the goods sent back when ``sent``."""
    async with db.session() as session:
        new = NewOrder(
            number=number, buyer_id=f"b-{number}", buyer_nick=f"nick-{number}",
            items=(NewItem("棉麻窗帘", 9900, 2, sku_code="P1-W", sku_text="颜色：白"),
                   NewItem("旧款窗帘", 5000, 1, sku_code="OLD-9")),
        )  # fmt: skip
        order = await do_create_order(session, shop_id=shop.id, new=new)
        await do_pay_order(session, order=order)
        await session.flush()
        refund = await do_open_refund(
            session, people["cai"], order_id=order.id, kind=kind, amount_fen=24800,
            reason="不喜欢",
        )  # fmt: skip
        await do_move_refund(session, people["sup"], refund.id, Move.agree)
        if sent:
            await do_move_refund(session, people["cai"], refund.id, Move.send_back,
                                 waybill="YT1234567890123", carrier="圆通")  # fmt: skip
        items = list(await session.scalars(
            select(OrderItem.id).where(OrderItem.order_id == order.id).order_by(OrderItem.id)
        ))  # fmt: skip
        await session.commit()
        return order.id, refund.id, items


async def _setting(db: Database, shop: Shop, people: dict[str, StaffAccount]) -> Setting:
    white, grey, main = await _catalog(db, shop)
    order, refund, items = await _return(db, shop, people, "R-100")
    return Setting(white, grey, main, refund, items, order)


async def _receive(
    db: Database, staff: StaffAccount, refund_id: int, lines: list[ReceiveLine],
    confirm: bool = True,
) -> tuple[int, bool, bool]:  # fmt: skip
    async with db.session() as session:
        done = await do_receive_return(session, staff, refund_id, lines, confirm=confirm)
        await session.commit()
        return len(done.moves), done.posted, done.confirmed


async def _level(db: Database, sku_id: int, location_id: int) -> tuple[int, int]:
    async with db.session() as session:
        level = await session.scalar(
            select(StockLevel).where(
                StockLevel.sku_id == sku_id, StockLevel.location_id == location_id
            )
        )
        sku = await session.get(Sku, sku_id)
        assert sku is not None
        return (level.on_hand if level else 0), sku.stock


async def _moves(db: Database) -> int:
    async with db.session() as session:
        return int(await session.scalar(
            select(func.count()).select_from(StockMove).where(StockMove.kind == "return")
        ) or 0)  # fmt: skip


def _lines(s: Setting) -> list[ReceiveLine]:
    return [
        ReceiveLine(s.items[0], 2, "stock"),
        ReceiveLine(s.items[1], 1, "damaged", sku_code="P1-G"),
    ]


async def test_a_return_goes_back_to_stock_and_to_damaged_and_the_refund_goes_on(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    people = await _people(make_staff)
    s = await _setting(db, shop, people)
    assert await _level(db, s.white, s.main) == (5, 5)
    assert await _receive(db, people["wu"], s.refund, _lines(s)) == (2, True, True)
    assert await _level(db, s.white, s.main) == (7, 7)  # back on sale
    async with db.session() as session:
        damaged = await session.scalar(
            select(StockLocation).where(StockLocation.kind == LocationKind.damaged.value)
        )
        assert damaged is not None and (damaged.code, damaged.name) == ("damaged", "残次区")
        moves = list(await session.scalars(select(StockMove).where(StockMove.kind == "return")))
        refund = await session.get(Refund, s.refund)
        order = await session.get(Order, s.order)
        audit = await session.scalar(
            select(AuditEntry).where(AuditEntry.action == "goods received")
        )
        event = await session.scalar(select(Event).where(Event.kind == "return.received"))
    assert await _level(db, s.grey, damaged.id) == (1, 0)  # kept, never for sale
    assert {(m.sku_id, m.location_id, m.on_hand_delta) for m in moves} == {
        (s.white, s.main, 2), (s.grey, damaged.id, 1),
    }  # fmt: skip
    assert all(
        (m.document_kind, m.document_id, m.document_ref, m.order_id, m.actor_id)
        == ("return", s.refund, str(s.refund), s.order, people["wu"].id)
        for m in moves
    )
    assert refund is not None and refund.status == RefundStatus.SUCCESS.value
    assert refund.goods == GoodsStatus.SELLER_RECEIVED.value
    assert order is not None and order.refunded_fen == 24800
    assert audit is not None and audit.after == {"order": "R-100", "sellable": 2, "damaged": 1}
    assert event is not None and event.payload["refund_id"] == s.refund


async def test_receiving_the_same_return_twice_posts_nothing_twice(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    people = await _people(make_staff)
    s = await _setting(db, shop, people)
    await _receive(db, people["wu"], s.refund, _lines(s))
    again = await _receive(db, people["sup"], s.refund, _lines(s))
    assert again == (2, False, False)  # the first receipt's moves, nothing new
    assert await _moves(db) == 2
    assert await _level(db, s.white, s.main) == (7, 7)


async def test_an_unknown_sku_needs_a_person_s_choice(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    people = await _people(make_staff)
    s = await _setting(db, shop, people)
    async with db.session() as session:
        pending = await return_for(session, people["wu"], s.refund)
    assert [(line.sku_code, line.sku_id) for line in pending.lines] == [
        ("P1-W", s.white), ("OLD-9", None),
    ]  # fmt: skip
    assert pending.unknown
    unchosen = [ReceiveLine(s.items[0], 2), ReceiveLine(s.items[1], 1)]
    with pytest.raises(ReturnError, match="choose the SKU"):
        await _receive(db, people["wu"], s.refund, unchosen)
    wrong = [ReceiveLine(s.items[1], 1, sku_code="NOPE")]
    with pytest.raises(ReturnError, match="no SKU NOPE"):
        await _receive(db, people["wu"], s.refund, wrong)
    over = [ReceiveLine(s.items[0], 3)]
    with pytest.raises(ReturnError, match="between 0 and 2"):
        await _receive(db, people["wu"], s.refund, over)
    with pytest.raises(ReturnError, match="how many"):
        await _receive(db, people["wu"], s.refund, [ReceiveLine(s.items[0], 0)])
    assert await _moves(db) == 0
    # Only the known line came back: it is received, the other is left.
    assert await _receive(db, people["wu"], s.refund, [ReceiveLine(s.items[0], 1)]) == (
        1, True, True,
    )  # fmt: skip


async def test_a_parcel_before_the_buyer_s_waybill_is_received_without_confirming(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    people = await _people(make_staff)
    await _catalog(db, shop)
    _, refund_id, items = await _return(db, shop, people, "R-200", sent=False)
    done = await _receive(db, people["wu"], refund_id, [ReceiveLine(items[0], 2)])
    assert done == (1, True, False)
    async with db.session() as session:
        refund = await session.get(Refund, refund_id)
    assert refund is not None and refund.status == RefundStatus.WAIT_BUYER_RETURN_GOODS.value


async def test_who_may_receive_a_return(db: Database, shop: Shop, make_staff: MakeStaff) -> None:
    people = await _people(make_staff)
    s = await _setting(db, shop, people)
    for name in ("cai", "mei", "aud"):
        with pytest.raises(NotPermitted):
            await _receive(db, people[name], s.refund, _lines(s))
        async with db.session() as session:
            with pytest.raises(NotPermitted):
                await returns_of(session, people[name], ReturnFilter())
    assert await _moves(db) == 0
    async with db.session() as session:
        far = await do_create_shop(session, code="far", name="远方小店")
        await session.commit()
    async with db.session() as session:
        far_refund = Refund(
            shop_id=far.id,
            order_id=s.order,
            kind="return_refund",
            status=RefundStatus.WAIT_SELLER_CONFIRM_GOODS.value,
            amount_fen=1,
        )
        session.add(far_refund)
        await session.commit()
    for name in ("wu", "sup"):
        with pytest.raises(NotFound):
            await _receive(db, people[name], far_refund.id, _lines(s))
    _, money_only, _ = await _return(
        db, shop, people, "R-300", sent=False, kind=RefundKind.refund_only
    )
    with pytest.raises(NotFound):
        await _receive(db, people["wu"], money_only, _lines(s))
    assert await _moves(db) == 0
    assert await _receive(db, people["sup"], s.refund, _lines(s)) == (2, True, True)


async def test_the_returns_screen_lists_filters_exports_and_receives(
    db: Database, shop: Shop, make_staff: MakeStaff, client: httpx.AsyncClient
) -> None:
    people = await _people(make_staff)
    s = await _setting(db, shop, people)
    await _return(db, shop, people, "R-400", sent=False)
    await sign_in(client, "wu")
    listed = await client.get("/fulfilment/returns")
    assert listed.status_code == 200
    assert "R-100" in listed.text and "R-400" in listed.text and "YT1234567890123" in listed.text
    assert "SKU 未知" in listed.text
    scanned = await client.get("/fulfilment/returns", params={"q": "YT1234567890123"})
    assert scanned.status_code == 303  # one found: its receiving form
    assert scanned.headers["location"] == f"/fulfilment/returns/{s.refund}"
    by_nick = await client.get("/fulfilment/returns", params={"q": "nick-R-400", "state": "all"})
    assert by_nick.headers["location"] != f"/fulfilment/returns/{s.refund}"
    nothing = await client.get("/fulfilment/returns", params={"q": "NOPE"})
    assert nothing.status_code == 200 and "R-100" not in nothing.text
    sheet = await client.get("/fulfilment/returns/export.xlsx", params={"q": "R-100"})
    assert sheet.status_code == 200
    rows = list(load_workbook(io.BytesIO(sheet.content)).active.iter_rows(values_only=True))
    assert len(rows) == 2 and rows[1][1] == "R-100"
    page = await client.get(f"/fulfilment/returns/{s.refund}")
    assert page.status_code == 200 and "旧款窗帘" in page.text
    form = {"csrf_token": csrf_from(page.text), f"qty_{s.items[0]}": "2",
            f"to_{s.items[0]}": "stock", f"qty_{s.items[1]}": "1",
            f"to_{s.items[1]}": "damaged", "confirm": "1"}  # fmt: skip
    refused = await client.post(f"/fulfilment/returns/{s.refund}/receive", data=form)
    assert refused.status_code == 422 and "请为「旧款窗帘」选择入库的 SKU" in refused.text
    assert await _moves(db) == 0
    form[f"sku_{s.items[1]}"] = "P1-G"
    done = await client.post(f"/fulfilment/returns/{s.refund}/receive", data=form)
    assert done.status_code == 303 and done.headers["location"].endswith("done=confirmed")
    again = await client.post(f"/fulfilment/returns/{s.refund}/receive", data=form)
    assert again.headers["location"].endswith("done=again")
    assert await _moves(db) == 2
    waiting = await client.get("/fulfilment/returns")
    assert "R-100" not in waiting.text
    received = await client.get("/fulfilment/returns", params={"state": "received"})
    assert "R-100" in received.text
    assert (await client.get(f"/fulfilment/returns/{s.refund + 999}")).status_code == 404


async def test_the_returns_screen_is_the_warehouse_s(
    db: Database, shop: Shop, make_staff: MakeStaff, client: httpx.AsyncClient
) -> None:
    people = await _people(make_staff)
    s = await _setting(db, shop, people)
    await sign_in(client, "cai")
    assert (await client.get("/fulfilment/returns")).status_code == 403
    assert (await client.get(f"/fulfilment/returns/{s.refund}")).status_code == 403
    token = csrf_from((await client.get("/")).text)
    posted = await client.post(
        f"/fulfilment/returns/{s.refund}/receive",
        data={"csrf_token": token, f"qty_{s.items[0]}": "2"},
    )
    assert posted.status_code == 403
    assert await _moves(db) == 0


async def test_the_warehouse_confirms_goods_and_makes_no_other_refund_move(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    people = await _people(make_staff)
    await _catalog(db, shop)
    _, refund_id, _ = await _return(db, shop, people, "R-500", sent=False)
    async with db.session() as session:
        with pytest.raises(NotPermitted):
            await do_move_refund(session, people["wu"], refund_id, Move.withdraw)
        refund = await session.get(Refund, refund_id)
    assert refund is not None and refund.status == RefundStatus.WAIT_BUYER_RETURN_GOODS.value


async def test_four_workers_receiving_one_return_at_once_post_it_once(
    db: Database, shop: Shop, make_staff: MakeStaff, on_postgres: bool
) -> None:
    if not on_postgres:
        pytest.skip("SQLite has one writer at a time: there is no race to lose")
    people = await _people(make_staff)
    s = await _setting(db, shop, people)
    start = asyncio.Event()

    async def worker() -> bool:
        async with db.session() as session:
            await start.wait()
            done = await do_receive_return(session, people["wu"], s.refund, _lines(s))
            await asyncio.sleep(0.05)  # hold the refund's lock while the others queue
            await session.commit()
            return done.posted

    tasks = [asyncio.create_task(worker()) for _ in range(4)]
    await asyncio.sleep(0.05)
    start.set()
    assert sorted(await asyncio.gather(*tasks)) == [False, False, False, True]
    assert await _moves(db) == 2
    assert await _level(db, s.white, s.main) == (7, 7)
