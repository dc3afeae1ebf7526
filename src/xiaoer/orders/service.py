"""Order queries the home pages and reports share."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from xiaoer.catalog.models import Sku
from xiaoer.core.audit import record_audit
from xiaoer.core.clock import DEFAULT_ZONE, utcnow
from xiaoer.core.events import record_event
from xiaoer.core.policy_store import policy_on
from xiaoer.core.texts import Text, say
from xiaoer.core.timers import cancel_timer
from xiaoer.customers.service import do_get_or_create_customer
from xiaoer.orders import workflow
from xiaoer.orders.models import (
    Order,
    OrderItem,
    OrderTask,
    SellerNote,
    TaskKind,
    TaskStatus,
    TradeStatus,
)
from xiaoer.orders.notes import SellerNote as ParsedNote
from xiaoer.orders.notes import check_flag, memo_text, parse_note
from xiaoer.reception.models import AgentPresence, Message, PresenceStatus
from xiaoer.reception.service import do_send_agent_message, open_conversation_of
from xiaoer.shops.models import Shop
from xiaoer.staff.models import StaffAccount


async def status_counts(session: AsyncSession, shop_id: int) -> dict[str, int]:
    """Orders per trade status, every status present (zero when none)."""
    rows = await session.execute(
        select(Order.status, func.count()).where(Order.shop_id == shop_id).group_by(Order.status)
    )
    counts = {status.value: 0 for status in TradeStatus}
    counts.update({status: int(n) for status, n in rows.all()})
    return counts


def _local_midnight(day: date, zone: str) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(zone))


async def paid_since(session: AsyncSession, shop_id: int, since: datetime) -> tuple[int, int]:
    """(orders, fen) paid at or after ``since``."""
    count, total = (
        await session.execute(
            select(func.count(), func.coalesce(func.sum(Order.paid_fen), 0)).where(
                Order.shop_id == shop_id, Order.paid_at >= since
            )
        )
    ).one()
    return int(count), int(total)


async def paid_today(
    session: AsyncSession, shop_id: int, zone: str = DEFAULT_ZONE, now: datetime | None = None
) -> tuple[int, int]:
    today = (now or utcnow()).astimezone(ZoneInfo(zone)).date()
    return await paid_since(session, shop_id, _local_midnight(today, zone))


async def daily_paid(
    session: AsyncSession,
    shop_id: int,
    days: int,
    zone: str = DEFAULT_ZONE,
    now: datetime | None = None,
) -> list[tuple[date, int]]:
    """Paid fen per shop-local day for the last ``days`` days, oldest first."""
    today = (now or utcnow()).astimezone(ZoneInfo(zone)).date()
    first = today - timedelta(days=days - 1)
    rows = await session.execute(
        select(Order.paid_at, Order.paid_fen).where(
            Order.shop_id == shop_id, Order.paid_at >= _local_midnight(first, zone)
        )
    )
    totals = {first + timedelta(days=i): 0 for i in range(days)}
    tz = ZoneInfo(zone)
    for paid_at, fen in rows.all():
        if paid_at is None:
            continue
        day = paid_at.astimezone(tz).date()
        if day in totals:
            totals[day] += int(fen)
    return sorted(totals.items())


async def orders_in_status(
    session: AsyncSession, shop_id: int, status: TradeStatus, limit: int = 20
) -> list[Order]:
    """Oldest first: the ones waiting longest come first."""
    rows = await session.scalars(
        select(Order)
        .where(Order.shop_id == shop_id, Order.status == status.value)
        .order_by(Order.paid_at, Order.created_at)
        .limit(limit)
    )
    return list(rows)


# --- Changing orders: notes, flags, tasks and the order's life -----------------------

MEMO_BYTES = 1000  # the platform's memo holds at most this many bytes


class OrderError(ValueError):
    """An order change that cannot be made; the message says why."""


# The trade states in messages: the code in English, the seller centre's words on pages.
STATUS_SAID: dict[str, Text] = {
    TradeStatus.WAIT_BUYER_PAY.value: say("WAIT_BUYER_PAY"),
    TradeStatus.WAIT_SELLER_SEND_GOODS.value: say("WAIT_SELLER_SEND_GOODS"),
    TradeStatus.SELLER_CONSIGNED_PART.value: say("SELLER_CONSIGNED_PART"),
    TradeStatus.WAIT_BUYER_CONFIRM_GOODS.value: say("WAIT_BUYER_CONFIRM_GOODS"),
    TradeStatus.TRADE_BUYER_SIGNED.value: say("TRADE_BUYER_SIGNED"),
    TradeStatus.TRADE_FINISHED.value: say("TRADE_FINISHED"),
    TradeStatus.TRADE_CLOSED.value: say("TRADE_CLOSED"),
    TradeStatus.TRADE_CLOSED_BY_TAOBAO.value: say("TRADE_CLOSED_BY_TAOBAO"),
}


def _status(order: Order) -> str:
    return STATUS_SAID.get(order.status, order.status)


async def order_by_platform_id(session: AsyncSession, shop_id: int, number: str) -> Order | None:
    return await session.scalar(
        select(Order).where(Order.shop_id == shop_id, Order.platform_order_id == number)
    )


async def load_order(session: AsyncSession, shop_id: int, order_id: int) -> Order:
    order = await session.get(Order, order_id)
    if order is None or order.shop_id != shop_id:
        raise OrderError(say("no order {order_id} in this shop", order_id=order_id))
    return order


async def note_versions(session: AsyncSession, order_id: int) -> list[SellerNote]:
    """The note's versions, oldest first: the original stays readable (O3)."""
    rows = await session.scalars(
        select(SellerNote).where(SellerNote.order_id == order_id).order_by(SellerNote.version)
    )
    return list(rows)


