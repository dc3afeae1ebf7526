"""Word that a shop has new committed events, to the feeds of this and other processes.

The broker carries no events, only "shop 3 has news": a feed that hears it reads
the events from the database, which numbers them at commit. In one process an
in-memory broker is enough. With ``XIAOER_REDIS_URL`` set, the word travels
through Redis pub/sub, so that a buyer on one ``xiaoer serve`` process and an
agent on another see each other's messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections import defaultdict
from collections.abc import Iterable
from typing import Any, Protocol

log = logging.getLogger(__name__)


def namespace_for(database_url: str) -> str:
    """Deployments sharing a Redis never hear each other: channels are named per database."""
    return "xiaoer:" + hashlib.sha256(database_url.encode()).hexdigest()[:12] + ":events:"


class Subscription:
    """A listener for one shop's news; many notices before a wait count as one."""

    def __init__(self, hub: LocalHub, shop_id: int) -> None:
        self._hub = hub
        self.shop_id = shop_id
        self._news = asyncio.Event()
        self._notices = 0

    def notify(self) -> None:
        self._notices += 1
        self._news.set()

    @property
    def pending(self) -> bool:
        return self._news.is_set()

    async def wait(self) -> int:
        """Until there is news since the last wait; how many notices it was."""
        await self._news.wait()
        self._news.clear()
        notices, self._notices = self._notices, 0
        return notices

    def close(self) -> None:
        self._hub.remove(self)


class LocalHub:
    """Listeners in this process, by shop."""

    def __init__(self) -> None:
        self._subs: dict[int, set[Subscription]] = defaultdict(set)

    def add(self, shop_id: int) -> Subscription:
        sub = Subscription(self, shop_id)
        self._subs[shop_id].add(sub)
        return sub

    def remove(self, sub: Subscription) -> None:
        subs = self._subs.get(sub.shop_id)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._subs[sub.shop_id]

    def notify(self, shop_ids: Iterable[int]) -> None:
        for shop_id in shop_ids:
            for sub in self._subs.get(shop_id, ()):
                sub.notify()

    def count(self, shop_id: int) -> int:
        return len(self._subs.get(shop_id, ()))


class Broker(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def notify(self, shop_ids: Iterable[int]) -> None: ...

    def subscribe(self, shop_id: int) -> Subscription: ...


class MemoryBroker:
    """Tells listeners in this process only."""

    def __init__(self) -> None:
        self.hub = LocalHub()

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    def notify(self, shop_ids: Iterable[int]) -> None:
        self.hub.notify(shop_ids)

    def subscribe(self, shop_id: int) -> Subscription:
        return self.hub.add(shop_id)


class RedisBroker:
    """Tells every process through Redis, and its own listeners at once."""

    def __init__(self, url: str, namespace: str = "xiaoer:events:") -> None:
        import redis.asyncio as aioredis

        self.url = url
        self.namespace = namespace
        self.hub = LocalHub()
        self._redis: Any = aioredis.from_url(url)
        self._outbox: asyncio.Queue[set[int]] = asyncio.Queue()
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
        # Let what was committed be told before the process goes.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._outbox.join(), timeout=5)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self._redis.aclose()

    def notify(self, shop_ids: Iterable[int]) -> None:
        shops = set(shop_ids)
        self.hub.notify(shops)  # this process's listeners need not wait for Redis
        self._outbox.put_nowait(shops)

    def subscribe(self, shop_id: int) -> Subscription:
        return self.hub.add(shop_id)

    async def _send(self) -> None:
        while True:
            shops = await self._outbox.get()
            # Notices queued meanwhile are merged: one message per shop, however many commits.
            while not self._outbox.empty():
                shops |= self._outbox.get_nowait()
                self._outbox.task_done()
            try:
                for shop_id in shops:
                    await self._redis.publish(f"{self.namespace}{shop_id}", b"1")
            except Exception:  # the feeds poll the database; log and go on
                log.exception("could not publish to Redis")
            finally:
                self._outbox.task_done()

    async def _listen(self) -> None:
        prefix = self.namespace.encode()
        while True:
            pubsub = self._redis.pubsub()
            try:
                await pubsub.psubscribe(f"{self.namespace}*")
                self._listening.set()
                async for message in pubsub.listen():
                    if message.get("type") != "pmessage":
                        continue
                    channel: bytes = message["channel"]
                    if channel.startswith(prefix):
                        with contextlib.suppress(ValueError):
                            self.hub.notify([int(channel[len(prefix) :])])
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
