"""Changing an order's price, shipping fee or address within the agent's authority (O8).

A price cut or a shipping-fee change is measured against the limits of the
agent's level in the policy (``authority.<level>``). Within them the change is
made at once; beyond them it waits as a request the supervisor approves (and it
is made then) or refuses. Supervisors and managers change orders directly.
Price and shipping fee change only before payment, as on the platform; the
address and the courier until the order ships. A buyer who picks a dearer courier
after paying pays the difference (补运费差价): the courier and the shipping fee then
change together, the fee measured against the agent's authority like any other.
Every change is in the audit log.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.core.audit import record_audit
from xiaoer.core.clock import utcnow
from xiaoer.core.events import record_event
from xiaoer.core.money import fen_to_yuan
from xiaoer.core.policy import Policy
from xiaoer.core.policy_store import policy_on
from xiaoer.core.texts import Text, from_data, say, to_data
from xiaoer.orders.access import (
    OrderForbidden,
    OrderNotFound,
    check_may_act,
)
from xiaoer.orders.errors import OrderError
from xiaoer.orders.models import ChangeStatus, Order, OrderChange, TradeStatus
from xiaoer.orders.site_orders import MAX_FEN
from xiaoer.staff.models import LEADERS, StaffAccount, is_leader

# The parts of an order a change names in its messages.
PART_SAID: dict[str, Text] = {
    "goods_fen": say("goods_fen"),
    "postage_fen": say("postage_fen"),
    "receiver_name": say("receiver_name"),
    "receiver_phone": say("receiver_phone"),
    "receiver_address": say("receiver_address"),
    "courier": say("courier"),
}

# The agents' levels as a change's reasons name them.
LEVEL_SAID: dict[str, Text] = {
    "junior": say("junior"),
    "intermediate": say("intermediate"),
    "senior": say("senior"),
    "account_manager": say("account_manager"),
}


@dataclass(frozen=True)
class ChangeRequest:
    """What the agent wants; ``None`` leaves a part as it is."""

    goods_fen: int | None = None
    postage_fen: int | None = None
    receiver_name: str | None = None
    receiver_phone: str | None = None
    receiver_address: str | None = None
    courier: str | None = None  # the carrier's name as the platform writes it
    reason: str = ""


def _yuan(fen: int) -> str:
    return f"¥{fen_to_yuan(fen)}"


def beyond_authority(
    policy: Policy, level: str, order: Order, before: dict[str, Any], after: dict[str, Any]
) -> list[str]:
    """The limits of ``level`` the change goes past, in words (made by
    :func:`~xiaoer.core.texts.say`, to show in the reader's language); empty when within them."""
    authority = policy.authority.get(level)
    if authority is None:
        return [say("the level {level!r} has no authority in the policy", level=level)]
    said = LEVEL_SAID.get(level, level)
    found: list[str] = []
    if "goods_fen" in after:
        cut = before["goods_fen"] - after["goods_fen"]
        share_limit = int(Decimal(order.goods_fen) * Decimal(authority.max_discount_percent))
        limit = min(authority.max_discount_fen, share_limit)
        if cut > limit:
            found.append(
                say(
                    "a price cut of {cut} is more than the {limit} a {level} agent "
                    "may give on this order",
                    cut=_yuan(cut),
                    limit=_yuan(limit),
                    level=said,
                )
            )
    if "postage_fen" in after:
        old, new = before["postage_fen"], after["postage_fen"]
        waived = new == 0 and old > 0
        if not (waived and authority.free_shipping) and abs(new - old) > (
            authority.max_shipping_fee_change_fen
        ):
            found.append(
                say(
                    "changing the shipping fee by {change} is more than the {limit} "
                    "a {level} agent may",
                    change=_yuan(abs(new - old)),
                    limit=_yuan(authority.max_shipping_fee_change_fen),
                    level=said,
                )
            )
    return found


def change_reasons(change: OrderChange) -> list[str]:
    """Why a change waits for the supervisor, translatable (English for an older change)."""
    return [from_data(why) for why in change.beyond]


def _parts(order: Order, request: ChangeRequest) -> tuple[dict[str, Any], dict[str, Any]]:
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    for name in ("goods_fen", "postage_fen", "receiver_name", "receiver_phone",
                 "receiver_address", "courier"):  # fmt: skip
        value = getattr(request, name)
        if isinstance(value, str):
            value = " ".join(value.split())
        if value is not None and value != getattr(order, name):
            before[name], after[name] = getattr(order, name), value
    return before, after


MONEY_PARTS = frozenset({"goods_fen", "postage_fen"})
RECEIVER_PARTS = frozenset({"receiver_name", "receiver_phone", "receiver_address"})
UNSHIPPED_PARTS = RECEIVER_PARTS | {"courier"}


def changeable_parts(order: Order) -> frozenset[str]:
    """What the order's state still lets change: price and fee before payment, the
    receiver and the courier until the order ships; nothing once it is finished or
    closed."""
    status = TradeStatus(order.status)
    parts: set[str] = set()
    if status == TradeStatus.WAIT_BUYER_PAY:
        parts |= MONEY_PARTS
    unshipped = status in (TradeStatus.WAIT_BUYER_PAY, TradeStatus.WAIT_SELLER_SEND_GOODS)
    if unshipped and order.shipped_at is None:
        parts |= UNSHIPPED_PARTS
    return frozenset(parts)


def check_change_allowed(order: Order, parts: set[str] | frozenset[str]) -> None:
    """Refuse a change of a part the order's state no longer allows. The shipping fee
    changes after payment only with the courier it pays for."""
    allowed = set(changeable_parts(order))
    if "courier" in parts and "courier" in allowed:
        allowed.add("postage_fen")
    refused = set(parts) - allowed
    if refused & MONEY_PARTS:
        raise OrderError(say("price and shipping fee change only before the buyer pays"))
    if refused:
        raise OrderError(say("the address changes only before the order ships"))


def _check(order: Order, after: dict[str, Any]) -> None:
    check_change_allowed(order, set(after))
    money = MONEY_PARTS & after.keys()
    for name in money:
        if not 0 <= after[name] <= MAX_FEN:
            raise OrderError(
                say(
                    "{part} must be between 0 and {limit} fen",
                    part=PART_SAID[name],
                    limit=MAX_FEN,
                )
            )
    if "goods_fen" in after and after["goods_fen"] == 0:
        raise OrderError(say("the goods cannot be free; close the order instead"))
    limits = {"receiver_name": 64, "receiver_phone": 32, "receiver_address": 500, "courier": 32}
    for name, limit in limits.items():
        if name in after and not 0 < len(after[name]) <= limit:
            raise OrderError(
                say("{part} must be 1–{limit} characters", part=PART_SAID[name], limit=limit)
            )


def _moved(parts: list[str]) -> Text:
    """The order moved on since the change was asked for: which parts, in the reader's words."""
    listed: str = PART_SAID.get(parts[-1], parts[-1])
    for name in reversed(parts[:-1]):  # "a, b, c" as a, (b, c): each part stays translatable
        listed = say("{part}, {parts}", part=PART_SAID.get(name, name), parts=listed)
    return say("the order changed meanwhile ({parts}); ask again", parts=listed)


def _apply(order: Order, after: dict[str, Any]) -> None:
    for name, value in after.items():
        setattr(order, name, value)
    if {"goods_fen", "postage_fen"} & after.keys():
        order.total_fen = order.goods_fen + order.postage_fen


async def do_change_order(
    session: AsyncSession,
    *,
    order: Order,
    agent: StaffAccount,
    request: ChangeRequest,
    now: datetime | None = None,
) -> OrderChange:
    """Make the change, or file it for the supervisor when it is beyond the agent's level."""
    now = now or utcnow()
    check_may_act(agent, order)
    if not changeable_parts(order):
        raise OrderError(say("this order can no longer change"))
    before, after = _parts(order, request)
    if not after:
        raise OrderError(say("nothing to change"))
    reason = request.reason.strip()
    if not reason:
        raise OrderError(say("say why the order changes (the buyer's request, the agreed price…)"))
    _check(order, after)
    policy = await policy_on(session, order.shop_id)
    beyond = (
        []
        if agent.has_role(*LEADERS)
        else beyond_authority(policy, agent.level, order, before, after)
    )
    change = OrderChange(
        shop_id=order.shop_id,
        order_id=order.id,
        agent_id=agent.id,
        before=before,
        after=after,
        reason=reason[:500],
        beyond=[to_data(why) for why in beyond],
        status=ChangeStatus.pending.value if beyond else ChangeStatus.applied.value,
        created_at=now,
    )
    session.add(change)
    await session.flush()
    if not beyond:
        _apply(order, after)
        await _audit(session, order, agent, change, "changed", now)
    await record_event(
        session,
        order.shop_id,
        "order.change",
        {"change_id": change.id, "order_id": order.id, "status": change.status,
         "agent_id": agent.id},
        at=now,
    )  # fmt: skip
    return change


async def _audit(
    session: AsyncSession,
    order: Order,
    actor: StaffAccount,
    change: OrderChange,
    action: str,
    now: datetime,
) -> None:
    await record_audit(
        session,
        shop_id=order.shop_id,
        actor=actor.number or actor.username,
        entity="order",
        entity_id=order.platform_order_id,
        action=action,
        before=change.before,
        after=change.after,
        reason=change.reason,
        at=now,
    )


async def change_for(session: AsyncSession, staff: StaffAccount, change_id: int) -> OrderChange:
    change = await session.get(OrderChange, change_id)
    if change is None or change.shop_id != staff.shop_id:
        raise OrderNotFound(say("no change {change_id} in this shop", change_id=change_id))
    return change


async def do_decide_change(
    session: AsyncSession,
    *,
    change: OrderChange,
    supervisor: StaffAccount,
    approve: bool,
    note: str = "",
    now: datetime | None = None,
) -> OrderChange:
    now = now or utcnow()
    if change.shop_id != supervisor.shop_id:
        raise OrderNotFound(say("no change {change_id} in this shop", change_id=change.id))
    if not supervisor.has_role(*LEADERS):
        raise OrderForbidden(say("only a supervisor or a manager decides on a change"))
    if change.status != ChangeStatus.pending.value:
        raise OrderError(say("this change was decided already"))
    order = await session.get(Order, change.order_id)
    if order is None:
        raise OrderError(say("the order is gone"))
    if approve:
        _check(order, change.after)  # the order may have moved on (paid, shipped) meanwhile
        moved = [k for k, v in change.before.items() if getattr(order, k) != v]
        if moved:
            raise OrderError(_moved(moved))
        _apply(order, change.after)
    change.status = (ChangeStatus.approved if approve else ChangeStatus.refused).value
    change.decided_by, change.decided_at, change.note = supervisor.id, now, note.strip()[:500]
    await _audit(session, order, supervisor, change, "change approved" if approve
                 else "change refused", now)  # fmt: skip
    await record_event(
        session,
        order.shop_id,
        "order.change",
        {"change_id": change.id, "order_id": order.id, "status": change.status,
         "agent_id": change.agent_id},
        at=now,
    )  # fmt: skip
    return change


async def pending_changes(session: AsyncSession, shop_id: int) -> list[tuple[OrderChange, Order]]:
    rows = await session.execute(
        select(OrderChange, Order)
        .join(Order, Order.id == OrderChange.order_id)
        .where(OrderChange.shop_id == shop_id, OrderChange.status == ChangeStatus.pending.value)
        .order_by(OrderChange.created_at)
    )
    return [(change, order) for change, order in rows]


async def changes_to_decide(
    session: AsyncSession, staff: StaffAccount
) -> list[tuple[OrderChange, Order]]:
    """The changes waiting for a decision, for those who decide them (leaders)."""
    return await pending_changes(session, staff.shop_id) if is_leader(staff) else []


async def changes_of(session: AsyncSession, order_id: int) -> list[OrderChange]:
    rows = await session.scalars(
        select(OrderChange).where(OrderChange.order_id == order_id).order_by(OrderChange.id)
    )
    return list(rows)


async def changes_made(
    session: AsyncSession, shop_id: int, limit: int = 20
) -> list[tuple[OrderChange, Order, str]]:
    """The changes made to the shop's orders (at once or once approved), newest first,
    with the name of the agent who asked: what the auditor and the warehouse act on."""
    rows = await session.execute(
        select(OrderChange, Order, StaffAccount.name)
        .join(Order, Order.id == OrderChange.order_id)
        .outerjoin(StaffAccount, StaffAccount.id == OrderChange.agent_id)
        .where(
            OrderChange.shop_id == shop_id,
            OrderChange.status.in_((ChangeStatus.applied.value, ChangeStatus.approved.value)),
        )
        .order_by(OrderChange.id.desc())
        .limit(limit)
    )
    return [(change, order, name or "") for change, order, name in rows]