async def current_note(session: AsyncSession, order_id: int) -> SellerNote | None:
    return await session.scalar(
        select(SellerNote)
        .where(SellerNote.order_id == order_id)
        .order_by(SellerNote.version.desc())
        .limit(1)
    )


async def do_write_note(
    session: AsyncSession,
    *,
    order: Order,
    author: StaffAccount,
    text: str,
    reason: str = "",
    now: datetime | None = None,
) -> SellerNote:
    """Write the seller note, or a new version of it with a reason (O3).

    A note whose fields do not parse is kept as written, with its errors, so the
    agent sees what to fix; the production slip waits until it parses (O9).
    """
    now = now or utcnow()
    text = " ".join(text.split())
    if not text:
        raise OrderError(say("the note is empty"))
    if len(text.encode()) > MEMO_BYTES:
        raise OrderError(
            say(
                "the note is {size} bytes; the platform keeps {limit}",
                size=len(text.encode()),
                limit=MEMO_BYTES,
            )
        )
    versions = await note_versions(session, order.id)
    reason = reason.strip()
    if versions and not reason:
        raise OrderError(say("a change to a written note needs a reason"))
    if versions and versions[-1].text == text:
        raise OrderError(say("the note is unchanged"))
    parsed = parse_note(text)
    note = SellerNote(
        shop_id=order.shop_id,
        order_id=order.id,
        version=len(versions) + 1,
        text=text,
        fields=parsed.to_json() if isinstance(parsed, ParsedNote) else None,
        errors=[] if isinstance(parsed, ParsedNote) else [e.to_stored() for e in parsed],
        author_id=author.id,
        author_number=author.number,
        reason=reason,
        created_at=now,
    )
    session.add(note)
    await session.flush()
    if not versions:
        await cancel_timer(
            session, shop_id=order.shop_id, kind=workflow.NOTE_DUE, subject=workflow.subject(order),
            now=now,
        )  # fmt: skip
        await workflow.close_tasks(
            session, order, (TaskKind.late_note,), outcome="written late", now=now,
            status=TaskStatus.done,
        )  # fmt: skip
    await record_audit(
        session,
        shop_id=order.shop_id,
        actor=author.number or author.username,
        entity="order",
        entity_id=order.platform_order_id,
        action="note" if not versions else "note changed",
        before={"note": versions[-1].text} if versions else None,
        after={"note": text},
        reason=reason,
        at=now,
    )
    await record_event(
        session,
        order.shop_id,
        "order.note",
        {"order_id": order.id, "version": note.version, "ok": not note.errors},
        at=now,
    )
    return note


