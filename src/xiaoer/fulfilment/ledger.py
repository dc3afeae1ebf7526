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
from datetime import date, datetime
from typing import cast
from zoneinfo import ZoneInfo

from sqlalchemy import Table, and_, insert, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from xiaoer.catalog.models import Sku
from xiaoer.core.clock import DEFAULT_ZONE, utcnow
from xiaoer.core.events import record_event
from xiaoer.core.policy_store import policy_on
from xiaoer.core.texts import say
from xiaoer.fulfilment.models import LocationKind, MoveKind, StockLevel, StockLocation, StockMove
from xiaoer.shops.models import Shop


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


_LEVEL = cast(Table, StockLevel.__table__)
_SKU = cast(Table, Sku.__table__)
_LOCATION = cast(Table, StockLocation.__table__)
_MOVE = cast(Table, StockMove.__table__)
_SHOP = cast(Table, Shop.__table__)


async def _check(
    session: AsyncSession, shop_id: int, places: set[int], skus: set[int]
) -> dict[int, str]:
    """The codes of ``skus``, in one round trip; every place and SKU must be the shop's."""
    connection = await session.connection()
    rows = (
        await connection.execute(
            select(literal("place"), _LOCATION.c.id, _LOCATION.c.code)
            .where(_LOCATION.c.shop_id == shop_id, _LOCATION.c.id.in_(places))
            .union_all(
                select(literal("sku"), _SKU.c.id, _SKU.c.code).where(
                    _SKU.c.shop_id == shop_id, _SKU.c.id.in_(skus)
                ),
            )
        )
    ).all()
    codes = {row[1]: row[2] for row in rows if row[0] == "sku"}
    if sum(1 for row in rows if row[0] == "place") != len(places):
        raise StockError(say("no such stock location"))
    if len(codes) != len(skus):
        raise StockError(say("no such SKU"))
    return codes


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
    and change nothing (the caller's transaction is then to be rolled back). Returns the
    moves as written (rows of the ledger, not objects of the session)."""
    now = now or utcnow()
    merged: dict[tuple[int, int], int] = defaultdict(int)
    for line in lines:
        if line.quantity == 0 or (line.quantity < 0 and kind != MoveKind.adjust):
            raise StockError(say("a stock move needs a positive quantity"))
        merged[(line.sku_id, line.location_id)] += line.quantity
    merged = {key: qty for key, qty in merged.items() if qty}
    if not merged:
        return []
    places, skus = {loc for _, loc in merged}, {sku for sku, _ in merged}
    codes: dict[int, str] = {}
    if kind in (MoveKind.receive, MoveKind.return_, MoveKind.adjust):
        # A first receipt makes level rows: the places and SKUs must be the shop's first.
        # Other moves find theirs by the level row, which carries the shop.
        codes = await _check(session, shop_id, places, skus)
        await _ensure_levels(session, shop_id, set(merged), now)
    hand, held = EFFECT[kind]
    fell: list[tuple[int, int, int]] = []  # (SKU, sellable before, after) where it fell
    by_sku: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for (sku, loc), qty in sorted(merged.items()):
        by_sku[sku].append((loc, qty))
    # The projections are written in Core statements (the hot path of every order);
    # rows of them this session holds are given the values written.
    connection = await session.connection()
    held_rows = session.sync_session.identity_map
    level, item, place, shop = _LEVEL.c, _SKU.c, _LOCATION.c, _SHOP.c
    # The level row's place (sellable or not) and shop's zone, read as it is written.
    place_kind = (
        select(place.kind).where(place.id == level.location_id).scalar_subquery().label("kind")
    )
    shop_zone = (
        select(shop.timezone).where(shop.id == level.shop_id).scalar_subquery().label("zone")
    )
    zone = DEFAULT_ZONE
    for sku, lines_of_sku in sorted(by_sku.items()):
        free_change = 0  # what may be sold, over the sellable locations
        for loc, qty in lines_of_sku:
            dh, dr = hand * qty, held * qty
            done = await connection.execute(
                update(_LEVEL)
                .where(
                    and_(
                        level.sku_id == sku,
                        level.location_id == loc,
                        level.shop_id == shop_id,
                        level.on_hand + dh >= 0,
                        level.reserved + dr >= 0,
                        level.reserved + dr <= level.on_hand + dh,
                    )
                )
                .values(on_hand=level.on_hand + dh, reserved=level.reserved + dr, updated_at=now)
                .returning(level.id, level.on_hand, level.reserved, place_kind, shop_zone)
            )
            written = done.first()
            if written is None:
                if sku not in codes:  # not the shop's, or beyond the stock: say which
                    codes = await _check(session, shop_id, places, skus)
                raise StockError(_refusal(kind, codes[sku], abs(qty)))
            _written(held_rows.get(identity_key(StockLevel, written.id)),
                     on_hand=written.on_hand, reserved=written.reserved)  # fmt: skip
            zone = written.zone or DEFAULT_ZONE
            if written.kind == LocationKind.stock.value:
                free_change += dh - dr
        if free_change:
            after = (
                await connection.execute(
                    update(_SKU)
                    .where(item.id == sku)
                    .values(stock=item.stock + free_change)
                    .returning(item.stock, item.code)
                )
            ).one()
            _written(held_rows.get(identity_key(Sku, sku)), stock=after.stock)
            codes.setdefault(sku, after.code)
            if free_change < 0:
                fell.append((sku, after.stock - free_change, after.stock))
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
    ids = (
        await connection.execute(
            insert(_MOVE).returning(_MOVE.c.id, sort_by_parameter_order=True), rows
        )
    ).scalars()
    moves = [StockMove(id=move_id, **row) for move_id, row in zip(ids, rows, strict=True)]
    if fell:
        day = now.astimezone(ZoneInfo(zone)).date()
        await _alert_low_stock(session, shop_id, fell, codes, day)
    return moves


def _written(row: object | None, **values: object) -> None:
    """A row the session holds gets the values just written, as if loaded."""
    if row is not None:
        for name, value in values.items():
            set_committed_value(row, name, value)


async def _alert_low_stock(
    session: AsyncSession,
    shop_id: int,
    fell: list[tuple[int, int, int]],
    codes: dict[int, str],
    day: date,
) -> None:
    """A ``stock.low`` event for each SKU whose sellable stock just fell to the policy's
    ``low_stock_at`` or below: once as it crosses the line, not at every later move."""
    low_at = (await policy_on(session, shop_id, day)).fulfilment.low_stock_at
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
