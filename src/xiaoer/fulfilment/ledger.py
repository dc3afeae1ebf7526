"""The stock ledger: the one way stock changes.

:func:`post` appends moves to ``stock_move`` and applies them to their projections in
the same transaction: ``stock_level`` (per SKU and location) and ``sku.stock`` (what
may be sold: on hand less reserved, over the sellable locations). Each level row is
changed by one conditional ``UPDATE`` whose ``WHERE`` keeps it within bounds, so two
workers reserving the last units can never both succeed: on PostgreSQL the second
waits for the first's row lock and then evaluates the condition on the row the first
left. Rows are locked in one order (SKU, then its levels, then the SKU row), so two
postings never wait on each other in a circle. A move carries the server's time:
there are no back-dated moves, so nothing is ever reposted.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.catalog.models import Sku
from xiaoer.core.clock import utcnow
from xiaoer.core.events import record_event
from xiaoer.core.policy_store import policy_on
from xiaoer.core.texts import say
from xiaoer.fulfilment.models import LocationKind, MoveKind, StockLevel, StockLocation, StockMove


class StockError(ValueError):
    """A move the stock cannot take: more than is there, or than is reserved."""


@dataclass(frozen=True)
class Line:
    """So many units of a SKU at a location. Positive, except for ``adjust`` (±)."""

    sku_id: int
    location_id: int
    quantity: int


# What one unit of each kind does to (on hand, reserved).
EFFECT: dict[MoveKind, tuple[int, int]] = {
    MoveKind.receive: (1, 0),
    MoveKind.reserve: (0, 1),
    MoveKind.release: (0, -1),
    MoveKind.ship: (-1, -1),
    MoveKind.return_: (1, 0),
    MoveKind.adjust: (1, 0),
}


@dataclass(frozen=True)
class Document:
    """What a move belongs to, as the ledger shows it."""

    kind: str  # order, shipment, receipt, take, return, adjust
    id: int | None = None
    ref: str = ""
    order_id: int | None = None


@dataclass(frozen=True)
class Actor:
    id: int | None
    label: str  # 工号, or "system" / "import"


SYSTEM = Actor(None, "system")


async def sellable_locations(session: AsyncSession, shop_id: int) -> set[int]:
    rows = await session.scalars(
        select(StockLocation.id).where(
            StockLocation.shop_id == shop_id, StockLocation.kind == LocationKind.stock.value
        )
    )
    return set(rows)


async def _check_locations(session: AsyncSession, shop_id: int, ids: set[int]) -> set[int]:
    """The sellable ones among ``ids``; every one must be the shop's."""
    rows = (
        await session.execute(
            select(StockLocation.id, StockLocation.kind).where(
                StockLocation.shop_id == shop_id, StockLocation.id.in_(ids)
            )
        )
    ).all()
    if len(rows) != len(ids):
        raise StockError(say("no such stock location"))
    return {row.id for row in rows if row.kind == LocationKind.stock.value}


async def _check_skus(session: AsyncSession, shop_id: int, ids: set[int]) -> dict[int, str]:
    rows = (
        await session.execute(
            select(Sku.id, Sku.code).where(Sku.shop_id == shop_id, Sku.id.in_(ids))
        )
    ).all()
    if len(rows) != len(ids):
        raise StockError(say("no such SKU"))
    return {row.id: row.code for row in rows}


async def _ensure_levels(
    session: AsyncSession, shop_id: int, keys: set[tuple[int, int]], now: datetime
) -> None:
    """Create the level rows a first receipt needs (an empty row changes nothing)."""
    have = (
        await session.execute(
            select(StockLevel.sku_id, StockLevel.location_id).where(
                StockLevel.sku_id.in_({sku for sku, _ in keys}),
            )
        )
    ).all()
    missing = keys - {(row.sku_id, row.location_id) for row in have}
    if not missing:
        return
    dialect = session.bind.dialect.name if session.bind is not None else ""
    rows = [
        {"shop_id": shop_id, "sku_id": sku, "location_id": loc, "on_hand": 0, "reserved": 0,
         "updated_at": now}
        for sku, loc in sorted(missing)
    ]  # fmt: skip
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        await session.execute(pg_insert(StockLevel).values(rows).on_conflict_do_nothing())
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        await session.execute(sqlite_insert(StockLevel).values(rows).on_conflict_do_nothing())


def _refusal(kind: MoveKind, code: str, quantity: int) -> str:
    if kind == MoveKind.reserve:
        return say("not enough stock of {sku} to reserve {quantity}", sku=code, quantity=quantity)
    if kind in (MoveKind.release, MoveKind.ship):
        return say("fewer than {quantity} of {sku} are reserved", sku=code, quantity=quantity)
    return say("stock of {sku} cannot go below what is reserved or below zero", sku=code)