async def _presence(session: AsyncSession, staff_id: int) -> str:
    status = await session.scalar(
        select(AgentPresence.status).where(AgentPresence.staff_id == staff_id)
    )
    return status or PresenceStatus.offline.value


async def do_flag(
    session: AsyncSession,
    *,
    order: Order,
    agent: StaffAccount,
    flag: int,
    now: datetime | None = None,
) -> str:
    """Flag the order as the agent's sale (O4, O5); returns why the agent may.

    The owner may change the colour. Another agent may take the sale only to chase
    an order left unpaid for the policy's hours while its owner is offline; a
    supervisor may give it to anyone by flagging it themselves.
    """
    now = now or utcnow()
    flag = check_flag(flag)
    why = "owner"
    if order.owner_id is not None and order.owner_id != agent.id:
        policy = await policy_on(session, order.shop_id)
        unpaid_for = now - order.created_at
        if agent.has_role("supervisor", "manager", "admin"):
            why = "supervisor"
        elif (
            TradeStatus(order.status) == TradeStatus.WAIT_BUYER_PAY
            and unpaid_for >= timedelta(hours=policy.orders.chase_after_hours)
            and await _presence(session, order.owner_id) == PresenceStatus.offline.value
        ):
            why = "chase"
        else:
            raise OrderError(
                say(
                    "another agent owns this sale; it may be chased only after "
                    "{hours} h unpaid with its owner offline",
                    hours=policy.orders.chase_after_hours,
                )
            )
    if order.flag == flag and order.owner_id == agent.id:
        return why  # nothing changes
    before = {"flag": order.flag, "owner_id": order.owner_id}
    order.flag = flag
    order.owner_id = agent.id
    await record_audit(
        session,
        shop_id=order.shop_id,
        actor=agent.number or agent.username,
        entity="order",
        entity_id=order.platform_order_id,
        action="flag",
        before=before,
        after={"flag": flag, "owner_id": agent.id},
        reason=why,
        at=now,
    )
    await record_event(
        session,
        order.shop_id,
        "order.flag",
        {"order_id": order.id, "flag": flag, "agent_id": agent.id, "why": why},
        at=now,
    )
    return why


def memo_for(order: Order, note: SellerNote | None, history: list[SellerNote]) -> dict[str, object]:
    """The note and flag in the platform's memo form: flag 0–5, at most 1000 bytes."""
    line = note.text if note is not None else ""
    older = [f"{n.version}:{n.text}" for n in history if note is None or n.id != note.id]
    return {
        "tid": order.platform_order_id,
        "flag": check_flag(order.flag),
        "memo": memo_text(line, older),
    }


# --- Orders from the shop's own site (O1) -----------------------------------------


@dataclass(frozen=True)
class NewItem:
    title: str
    price_fen: int
    quantity: int = 1
    sku_code: str = ""
    sku_text: str = ""


@dataclass(frozen=True)
class NewOrder:
    """An order placed on the shop's own site, as its API receives it."""

    number: str
    buyer_id: str
    items: tuple[NewItem, ...]
    postage_fen: int = 0
    buyer_nick: str = ""
    receiver_name: str = ""
    receiver_phone: str = ""
    receiver_address: str = ""
    buyer_message: str = ""
    shipping_method: str = ""
    cash_on_delivery: bool = False
    channel: str = "own_site"


_NUMBER = re.compile(r"[A-Za-z0-9-]{1,32}")
MAX_FEN = 2**31 - 1  # the amount columns are 32-bit


def _check_length(what: Text, value: str, limit: int) -> None:
    if len(value) > limit:
        raise OrderError(
            say(
                "{what} is {length} characters long; at most {limit}",
                what=what,
                length=len(value),
                limit=limit,
            )
        )


