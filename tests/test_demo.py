"""The demo shop generator: contents, consistency, determinism, refusal to seed twice."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from tests.conftest import create_scratch_database, drop_scratch_database, empty_all_tables
from xiaoer.aftersales.models import Refund, Review, Ticket
from xiaoer.buyers.models import Customer
from xiaoer.catalog.models import Product, Promotion, PromotionKind, Sku
from xiaoer.core.auth import verify_password
from xiaoer.core.db import Database
from xiaoer.core.migrate import upgrade_async
from xiaoer.core.models import Event
from xiaoer.customers.models import (
    Campaign,
    CampaignCall,
    CustomerGroup,
    CustomerGroupMember,
    CustomerStats,
    MemberPrice,
    OnlineProfile,
    PointsBalance,
)
from xiaoer.demo import (
    DEMO_LOGINS,
    DEMO_PASSWORD,
    DEMO_SHOP_CODE,
    DemoSummary,
    demo_exists,
    seed_demo,
)
from xiaoer.orders.models import (
    PAID_STATUSES,
    Order,
    OrderItem,
    OrderTask,
    SalesCredit,
    SellerNote,
    TaskKind,
    TradeStatus,
)
from xiaoer.orders.tasks import open_tasks
from xiaoer.peakday.forecast import intervals_of
from xiaoer.peakday.models import Forecast, PeakMode
from xiaoer.performance.models import KpiDay, KpiScope, RosterEntry, RosterStatus, Violation
from xiaoer.reception.models import (
    Conversation,
    ConversationStatus,
    Message,
    PresenceLog,
    PresenceStatus,
    ResponseRound,
    Sender,
)
from xiaoer.reception.service import OUTCOMES
from xiaoer.shops.models import Shop
from xiaoer.staff.models import Level, Role, StaffAccount, Team

NOW = datetime(2026, 3, 14, 6, 30, 15, tzinfo=UTC)  # 14:30 in Shanghai
SEED = 2026
SHANGHAI = ZoneInfo("Asia/Shanghai")
SHIPPED = {
    TradeStatus.SELLER_CONSIGNED_PART,
    TradeStatus.WAIT_BUYER_CONFIRM_GOODS,
    TradeStatus.TRADE_BUYER_SIGNED,
    TradeStatus.TRADE_FINISHED,
}


@dataclass(frozen=True)
class Seeded:
    db: Database
    summary: DemoSummary


@pytest.fixture(scope="module")
async def demo(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Seeded]:
    """A database of its own with the demo shop seeded at NOW, shared by the read-only tests."""
    url = create_scratch_database(tmp_path_factory.mktemp("demo"), "demo")
    await upgrade_async(url)
    database = Database(url)
    try:
        yield Seeded(database, await seed_demo(database, seed=SEED, now=NOW))
    finally:
        await database.dispose()
        drop_scratch_database(url)


async def _all(db: Database, model: Any) -> list[Any]:
    async with db.session() as session:
        query = select(model)
        if model is Order:
            query = query.options(selectinload(Order.items))
        if model is Product:
            query = query.options(selectinload(Product.skus))
        key = model.id if hasattr(model, "id") else next(iter(model.__table__.primary_key))
        return list(await session.scalars(query.order_by(key)))


async def _count(db: Database, model: Any) -> int:
    async with db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_summary_matches_the_rows(demo: Seeded) -> None:
    db, seeded = demo.db, demo.summary
    assert seeded.shop_code == DEMO_SHOP_CODE == "demo"
    assert 28 <= seeded.products <= 34
    assert seeded.promotions == 2
    assert seeded.staff == 8
    assert seeded.customers == 300
    assert 1000 <= seeded.orders <= 2000
    assert seeded.order_items > seeded.orders
    assert await _count(db, Product) == seeded.products
    assert await _count(db, Sku) == seeded.skus
    assert await _count(db, Promotion) == 2
    assert await _count(db, StaffAccount) == 8
    assert await _count(db, Customer) == 300
    assert await _count(db, Order) == seeded.orders
    assert await _count(db, OrderItem) == seeded.order_items
    assert 600 <= seeded.conversations <= 45 * 30
    assert seeded.conversations * 2 <= seeded.messages < 10_000
    assert await _count(db, Conversation) == seeded.conversations + seeded.peak_conversations
    assert await _count(db, Message) == seeded.messages + seeded.peak_messages
    assert await _count(db, RosterEntry) == seeded.roster_entries > 0
    async with db.session() as session:
        shop = await session.scalar(select(Shop).where(Shop.code == "demo"))
    assert shop is not None
    assert shop.name.strip() and shop.platform == "taobao"
    assert shop.timezone == "Asia/Shanghai" and shop.default_courier == "顺丰"
    assert await demo_exists(db)


async def test_demo_exists_is_false_on_an_empty_database(db: Database) -> None:
    assert not await demo_exists(db)


async def test_catalogue(demo: Seeded) -> None:
    db, seeded = demo.db, demo.summary
    products: list[Product] = await _all(db, Product)
    skus = [s for p in products for s in p.skus]
    assert len({p.code for p in products}) == len(products)
    assert len({s.code for s in skus}) == len(skus) == seeded.skus
    for product in products:
        assert 2 <= len(product.skus) <= 6, product.code
        assert product.price_fen == min(s.price_fen for s in product.skus)
        assert re.search(r"[\u4e00-\u9fff]", product.title) and product.description
        for sku in product.skus:
            assert sku.attributes and all(isinstance(v, str) for v in sku.attributes.values())
            assert 100 <= sku.price_fen <= 100_000
            assert sku.stock >= 0
    assert {"窗帘", "纱帘", "百叶帘", "卷帘", "罗马杆", "轨道", "抱枕", "桌布", "地毯"} <= {
        p.category for p in products
    }
    assert any(p.custom_made for p in products) and not all(p.custom_made for p in products)
    assert sum(1 for s in skus if s.stock == 0) >= 3
    assert sum(1 for s in skus if 1 <= s.stock <= 3) >= 3
    # Curtains are priced by size: the wider, the dearer.
    curtain = next(p for p in products if p.code == "CL-101")
    by_size = {s.attributes["尺寸"]: s.price_fen for s in curtain.skus}
    assert by_size["宽2米*高2.7米"] < by_size["宽3米*高2.7米"]
    assert curtain.skus[0].attribute_text == "颜色分类：米白;尺寸：宽2米*高2.7米"


async def test_two_promotions_run_now(demo: Seeded) -> None:
    db = demo.db
    promotions: list[Promotion] = await _all(db, Promotion)
    assert sorted(p.kind for p in promotions) == sorted(
        [PromotionKind.full_reduction.value, PromotionKind.coupon.value]
    )
    for promotion in promotions:
        assert promotion.starts_at < NOW < promotion.ends_at
        assert 0 < promotion.discount_fen < promotion.threshold_fen
        assert promotion.name and len(promotion.description) > 10
    full = next(p for p in promotions if p.kind == "full_reduction")
    assert (full.threshold_fen, full.discount_fen) == (30000, 3000)


async def test_staff_cover_every_level_team_and_role(demo: Seeded) -> None:
    db = demo.db
    staff: list[StaffAccount] = await _all(db, StaffAccount)
    assert {a.level for a in staff} == {lv.value for lv in Level}
    assert {a.team for a in staff} == {t.value for t in Team}
    assert {r for a in staff for r in a.roles} == {r.value for r in Role}
    assert sorted(a.number for a in staff) == [str(n) for n in range(1001, 1009)]
    by_name = {a.username: a for a in staff}
    assert list(by_name) == [login.username for login in DEMO_LOGINS]
    first = DEMO_LOGINS[0]
    assert first.username == "agent" and first.team == "presale"
    assert first.level in {"junior", "intermediate"} and first.roles == ("agent",)
    supervisor = by_name["supervisor"]
    assert supervisor.level == "senior" and set(supervisor.roles) == {"agent", "supervisor"}
    for login in DEMO_LOGINS:
        account = by_name[login.username]
        assert (account.name, account.level, account.team) == (login.name, login.level, login.team)
        assert tuple(account.roles) == login.roles
        assert account.hired_on is not None and account.hired_on < NOW
        assert verify_password(account.password_hash, DEMO_PASSWORD)
        assert not verify_password(account.password_hash, "wrong-password")


async def test_customers(demo: Seeded) -> None:
    db = demo.db
    customers: list[Customer] = await _all(db, Customer)
    assert len(customers) == 300
    assert all(c.channel == "taobao" and c.buyer_id == c.nick and c.nick for c in customers)
    assert len({c.buyer_id for c in customers}) == 300
    phones = [c.phone for c in customers]
    assert all(re.fullmatch(r"1[3-9]\d{9}", p) for p in phones)
    assert len(set(phones)) == 300
    assert all(re.fullmatch(r"[\u4e00-\u9fff]{2,3}", c.name) for c in customers)
    assert all(c.city and not c.city.endswith("市") for c in customers)
    assert 60 < sum(c.birth_month is not None for c in customers) < 240
    assert 10 < sum(c.birth_lunar for c in customers) < 80
    assert {c.gender for c in customers} == {"female", "male", ""}
    tags = Counter(t for c in customers for t in c.tags)
    assert set(tags) == {"老客", "大客户", "爱砍价"}
    assert tags["老客"] >= 5 and tags["大客户"] >= 3 and tags["爱砍价"] >= 5
    assert all(c.created_at < NOW - timedelta(days=60) for c in customers)


async def test_the_customer_file(demo: Seeded) -> None:
    db = demo.db
    stats: list[CustomerStats] = await _all(db, CustomerStats)
    assert len(stats) == 300  # every buyer is a person of their own
    levels = Counter(s.level for s in stats)
    assert levels["member"] > 10 and levels[""] > 10  # repeat buyers became members
    assert 50 < len(await _all(db, OnlineProfile)) <= 300
    groups = {g.name: g for g in await _all(db, CustomerGroup)}
    assert set(groups) == {"90天内复购两次", "累计消费满500元", "半年未回购", "年度好客户"}
    assert len(await _all(db, CustomerGroupMember)) == 12
    (campaign,) = await _all(db, Campaign)
    calls: list[CampaignCall] = await _all(db, CampaignCall)
    assert campaign.status == "closed" and len(calls) == 12
    assert all(c.done_at is not None for c in calls)
    assert sum(c.reached is False for c in calls) == 2
    assert [c.problem_kind for c in calls if c.ticket_id is not None] == ["quality"]
    assert len(await _all(db, MemberPrice)) == 9
    balances: list[PointsBalance] = await _all(db, PointsBalance)
    assert sum(b.usable for b in balances) > 0 and sum(b.pending for b in balances) > 0


async def test_every_trade_status_is_present(demo: Seeded) -> None:
    db = demo.db
    orders: list[Order] = await _all(db, Order)
    counts = Counter(o.status for o in orders)
    assert set(counts) == {s.value for s in TradeStatus}
    assert counts[TradeStatus.TRADE_FINISHED] > len(orders) // 2
    assert sum(o.cash_on_delivery for o in orders) >= 2


async def test_order_timestamps_follow_the_status(demo: Seeded) -> None:
    db = demo.db
    orders: list[Order] = await _all(db, Order)
    customers = {c.id: c for c in await _all(db, Customer)}
    refunded: dict[int, int] = {}  # what the month's after-sales paid back, per order
    for refund in await _all(db, Refund):
        if refund.status == "SUCCESS" and refund.kind in ("refund_only", "return_refund"):
            refunded[refund.order_id] = refunded.get(refund.order_id, 0) + refund.amount_fen
    first = NOW - timedelta(days=60)
    for o in orders:
        status = TradeStatus(o.status)
        label = f"{o.platform_order_id} {status}"
        assert re.fullmatch(r"[1-9]\d{17}", o.platform_order_id), label
        assert o.source == "demo"
        assert first <= o.created_at < NOW, label
        assert o.customer_id is not None and customers[o.customer_id].nick == o.buyer_nick
        assert o.receiver_name and re.fullmatch(r"1\d{10}", o.receiver_phone)
        assert re.fullmatch(r"\S+ \S+市 \S+区 \S+号\S+室", o.receiver_address), label
        assert o.updated_at >= o.created_at
        for stamp in (o.paid_at, o.shipped_at, o.finished_at, o.closed_at):
            assert stamp is None or o.created_at <= stamp <= NOW, label
        if status in PAID_STATUSES or status is TradeStatus.TRADE_CLOSED:
            assert o.paid_at is not None and o.paid_fen == o.total_fen, label
        else:
            assert o.paid_at is None and o.paid_fen == 0, label
        if status in SHIPPED:
            assert o.shipped_at is not None and o.courier and o.tracking_number, label
            assert o.paid_at is not None, label
            assert o.cash_on_delivery or o.paid_at <= o.shipped_at, label
        if status in {TradeStatus.WAIT_BUYER_PAY, TradeStatus.WAIT_SELLER_SEND_GOODS}:
            assert o.shipped_at is None and not o.tracking_number, label
        if status is TradeStatus.TRADE_FINISHED:
            assert o.finished_at is not None and o.shipped_at is not None, label
            assert o.finished_at >= o.shipped_at, label
        else:
            assert o.finished_at is None, label
        if status is TradeStatus.TRADE_CLOSED:
            assert o.closed_at is not None and o.paid_at is not None, label
            assert o.closed_at >= o.paid_at, label
            assert o.close_reason == "退款" and o.refunded_fen == o.paid_fen > 0, label
        elif status is TradeStatus.TRADE_CLOSED_BY_TAOBAO:
            assert o.closed_at is not None and o.close_reason == "买家未付款", label
            assert o.refunded_fen == 0, label
        else:
            assert o.closed_at is None and o.close_reason == "", label
            assert o.refunded_fen == refunded.get(o.id, 0) <= o.paid_fen, label
        if o.cash_on_delivery:
            assert status in {TradeStatus.TRADE_BUYER_SIGNED, TradeStatus.TRADE_FINISHED}
        if status is TradeStatus.TRADE_BUYER_SIGNED:
            assert o.cash_on_delivery, label
        if status is TradeStatus.WAIT_BUYER_PAY:
            assert o.created_at > NOW - timedelta(hours=72), label
    assert len({o.platform_order_id for o in orders}) == len(orders)


async def test_items_add_up(demo: Seeded) -> None:
    db = demo.db
    orders: list[Order] = await _all(db, Order)
    skus = {s.id: s for s in await _all(db, Sku)}
    titles = {p.id: p.title for p in await _all(db, Product)}
    for o in orders:
        assert 1 <= len(o.items) <= 3
        assert o.goods_fen == sum(i.price_fen * i.quantity for i in o.items)
        assert o.total_fen == o.goods_fen + o.postage_fen
        assert o.postage_fen in {0, 800, 1500, 2300}
        for item in o.items:
            sku = skus[item.sku_id]
            assert item.sku_code == sku.code and item.price_fen == sku.price_fen
            assert item.title == titles[sku.product_id]
            assert item.sku_text == sku.attribute_text
            assert re.fullmatch(r"[^：;]+：[^：;]+(;[^：;]+：[^：;]+)*", item.sku_text)
            assert item.quantity >= 1


async def test_orders_per_day(demo: Seeded) -> None:
    db = demo.db
    orders: list[Order] = await _all(db, Order)
    per_day = Counter(o.created_at.astimezone(SHANGHAI).date() for o in orders)
    today = NOW.astimezone(SHANGHAI).date()
    assert min(per_day) == today - timedelta(days=59)
    assert len(per_day) >= 59  # today's may still be empty just after midnight
    assert all(15 <= n <= 40 for day, n in per_day.items() if day != today)


async def test_recent_orders_are_open_and_old_ones_finished(demo: Seeded) -> None:
    db = demo.db
    orders: list[Order] = await _all(db, Order)
    recent = [o for o in orders if o.created_at > NOW - timedelta(days=2)]
    old = [o for o in orders if o.created_at < NOW - timedelta(days=20)]
    finished = TradeStatus.TRADE_FINISHED.value
    assert sum(o.status == finished for o in recent) < len(recent) * 0.2
    assert sum(o.status == finished for o in old) > len(old) * 0.8


async def test_fixed_points_relative_to_now(demo: Seeded) -> None:
    db = demo.db
    orders: list[Order] = await _all(db, Order)
    paid_21 = [
        o
        for o in orders
        if o.status == TradeStatus.WAIT_SELLER_SEND_GOODS
        and o.paid_at is not None
        and timedelta(minutes=20) <= NOW - o.paid_at <= timedelta(minutes=22)
    ]
    unpaid_11 = [
        o
        for o in orders
        if o.status == TradeStatus.WAIT_BUYER_PAY
        and timedelta(minutes=10) <= NOW - o.created_at <= timedelta(minutes=12)
    ]
    assert paid_21 and unpaid_11


async def _fingerprint(db: Database) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    orders: list[Order] = await _all(db, Order)
    rows = [
        (
            o.id,
            o.platform_order_id,
            o.customer_id,
            o.status,
            o.total_fen,
            o.created_at,
            o.paid_at,
            o.shipped_at,
            o.finished_at,
            o.closed_at,
            o.buyer_nick,
            o.receiver_address,
            tuple((i.id, i.sku_id, i.sku_code, i.quantity) for i in o.items),
        )
        for o in orders
    ]
    customers = [
        (c.id, c.nick, c.phone, c.birth_month, c.birth_day, c.birth_lunar, tuple(c.tags))
        for c in await _all(db, Customer)
    ]
    return rows, customers


async def _history_fingerprint(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    """The chats, rounds, presence, roster and violations, column by column."""
    tables: dict[str, Any] = {
        "conversation": Conversation,
        "message": Message,
        "response_round": ResponseRound,
        "presence_log": PresenceLog,
        "roster_entry": RosterEntry,
        "violation": Violation,
    }
    skip = {"violation": {"created_at"}}  # when the row was written: the clock's time
    result = {}
    for name, model in tables.items():
        columns = [c.key for c in model.__table__.columns if c.key not in skip.get(name, ())]
        result[name] = [tuple(getattr(row, c) for c in columns) for row in await _all(db, model)]
    return result


async def test_same_seed_and_now_give_the_same_shop(db: Database, demo: Seeded) -> None:
    """Seeded into two databases with the same seed and moment: the same rows, ids included."""
    await seed_demo(db, seed=SEED, now=NOW)
    assert await _fingerprint(db) == await _fingerprint(demo.db)
    assert await _history_fingerprint(db) == await _history_fingerprint(demo.db)
    await empty_all_tables(db)
    await seed_demo(db, seed=SEED + 1, now=NOW)
    other_orders, other_customers = await _fingerprint(db)
    orders, customers = await _fingerprint(demo.db)
    assert {o[1] for o in other_orders}.isdisjoint({o[1] for o in orders})
    assert [c[2] for c in other_customers] != [c[2] for c in customers]
    other, history = await _history_fingerprint(db), await _history_fingerprint(demo.db)
    for name in ("conversation", "message", "presence_log"):
        assert other[name] != history[name], name


async def test_seeding_twice_raises_and_adds_nothing(demo: Seeded) -> None:
    db = demo.db
    before = [await _count(db, m) for m in (Shop, Product, StaffAccount, Customer, Order)]
    with pytest.raises(ValueError, match="the demo shop exists already"):
        await seed_demo(db, now=NOW)
    after = [await _count(db, m) for m in (Shop, Product, StaffAccount, Customer, Order)]
    assert after == before


async def test_naive_now_is_refused(db: Database) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        await seed_demo(db, now=datetime(2026, 3, 14, 12))
    assert not await demo_exists(db)


async def test_default_now_is_the_current_time_and_progress_is_reported(db: Database) -> None:
    seen: list[tuple[str, int, int]] = []
    summary = await seed_demo(db, progress=lambda *args: seen.append(args))
    assert [done for _, done, _ in seen] == list(range(1, len(seen) + 1))
    assert {total for _, _, total in seen} == {len(seen)}
    assert seen[0][0] == "shop" and seen[-1][0] == "peak day"
    assert [name for name, _, _ in seen[-8:]] == [
        "orders",
        "chats",
        "attendance",
        "kpi",
        "aftersales",
        "warehouse",
        "customer file",
        "peak day",
    ]
    assert summary.orders > 1000
    orders: list[Order] = await _all(db, Order)
    newest = max(o.created_at for o in orders)
    assert timedelta(minutes=10) < datetime.now(UTC) - newest < timedelta(minutes=15)


async def _the_agent(db: Database) -> StaffAccount:
    async with db.session() as session:
        agent = await session.scalar(select(StaffAccount).where(StaffAccount.username == "agent"))
        assert agent is not None
        return agent


async def test_the_order_paid_21_minutes_ago_is_late_for_its_agent(demo: Seeded) -> None:
    """Issue 5's demo point: no note 21 minutes after payment → late, for the owner."""
    db = demo.db
    agent = await _the_agent(db)
    async with db.session() as session:
        order = await session.scalar(
            select(Order).where(
                Order.status == TradeStatus.WAIT_SELLER_SEND_GOODS,
                Order.paid_at == NOW.replace(microsecond=0) - timedelta(minutes=21),
            )
        )
        assert order is not None and order.owner_id == agent.id
        assert (
            await session.scalar(select(SellerNote).where(SellerNote.order_id == order.id)) is None
        )
        late = list(
            await session.scalars(
                select(OrderTask).where(
                    OrderTask.order_id == order.id, OrderTask.kind == TaskKind.late_note.value
                )
            )
        )
        assert [(t.status, t.assignee_id) for t in late] == [("open", agent.id)]
        violations = await session.scalars(select(Event).where(Event.kind == "violation.late_note"))
        late_orders = {v.payload["order_id"]: v.payload["agent_id"] for v in violations}
        assert late_orders[order.id] == agent.id
        mine = await open_tasks(session, order.shop_id, assignee_id=agent.id)
        assert (late[0].id, order.id) in {(t.id, o.id) for t, o in mine}


