"""The event stream: every state change, numbered per shop, told after commit.

A service calls :func:`record_event` inside its unit of work; the events are
written when it commits and numbered *at* the commit, from the shop's counter
row, whose lock is held only until the commit ends. So a shop's numbers are
gapless and its events become visible in their order: a reader of "after N"
never skips one that commits later.

On PostgreSQL the events are written with a provisional (negative) number and a
deferred trigger (migration 0003) numbers them inside the COMMIT itself: the
counter's lock is never held while this process waits for its turn on a busy
event loop. On SQLite, which lets one writer at a time in anyway, they are
numbered by the last statements before the commit.

Only after the commit is the broker told "this shop has news"; a rollback drops
the events. Followers are in :mod:`xiaoer.core.feed`.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, func, insert, select, text
from sqlalchemy import event as sa_event
from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction

from xiaoer.core.broker import get_broker
from xiaoer.core.clock import as_utc, utcnow
from xiaoer.core.event_kinds import audience_of
from xiaoer.core.models import Event, EventCounter

PENDING_KEY = "xiaoer.pending_events"
STORED_KEY = "xiaoer.stored_event_shops"  # stored by store_now, told after the commit
_events = cast(Table, Event.__table__)
DRAFT_SEQUENCE = "event_draft_seq"  # provisional numbers, PostgreSQL (migration 0003)


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
    """An event recorded in an open transaction; stored and numbered at commit."""

    shop_id: int
    kind: str
    payload: dict[str, Any]
    created_at: datetime
    topic: str = ""


def pending_events(session: AsyncSession | Session) -> list[PendingEvent]:
    """Events recorded in the session's open transaction, not yet numbered."""
    pending: list[PendingEvent] = session.info.setdefault(PENDING_KEY, [])
    return pending


# PostgreSQL: one statement text for any number of topics (arrays as parameters), so
# it is compiled and prepared once; a multi-row VALUES is compiled anew for each count.
_BUMP_POSTGRES = text(
    """
    INSERT INTO event_counter (shop_id, topic, last_seq)
    SELECT :shop_id, t.topic, t.n
    FROM unnest(CAST(:topics AS varchar[]), CAST(:counts AS bigint[]))
        WITH ORDINALITY AS t(topic, n, place)
    ORDER BY t.place
    ON CONFLICT (shop_id, topic)
        DO UPDATE SET last_seq = event_counter.last_seq + excluded.last_seq
    RETURNING topic, last_seq
"""
)
# The counters bumped and the events numbered from them, in one statement: each event
# is given how far it stands back from its stream's new last number.
_STORE_DRIVER = """
    WITH bumped AS (
        INSERT INTO event_counter (shop_id, topic, last_seq)
        SELECT $1::integer, t.topic, t.n
        FROM unnest($2::varchar[], $3::bigint[]) WITH ORDINALITY AS t(topic, n, place)
        ORDER BY t.place
        ON CONFLICT (shop_id, topic)
            DO UPDATE SET last_seq = event_counter.last_seq + excluded.last_seq
        RETURNING topic, last_seq
    ), stored AS (
        INSERT INTO event (shop_id, seq, topic, topic_seq, kind, payload, created_at)
        SELECT $1::integer, shop.last_seq - e.back, e.topic,
               CASE WHEN e.topic = '' THEN 0 ELSE stream.last_seq - e.topic_back END,
               e.kind, CAST(e.payload AS json), e.created_at
        FROM unnest($4::bigint[], $5::varchar[], $6::bigint[], $7::varchar[], $8::text[],
                    $9::timestamptz[]) AS e(back, topic, topic_back, kind, payload, created_at)
        JOIN bumped AS shop ON shop.topic = ''
        LEFT JOIN bumped AS stream ON stream.topic = e.topic AND e.topic <> ''
        RETURNING 1
    )
    SELECT topic, last_seq FROM bumped
"""


def _bump_counters(session: Session, shop_id: int, counts: dict[str, int]) -> dict[str, int]:
    """Add ``counts[topic]`` to each counter row (created at it) with one statement; the
    new values. The shop's own counter (topic ``""``) first: every writer takes it first,
    so two never wait for each other in turn."""
    ordered = sorted(counts.items())
    if session.get_bind().dialect.name == "postgresql":
        found = session.execute(
            _BUMP_POSTGRES,
            {
                "shop_id": shop_id,
                "topics": [t for t, _ in ordered],
                "counts": [n for _, n in ordered],
            },
        )
    else:
        stmt = sqlite.insert(EventCounter).values(
            [{"shop_id": shop_id, "topic": t, "last_seq": n} for t, n in ordered]
        )
        found = session.execute(
            stmt.on_conflict_do_update(
                index_elements=[EventCounter.shop_id, EventCounter.topic],
                set_={"last_seq": EventCounter.last_seq + stmt.excluded.last_seq},
            ).returning(EventCounter.topic, EventCounter.last_seq)
        )
    return {str(topic): int(last) for topic, last in found}


def number_at_once(session: AsyncSession) -> None:
    """Number this transaction's events with its last statements, on PostgreSQL too,
    instead of by the trigger at commit: two statements for any number of events, where
    the trigger runs three per event. For a transaction that goes straight from its
    last statement to its commit (the chat writer's batch): the shop's counter is
    locked from that statement to the commit."""
    session.info[NUMBER_NOW_KEY] = True


NUMBER_NOW_KEY = "xiaoer.number_events_now"


