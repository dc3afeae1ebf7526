"""The stock service: receipts, adjustments, returns, safety stock, listings, alerts."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from tests.conftest import MakeStaff
from tests.fulfilment.stock_world import Stocked, stocked
from xiaoer.catalog.models import Sku
from xiaoer.core.db import Database
from xiaoer.core.errors import NotFound, NotPermitted
from xiaoer.core.models import Event
from xiaoer.core.policy import parse_policy
from xiaoer.core.policy_store import do_apply_policy
from xiaoer.fulfilment.ledger import Document, Line, StockError, post
from xiaoer.fulfilment.models import MoveKind, StockLevel, StockLocation, StockMove
from xiaoer.fulfilment.stock import (
    Qty,
    default_location,
    do_add_location,
    do_adjust,
    do_receive,
    do_set_safety,
    listed_stock,
    listing_rows,
    location_of,
    parse_lines,
    sku_of,
)
from xiaoer.shops.models import Shop
from xiaoer.shops.service import do_create_shop


async def _level(db: Database, sku: int, place: int) -> tuple[int, int]:
    async with db.session() as session:
        row = await session.scalar(
            select(StockLevel).where(StockLevel.sku_id == sku, StockLevel.location_id == place)
        )
        return (row.on_hand, row.reserved) if row is not None else (0, 0)


async def _stock(db: Database, sku: int) -> int:
    async with db.session() as session:
        found = await session.get(Sku, sku)
        assert found is not None
        return found.stock


async def _events(db: Database, kind: str) -> list[dict[str, object]]:
    async with db.session() as session:
        rows = await session.scalars(select(Event).where(Event.kind == kind).order_by(Event.seq))
        return [row.payload for row in rows]


async def test_a_receipt_of_several_lines_goes_into_the_ledger_with_who_and_why(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    # given
    world = await stocked(db, shop.id, {})
    wu = await make_staff("wu", "warehouse")
    # when
    async with db.session() as session:
        lines = await parse_lines(session, shop.id, "CL-W 6\nCL-G\t2\nCL-W\n")
        receipt = await do_receive(session, wu, location_id=world.main, lines=lines,
                                   number="DN-778", supplier="绍兴织造", note="第一批")  # fmt: skip
        await session.commit()
    # then
    assert await _level(db, world.skus["CL-W"], world.main) == (7, 0)
    assert await _level(db, world.skus["CL-G"], world.main) == (2, 0)
    assert await _stock(db, world.skus["CL-W"]) == 7
    async with db.session() as session:
        moves = list(await session.scalars(select(StockMove).where(StockMove.kind == "receive")))
    assert {(m.document_kind, m.document_id, m.document_ref, m.actor, m.reason) for m in moves} == {
        ("receipt", receipt.id, "DN-778", wu.number, "第一批")
    }
    assert (await _events(db, "stock.received"))[0]["units"] == 9


async def test_typed_lines_with_an_unknown_code_are_refused_with_the_line(
    db: Database, shop: Shop
) -> None:
    await stocked(db, shop.id, {})
    async with db.session() as session:
        with pytest.raises(StockError, match="line 2: no SKU NOPE"):
            await parse_lines(session, shop.id, "CL-W 1\nNOPE 2\n")
        with pytest.raises(StockError, match="line 1: write a SKU code and a quantity"):
            await parse_lines(session, shop.id, "CL-W two\n")


async def test_an_adjustment_needs_a_reason_and_never_goes_below_what_is_reserved(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    world = await stocked(db, shop.id)
    wu = await make_staff("wu", "warehouse")
    sku = world.skus["CL-W"]
    async with db.session() as session:
        await post(session, shop.id, MoveKind.reserve, [Line(sku, world.main, 7)],
                   document=Document("order"))  # fmt: skip
        await session.commit()
    async with db.session() as session:
        with pytest.raises(StockError, match="needs its reason"):
            await do_adjust(session, wu, sku_id=sku, location_id=world.main, delta=-1, reason=" ")
        with pytest.raises(StockError, match="cannot go below what is reserved"):
            await do_adjust(session, wu, sku_id=sku, location_id=world.main, delta=-4,
                            reason="破损报废")  # fmt: skip
        await session.rollback()
    assert await _level(db, sku, world.main) == (10, 7)
    async with db.session() as session:
        move = await do_adjust(session, wu, sku_id=sku, location_id=world.main, delta=-3,
                               reason="破损报废")  # fmt: skip
        await session.commit()
    assert (move.kind, move.on_hand_delta, move.reason) == ("adjust", -3, "破损报废")
    assert await _level(db, sku, world.main) == (7, 7)
    assert await _stock(db, sku) == 0


async def test_listed_stock_is_sellable_stock_less_the_most_specific_safety_stock(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    # given: white 10 at A and 5 at B, 4 of them reserved, 3 broken ones; grey 4; rug 0
    world = await stocked(db, shop.id)
    boss = await make_staff("boss", "manager")
    white, grey, rug = world.skus["CL-W"], world.skus["CL-G"], world.skus["RUG-1"]
    async with db.session() as session:
        await post(session, shop.id, MoveKind.receive, [Line(white, world.annex, 5)],
                   document=Document("receipt"))  # fmt: skip
        await post(session, shop.id, MoveKind.receive, [Line(white, world.broken, 3)],
                   document=Document("receipt"))  # fmt: skip
        await post(session, shop.id, MoveKind.reserve, [Line(white, world.main, 4)],
                   document=Document("order"))  # fmt: skip
        # when: JD holds 5 back, the distributors 0 of white, every channel 1 of grey
        await do_set_safety(session, boss, channel="jd", sku_id=None, quantity=5)
        await do_set_safety(session, boss, channel="distributor", sku_id=white, quantity=0)
        await do_set_safety(session, boss, channel="", sku_id=grey, quantity=1)
        await session.commit()
    async with db.session() as session:
        listed = await listed_stock(session, shop.id, [white, grey, rug])
    # then: sellable white = 10 + 5 - 4 = 11
    assert listed[white] == {"tmall": 8, "taobao": 8, "jd": 6, "distributor": 11, "site": 8}
    assert listed[grey] == {"tmall": 3, "taobao": 3, "jd": 3, "distributor": 3, "site": 3}
    assert listed[rug] == dict.fromkeys(["tmall", "taobao", "jd", "distributor", "site"], 0)
    async with db.session() as session:
        await do_set_safety(session, boss, channel="jd", sku_id=None, quantity=None)
        await session.commit()
        rows = await listing_rows(session, boss, "jd")
    assert rows == [("CL-G", "棉麻窗帘", "颜色：浅灰", 3), ("CL-W", "棉麻窗帘", "颜色：米白", 8),
                    ("RUG-1", "羊毛地毯", "", 0)]  # fmt: skip


async def test_a_channel_outside_the_policy_is_refused(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    await stocked(db, shop.id)
    boss = await make_staff("boss", "manager")
    async with db.session() as session:
        with pytest.raises(StockError, match="no channel pdd"):
            await do_set_safety(session, boss, channel="pdd", sku_id=None, quantity=1)
        with pytest.raises(StockError, match="no channel pdd"):
            await listing_rows(session, boss, "pdd")


async def test_stock_falling_to_the_low_line_raises_one_alert(db: Database, shop: Shop) -> None:
    world = await stocked(db, shop.id)
    async with db.session() as session:
        await do_apply_policy(session, shop_id=shop.id, actor="boss", source="t",
                              policy=parse_policy("[fulfilment]\nlow_stock_at = 6\n"),
                              effective_from=date(2020, 1, 1))  # fmt: skip
        await session.commit()
    white = world.skus["CL-W"]
    async with db.session() as session:
        await post(session, shop.id, MoveKind.reserve, [Line(white, world.main, 3)],
                   document=Document("order"))  # fmt: skip
        assert await session.scalar(select(Event.seq).where(Event.kind == "stock.low")) is None
        await post(session, shop.id, MoveKind.reserve, [Line(white, world.main, 2)],
                   document=Document("order"))  # fmt: skip
        await post(session, shop.id, MoveKind.ship, [Line(white, world.main, 5)],
                   document=Document("shipment"))  # fmt: skip
        await post(session, shop.id, MoveKind.reserve, [Line(white, world.main, 1)],
                   document=Document("order"))  # fmt: skip
        await session.commit()
    assert await _events(db, "stock.low") == [
        {"sku_id": white, "sku_code": "CL-W", "stock": 5, "low_at": 6}
    ]


async def test_the_default_location_is_made_once_when_the_shop_has_none(
    db: Database, shop: Shop
) -> None:
    async with db.session() as session:
        first = await default_location(session, shop.id)
        again = await default_location(session, shop.id)
        await session.commit()
    assert (first.code, first.name, first.kind) == ("main", "主仓", "stock")
    assert again.id == first.id


async def test_a_location_code_is_unique_and_plain(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    wu = await make_staff("wu", "warehouse")
    async with db.session() as session:
        made = await do_add_location(session, wu, code="A-01", name="一号货架", kind="stock")
        with pytest.raises(StockError, match="is taken"):
            await do_add_location(session, wu, code="A-01", name="重复", kind="stock")
        with pytest.raises(StockError, match="location code"):
            await do_add_location(session, wu, code="仓 1", name="中文编码", kind="stock")
        with pytest.raises(StockError, match="stock or for damaged"):
            await do_add_location(session, wu, code="Z", name="别的", kind="virtual")
        await session.commit()
    assert made.code == "A-01"


async def test_who_may_read_and_change_stock(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    world = await stocked(db, shop.id)
    accounts = {role: await make_staff(role, role) for role in
                ("agent", "auditor", "warehouse", "supervisor", "manager", "admin")}  # fmt: skip
    white = world.skus["CL-W"]
    for role, account in accounts.items():
        reads = role in ("auditor", "warehouse", "supervisor", "manager")
        keeps = role in ("warehouse", "supervisor", "manager")
        async with db.session() as session:
            if reads:
                assert (await sku_of(session, account, white)).code == "CL-W"
            else:
                with pytest.raises(NotPermitted):
                    await sku_of(session, account, white)
            if keeps:
                await do_receive(session, account, location_id=world.main, lines=[Qty(white, 1)])
            else:
                with pytest.raises(NotPermitted):
                    await do_receive(session, account, location_id=world.main,
                                     lines=[Qty(white, 1)])  # fmt: skip
            await session.commit()
    assert await _level(db, white, world.main) == (13, 0)  # 10 + one from each keeper


async def test_another_shops_location_sku_and_order_are_not_found(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    async with db.session() as session:
        far = await do_create_shop(session, code="far", name="远方小店")
        await session.commit()
    theirs: Stocked = await stocked(db, far.id)
    mine = await stocked(db, shop.id, {})
    boss = await make_staff("boss", "manager")
    async with db.session() as session:
        with pytest.raises(NotFound):
            await location_of(session, boss, theirs.main)
        with pytest.raises(NotFound):
            await sku_of(session, boss, theirs.skus["CL-W"])
        with pytest.raises(NotFound):
            await do_receive(session, boss, location_id=theirs.main,
                             lines=[Qty(mine.skus["CL-W"], 1)])  # fmt: skip
        with pytest.raises(NotFound):
            await do_receive(session, boss, location_id=mine.main,
                             lines=[Qty(theirs.skus["CL-W"], 1)])  # fmt: skip
        with pytest.raises(NotFound):
            await do_adjust(session, boss, sku_id=theirs.skus["CL-W"], location_id=mine.main,
                            delta=1, reason="x")  # fmt: skip
        places = await session.scalar(select(func.count()).select_from(StockLocation))
    assert places == 6
    assert await _level(db, theirs.skus["CL-W"], theirs.main) == (10, 0)


async def test_rows_the_session_holds_show_what_a_move_wrote(db: Database, shop: Shop) -> None:
    world = await stocked(db, shop.id)
    white = world.skus["CL-W"]
    async with db.session() as session:
        sku = await session.get(Sku, white)
        level = await session.scalar(select(StockLevel).where(StockLevel.sku_id == white))
        assert sku is not None and level is not None and sku.stock == 10
        await post(session, shop.id, MoveKind.reserve, [Line(white, world.main, 4)],
                   document=Document("order"))  # fmt: skip
        assert (sku.stock, level.on_hand, level.reserved) == (6, 10, 4)


async def test_the_ledger_refuses_another_shops_sku_or_place_by_name(
    db: Database, shop: Shop
) -> None:
    async with db.session() as session:
        far = await do_create_shop(session, code="far", name="远方小店")
        await session.commit()
    theirs = await stocked(db, far.id)
    mine = await stocked(db, shop.id)
    async with db.session() as session:
        with pytest.raises(StockError, match="no such SKU"):
            await post(session, shop.id, MoveKind.reserve,
                       [Line(theirs.skus["CL-W"], mine.main, 1)],
                       document=Document("order"))  # fmt: skip
        with pytest.raises(StockError, match="no such stock location"):
            await post(session, shop.id, MoveKind.ship,
                       [Line(mine.skus["CL-W"], theirs.main, 1)],
                       document=Document("shipment"))  # fmt: skip
        with pytest.raises(StockError, match="not enough stock of CL-G to reserve 5"):
            await post(session, shop.id, MoveKind.reserve,
                       [Line(mine.skus["CL-W"], mine.main, 1),
                        Line(mine.skus["CL-G"], mine.main, 5)],
                       document=Document("order"))  # fmt: skip