async def test_the_unpaid_order_11_minutes_old_has_a_reminder_task(demo: Seeded) -> None:
    db = demo.db
    agent = await _the_agent(db)
    async with db.session() as session:
        order = await session.scalar(
            select(Order).where(
                Order.status == TradeStatus.WAIT_BUYER_PAY,
                Order.created_at == NOW.replace(microsecond=0) - timedelta(minutes=11),
            )
        )
        assert order is not None
        reminders = list(
            await session.scalars(
                select(OrderTask).where(
                    OrderTask.order_id == order.id, OrderTask.kind == TaskKind.remind.value
                )
            )
        )
        assert [(t.status, t.assignee_id) for t in reminders] == [("open", agent.id)]


async def test_older_paid_orders_have_notes_owners_and_sales_credit(demo: Seeded) -> None:
    db = demo.db
    async with db.session() as session:
        paid = await session.scalar(
            select(func.count())
            .select_from(Order)
            .where(Order.paid_at.is_not(None), Order.paid_at < NOW - timedelta(hours=1))
        )
        notes = await session.scalar(select(func.count()).select_from(SellerNote))
        credits = await session.scalar(select(func.count()).select_from(SalesCredit))
        owners = await session.scalar(
            select(func.count()).select_from(Order).where(Order.owner_id.is_(None))
        )
    assert paid and notes and credits
    assert notes > 0.8 * paid and credits >= paid
    assert owners == 0
    # Only live orders got open workflow tasks: far fewer than all orders; the history
    # keeps the payment reminders its unpaid orders were sent.
    tasks = await _all(db, OrderTask)
    assert len([t for t in tasks if t.status == "open"]) < 60
    assert {t.outcome for t in tasks if t.status == "done"} >= {"sent", "recovered", "paid"}


