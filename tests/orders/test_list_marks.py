"""The orders list's marks on the order row (channel, noted, note_late, reminded,
remind_open, remind_done, recovered, refunded) always say what the buyers, notes,
tasks, credits and refunds say, whatever writes them: the ORM, bulk inserts and updates, deletes, an
import (COPY on PostgreSQL) and its workflow, the demo, and migration 0026's backfill."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

from benchmarks.order_exports import write_sample_export
from sqlalchemy import Table, delete, exists, insert, select, text, update

from tests.conftest import (
    MakeStaff,
    create_scratch_database,
    drop_scratch_database,
    insert_old_shop,
)
from xiaoer.aftersales.models import Refund
from xiaoer.buyers.models import Customer
from xiaoer.core.db import Database
from xiaoer.core.migrate import upgrade_async
from xiaoer.core.timers import fire_all_due
from xiaoer.demo import seed_demo
from xiaoer.orders.models import (
    CreditRole,
    Order,
    OrderTask,
    SalesCredit,
    SellerNote,
    TaskKind,
    TaskStatus,
    TradeStatus,
)
from xiaoer.sellercentre.ingest import import_orders
from xiaoer.shops.models import Shop

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
MARKS = ("channel", "noted", "note_late", "reminded", "remind_open", "remind_done", "recovered",
         "refunded")  # fmt: skip


def _task(kind: TaskKind, *also: Any) -> Any:
    return exists().where(OrderTask.order_id == Order.id, OrderTask.kind == kind.value, *also)


# What each mark must be: the joins and EXISTS the list filtered by before the marks.
TRUTH = (
    select(Customer.channel).where(Customer.id == Order.customer_id).scalar_subquery(),
    exists().where(SellerNote.order_id == Order.id),
    _task(TaskKind.late_note),
    _task(TaskKind.remind),
    _task(TaskKind.remind, OrderTask.status == TaskStatus.open.value),
    _task(TaskKind.remind, OrderTask.status == TaskStatus.done.value),
    exists().where(SalesCredit.order_id == Order.id, SalesCredit.role == CreditRole.assist.value),
    exists().where(Refund.order_id == Order.id),
)


async def marks(db: Database) -> dict[str, tuple[Any, ...]]:
    """order number -> its marks, after checking every one against its truth."""
    kept = [getattr(Order, name) for name in MARKS]
    async with db.session() as session:
        query = select(Order.platform_order_id, *kept, *TRUTH).order_by(Order.platform_order_id)
        rows = (await session.execute(query)).all()
    found: dict[str, tuple[Any, ...]] = {}
    for number, *values in rows:
        stored, truth = values[: len(MARKS)], values[len(MARKS) :]
        truth[0] = truth[0] or ""
        assert [stored[0], *map(bool, stored[1:])] == [truth[0], *map(bool, truth[1:])], number
        found[number] = (
            stored[0],
            *(name for name, v in zip(MARKS[1:], stored[1:], strict=True) if v),
        )
    return found


async def test_the_marks_follow_every_write_of_buyers_notes_tasks_and_credits(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    agent = await make_staff("mei")
    async with db.session() as session:
        taobao = Customer(shop_id=shop.id, channel="taobao", buyer_id="b1", nick="小鹿")
        jd = Customer(shop_id=shop.id, channel="jd", buyer_id="b2", nick="大熊")
        session.add_all([taobao, jd])
        await session.flush()
        orders = {
            number: Order(shop_id=shop.id, platform_order_id=number, customer_id=buyer,
                          status=TradeStatus.WAIT_SELLER_SEND_GOODS.value, total_fen=100,
                          created_at=NOW)
            for number, buyer in (("A", taobao.id), ("B", jd.id), ("C", None))
        }  # fmt: skip
        session.add_all(orders.values())
        await session.commit()
        ids = {number: order.id for number, order in orders.items()}
    assert await marks(db) == {"A": ("taobao",), "B": ("jd",), "C": ("",)}

    async with db.session() as session:  # the ORM, one row at a time
        session.add(SellerNote(shop_id=shop.id, order_id=ids["A"], version=1, text="刘贺"))
        session.add(SalesCredit(shop_id=shop.id, order_id=ids["B"], agent_id=agent.id,
                                role=CreditRole.assist.value, reason="reminder",
                                amount_fen=100, paid_at=NOW))  # fmt: skip
        session.add(OrderTask(shop_id=shop.id, order_id=ids["C"], kind=TaskKind.remind.value))
        await session.commit()
    assert await marks(db) == {
        "A": ("taobao", "noted"), "B": ("jd", "recovered"),
        "C": ("", "reminded", "remind_open"),
    }  # fmt: skip

    async with db.session() as session:  # bulk, as the demo and imports write
        await session.execute(insert(OrderTask), [
            {"shop_id": shop.id, "order_id": ids[n], "kind": kind.value, "status": status.value}
            for n, kind, status in (("A", TaskKind.late_note, TaskStatus.open),
                                    ("B", TaskKind.remind, TaskStatus.done),
                                    ("B", TaskKind.confirm, TaskStatus.open))
        ])  # fmt: skip
        await session.execute(insert(SellerNote), [
            {"shop_id": shop.id, "order_id": ids[n], "version": v, "text": "王芳"}
            for n, v in (("A", 2), ("C", 1))
        ])  # fmt: skip
        await session.commit()
    assert await marks(db) == {
        "A": ("taobao", "noted", "note_late"),
        "B": ("jd", "reminded", "remind_done", "recovered"),
        "C": ("", "noted", "reminded", "remind_open"),
    }

    async with db.session() as session:  # a task done, then cancelled; one by one, in bulk
        task = await session.scalar(select(OrderTask).where(OrderTask.order_id == ids["C"]))
        assert task is not None
        task.status = TaskStatus.done.value
        await session.commit()
    assert (await marks(db))["C"] == ("", "noted", "reminded", "remind_done")
    async with db.session() as session:
        await session.execute(
            update(OrderTask)
            .where(OrderTask.kind == TaskKind.remind.value)
            .values(status=TaskStatus.cancelled.value)
        )
        await session.commit()
    found = await marks(db)
    assert found["B"] == ("jd", "reminded", "recovered")
    assert found["C"] == ("", "noted", "reminded")

    async with db.session() as session:  # deletes
        await session.execute(delete(SellerNote).where(SellerNote.order_id == ids["C"]))
        await session.execute(delete(SalesCredit))
        await session.execute(delete(OrderTask).where(OrderTask.kind == TaskKind.late_note.value))
        await session.commit()
    assert await marks(db) == {
        "A": ("taobao", "noted"), "B": ("jd", "reminded"), "C": ("", "reminded"),
    }  # fmt: skip

    async with db.session() as session:  # refunds, after-sales' table
        session.add(Refund(shop_id=shop.id, order_id=ids["B"], kind="refund_only", amount_fen=50))
        await session.execute(insert(Refund), [
            {"shop_id": shop.id, "order_id": ids["C"], "kind": "refund_only", "amount_fen": 20}
        ])  # fmt: skip
        await session.commit()
    found = await marks(db)
    assert (found["B"], found["C"]) == (
        ("jd", "reminded", "refunded"),
        ("", "reminded", "refunded"),
    )
    async with db.session() as session:
        await session.execute(delete(Refund).where(Refund.order_id == ids["B"]))
        await session.commit()
    assert (await marks(db))["B"] == ("jd", "reminded")

    async with db.session() as session:  # the buyers: a channel, a move, a buyer gone
        await session.execute(update(Customer).where(Customer.id == taobao.id)
                              .values(channel="tmall"))  # fmt: skip
        await session.execute(update(Order).where(Order.id == ids["C"])
                              .values(customer_id=jd.id))  # fmt: skip
        await session.commit()
    assert [v[0] for v in (await marks(db)).values()] == ["tmall", "jd", "jd"]
    async with db.session() as session:
        await session.execute(delete(Customer).where(Customer.id == jd.id))
        await session.commit()
    assert [v[0] for v in (await marks(db)).values()] == ["tmall", "", ""]


async def test_an_import_and_its_workflow_keep_the_marks(
    db: Database, shop: Shop, tmp_path: Path
) -> None:
    start = datetime.now(UTC) - timedelta(days=29)  # its last days in the workflow
    order_list, item_list = write_sample_export(tmp_path, 300, seed=3, start=start)
    await import_orders(db, shop.id, order_list, item_list)
    found = await marks(db)
    assert len(found) == 300
    channels = {v[0] for v in found.values()}
    assert channels and "" not in channels
    # The workflow's timers then open the late-note tasks of the paid orders unnoted.
    await fire_all_due(db, now=datetime.now(UTC) + timedelta(days=3), limit=1000)
    found = await marks(db)
    assert sum("note_late" in v for v in found.values()) > 10


async def test_the_demo_keeps_the_marks(tmp_path: Path) -> None:
    url = create_scratch_database(tmp_path, "marks")
    database = Database(url)
    try:
        await upgrade_async(url)
        await seed_demo(database, seed=7, now=NOW)
        found = await marks(database)
        for name in MARKS[1:]:
            assert any(name in v for v in found.values()), name
    finally:
        await database.dispose()
        drop_scratch_database(url)


async def test_migration_0026_marks_the_orders_already_stored(tmp_path: Path) -> None:
    url = create_scratch_database(tmp_path, "backfill")
    database = Database(url)
    try:
        await upgrade_async(url, "0025")
        async with database.session() as session:  # the tables as 0025 left them
            shop_id = await insert_old_shop(session, "old", "老店")
            buyer_id = await session.scalar(  # the buyer's columns of 0025
                text(
                    "INSERT INTO customer (shop_id, channel, buyer_id, nick, name, phone, city, "
                    "gender, tags, created_at) VALUES (:shop, 'jd', 'b', 'n', '', '', '', '', "
                    "'[]', :at) RETURNING id"
                ),
                {"shop": shop_id, "at": NOW},
            )
            table = cast(Table, Order.__table__)
            stored = [c.name for c in table.columns if c.name not in MARKS]
            for number, customer in (("A", buyer_id), ("B", None)):
                await session.execute(
                    insert(table).values(shop_id=shop_id, platform_order_id=number,
                                         customer_id=customer, created_at=NOW),
                    execution_options={"columns": stored},
                )  # fmt: skip
            a, b = await session.scalars(select(table.c.id).order_by(table.c.platform_order_id))
            session.add(SellerNote(shop_id=shop_id, order_id=a, version=1, text="刘贺"))
            session.add(OrderTask(shop_id=shop_id, order_id=b, kind=TaskKind.remind.value,
                                  status=TaskStatus.done.value, created_at=NOW,
                                  done_at=NOW + timedelta(hours=1)))  # fmt: skip
            await session.commit()
        await upgrade_async(url)
        assert await marks(database) == {"A": ("jd", "noted"), "B": ("", "reminded",
                                                                    "remind_done")}  # fmt: skip
    finally:
        await database.dispose()
        drop_scratch_database(url)
