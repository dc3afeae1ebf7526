"""Returns into stock (F2): the warehouse receives what buyers send back.

After-sales refunds that need the goods back (return-and-refund, exchange) wait here
while the buyer sends them (``WAIT_BUYER_RETURN_GOODS``) and once they are on their
way (``WAIT_SELLER_CONFIRM_GOODS``). The warehouse opens the parcel and says, per line,
how many came and where they go: back to sellable stock (the location the order
shipped from, or another) or to a damaged location (the shop's first, 残次区 made when
there is none). That is one ``return`` document in the ledger, numbered by the refund:
a parcel received once is never posted twice. When the refund waits for the seller to
confirm the goods, the receipt confirms them through after-sales' own move, so the
refund goes on as if an after-sales agent had clicked it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.aftersales.models import Refund
from xiaoer.aftersales.refund_states import GOODS_BACK, Move, RefundStatus
from xiaoer.aftersales.refunds import do_move_refund
from xiaoer.catalog.models import Sku
from xiaoer.core.audit import record_audit
from xiaoer.core.clock import utcnow
from xiaoer.core.errors import NotFound, NotPermitted
from xiaoer.core.events import record_event
from xiaoer.core.texts import say
from xiaoer.fulfilment.ledger import Actor, Document, Line, post
from xiaoer.fulfilment.models import (
    LocationKind,
    MoveKind,
    Shipment,
    StockLocation,
    StockMove,
)
from xiaoer.fulfilment.roles import WAREHOUSE
from xiaoer.orders.models import Order, OrderItem
from xiaoer.staff.models import StaffAccount

# The refunds whose goods are still to come back.
WAITING = (RefundStatus.WAIT_BUYER_RETURN_GOODS.value, RefundStatus.WAIT_SELLER_CONFIRM_GOODS.value)
KINDS = tuple(kind.value for kind in GOODS_BACK)
DOCUMENT = "return"
DAMAGED_CODE = "damaged"
DAMAGED_NAME = "残次区"
PAGE = 50


class ReturnError(ValueError):
    """A receipt the return cannot take: a quantity, a SKU or a place that does not fit."""


def check_may_receive(staff: StaffAccount) -> None:
    """The warehouse receives returns, and the leaders who may do all its work."""
    if not staff.has_role(*WAREHOUSE):
        raise NotPermitted(say("only the warehouse, supervisors and managers receive returns"))


@dataclass
class ReturnLine:
    """One item of the order coming back: how many, and the SKU it goes to stock as
    (None when the item's code is not one of the shop's: a person chooses)."""

    item: OrderItem
    sku_id: int | None
    sku_code: str
    expected: int
    received: int = 0  # what the ledger holds for it already


@dataclass
class PendingReturn:
    refund: Refund
    order: Order
    lines: list[ReturnLine]
    moves: list[StockMove] = field(default_factory=list)

    @property
    def number(self) -> str:
        return refund_number(self.refund)

    @property
    def received(self) -> bool:
        return bool(self.moves)

    @property
    def unknown(self) -> bool:
        return any(line.sku_id is None for line in self.lines)


def refund_number(refund: Refund) -> str:
    """The refund as people name it: the platform's 退款编号, or ours."""
    return refund.platform_refund_id or str(refund.id)


@dataclass(frozen=True)
class ReturnFilter:
    state: str = "waiting"  # waiting (the two states), one state, received, all
    search: str = ""  # an order number, a refund number or a return waybill
    page: int = 1


async def _lines(session: AsyncSession, refund: Refund, order: Order) -> list[ReturnLine]:
    query = select(OrderItem).where(OrderItem.order_id == order.id).order_by(OrderItem.id)
    if refund.order_item_id is not None:
        query = query.where(OrderItem.id == refund.order_item_id)
    items = list(await session.scalars(query))
    codes = {item.sku_code for item in items if item.sku_id is None and item.sku_code}
    by_code: dict[str, int] = {}
    if codes:
        rows = await session.execute(
            select(Sku.code, Sku.id).where(Sku.shop_id == order.shop_id, Sku.code.in_(codes))
        )
        by_code = {row.code: row.id for row in rows}
    lines = []
    for item in items:
        sku_id = item.sku_id if item.sku_id is not None else by_code.get(item.sku_code)
        lines.append(ReturnLine(item, sku_id, item.sku_code, item.quantity))
    return lines


async def _moves(session: AsyncSession, refund: Refund) -> list[StockMove]:
    rows = await session.scalars(
        select(StockMove)
        .where(
            StockMove.shop_id == refund.shop_id,
            StockMove.document_kind == DOCUMENT,
            StockMove.document_id == refund.id,
        )
        .order_by(StockMove.id)
    )
    return list(rows)


async def _pending(session: AsyncSession, refund: Refund) -> PendingReturn:
    order = await session.get(Order, refund.order_id)
    if order is None:
        raise NotFound(say("no such refund"))
    lines = await _lines(session, refund, order)
    moves = await _moves(session, refund)
    return PendingReturn(refund, order, lines, moves)