async def test_last_months_payroll_has_fines_that_lead_to_late_notes(demo: Seeded) -> None:
    """Issue 6's demo point: last month's fines each lead to the note written too late."""
    from xiaoer.performance.payroll import payroll, previous_month

    db = demo.db
    month = previous_month(NOW.astimezone(ZoneInfo("Asia/Shanghai")).date())
    async with db.session() as session:
        shop_id = await session.scalar(select(Order.shop_id).limit(1))
        assert shop_id is not None
        result = await payroll(session, shop_id, month)
        fines = [
            (line, item) for line in result.rows() for item in line["items"]
            if item["kind"] == "fine" and item["detail"]["rule"] == "note_late_or_wrong"
        ]  # fmt: skip
        assert fines, "the demo's last month has late notes"
        for line, item in fines:
            assert item["amount_fen"] == -2000 and item["link"].endswith("#note")
            order_id = int(item["link"].removeprefix("/orders/").removesuffix("#note"))
            order = await session.get(Order, order_id)
            assert order is not None and order.owner_id == line["agent_id"]
            assert order.paid_at is not None
            note = await session.scalar(
                select(SellerNote).where(SellerNote.order_id == order_id, SellerNote.version == 1)
            )
            assert note is not None
            assert note.created_at - order.paid_at > timedelta(minutes=20)


