"""Following a shop's event stream: one feed per shop and process, many followers.

The database is the truth and numbers a shop's events at commit, so "the events
after N" never skip one that commits later. The broker only says "this shop has
news". A :class:`ShopFeed` is the one reader of the database per shop in a
process: when told, it reads what is new (notices that come while it reads are
answered by one more read), and every few seconds it looks anyway, in case a
notice never came. Thousands of followers (a buyer's widget, an agent's
workbench) then cost one queue each, not a database read each.

A follower (:func:`follow`) reads what it missed from the database, then takes
the feed's events, skipping what it has already seen; if it falls too far behind
it is told so and reads the database again. Nothing is lost or delivered twice
across reconnects, restarts and processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from xiaoer.core import memo
from xiaoer.core.broker import Broker, Subscription, get_broker
from xiaoer.core.db import Database
from xiaoer.core.event_kinds import Viewer, receivers
from xiaoer.core.events import EventData, last_seq, read_after

log = logging.getLogger(__name__)

INBOX_LIMIT = 2_000
READ_LIMIT = 500


class Inbox:
    """One follower's queue of live events; when it overflows the follower re-reads.

    A follower may say which events it ``wants`` (a workbench: those its viewer may
    see). The others are passed over as they arrive, never queued, so an event wakes
    only the followers it is for. Each queued event comes with the number of the event
    queued before it (``0`` for none): a follower whose last event is at least that
    knows the numbers in between were passed over, not lost.
    """

    def __init__(
        self,
        topic: str,
        limit: int | None = None,
        wants: Callable[[EventData], bool] | None = None,
    ) -> None:
        self.topic = topic
        self.wants = wants
        self.viewer: Viewer | None = None  # a staff follower, indexed by the feed
        self._queue: asyncio.Queue[tuple[int, EventData]] = asyncio.Queue(
            maxsize=limit or INBOX_LIMIT
        )
        self._overflowed = False
        self._queued = 0  # the number of the last event queued

    def put(self, item: EventData) -> None:
        if self.wants is not None and not self.wants(item):
            return
        before, self._queued = self._queued, item.number(self.topic or None)
        if self._overflowed:
            return
        try:
            self._queue.put_nowait((before, item))
        except asyncio.QueueFull:
            self._overflowed = True
            while not self._queue.empty():
                self._queue.get_nowait()
            self._queue.put_nowait((before, item))  # wakes a waiting follower

    async def get(self) -> tuple[int, EventData] | None:
        """The next live event and the number of the one queued before it, or ``None``
        once after an overflow: read the database."""
        item = await self._queue.get()
        if self._overflowed:
            self._overflowed = False
            while not self._queue.empty():
                self._queue.get_nowait()
            return None
        return item


class ShopFeed:
    """A shop's committed events, in order and once, for this process's followers."""

    def __init__(self, db: Database, broker: Broker, shop_id: int, poll_seconds: float) -> None:
        self.db = db
        self.broker = broker
        self.shop_id = shop_id
        self.memo_key = (str(db.engine.url), shop_id)
        self.poll_seconds = poll_seconds
        self.last = 0
        self._inboxes: dict[str, set[Inbox]] = {}
        self._subscription: Subscription | None = None
        self._task: asyncio.Task[None] | None = None
        self._started = asyncio.Event()
        self._failed: BaseException | None = None
        self._offered = 0  # commits whose events were offered, their notice not yet heard
        # Staff followers of the whole shop, indexed by who they are: an event is put
        # only into the inboxes of those it is for, worked out once (``receivers``).
        self._leaders: set[Inbox] = set()
        self._agents: set[Inbox] = set()
        self._by_staff: dict[int, set[Inbox]] = {}
        self._by_team: dict[str, set[Inbox]] = {}

    @property
    def followers(self) -> int:
        return sum(len(s) for s in self._inboxes.values()) + len(self._leaders) + len(self._agents)

    async def start(self) -> None:
        # Listen before reading the counter: nothing committed in between is missed.
        self._subscription = self.broker.subscribe(self.shop_id)
        try:
            async with self.db.session() as session:
                self.last = await last_seq(session, self.shop_id)
        except BaseException as exc:
            self._failed = exc
            self._subscription.close()
            raise
        finally:
            self._started.set()
        memo.feed_started(self.memo_key)
        self._task = asyncio.create_task(self._run(), name=f"xiaoer-feed-{self.shop_id}")

    async def ready(self) -> None:
        await self._started.wait()
        if self._failed is not None:
            raise RuntimeError("the event feed could not start") from self._failed

    async def stop(self) -> None:
        memo.feed_stopped(self.memo_key)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._subscription is not None:
            self._subscription.close()

    def join(
        self,
        topic: str = "",
        wants: Callable[[EventData], bool] | None = None,
        viewer: Viewer | None = None,
    ) -> Inbox:
        inbox = Inbox(topic, wants=wants)
        inbox.viewer = viewer
        if viewer is None or topic:
            self._inboxes.setdefault(topic, set()).add(inbox)
        elif viewer.leader:
            self._leaders.add(inbox)
        else:
            self._agents.add(inbox)
            self._by_staff.setdefault(viewer.staff_id, set()).add(inbox)
            self._by_team.setdefault(viewer.team, set()).add(inbox)
        return inbox

    def leave(self, inbox: Inbox) -> None:
        viewer = inbox.viewer
        if viewer is not None and not inbox.topic:
            self._leaders.discard(inbox)
            self._agents.discard(inbox)
            _drop(self._by_staff, viewer.staff_id, inbox)
            _drop(self._by_team, viewer.team, inbox)
            return
        inboxes = self._inboxes.get(inbox.topic)
        if inboxes is not None:
            inboxes.discard(inbox)
            if not inboxes:
                del self._inboxes[inbox.topic]

    async def _run(self) -> None:
        assert self._subscription is not None
        subscription = self._subscription
        while True:
            notices = 0  # none: the poll's own look
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.poll_seconds):
                    notices = await subscription.wait()
            # The notices of commits whose events were offered already need no read.
            offered, self._offered = (
                min(notices, self._offered),
                self._offered - min(notices, self._offered),
            )
            if notices and notices == offered:
                continue
            try:
                await self._read_database()
            except Exception:  # the database is away for a moment: try again later
                log.exception("could not read the events of shop %s", self.shop_id)
                memo.feed_started(self.memo_key)  # events may be missed meanwhile
                await asyncio.sleep(1)

    async def _read_database(self) -> None:
        while True:
            async with self.db.session() as session:
                batch = await read_after(session, self.shop_id, self.last, READ_LIMIT)
            for item in batch:
                self._deliver(item)
            if len(batch) < READ_LIMIT:
                return

    def _deliver(self, item: EventData) -> None:
        self.last = item.seq
        memo.event_seen(self.memo_key, item.kind)
        for inbox in self._inboxes.get("", ()):
            inbox.put(item)
        if self._leaders or self._agents:
            for inbox in self._staff_for(item):
                inbox.put(item)
        if item.topic:
            for inbox in self._inboxes.get(item.topic, ()):
                inbox.put(item)

    def _staff_for(self, item: EventData) -> set[Inbox]:
        """The staff followers an event is for: as many look-ups as it has receivers,
        not a question to every open workbench."""
        found = receivers(item.kind, item.payload)
        chosen = set(self._leaders) if found.leaders else set()
        if found.everyone:
            return chosen | self._agents
        for staff_id in found.ids:
            chosen |= self._by_staff.get(staff_id, set())
        for team in found.teams:
            chosen |= self._by_team.get(team, set())
        return chosen

    def offer(self, events: list[EventData]) -> bool:
        """Take events this process has just committed, when they follow what the feed
        has delivered; their commit's notice then needs no read of the database."""
        if self._task is None or not events or events[0].seq != self.last + 1:
            return False
        for item in events:
            self._deliver(item)
        self._offered += 1
        return True


