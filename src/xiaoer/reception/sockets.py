"""What the buyer's and the agent's live sockets share."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import WebSocket, WebSocketDisconnect

log = logging.getLogger(__name__)


async def run_socket(
    websocket: WebSocket,
    push: Coroutine[Any, Any, None],
    receive: Callable[[WebSocket], Coroutine[Any, Any, None]],
) -> None:
    """Run a socket's sender and receiver until either ends.

    When the sender fails (the database is unreachable, say), the socket is closed
    with 1011 so that the client reconnects and resumes from its last event,
    rather than stay open and silent.
    """
    pusher = asyncio.create_task(push)
    receiver = asyncio.create_task(receive(websocket))
    try:
        done, _ = await asyncio.wait({pusher, receiver}, return_when=asyncio.FIRST_COMPLETED)
        if pusher in done and not pusher.cancelled() and pusher.exception() is not None:
            log.warning("live events stopped for a socket: %r", pusher.exception())
            with contextlib.suppress(Exception):
                await websocket.close(code=1011, reason="live events stopped; reconnect")
    finally:
        for task in (pusher, receiver):
            task.cancel()
        for task in (pusher, receiver):
            with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, Exception):
                await task