# --- The history behind the performance pages ---------------------------------------

AGENTS = ("agent", "agent2", "agent3", "supervisor")


def _last_month() -> tuple[date, date]:
    first_of_this = NOW.astimezone(SHANGHAI).date().replace(day=1)
    last = first_of_this - timedelta(days=1)
    return last.replace(day=1), last


async def _staff_ids(db: Database) -> dict[str, int]:
    return {a.username: a.id for a in await _all(db, StaffAccount)}


async def test_chats_are_closed_and_their_counts_add_up(demo: Seeded) -> None:
    db = demo.db
    today = NOW.astimezone(SHANGHAI).date()
    conversations = await _everyday_chats(db)
    messages: list[Message] = await _all(db, Message)
    staff = {a.id: a for a in await _all(db, StaffAccount)}
    customers = {c.id for c in await _all(db, Customer)}
    by_conversation: dict[int, list[Message]] = {}
    for message in messages:
        by_conversation.setdefault(message.conversation_id, []).append(message)
    per_day = Counter(c.opened_at.astimezone(SHANGHAI).date() for c in conversations)
    assert sorted(per_day) == [today - timedelta(days=n) for n in range(45, 0, -1)]
    assert all(10 <= n <= 30 for n in per_day.values()), per_day
    assert sum(per_day.values()) / len(per_day) >= 15
    outcomes = Counter(c.outcome for c in conversations)
    assert {"ordered", "resolved", "no_reply"} <= set(outcomes) <= set(OUTCOMES)
    assert Counter(c.team for c in conversations).most_common(1)[0][0] == "presale"
    for c in conversations:
        label = f"conversation {c.id}"
        assert c.status == ConversationStatus.closed.value, label
        assert c.customer_id in customers and c.team in {"presale", "aftersale"}, label
        assert c.agent_id is not None and staff[c.agent_id].has_role("agent"), label
        assert c.waiting_since is None and c.unread == 0 and c.channel_id is None, label
        assert c.closed_at is not None and c.assigned_at is not None
        # The warehouse told some buyers of their parcels in their latest chat.
        notices = [m for m in by_conversation[c.id] if m.meta.get("auto") == "fulfilment"]
        assert all(m.meta.get("notice") and m.created_at >= c.opened_at for m in notices)
        told = max((m.created_at for m in notices), default=c.opened_at)
        mine = sorted((m for m in by_conversation[c.id] if m not in notices), key=lambda m: m.id)
        assert c.opened_at == c.queued_at == c.assigned_at <= mine[-1].created_at < c.closed_at
        assert c.closed_at.astimezone(SHANGHAI).date() == c.opened_at.astimezone(SHANGHAI).date()
        assert 8 <= c.opened_at.astimezone(SHANGHAI).hour < 24, label
        assert 2 <= len(mine) <= 12, label
        assert [m.created_at for m in mine] == sorted(m.created_at for m in mine), label
        assert mine[0].sender == Sender.buyer.value and mine[0].created_at == c.opened_at
        assert max(told, mine[-1].created_at) == c.last_message_at, label
        senders = Counter(m.sender for m in mine)
        assert senders[Sender.buyer.value] == c.buyer_messages > 0, label
        assert senders[Sender.agent.value] == c.agent_messages, label
        assert set(senders) <= {Sender.buyer.value, Sender.agent.value, Sender.auto.value}
        agents = [m for m in mine if m.sender == Sender.agent.value]
        assert all(m.agent_id == c.agent_id for m in agents), label
        assert c.first_response_at == (agents[0].created_at if agents else None), label
        for m in mine:
            assert re.search(r"[\u4e00-\u9fff？]", m.text), label
            if m.sender == Sender.auto.value:
                assert m.meta == {"auto": "welcome"} and staff[c.agent_id].name in m.text
                assert m.agent_id is None
            else:
                assert m.meta == {} and m.dedupe_key is None
    assert any(m.sender == Sender.auto.value for m in messages)
    # No chat is live: whatever is open in the demo was opened today.
    async with db.session() as session:
        live = await session.scalars(
            select(Conversation.opened_at).where(
                Conversation.status != ConversationStatus.closed.value
            )
        )
        assert all(o.astimezone(SHANGHAI).date() == today for o in live)


