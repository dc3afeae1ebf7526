"""The event stream: numbered per shop, published only after commit, resumable."""

import asyncio
import os

import pytest

from xiaoer.core.broker import RedisBroker, get_broker, set_broker
from xiaoer.core.db import Database
from xiaoer.core.events import EventData, last_seq, read_after, record_event
from xiaoer.core.feed import follow
from xiaoer.shops.models import Shop
from xiaoer.shops.service import do_create_shop


async def _record(db: Database, shop_id: int, n: int, kind: str = "order.created") -> None:
    async with db.session() as session:
        for i in range(n):
            await record_event(session, shop_id, kind, {"i": i})
        await session.commit()


async def test_events_are_numbered_per_shop_without_gaps(db: Database, shop: Shop) -> None:
    async with db.session() as session:
        other = await do_create_shop(session, code="rugs", name="地毯铺")
        await session.commit()
    await _record(db, shop.id, 3)
    await _record(db, other.id, 2)
    await _record(db, shop.id, 2)
    async with db.session() as session:
        mine = await read_after(session, shop.id, 0)
        theirs = await read_after(session, other.id, 0)
        assert await last_seq(session, shop.id) == mine[-1].seq
    # seq 1 of each shop is its shop.created event
    assert [e.seq for e in mine] == [1, 2, 3, 4, 5, 6]
    assert [e.seq for e in theirs] == [1, 2, 3]
    assert [e.kind for e in theirs] == ["shop.created", "order.created", "order.created"]


async def test_read_after_returns_only_newer_events(db: Database, shop: Shop) -> None:
    await _record(db, shop.id, 5)
    async with db.session() as session:
        newer = await read_after(session, shop.id, 4)
    assert [(e.seq, e.payload["i"]) for e in newer] == [(5, 3), (6, 4)]


async def test_the_broker_is_told_only_after_commit(db: Database, shop: Shop) -> None:
    subscription = get_broker().subscribe(shop.id)
    async with db.session() as session:
        await record_event(session, shop.id, "order.note", {})
        await session.flush()
        assert not subscription.pending  # written, not yet committed
        await session.commit()
    await asyncio.wait_for(subscription.wait(), 1)
    async with db.session() as session:
        assert [e.kind for e in await read_after(session, shop.id, 1)] == ["order.note"]
    subscription.close()


async def test_rolled_back_event_is_never_seen(db: Database, shop: Shop) -> None:
    subscription = get_broker().subscribe(shop.id)
    async with db.session() as session:
        await record_event(session, shop.id, "order.flag", {})
        await session.flush()
        await session.rollback()
    assert not subscription.pending
    async with db.session() as session:
        await record_event(session, shop.id, "order.note", {})
        await session.commit()
        stored = await read_after(session, shop.id, 1)
    assert subscription.pending
    # the rolled-back event took no number: the stream stays gapless
    assert [(e.seq, e.kind) for e in stored] == [(2, "order.note")]
    subscription.close()


async def _collect(stream: object, n: int) -> list[EventData]:
    got: list[EventData] = []
    async for item in stream:  # type: ignore[attr-defined]
        got.append(item)
        if len(got) == n:
            break
    return got


async def test_follower_catches_up_then_receives_live_events_exactly_once(
    db: Database, shop: Shop
) -> None:
    await _record(db, shop.id, 3)  # seq 2..4, missed while away
    stream = follow(db, shop.id, after=2, poll_seconds=0.2)
    collector = asyncio.create_task(_collect(stream, 6))
    await asyncio.sleep(0.05)
    await _record(db, shop.id, 4)  # seq 5..8, live
    got = await asyncio.wait_for(collector, 5)
    assert [e.seq for e in got] == [3, 4, 5, 6, 7, 8]


async def test_follower_finds_events_whose_notice_was_lost_by_polling(
    db: Database, shop: Shop
) -> None:
    broker = get_broker()
    stream = follow(db, shop.id, after=1, broker=broker, poll_seconds=0.1)
    collector = asyncio.create_task(_collect(stream, 3))
    await asyncio.sleep(0.05)
    original = broker.notify
    broker.notify = lambda shop_ids: None  # type: ignore[method-assign]
    try:
        await _record(db, shop.id, 3)  # committed, but nobody is told
        got = await asyncio.wait_for(collector, 5)
    finally:
        broker.notify = original  # type: ignore[method-assign]
    assert [e.seq for e in got] == [2, 3, 4]