def _check_new(order: NewOrder) -> None:
    if not _NUMBER.fullmatch(order.number):
        raise OrderError(say("order number: 1–32 letters, digits or '-'"))
    if not order.items:
        raise OrderError(say("an order needs at least one item"))
    for item in order.items:
        if not item.title.strip():
            raise OrderError(say("every item needs a title"))
        if item.price_fen < 0 or item.quantity < 1:
            raise OrderError(
                say("item {title!r}: price must be ≥ 0 and quantity ≥ 1", title=item.title)
            )
        _check_length(say("an item title"), item.title.strip(), 200)
        _check_length(say("an item's SKU code"), item.sku_code, 64)
        _check_length(say("an item's SKU text"), item.sku_text, 200)
    if order.postage_fen < 0:
        raise OrderError(say("postage must be ≥ 0"))
    total = sum(i.price_fen * i.quantity for i in order.items) + order.postage_fen
    if total > MAX_FEN:
        raise OrderError(
            say("the order total {total} fen is more than an order can hold", total=total)
        )
    for what, value, limit in (
        (say("buyer nick"), order.buyer_nick, 64),
        (say("receiver name"), order.receiver_name, 64),
        (say("receiver phone"), order.receiver_phone, 32),
        (say("shipping method"), order.shipping_method, 32),
    ):
        _check_length(what, value, limit)


async def do_create_order(
    session: AsyncSession, *, shop_id: int, new: NewOrder, now: datetime | None = None
) -> Order:
    """Create an own-site order; the same number again returns the stored order."""
    now = now or utcnow()
    _check_new(new)
    existing = await order_by_platform_id(session, shop_id, new.number)
    if existing is not None:
        return existing
    buyer = await do_get_or_create_customer(
        session, shop_id=shop_id, channel=new.channel, buyer_id=new.buyer_id,
        nick=new.buyer_nick, phone=new.receiver_phone, name=new.receiver_name,
    )  # fmt: skip
    codes = {i.sku_code for i in new.items if i.sku_code}
    skus = (
        {
            code: sid
            for code, sid in await session.execute(
                select(Sku.code, Sku.id).where(Sku.shop_id == shop_id, Sku.code.in_(codes))
            )
        }
        if codes
        else {}
    )
    goods = sum(i.price_fen * i.quantity for i in new.items)
    order = Order(
        shop_id=shop_id,
        platform_order_id=new.number,
        customer_id=buyer.id,
        buyer_nick=new.buyer_nick or buyer.nick,
        status=TradeStatus.WAIT_BUYER_PAY.value,
        source="api",
        goods_fen=goods,
        postage_fen=new.postage_fen,
        total_fen=goods + new.postage_fen,
        receiver_name=new.receiver_name,
        receiver_phone=new.receiver_phone,
        receiver_address=new.receiver_address,
        buyer_message=new.buyer_message,
        shipping_method=new.shipping_method,
        cash_on_delivery=new.cash_on_delivery,
        created_at=now,
        updated_at=now,
    )
    order.items = [
        OrderItem(
            title=i.title.strip(), price_fen=i.price_fen, quantity=i.quantity,
            sku_code=i.sku_code, sku_text=i.sku_text, sku_id=skus.get(i.sku_code),
        )
        for i in new.items
    ]  # fmt: skip
    session.add(order)
    await session.flush()
    created = {"order_id": order.id, "number": order.platform_order_id}
    await record_event(session, shop_id, "order.created", created, at=now)
    await workflow.on_order_created(session, order, now=now)
    return order


async def _audit_status(
    session: AsyncSession,
    order: Order,
    actor: str,
    before: str,
    reason: str = "",
    now: datetime | None = None,
) -> None:
    await record_audit(
        session,
        shop_id=order.shop_id,
        actor=actor,
        entity="order",
        entity_id=order.platform_order_id,
        action="status",
        before={"status": before},
        after={"status": order.status},
        reason=reason,
        at=now,
    )
    await record_event(
        session,
        order.shop_id,
        "order.status",
        {"order_id": order.id, "status": order.status, "before": before},
        at=now,
    )