async def test_every_run_of_buyer_messages_is_one_response_round(demo: Seeded) -> None:
    db = demo.db
    conversations = {c.id: c for c in await _all(db, Conversation)}
    messages: list[Message] = await _all(db, Message)
    rounds: list[ResponseRound] = await _all(db, ResponseRound)
    runs: dict[int, list[tuple[datetime, datetime | None]]] = {}
    last: dict[int, str] = {}
    for m in messages:  # by id: each conversation's in order
        if m.sender == Sender.buyer.value and last.get(m.conversation_id) != "buyer":
            runs.setdefault(m.conversation_id, []).append((m.created_at, None))
        elif m.sender == Sender.agent.value and last.get(m.conversation_id) == "buyer":
            started, _ = runs[m.conversation_id][-1]
            runs[m.conversation_id][-1] = (started, m.created_at)
        if m.sender in (Sender.buyer.value, Sender.agent.value):
            last[m.conversation_id] = m.sender
    by_conversation: dict[int, list[ResponseRound]] = {}
    for r in rounds:
        by_conversation.setdefault(r.conversation_id, []).append(r)
    assert set(by_conversation) == set(runs) == set(conversations)
    for conversation_id, mine in by_conversation.items():
        c = conversations[conversation_id]
        assert [(r.started_at, r.answered_at) for r in mine] == runs[conversation_id]
        assert [r.first for r in mine] == [True] + [False] * (len(mine) - 1)
        assert mine[0].started_at == c.opened_at and mine[0].answered_at == c.first_response_at
        for r in mine:
            assert r.shop_id == c.shop_id and r.agent_id == c.agent_id
            if r.answered_at is None:
                assert r is mine[-1] and r.seconds is None and r.capped_seconds == 600
                assert r.breached and c.closed_at is not None
                assert c.closed_at - r.started_at < timedelta(minutes=30)  # no fine was due
            else:
                assert r.seconds == (r.answered_at - r.started_at).total_seconds()
                assert r.capped_seconds == min(r.seconds, 600)
                assert r.breached == (r.seconds > (30 if r.first else 120))
    answered = [r.seconds for r in rounds if r.seconds is not None]
    unanswered = sum(r.answered_at is None for r in rounds)
    assert sum(s <= 30 for s in answered) > 0.6 * len(rounds)
    assert sum(60 < s <= 300 for s in answered) > 0.05 * len(rounds)
    assert any(s > 600 for s in answered)
    assert 0 < unanswered < 0.05 * len(rounds)


