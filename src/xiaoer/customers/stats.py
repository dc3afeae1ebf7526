"""Each person's purchases, refunds and reviews, summed into ``customer_stats``.

Filters and groups over many customers read this projection; one customer's file
reads the orders themselves. :func:`refresh` recomputes it from orders, refunds and
reviews in a few set-wise statements, for a shop or for some persons (after a merge,
an undo or an erasure); the timer ``customers.refresh`` runs it for every shop.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    and_,
    case,
    delete,
    func,
    insert,
    literal,
    select,
    type_coerce,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.aftersales.models import Refund, Review
from xiaoer.aftersales.refund_states import RefundStatus
from xiaoer.buyers.models import Customer
from xiaoer.catalog.models import Product, Sku
from xiaoer.core.clock import utcnow
from xiaoer.core.policy import Policy, member_levels
from xiaoer.customers.models import CustomerStats
from xiaoer.customers.people import person_id
from xiaoer.orders.models import Order, OrderItem

PRICE_LEVELS = ("low", "middle", "high")


def level_of(policy: Policy, orders: int, spent_fen: int) -> str:
    """The highest member level whose paid orders and spending are both reached."""
    reached = ""
    for name, need_orders, need_fen in member_levels(policy.customers.member_levels):
        if orders >= need_orders and spent_fen >= need_fen:
            reached = name
    return reached


def price_level_of(policy: Policy, orders: int, spent_fen: int) -> str:
    if orders <= 0:
        return ""
    low, high = (yuan * 100 for yuan in policy.customers.price_levels)
    average = spent_fen / orders
    return "low" if average < low else "middle" if average < high else "high"


def _level_sql(policy: Policy, orders: ColumnElement[int], spent: ColumnElement[int]) -> Any:
    levels = member_levels(policy.customers.member_levels)
    if not levels:
        return literal("")
    return case(
        *(
            (and_(orders >= need_orders, spent >= need_fen), literal(name))
            for name, need_orders, need_fen in reversed(levels)
        ),
        else_=literal(""),
    )


def _price_level_sql(policy: Policy, orders: ColumnElement[int], spent: ColumnElement[int]) -> Any:
    low, high = (yuan * 100 for yuan in policy.customers.price_levels)
    return case(
        (orders <= 0, literal("")),
        (spent < orders * low, literal("low")),
        (spent < orders * high, literal("middle")),
        else_=literal("high"),
    )


def _scope(query: Any, shop_id: int, persons: Sequence[int] | None) -> Any:
    query = query.where(Customer.shop_id == shop_id)
    if persons is not None:
        query = query.where(person_id().in_(list(persons)))
    return query


async def refresh(
    session: AsyncSession,
    shop_id: int,
    policy: Policy,
    persons: Sequence[int] | None = None,
    *,
    now: datetime | None = None,
) -> int:
    """Recompute the stats of a shop's persons (all, or those given); returns how many
    rows were written. Buyers merged into another get none: their person has them."""
    now = now or utcnow()
    if persons is not None and not persons:
        return 0
    person = person_id().label("person")
    ranked = _scope(
        select(
            person,
            Order.paid_at.label("paid_at"),
            Order.paid_fen.label("paid_fen"),
            func.row_number()
            .over(partition_by=person_id(), order_by=(Order.paid_at.desc(), Order.id.desc()))
            .label("latest"),
        )
        .select_from(Order)
        .join(Customer, Customer.id == Order.customer_id)
        .where(Order.shop_id == shop_id, Order.paid_at.is_not(None)),
        shop_id,
        persons,
    ).subquery("ranked")

    def nth_latest(n: int) -> Any:
        return func.max(case((ranked.c.latest == n, ranked.c.paid_at)))

    paid = (
        select(
            ranked.c.person,
            func.count().label("orders"),
            func.coalesce(func.sum(ranked.c.paid_fen), 0).label("paid"),
            func.min(ranked.c.paid_at).label("first"),
            func.max(ranked.c.paid_at).label("last"),
            nth_latest(2).label("second"),
            nth_latest(3).label("third"),
        )
        .group_by(ranked.c.person)
        .subquery("paid")
    )
    refunded = (
        _scope(
            select(
                person,
                func.count(Refund.id).label("refunds"),
                func.coalesce(
                    func.sum(
                        case(
                            (Refund.status == RefundStatus.SUCCESS.value, Refund.amount_fen),
                            else_=0,
                        )
                    ),
                    0,
                ).label("refund_fen"),
            )
            .select_from(Refund)
            .join(Order, Order.id == Refund.order_id)
            .join(Customer, Customer.id == Order.customer_id)
            .where(Refund.shop_id == shop_id),
            shop_id,
            persons,
        )
        .group_by(person)
        .subquery("refunded")
    )
    reviewed = (
        _scope(
            select(
                person,
                func.count(Review.id).label("reviews"),
                func.coalesce(
                    func.sum(case((Review.rating.in_(("bad", "neutral")), 1), else_=0)), 0
                ).label("bad"),
            )
            .select_from(Review)
            .join(Order, Order.id == Review.order_id)
            .join(Customer, Customer.id == Order.customer_id)
            .where(Review.shop_id == shop_id),
            shop_id,
            persons,
        )
        .group_by(person)
        .subquery("reviewed")
    )
    bought = _bought(session, shop_id, persons)
    orders = func.coalesce(paid.c.orders, 0)
    spent = func.coalesce(paid.c.paid, 0) - func.coalesce(refunded.c.refund_fen, 0)
    roots = select(Customer.id).where(
        Customer.shop_id == shop_id, Customer.merged_into_id.is_(None)
    )
    if persons is not None:
        roots = roots.where(Customer.id.in_(list(persons)))
    rows = (
        select(
            Customer.id,
            literal(shop_id),
            orders,
            spent,
            paid.c.first,
            paid.c.last,
            paid.c.second,
            paid.c.third,
            func.coalesce(refunded.c.refunds, 0),
            func.coalesce(refunded.c.refund_fen, 0),
            func.coalesce(reviewed.c.reviews, 0),
            func.coalesce(reviewed.c.bad, 0),
            func.coalesce(bought.c.kinds, literal([], CustomerStats.categories.type)),
            _price_level_sql(policy, orders, spent),
            _level_sql(policy, orders, spent),
            literal(now, CustomerStats.refreshed_at.type),
        )
        .select_from(Customer)
        .outerjoin(paid, paid.c.person == Customer.id)
        .outerjoin(refunded, refunded.c.person == Customer.id)
        .outerjoin(reviewed, reviewed.c.person == Customer.id)
        .outerjoin(bought, bought.c.person == Customer.id)
        .where(Customer.id.in_(roots))
    )
    gone = delete(CustomerStats).where(CustomerStats.shop_id == shop_id)
    if persons is not None:
        # Also the rows of persons just merged into another, which no longer stand alone.
        gone = gone.where(CustomerStats.customer_id.in_(list(persons)))
    await session.execute(gone)
    columns = [
        "customer_id",
        "shop_id",
        "orders",
        "spent_fen",
        "first_paid_at",
        "last_paid_at",
        "second_paid_at",
        "third_paid_at",
        "refunds",
        "refund_fen",
        "reviews",
        "bad_reviews",
        "categories",
        "price_level",
        "level",
        "refreshed_at",
    ]
    result = await session.execute(insert(CustomerStats).from_select(columns, rows))
    return int(getattr(result, "rowcount", 0) or 0)


def _bought(session: AsyncSession, shop_id: int, persons: Sequence[int] | None) -> Any:
    """The product categories each person bought, sorted, as a JSON list made by the
    database in the same statement as the sums (one pass, no row written twice). The
    database writes the words as they are, not ``\\u``-escaped as our serializer does;
    ``filters`` reads both."""
    person = person_id().label("person")
    pairs = _scope(
        select(person, Product.category.label("category"))
        .distinct()
        .select_from(OrderItem)
        .join(Order, Order.id == OrderItem.order_id)
        .join(Customer, Customer.id == Order.customer_id)
        .join(Sku, Sku.id == OrderItem.sku_id)
        .join(Product, Product.id == Sku.product_id)
        .where(Order.shop_id == shop_id, Order.paid_at.is_not(None), Product.category != ""),
        shop_id,
        persons,
    )
    if session.get_bind().dialect.name == "postgresql":
        listed = pairs.subquery("pairs")
        kinds: Any = func.json_agg(aggregate_order_by(listed.c.category, listed.c.category))
    else:  # SQLite aggregates in the order its subquery gives
        listed = pairs.order_by(person, Product.category).subquery("pairs")
        kinds = func.json_group_array(listed.c.category)
    return (
        select(listed.c.person, type_coerce(kinds, CustomerStats.categories.type).label("kinds"))
        .group_by(listed.c.person)
        .subquery("bought")
    )