async def do_pay_order(
    session: AsyncSession,
    *,
    order: Order,
    paid_fen: int | None = None,
    actor: str = "api",
    now: datetime | None = None,
) -> Order:
    now = now or utcnow()
    if TradeStatus(order.status) != TradeStatus.WAIT_BUYER_PAY:
        if order.paid_at is not None and order.status not in workflow.CLOSED_STATUSES:
            return order  # paid already: the call is repeated
        raise OrderError(
            say(
                "order {number} is {status}; it cannot be paid",
                number=order.platform_order_id,
                status=_status(order),
            )
        )
    if paid_fen is not None and not 0 < paid_fen <= order.total_fen:
        raise OrderError(
            say(
                "the amount paid must be more than 0 and at most {total} fen",
                total=order.total_fen,
            )
        )
    before = order.status
    order.status = TradeStatus.WAIT_SELLER_SEND_GOODS.value
    order.paid_at = now
    order.paid_fen = order.total_fen if paid_fen is None else paid_fen
    await _audit_status(session, order, actor, before, now=now)
    await workflow.on_order_paid(session, order, now=now)
    return order


async def do_ship_order(
    session: AsyncSession,
    *,
    order: Order,
    courier: str,
    tracking_number: str,
    actor: str = "api",
    now: datetime | None = None,
) -> Order:
    """Mark shipped; a cash-on-delivery order must have been confirmed by phone (O7)."""
    now = now or utcnow()
    if order.shipped_at is not None:
        return order
    status = TradeStatus(order.status)
    cod_open = order.cash_on_delivery and status == TradeStatus.WAIT_BUYER_PAY
    if status != TradeStatus.WAIT_SELLER_SEND_GOODS and not cod_open:
        raise OrderError(
            say(
                "order {number} is {status}; it cannot ship",
                number=order.platform_order_id,
                status=_status(order),
            )
        )
    if order.cash_on_delivery and order.cod_confirmed_at is None:
        policy = await policy_on(session, order.shop_id)
        if policy.orders.cod_phone_confirmation:
            raise OrderError(
                say("cash on delivery: confirm the order with the buyer by phone before shipping")
            )
    if not courier.strip() or not tracking_number.strip():
        raise OrderError(say("shipping needs the courier and the tracking number"))
    before = order.status
    order.status = TradeStatus.WAIT_BUYER_CONFIRM_GOODS.value
    order.courier = courier.strip()[:32]
    order.tracking_number = tracking_number.strip()[:64]
    order.shipped_at = now
    await _audit_status(session, order, actor, before, now=now)
    await workflow.on_order_shipped(session, order, now=now)
    return order


async def do_finish_order(
    session: AsyncSession, *, order: Order, actor: str = "api", now: datetime | None = None
) -> Order:
    now = now or utcnow()
    if TradeStatus(order.status) == TradeStatus.TRADE_FINISHED:
        return order
    if order.shipped_at is None:
        raise OrderError(say("order {number} has not shipped", number=order.platform_order_id))
    before = order.status
    order.status = TradeStatus.TRADE_FINISHED.value
    order.finished_at = now
    if order.cash_on_delivery and order.paid_at is None:
        order.paid_at = now
        order.paid_fen = order.total_fen
    await _audit_status(session, order, actor, before, now=now)
    await workflow.on_order_finished(session, order, now=now)
    return order


async def do_close_order(
    session: AsyncSession,
    *,
    order: Order,
    reason: str,
    actor: str = "api",
    now: datetime | None = None,
) -> Order:
    now = now or utcnow()
    status = TradeStatus(order.status)
    if status in workflow.CLOSED_STATUSES:
        return order
    if status not in (TradeStatus.WAIT_BUYER_PAY, TradeStatus.WAIT_SELLER_SEND_GOODS):
        raise OrderError(
            say(
                "order {number} is {status}; it cannot close",
                number=order.platform_order_id,
                status=_status(order),
            )
        )
    before = order.status
    paid = order.paid_at is not None
    order.status = (
        TradeStatus.TRADE_CLOSED.value if paid else TradeStatus.TRADE_CLOSED_BY_TAOBAO.value
    )
    order.close_reason = (reason.strip() or ("退款" if paid else "买家未付款"))[:64]
    order.closed_at = now
    if paid:
        order.refunded_fen = order.paid_fen
    await _audit_status(session, order, actor, before, order.close_reason, now=now)
    await workflow.on_order_closed(session, order, now=now)
    return order


