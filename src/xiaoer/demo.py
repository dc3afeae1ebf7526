"""A believable demo shop: catalogue, promotions, staff, customers and 60 days of orders.

Everything comes from one ``random.Random(seed)`` and the moment ``now``: the same pair
gives the same rows (ids, texts, amounts, timestamps). The shop is written in a single
transaction; nothing is written when the demo shop exists already.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer import demo_data as data
from xiaoer.catalog.models import Product, Sku
from xiaoer.core.clock import as_utc, utcnow
from xiaoer.core.db import Database
from xiaoer.core.policy_store import policy_on
from xiaoer.core.timers import fire_all_due
from xiaoer.customers.models import Customer
from xiaoer.orders import workflow
from xiaoer.orders.models import Order, OrderItem, SalesCredit, SellerNote, TradeStatus
from xiaoer.orders.notes import SellerNote as ParsedNote
from xiaoer.orders.notes import parse_note
from xiaoer.performance.violations import do_record_detected
from xiaoer.reception.phrases import PhraseInput, do_save_phrase
from xiaoer.shops.models import Platform
from xiaoer.shops.service import do_create_shop, shop_by_code
from xiaoer.staff.service import do_add_staff

DEMO_SHOP_CODE = "demo"
DEMO_PASSWORD = "xiaoer-demo"  # noqa: S105 (published on purpose: the demo's shared password)
ZONE = data.ZONE
DAYS = 60  # orders span the 60 days before ``now``
CUSTOMERS = 300
PAY_TIMEOUT = timedelta(hours=72)  # the platform closes an order still unpaid after this
AUTO_CONFIRM = timedelta(days=10)  # the platform confirms receipt this long after shipping
COD_SETTLE = timedelta(days=7)  # cash collected on delivery reaches the shop after this

_TZ = ZoneInfo(ZONE)
_FREE_POSTAGE_FROM = 9900
_POSTAGE = 800
_REMOTE_POSTAGE = 1500

Progress = Callable[[str, int, int], None]
Row = dict[str, Any]
# Every column of an order row, so that all rows of the bulk insert have the same keys.
_ORDER_DEFAULTS: Row = {
    "customer_id": None,
    "status": "",
    "source": "demo",
    "paid_fen": 0,
    "refunded_fen": 0,
    "shipping_method": "快递",
    "courier": "",
    "tracking_number": "",
    "cash_on_delivery": False,
    "close_reason": "",
    "paid_at": None,
    "shipped_at": None,
    "finished_at": None,
    "closed_at": None,
}


@dataclass(frozen=True)
class DemoLogin:
    username: str
    name: str
    roles: tuple[str, ...]
    level: str
    team: str


# The first account is the one the browser tests sign in as.
DEMO_LOGINS: tuple[DemoLogin, ...] = (
    DemoLogin("agent", "许晴", ("agent",), "junior", "presale"),
    DemoLogin("agent2", "周子涵", ("agent",), "intermediate", "aftersale"),
    DemoLogin("agent3", "孟可欣", ("agent",), "account_manager", "presale"),
    DemoLogin("supervisor", "黄思远", ("agent", "supervisor"), "senior", "aftersale"),
    DemoLogin("manager", "宋晓东", ("manager",), "senior", "presale"),
    DemoLogin("auditor", "梁若岚", ("auditor",), "intermediate", "assist"),
    DemoLogin("warehouse", "邓大川", ("warehouse",), "junior", "assist"),
    DemoLogin("admin", "韩启明", ("admin",), "senior", "assist"),
)
_HIRED_DAYS_AGO = (75, 420, 1300, 980, 1650, 610, 240, 2000)


@dataclass(frozen=True)
class DemoSummary:
    shop_code: str
    products: int
    skus: int
    promotions: int
    staff: int
    customers: int
    orders: int
    order_items: int


@dataclass
class _Line:
    spec: data.ProductSpec
    product: Product
    sku: Sku
    quantity: int


@dataclass
class _Planned:
    who: int  # index of the buyer
    row: Row
    items: list[Row]


@dataclass
class _Times:
    """When each step of an order happens; steps after ``now`` have not happened yet."""

    created: datetime
    paid: datetime | None = None
    part: datetime | None = None  # first parcel of an order shipped in two
    ship: datetime | None = None
    signed: datetime | None = None
    finish: datetime | None = None
    close: datetime | None = None  # payment timeout when unpaid, refund when paid
    cod: bool = False


def _hours(rng: random.Random, low: float, high: float) -> timedelta:
    return timedelta(seconds=round(rng.uniform(low, high) * 3600))


def _within(rng: random.Random, moment: datetime, first: int, last: int) -> datetime:
    """``moment`` if in shop-local hours [first, last), else a little after the next opening."""
    wall = moment.astimezone(_TZ)
    if first <= wall.hour < last:
        return moment
    day = wall.date() if wall.hour < first else wall.date() + timedelta(days=1)
    return data.local_time(day, first) + timedelta(seconds=rng.randint(0, 7200))


def _pick_lines(
    rng: random.Random, products: list[Product], codes: tuple[str, ...] = ()
) -> list[_Line]:
    """The lines of one order: the named products, or one to three popular ones."""
    specs = data.PRODUCTS
    if codes:
        chosen = [next(i for i, s in enumerate(specs) if s.code == code) for code in codes]
    else:
        count = rng.choices((1, 2, 3), weights=(70, 22, 8))[0]
        weights = [s.popularity for s in specs]
        chosen = []
        while len(chosen) < count:
            index = rng.choices(range(len(specs)), weights=weights)[0]
            if index not in chosen:
                chosen.append(index)
    lines = []
    for index in chosen:
        spec, product = specs[index], products[index]
        low, high = spec.quantity
        quantity = min(high, low + int((high - low + 1) * rng.random() ** 1.8))
        lines.append(_Line(spec, product, rng.choice(product.skus), quantity))
    return lines


def _random_times(
    rng: random.Random, created: datetime, base: datetime, lines: list[_Line], courier: str
) -> _Times:
    """A likely life for an order: paid or not, made to measure or not, refunded or not."""
    times = _Times(created)
    made = any(line.spec.custom_made for line in lines)
    ready = any(not line.spec.custom_made for line in lines)
    transit = (18, 48) if courier == "顺丰" else (36, 96)
    if not made and created <= base - timedelta(days=16) and rng.random() < 0.015:
        times.cod = True  # cash on delivery: the buyer pays the courier on signing
        times.ship = _within(rng, created + _hours(rng, 2, 20), 9, 19)
        times.signed = times.paid = _within(rng, times.ship + _hours(rng, *transit), 9, 21)
        times.finish = times.signed + COD_SETTLE
        return times
    if rng.random() < 0.09:
        times.close = created + PAY_TIMEOUT  # never paid
        return times
    roll = rng.random()
    if roll < 0.8:
        times.paid = created + timedelta(seconds=rng.randint(20, 300))
    else:
        times.paid = created + (_hours(rng, 0.1, 1) if roll < 0.95 else _hours(rng, 1, 10))
    regular = _within(rng, times.paid + _hours(rng, 1.5, 20), 9, 19)
    custom = _within(rng, times.paid + _hours(rng, 72, 168), 9, 19) if made else None
    times.ship = custom or regular
    if made and ready:
        times.part = regular  # the ready-made goods go ahead of the curtains being sewn
    refund = rng.random()
    if refund < 0.035:  # the buyer cancels before shipping; the warehouse holds the parcel
        times.close = times.paid + _hours(rng, 0.5, 18)
        times.ship = times.part = None
        return times
    times.signed = _within(rng, times.ship + _hours(rng, *transit), 9, 21)
    if refund < 0.06:  # returned after delivery
        times.close = times.signed + _hours(rng, 24, 96)
        return times
    auto = times.ship + AUTO_CONFIRM
    times.finish = auto if rng.random() < 0.3 else min(auto, times.signed + _hours(rng, 1, 72))
    return times


def _apply(row: Row, times: _Times, base: datetime, courier: str, tracking: str) -> None:
    """Set status and timestamps from the steps that happened by ``base``."""
    row["created_at"] = times.created
    stamps = [times.created]
    status = TradeStatus.WAIT_BUYER_PAY
    if times.paid is None or times.paid > base:
        if times.close is not None and times.close <= base:
            status = TradeStatus.TRADE_CLOSED_BY_TAOBAO
            row["closed_at"], row["close_reason"] = times.close, "买家未付款"
            stamps.append(times.close)
        row["status"], row["updated_at"] = status.value, max(stamps)
        return
    row["paid_at"], row["paid_fen"] = times.paid, row["total_fen"]
    stamps.append(times.paid)
    status = TradeStatus.WAIT_SELLER_SEND_GOODS
    shipped = None
    if times.part is not None and times.part <= base:
        status, shipped = TradeStatus.SELLER_CONSIGNED_PART, times.part
    if times.ship is not None and times.ship <= base:
        status, shipped = TradeStatus.WAIT_BUYER_CONFIRM_GOODS, times.ship
    if shipped is not None:
        row.update(shipped_at=shipped, courier=courier, tracking_number=tracking)
        stamps.append(shipped)
    if times.close is not None and times.close <= base:
        status = TradeStatus.TRADE_CLOSED
        row.update(closed_at=times.close, close_reason="退款", refunded_fen=row["paid_fen"])
        stamps.append(times.close)
    else:
        if times.cod and times.signed is not None and times.signed <= base:
            status = TradeStatus.TRADE_BUYER_SIGNED
        if times.finish is not None and times.finish <= base:
            status = TradeStatus.TRADE_FINISHED
            row["finished_at"] = times.finish
            stamps.append(times.finish)
    row["status"], row["updated_at"] = status.value, max(stamps)


def _order(
    rng: random.Random, shop_id: int, order_ids: set[str], buyer: data.Buyer, lines: list[_Line]
) -> tuple[Row, list[Row], str, str]:
    """An order's row without its timeline, its item rows, its courier and waybill number."""
    goods = sum(line.sku.price_fen * line.quantity for line in lines)
    postage = 0 if goods >= _FREE_POSTAGE_FROM else _POSTAGE
    if buyer.province in data.REMOTE_PROVINCES:
        postage += _REMOTE_POSTAGE
    name, phone = buyer.row["name"], buyer.row["phone"]
    if rng.random() < 0.1:  # sent to a relative or friend
        name, phone = data.person_name(rng, rng.random() < 0.5), data.phone(rng)
    message = ""
    if any(line.spec.custom_made for line in lines) and rng.random() < 0.5:
        message = data.CUSTOM_MESSAGE.format(
            width=f"{rng.randint(14, 42) / 10:.1f}",
            height=f"{rng.randint(22, 29) / 10:.1f}",
            style=rng.choice(data.CUSTOM_STYLES),
        )
    elif rng.random() < 0.12:
        message = rng.choice(data.BUYER_MESSAGES)
    couriers = data.FREIGHT_COURIERS if any(line.spec.bulky for line in lines) else data.COURIERS
    courier = rng.choices(list(couriers), weights=list(couriers.values()))[0]
    tracking = f"{data.COURIER_PREFIXES[courier]}{rng.randint(0, 10**12 - 1):012d}"
    items = [
        {
            "sku_id": line.sku.id,
            "sku_code": line.sku.code,
            "title": line.product.title,
            "sku_text": line.sku.attribute_text,
            "price_fen": line.sku.price_fen,
            "quantity": line.quantity,
        }
        for line in lines
    ]
    row: Row = dict(_ORDER_DEFAULTS)
    row.update(
        shop_id=shop_id,
        platform_order_id=data.unique(order_ids, lambda: str(rng.randint(10**17, 10**18 - 1))),
        buyer_nick=buyer.row["nick"],
        goods_fen=goods,
        postage_fen=postage,
        total_fen=goods + postage,
        receiver_name=name,
        receiver_phone=phone,
        receiver_address=buyer.address,
        buyer_message=message,
    )
    return row, items, courier, tracking


