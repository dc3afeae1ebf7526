"""What the stock pages read: SKUs by location with what each channel lists, a SKU's
ledger, the receipts. Every reader passes :func:`check_read_stock` and sees its own
shop only."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.catalog.models import Product, Sku
from xiaoer.core.policy_store import policy_on
from xiaoer.fulfilment.models import (
    LocationKind,
    StockLevel,
    StockLocation,
    StockMove,
    StockReceipt,
)
from xiaoer.fulfilment.stock import check_read_stock, listed_stock, location_of, sku_of
from xiaoer.staff.models import StaffAccount

PAGE = 50


@dataclass(frozen=True)
class StockFilter:
    location_id: int | None = None
    low: bool = False
    q: str = ""
    page: int = 1


@dataclass(frozen=True)
class StockRow:
    sku_id: int
    code: str
    title: str
    attributes: str
    sellable: int  # the SKU's on hand less reserved over the sellable locations
    location: str  # the location's code ("" when the SKU has no stock anywhere)
    location_kind: str
    on_hand: int
    reserved: int
    listed: dict[str, int]


@dataclass(frozen=True)
class StockPage:
    rows: list[StockRow]
    total: int
    page: int
    pages: int
    channels: list[str]
    low_at: int
    low: list[tuple[int, str, int]]  # SKUs at or below the low-stock line: (id, code, stock)


def _filtered(query: Any, staff: StaffAccount, chosen: StockFilter, low_at: int) -> Any:
    query = query.where(Sku.shop_id == staff.shop_id)
    if chosen.location_id is not None:
        query = query.where(StockLevel.location_id == chosen.location_id)
    if chosen.low:
        query = query.where(Sku.stock <= low_at)
    if chosen.q:
        like = f"%{chosen.q}%"
        query = query.where(or_(Sku.code.ilike(like), Product.title.ilike(like)))
    return query


async def stock_page(
    session: AsyncSession, staff: StaffAccount, chosen: StockFilter, *, per_page: int = PAGE
) -> StockPage:
    """One page of SKU × location lines (a SKU without stock anywhere: one line)."""
    check_read_stock(staff)
    if chosen.location_id is not None:
        await location_of(session, staff, chosen.location_id)
    policy = (await policy_on(session, staff.shop_id)).fulfilment
    level_join = StockLevel.sku_id == Sku.id
    base = (
        select(Sku.id)
        .join(Product, Product.id == Sku.product_id)
        .join(StockLevel, level_join, isouter=chosen.location_id is None)
    )
    total = (
        await session.scalar(
            select(func.count()).select_from(
                _filtered(base, staff, chosen, policy.low_stock_at).subquery()
            )
        )
        or 0
    )
    pages = max(1, -(-total // per_page))
    page = min(max(1, chosen.page), pages)
    query = (
        select(Sku, Product.title, StockLevel, StockLocation)
        .join(Product, Product.id == Sku.product_id)
        .join(StockLevel, level_join, isouter=chosen.location_id is None)
        .join(StockLocation, StockLocation.id == StockLevel.location_id, isouter=True)
    )
    query = _filtered(query, staff, chosen, policy.low_stock_at)
    found = (
        await session.execute(
            query.order_by(Sku.code, StockLocation.position, StockLocation.id)
            .offset((page - 1) * per_page)
            .limit(per_page)
        )
    ).all()
    listed = await listed_stock(session, staff.shop_id, sorted({sku.id for sku, *_ in found}))
    rows = [
        StockRow(
            sku_id=sku.id,
            code=sku.code,
            title=title,
            attributes=sku.attribute_text,
            sellable=sku.stock,
            location=place.code if place is not None else "",
            location_kind=place.kind if place is not None else LocationKind.stock.value,
            on_hand=level.on_hand if level is not None else 0,
            reserved=level.reserved if level is not None else 0,
            listed=listed[sku.id],
        )
        for sku, title, level, place in found
    ]
    low = [
        (sku_id, code, stock)
        for sku_id, code, stock in (
            await session.execute(
                select(Sku.id, Sku.code, Sku.stock)
                .where(Sku.shop_id == staff.shop_id, Sku.stock <= policy.low_stock_at)
                .order_by(Sku.stock, Sku.code)
                .limit(20)
            )
        ).all()
    ]
    return StockPage(rows, total, page, pages, list(policy.channels), policy.low_stock_at, low)


@dataclass(frozen=True)
class LedgerPage:
    sku: Sku
    title: str
    moves: list[tuple[StockMove, str]]  # the move and its location's code
    page: int
    more: bool
    levels: list[tuple[str, int, int]]  # (location code, on hand, reserved)


async def ledger_page(
    session: AsyncSession, staff: StaffAccount, sku_id: int, page: int = 1, *, per_page: int = PAGE
) -> LedgerPage:
    """The SKU's moves, newest first."""
    sku = await sku_of(session, staff, sku_id)
    product = await session.get(Product, sku.product_id)
    page = max(1, page)
    rows = (
        await session.execute(
            select(StockMove, StockLocation.code)
            .join(StockLocation, StockLocation.id == StockMove.location_id)
            .where(StockMove.shop_id == staff.shop_id, StockMove.sku_id == sku.id)
            .order_by(StockMove.id.desc())
            .offset((page - 1) * per_page)
            .limit(per_page + 1)
        )
    ).all()
    moves = [(move, code) for move, code in rows]
    levels = [
        (code, on_hand, reserved)
        for code, on_hand, reserved in (
            await session.execute(
                select(StockLocation.code, StockLevel.on_hand, StockLevel.reserved)
                .join(StockLocation, StockLocation.id == StockLevel.location_id)
                .where(StockLevel.sku_id == sku.id)
                .order_by(StockLocation.position, StockLocation.id)
            )
        ).all()
    ]
    title = product.title if product is not None else ""
    return LedgerPage(sku, title, moves[:per_page], page, len(moves) > per_page, levels)


async def receipts_of(
    session: AsyncSession, staff: StaffAccount, limit: int = 50
) -> list[tuple[StockReceipt, str, int]]:
    """The newest receipts: (receipt, location code, units)."""
    check_read_stock(staff)
    units = (
        select(func.coalesce(func.sum(StockMove.on_hand_delta), 0))
        .where(
            StockMove.shop_id == staff.shop_id,
            StockMove.document_kind == "receipt",
            StockMove.document_id == StockReceipt.id,
        )
        .scalar_subquery()
    )
    rows = await session.execute(
        select(StockReceipt, StockLocation.code, units)
        .join(StockLocation, StockLocation.id == StockReceipt.location_id)
        .where(StockReceipt.shop_id == staff.shop_id)
        .order_by(StockReceipt.id.desc())
        .limit(limit)
    )
    return [(receipt, code, int(total)) for receipt, code, total in rows.all()]
