"""Fan-out of committed events to the followers in this and other processes.

In one process an in-memory broker is enough. With ``XIAOER_REDIS_URL`` set,
events travel through Redis pub/sub so that a buyer on one ``xiaoer serve``
process and an agent on another see each other's messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from xiaoer.core.events import EventData

log = logging.getLogger(__name__)


def namespace_for(database_url: str) -> str:
    """Deployments sharing a Redis never hear each other: channels are named per database."""
    return "xiaoer:" + hashlib.sha256(database_url.encode()).hexdigest()[:12] + ":events:"


class Subscription:
    """A follower's inbox for one shop, or for one topic of a shop."""

    def __init__(self, hub: LocalHub, shop_id: int, topic: str = "") -> None:
        self._hub = hub
        self.shop_id = shop_id
        self.topic = topic
        self.queue: asyncio.Queue[EventData] = asyncio.Queue(maxsize=10_000)
        self.overflowed = False

    async def get(self) -> EventData:
        return await self.queue.get()

    def offer(self, item: EventData) -> None:
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            # The follower is behind; it will find the gap and read the database.
            self.overflowed = True

    def close(self) -> None:
        self._hub.remove(self)


class LocalHub:
    """Followers in this process, found by (shop, topic) in one dictionary look-up."""

    def __init__(self) -> None:
        self._subs: dict[tuple[int, str], set[Subscription]] = defaultdict(set)

    def add(self, shop_id: int, topic: str = "") -> Subscription:
        sub = Subscription(self, shop_id, topic)
        self._subs[(shop_id, topic)].add(sub)
        return sub

    def remove(self, sub: Subscription) -> None:
        key = (sub.shop_id, sub.topic)
        subs = self._subs.get(key)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._subs[key]

    def deliver(self, events: Sequence[EventData]) -> None:
        for item in events:
            for sub in tuple(self._subs.get((item.shop_id, ""), ())):
                sub.offer(item)
            if item.topic:
                for sub in tuple(self._subs.get((item.shop_id, item.topic), ())):
                    sub.offer(item)

    def count(self, shop_id: int, topic: str = "") -> int:
        return len(self._subs.get((shop_id, topic), ()))


class Broker(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def publish_nowait(self, events: Sequence[EventData]) -> None: ...

    def subscribe(self, shop_id: int, topic: str = "") -> Subscription: ...


class MemoryBroker:
    """Delivers to followers in this process only."""

    def __init__(self) -> None:
        self.hub = LocalHub()

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    def publish_nowait(self, events: Sequence[EventData]) -> None:
        self.hub.deliver(events)

    def subscribe(self, shop_id: int, topic: str = "") -> Subscription:
        return self.hub.add(shop_id, topic)


class RedisBroker:
    """Publishes through Redis and delivers what it hears to local followers."""

    def __init__(self, url: str, namespace: str = "xiaoer:events:") -> None:
        import redis.asyncio as aioredis

        self.url = url
        self.namespace = namespace
        self.hub = LocalHub()
        self._redis: Any = aioredis.from_url(url)
        self._outbox: asyncio.Queue[list[EventData]] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._listening = asyncio.Event()

    async def start(self) -> None:
        await self._redis.ping()
        self._tasks = [
            asyncio.create_task(self._listen(), name="xiaoer-redis-listen"),
            asyncio.create_task(self._send(), name="xiaoer-redis-send"),
        ]
        await asyncio.wait_for(self._listening.wait(), timeout=10)

    async def stop(self) -> None:
        # Let what was committed reach Redis before the process goes.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._drain(), timeout=5)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self._redis.aclose()

    async def _drain(self) -> None:
        await self._outbox.join()

    def publish_nowait(self, events: Sequence[EventData]) -> None:
        self._outbox.put_nowait(list(events))

    def subscribe(self, shop_id: int, topic: str = "") -> Subscription:
        return self.hub.add(shop_id, topic)

    async def _send(self) -> None:
        while True:
            batch = await self._outbox.get()
            try:
                await self._send_batch(batch)
            finally:
                self._outbox.task_done()

    async def _send_batch(self, batch: list[EventData]) -> None:
        by_shop: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for item in batch:
            by_shop[item.shop_id].append(item.to_json())
        for shop_id, items in by_shop.items():
            try:
                await self._redis.publish(f"{self.namespace}{shop_id}", json.dumps(items))
            except Exception:  # followers poll the database; log and go on
                log.exception("could not publish events to Redis")

    async def _listen(self) -> None:
        from xiaoer.core.events import EventData

        while True:
            pubsub = self._redis.pubsub()
            try:
                await pubsub.psubscribe(f"{self.namespace}*")
                self._listening.set()
                async for message in pubsub.listen():
                    if message.get("type") != "pmessage":
                        continue
                    items = json.loads(message["data"])
                    self.hub.deliver([EventData.from_json(i) for i in items])
            except asyncio.CancelledError:
                await pubsub.aclose()
                raise
            except Exception:
                log.exception("Redis subscription lost; reconnecting")
                await asyncio.sleep(1)


_broker: Broker = MemoryBroker()


def get_broker() -> Broker:
    return _broker


def set_broker(broker: Broker) -> Broker:
    """Install the process's broker; returns the one it replaces."""
    global _broker
    previous, _broker = _broker, broker
    return previous


def make_broker(redis_url: str | None, database_url: str = "") -> Broker:
    if not redis_url:
        return MemoryBroker()
    return RedisBroker(redis_url, namespace_for(database_url))
