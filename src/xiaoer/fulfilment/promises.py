"""Delivery promises (F6): the courier a buyer may choose, and the dates a shop keeps.

A buyer may ask for another courier than the shop's default (policy
``fulfilment.courier_change_allowed``) and pays the difference of what the two cost
the shop (``fulfilment.courier_prices``, fen by carrier code). A cheaper courier is no
saving for the buyer: the shop's price is one for every parcel, so nothing is refunded.
The change is an order change like any other (``orders.changes``): the courier and the
shipping fee change together, at once within the agent's authority and after the
supervisor's approval beyond it; only before the order ships.

Ship-by and deliver-by: paid before the cut-off (shop time) an order ships that day,
else the next (:func:`xiaoer.core.dispatch.dispatch_day`); it is due out by 23:59 of
that day on the shop's clock, and due at the buyer by 23:59 ``orders.deliver_within_days``
days later.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.core.dispatch import dispatch_day
from xiaoer.core.errors import NotFound
from xiaoer.core.policy import Policy
from xiaoer.core.policy_store import policy_on
from xiaoer.core.texts import say
from xiaoer.fulfilment import carriers
from xiaoer.fulfilment.carriers import carrier_name
from xiaoer.orders.access import check_may_act
from xiaoer.orders.changes import ChangeRequest, changeable_parts, do_change_order
from xiaoer.orders.models import Order, OrderChange
from xiaoer.shops.models import Shop
from xiaoer.shops.service import shop_zone
from xiaoer.staff.models import StaffAccount

# The end of the shop's working day, by which a parcel promised "today" leaves.
SHIP_BY = time(23, 59)

def find_carrier(text: str) -> str | None:
    """The carrier's code for a code or a name as sellers write it; None when unknown."""
    carrier = carriers.find_carrier(text)
    return carrier.code if carrier is not None else None


class CourierError(ValueError):
    """A courier change the policy, the carrier or the order's state does not allow."""


def _price(policy: Policy, code: str) -> int:
    prices = policy.fulfilment.courier_prices
    if code not in prices:
        raise CourierError(say("the policy has no price for the courier {code}", code=code))
    return int(prices[code])


def default_carrier(shop: Shop) -> str | None:
    return find_carrier(shop.default_courier)


def quote_courier_change(policy: Policy, shop: Shop, from_code: str | None, to_code: str) -> int:
    """What the buyer pays (fen) for ``to_code`` instead of ``from_code`` (the shop's
    default courier when None): the difference in the shop's prices; 0 for a cheaper
    courier, as the shop does not refund one."""
    if not policy.fulfilment.courier_change_allowed:
        raise CourierError(say("this shop does not change couriers"))
    start = from_code or default_carrier(shop)
    if start is None or start not in carriers.BY_CODE:
        raise CourierError(
            say("the courier {courier!r} is not one we know", courier=from_code or "")
        )
    if to_code not in carriers.BY_CODE:
        raise CourierError(say("the courier {courier!r} is not one we know", courier=to_code))
    return max(0, _price(policy, to_code) - _price(policy, start))


@dataclass(frozen=True)
class CourierQuote:
    """An order's courier now, and what each other one would cost the buyer."""

    order: Order
    current: str | None  # the code of the order's courier (or the shop's default)
    allowed: bool  # the policy lets buyers change, and the order has not shipped
    prices: dict[str, int]  # code → the difference the buyer pays


def _current(order: Order, shop: Shop) -> str | None:
    return find_carrier(order.courier) or default_carrier(shop)


async def order_for_courier(session: AsyncSession, staff: StaffAccount, order_id: int) -> Order:
    """The order, when it is of the caller's shop and the caller acts on it."""
    order = await session.get(Order, order_id)
    if order is None or order.shop_id != staff.shop_id:
        raise NotFound(say("no order {order_id} in this shop", order_id=order_id))
    check_may_act(staff, order)
    return order