def offer(db: Database, events: list[EventData]) -> None:
    """Events this process has just committed (numbered, as read back), for its own
    feeds of their shops: given to the followers at once, sparing each feed a read of
    the database. Call it right after the commit, before anything else may run: a feed
    that read them first has moved on, and the offer is declined."""
    by_shop: dict[int, list[EventData]] = {}
    for item in events:
        by_shop.setdefault(item.shop_id, []).append(item)
    broker = get_broker()
    for shop_id, items in by_shop.items():
        feed = _feeds.get((db, broker, shop_id))
        if feed is not None:
            feed.offer(items)


def _drop(index: dict[Any, set[Inbox]], key: Any, inbox: Inbox) -> None:
    found = index.get(key)
    if found is not None:
        found.discard(inbox)
        if not found:
            del index[key]


# Keyed by the objects, not their ids: an id may be reused once its object is gone.
_feeds: dict[tuple[Database, Broker, int], ShopFeed] = {}


async def _feed_for(db: Database, broker: Broker, shop_id: int, poll_seconds: float) -> ShopFeed:
    key = (db, broker, shop_id)
    feed = _feeds.get(key)
    if feed is None:
        feed = _feeds[key] = ShopFeed(db, broker, shop_id, poll_seconds)
        try:
            await feed.start()
        except BaseException:
            del _feeds[key]
            raise
    await feed.ready()
    feed.poll_seconds = min(feed.poll_seconds, poll_seconds)
    return feed