def _orders(
    rng: random.Random,
    shop_id: int,
    base: datetime,
    products: list[Product],
    buyers: list[data.Buyer],
) -> list[_Planned]:
    """Every order, oldest first."""
    today = base.astimezone(_TZ).date()
    moments: list[datetime] = []
    for back in range(DAYS - 1, -1, -1):
        day = today - timedelta(days=back)
        for _ in range(rng.randint(15, 34) + (6 if day.weekday() >= 5 else 0)):
            hour = rng.choices(range(24), weights=data.HOUR_WEIGHTS)[0]
            moment = data.local_time(day, hour, rng.randint(0, 59), rng.randint(0, 59))
            if moment < base - timedelta(minutes=30):  # the freshest orders are set below
                moments.append(moment)
    moments.sort()
    weights = [b.weight for b in buyers]
    order_ids: set[str] = set()
    result: list[_Planned] = []

    def add(created: datetime, codes: tuple[str, ...] = (), fixed: _Times | None = None) -> None:
        who = rng.choices(range(len(buyers)), weights=weights)[0]
        lines = _pick_lines(rng, products, codes)
        row, items, courier, tracking = _order(rng, shop_id, order_ids, buyers[who], lines)
        times = fixed or _random_times(rng, created, base, lines, courier)
        row["cash_on_delivery"] = times.cod
        _apply(row, times, base, courier, tracking)
        result.append(_Planned(who, row, items))

    for moment in moments:
        add(moment)
    # Fixed points later features rely on, whatever the seed.
    unpaid = base - timedelta(minutes=11)
    add(unpaid, ("CU-701",), _Times(unpaid, close=unpaid + PAY_TIMEOUT))
    paid = base - timedelta(minutes=24)
    add(paid, ("CL-101",), _Times(paid, paid=base - timedelta(minutes=21)))
    part = base - timedelta(days=2, hours=3)
    add(
        part,
        ("CL-103", "RD-501"),
        _Times(
            part,
            paid=part + timedelta(minutes=3),
            part=part + timedelta(hours=22),
            ship=part + timedelta(days=6),
        ),
    )
    cod = base - timedelta(days=6, hours=2)
    signed = base - timedelta(days=1, hours=4)
    add(
        cod,
        ("RG-902",),
        _Times(
            cod,
            paid=signed,
            ship=cod + timedelta(hours=20),
            signed=signed,
            finish=signed + COD_SETTLE,
            cod=True,
        ),
    )
    result.sort(key=lambda planned: planned.row["created_at"])
    return result