async def courier_quote(session: AsyncSession, staff: StaffAccount, order_id: int) -> CourierQuote:
    """What the courier form shows: the order's courier and every other one's price."""
    order = await order_for_courier(session, staff, order_id)
    shop = await session.get(Shop, order.shop_id)
    assert shop is not None
    policy = await policy_on(session, order.shop_id)
    current = _current(order, shop)
    allowed = policy.fulfilment.courier_change_allowed and "courier" in changeable_parts(order)
    prices: dict[str, int] = {}
    if current is not None and policy.fulfilment.courier_change_allowed:
        for code in carriers.BY_CODE:
            if code != current and code in policy.fulfilment.courier_prices:
                prices[code] = quote_courier_change(policy, shop, current, code)
    return CourierQuote(order, current, allowed, prices)


def check_may_change_courier(policy: Policy, staff: StaffAccount, order: Order, to: str) -> None:
    """The agent acts on the order, the policy allows a change, the carrier is known
    and priced, and the order has not shipped."""
    check_may_act(staff, order)
    if not policy.fulfilment.courier_change_allowed:
        raise CourierError(say("this shop does not change couriers"))
    if to not in carriers.BY_CODE:
        raise CourierError(say("the courier {courier!r} is not one we know", courier=to))
    _price(policy, to)
    if "courier" not in changeable_parts(order):
        raise CourierError(say("the courier changes only before the order ships"))


async def do_change_courier(
    session: AsyncSession,
    agent: StaffAccount,
    order_id: int,
    carrier: str,
    *,
    reason: str = "",
    now: datetime | None = None,
) -> OrderChange:
    """Ask for the order to go by ``carrier`` (a code or a name) at the price difference:
    an order change of its courier and shipping fee, made at once within the agent's
    authority or waiting for the supervisor beyond it (``orders.changes``)."""
    order = await order_for_courier(session, agent, order_id)
    shop = await session.get(Shop, order.shop_id)
    assert shop is not None
    policy = await policy_on(session, order.shop_id)
    code = find_carrier(carrier)
    if code is None:
        raise CourierError(say("the courier {courier!r} is not one we know", courier=carrier))
    check_may_change_courier(policy, agent, order, code)
    current = _current(order, shop)
    if current == code:
        raise CourierError(say("the order goes by {courier} already", courier=carrier_name(code)))
    difference = quote_courier_change(policy, shop, current, code)
    request = ChangeRequest(
        courier=carrier_name(code),
        postage_fen=order.postage_fen + difference if difference else None,
        reason=reason,
    )
    return await do_change_order(session, order=order, agent=agent, request=request, now=now)


def promised_dates(policy: Policy, zone: ZoneInfo, paid_at: datetime) -> tuple[datetime, datetime]:
    """(ship_by, deliver_by) in UTC for an order paid at ``paid_at``: 23:59 shop time of
    its dispatch day, and of ``orders.deliver_within_days`` days after it."""
    day = dispatch_day(policy.fulfilment.cutoff_time, zone, paid_at)
    ship_by = datetime.combine(day, SHIP_BY, tzinfo=zone)
    deliver_day = day + timedelta(days=policy.orders.deliver_within_days)
    deliver_by = datetime.combine(deliver_day, SHIP_BY, tzinfo=zone)
    return ship_by.astimezone(ZoneInfo("UTC")), deliver_by.astimezone(ZoneInfo("UTC"))


async def order_promised_dates(
    session: AsyncSession, order: Order
) -> tuple[datetime, datetime] | None:
    """:func:`promised_dates` of a paid order, by the policy in force on its day of
    payment and the shop's zone; None for an order not paid."""
    if order.paid_at is None:
        return None
    zone = await shop_zone(session, order.shop_id)
    day = order.paid_at.astimezone(zone).date()
    policy = await policy_on(session, order.shop_id, day)
    return promised_dates(policy, zone, order.paid_at)