async def return_for(session: AsyncSession, staff: StaffAccount, refund_id: int) -> PendingReturn:
    """A refund of the caller's shop whose goods come back, with its order and lines."""
    check_may_receive(staff)
    refund = await session.get(Refund, refund_id)
    if refund is None or refund.shop_id != staff.shop_id or refund.kind not in KINDS:
        raise NotFound(say("no such refund"))
    return await _pending(session, refund)


def _returns_query(staff: StaffAccount, chosen: ReturnFilter) -> Select[Refund]:
    received = (
        select(StockMove.id)
        .where(
            StockMove.shop_id == staff.shop_id,
            StockMove.document_kind == DOCUMENT,
            StockMove.document_id == Refund.id,
        )
        .exists()
    )
    query = (
        select(Refund)
        .join(Order, Order.id == Refund.order_id)
        .where(Refund.shop_id == staff.shop_id, Refund.kind.in_(KINDS))
    )
    if chosen.state == "waiting":
        query = query.where(Refund.status.in_(WAITING), ~received)
    elif chosen.state in WAITING:
        query = query.where(Refund.status == chosen.state, ~received)
    elif chosen.state == "received":
        query = query.where(received)
    search = chosen.search.strip()
    if search:
        query = query.where(
            or_(
                Order.platform_order_id == search,
                Refund.platform_refund_id == search,
                Refund.return_waybill == search,
                Order.buyer_nick == search,
            )
        )
    return query


async def returns_of(
    session: AsyncSession, staff: StaffAccount, chosen: ReturnFilter, *, limit: int = PAGE
) -> tuple[list[PendingReturn], int]:
    """The shop's returns as the filter chooses them, oldest first, one page; and how
    many there are in all."""
    check_may_receive(staff)
    query = _returns_query(staff, chosen)
    total = await session.scalar(select(func.count()).select_from(query.subquery()))
    page = max(1, chosen.page)
    refunds = await session.scalars(
        query.order_by(Refund.updated_at, Refund.id).offset((page - 1) * limit).limit(limit)
    )
    return [await _pending(session, refund) for refund in refunds], int(total or 0)


async def destinations(session: AsyncSession, shop_id: int) -> list[StockLocation]:
    """Where returned goods may go: the shop's active locations, sellable first."""
    rows = await session.scalars(
        select(StockLocation)
        .where(StockLocation.shop_id == shop_id, StockLocation.active.is_(True))
        .order_by(StockLocation.kind.desc(), StockLocation.position, StockLocation.id)
    )
    return list(rows)


async def _sellable_place(session: AsyncSession, order: Order) -> StockLocation:
    """Where the order shipped from, when that is a sellable place still in use; else
    the shop's first sellable location."""
    shipped_from = await session.scalar(
        select(StockLocation)
        .join(Shipment, Shipment.location_id == StockLocation.id)
        .where(
            Shipment.order_id == order.id,
            StockLocation.kind == LocationKind.stock.value,
            StockLocation.active.is_(True),
        )
        .order_by(Shipment.id.desc())
        .limit(1)
    )
    if shipped_from is not None:
        return shipped_from
    first = await session.scalar(
        select(StockLocation)
        .where(
            StockLocation.shop_id == order.shop_id,
            StockLocation.kind == LocationKind.stock.value,
            StockLocation.active.is_(True),
        )
        .order_by(StockLocation.position, StockLocation.id)
        .limit(1)
    )
    if first is None:
        raise ReturnError(say("the shop has no stock location to receive into"))
    return first


async def damaged_place(session: AsyncSession, shop_id: int) -> StockLocation:
    """The shop's first damaged location; 残次区 (code ``damaged``) made when none."""
    found = await session.scalar(
        select(StockLocation)
        .where(
            StockLocation.shop_id == shop_id,
            StockLocation.kind == LocationKind.damaged.value,
            StockLocation.active.is_(True),
        )
        .order_by(StockLocation.position, StockLocation.id)
        .limit(1)
    )
    if found is not None:
        return found
    taken = await session.scalar(
        select(StockLocation).where(
            StockLocation.shop_id == shop_id, StockLocation.code == DAMAGED_CODE
        )
    )
    code = DAMAGED_CODE if taken is None else f"{DAMAGED_CODE}-{utcnow():%Y%m%d%H%M%S}"
    place = StockLocation(
        shop_id=shop_id,
        code=code,
        name=DAMAGED_NAME,
        kind=LocationKind.damaged.value,
        position=1000,
    )
    session.add(place)
    await session.flush()
    return place


@dataclass(frozen=True)
class ReceiveLine:
    """What the warehouse says of one item: how many came, where they go ("stock",
    "damaged" or a location's id) and, for an item of an unknown SKU, the SKU code a
    person chose."""

    order_item_id: int
    quantity: int
    to: str = "stock"
    sku_code: str = ""