def _tag(rng: random.Random, buyers: list[data.Buyer], orders: list[_Planned]) -> None:
    """Tags from what each buyer paid for, plus the ones who like to haggle."""
    paid_count = [0] * len(buyers)
    spent = [0] * len(buyers)
    for order in orders:
        if order.row["paid_at"] is not None:
            paid_count[order.who] += 1
            spent[order.who] += order.row["paid_fen"] - order.row["refunded_fen"]
    for i, buyer in enumerate(buyers):
        haggles = rng.random() < 0.07
        rules = (("老客", paid_count[i] >= 8), ("大客户", spent[i] >= 300000), ("爱砍价", haggles))
        buyer.row["tags"] = [tag for tag, applies in rules if applies]


# Who sells: the presale agents and the supervisor, each with their flag colour (O4).
_SELLERS = (("agent", 1, 0.45), ("agent3", 2, 0.4), ("supervisor", 3, 0.15))
_SIZE = re.compile(r"(?:宽)?(\d+(?:\.\d+)?)米\*(?:高)?(\d+(?:\.\d+)?)米|(\d+)\*(\d+)cm")
_DELIVERY = (("送货到楼下", 0.5), ("自提", 0.2), ("包送货安装", 0.3))


def _note_size(items: list[Row], rng: random.Random) -> str | None:
    """The width × height of the order's first item that has one, as a note writes it."""
    for item in items:
        text = str(item["sku_text"])
        if "每米宽" in text:  # made to measure: the quantity is the width in metres
            return f"{item['quantity']}米*{rng.choice(('2.5', '2.6', '2.7', '2.8'))}米"
        found = _SIZE.search(text)
        if found and found.group(1):
            return f"{found.group(1)}米*{found.group(2)}米"
        if found:
            return f"{found.group(3)}cm*{found.group(4)}cm"
    return None


