"""Membership (R5): levels from purchases, member prices per SKU and level.

A person's level is the highest of ``policy.customers.member_levels`` whose paid orders
and spending they both reach (:func:`xiaoer.customers.stats.level_of`). One person's
level is read live from their orders (:func:`live_level`): paid orders not refunded in
full, and what was paid less what was paid back — so buying and returning does not
make a member. Lists over many customers read the projection ``customer_stats.level``.

A member price is what a member of a level pays for a SKU on the shop's own site; a
member without a price at their own level pays the best lower level's. The shop's site
gets them through ``core.hooks.on_site_prices`` when an order is placed
(:func:`site_member_prices`); agents see them in the buyer's side panel
(:func:`member_summary`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import case, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.aftersales.models import Refund
from xiaoer.aftersales.refund_states import MONEY_BACK, RefundStatus
from xiaoer.buyers.models import Customer
from xiaoer.catalog.models import Product, Sku
from xiaoer.core.audit import record_audit
from xiaoer.core.clock import utcnow
from xiaoer.core.errors import NotFound
from xiaoer.core.events import record_event
from xiaoer.core.hooks import on_site_prices
from xiaoer.core.money import fen_to_yuan
from xiaoer.core.policy import Policy, member_levels
from xiaoer.core.policy_store import policy_on
from xiaoer.core.texts import say
from xiaoer.customers.models import CustomerStats, MemberPrice
from xiaoer.customers.people import buyer_ids, check_manager, person_in_shop
from xiaoer.customers.points import person_balance
from xiaoer.customers.points_ledger import Balance
from xiaoer.customers.stats import level_of
from xiaoer.orders.models import Order, OrderItem
from xiaoer.staff.models import StaffAccount

RECENT_DAYS = 365  # the SKUs a summary shows: bought in the last year
RECENT_SKUS = 10


class MembershipError(ValueError):
    """A member price the rules refuse."""


@dataclass(frozen=True)
class Standing:
    """A person's purchases as membership counts them, and the level they give."""

    orders: int
    spent_fen: int
    level: str


def level_names(policy: Policy) -> list[str]:
    return [name for name, _, _ in member_levels(policy.customers.member_levels)]


async def live_level(
    session: AsyncSession, policy: Policy, person: Customer, ids: list[int] | None = None
) -> Standing:
    """The person's level from their orders as they stand (no check: the caller's)."""
    ids = ids if ids is not None else await buyer_ids(session, person)
    succeeded = (
        select(func.coalesce(func.sum(Refund.amount_fen), 0))
        .where(
            Refund.order_id == Order.id,
            Refund.status == RefundStatus.SUCCESS.value,
            Refund.kind.in_([k.value for k in MONEY_BACK]),
        )
        .scalar_subquery()
    )
    back = case((Order.refunded_fen > succeeded, Order.refunded_fen), else_=succeeded)
    row = (
        await session.execute(
            select(
                func.coalesce(func.sum(case((back < Order.paid_fen, 1), else_=0)), 0),
                func.coalesce(func.sum(Order.paid_fen - back), 0),
            ).where(
                Order.shop_id == person.shop_id,
                Order.customer_id.in_(ids),
                Order.paid_at.is_not(None),
            )
        )
    ).one()
    orders, spent = int(row[0]), max(0, int(row[1]))
    return Standing(orders, spent, level_of(policy, orders, spent))


def _price_for(levels: list[str], level: str, prices: dict[str, int]) -> int | None:
    """The member price of ``level``, or of the best lower level that has one."""
    if level not in levels:
        return None
    for name in reversed(levels[: levels.index(level) + 1]):
        if name in prices:
            return prices[name]
    return None


async def _prices_of(session: AsyncSession, sku_ids: list[int]) -> dict[int, dict[str, int]]:
    found: dict[int, dict[str, int]] = {}
    rows = await session.execute(
        select(MemberPrice.sku_id, MemberPrice.level, MemberPrice.price_fen).where(
            MemberPrice.sku_id.in_(sku_ids)
        )
    )
    for sku_id, level, price in rows:
        found.setdefault(int(sku_id), {})[level] = int(price)
    return found


async def member_prices(
    session: AsyncSession, shop_id: int, customer_id: int, sku_ids: list[int]
) -> dict[int, int]:
    """The member prices the customer pays for those of ``sku_ids`` that have one at
    their level or below (a non-member: none)."""
    person = await person_in_shop(session, shop_id, customer_id)
    policy = await policy_on(session, shop_id)
    level = (await live_level(session, policy, person)).level
    if not level or not sku_ids:
        return {}
    levels = level_names(policy)
    prices = await _prices_of(session, sku_ids)
    chosen = {sku: _price_for(levels, level, by_level) for sku, by_level in prices.items()}
    return {sku: price for sku, price in chosen.items() if price is not None}