async def _release(feed: ShopFeed) -> None:
    if feed.followers == 0:
        key = (feed.db, feed.broker, feed.shop_id)
        if _feeds.get(key) is feed:
            del _feeds[key]
        await feed.stop()


async def stop_feeds(db: Database) -> None:
    """Stop the feeds reading ``db`` (on shutdown)."""
    for key, feed in list(_feeds.items()):
        if feed.db is db:
            del _feeds[key]
            await feed.stop()


async def follow(
    db: Database,
    shop_id: int,
    after: int,
    *,
    topic: str | None = None,
    broker: Broker | None = None,
    poll_seconds: float = 5.0,
    wants: Callable[[EventData], bool] | None = None,
    viewer: Viewer | None = None,
) -> AsyncIterator[EventData]:
    """Every event of the shop (or of one topic) after ``after``: in order, once, forever.

    ``after`` and the numbers compared are the shop's ``seq``, or the topic's
    ``topic_seq`` when following a topic. With ``wants``, live events it refuses are
    passed over without waking the follower (what it reads from the database, it is
    given all of: the caller filters as before). A staff ``viewer`` following the whole
    shop is given the live events ``staff_receives`` lets it see, found by who they
    are for rather than by asking every follower.
    """
    feed = await _feed_for(db, broker or get_broker(), shop_id, poll_seconds)
    # Joined before the database is read: an event is in that read or in the inbox.
    inbox = feed.join(topic or "", wants, viewer)
    filtered = wants is not None or (viewer is not None and not topic)
    last = after
    try:
        while True:
            while True:  # what was missed, from the database
                async with db.session() as session:
                    batch = await read_after(session, shop_id, last, READ_LIMIT, topic=topic)
                for item in batch:
                    last = item.number(topic)
                    yield item
                if len(batch) < READ_LIMIT:
                    break
            while True:  # then live, until the inbox overflows or shows a gap
                queued = await inbox.get()
                if queued is None:
                    break
                before, live = queued
                number = live.number(topic)
                if number <= last:
                    continue
                # A gap: only events passed over as unwanted, or some missed (read again).
                if number > last + 1 and (not filtered or before > last):
                    break
                last = number
                yield live
    finally:
        feed.leave(inbox)
        await _release(feed)
