"""The stock service (F2): locations, purchase receipts, adjustments, goods returned by
buyers, safety stock and what each channel may list.

Every change goes through :func:`xiaoer.fulfilment.ledger.post`; this module decides
who may ask for it and what it means. Reading stock is for ``roles.STOCK_READERS``,
changing it for ``roles.WAREHOUSE`` (the leaders included).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.catalog.models import Product, Sku
from xiaoer.core.errors import NotFound, NotPermitted
from xiaoer.core.events import record_event
from xiaoer.core.policy_store import policy_on
from xiaoer.core.texts import say
from xiaoer.fulfilment.ledger import Actor, Document, Line, StockError, available, post
from xiaoer.fulfilment.models import (
    LocationKind,
    MoveKind,
    SafetyStock,
    StockLocation,
    StockMove,
    StockReceipt,
)
from xiaoer.fulfilment.roles import STOCK_READERS, WAREHOUSE
from xiaoer.staff.models import StaffAccount

LOCATION_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")
MAX_LINES = 500  # lines of one receipt or return


def actor_of(staff: StaffAccount) -> Actor:
    return Actor(staff.id, staff.number)


# --- who may -----------------------------------------------------------------------------


def check_read_stock(staff: StaffAccount) -> None:
    if not staff.has_role(*STOCK_READERS):
        raise NotPermitted(say("only the warehouse, auditors and leaders see the stock"))


def check_keep_stock(staff: StaffAccount) -> None:
    """Receipts, adjustments, locations, returns, safety stock and stock-takes."""
    if not staff.has_role(*WAREHOUSE):
        raise NotPermitted(say("only the warehouse and leaders change the stock"))


async def location_of(
    session: AsyncSession, staff: StaffAccount, location_id: int
) -> StockLocation:
    check_read_stock(staff)
    found = await session.get(StockLocation, location_id)
    if found is None or found.shop_id != staff.shop_id:
        raise NotFound(say("no such stock location"))
    return found


async def sku_of(session: AsyncSession, staff: StaffAccount, sku_id: int) -> Sku:
    check_read_stock(staff)
    found = await session.get(Sku, sku_id)
    if found is None or found.shop_id != staff.shop_id:
        raise NotFound(say("no such SKU"))
    return found


async def sku_for_code(session: AsyncSession, staff: StaffAccount, code: str) -> Sku:
    """The shop's SKU of a code typed or scanned on a form."""
    check_read_stock(staff)
    found = (await skus_by_code(session, staff.shop_id, {code.strip()})).get(code.strip())
    if found is None:
        raise StockError(say("no SKU {sku}", sku=code.strip()))
    return found


async def skus_by_code(session: AsyncSession, shop_id: int, codes: set[str]) -> dict[str, Sku]:
    if not codes:
        return {}
    rows = await session.scalars(select(Sku).where(Sku.shop_id == shop_id, Sku.code.in_(codes)))
    return {sku.code: sku for sku in rows}


# --- locations ---------------------------------------------------------------------------


async def list_locations(
    session: AsyncSession, shop_id: int, *, active_only: bool = False
) -> list[StockLocation]:
    query = select(StockLocation).where(StockLocation.shop_id == shop_id)
    if active_only:
        query = query.where(StockLocation.active.is_(True))
    return list(await session.scalars(query.order_by(StockLocation.position, StockLocation.id)))


async def default_location(session: AsyncSession, shop_id: int) -> StockLocation:
    """The shop's first sellable location; ``main`` (主仓) is made when it has none."""
    found = await session.scalar(
        select(StockLocation)
        .where(
            StockLocation.shop_id == shop_id,
            StockLocation.kind == LocationKind.stock.value,
            StockLocation.active.is_(True),
        )
        .order_by(StockLocation.position, StockLocation.id)
        .limit(1)
    )
    if found is not None:
        return found
    made = StockLocation(shop_id=shop_id, code="main", name="主仓", kind=LocationKind.stock.value)
    session.add(made)
    await session.flush()
    return made