# --- Tasks: confirmation, reminders, phone calls, duplicates (O2, O6, O7) -------------

DELIVERY_WORDS = {"pickup": "自提", "downstairs": "送货到楼下", "install": "包送货安装"}
SEES_PHONES = ("supervisor", "manager", "admin", "warehouse", "auditor")


def mask_phone(phone: str) -> str:
    """``13800001234`` → ``138****1234``; short numbers keep only their last two digits."""
    digits = phone.strip()
    if len(digits) >= 7:
        return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]
    return "*" * max(len(digits) - 2, 0) + digits[-2:]


def may_see_contact(staff: StaffAccount, order: Order) -> bool:
    """The owning agent and the back office see phone and address in full."""
    return order.owner_id == staff.id or staff.has_role(*SEES_PHONES)


def _yuan(fen: int) -> str:
    return f"{fen / 100:.2f}"


def confirmation_text(
    order: Order, note: SellerNote | None, *, courier: str, ship_date: str = ""
) -> str:
    """The message that asks the buyer to check their paid order (O2)."""
    lines = ["亲，您的订单已付款，麻烦核对一下信息："]
    lines.append(f"收货人：{order.receiver_name}  电话：{order.receiver_phone}")
    lines.append(f"地址：{order.receiver_address}")
    for item in order.items:
        spec = f"（{item.sku_text}）" if item.sku_text else ""
        lines.append(f"商品：{item.title}{spec} × {item.quantity}")
    fields = note.fields if note is not None and note.fields else None
    if fields:
        design = {"normal": "图案正常", "modified": "图案修改", "custom": "图案定制"}
        lines.append(
            f"尺寸：宽{fields['width_m']}米 × 高{fields['height_m']}米，"
            f"{design.get(str(fields['design']), str(fields['design']))}"
        )
        month, day = str(fields["ship_date"]).split("-")
        ship_date = f"{int(month)}月{int(day)}日"
        lines.append(f"配送方式：{DELIVERY_WORDS.get(str(fields['delivery']), '')}")
        if fields.get("extras"):
            lines.append(f"备注：{'，'.join(str(e) for e in fields['extras'])}")
    if ship_date:
        lines.append(f"预计发货：{ship_date}")
    if courier:
        lines.append(f"快递：{courier}")
    lines.append("信息没问题请回复“确认”；哪里需要改，直接告诉我就好。")
    return "\n".join(lines)


def reminder_text(order: Order, shop_name: str) -> str:
    """A friendly payment reminder (O6), naming the goods so the buyer knows which."""
    first = order.items[0].title if order.items else "您选的宝贝"
    more = f"等{len(order.items)}件" if len(order.items) > 1 else ""
    return (
        f"亲，看到您在{shop_name}拍下了「{first}」{more}，还没有付款哦。"
        "付款后我们会尽快安排发货；有任何疑问随时问我～"
    )


async def load_task(session: AsyncSession, shop_id: int, task_id: int) -> OrderTask:
    task = await session.get(OrderTask, task_id)
    if task is None or task.shop_id != shop_id:
        raise OrderError(say("no task {task_id} in this shop", task_id=task_id))
    return task


async def _order_with_items(session: AsyncSession, order_id: int) -> Order:
    order = await session.scalar(
        select(Order).options(selectinload(Order.items)).where(Order.id == order_id)
    )
    if order is None:
        raise OrderError(say("no order {order_id}", order_id=order_id))
    return order


async def task_message(session: AsyncSession, task: OrderTask) -> str:
    """The text a confirmation or reminder task sends, filled from the order."""
    order = await _order_with_items(session, task.order_id)
    shop = await session.get(Shop, order.shop_id)
    if task.kind == TaskKind.remind.value:
        return reminder_text(order, shop.name if shop else "")
    if task.kind == TaskKind.confirm.value:
        note = await current_note(session, order.id)
        courier = order.courier or (shop.default_courier if shop else "")
        return confirmation_text(order, note, courier=courier)
    raise OrderError(NO_MESSAGE.get(task.kind) or f"a {task.kind} task sends no message")


