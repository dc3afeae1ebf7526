"""One feed per shop and process: shared by many followers, in order, lossless on overflow."""

import asyncio
from typing import Any

import pytest

from tests.core.test_events import _collect
from xiaoer.core import feed as feed_module
from xiaoer.core.db import Database
from xiaoer.core.event_kinds import Viewer
from xiaoer.core.events import EventData, last_seq, record_event
from xiaoer.core.feed import Inbox, follow
from xiaoer.shops.models import Shop


def count_reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The ``after`` of every read of the database the feeds and followers make."""
    reads: list[int] = []
    original = feed_module.read_after

    async def counted(session: Any, shop_id: int, after: int, *args: Any, **kw: Any) -> Any:
        reads.append(after)
        return await original(session, shop_id, after, *args, **kw)

    monkeypatch.setattr(feed_module, "read_after", counted)
    return reads


async def _record(db: Database, shop_id: int, n: int) -> None:
    async with db.session() as session:
        for i in range(n):
            await record_event(session, shop_id, "order.created", {"i": i}, topic="buyer:1")
        await session.commit()


async def test_many_followers_share_one_feed_that_stops_with_the_last(
    db: Database, shop: Shop
) -> None:
    streams = [follow(db, shop.id, after=1) for _ in range(20)]
    streams += [follow(db, shop.id, after=0, topic="buyer:1") for _ in range(5)]
    collectors = [asyncio.create_task(_collect(s, 3)) for s in streams]
    await asyncio.sleep(0.1)
    feeds = [f for f in feed_module._feeds.values() if f.shop_id == shop.id and f.db is db]
    assert len(feeds) == 1 and feeds[0].followers == 25
    await _record(db, shop.id, 3)
    results = await asyncio.wait_for(asyncio.gather(*collectors), 5)
    assert all([e.seq for e in got] == [2, 3, 4] for got in results[:20])
    assert all([e.topic_seq for e in got] == [1, 2, 3] for got in results[20:])
    for stream in streams:
        await stream.aclose()  # type: ignore[attr-defined]
    assert not [f for f in feed_module._feeds.values() if f.shop_id == shop.id and f.db is db]


async def test_a_follower_that_falls_behind_rereads_and_misses_nothing(
    db: Database, shop: Shop, monkeypatch: object
) -> None:
    """An inbox that overflows is emptied; its follower reads the database instead."""
    monkeypatch.setattr(feed_module, "INBOX_LIMIT", 3)  # type: ignore[attr-defined]
    reads = count_reads(monkeypatch)  # type: ignore[arg-type]
    stream = follow(db, shop.id, after=1)
    first = asyncio.create_task(anext(stream))
    await asyncio.sleep(0.1)
    await _record(db, shop.id, 1)
    assert (await asyncio.wait_for(first, 5)).seq == 2
    for _ in range(4):  # 12 events while the follower takes none: its inbox of 3 overflows
        await _record(db, shop.id, 3)
    await asyncio.sleep(0.2)
    rest = await asyncio.wait_for(_collect(stream, 12), 5)
    assert [e.seq for e in rest] == list(range(3, 15))
    assert 2 in reads  # after the overflow the follower read from its last event, seq 2
    await stream.aclose()  # type: ignore[attr-defined]


def test_an_inbox_reports_an_overflow_once_then_carries_on() -> None:
    async def run() -> list[object]:
        inbox = Inbox("", limit=2)
        for seq in (1, 2, 3):
            inbox.put(EventData(1, seq, "k"))
        first = await inbox.get()
        inbox.put(EventData(1, 4, "k"))
        return [first, (await inbox.get())]

    first, second = asyncio.run(run())
    assert first is None  # overflowed: read the database
    assert isinstance(second, tuple) and second[1].seq == 4


async def test_a_follower_is_woken_only_by_what_it_wants_and_reads_nothing_again(
    db: Database, shop: Shop, monkeypatch: object
) -> None:
    """Events a follower does not want are passed over in the feed: the gaps they leave
    are not taken for lost events (no second read of the database), and a real gap is."""
    reads = count_reads(monkeypatch)  # type: ignore[arg-type]

    def even(event: EventData) -> bool:
        return event.payload.get("i", 0) % 2 == 0

    async with db.session() as session:
        start = await last_seq(session, shop.id)
    stream = follow(db, shop.id, after=start, wants=even)
    collector = asyncio.create_task(_collect(stream, 4))
    await asyncio.sleep(0.1)
    follower_reads = len(reads)
    await _record(db, shop.id, 8)  # i = 0…7, of which 0, 2, 4, 6 are wanted
    got = await asyncio.wait_for(collector, 5)
    assert [(e.seq - start, e.payload["i"]) for e in got] == [(1, 0), (3, 2), (5, 4), (7, 6)]
    feeds = [f for f in feed_module._feeds.values() if f.shop_id == shop.id and f.db is db]
    inbox = next(iter(feeds[0]._inboxes[""]))
    assert inbox._queue.qsize() == 0  # the odd ones were never queued
    # Since it went live, the follower has not gone back to the database: every read
    # since is the feed's own, from where the feed was (``start``, then after the batch).
    assert set(reads[follower_reads:]) <= {start, start + 8}
    await stream.aclose()  # type: ignore[attr-defined]


def test_an_inbox_tells_the_number_queued_before_each_event() -> None:
    async def run() -> list[tuple[int, EventData] | None]:
        inbox = Inbox("", wants=lambda e: e.kind == "want")
        for seq, kind in ((1, "want"), (2, "skip"), (3, "skip"), (4, "want")):
            inbox.put(EventData(1, seq, kind))
        return [await inbox.get(), await inbox.get()]

    first, second = asyncio.run(run())
    assert first is not None and (first[0], first[1].seq) == (0, 1)
    assert second is not None and (second[0], second[1].seq) == (1, 4)  # 2 and 3 passed over


async def test_a_staff_follower_gets_its_own_events_found_by_who_they_are_for(
    db: Database, shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Followers of the whole shop as staff: each is given what ``staff_receives`` lets
    it see, the others' messages are never queued for it, and nobody reads again."""
    reads = count_reads(monkeypatch)
    async with db.session() as session:
        start = await last_seq(session, shop.id)
    me, colleague = Viewer(7, "presale", False), Viewer(8, "presale", False)
    boss = Viewer(1, "presale", True)
    streams = {v: follow(db, shop.id, after=start, viewer=v) for v in (me, colleague, boss)}
    wanted = {me: 2, colleague: 1, boss: 3}
    tasks = {v: asyncio.create_task(_collect(s, wanted[v])) for v, s in streams.items()}
    await asyncio.sleep(0.1)
    before = len(reads)
    async with db.session() as session:
        for agent in (7, 8, 7):
            payload = {"sender": "buyer", "text": "hi", "created_at": "x"}
            payload["conversation"] = {"agent_id": agent, "team": "presale", "queued_at": "y"}
            await record_event(session, shop.id, "message.created", payload, topic="buyer:1")
        await session.commit()
    got = {v: await asyncio.wait_for(t, 5) for v, t in tasks.items()}
    assert [e.seq - start for e in got[me]] == [1, 3]
    assert [e.seq - start for e in got[colleague]] == [2]
    assert [e.seq - start for e in got[boss]] == [1, 2, 3]
    assert set(reads[before:]) <= {start}  # the feed's one read; no follower read again
    for stream in streams.values():
        await stream.aclose()  # type: ignore[attr-defined]