@on_site_prices
async def site_member_prices(
    session: AsyncSession, shop_id: int, customer_id: int, sku_ids: list[int]
) -> dict[int, int]:
    """The shop's site asks for a buyer's prices as an order is placed."""
    if not sku_ids:
        return {}
    # A shop without member prices pays for nothing more than this one look.
    if (
        await session.scalar(select(MemberPrice.sku_id).where(MemberPrice.shop_id == shop_id))
        is None
    ):
        return {}
    return await member_prices(session, shop_id, customer_id, sku_ids)


async def member_price_for(
    session: AsyncSession, shop_id: int, customer_id: int, sku_id: int
) -> int:
    """The price the customer pays for the SKU on the shop's site: their level's member
    price, or the best lower level's, else the SKU's own price."""
    sku = await session.get(Sku, sku_id)
    if sku is None or sku.shop_id != shop_id:
        raise NotFound(say("no such SKU"))
    price = (await member_prices(session, shop_id, customer_id, [sku_id])).get(sku_id)
    return sku.price_fen if price is None or price > sku.price_fen else price


# --- keeping the member prices -------------------------------------------------------------


async def _sku_of(session: AsyncSession, staff: StaffAccount, sku_id: int) -> Sku:
    sku = await session.get(Sku, sku_id)
    if sku is None or sku.shop_id != staff.shop_id:
        raise NotFound(say("no such SKU"))
    return sku


async def check_member_price(
    session: AsyncSession, staff: StaffAccount, sku_id: int, level: str, price_fen: int
) -> Sku:
    check_manager(staff)
    sku = await _sku_of(session, staff, sku_id)
    policy = await policy_on(session, staff.shop_id)
    levels = level_names(policy)
    if level not in levels:
        raise MembershipError(
            say("no member level {level!r}; the levels are {levels}", level=level,
                levels="、".join(levels) or "-")
        )  # fmt: skip
    if price_fen <= 0:
        raise MembershipError(say("a member price is more than 0"))
    if price_fen >= sku.price_fen:
        raise MembershipError(
            say("a member price is below the SKU's own price of {price} yuan",
                price=fen_to_yuan(sku.price_fen))
        )  # fmt: skip
    return sku


async def do_set_member_price(
    session: AsyncSession,
    staff: StaffAccount,
    sku_id: int,
    level: str,
    price_fen: int,
    *,
    now: datetime | None = None,
) -> MemberPrice:
    """Set what members of ``level`` pay for the SKU (a supervisor or the manager)."""
    now = now or utcnow()
    level = level.strip()
    sku = await check_member_price(session, staff, sku_id, level, price_fen)
    row = await session.get(MemberPrice, (sku.id, level))
    before = None if row is None else row.price_fen
    if row is None:
        row = MemberPrice(sku_id=sku.id, level=level, shop_id=staff.shop_id, price_fen=price_fen)
        session.add(row)
    row.price_fen, row.updated_by_id, row.updated_at = price_fen, staff.id, now
    await session.flush()
    await _recorded(session, staff, sku, level, before, price_fen, now)
    return row


async def do_delete_member_price(
    session: AsyncSession,
    staff: StaffAccount,
    sku_id: int,
    level: str,
    *,
    now: datetime | None = None,
) -> None:
    """The SKU has no member price at ``level`` any more."""
    now = now or utcnow()
    check_manager(staff)
    sku = await _sku_of(session, staff, sku_id)
    row = await session.get(MemberPrice, (sku.id, level))
    if row is None:
        raise MembershipError(say("the SKU has no member price at that level"))
    before = row.price_fen
    await session.execute(
        delete(MemberPrice).where(MemberPrice.sku_id == sku.id, MemberPrice.level == level)
    )
    await _recorded(session, staff, sku, level, before, None, now)


async def _recorded(
    session: AsyncSession,
    staff: StaffAccount,
    sku: Sku,
    level: str,
    before: int | None,
    after: int | None,
    now: datetime,
) -> None:
    await record_audit(
        session, shop_id=staff.shop_id, actor=staff.number or staff.username,
        entity="member_price", entity_id=f"{sku.code}:{level}", action="set" if after else "delete",
        before=None if before is None else {"price_fen": before},
        after=None if after is None else {"price_fen": after}, at=now,
    )  # fmt: skip
    await record_event(
        session, staff.shop_id, "member_price.changed",
        {"sku_id": sku.id, "level": level, "price_fen": after, "by": staff.id}, at=now,
    )  # fmt: skip


# --- what the pages and the side panel show -------------------------------------------------


@dataclass(frozen=True)
class PriceRow:
    sku_id: int
    code: str
    title: str
    price_fen: int
    member_fen: dict[str, int]  # level → member price


