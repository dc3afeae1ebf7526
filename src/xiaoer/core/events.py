"""The event stream: every state change, numbered per shop, published after commit.

A service calls :func:`record_event` inside its unit of work. When the unit of
work commits, its events are numbered and written as its last statements: the
numbers come from the shop's counter row, whose lock is held from there until
the commit, so numbers are gapless and committed in order. Only after the commit
is the event handed to the broker; a rollback drops it. Followers are in
:mod:`xiaoer.core.feed`.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy import insert, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction

from xiaoer.core.broker import get_broker
from xiaoer.core.clock import utcnow
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
    # Frames made from this event, by name: encoded once for all the sockets it goes to.
    frames: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

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


@dataclass(slots=True)
class PendingEvent:
    """An event recorded in an open transaction; numbered and stored at commit."""

    shop_id: int
    kind: str
    payload: dict[str, Any]
    created_at: datetime
    topic: str = ""
    event: EventData | None = None  # set when the transaction commits


def pending_events(session: AsyncSession | Session) -> list[PendingEvent]:
    """Events recorded in the session's open transaction, not yet numbered."""
    pending: list[PendingEvent] = session.info.setdefault(PENDING_KEY, [])
    return pending


def _bump_counter(session: Session, shop_id: int, topic: str, by: int) -> int:
    """Add ``by`` to a counter row (created at ``by``) and return its new value."""
    dialect = session.get_bind().dialect.name
    upsert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = (
        upsert(EventCounter)
        .values(shop_id=shop_id, topic=topic, last_seq=by)
        .on_conflict_do_update(
            index_elements=[EventCounter.shop_id, EventCounter.topic],
            set_={"last_seq": EventCounter.last_seq + by},
        )
        .returning(EventCounter.last_seq)
    )
    return int(session.execute(stmt).scalar_one())


async def record_event(
    session: AsyncSession,
    shop_id: int,
    kind: str,
    payload: dict[str, Any] | None = None,
    *,
    topic: str = "",
    at: datetime | None = None,
) -> PendingEvent:
    """Record an event in the caller's transaction; it is numbered, stored and
    published when the transaction commits, and forgotten if it rolls back.

    ``topic`` (e.g. ``"buyer:42"``) lets a follower read only that topic.
    """
    pending = PendingEvent(shop_id, kind, dict(payload or {}), at or utcnow(), topic)
    pending_events(session).append(pending)
    return pending


@sa_event.listens_for(Session, "before_commit")
def _number_before_commit(session: Session) -> None:
    """Number and store the transaction's events as its last statements.

    The shop's counter row is locked only from here to the commit, which orders
    the shop's commits and keeps the numbers gapless without holding the lock
    over the rest of the unit of work.
    """
    if session.in_nested_transaction():
        return
    pending = session.info.get(PENDING_KEY)
    if not pending:
        return
    session.flush()  # row locks of the unit of work first, the counter last
    by_shop: dict[int, list[PendingEvent]] = {}
    for item in pending:
        by_shop.setdefault(item.shop_id, []).append(item)
    postgres = session.get_bind().dialect.name == "postgresql"
    for shop_id in sorted(by_shop):
        if postgres:
            _store_in_one_statement(session, shop_id, by_shop[shop_id])
        else:
            _store(session, shop_id, by_shop[shop_id])


def _topic_places(items: list[PendingEvent]) -> tuple[Counter[str], list[int]]:
    """How many events each topic gets, and each event's place (1, 2, …) in its topic."""
    counts: Counter[str] = Counter()
    places = []
    for item in items:
        if item.topic:
            counts[item.topic] += 1
        places.append(counts[item.topic] if item.topic else 0)
    return counts, places


def _numbered(item: PendingEvent, shop_id: int, seq: int, topic_seq: int) -> None:
    item.event = EventData(
        shop_id, seq, item.kind, item.payload, item.created_at.isoformat(), item.topic, topic_seq
    )