async def _everyday_chats(db: Database) -> list[Conversation]:
    """The demo's everyday chats: the last 45 days (last 双十一's are older)."""
    first = NOW.astimezone(SHANGHAI).date() - timedelta(days=45)
    return [c for c in await _all(db, Conversation)
            if c.opened_at.astimezone(SHANGHAI).date() >= first]  # fmt: skip


async def test_buyers_who_ordered_asked_first(demo: Seeded) -> None:
    db = demo.db
    orders: list[Order] = await _all(db, Order)
    conversations = await _everyday_chats(db)
    messages: list[Message] = await _all(db, Message)
    last_buyer: dict[int, datetime] = {}
    for m in messages:
        if m.sender == Sender.buyer.value:
            last_buyer[m.conversation_id] = m.created_at
    placed: dict[int, list[Order]] = {}
    for o in orders:
        if o.customer_id is not None:
            placed.setdefault(o.customer_id, []).append(o)
    ordered = [c for c in conversations if c.outcome == "ordered"]
    assert len(ordered) > len(conversations) / 3
    for c in ordered:
        after = [
            o for o in placed[c.customer_id]
            if timedelta(0) < o.created_at - last_buyer[c.id] <= timedelta(hours=1)
        ]  # fmt: skip
        assert after, f"conversation {c.id}: no order after it"
    # Others ask and leave, and order neither that day nor the next.
    left = [
        c for c in conversations if c.outcome in ("resolved", "no_reply") and c.team == "presale"
    ]
    assert len(left) > len(conversations) / 10
    for c in left:
        day = c.opened_at.astimezone(SHANGHAI).date()
        assert not [
            o for o in placed.get(c.customer_id, [])
            if 0 <= (o.created_at.astimezone(SHANGHAI).date() - day).days <= 1
        ], f"conversation {c.id}"  # fmt: skip