async def _owners_notes_and_credits(
    session: AsyncSession,
    rng: random.Random,
    orders: list[_Planned],
    order_ids: dict[str, int],
    staff_ids: dict[str, int],
    base: datetime,
) -> None:
    """Who owns each sale, the notes written after payment and the sales ledger (O3–O5).

    The two fixed recent orders belong to the first agent and have no note yet: the
    unpaid one is due its reminder, the paid one is late for its note.
    """
    names = [name for name, _flag, _weight in _SELLERS]
    weights = [weight for _name, _flag, weight in _SELLERS]
    flags = {staff_ids[name]: flag for name, flag, _weight in _SELLERS}
    fresh = base - timedelta(minutes=30)
    owners: list[dict[str, Any]] = []
    notes: list[dict[str, Any]] = []
    credits: list[dict[str, Any]] = []
    for order in orders:
        row = order.row
        oid = order_ids[row["platform_order_id"]]
        owner = staff_ids["agent"] if row["created_at"] >= fresh else staff_ids[
            rng.choices(names, weights=weights)[0]
        ]  # fmt: skip
        owners.append({"id": oid, "owner_id": owner, "flag": flags[owner]})
        paid_at = row["paid_at"]
        if paid_at is None or row["created_at"] >= fresh:
            continue
        credits.append(
            {"shop_id": row["shop_id"], "order_id": oid, "agent_id": owner, "role": "owner",
             "reason": "flag", "amount_fen": row["paid_fen"], "paid_at": paid_at,
             "created_at": paid_at}
        )  # fmt: skip
        size = _note_size(order.items, rng)
        if size is None:
            continue
        late = rng.random() < 0.04
        written = paid_at + timedelta(minutes=rng.randint(22, 70) if late else rng.randint(2, 18))
        if written > base:
            continue
        ship = (paid_at + timedelta(days=rng.choice((0, 1, 1, 2)))).astimezone(_TZ)
        delivery = rng.choices([d for d, _ in _DELIVERY], weights=[w for _, w in _DELIVERY])[0]
        design = "图案正常" if rng.random() < 0.85 else "图案定制"
        text = f"{row['receiver_name']},{size},{design},{ship.month}月{ship.day}日发货,{delivery}"
        parsed = parse_note(text)
        notes.append(
            {"shop_id": row["shop_id"], "order_id": oid, "version": 1, "text": text,
             "fields": parsed.to_json() if isinstance(parsed, ParsedNote) else None,
             "errors": [] if isinstance(parsed, ParsedNote)
             else [{"field": e.field, "message": e.message} for e in parsed],
             "author_id": owner, "author_number": "", "reason": "", "created_at": written}
        )  # fmt: skip
        if row["shipped_at"] is not None or row["status"] != TradeStatus.WAIT_SELLER_SEND_GOODS:
            owners[-1]["confirmed_at"] = min(written + timedelta(minutes=5), base)
    for group in (
        [o for o in owners if "confirmed_at" not in o],
        [o for o in owners if "confirmed_at" in o],
    ):
        if group:
            await session.execute(update(Order), group)
    if notes:
        await session.execute(insert(SellerNote), notes)
    if credits:
        await session.execute(insert(SalesCredit), credits)


