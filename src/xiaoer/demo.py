"""A believable demo shop: catalogue, promotions, staff, customers and 60 days of orders,
then what the performance pages show: 45 days of closed chats with their response
rounds, the agents' presence, last month's and this month's roster judged from it (with
the violations that follow), and the KPI days rolled up.

Everything comes from one ``random.Random(seed)`` and the moment ``now``: the same pair
gives the same rows (ids, texts, amounts, timestamps). The shop and its orders are
written in one transaction, the history after them in a few more; nothing is written
when the demo shop exists already.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer import demo_data as data
from xiaoer.buyers.models import Customer
from xiaoer.catalog.models import Product, Sku
from xiaoer.core.clock import as_utc, utcnow
from xiaoer.core.db import Database
from xiaoer.core.policy import Policy, default_policy
from xiaoer.core.policy_store import policy_on
from xiaoer.core.timers import fire_all_due
from xiaoer.demo_aftersales import seed_aftersales
from xiaoer.demo_customers import seed_customers
from xiaoer.demo_fulfilment import seed_warehouse
from xiaoer.demo_peakday import seed_peakday
from xiaoer.orders import workflow
from xiaoer.orders.models import (
    Order,
    OrderItem,
    OrderTask,
    SalesCredit,
    SellerNote,
    TaskKind,
    TaskStatus,
    TradeStatus,
)
from xiaoer.orders.notes import SellerNote as ParsedNote
from xiaoer.orders.notes import parse_note
from xiaoer.peakday.target_demo import seed_targets
from xiaoer.performance.attendance import judge_entry, shift_window
from xiaoer.performance.kpi import rollup_days
from xiaoer.performance.models import RosterEntry, RosterStatus
from xiaoer.performance.violations import detect_violations, do_record_detected
from xiaoer.reception.defaults import DEFAULT_AUTO_REPLIES, NO_ACTIVITY
from xiaoer.reception.models import (
    AutoReplyKind,
    Conversation,
    ConversationStatus,
    Message,
    PresenceLog,
    PresenceStatus,
    ResponseRound,
    Sender,
)
from xiaoer.reception.phrases import PhraseInput, do_save_phrase, fill
from xiaoer.shops.models import Platform
from xiaoer.shops.service import do_create_shop, shop_by_code
from xiaoer.staff.models import StaffAccount
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
    conversations: int
    messages: int
    roster_entries: int
    tickets: int
    parcels: int  # shipped from the demo warehouse
    peak_conversations: int = 0  # last 双十一's chats and its ordinary weeks (demo_peakday)
    peak_messages: int = 0


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


def _reminder(
    row: Row, order_id: int, owner: int, policy: Policy, fresh: datetime
) -> dict[str, Any] | None:
    """The payment reminder of an order still unpaid when it fell due (O6), as the
    workflow leaves it: sent by the owner, and ``recovered`` when the buyer paid
    within the recovery window after it; ``None`` for an order paid before."""
    rules = policy.orders
    created, paid = row["created_at"], row["paid_at"]
    due = workflow.after_quiet_hours(
        policy, created + timedelta(minutes=rules.payment_reminder_minutes), _TZ
    )
    if due >= fresh or due > created + timedelta(hours=rules.reminder_recovery_hours):
        return None
    if paid is not None and paid <= due:
        return None
    sent = due + timedelta(seconds=30 + order_id * 37 % 210)  # the agent's minute or two
    task: dict[str, Any] = {
        "shop_id": row["shop_id"], "order_id": order_id, "kind": TaskKind.remind.value,
        "assignee_id": owner, "status": TaskStatus.done.value, "created_at": due,
        "due_at": due, "done_at": sent, "done_by": owner, "outcome": "sent", "evidence": {},
    }  # fmt: skip
    if paid is not None and paid <= sent:
        task.update(done_at=paid, done_by=None, outcome="paid")
    elif paid is not None and paid <= sent + timedelta(hours=rules.reminder_recovery_hours):
        task["outcome"] = "recovered"
    return task


async def _owners_notes_and_credits(
    session: AsyncSession,
    rng: random.Random,
    orders: list[_Planned],
    order_ids: dict[str, int],
    staff_ids: dict[str, int],
    base: datetime,
) -> dict[str, int]:
    """Who owns each sale, the notes written after payment and the sales ledger (O3–O5);
    returns each order's owner by its platform number.

    The two fixed recent orders belong to the first agent and have no note yet: the
    unpaid one is due its reminder, the paid one is late for its note.
    """
    names = [name for name, _flag, _weight in _SELLERS]
    weights = [weight for _name, _flag, weight in _SELLERS]
    flags = {staff_ids[name]: flag for name, flag, _weight in _SELLERS}
    fresh = base - timedelta(minutes=30)
    # The 工号 each note keeps, as a note written in the app does.
    numbers: dict[int, str] = {
        staff_id: number
        for staff_id, number in await session.execute(
            select(StaffAccount.id, StaffAccount.number).where(
                StaffAccount.id.in_(list(staff_ids.values()))
            )
        )
    }
    owners: list[dict[str, Any]] = []
    notes: list[dict[str, Any]] = []
    credits: list[dict[str, Any]] = []
    reminders: list[dict[str, Any]] = []
    policy = await policy_on(session, orders[0].row["shop_id"]) if orders else None
    for order in orders:
        row = order.row
        oid = order_ids[row["platform_order_id"]]
        owner = staff_ids["agent"] if row["created_at"] >= fresh else staff_ids[
            rng.choices(names, weights=weights)[0]
        ]  # fmt: skip
        owners.append({"id": oid, "owner_id": owner, "flag": flags[owner]})
        paid_at = row["paid_at"]
        reminder = _reminder(row, oid, owner, policy, fresh) if policy is not None else None
        if reminder is not None:
            reminders.append(reminder)
            if reminder["outcome"] == "recovered":  # the reminder's assist (O6)
                credits.append(
                    {"shop_id": row["shop_id"], "order_id": oid, "agent_id": owner,
                     "role": "assist", "reason": "reminder", "amount_fen": row["paid_fen"],
                     "paid_at": paid_at, "created_at": paid_at}
                )  # fmt: skip
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
             else [e.to_stored() for e in parsed],
             "author_id": owner, "author_number": numbers.get(owner, ""), "reason": "",
             "created_at": written}
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
    if reminders:
        await session.execute(insert(OrderTask), reminders)
    return {
        order.row["platform_order_id"]: owner["owner_id"]
        for order, owner in zip(orders, owners, strict=True)
    }


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


# --- Chats, the roster and presence: what the performance pages are made of ---------

HISTORY_DAYS = 45  # closed chats on each of the days before today
# The agents' weeks: (username, shift in even ISO weeks, weekday off); the shift swaps
# every week, so each team has someone early and someone late.
_ROTA = (
    ("agent", "early", 1),
    ("agent3", "late", 3),
    ("agent2", "early", 2),
    ("supervisor", "late", 0),
)
_WELCOME = next(text for kind, _, text in DEFAULT_AUTO_REPLIES if kind == AutoReplyKind.welcome)
_LAST_CHAT = timedelta(minutes=45)  # an agent takes no new chat this close to going offline


@dataclass
class _Shift:
    """One planned shift, with when the agent went online and offline (None: absent)."""

    staff_id: int
    username: str
    day: date
    shift: str
    starts_at: datetime
    ends_at: datetime
    online: datetime | None = None
    offline: datetime | None = None


@dataclass
class _Chat:
    row: Row
    messages: list[Row]
    rounds: list[Row]


def _previous_month(today: date) -> date:
    return (today.replace(day=1) - timedelta(days=1)).replace(day=1)


async def _plan_shifts(
    session: AsyncSession,
    rng: random.Random,
    shop_id: int,
    staff_ids: dict[str, int],
    base: datetime,
) -> list[_Shift]:
    """Who works which shift each day from the history's first day (or last month's
    first, if earlier) to yesterday, and when they clocked in and out.

    Last month holds the attendance worth seeing on the payroll: two short late arrivals
    of the first agent (free), ``agent3`` 25 minutes late (fined) and ``agent2`` absent
    without leave (fined); this month the supervisor is a few minutes late once.
    """
    today = base.astimezone(_TZ).date()
    last_month = _previous_month(today)
    day = min(today - timedelta(days=HISTORY_DAYS), last_month)
    shifts: list[_Shift] = []
    while day < today:
        policy = await policy_on(session, shop_id, day)
        swap = day.isocalendar().week % 2 == 1
        for username, shift, rest in _ROTA:
            if day.weekday() == rest:
                continue
            if swap:
                shift = "late" if shift == "early" else "early"
            starts_at, ends_at = shift_window(policy, ZONE, day, shift)
            shifts.append(_Shift(staff_ids[username], username, day, shift, starts_at, ends_at))
        day += timedelta(days=1)
    for item in shifts:
        item.online = item.starts_at - timedelta(seconds=rng.randint(60, 720))
        item.offline = item.ends_at - timedelta(seconds=rng.randint(0, 300))

    def workdays(username: str, first: date, last: date) -> list[_Shift]:
        """The agent's shifts in ``first``..``last`` (excluded) that a colleague also
        works: one of those may be missed without leaving the shop uncovered."""
        return [
            s for s in shifts
            if s.username == username and first <= s.day < last and any(
                o.day == s.day and o.shift == s.shift and o.username != username
                and o.online is not None
                for o in shifts
            )
        ]  # fmt: skip

    this_month = today.replace(day=1)
    for username, _shift, _rest in _ROTA:  # a day off taken besides the weekly one
        shifts.remove(rng.choice(workdays(username, last_month, today)))
    for item in rng.sample(workdays("agent", last_month, this_month), 2):
        item.online = item.starts_at + timedelta(
            minutes=rng.randint(2, 9), seconds=rng.randint(0, 59)
        )
    late = rng.choice(workdays("agent3", last_month, this_month))
    late.online = late.starts_at + timedelta(minutes=25, seconds=rng.randint(0, 59))
    absent = rng.choice(workdays("agent2", last_month, this_month))
    absent.online = absent.offline = None
    recent = workdays("supervisor", this_month, today)
    if recent:
        item = rng.choice(recent)
        item.online = item.starts_at + timedelta(
            minutes=rng.randint(1, 6), seconds=rng.randint(0, 59)
        )
    return shifts


def _reply_seconds(rng: random.Random) -> int:
    """How long an agent took to answer: mostly within half a minute."""
    roll = rng.random()
    if roll < 0.72:
        return rng.randint(4, 30)
    if roll < 0.84:
        return rng.randint(31, 60)
    if roll < 0.96:
        return rng.randint(61, 300)
    return rng.randint(301, 900)


def _conversation(
    rng: random.Random,
    policy: Policy,
    row: Row,
    turns: list[tuple[list[str], list[str]]],
    welcome: str | None,
) -> _Chat:
    """A closed chat from its turns, timed from ``row["opened_at"]``: its messages, one
    response round per run of buyer messages, and the counts and times of its row. A
    turn without answers ends the chat unanswered, closed within half an hour."""
    agent_id = row["agent_id"]
    shop_id = row["shop_id"]
    cap = policy.kpi.round_cap_seconds
    t: datetime = row["opened_at"]
    messages: list[Row] = []
    rounds: list[Row] = []
    first_response: datetime | None = None

    def say(sender: Sender, text: str, meta: dict[str, str] | None = None) -> None:
        messages.append(
            {"shop_id": shop_id, "sender": sender.value, "text": text, "dedupe_key": None,
             "agent_id": agent_id if sender is Sender.agent else None, "meta": meta or {},
             "created_at": t}
        )  # fmt: skip

    closed: datetime | None = None
    for index, (asks, answers) in enumerate(turns):
        start = t
        for n, text in enumerate(asks):
            if n:
                t += timedelta(seconds=rng.randint(5, 40))
            say(Sender.buyer, text)
            if welcome is not None and index == 0 and n == 0:
                t += timedelta(seconds=rng.randint(1, 3))
                say(Sender.auto, welcome, {"auto": AutoReplyKind.welcome.value})
        first = first_response is None
        target = (
            policy.reception.first_response_seconds if first else policy.reception.reply_seconds
        )
        round_row = {"shop_id": shop_id, "agent_id": agent_id, "first": first, "started_at": start}
        if not answers:
            waited = rng.randint(8 * 60, 25 * 60)  # closed before a fine for no reply is due
            rounds.append(
                {**round_row, "answered_at": None, "seconds": None, "capped_seconds": cap,
                 "breached": waited > target}
            )  # fmt: skip
            closed = start + timedelta(seconds=waited)
            break
        typed = int((t - start).total_seconds())
        seconds = max(_reply_seconds(rng), typed + rng.randint(3, 15))
        t = start + timedelta(seconds=seconds)
        rounds.append(
            {**round_row, "answered_at": t, "seconds": seconds,
             "capped_seconds": min(seconds, cap), "breached": seconds > target}
        )  # fmt: skip
        first_response = first_response or t
        for n, text in enumerate(answers):
            if n:
                t += timedelta(seconds=rng.randint(8, 45))
            say(Sender.agent, text)
        if index + 1 < len(turns):  # the buyer reads, measures a window, writes again
            slow = rng.random() < 0.1
            t += timedelta(seconds=rng.randint(180, 720) if slow else rng.randint(15, 150))
    if closed is None:
        closed = t + timedelta(seconds=rng.randint(120, 900))
    row.update(
        assigned_at=row["opened_at"],
        first_response_at=first_response,
        last_message_at=messages[-1]["created_at"],
        closed_at=closed,
        buyer_messages=sum(m["sender"] == Sender.buyer.value for m in messages),
        agent_messages=sum(m["sender"] == Sender.agent.value for m in messages),
    )
    return _Chat(row, messages, rounds)


def _on_duty(shifts: list[_Shift], moment: datetime) -> list[int]:
    """The agents online at ``moment`` who stay online long enough to take a chat."""
    return [
        s.staff_id
        for s in shifts
        if s.online is not None and s.offline is not None
        and s.online <= moment and moment + _LAST_CHAT <= s.offline
    ]  # fmt: skip


def _shifted(chat: _Chat, delta: timedelta) -> _Chat:
    """The chat with every moment in it moved by ``delta``."""

    def move(row: Row) -> Row:
        return {k: v + delta if isinstance(v, datetime) else v for k, v in row.items()}

    return _Chat(move(chat.row), [move(m) for m in chat.messages], [move(r) for r in chat.rounds])


@dataclass(frozen=True)
class _Wanted:
    """A chat a buyer starts: when, who, why (``buy``, ``ask``, ``after``), about what."""

    opened: datetime
    customer_id: int
    kind: str
    category: str = ""
    order_number: str = ""
    ordered_at: datetime | None = None  # the order the buyer places after asking


def _wanted_chats(
    rng: random.Random,
    day: date,
    created: dict[date, list[_Planned]],
    shipped: dict[date, list[_Planned]],
    customers: list[int],
) -> list[_Wanted]:
    """The day's chats, 15 to 30 if buyers allow, by the time they start.

    Close to half the buyers who order within service hours ask first; a few buyers
    ask and order neither that day nor the next; a few ask about an order shipped in
    the week before. One chat per buyer a day.
    """
    opens = data.local_time(day, 8)
    codes = {spec.code: spec.category for spec in data.PRODUCTS}
    weights = [spec.popularity for spec in data.PRODUCTS]
    wanted: list[_Wanted] = []
    asking: set[int] = set()
    for order in created.get(day, []):
        ordered_at = order.row["created_at"]
        moment = ordered_at - timedelta(seconds=rng.randint(240, 2400))
        who = order.row["customer_id"]
        if rng.random() < 0.45 and moment >= opens and who not in asking:
            asking.add(who)
            code = str(order.items[0]["sku_code"]).rsplit("-", 1)[0]
            number = order.row["platform_order_id"]
            wanted.append(_Wanted(moment, who, "buy", codes[code], number, ordered_at))
    buying = {
        o.row["customer_id"] for d in (day, day + timedelta(days=1)) for o in created.get(d, [])
    }
    recent = [o for back in range(1, 9) for o in shipped.get(day - timedelta(days=back), [])]
    plan = [("ask", rng.randint(5, 10)), ("after", rng.randint(2, 5))]
    extra = 0
    while plan:
        kind, count = plan.pop(0)
        for _ in range(count):
            hour = rng.choices(range(8, 24), weights=data.HOUR_WEIGHTS[8:])[0]
            moment = data.local_time(day, hour, rng.randint(0, 59), rng.randint(0, 59))
            if kind == "after" and recent:
                who, topic = rng.choice(recent).row["customer_id"], ""
            else:
                who = rng.choice(customers)
                topic = rng.choices(data.PRODUCTS, weights=weights)[0].category
            if who in asking or (kind == "ask" and who in buying):
                continue
            asking.add(who)
            wanted.append(_Wanted(moment, who, kind, topic))
        if not plan and len(wanted) < 15 and extra < 3:
            plan.append(("ask", 15 - len(wanted)))
            extra += 1
    if len(wanted) > 30:
        wanted = [wanted[i] for i in sorted(rng.sample(range(len(wanted)), 30))]
    return sorted(wanted, key=lambda w: (w.opened, w.customer_id))


def _chats(
    rng: random.Random,
    shop_id: int,
    base: datetime,
    policy: Policy,
    orders: list[_Planned],
    customers: list[int],
    owners: dict[str, int],
    shifts: list[_Shift],
    promotions: list[tuple[str, datetime, datetime]],
) -> list[_Chat]:
    """The closed chats of the days before today, oldest first.

    A chat goes to the owner of the order that follows it if on duty, else to an
    agent of its team on duty (presale chats are the most), else to anyone on duty;
    with nobody on duty there is no chat. A buyer who orders has asked everything
    before the order is placed.
    """
    today = base.astimezone(_TZ).date()
    team_of = {login.username: login.team for login in DEMO_LOGINS}
    names = {login.username: login.name for login in DEMO_LOGINS}
    staff = {s.staff_id: s.username for s in shifts}
    on_day: dict[date, list[_Shift]] = {}
    for item in shifts:
        on_day.setdefault(item.day, []).append(item)
    created: dict[date, list[_Planned]] = {}
    shipped: dict[date, list[_Planned]] = {}
    for order in orders:
        created.setdefault(order.row["created_at"].astimezone(_TZ).date(), []).append(order)
        if order.row["shipped_at"] is not None:
            shipped.setdefault(order.row["shipped_at"].astimezone(_TZ).date(), []).append(order)

    cutoff = default_policy().fulfilment.cutoff_time  # the demo shop keeps the defaults

    def welcome(agent: str, moment: datetime) -> str:
        running = [name for name, start, end in promotions if start <= moment < end]
        return fill(
            _WELCOME,
            {"shop": data.SHOP_NAME, "agent": names[agent], "courier": data.DEFAULT_COURIER,
             "activity": "；".join(running) or NO_ACTIVITY,
             "cutoff": cutoff},
        )  # fmt: skip

    chats: list[_Chat] = []
    for back in range(HISTORY_DAYS, 0, -1):
        day = today - timedelta(days=back)
        working = on_day.get(day, [])
        opens = data.local_time(day, 8)
        for wanted in _wanted_chats(rng, day, created, shipped, customers):
            duty = _on_duty(working, wanted.opened)
            if not duty:
                continue
            team = "aftersale" if wanted.kind == "after" else "presale"
            owner = owners.get(wanted.order_number)
            if owner in duty:
                agent_id = owner
            else:
                ours = [a for a in duty if team_of[staff[a]] == team]
                agent_id = rng.choice(ours or duty)
            agent = staff[agent_id]
            turns = data.chat_script(rng, wanted.kind, wanted.category, names[agent])
            outcome = {"buy": "ordered", "ask": "resolved", "after": "resolved"}[wanted.kind]
            roll = rng.random()
            if wanted.kind == "ask" and roll < 0.3 and len(turns) > 1:
                turns, outcome = turns[:-1], "no_reply"  # the buyer went quiet
            elif wanted.kind == "after" and roll < 0.06:
                outcome = "escalated" if roll < 0.045 else "complaint"
            unanswered = rng.random()
            if unanswered < 0.01:  # nobody answered at all
                turns = [(turns[0][0] + [rng.choice(("？", "有人吗？", "在吗？"))], [])]
                outcome = "other"
            elif unanswered < 0.05:  # the buyer's last words were left unanswered
                turns[-1] = (turns[-1][0], [])
            row: Row = {
                "shop_id": shop_id, "customer_id": wanted.customer_id, "channel_id": None,
                "team": team, "agent_id": agent_id, "status": ConversationStatus.closed.value,
                "opened_at": wanted.opened, "queued_at": wanted.opened, "waiting_since": None,
                "outcome": outcome, "unread": 0,
            }  # fmt: skip
            greeting = welcome(agent, wanted.opened) if rng.random() < 0.35 else None
            chat = _conversation(rng, policy, row, turns, greeting)
            if wanted.ordered_at is not None:  # done asking a little before ordering
                asked = max(m["created_at"] for m in chat.messages if m["sender"] == "buyer")
                late = asked - (wanted.ordered_at - timedelta(seconds=rng.randint(20, 90)))
                if late > timedelta(0):
                    chat = _shifted(chat, -late)
                    opened = chat.row["opened_at"]
                    if opened < opens or agent_id not in _on_duty(working, opened):
                        continue
            chats.append(chat)
    return chats


async def _insert_chats(session: AsyncSession, shop_id: int, chats: list[_Chat]) -> int:
    """Bulk inserts of the chats, then their messages and rounds; returns the messages."""
    if not chats:
        return 0
    # NULLs written as such: rows that differ in which columns are NULL stay one batch.
    await session.execute(
        insert(Conversation).execution_options(render_nulls=True), [chat.row for chat in chats]
    )
    ids = {
        (customer_id, as_utc(opened)): id_
        for id_, customer_id, opened in await session.execute(
            select(Conversation.id, Conversation.customer_id, Conversation.opened_at).where(
                Conversation.shop_id == shop_id,
                Conversation.status == ConversationStatus.closed.value,
            )
        )
    }
    messages: list[Row] = []
    rounds: list[Row] = []
    for chat in chats:
        id_ = ids[(chat.row["customer_id"], chat.row["opened_at"])]
        messages.extend({**m, "conversation_id": id_} for m in chat.messages)
        rounds.extend({**r, "conversation_id": id_} for r in chat.rounds)
    await session.execute(insert(Message).execution_options(render_nulls=True), messages)
    await session.execute(insert(ResponseRound).execution_options(render_nulls=True), rounds)
    return len(messages)


async def _attendance(
    session: AsyncSession, shop_id: int, shifts: list[_Shift], by: int, base: datetime
) -> int:
    """Presence logs of every shift; the roster of last month and this month up to
    yesterday, each entry judged at its end from the presence as the judging timer
    does. Returns the roster entries written; the caller commits, then detects the
    violations the judging told of."""
    logs = sorted(
        (at, item.staff_id, status.value)
        for item in shifts
        for at, status in (
            (item.online, PresenceStatus.online),
            (item.offline, PresenceStatus.offline),
        )
        if at is not None
    )
    if logs:
        await session.execute(
            insert(PresenceLog),
            [{"shop_id": shop_id, "staff_id": staff_id, "status": status, "at": at}
             for at, staff_id, status in logs],
        )  # fmt: skip
    first = _previous_month(base.astimezone(_TZ).date())
    rostered = [item for item in shifts if item.day >= first]
    if not rostered:
        return 0
    await session.execute(
        insert(RosterEntry),
        [{"shop_id": shop_id, "staff_id": item.staff_id, "day": item.day, "shift": item.shift,
          "starts_at": item.starts_at, "ends_at": item.ends_at,
          "status": RosterStatus.scheduled.value, "created_by": by}
         for item in rostered],
    )  # fmt: skip
    entries = await session.scalars(
        select(RosterEntry)
        .where(RosterEntry.shop_id == shop_id, RosterEntry.judged_at.is_(None))
        .order_by(RosterEntry.ends_at, RosterEntry.id)
    )
    for entry in list(entries):
        await judge_entry(session, entry, as_utc(entry.ends_at))
    return len(rostered)


async def _history(
    db: Database,
    rng: random.Random,
    shop_id: int,
    base: datetime,
    orders: list[_Planned],
    customers: list[int],
    owners: dict[str, int],
    staff_ids: dict[str, int],
    promotions: list[tuple[str, datetime, datetime]],
    step: Callable[[str], None],
) -> tuple[int, int, int]:
    """Chats, presence and the judged roster, the violations they led to, and the KPI
    days rolled up; returns the conversations, messages and roster entries."""
    today = base.astimezone(_TZ).date()
    async with db.session() as session:
        policy = await policy_on(session, shop_id, today)
        shifts = await _plan_shifts(session, rng, shop_id, staff_ids, base)
        chats = _chats(rng, shop_id, base, policy, orders, customers, owners, shifts, promotions)
        messages = await _insert_chats(session, shop_id, chats)
        await session.commit()
        step("chats")
        entries = await _attendance(session, shop_id, shifts, staff_ids["supervisor"], base)
        await session.commit()  # the judged shifts' events are stored on commit
    async with db.session() as session:
        await detect_violations(session, shop_id)
        await session.commit()
        step("attendance")
        first = min(shift.day for shift in shifts)
        await rollup_days(session, shop_id, first, today - timedelta(days=1), now=base)
        await session.commit()
        step("kpi")
    return len(chats), messages, entries


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
    steps = (
        "shop", "catalogue", "promotions", "staff", "customers", "orders", "chats",
        "attendance", "kpi", "aftersales", "warehouse", "customer file", "peak day",
    )  # fmt: skip
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
        owners = await _owners_notes_and_credits(session, rng, orders, order_ids, staff_ids, base)
        await session.commit()
        step("orders")
    await _start_live_orders(db, shop.id, base)
    await _last_months_late_notes(db, shop.id, base)
    conversations, messages, entries = await _history(
        db,
        rng,
        shop.id,
        base,
        orders,
        [customer_ids[buyer.row["buyer_id"]] for buyer in buyers],
        owners,
        staff_ids,
        [(p.name, as_utc(p.starts_at), as_utc(p.ends_at)) for p in promotions],
        step,
    )
    tickets = await seed_aftersales(db, rng, shop.id, base, staff_ids)
    step("aftersales")
    warehouse = await seed_warehouse(db, rng, shop.id, base, staff_ids)
    async with db.session() as session:  # cases and parcels told some buyers in their chats
        messages = int(
            await session.scalar(
                select(func.count()).select_from(Message).where(Message.shop_id == shop.id)
            )
            or 0
        )
    step("warehouse")
    await seed_customers(db, rng, shop.id, base, staff_ids)
    await seed_targets(db, shop.id, staff_ids["manager"], base)  # a moment, with the file's
    step("customer file")
    oldest = base.astimezone(_TZ).date() - timedelta(days=HISTORY_DAYS)
    peak = await seed_peakday(db, rng, shop.id, base, oldest)
    step("peak day")

    return DemoSummary(
        shop_code=DEMO_SHOP_CODE,
        products=len(products),
        skus=sum(len(p.skus) for p in products),
        promotions=len(promotions),
        staff=len(DEMO_LOGINS),
        customers=len(buyers),
        orders=len(orders),
        order_items=len(item_rows),
        conversations=conversations,
        messages=messages,
        roster_entries=entries,
        tickets=tickets,
        parcels=warehouse.shipped,
        peak_conversations=peak.conversations,
        peak_messages=peak.messages,
    )