async def test_roster_follows_the_shifts_and_is_judged(demo: Seeded) -> None:
    from xiaoer.core.policy_store import policy_on
    from xiaoer.performance.attendance import shift_window

    db = demo.db
    ids = await _staff_ids(db)
    names = {v: k for k, v in ids.items()}
    first, _ = _last_month()
    yesterday = NOW.astimezone(SHANGHAI).date() - timedelta(days=1)
    entries: list[RosterEntry] = await _all(db, RosterEntry)
    assert min(e.day for e in entries) == first and max(e.day for e in entries) == yesterday
    assert {names[e.staff_id] for e in entries} == set(AGENTS)
    async with db.session() as session:
        shop_id = await session.scalar(select(Shop.id).where(Shop.code == DEMO_SHOP_CODE))
        assert shop_id is not None
        for e in entries:
            policy = await policy_on(session, shop_id, e.day)
            assert (e.starts_at, e.ends_at) == shift_window(policy, "Asia/Shanghai", e.day, e.shift)
    days = (yesterday - first).days + 1
    for username in AGENTS:
        mine = [e for e in entries if e.staff_id == ids[username]]
        assert days * 0.7 <= len(mine) < days, username  # a day off a week, and one more
        assert {e.shift for e in mine} == {"early", "late"}
        assert len({e.day for e in mine}) == len(mine)
    for e in entries:
        assert e.created_by == ids["supervisor"] and e.judged_at == e.ends_at
        assert e.status != RosterStatus.scheduled.value
        if e.status == RosterStatus.absent.value:
            assert e.clock_in_at is None and e.online_minutes == 0
        else:
            assert e.clock_in_at is not None and e.clock_out_at is not None
            assert e.ends_at - e.clock_out_at < timedelta(minutes=6)
            assert e.online_minutes > 7 * 60
    odd = sorted(
        (e.day, names[e.staff_id], e.status, e.late_minutes)
        for e in entries
        if e.status != RosterStatus.present.value
    )
    this_month = NOW.astimezone(SHANGHAI).date().replace(day=1)
    last_month = [item for item in odd if item[0] < this_month]
    assert Counter((who, status) for _, who, status, _ in last_month) == {
        ("agent", "late"): 2, ("agent3", "late"): 1, ("agent2", "absent"): 1
    }  # fmt: skip
    assert all(minutes <= 10 for _, who, _, minutes in last_month if who == "agent")
    assert [m for _, who, _, m in last_month if who == "agent3"] == [25]
    assert [who for day, who, _, _ in odd if day >= this_month] in ([], ["supervisor"])


async def test_presence_logs_match_the_roster(demo: Seeded) -> None:
    db = demo.db
    logs: list[PresenceLog] = await _all(db, PresenceLog)
    entries: list[RosterEntry] = await _all(db, RosterEntry)
    by_staff: dict[int, list[PresenceLog]] = {}
    for log in sorted(logs, key=lambda g: (g.at, g.id)):
        by_staff.setdefault(log.staff_id, []).append(log)
    for mine in by_staff.values():  # online and offline in turn
        statuses = [log.status for log in mine]
        assert statuses == [PresenceStatus.online.value, PresenceStatus.offline.value] * (
            len(mine) // 2
        )
    for e in entries:
        mine = [
            g for g in by_staff[e.staff_id] if e.starts_at - timedelta(hours=1) <= g.at <= e.ends_at
        ]
        if e.status == RosterStatus.absent.value:
            assert mine == []
        else:
            online = next(g.at for g in mine if g.status == PresenceStatus.online.value)
            assert e.clock_in_at == max(online, e.starts_at)
    # The chats were answered by agents online at the time.
    conversations = await _everyday_chats(db)
    for c in conversations:
        before = [g for g in by_staff[c.agent_id or 0] if g.at <= c.opened_at]
        assert before and before[-1].status == PresenceStatus.online.value, c.id


async def test_last_months_kpis_per_agent(demo: Seeded) -> None:
    from xiaoer.performance.kpi import report

    db = demo.db
    ids = await _staff_ids(db)
    first, last = _last_month()
    async with db.session() as session:
        shop_id = await session.scalar(select(Shop.id).where(Shop.code == DEMO_SHOP_CODE))
        assert shop_id is not None
        rolled = await session.scalars(
            select(KpiDay.day).where(KpiDay.shop_id == shop_id, KpiDay.scope == "shop")
        )
        assert {first + timedelta(days=n) for n in range((last - first).days + 1)} <= set(rolled)
        result = await report(session, shop_id, first, last, KpiScope.agent)
        shop = await report(session, shop_id, first, last, KpiScope.shop)
    for username in AGENTS:
        counts = result.subjects[str(ids[username])].counts
        assert counts["inquiring_buyers"] > 10 and counts["rounds"] > counts["first_rounds"] > 0
        assert 0 < counts["paying_buyers"] / counts["inquiring_buyers"] < 1, username
        assert counts["buyer_messages"] > 0 and counts["agent_messages"] > 0
        assert counts["fast_rounds"] > counts["slow_rounds"] > 0
    # 催付成功率: the sellers reminded unpaid buyers, and some of them paid.
    for username in ("agent", "agent3", "supervisor"):
        figures = result.subjects[str(ids[username])]
        success = figures.rate("reminder_success")
        assert figures.counts["reminders"] > 0, username
        assert success is not None and 0 < success < 1, (username, success)
    totals = shop.subjects[""].counts
    assert 0.3 < totals["paying_buyers"] / totals["inquiring_buyers"] < 0.8
    assert totals["replied_conversations"] > 0.95 * totals["conversations"]
    assert totals["unanswered_rounds"] > 0 and totals["peak_concurrent"] >= 2


async def test_last_months_payroll_rewards_full_attendance_and_fines_the_rest(
    demo: Seeded,
) -> None:
    from xiaoer.performance.payroll import payroll

    db = demo.db
    ids = await _staff_ids(db)
    first, _ = _last_month()
    async with db.session() as session:
        shop_id = await session.scalar(select(Shop.id).where(Shop.code == DEMO_SHOP_CODE))
        assert shop_id is not None
        result = await payroll(session, shop_id, first.strftime("%Y-%m"))
    lines = {line["agent_id"]: line for line in result.rows()}
    bonus = {
        username: next(i for i in lines[ids[username]]["items"] if i["kind"] == "full_attendance")
        for username in AGENTS
    }
    assert bonus["agent"]["amount_fen"] > 0 and bonus["supervisor"]["amount_fen"] > 0
    assert bonus["agent2"]["amount_fen"] == 0 and bonus["agent2"]["detail"]["absent"] == 1
    assert bonus["agent3"]["amount_fen"] == 0 and bonus["agent3"]["detail"]["late_fined"] == 1
    fines = Counter(
        (username, i["detail"]["rule"], i["amount_fen"])
        for username in AGENTS
        for i in lines[ids[username]]["items"]
        if i["kind"] == "fine" and i["detail"]["rule"] != "note_late_or_wrong"
    )
    assert fines == {("agent2", "absent_without_leave", -20000): 1, ("agent3", "late", -2000): 1}


