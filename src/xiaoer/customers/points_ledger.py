"""The points ledger's one way to write: moves and their balances together.

A move is unique per (buyer, kind, document); :func:`apply_moves` writes those not
written before and adds exactly those to ``points_balance`` with one upsert per buyer,
in the same transaction. Taking points (:func:`take_points`) is one conditional
``UPDATE … WHERE usable >= n`` per buyer, so two requests can never both take the last
points. The rules of when points move are in :mod:`.points` and :mod:`.points_settle`.
"""

from __future__ import annotations

import calendar
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.util import identity_key

from xiaoer.core.policy import Policy
from xiaoer.core.texts import say
from xiaoer.customers.models import PointsBalance, PointsKind, PointsMove

CHUNK = 500
_MOVE = cast(Table, PointsMove.__table__)
_BALANCE = cast(Table, PointsBalance.__table__)


class PointsError(ValueError):
    """A points move the rules refuse."""


@dataclass(frozen=True)
class NewMove:
    customer_id: int
    kind: PointsKind
    document: str
    pending: int = 0
    usable: int = 0
    order_id: int | None = None
    expires_on: date | None = None
    reason: str = ""
    by_id: int | None = None


@dataclass
class Balance:
    """A person's points over all their buyers."""

    pending: int = 0
    usable: int = 0
    debt: bool = False  # one of the buyers owes points taken back after they were spent


@dataclass
class SettleReport:
    earned: int = 0
    confirmed: int = 0
    reversed: int = 0
    restored: int = 0
    expired: int = 0

    def as_json(self) -> dict[str, int]:
        return {
            "earned": self.earned,
            "confirmed": self.confirmed,
            "reversed": self.reversed,
            "restored": self.restored,
            "expired": self.expired,
        }


def add_months(day: date, months: int) -> date:
    """The same day ``months`` later; the month's last day when it has no such day."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def earned_points(policy: Policy, paid_fen: int) -> int:
    return max(0, paid_fen) * policy.customers.points_per_yuan // 100


def _dialect_insert(session: AsyncSession) -> Any:
    dialect = session.bind.dialect.name if session.bind is not None else ""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert


async def apply_moves(
    session: AsyncSession, shop_id: int, moves: Sequence[NewMove], now: datetime
) -> list[NewMove]:
    """Write the moves not written before (by their (buyer, kind, document)) and add
    them to the balances; returns those written."""
    insert_of = _dialect_insert(session)
    connection = await session.connection()
    written: list[NewMove] = []
    for start in range(0, len(moves), CHUNK):
        chunk = moves[start : start + CHUNK]
        rows = [
            {"shop_id": shop_id, "customer_id": m.customer_id, "kind": m.kind.value,
             "document": m.document[:48], "pending": m.pending, "usable": m.usable,
             "order_id": m.order_id, "expires_on": m.expires_on, "reason": m.reason[:200],
             "by_id": m.by_id, "at": now}
            for m in chunk
        ]  # fmt: skip
        statement = (
            insert_of(_MOVE)
            .values(rows)
            .on_conflict_do_nothing(index_elements=["customer_id", "kind", "document"])
            .returning(_MOVE.c.customer_id, _MOVE.c.kind, _MOVE.c.document)
        )
        done = {(r.customer_id, r.kind, r.document) for r in await connection.execute(statement)}
        written.extend(m for m in chunk if (m.customer_id, m.kind.value, m.document[:48]) in done)
    deltas: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for move in written:
        deltas[move.customer_id][0] += move.pending
        deltas[move.customer_id][1] += move.usable
    changed = [(c, p, u) for c, (p, u) in sorted(deltas.items()) if p or u]
    # A row for each buyer first (a zero row changes nothing; a first move that takes
    # pending points could not be inserted as it is), then each buyer's change.
    for start in range(0, len(changed), CHUNK):
        rows = [{"customer_id": c, "shop_id": shop_id, "pending": 0, "usable": 0}
                for c, _, _ in changed[start : start + CHUNK]]  # fmt: skip
        await connection.execute(
            insert_of(_BALANCE).values(rows).on_conflict_do_nothing(index_elements=["customer_id"])
        )
    if changed:
        await connection.execute(
            update(_BALANCE)
            .where(_BALANCE.c.customer_id == bindparam("key"))
            .values(
                pending=_BALANCE.c.pending + bindparam("dp"),
                usable=_BALANCE.c.usable + bindparam("du"),
            ),
            [{"key": c, "dp": p, "du": u} for c, p, u in changed],
        )
    forget_balances(session, {c for c, _, _ in changed})
    return written


def forget_balances(session: AsyncSession, customers: Iterable[int]) -> None:
    """Balance rows the session holds are stale after a Core write: expire them."""
    held_rows = session.sync_session.identity_map
    for customer in customers:
        held = held_rows.get(identity_key(PointsBalance, customer))
        if held is not None:
            session.expire(held)


async def take_points(
    session: AsyncSession,
    shop_id: int,
    ids: Sequence[int],
    points: int,
    kind: PointsKind,
    document: str,
    *,
    order_id: int | None = None,
    reason: str = "",
    by_id: int | None = None,
    now: datetime,
) -> None:
    """Take ``points`` off the usable points of a person's buyers (``ids``), each
    buyer's part by one conditional UPDATE that keeps it at zero or above; refused
    with a debt or beyond what is usable."""
    rows = (
        await session.execute(
            select(PointsBalance.customer_id, PointsBalance.usable)
            .where(PointsBalance.customer_id.in_(list(ids)))
            .order_by(PointsBalance.customer_id)
        )
    ).all()
    if any(r.usable < 0 for r in rows):
        raise PointsError(say("points taken back for a refund are owed: nothing can be spent"))
    usable = sum(r.usable for r in rows)
    if points > usable:
        raise PointsError(say("only {n} points are usable", n=usable))
    connection = await session.connection()
    left = points
    for row in rows:
        part = min(left, row.usable)
        if part <= 0:
            continue
        done = await connection.execute(
            update(_BALANCE)
            .where(_BALANCE.c.customer_id == row.customer_id, _BALANCE.c.usable >= part)
            .values(usable=_BALANCE.c.usable - part)
        )
        if done.rowcount != 1:  # taken meanwhile by another request
            raise PointsError(say("the points changed meanwhile; try again"))
        await connection.execute(
            _MOVE.insert().values(
                shop_id=shop_id, customer_id=row.customer_id, kind=kind.value,
                document=document[:48], pending=0, usable=-part, order_id=order_id,
                reason=reason[:200], by_id=by_id, at=now,
            )
        )  # fmt: skip
        left -= part
    forget_balances(session, [r.customer_id for r in rows])