async def check_add_location(
    session: AsyncSession, staff: StaffAccount, *, code: str, name: str, kind: str
) -> None:
    check_keep_stock(staff)
    if not LOCATION_CODE.match(code):
        raise StockError(
            say("a location code is 1 to 32 letters, digits, '-', '_' or '.': {code!r}", code=code)
        )
    if not name.strip() or len(name) > 64:
        raise StockError(say("a location needs a name of at most 64 characters"))
    if kind not in {k.value for k in LocationKind}:
        raise StockError(say("a location is for stock or for damaged goods"))
    taken = await session.scalar(
        select(StockLocation.id).where(
            StockLocation.shop_id == staff.shop_id, StockLocation.code == code
        )
    )
    if taken is not None:
        raise StockError(say("the location code {code} is taken", code=code))


async def do_add_location(
    session: AsyncSession,
    staff: StaffAccount,
    *,
    code: str,
    name: str,
    kind: str = LocationKind.stock.value,
    position: int = 0,
) -> StockLocation:
    code, name = code.strip(), name.strip()
    await check_add_location(session, staff, code=code, name=name, kind=kind)
    location = StockLocation(
        shop_id=staff.shop_id, code=code, name=name, kind=kind, position=position
    )
    session.add(location)
    await session.flush()
    payload = {"location_id": location.id, "code": code, "kind": kind, "by": staff.id}
    await record_event(session, staff.shop_id, "stock.location", payload)
    return location


# --- receipts, adjustments, returns ---------------------------------------------------------


@dataclass(frozen=True)
class Qty:
    """So many units of a SKU (a receipt's or a return's line)."""

    sku_id: int
    quantity: int


