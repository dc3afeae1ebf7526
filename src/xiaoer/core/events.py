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
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction

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
    topic: str = ""
    topic_seq: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "shop_id": self.shop_id,
            "seq": self.seq,
            "kind": self.kind,
            "payload": self.payload,
            "created_at": self.created_at,
            "topic": self.topic,
            "topic_seq": self.topic_seq,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EventData:
        return cls(
            shop_id=int(data["shop_id"]),
            seq=int(data["seq"]),
            kind=str(data["kind"]),
            payload=dict(data.get("payload") or {}),
            created_at=str(data.get("created_at", "")),
            topic=str(data.get("topic", "")),
            topic_seq=int(data.get("topic_seq", 0)),
        )

    @classmethod
    def from_row(cls, row: Event) -> EventData:
        return cls(
            row.shop_id,
            row.seq,
            row.kind,
            dict(row.payload),
            row.created_at.isoformat(),
            row.topic,
            row.topic_seq,
        )

    def number(self, topic: str | None) -> int:
        """The event's number in the stream a follower reads: the shop's or a topic's."""
        return self.topic_seq if topic else self.seq


def pending_events(session: AsyncSession | Session) -> list[EventData]:
    """Events recorded in the session's open transaction, not yet published."""
    pending: list[EventData] = session.info.setdefault(PENDING_KEY, [])
    return pending


async def _next_seq(session: AsyncSession, shop_id: int, topic: str = "") -> int:
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = (
        insert(EventCounter)
        .values(shop_id=shop_id, topic=topic, last_seq=1)
        .on_conflict_do_update(
            index_elements=[EventCounter.shop_id, EventCounter.topic],
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
    topic: str = "",
    at: datetime | None = None,
) -> EventData:
    """Write an event in the caller's transaction; it is published on commit.

    ``topic`` (e.g. ``"buyer:42"``) lets a follower read only that topic.
    """
    seq = await _next_seq(session, shop_id)
    topic_seq = await _next_seq(session, shop_id, topic) if topic else 0
    created = at or utcnow()
    row = Event(
        shop_id=shop_id,
        seq=seq,
        topic=topic,
        topic_seq=topic_seq,
        kind=kind,
        payload=payload or {},
        created_at=created,
    )
    session.add(row)
    await session.flush()
    data = EventData(shop_id, seq, kind, dict(payload or {}), created.isoformat(), topic, topic_seq)
    pending_events(session).append(data)
    return data


MARKS_KEY = "xiaoer.savepoint_marks"


@sa_event.listens_for(Session, "after_transaction_create")
def _mark_savepoint(session: Session, transaction: SessionTransaction) -> None:
    if transaction.nested:
        marks: dict[int, int] = session.info.setdefault(MARKS_KEY, {})
        marks[id(transaction)] = len(session.info.get(PENDING_KEY, ()))


@sa_event.listens_for(Session, "after_commit")
def _publish_after_commit(session: Session) -> None:
    # SQLAlchemy calls this for savepoints too: only the outermost commit publishes.
    if session.in_nested_transaction():
        return
    session.info.pop(MARKS_KEY, None)
    events = session.info.pop(PENDING_KEY, None)
    if events:
        get_broker().publish_nowait(events)


@sa_event.listens_for(Session, "after_rollback")
def _drop_after_rollback(session: Session) -> None:
    nested = session.get_nested_transaction()
    if nested is None:
        session.info.pop(PENDING_KEY, None)
        session.info.pop(MARKS_KEY, None)
        return
    # A savepoint rolled back: forget only the events recorded inside it.
    mark = session.info.get(MARKS_KEY, {}).pop(id(nested), None)
    if mark is not None:
        del pending_events(session)[mark:]


async def read_after(
    session: AsyncSession,
    shop_id: int,
    after: int,
    limit: int = 500,
    *,
    topic: str | None = None,
) -> list[EventData]:
    """Committed events of a shop (or of one topic) numbered above ``after``, oldest first."""
    query = select(Event).where(Event.shop_id == shop_id)
    if topic:
        query = query.where(Event.topic == topic, Event.topic_seq > after).order_by(Event.topic_seq)
    else:
        query = query.where(Event.seq > after).order_by(Event.seq)
    rows = await session.scalars(query.limit(limit))
    return [EventData.from_row(row) for row in rows]


async def last_seq(session: AsyncSession, shop_id: int, topic: str = "") -> int:
    value = await session.scalar(
        select(EventCounter.last_seq).where(
            EventCounter.shop_id == shop_id, EventCounter.topic == topic
        )
    )
    return int(value or 0)


async def follow(
    db: Database,
    shop_id: int,
    after: int,
    *,
    topic: str | None = None,
    broker: Broker | None = None,
    poll_seconds: float = 5.0,
) -> AsyncIterator[EventData]:
    """Every event of the shop (or of one topic) after ``after``: in order, once, forever.

    ``after`` and the numbers compared are the shop's ``seq``, or the topic's
    ``topic_seq`` when following a topic. The broker only wakes the follower up;
    the database is the truth. A missed broker message is found by the next one
    (as a gap) or by the periodic poll.
    """
    source = broker or get_broker()
    subscription = source.subscribe(shop_id, topic or "")
    last = after
    try:
        while True:
            async with db.session() as session:
                batch = await read_after(session, shop_id, last, topic=topic)
            for item in batch:
                last = item.number(topic)
                yield item
            if len(batch) == 500:
                continue
            while True:
                try:
                    item = await asyncio.wait_for(subscription.get(), timeout=poll_seconds)
                except TimeoutError:
                    break  # poll the database in case a broker message was lost
                number = item.number(topic)
                if number <= last:
                    continue
                if number > last + 1:
                    break  # a gap: read the missing ones from the database
                last = number
                yield item
    finally:
        subscription.close()
