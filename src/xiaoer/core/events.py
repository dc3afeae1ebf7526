"""The event stream: every state change, numbered per shop, published after commit.

A service calls :func:`record_event` inside its unit of work. The row is written
with the next number of the shop; the number comes from a counter row whose lock
is held until commit, so numbers are gapless and committed in order. Only when
the transaction commits is the event handed to the broker; a rollback drops it.
A follower (:func:`follow`) reads from the database what it missed, then listens
to the broker, and fills any gap from the database again: nothing is lost or
delivered twice across reconnects, restarts and processes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from xiaoer.core.broker import Broker, get_broker
from xiaoer.core.clock import utcnow
from xiaoer.core.db import Database
from xiaoer.core.models import Event, EventCounter

PENDING_KEY = "xiaoer.pending_events"


@dataclass(frozen=True, slots=True)
class EventData:
    shop_id: int
    seq: int
    kind: str
    payload: dict[str, Any] = field(default_factory=dict)
    created_at: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "shop_id": self.shop_id,
            "seq": self.seq,
            "kind": self.kind,
            "payload": self.payload,
            "created_at": self.created_at,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EventData:
        return cls(
            shop_id=int(data["shop_id"]),
            seq=int(data["seq"]),
            kind=str(data["kind"]),
            payload=dict(data.get("payload") or {}),
            created_at=str(data.get("created_at", "")),
        )

    @classmethod
    def from_row(cls, row: Event) -> EventData:
        return cls(row.shop_id, row.seq, row.kind, dict(row.payload), row.created_at.isoformat())


def pending_events(session: AsyncSession | Session) -> list[EventData]:
    """Events recorded in the session's open transaction, not yet published."""
    pending: list[EventData] = session.info.setdefault(PENDING_KEY, [])
    return pending


async def _next_seq(session: AsyncSession, shop_id: int) -> int:
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = (
        insert(EventCounter)
        .values(shop_id=shop_id, last_seq=1)
        .on_conflict_do_update(
            index_elements=[EventCounter.shop_id],
            set_={"last_seq": EventCounter.last_seq + 1},
        )
        .returning(EventCounter.last_seq)
    )
    return int((await session.execute(stmt)).scalar_one())


async def record_event(
    session: AsyncSession,
    shop_id: int,
    kind: str,
    payload: dict[str, Any] | None = None,
    *,
    at: datetime | None = None,
) -> EventData:
    """Write an event in the caller's transaction; it is published on commit."""
    seq = await _next_seq(session, shop_id)
    created = at or utcnow()
    row = Event(shop_id=shop_id, seq=seq, kind=kind, payload=payload or {}, created_at=created)
    session.add(row)
    await session.flush()
    data = EventData(shop_id, seq, kind, dict(payload or {}), created.isoformat())
    pending_events(session).append(data)
    return data


@sa_event.listens_for(Session, "after_commit")
def _publish_after_commit(session: Session) -> None:
    events = session.info.pop(PENDING_KEY, None)
    if events:
        get_broker().publish_nowait(events)


@sa_event.listens_for(Session, "after_rollback")
def _drop_after_rollback(session: Session) -> None:
    if not session.in_nested_transaction():
        session.info.pop(PENDING_KEY, None)


async def read_after(
    session: AsyncSession, shop_id: int, after: int, limit: int = 500
) -> list[EventData]:
    """Committed events of a shop with a number above ``after``, oldest first."""
    rows = await session.scalars(
        select(Event)
        .where(Event.shop_id == shop_id, Event.seq > after)
        .order_by(Event.seq)
        .limit(limit)
    )
    return [EventData.from_row(row) for row in rows]


async def last_seq(session: AsyncSession, shop_id: int) -> int:
    value = await session.scalar(
        select(EventCounter.last_seq).where(EventCounter.shop_id == shop_id)
    )
    return int(value or 0)


async def follow(
    db: Database,
    shop_id: int,
    after: int,
    *,
    broker: Broker | None = None,
    poll_seconds: float = 5.0,
) -> AsyncIterator[EventData]:
    """Every event of the shop after ``after``, in order, exactly once, forever.

    The broker only wakes the follower up; the database is the truth. A missed
    broker message is found by the next one (as a gap) or by the periodic poll.
    """
    source = broker or get_broker()
    subscription = source.subscribe(shop_id)
    last = after
    try:
        while True:
            async with db.session() as session:
                batch = await read_after(session, shop_id, last)
            for item in batch:
                last = item.seq
                yield item
            if len(batch) == 500:
                continue
            while True:
                try:
                    item = await asyncio.wait_for(subscription.get(), timeout=poll_seconds)
                except TimeoutError:
                    break  # poll the database in case a broker message was lost
                if item.seq <= last:
                    continue
                if item.seq > last + 1:
                    break  # a gap: read the missing ones from the database
                last = item.seq
                yield item
    finally:
        subscription.close()


def shop_seqs(events: Sequence[EventData]) -> list[int]:
    return [e.seq for e in events]