@dataclass
class Received:
    pending: PendingReturn
    moves: list[StockMove]
    posted: bool  # False: the parcel was received before, nothing was posted again
    confirmed: bool  # the refund's goods were confirmed (it went on to its end)


async def _place(
    session: AsyncSession, order: Order, to: str, cache: dict[str, StockLocation]
) -> StockLocation:
    if to in cache:
        return cache[to]
    if to == "stock":
        place = await _sellable_place(session, order)
    elif to == "damaged":
        place = await damaged_place(session, order.shop_id)
    elif to.isdigit() and len(to) < 12:
        found = await session.get(StockLocation, int(to))
        if found is None or found.shop_id != order.shop_id or not found.active:
            raise ReturnError(say("no place {place} to receive into", place=to))
        place = found
    else:
        raise ReturnError(say("no place {place} to receive into", place=to))
    cache[to] = place
    return place


async def _sku(session: AsyncSession, shop_id: int, line: ReturnLine, chosen: str) -> int:
    if chosen.strip():
        found = await session.scalar(
            select(Sku.id).where(Sku.shop_id == shop_id, Sku.code == chosen.strip())
        )
        if found is None:
            raise ReturnError(say("no SKU {code} in this shop", code=chosen.strip()))
        return found
    if line.sku_id is None:
        raise ReturnError(
            say("choose the SKU the item {title} goes to stock as", title=line.item.title)
        )
    return line.sku_id


async def do_receive_return(
    session: AsyncSession,
    staff: StaffAccount,
    refund_id: int,
    lines: list[ReceiveLine],
    *,
    confirm: bool = True,
    note: str = "",
    now: datetime | None = None,
) -> Received:
    """Post the parcel's goods as ``return`` moves (flushed, not committed) and, with
    ``confirm``, confirm the refund's goods through after-sales. A return received
    before posts nothing and says so."""
    moment = now or utcnow()
    check_may_receive(staff)
    refund = await session.scalar(
        select(Refund).where(Refund.id == refund_id).with_for_update()
    )  # one receipt at a time per return: the second sees the first's moves
    if refund is None or refund.shop_id != staff.shop_id or refund.kind not in KINDS:
        raise NotFound(say("no such refund"))
    pending = await _pending(session, refund)
    if pending.received:
        return Received(pending, pending.moves, posted=False, confirmed=False)
    if refund.status not in WAITING:
        raise ReturnError(say("this refund waits for no goods"))
    by_item = {line.item.id: line for line in pending.lines}
    seen: set[int] = set()
    cache: dict[str, StockLocation] = {}
    moves: list[Line] = []
    for given in lines:
        line = by_item.get(given.order_item_id)
        if line is None or given.order_item_id in seen:
            raise ReturnError(say("the item is not of this return"))
        seen.add(given.order_item_id)
        if not 0 <= given.quantity <= line.expected:
            raise ReturnError(
                say(
                    "receive between 0 and {limit} of {title}",
                    limit=line.expected,
                    title=line.item.title,
                )
            )
        if given.quantity == 0:
            continue
        sku_id = await _sku(session, refund.shop_id, line, given.sku_code)
        place = await _place(session, pending.order, given.to, cache)
        moves.append(Line(sku_id, place.id, given.quantity))
    if not moves:
        raise ReturnError(say("say how many of each item came back"))
    number = refund_number(refund)
    posted = await post(
        session,
        refund.shop_id,
        MoveKind.return_,
        moves,
        document=Document(DOCUMENT, refund.id, number, pending.order.id),
        actor=Actor(staff.id, staff.number or staff.username),
        reason=note.strip()[:500],
        now=moment,
    )
    pending.moves = posted
    units = {
        "sellable": sum(m.on_hand_delta for m in posted if _kind_of(cache, m) == "stock"),
        "damaged": sum(m.on_hand_delta for m in posted if _kind_of(cache, m) == "damaged"),
    }
    await record_audit(
        session,
        shop_id=refund.shop_id,
        actor=staff.number or staff.username,
        entity="refund",
        entity_id=str(refund.id),
        action="goods received",
        before=None,
        after={"order": pending.order.platform_order_id, **units},
        reason=note.strip()[:500],
        at=moment,
    )
    await record_event(
        session,
        refund.shop_id,
        "return.received",
        {"refund_id": refund.id, "order_id": pending.order.id, "by": staff.id, **units},
        at=moment,
    )
    confirmed = False
    if confirm and refund.status == RefundStatus.WAIT_SELLER_CONFIRM_GOODS.value:
        await do_move_refund(session, staff, refund.id, Move.confirm_goods, now=moment)
        confirmed = True
    return Received(pending, posted, posted=True, confirmed=confirmed)


def _kind_of(cache: dict[str, StockLocation], move: StockMove) -> str:
    """Whether a move went to a sellable or a damaged place, of the places used."""
    for place in cache.values():
        if place.id == move.location_id:
            return "damaged" if place.kind == LocationKind.damaged.value else "stock"
    return "stock"
