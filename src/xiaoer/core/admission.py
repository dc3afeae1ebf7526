"""Admission: how many units of work of one kind may be under way at once.

Past the limit a request is refused at once with "busy, try again", which a client
can act on (the widget sends the message again a moment later), rather than queued
without end and answered after many seconds. Within the limit nothing waits here:
holding requests in a short line was measured to lower throughput, because a unit
of work's time is mostly spent waiting for turns of the event loop, not for the
database (``benchmarks/chat_load.py``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from xiaoer.core.texts import say


class Busy(Exception):
    """Too much is under way; the caller should try again shortly."""


class Admission:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.under_way = 0

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """Go ahead, or :class:`Busy` when ``limit`` units are under way already."""
        if self.under_way >= self.limit:
            raise Busy(say("the shop's chat is very busy just now; the message will be sent again"))
        self.under_way += 1
        try:
            yield
        finally:
            self.under_way -= 1


# Buyers' messages handed to this process's chat writer and not yet committed: two of
# its batches (``reception.writer.MAX_BATCH``). Agents' replies are not limited: there
# are few agents, and each reply shortens a buyer's wait.
buyer_messages = Admission(limit=800)