async def do_send_task_message(
    session: AsyncSession,
    *,
    task: OrderTask,
    agent: StaffAccount,
    text: str | None = None,
    client_id: str | None = None,
    now: datetime | None = None,
) -> Message:
    """Send a confirmation or a reminder into the buyer's open conversation.

    Each send is kept in the task's evidence; the same ``client_id`` again (a retried
    request) sends and records nothing new.
    """
    now = now or utcnow()
    if task.status != TaskStatus.open.value:
        raise OrderError(say("this task is done already"))
    order = await _order_with_items(session, task.order_id)
    if order.customer_id is None:
        raise OrderError(say("the order has no known buyer to write to"))
    conversation = await open_conversation_of(session, order.customer_id)
    if conversation is None:
        raise OrderError(
            say("the buyer has no open conversation; reach them by phone and record the outcome")
        )
    body = (text or "").strip() or await task_message(session, task)
    sends = list(task.evidence.get("sends", []))
    posted = await do_send_agent_message(
        session,
        agent=agent,
        conversation_id=conversation.id,
        text=body,
        client_id=client_id or f"task-{task.id}-{len(sends) + 1}",
        now=now,
    )
    sent = posted.messages[0]
    if posted.duplicate:  # a repeated request: the message went out the first time
        return sent
    sends.append(
        {"message_ids": [m.id for m in posted.messages], "text": body, "at": now.isoformat(),
         "by": agent.number}
    )  # fmt: skip
    task.evidence = {
        **task.evidence,
        "conversation_id": conversation.id,
        "sent_message_ids": [m.id for m in posted.messages],
        "sent_text": body,
        "sent_at": now.isoformat(),
        "sent_by": agent.number,
        "sends": sends,
    }
    if task.kind == TaskKind.remind.value:
        task.status, task.outcome = TaskStatus.done.value, "sent"
        task.done_at, task.done_by = now, agent.id
    else:
        task.outcome = "sent"
    return sent


async def _buyer_answer(session: AsyncSession, task: OrderTask) -> Message | None:
    conversation_id = task.evidence.get("conversation_id")
    sent = task.evidence.get("sent_message_ids") or []
    if conversation_id is None or not sent:
        return None
    return await session.scalar(
        select(Message)
        .where(
            Message.conversation_id == conversation_id,
            Message.sender == "buyer",
            Message.id > max(sent),
        )
        .order_by(Message.id)
        .limit(1)
    )


TASK_OUTCOMES: dict[str, tuple[str, ...]] = {
    TaskKind.confirm.value: ("confirmed", "changes_requested", "confirmed_by_phone"),
    TaskKind.remind.value: ("phoned", "sms", "buyer_declined"),
    TaskKind.cod_call.value: ("confirmed", "refused", "unreachable"),
    TaskKind.duplicate.value: ("closed", "kept"),
    TaskKind.late_note.value: ("written",),
    TaskKind.late_ship.value: ("chased",),
    TaskKind.late_delivery.value: ("chased",),
}

# What a task that sends nothing, or a wrong outcome, is told: one whole message per kind,
# so each reads naturally in every language (tests check them against the tables above).
NO_MESSAGE: dict[str, Text] = {
    TaskKind.cod_call.value: say("a cod_call task sends no message"),
    TaskKind.late_note.value: say("a late_note task sends no message"),
    TaskKind.late_ship.value: say("a late_ship task sends no message"),
    TaskKind.late_delivery.value: say("a late_delivery task sends no message"),
    TaskKind.duplicate.value: say("a duplicate task sends no message"),
}
ENDS_AS: dict[str, Text] = {
    TaskKind.confirm.value: say(
        "a confirm task ends as one of: confirmed, changes_requested, confirmed_by_phone"
    ),
    TaskKind.remind.value: say("a remind task ends as one of: phoned, sms, buyer_declined"),
    TaskKind.cod_call.value: say("a cod_call task ends as one of: confirmed, refused, unreachable"),
    TaskKind.duplicate.value: say("a duplicate task ends as one of: closed, kept"),
    TaskKind.late_note.value: say("a late_note task ends as one of: written"),
    TaskKind.late_ship.value: say("a late_ship task ends as one of: chased"),
    TaskKind.late_delivery.value: say("a late_delivery task ends as one of: chased"),
}