async def _start_live_orders(db: Database, shop_id: int, base: datetime) -> None:
    """Orders still in motion get their deadlines; those already due fire now."""
    async with db.session() as session:
        live = await session.scalars(
            select(Order).where(
                Order.shop_id == shop_id,
                or_(
                    (Order.status == TradeStatus.WAIT_BUYER_PAY.value)
                    & (Order.created_at >= base - timedelta(hours=24)),
                    (Order.status == TradeStatus.WAIT_SELLER_SEND_GOODS.value)
                    & (Order.paid_at >= base - timedelta(hours=48)),
                ),
            )
        )
        for order in live:
            await workflow.on_order_created(session, order, now=base)
        await session.commit()
    await fire_all_due(db, now=base)


async def _last_months_late_notes(db: Database, shop_id: int, base: datetime) -> None:
    """Notes of last month written after their deadline are fined violations (P4), so that
    last month's payroll shows fines that lead to the note behind each one."""
    this_month = base.astimezone(_TZ).replace(day=1, hour=0, minute=0, second=0)
    start = (this_month - timedelta(days=1)).replace(day=1)
    async with db.session() as session:
        policy = await policy_on(session, shop_id, start.date())
        limit = timedelta(minutes=policy.orders.seller_note_minutes)
        rows = await session.execute(
            select(Order.id, Order.owner_id, Order.paid_at, SellerNote.created_at)
            .join(SellerNote, (SellerNote.order_id == Order.id) & (SellerNote.version == 1))
            .where(
                Order.shop_id == shop_id,
                Order.paid_at >= start.astimezone(UTC),
                Order.paid_at < this_month.astimezone(UTC),
                Order.owner_id.is_not(None),
            )
            .order_by(Order.paid_at)
        )
        for order_id, owner_id, paid_at, written in rows.all():
            if paid_at is None or owner_id is None:
                continue  # the query asks for both; this tells the type checker
            due = as_utc(paid_at) + limit
            if as_utc(written) <= due:
                continue
            await do_record_detected(
                session, shop_id=shop_id, agent_id=owner_id, rule="note_late_or_wrong",
                requirement="O3", occurred_at=due, order_id=order_id,
                evidence={"check": "late_note", "paid_at": as_utc(paid_at).isoformat(),
                          "note_at": as_utc(written).isoformat(),
                          "minutes_late": int((as_utc(written) - due).total_seconds() // 60)},
            )  # fmt: skip
        await session.commit()


async def demo_exists(db: Database) -> bool:
    """Whether the demo shop has been created in this database."""
    async with db.session() as session:
        return await shop_by_code(session, DEMO_SHOP_CODE) is not None


async def seed_demo(
    db: Database,
    *,
    seed: int = 2026,
    now: datetime | None = None,
    progress: Progress | None = None,
) -> DemoSummary:
    """Create the demo shop in one transaction; raises ``ValueError`` if it exists."""
    if now is not None and now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    base = (now or utcnow()).astimezone(UTC).replace(microsecond=0)
    rng = random.Random(seed)  # noqa: S311 (demo data, not secrets)
    steps = ("shop", "catalogue", "promotions", "staff", "customers", "orders")
    done = 0

    def step(name: str) -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(name, done, len(steps))

    async with db.session() as session:
        if await shop_by_code(session, DEMO_SHOP_CODE) is not None:
            raise ValueError(
                f"the demo shop exists already (shop code {DEMO_SHOP_CODE!r}); "
                "seed an empty database instead"
            )
        shop = await do_create_shop(
            session,
            code=DEMO_SHOP_CODE,
            name=data.SHOP_NAME,
            platform=Platform.taobao.value,
            timezone=ZONE,
            default_courier=data.DEFAULT_COURIER,
        )
        shop.created_at = base - timedelta(days=2100)
        step("shop")

        products = data.build_catalogue(rng, shop.id, base)
        session.add_all(products)
        await session.flush()
        step("catalogue")

        promotions = data.build_promotions(shop.id, base)
        session.add_all(promotions)
        for group, shortcut, text in data.PHRASES:
            await do_save_phrase(
                session, shop_id=shop.id, owner_id=None, item=PhraseInput(shortcut, text, group)
            )
        step("promotions")

        staff_ids: dict[str, int] = {}
        for number, (login, days) in enumerate(zip(DEMO_LOGINS, _HIRED_DAYS_AGO, strict=True)):
            hired = base - timedelta(days=days)
            account = await do_add_staff(
                session,
                shop_id=shop.id,
                username=login.username,
                number=str(1001 + number),
                name=login.name,
                password=DEMO_PASSWORD,
                level=login.level,
                team=login.team,
                roles=login.roles,
                hired_on=hired,
            )
            account.created_at = hired
            staff_ids[login.username] = account.id
        step("staff")

        buyers = data.build_customers(rng, shop.id, base, CUSTOMERS)
        orders = _orders(rng, shop.id, base, products, buyers)
        _tag(rng, buyers, orders)
        # Bulk inserts without RETURNING, then one query for the new ids.
        await session.execute(insert(Customer), [b.row for b in buyers])
        customer_ids = {
            buyer_id: id_
            for buyer_id, id_ in await session.execute(
                select(Customer.buyer_id, Customer.id).where(Customer.shop_id == shop.id)
            )
        }
        step("customers")

        for order in orders:
            order.row["customer_id"] = customer_ids[buyers[order.who].row["buyer_id"]]
        await session.execute(insert(Order), [o.row for o in orders])
        order_ids = {
            number: id_
            for number, id_ in await session.execute(
                select(Order.platform_order_id, Order.id).where(Order.shop_id == shop.id)
            )
        }
        item_rows = [
            {**item, "order_id": order_ids[order.row["platform_order_id"]]}
            for order in orders
            for item in order.items
        ]
        await session.execute(insert(OrderItem), item_rows)
        await _owners_notes_and_credits(session, rng, orders, order_ids, staff_ids, base)
        await session.commit()
        step("orders")
    await _start_live_orders(db, shop.id, base)
    await _last_months_late_notes(db, shop.id, base)

    return DemoSummary(
        shop_code=DEMO_SHOP_CODE,
        products=len(products),
        skus=sum(len(p.skus) for p in products),
        promotions=len(promotions),
        staff=len(DEMO_LOGINS),
        customers=len(buyers),
        orders=len(orders),
        order_items=len(item_rows),
    )