async def parse_lines(session: AsyncSession, shop_id: int, text: str) -> list[Qty]:
    """Lines typed or scanned as ``SKU-CODE quantity`` (or a code alone: one unit), one
    a line; a code scanned twice adds up. Unknown codes and bad quantities are refused
    with their line number."""
    wanted: list[tuple[int, str, int]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        parts = raw.replace("\t", " ").replace(",", " ").replace("，", " ").split()
        if not parts:
            continue
        if len(parts) > 2 or (len(parts) == 2 and not parts[1].isdigit()):
            raise StockError(say("line {line}: write a SKU code and a quantity", line=number))
        quantity = int(parts[1]) if len(parts) == 2 else 1
        if quantity <= 0:
            raise StockError(say("line {line}: the quantity is at least 1", line=number))
        wanted.append((number, parts[0], quantity))
    if not wanted:
        raise StockError(say("no lines: write a SKU code and a quantity on each line"))
    if len(wanted) > MAX_LINES:
        raise StockError(say("at most {n} lines at once", n=MAX_LINES))
    found = await skus_by_code(session, shop_id, {code for _, code, _ in wanted})
    totals: dict[int, int] = defaultdict(int)
    for number, code, quantity in wanted:
        if code not in found:
            raise StockError(say("line {line}: no SKU {sku}", line=number, sku=code))
        totals[found[code].id] += quantity
    return [Qty(sku, qty) for sku, qty in totals.items()]


async def _check_lines(session: AsyncSession, staff: StaffAccount, lines: Sequence[Qty]) -> None:
    if not lines:
        raise StockError(say("no lines: write a SKU code and a quantity on each line"))
    if len(lines) > MAX_LINES:
        raise StockError(say("at most {n} lines at once", n=MAX_LINES))
    for line in lines:
        if line.quantity <= 0:
            raise StockError(say("a stock move needs a positive quantity"))
    ids = {line.sku_id for line in lines}
    mine = await session.scalar(
        select(func.count()).select_from(Sku).where(Sku.shop_id == staff.shop_id, Sku.id.in_(ids))
    )
    if mine != len(ids):
        raise NotFound(say("no such SKU"))


async def check_receive(
    session: AsyncSession, staff: StaffAccount, *, location_id: int, lines: Sequence[Qty]
) -> StockLocation:
    check_keep_stock(staff)
    location = await location_of(session, staff, location_id)
    if not location.active:
        raise StockError(say("the location {code} is closed", code=location.code))
    await _check_lines(session, staff, lines)
    return location


async def do_receive(
    session: AsyncSession,
    staff: StaffAccount,
    *,
    location_id: int,
    lines: Sequence[Qty],
    number: str = "",
    supplier: str = "",
    note: str = "",
) -> StockReceipt:
    """A purchase receipt (入库单): goods from a supplier into a location."""
    location = await check_receive(session, staff, location_id=location_id, lines=lines)
    receipt = StockReceipt(
        shop_id=staff.shop_id, number=number.strip()[:64], supplier=supplier.strip()[:64],
        location_id=location.id, note=note.strip(), created_by=staff.id,
    )  # fmt: skip
    session.add(receipt)
    await session.flush()
    document = Document("receipt", receipt.id, ref=receipt.number or f"R{receipt.id}")
    await post(session, staff.shop_id, MoveKind.receive,
               [Line(line.sku_id, location.id, line.quantity) for line in lines],
               document=document, actor=actor_of(staff), reason=receipt.note)  # fmt: skip
    units = sum(line.quantity for line in lines)
    await record_event(session, staff.shop_id, "stock.received",
                       {"receipt_id": receipt.id, "location_id": location.id, "lines": len(lines),
                        "units": units, "by": staff.id})  # fmt: skip
    return receipt


async def check_adjust(
    session: AsyncSession,
    staff: StaffAccount,
    *,
    sku_id: int,
    location_id: int,
    delta: int,
    reason: str,
) -> None:
    check_keep_stock(staff)
    await location_of(session, staff, location_id)
    await sku_of(session, staff, sku_id)
    if delta == 0:
        raise StockError(say("an adjustment changes the stock by at least one unit"))
    if not reason.strip():
        raise StockError(say("an adjustment needs its reason"))


async def do_adjust(
    session: AsyncSession,
    staff: StaffAccount,
    *,
    sku_id: int,
    location_id: int,
    delta: int,
    reason: str,
) -> StockMove:
    """A correction or write-off of ``delta`` units (±), with its reason. The ledger
    refuses one that would leave less than is reserved, or less than nothing."""
    await check_adjust(session, staff, sku_id=sku_id, location_id=location_id, delta=delta,
                       reason=reason)  # fmt: skip
    reason = reason.strip()
    (move,) = await post(session, staff.shop_id, MoveKind.adjust,
                         [Line(sku_id, location_id, delta)],
                         document=Document("adjust", ref=reason[:64]), actor=actor_of(staff),
                         reason=reason)  # fmt: skip
    await record_event(session, staff.shop_id, "stock.adjusted",
                       {"sku_id": sku_id, "location_id": location_id, "delta": delta,
                        "move_id": move.id, "by": staff.id})  # fmt: skip
    return move


# --- safety stock and what each channel lists ------------------------------------------------


async def safety_rows(session: AsyncSession, shop_id: int) -> list[SafetyStock]:
    return list(
        await session.scalars(
            select(SafetyStock)
            .where(SafetyStock.shop_id == shop_id)
            .order_by(SafetyStock.channel, SafetyStock.sku_id, SafetyStock.id)
        )
    )


async def check_set_safety(
    session: AsyncSession,
    staff: StaffAccount,
    *,
    channel: str,
    sku_id: int | None,
    quantity: int | None,
) -> None:
    check_keep_stock(staff)
    channels = (await policy_on(session, staff.shop_id)).fulfilment.channels
    if channel and channel not in channels:
        raise StockError(say("no channel {channel}", channel=channel))
    if not channel and sku_id is None:
        raise StockError(say("the safety stock of every SKU on every channel is the policy's"))
    if sku_id is not None:
        await sku_of(session, staff, sku_id)
    if quantity is not None and not 0 <= quantity <= 1_000_000:
        raise StockError(say("a safety stock is 0 units or more"))


async def do_set_safety(
    session: AsyncSession,
    staff: StaffAccount,
    *,
    channel: str,
    sku_id: int | None,
    quantity: int | None,
) -> None:
    """Hold ``quantity`` units back from ``channel`` (every channel when empty), for one
    SKU or (``sku_id`` None) for every SKU; ``quantity`` None goes back to the default."""
    await check_set_safety(session, staff, channel=channel, sku_id=sku_id, quantity=quantity)
    row = await session.scalar(
        select(SafetyStock).where(
            SafetyStock.shop_id == staff.shop_id,
            SafetyStock.channel == channel,
            SafetyStock.sku_id.is_(None) if sku_id is None else SafetyStock.sku_id == sku_id,
        )
    )
    was = row.quantity if row is not None else None
    if quantity is None:
        if row is not None:
            await session.delete(row)
    elif row is None:
        session.add(SafetyStock(shop_id=staff.shop_id, channel=channel, sku_id=sku_id,
                                quantity=quantity, updated_by=staff.id))  # fmt: skip
    else:
        row.quantity, row.updated_by = quantity, staff.id
    await session.flush()
    await record_event(session, staff.shop_id, "stock.safety",
                       {"channel": channel, "sku_id": sku_id, "was": was, "quantity": quantity,
                        "by": staff.id})  # fmt: skip


@dataclass(frozen=True)
class Safety:
    """The shop's safety stock rules: the most specific one applies (channel and SKU,
    then the SKU on every channel, then the channel, then the policy's default)."""

    default: int
    by_channel: dict[str, int]
    by_sku: dict[tuple[str, int], int]

    def of(self, channel: str, sku_id: int) -> int:
        for key in ((channel, sku_id), ("", sku_id)):
            if key in self.by_sku:
                return self.by_sku[key]
        return self.by_channel.get(channel, self.default)


async def safety_of(session: AsyncSession, shop_id: int) -> Safety:
    default = (await policy_on(session, shop_id)).fulfilment.safety_stock
    by_channel: dict[str, int] = {}
    by_sku: dict[tuple[str, int], int] = {}
    for row in await safety_rows(session, shop_id):
        if row.sku_id is None:
            by_channel[row.channel] = row.quantity
        else:
            by_sku[(row.channel, row.sku_id)] = row.quantity
    return Safety(default, by_channel, by_sku)


async def listed_stock(
    session: AsyncSession, shop_id: int, sku_ids: Sequence[int]
) -> dict[int, dict[str, int]]:
    """What each channel may list of each SKU: the sellable available stock (on hand
    less reserved, over the open sellable locations) less the channel's safety stock,
    never below zero."""
    channels = (await policy_on(session, shop_id)).fulfilment.channels
    safety = await safety_of(session, shop_id)
    free = await available(session, shop_id, sku_ids)
    listed: dict[int, dict[str, int]] = {}
    for sku in sku_ids:
        sellable = sum(free.get(sku, {}).values())
        listed[sku] = {ch: max(0, sellable - safety.of(ch, sku)) for ch in channels}
    return listed


LISTING_HEADERS = ("商家编码", "标题", "属性", "可售库存")


async def listing_rows(
    session: AsyncSession, staff: StaffAccount, channel: str
) -> list[tuple[str, str, str, int]]:
    """A channel's listing file: one row per active SKU of the shop."""
    check_read_stock(staff)
    channels = (await policy_on(session, staff.shop_id)).fulfilment.channels
    if channel not in channels:
        raise StockError(say("no channel {channel}", channel=channel))
    skus = list(
        (
            await session.execute(
                select(Sku, Product.title)
                .join(Product, Product.id == Sku.product_id)
                .where(Sku.shop_id == staff.shop_id, Product.active.is_(True))
                .order_by(Sku.code)
            )
        ).all()
    )
    listed = await listed_stock(session, staff.shop_id, [sku.id for sku, _ in skus])
    return [(sku.code, title, sku.attribute_text, listed[sku.id][channel]) for sku, title in skus]