async def do_finish_task(
    session: AsyncSession,
    *,
    task: OrderTask,
    agent: StaffAccount,
    outcome: str,
    remark: str = "",
    now: datetime | None = None,
) -> OrderTask:
    """Record how a task ended, with what it rests on (the buyer's reply, a call)."""
    now = now or utcnow()
    allowed = TASK_OUTCOMES.get(task.kind, ())
    if outcome not in allowed:
        raise OrderError(
            ENDS_AS.get(task.kind) or f"a {task.kind} task ends as one of: {', '.join(allowed)}"
        )
    if task.status != TaskStatus.open.value:
        raise OrderError(say("this task is done already"))
    order = await _order_with_items(session, task.order_id)
    evidence = dict(task.evidence)
    if remark.strip():
        evidence["remark"] = remark.strip()[:500]
    if task.kind == TaskKind.confirm.value and outcome in ("confirmed", "changes_requested"):
        answer = await _buyer_answer(session, task)
        if answer is None:
            raise OrderError(
                say(
                    "no reply from the buyer after the confirmation yet; "
                    "if they confirmed by phone, record it as such"
                )
            )
        evidence.update(
            answer_message_id=answer.id,
            answer_text=answer.text,
            answered_at=answer.created_at.isoformat(),
        )
    if task.kind == TaskKind.late_note.value and not await workflow.has_note(session, order.id):
        raise OrderError(say("write the seller note first"))
    if task.kind == TaskKind.confirm.value and outcome != "changes_requested":
        order.confirmed_at = now
    if task.kind == TaskKind.cod_call.value and outcome == "confirmed":
        order.cod_confirmed_at = now
    if task.kind == TaskKind.duplicate.value and outcome == "closed":
        await do_close_order(
            session, order=order, reason="重复下单", actor=agent.number or agent.username, now=now
        )
    task.evidence = evidence
    task.outcome, task.status = outcome, TaskStatus.done.value
    task.done_at, task.done_by = now, agent.id
    if task.kind == TaskKind.confirm.value and outcome == "changes_requested":
        # The order is changed as the buyer asked; then it is confirmed again.
        await session.flush()
        await workflow.open_task(
            session, order, TaskKind.confirm, assignee_id=task.assignee_id, now=now
        )
    await record_audit(
        session,
        shop_id=order.shop_id,
        actor=agent.number or agent.username,
        entity="order",
        entity_id=order.platform_order_id,
        action=f"task {task.kind}",
        after={"outcome": outcome},
        reason=remark.strip(),
        at=now,
    )
    await record_event(
        session,
        order.shop_id,
        "order.task_done",
        {"task_id": task.id, "order_id": order.id, "kind": task.kind, "outcome": outcome},
        at=now,
    )
    return task


async def open_tasks(
    session: AsyncSession, shop_id: int, *, assignee_id: int | None = None, limit: int = 200
) -> list[tuple[OrderTask, Order]]:
    """Open tasks, oldest first; one agent's when ``assignee_id`` is given."""
    query = (
        select(OrderTask, Order)
        .join(Order, Order.id == OrderTask.order_id)
        .where(OrderTask.shop_id == shop_id, OrderTask.status == TaskStatus.open.value)
        .order_by(OrderTask.created_at, OrderTask.id)
        .limit(limit)
    )
    if assignee_id is not None:
        query = query.where(OrderTask.assignee_id == assignee_id)
    return [(task, order) for task, order in await session.execute(query)]


async def unconfirmed_paid(session: AsyncSession, shop_id: int, limit: int = 100) -> list[Order]:
    """Paid orders not yet shipped whose buyer has not confirmed them (O2)."""
    rows = await session.scalars(
        select(Order)
        .where(
            Order.shop_id == shop_id,
            Order.status == TradeStatus.WAIT_SELLER_SEND_GOODS.value,
            Order.confirmed_at.is_(None),
        )
        .order_by(Order.paid_at)
        .limit(limit)
    )
    return list(rows)