async def record_event(
    session: AsyncSession,
    shop_id: int,
    kind: str,
    payload: dict[str, Any] | None = None,
    *,
    topic: str = "",
    at: datetime | None = None,
) -> PendingEvent:
    """Record an event in the caller's transaction; it is stored, numbered and
    told when the transaction commits, and forgotten if it rolls back.

    ``topic`` (e.g. ``"buyer:42"``) lets a follower read only that topic. ``kind`` must
    be in :data:`xiaoer.core.event_kinds.EVENT_KINDS`, which says who may receive it.
    """
    audience_of(kind)  # a kind nobody has said who may receive is refused
    pending = PendingEvent(shop_id, kind, dict(payload or {}), at or utcnow(), topic)
    pending_events(session).append(pending)
    return pending


@sa_event.listens_for(Session, "before_commit")
def _store_before_commit(session: Session) -> None:
    """Write the transaction's events as its last statements (see the module's text)."""
    if session.in_nested_transaction():
        return
    pending = session.info.get(PENDING_KEY)
    if not pending:
        return
    session.flush()  # row locks of the unit of work first, the counter last
    by_shop: dict[int, list[PendingEvent]] = {}
    for item in pending:
        by_shop.setdefault(item.shop_id, []).append(item)
    drafts = session.get_bind().dialect.name == "postgresql"
    drafts = drafts and not session.info.get(NUMBER_NOW_KEY)
    for shop_id in sorted(by_shop):  # one order for every writer: no deadlocks
        if drafts:
            _store_drafts(session, shop_id, by_shop[shop_id])
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


def _numbers(
    items: list[PendingEvent], places: list[int], counts: Counter[str], last: dict[str, int]
) -> list[tuple[int, int]]:
    """Each event's (seq, topic_seq), from the counters' values after they were bumped."""
    seq = last[""] - len(items)
    topic_base = {topic: last[topic] - n for topic, n in counts.items()}
    numbers = []
    for item, place in zip(items, places, strict=True):
        seq += 1
        numbers.append((seq, topic_base[item.topic] + place if item.topic else 0))
    return numbers


def _store(session: Session, shop_id: int, items: list[PendingEvent]) -> None:
    """Number with one statement for all the counters, then insert."""
    counts, places = _topic_places(items)
    last = _bump_counters(session, shop_id, {"": len(items), **counts})
    rows = [
        {
            "shop_id": shop_id,
            "seq": seq,
            "topic": item.topic,
            "topic_seq": topic_seq,
            "kind": item.kind,
            "payload": item.payload,
            "created_at": item.created_at,
        }
        for item, (seq, topic_seq) in zip(items, _numbers(items, places, counts, last), strict=True)
    ]
    session.execute(insert(_events), rows)  # Core: no ORM bulk bookkeeping per row


async def store_now(session: AsyncSession, driver: Any) -> list[EventData]:
    """PostgreSQL: number and store the transaction's events now, with one statement a
    shop on the driver's connection (``driver``, in the session's transaction), for a
    caller that commits at once (the chat writer's batch): the shop's counter is locked
    from here to the commit. The events are told after the commit as any others; they
    are returned numbered, as a reader will read them, for :func:`xiaoer.core.feed.offer`.
    """
    pending = session.info.get(PENDING_KEY)
    if not pending:
        return []
    await session.flush()  # row locks of the unit of work first, the counter last
    by_shop: dict[int, list[PendingEvent]] = {}
    for item in pending:
        by_shop.setdefault(item.shop_id, []).append(item)
    told: list[EventData] = []
    for shop_id in sorted(by_shop):  # one order for every writer: no deadlocks
        items = by_shop[shop_id]
        counts, places = _topic_places(items)
        ordered = sorted({"": len(items), **counts}.items())
        texts = [json.dumps(item.payload) for item in items]
        found = await driver.fetch(
            _STORE_DRIVER,
            shop_id,
            [t for t, _ in ordered],
            [n for _, n in ordered],
            [len(items) - i for i in range(1, len(items) + 1)],
            [item.topic for item in items],
            [
                counts[item.topic] - place if item.topic else 0
                for item, place in zip(items, places, strict=True)
            ],
            [item.kind for item in items],
            texts,
            [item.created_at for item in items],
        )
        last = {str(topic): int(n) for topic, n in found}
        numbers = _numbers(items, places, counts, last)
        told += [
            EventData(
                shop_id,
                seq,
                item.kind,
                json.loads(text),  # as stored and read back
                as_utc(item.created_at).isoformat(),
                item.topic,
                topic_seq,
            )
            for item, (seq, topic_seq), text in zip(items, numbers, texts, strict=True)
        ]
    stored: set[int] = session.info.setdefault(STORED_KEY, set())
    stored |= set(by_shop)
    session.info[PENDING_KEY] = []
    return told


def _store_drafts(session: Session, shop_id: int, items: list[PendingEvent]) -> None:
    """PostgreSQL: insert with provisional numbers; the commit's trigger numbers them."""
    # One statement for every batch size: the draft number is the statement's own
    # expression, the rows are parameters (a multi-row VALUES of expressions would be
    # compiled anew for each count of rows).
    statement = insert(Event).values(seq=0 - func.nextval(DRAFT_SEQUENCE))
    rows = [
        {
            "shop_id": shop_id,
            "topic": item.topic,
            "topic_seq": 0,
            "kind": item.kind,
            "payload": item.payload,
            "created_at": item.created_at,
        }
        for item in items
    ]
    session.execute(statement, rows)


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
    shops: set[int] = session.info.pop(STORED_KEY, set())
    shops |= {item.shop_id for item in pending or ()}
    if shops:
        get_broker().notify(shops)


@sa_event.listens_for(Session, "after_rollback")
def _drop_after_rollback(session: Session) -> None:
    nested = session.get_nested_transaction()
    if nested is None:
        session.info.pop(PENDING_KEY, None)
        session.info.pop(STORED_KEY, None)
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
