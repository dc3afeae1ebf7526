"""Admission: how many units of work run at once, and how many may wait for a turn.

Under a burst, letting every request open a transaction at once makes them all slow:
each waits on the database pool and on the locks of the others, and the one holding
the shop's event counter waits for a turn of a crowded event loop. A few run, the rest
wait in line here; past the line's length a request is refused at once with "busy,
try again", which a client can act on, rather than answered after many seconds.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class Busy(Exception):
    """Too many requests are waiting; the caller should try again shortly."""


class Admission:
    def __init__(self, running: int) -> None:
        self.running = running
        self._slots = asyncio.Semaphore(running)
        self.waiting = 0

    @asynccontextmanager
    async def turn(self, max_waiting: int) -> AsyncIterator[None]:
        """Run when a slot is free; refuse with :class:`Busy` when ``max_waiting`` wait."""
        if self._slots.locked() and self.waiting >= max_waiting:
            raise Busy("the shop's chat is very busy just now; the message will be sent again")
        self.waiting += 1
        try:
            await self._slots.acquire()
        finally:
            self.waiting -= 1
        try:
            yield
        finally:
            self._slots.release()


# Buyers' messages of this process. There are many more buyers than agents; an agent's
# reply is not held back (each one shortens a buyer's wait) and is not refused.
chat_units = Admission(running=10)
BUYER_MAX_WAITING = 200