async def test_many_notices_while_reading_deliver_each_event_once(db: Database, shop: Shop) -> None:
    broker = get_broker()
    stream = follow(db, shop.id, after=1, broker=broker, poll_seconds=30)
    collector = asyncio.create_task(_collect(stream, 20))
    await asyncio.sleep(0.05)
    await asyncio.gather(*(_record(db, shop.id, 2) for _ in range(10)))
    for _ in range(5):  # late and repeated notices: nothing new, nothing twice
        broker.notify([shop.id])
    got = await asyncio.wait_for(collector, 5)
    assert [e.seq for e in got] == list(range(2, 22))


async def test_concurrent_writers_keep_numbers_unique_and_ordered(db: Database, shop: Shop) -> None:
    async def writer(n: int) -> None:
        for _ in range(n):
            await _record(db, shop.id, 1)

    await asyncio.gather(*(writer(10) for _ in range(5)))
    async with db.session() as session:
        seqs = [e.seq for e in await read_after(session, shop.id, 0)]
    assert seqs == list(range(1, 52))


REDIS_URL = os.environ.get("XIAOER_TEST_REDIS_URL", "")


@pytest.mark.skipif(not REDIS_URL, reason="XIAOER_TEST_REDIS_URL is not set")
async def test_redis_broker_tells_another_process(db: Database, shop: Shop) -> None:
    """Two brokers stand for two processes: one commits, the other's listener hears it."""
    writer, reader = RedisBroker(REDIS_URL), RedisBroker(REDIS_URL)
    await writer.start()
    await reader.start()
    try:
        subscription = reader.subscribe(shop.id)
        previous = set_broker(writer)  # the writing process tells on commit
        try:
            async with db.session() as session:
                await record_event(session, shop.id, "policy.applied", {"x": 1})
                await session.commit()
        finally:
            set_broker(previous)
        await asyncio.wait_for(subscription.wait(), 5)
        subscription.close()
    finally:
        await writer.stop()
        await reader.stop()


async def test_topic_follower_gets_only_its_topic_numbered_without_gaps(
    db: Database, shop: Shop
) -> None:
    async with db.session() as session:
        for i in range(3):
            await record_event(session, shop.id, "message.created", {"i": i}, topic="buyer:1")
            await record_event(session, shop.id, "message.created", {"i": i}, topic="buyer:2")
        await session.commit()
    stream = follow(db, shop.id, after=1, topic="buyer:1", poll_seconds=0.2)
    collector = asyncio.create_task(_collect(stream, 4))
    await asyncio.sleep(0.05)
    async with db.session() as session:
        await record_event(session, shop.id, "message.created", {"i": 9}, topic="buyer:2")
        await record_event(session, shop.id, "message.created", {"i": 3}, topic="buyer:1")
        await record_event(session, shop.id, "order.note", {})
        await record_event(session, shop.id, "message.created", {"i": 4}, topic="buyer:1")
        await session.commit()
    got = await asyncio.wait_for(collector, 5)
    assert [(e.topic, e.topic_seq, e.payload["i"]) for e in got] == [
        ("buyer:1", 2, 1),
        ("buyer:1", 3, 2),
        ("buyer:1", 4, 3),
        ("buyer:1", 5, 4),
    ]
    shop_wide = [e.seq for e in got]
    assert shop_wide == sorted(shop_wide)


async def test_a_savepoint_commit_tells_nothing_before_the_real_commit(
    db: Database, shop: Shop
) -> None:
    subscription = get_broker().subscribe(shop.id)
    async with db.session() as session:
        async with session.begin_nested():
            await record_event(session, shop.id, "order.change", {})
        assert not subscription.pending  # the savepoint is released, nothing committed
        await session.commit()
    assert subscription.pending
    async with db.session() as session:
        assert [e.kind for e in await read_after(session, shop.id, 1)] == ["order.change"]
    subscription.close()


async def test_a_savepoint_rollback_drops_only_its_own_events(db: Database, shop: Shop) -> None:
    async with db.session() as session:
        await record_event(session, shop.id, "order.task", {})
        try:
            async with session.begin_nested():
                await record_event(session, shop.id, "order.status", {})
                await session.flush()
                raise RuntimeError("changed my mind")
        except RuntimeError:
            pass
        await record_event(session, shop.id, "order.task_done", {})
        await session.commit()
    async with db.session() as session:
        stored = [(e.seq, e.kind) for e in await read_after(session, shop.id, 1)]
    assert stored == [(2, "order.task"), (3, "order.task_done")]