async def post(
    session: AsyncSession,
    shop_id: int,
    kind: MoveKind,
    lines: Sequence[Line],
    *,
    document: Document,
    actor: Actor = SYSTEM,
    reason: str = "",
    now: datetime | None = None,
) -> list[StockMove]:
    """Append ``lines`` as moves of ``kind`` and apply them, or raise :class:`StockError`
    and change nothing (the caller's transaction is then to be rolled back)."""
    now = now or utcnow()
    merged: dict[tuple[int, int], int] = defaultdict(int)
    for line in lines:
        if line.quantity == 0 or (line.quantity < 0 and kind != MoveKind.adjust):
            raise StockError(say("a stock move needs a positive quantity"))
        merged[(line.sku_id, line.location_id)] += line.quantity
    merged = {key: qty for key, qty in merged.items() if qty}
    if not merged:
        return []
    sellable = await _check_locations(session, shop_id, {loc for _, loc in merged})
    codes = await _check_skus(session, shop_id, {sku for sku, _ in merged})
    if kind in (MoveKind.receive, MoveKind.return_, MoveKind.adjust):
        await _ensure_levels(session, shop_id, set(merged), now)
    hand, held = EFFECT[kind]
    fell: list[tuple[int, int, int]] = []  # (SKU, sellable before, after) where it fell
    by_sku: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for (sku, loc), qty in sorted(merged.items()):
        by_sku[sku].append((loc, qty))
    for sku, places in sorted(by_sku.items()):
        free_change = 0  # what may be sold, over the sellable locations
        for loc, qty in places:
            dh, dr = hand * qty, held * qty
            done = await session.execute(
                update(StockLevel)
                .where(
                    and_(
                        StockLevel.sku_id == sku,
                        StockLevel.location_id == loc,
                        StockLevel.on_hand + dh >= 0,
                        StockLevel.reserved + dr >= 0,
                        StockLevel.reserved + dr <= StockLevel.on_hand + dh,
                    )
                )
                .values(
                    on_hand=StockLevel.on_hand + dh,
                    reserved=StockLevel.reserved + dr,
                    updated_at=now,
                )
                .returning(StockLevel.id)
            )
            if done.first() is None:
                raise StockError(_refusal(kind, codes[sku], abs(qty)))
            if loc in sellable:
                free_change += dh - dr
        if free_change:
            after = await session.scalar(
                update(Sku)
                .where(Sku.id == sku)
                .values(stock=Sku.stock + free_change)
                .returning(Sku.stock)
            )
            if free_change < 0 and after is not None:
                fell.append((sku, after - free_change, after))
    rows = [
        {
            "shop_id": shop_id, "sku_id": sku, "location_id": loc, "kind": kind.value,
            "on_hand_delta": hand * qty, "reserved_delta": held * qty,
            "document_kind": document.kind, "document_id": document.id,
            "document_ref": document.ref[:64], "order_id": document.order_id,
            "actor_id": actor.id, "actor": actor.label[:32], "reason": reason, "created_at": now,
        }
        for (sku, loc), qty in sorted(merged.items())
    ]  # fmt: skip
    moves = list(await session.scalars(insert(StockMove).returning(StockMove), rows))
    if fell:
        await _alert_low_stock(session, shop_id, fell, codes)
    return moves


async def _alert_low_stock(
    session: AsyncSession, shop_id: int, fell: list[tuple[int, int, int]], codes: dict[int, str]
) -> None:
    """A ``stock.low`` event for each SKU whose sellable stock just fell to the policy's
    ``low_stock_at`` or below: once as it crosses the line, not at every later move."""
    low_at = (await policy_on(session, shop_id)).fulfilment.low_stock_at
    for sku, before, after in fell:
        if before > low_at >= after:
            payload = {"sku_id": sku, "sku_code": codes[sku], "stock": after, "low_at": low_at}
            await record_event(session, shop_id, "stock.low", payload)


async def available(
    session: AsyncSession, shop_id: int, sku_ids: Sequence[int]
) -> dict[int, dict[int, int]]:
    """On hand less reserved, per SKU and location (sellable locations only)."""
    rows = await session.execute(
        select(StockLevel.sku_id, StockLevel.location_id, StockLevel.on_hand, StockLevel.reserved)
        .join(StockLocation, StockLocation.id == StockLevel.location_id)
        .where(
            StockLevel.shop_id == shop_id,
            StockLevel.sku_id.in_(set(sku_ids)),
            StockLocation.kind == LocationKind.stock.value,
            StockLocation.active.is_(True),
        )
    )
    found: dict[int, dict[int, int]] = defaultdict(dict)
    for row in rows:
        found[row.sku_id][row.location_id] = row.on_hand - row.reserved
    return dict(found)