async def price_table(
    session: AsyncSession, staff: StaffAccount, search: str = "", limit: int = 100
) -> list[PriceRow]:
    """The shop's SKUs (by code, a prefix searched) with their member prices."""
    check_manager(staff)
    query = (
        select(Sku.id, Sku.code, Sku.price_fen, Product.title)
        .join(Product, Product.id == Sku.product_id)
        .where(Sku.shop_id == staff.shop_id)
        .order_by(Sku.code)
        .limit(limit)
    )
    if search.strip():
        query = query.where(Sku.code.startswith(search.strip(), autoescape=True))
    skus = (await session.execute(query)).all()
    prices = await _prices_of(session, [int(r.id) for r in skus])
    return [
        PriceRow(int(r.id), r.code, r.title, int(r.price_fen), prices.get(int(r.id), {}))
        for r in skus
    ]


async def level_counts(session: AsyncSession, staff: StaffAccount) -> dict[str, int]:
    """How many persons hold each level, as the stats last summed them."""
    check_manager(staff)
    rows = await session.execute(
        select(CustomerStats.level, func.count())
        .where(CustomerStats.shop_id == staff.shop_id, CustomerStats.level != "")
        .group_by(CustomerStats.level)
    )
    return {str(level): int(count) for level, count in rows}


@dataclass(frozen=True)
class MemberSku:
    sku_id: int
    code: str
    title: str
    price_fen: int
    member_fen: int | None  # what this buyer pays as a member; None: the list price


@dataclass(frozen=True)
class MemberSummary:
    """What an agent sees of a buyer's membership beside the chat."""

    customer_id: int  # the person
    level: str
    orders: int
    spent_fen: int
    next_level: str  # "" at the top
    next_orders: int  # paid orders still missing for it
    next_fen: int  # spending still missing for it
    points: Balance
    skus: list[MemberSku] = field(default_factory=list)

    def as_json(self) -> dict[str, object]:
        return {
            "customer_id": self.customer_id,
            "level": self.level,
            "orders": self.orders,
            "spent_fen": self.spent_fen,
            "next_level": self.next_level,
            "next_orders": self.next_orders,
            "next_fen": self.next_fen,
            "points": {
                "usable": self.points.usable,
                "pending": self.points.pending,
                "debt": self.points.debt,
            },
            "skus": [
                {"sku_id": s.sku_id, "code": s.code, "title": s.title, "price_fen": s.price_fen,
                 "member_fen": s.member_fen}
                for s in self.skus
            ],
        }  # fmt: skip


async def member_summary(
    session: AsyncSession, shop_id: int, customer_id: int, *, now: datetime | None = None
) -> MemberSummary:
    """A buyer's level, points and the member prices of the SKUs they bought in the last
    year. No check of who reads: the caller (the side panel's route) decided that the
    reader may see this buyer; another shop's buyer is not found."""
    now = now or utcnow()
    person = await person_in_shop(session, shop_id, customer_id)
    ids = await buyer_ids(session, person)
    policy = await policy_on(session, shop_id)
    standing = await live_level(session, policy, person, ids)
    next_level, next_orders, next_fen = "", 0, 0
    for name, need_orders, need_fen in member_levels(policy.customers.member_levels):
        if standing.orders < need_orders or standing.spent_fen < need_fen:
            next_level = name
            next_orders = max(0, need_orders - standing.orders)
            next_fen = max(0, need_fen - standing.spent_fen)
            break
    bought = (
        select(OrderItem.sku_id, func.max(Order.paid_at).label("last"))
        .join(Order, Order.id == OrderItem.order_id)
        .where(
            Order.shop_id == shop_id,
            Order.customer_id.in_(ids),
            Order.paid_at.is_not(None),
            Order.paid_at >= now - timedelta(days=RECENT_DAYS),
            OrderItem.sku_id.is_not(None),
        )
        .group_by(OrderItem.sku_id)
        .order_by(func.max(Order.paid_at).desc())
        .limit(RECENT_SKUS)
        .subquery()
    )
    rows = (
        await session.execute(
            select(Sku.id, Sku.code, Sku.price_fen, Product.title)
            .join(bought, bought.c.sku_id == Sku.id)
            .join(Product, Product.id == Sku.product_id)
            .order_by(bought.c.last.desc(), Sku.id)
        )
    ).all()
    levels = level_names(policy)
    prices = await _prices_of(session, [int(r.id) for r in rows])
    skus = []
    for r in rows:
        price = _price_for(levels, standing.level, prices.get(int(r.id), {}))
        member = price if price is not None and price < r.price_fen else None
        skus.append(MemberSku(int(r.id), r.code, r.title, int(r.price_fen), member))
    return MemberSummary(
        customer_id=person.id,
        level=standing.level,
        orders=standing.orders,
        spent_fen=standing.spent_fen,
        next_level=next_level,
        next_orders=next_orders,
        next_fen=next_fen,
        points=await person_balance(session, person),
        skus=skus,
    )