async def test_a_month_of_after_sales(demo: Seeded) -> None:
    """Refunds in every state, an exchange and a resend, complaints at each step (one
    major), a refund waiting for the supervisor, and a queue whose oldest case an
    after-sales agent can settle within their authority."""
    db = demo.db
    refunds: list[Refund] = await _all(db, Refund)
    tickets: list[Ticket] = await _all(db, Ticket)
    assert {r.status for r in refunds} == {
        "WAIT_SELLER_AGREE", "WAIT_BUYER_RETURN_GOODS", "WAIT_SELLER_CONFIRM_GOODS",
        "SELLER_REFUSE_BUYER", "CLOSED", "SUCCESS",
    }  # fmt: skip
    assert {"exchange", "resend", "refund_only", "return_refund"} == {r.kind for r in refunds}
    assert [r.approval for r in refunds if r.approval] == ["asked"]
    # (a follow-up call's problem opened one more, its own: test_the_customer_file)
    follow_up = [t for t in tickets if t.subject.startswith("回访")]
    assert len(follow_up) == 1 and follow_up[0].status == "queued"
    tickets = [t for t in tickets if t not in follow_up]
    complaints = [t for t in tickets if t.kind == "complaint"]
    assert sorted(len(t.steps) for t in complaints) == [1, 2, 3, 4, 5]
    assert [t.subject for t in complaints if t.major] == ["要去12315投诉"]
    closed = [t for t in tickets if t.status == "closed"]
    assert len(closed) >= 8 and all(t.cause_id and t.outcome for t in closed)
    queued = sorted((t for t in tickets if t.status == "queued"), key=lambda t: t.queued_at)
    assert len(queued) >= 3
    oldest = next(r for r in refunds if r.id == queued[0].refund_id)
    assert oldest.status == "WAIT_SELLER_AGREE" and oldest.amount_fen <= 10000
    reviews = {r.id: r for r in await _all(db, Review)}
    ends = sorted(
        (t.outcome or t.status, reviews[t.review_id].rating)
        for t in tickets
        if t.review_id is not None
    )
    assert ends == [("appealed", "bad"), ("review_changed", "good"), ("taken", "neutral")]


async def test_the_manager_has_set_targets_the_floor_shows(demo: Seeded) -> None:
    """This month's and today's targets from last month's trade, the pre-sales team's
    month, the coming 双十一 and the last one (D3); today's is running with real figures."""
    from xiaoer.peakday.target_models import ShopTarget
    from xiaoer.peakday.target_progress import progress, running_targets

    async with demo.db.session() as session:
        shop = await session.scalar(select(Shop).where(Shop.code == "demo"))
        assert shop is not None
        targets = list(await session.scalars(select(ShopTarget).order_by(ShopTarget.id)))
        running = await running_targets(session, shop.id, NOW)
        rows = await progress(session, shop.id, running, NOW)
    assert [(t.period, t.team, t.name) for t in targets] == [
        ("month", "", ""), ("day", "", ""), ("month", "presale", ""), ("event", "", "双十一 2026"),
        ("event", "", "双十一 2025"),
    ]  # fmt: skip
    assert [t.period for t in running] == ["day", "month", "month"]
    month = next(r for r in rows if r.target.period == "month" and not r.target.team)
    trades = next(g for g in month.goals if g.measure == "trades")
    assert {50, 400, 600} <= set(trades.milestones) and trades.goal == trades.milestones[-1]
    assert trades.actual is not None and trades.actual > 0
    assert {g.measure for g in month.goals} >= {"trades", "sales"}


async def test_last_singles_day_is_in_the_history_and_the_next_one_is_planned(
    demo: Seeded,
) -> None:
    db = demo.db
    event = date(2025, 11, 11)  # the last before NOW
    chats = [c for c in await _all(db, Conversation)
             if c.opened_at.astimezone(SHANGHAI).date() == event]  # fmt: skip
    per_hour = Counter(c.opened_at.astimezone(SHANGHAI).hour for c in chats)
    week_before = event - timedelta(days=7)
    ordinary = [c for c in await _all(db, Conversation)
                if c.opened_at.astimezone(SHANGHAI).date() == week_before]  # fmt: skip
    assert len(chats) > 4 * len(ordinary) > 0
    assert per_hour[0] > per_hour[12] > 0  # the midnight rush, on a night otherwise quiet
    left = [c for c in chats if c.assigned_at is None]
    assert left and all(c.closed_at is not None and c.agent_id is None for c in left)
    assert demo.summary.peak_conversations == len(
        [c for c in await _all(db, Conversation)
         if c.opened_at.astimezone(SHANGHAI).date() < NOW.astimezone(SHANGHAI).date()
         - timedelta(days=45)])  # fmt: skip
    (forecast,) = await _all(db, Forecast)
    assert forecast.day == date(2026, 11, 11)
    (mode,) = await _all(db, PeakMode)
    assert mode.status == "scheduled" and mode.forecast_id == forecast.id
    assert mode.phrases_reviewed_at is not None and mode.agent_cap == 12
    async with db.session() as session:
        rows = await intervals_of(session, forecast)
    midnight = [r for r in rows if r.slot == 0 and r.team == "presale"]
    assert midnight[0].last_year is not None and midnight[0].last_year > 0
    assert midnight[0].sessions > 0