def _store(session: Session, shop_id: int, items: list[PendingEvent]) -> None:
    """Number with one statement per counter, then insert (SQLite: one writer at a time)."""
    seq = _bump_counter(session, shop_id, "", len(items)) - len(items)
    counts, places = _topic_places(items)
    topic_base = {
        topic: _bump_counter(session, shop_id, topic, n) - n for topic, n in sorted(counts.items())
    }
    rows: list[dict[str, Any]] = []
    for item, place in zip(items, places, strict=True):
        seq += 1
        topic_seq = topic_base[item.topic] + place if item.topic else 0
        _numbered(item, shop_id, seq, topic_seq)
        rows.append(
            {
                "shop_id": shop_id,
                "seq": seq,
                "topic": item.topic,
                "topic_seq": topic_seq,
                "kind": item.kind,
                "payload": item.payload,
                "created_at": item.created_at,
            }
        )
    session.execute(insert(Event), rows)


def _store_in_one_statement(session: Session, shop_id: int, items: list[PendingEvent]) -> None:
    """PostgreSQL: bump the counters and insert the events in a single statement.

    The shop's counter row stays locked until the commit; with one statement the
    lock is held for one round trip and the commit, not for one per counter and
    one for the insert — under load each round trip waits for a busy event loop.
    """
    counts, places = _topic_places(items)
    params: dict[str, Any] = {"shop": shop_id, "n": len(items)}
    values = []
    for j, (item, place) in enumerate(zip(items, places, strict=True)):
        params.update(
            {
                f"o{j}": j + 1,
                f"t{j}": item.topic,
                f"r{j}": place,
                f"m{j}": counts[item.topic] if item.topic else 0,
                f"k{j}": item.kind,
                f"p{j}": json.dumps(item.payload, ensure_ascii=False),
                f"c{j}": item.created_at,
            }
        )
        values.append(
            f"(CAST(:o{j} AS BIGINT), CAST(:t{j} AS VARCHAR), CAST(:r{j} AS BIGINT), "
            f"CAST(:m{j} AS BIGINT), CAST(:k{j} AS VARCHAR), CAST(:p{j} AS JSON), "
            f"CAST(:c{j} AS TIMESTAMPTZ))"
        )
    topics = []
    for i, (topic, n) in enumerate(sorted(counts.items())):
        params.update({f"tt{i}": topic, f"tn{i}": n})
        topics.append(f"(CAST(:tt{i} AS VARCHAR), CAST(:tn{i} AS BIGINT))")
    upsert = (
        "ON CONFLICT (shop_id, topic) DO UPDATE "
        "SET last_seq = event_counter.last_seq + EXCLUDED.last_seq RETURNING topic, last_seq"
    )
    # Only the names of bind parameters made above are formatted into the text.
    topic_counter = (
        f", topic_counter AS (INSERT INTO event_counter (shop_id, topic, last_seq) "  # noqa: S608
        f"SELECT :shop, x.topic, x.n FROM (VALUES {', '.join(topics)}) AS x(topic, n) "
        f"ORDER BY x.topic {upsert})"
        if topics
        else ", topic_counter AS (SELECT CAST(NULL AS VARCHAR) AS topic, "
        "CAST(NULL AS BIGINT) AS last_seq WHERE false)"
    )
    statement = (
        f"WITH shop_counter AS (INSERT INTO event_counter (shop_id, topic, last_seq) "  # noqa: S608
        f"VALUES (:shop, '', :n) {upsert}){topic_counter}, "
        "v(ord, topic, place, topic_n, kind, payload, created_at) AS "
        f"(VALUES {', '.join(values)}) "
        "INSERT INTO event (shop_id, seq, topic, topic_seq, kind, payload, created_at) "
        "SELECT :shop, s.last_seq - :n + v.ord, v.topic, "
        "COALESCE(t.last_seq - v.topic_n + v.place, 0), v.kind, v.payload, v.created_at "
        "FROM v CROSS JOIN shop_counter AS s LEFT JOIN topic_counter AS t ON t.topic = v.topic "
        "RETURNING seq, topic_seq"
    )
    numbers = sorted(tuple(row) for row in session.execute(text(statement), params))
    for item, (seq, topic_seq) in zip(items, numbers, strict=True):
        _numbered(item, shop_id, int(seq), int(topic_seq))


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
    pending: list[PendingEvent] | None = session.info.pop(PENDING_KEY, None)
    if pending:
        get_broker().publish_nowait([item.event for item in pending if item.event is not None])


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
